"""Tests of the simulated organisation: the contract it writes and the realism the models rely on."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import polars as pl
import pytest

from flows.simulate import write_simulation
from simulator.constants import DRIVER_SIGNALS, EVENT_NAMES, OUTCOME_EVENTS, SIGNALS
from simulator.organisation import SimulatedOrganisation, simulate_organisation
from simulator.worlds import World

pytestmark = pytest.mark.data

START = dt.date(2024, 1, 1)
EXITS = ("resigned", "long_term_sick_leave", "contract_ended", "retired", "relocated")


@pytest.fixture(scope="module")
def small() -> SimulatedOrganisation:
    return simulate_organisation(300, 60, seed=1)


@pytest.fixture(scope="module")
def medium() -> SimulatedOrganisation:
    # Large enough for stable rates and for enough decline episodes of every driver.
    return simulate_organisation(1500, 104, seed=3)


def _weeks_observed(org: SimulatedOrganisation) -> pl.DataFrame:
    return org.signals.group_by("person_id").agg(
        pl.col("week").min().alias("first"),
        pl.col("week").max().alias("last"),
        pl.col("week").n_unique().alias("n_weeks"),
    )


def _leave(org: SimulatedOrganisation) -> pl.DataFrame:
    return org.signals.filter(pl.col("signal") == "planned_leave_days").select(
        "person_id", "week", pl.col("value").alias("leave")
    )


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_the_same_frames(small: SimulatedOrganisation) -> None:
    again = simulate_organisation(300, 60, seed=1)
    for name in ("signals", "events", "people", "truth", "declines"):
        assert getattr(again, name).equals(getattr(small, name)), name


def test_different_seed_gives_different_data(small: SimulatedOrganisation) -> None:
    other = simulate_organisation(300, 60, seed=2)
    assert not other.signals.equals(small.signals)
    assert not other.events.equals(small.events)


def test_start_must_be_a_monday() -> None:
    with pytest.raises(ValueError, match="Monday"):
        simulate_organisation(10, 5, seed=0, start=dt.date(2024, 1, 3))
    org = simulate_organisation(20, 5, seed=0, start=dt.date(2023, 6, 5))
    assert org.signals["week"].min() == dt.date(2023, 6, 5)


# --- input contract v1 ---------------------------------------------------------------------------


def test_signals_follow_the_contract(small: SimulatedOrganisation) -> None:
    s = small.signals
    assert s.schema == pl.Schema(
        {"person_id": pl.String, "week": pl.Date, "signal": pl.String, "value": pl.Float64}
    )
    assert s.null_count().sum_horizontal().item() == 0
    assert s["week"].dt.weekday().unique().to_list() == [1]  # Mondays only
    assert s["week"].min() == START
    assert s["week"].max() <= START + dt.timedelta(weeks=59)
    assert s["signal"].str.contains(r"^[a-z0-9_.]+$").all()
    assert s["value"].is_finite().all()
    assert s.select("person_id", "week", "signal").is_duplicated().sum() == 0


def test_there_are_25_signals_in_the_20_to_30_range(small: SimulatedOrganisation) -> None:
    names = set(small.signals["signal"].unique())
    assert 20 <= len(names) <= 30
    assert names == set(SIGNALS)
    assert len(SIGNALS) == 25


def test_signal_values_are_in_range(small: SimulatedOrganisation) -> None:
    s = small.signals
    pulses = s.filter(pl.col("signal").str.starts_with("pulse."))["value"]
    assert pulses.min() >= 1 and pulses.max() <= 5
    days = s.filter(pl.col("signal").is_in(["planned_leave_days", "short_absence_days"]))
    assert days["value"].min() >= 0 and days["value"].max() <= 5
    both = days.group_by("person_id", "week").agg(pl.col("value").sum())
    assert both["value"].max() <= 5  # leave and short absence never overlap
    assert s.filter(pl.col("signal") != "pulse.workload")["value"].min() >= 0
    # Absence is mostly zero, as in real organisations.
    absence = s.filter(pl.col("signal") == "short_absence_days")["value"]
    assert (absence == 0).mean() > 0.85


def test_pulses_come_every_second_week_at_most(small: SimulatedOrganisation) -> None:
    weeks = (
        small.signals.filter(pl.col("signal") == "pulse.engagement")
        .sort("person_id", "week")
        .with_columns(pl.col("week").diff().over("person_id").dt.total_days().alias("gap"))
        .drop_nulls("gap")
    )
    assert (weeks["gap"] % 14 == 0).mean() > 0.97  # team changes may shift the cadence once


def test_events_follow_the_contract(small: SimulatedOrganisation) -> None:
    e = small.events
    assert e.schema == pl.Schema({"person_id": pl.String, "date": pl.Date, "event": pl.String})
    assert e.null_count().sum_horizontal().item() == 0
    assert set(e["event"].unique()) <= set(EVENT_NAMES)
    assert e["event"].str.contains(r"^[a-z0-9_]+$").all()
    assert set(e["person_id"]) <= set(small.people["person_id"])
    # Exits are final: one at most per person.
    assert e.filter(pl.col("event").is_in(EXITS)).group_by("person_id").len()["len"].max() == 1


def test_people_follow_the_contract(small: SimulatedOrganisation) -> None:
    p = small.people
    assert p.schema == pl.Schema(
        {
            "person_id": pl.String,
            "team_id": pl.String,
            "hired_on": pl.Date,
            "audit_gender": pl.String,
            "audit_age_band": pl.String,
        }
    )
    assert p.height == 300
    assert p["person_id"].is_unique().all()
    assert p.null_count().sum_horizontal().item() == 0
    # Pseudonyms, nothing that looks like an e-mail address or a name.
    assert p["person_id"].str.contains(r"^p\d{6}$").all()
    assert p["team_id"].str.contains(r"^t\d{3,}$").all()
    assert set(small.signals["person_id"].unique()) == set(p["person_id"])


def test_teams_vary_in_size_and_some_are_below_five(medium: SimulatedOrganisation) -> None:
    sizes = medium.people.group_by("team_id").len()["len"]
    assert sizes.min() >= 3 and sizes.max() <= 15
    assert (sizes < 5).sum() > 0
    assert sizes.n_unique() >= 8


# --- realism --------------------------------------------------------------------------------------


def test_yearly_outcome_rate_is_between_10_and_20_percent(medium: SimulatedOrganisation) -> None:
    outcomes = medium.events.filter(pl.col("event").is_in(OUTCOME_EVENTS)).height
    person_years = medium.truth.height / 52
    assert 0.10 <= outcomes / person_years <= 0.20
    # Both outcomes happen, and unrelated exits too.
    counts = dict(medium.events.group_by("event").len().iter_rows())
    for event in EXITS:
        assert counts.get(event, 0) > 0, event


def test_about_a_third_of_people_have_a_decline(medium: SimulatedOrganisation) -> None:
    share = medium.declines["person_id"].n_unique() / medium.people.height
    assert 0.22 <= share <= 0.40
    d = medium.declines
    assert set(d["driver"].unique()) == set(DRIVER_SIGNALS)
    assert 0.15 < d["recovered"].mean() < 0.7  # some recover, some do not
    assert d.group_by("person_id").len()["len"].max() >= 2  # a few people have two episodes
    assert (d["trough_week"] >= d["start_week"]).all()
    assert (d["depth"] >= 0).all()


def test_most_outcomes_follow_a_decline_by_several_weeks(medium: SimulatedOrganisation) -> None:
    outcomes = medium.events.filter(pl.col("event").is_in(OUTCOME_EVENTS))
    lead = (
        outcomes.join(medium.declines, on="person_id")
        .filter(pl.col("start_week") <= pl.col("date"))
        .group_by("person_id")
        .agg(((pl.col("date") - pl.col("start_week").max()).dt.total_days() // 7).min().alias("lead"))
    )
    with_lead = lead.filter(pl.col("lead") >= 6).height
    assert with_lead / outcomes.height > 0.55
    # ... but not all of them: some outcomes come out of the blue.
    assert lead.height < outcomes.height


def test_truth_covers_every_observed_person_week(small: SimulatedOrganisation) -> None:
    t = small.truth
    assert t.columns == [
        "person_id",
        "week",
        "motivation",
        "motivation_normal",
        "motivation_change_4w",
        "motivation_gap",
        "driver",
        "in_decline",
        "outcome_strain",
    ]
    observed = small.signals.select("person_id", "week").unique()
    assert observed.height == t.height
    assert observed.join(t, on=["person_id", "week"], how="anti").height == 0
    assert (t["motivation_gap"] - (t["motivation"] - t["motivation_normal"])).abs().max() < 1e-9
    assert (t["driver"].is_not_null() == t["in_decline"]).all()
    assert t["motivation_change_4w"].null_count() > 0  # unknown in the first weeks of each person


def test_survey_nonresponse_grows_during_declines(medium: SimulatedOrganisation) -> None:
    answered = (
        medium.signals.filter(pl.col("signal").str.starts_with("pulse."))
        .select("person_id", "week")
        .unique()
        .with_columns(pl.lit(True).alias("answered"))
    )
    t = medium.truth.join(answered, on=["person_id", "week"], how="left").with_columns(
        pl.col("answered").fill_null(False)
    )
    normal = t.filter(~pl.col("in_decline"))["answered"].mean()
    deep = t.filter(pl.col("in_decline") & (pl.col("motivation_gap") < -1.0))["answered"].mean()
    assert deep < 0.7 * normal


def test_decline_drivers_own_signals_move_before_symptoms(medium: SimulatedOrganisation) -> None:
    no_leave = medium.signals.join(_leave(medium), on=["person_id", "week"]).filter(pl.col("leave") == 0)
    episodes = medium.declines.filter(pl.col("start_week") >= START + dt.timedelta(weeks=12)).with_row_index(
        "episode"
    )
    rows = no_leave.join(episodes.select("episode", "person_id", "driver", "start_week"), on="person_id")
    rows = rows.with_columns(((pl.col("week") - pl.col("start_week")).dt.total_days() // 7).alias("k"))
    base = (
        rows.filter(pl.col("k").is_between(-12, -1))
        .group_by("episode", "signal")
        .agg(pl.col("value").mean().alias("mu"), pl.col("value").std().alias("sd"), pl.len().alias("n"))
        .filter(pl.col("n") >= 4)
    )
    z = rows.join(base, on=["episode", "signal"]).with_columns(
        ((pl.col("value") - pl.col("mu")) / (pl.col("sd") + 0.5)).alias("z")
    )

    def shift(signals: list[str], weeks: tuple[int, int], driver: str | None = None) -> float:
        sel = z.filter(pl.col("signal").is_in(signals) & pl.col("k").is_between(*weeks))
        if driver is not None:
            sel = sel.filter(pl.col("driver") == driver)
        return float(sel["z"].mean())

    risk_up = {  # the driver signal, signed so that a positive shift means "risk rising"
        "micromanagement": ("approval_requests", 1),
        "unclear_goals": ("priority_changes", 1),
        "workload": ("after_hours_messages", 1),
        "lack_of_recognition": ("kudos_received", -1),
        "no_growth": ("learning_hours", -1),
    }
    early = (2, 6)
    for driver, (signal, sign) in risk_up.items():
        assert sign * shift([signal], early, driver) > 0.25, driver
    symptoms = ["questions_asked", "ideas_proposed", "meetings_attended", "chat_messages_sent"]
    early_symptoms = shift(symptoms, early)
    late_symptoms = shift(symptoms, (16, 30))
    assert abs(early_symptoms) < 0.15
    assert late_symptoms < -0.25  # symptoms do come, later


def test_planned_leave_lowers_meetings_and_chat_and_silences_pulses(small: SimulatedOrganisation) -> None:
    rows = small.signals.join(_leave(small), on=["person_id", "week"])
    for signal in ("meetings_attended", "chat_messages_sent"):
        x = rows.filter(pl.col("signal") == signal)
        at_work = x.filter(pl.col("leave") == 0)["value"].mean()
        away = x.filter(pl.col("leave") >= 3)["value"].mean()
        assert away < 0.6 * at_work, signal
    pulses = rows.filter(pl.col("signal").str.starts_with("pulse.") & (pl.col("leave") >= 3))
    assert pulses.height == 0


def test_holidays_hold_more_leave_and_less_activity(medium: SimulatedOrganisation) -> None:
    leave = _leave(medium).group_by("week").agg(pl.col("leave").mean())
    christmas = leave.filter(pl.col("week") == dt.date(2024, 12, 23))["leave"].item()
    spring = leave.filter(pl.col("week").dt.month().is_in([3, 4, 5]))["leave"].mean()
    assert christmas > 4 * spring


def test_people_differ_more_from_each_other_than_from_their_own_last_month(
    medium: SimulatedOrganisation,
) -> None:
    x = (
        medium.signals.filter(pl.col("signal") == "chat_messages_sent")
        .join(_leave(medium), on=["person_id", "week"])
        .filter(pl.col("leave") == 0)
        .with_columns(pl.col("week").dt.truncate("4w").alias("month"))
        .group_by("person_id", "month")
        .agg(pl.col("value").mean())
    )
    per_person = x.group_by("person_id").agg(
        pl.col("value").mean().alias("m"), pl.col("value").std().alias("s")
    )
    assert per_person["m"].std() > 2 * per_person["s"].mean()


def test_some_people_lack_whole_signals(medium: SimulatedOrganisation) -> None:
    seen = medium.signals.group_by("person_id").agg(pl.col("signal").unique())
    n = seen.height
    no_chat = seen.filter(~pl.col("signal").list.contains("chat_messages_sent")).height
    no_pulse = seen.filter(
        ~pl.col("signal").list.eval(pl.element().str.starts_with("pulse.")).list.any()
    ).height
    assert 0.05 < no_chat / n < 0.3
    assert 0.02 < no_pulse / n < 0.2
    # Leave and absence come from the HR system: known for everybody, every week.
    assert seen.filter(~pl.col("signal").list.contains("planned_leave_days")).height == 0


def test_new_hires_have_short_histories(medium: SimulatedOrganisation) -> None:
    hires = medium.events.filter(pl.col("event") == "hired")
    assert hires.height > 0.1 * medium.people.height
    people = medium.people.join(_weeks_observed(medium), on="person_id")
    joined = hires.join(people, on="person_id")
    assert (joined["date"] == joined["hired_on"]).all()
    assert (joined["first"] == joined["date"].dt.truncate("1w")).all()  # signals start at hire
    assert (joined["date"] > START).all()
    staff = people.join(hires, on="person_id", how="anti")
    assert (staff["hired_on"] < START).all()
    assert staff.filter(pl.col("hired_on") < dt.date(2010, 1, 1)).height > 0  # a few long-tenured
    assert joined["n_weeks"].median() < 0.6 * staff["n_weeks"].median()


def test_data_stops_after_exits(medium: SimulatedOrganisation) -> None:
    exits = medium.events.filter(pl.col("event").is_in(EXITS)).join(_weeks_observed(medium), on="person_id")
    exits = exits.with_columns(
        ((pl.col("last") - pl.col("date").dt.truncate("1w")).dt.total_days() // 7).alias("k")
    )
    data_end = START + dt.timedelta(weeks=103)
    resigned = exits.filter((pl.col("event") == "resigned") & (pl.col("last") < data_end))
    assert resigned["k"].min() >= 4 and resigned["k"].max() <= 8  # the notice period
    assert (exits.filter(pl.col("event") == "long_term_sick_leave")["k"] == -1).all()
    assert (exits.filter(pl.col("event").is_in(["contract_ended", "retired", "relocated"]))["k"] == 0).all()


def test_team_shocks_reach_the_whole_team_on_one_date(medium: SimulatedOrganisation) -> None:
    changes = medium.events.filter(pl.col("event") == "manager_changed").join(
        medium.people.select("person_id", "team_id"), on="person_id"
    )
    per_date = changes.group_by("date").agg(pl.col("person_id").n_unique().alias("n"))
    assert per_date["n"].median() >= 3
    for event in ("promoted", "role_changed", "team_changed"):
        assert medium.events.filter(pl.col("event") == event).height > 0, event


def test_truth_is_never_part_of_the_landing_tables(small: SimulatedOrganisation) -> None:
    truth_words = ("motivation", "driver", "decline", "truth", "gap")
    for frame in (small.signals, small.events, small.people):
        assert not any(word in col for col in frame.columns for word in truth_words)
    names = small.signals["signal"].unique().to_list() + small.events["event"].unique().to_list()
    assert not any(word in name for name in names for word in truth_words)


# --- writing --------------------------------------------------------------------------------------


def _all_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_write_simulation_writes_landing_and_truth_apart(
    small: SimulatedOrganisation, tmp_path: Path
) -> None:
    paths = write_simulation(small, tmp_path)
    assert _all_files(tmp_path) == {
        "signals.parquet",
        "events.parquet",
        "people.parquet",
        os.path.join("truth", "motivation.parquet"),
        os.path.join("truth", "declines.parquet"),
        os.path.join("truth", "world.json"),
    }
    assert set(paths) == {"signals", "events", "people", "truth_motivation", "truth_declines", "truth_world"}
    assert pl.read_parquet(paths["signals"]).equals(small.signals)
    assert pl.read_parquet(paths["people"]).equals(small.people)
    assert pl.read_parquet(tmp_path / "truth" / "motivation.parquet").equals(small.truth)
    assert pl.read_parquet(paths["truth_declines"]).equals(small.declines)
    # The world's mechanisms rebuild the very world: an oracle can be set up from truth/ alone.
    fields = json.loads(paths["truth_world"].read_text())
    rebuilt = World(**{k: tuple(map(_tuples, v)) if isinstance(v, list) else v for k, v in fields.items()})
    assert rebuilt == small.world


def _tuples(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def test_write_simulation_csv_has_iso_dates(small: SimulatedOrganisation, tmp_path: Path) -> None:
    paths = write_simulation(small, tmp_path, fmt="csv")
    assert paths["events"] == tmp_path / "events.csv"
    assert (tmp_path / "truth" / "declines.csv").is_file()
    header, first = (tmp_path / "signals.csv").read_text().splitlines()[:2]
    assert header == "person_id,week,signal,value"
    assert first.split(",")[1] == "2024-01-01"
    back = pl.read_csv(paths["people"], try_parse_dates=True)
    assert back["hired_on"].dtype == pl.Date
    assert back.height == small.people.height
    with pytest.raises(ValueError, match="format"):
        write_simulation(small, tmp_path, fmt="xlsx")


def test_write_simulation_is_atomic(
    small: SimulatedOrganisation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_simulation(small, tmp_path)
    before = (tmp_path / "events.parquet").read_bytes()
    calls = {"n": 0}
    real = pl.DataFrame.write_parquet

    def crash_on_second(self: pl.DataFrame, file: object, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the events table: write half of it, then fail
            file.write(b"PAR1 half a table")  # type: ignore[attr-defined]
            raise OSError("disk full")
        real(self, file, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", crash_on_second)
    with pytest.raises(OSError, match="disk full"):
        write_simulation(simulate_organisation(50, 10, seed=9), tmp_path)
    # The old table is intact and no temporary file is left behind.
    assert (tmp_path / "events.parquet").read_bytes() == before
    assert not [name for name in _all_files(tmp_path) if name.endswith(".tmp") or "/." in f"/{name}"]


def test_ten_thousand_people_scale_quickly() -> None:
    # A cheap proxy for the 10,000 x 104 target: the cost grows linearly, so 1,000 x 104 must be fast.
    import time

    t0 = time.perf_counter()
    org = simulate_organisation(1000, 104, seed=5)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0
    assert math.isclose(org.signals.height / org.truth.height, 17, rel_tol=0.25)
