"""Code tier for the nightly pieces: choosing flags, the flag store, flag details and the report."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from features.catalog import load_catalog
from flows import store_schema as store_module
from flows.report import RunSummary, html_report, markdown_summary, visible_teams
from flows.store import FlagStore, RunRecord
from flows.store_schema import StoreError, upgrade
from models.flag_details import flag_id, flag_rows, signal_series, team_rows
from models.flagging import FlagPolicy, blocked_people, capacity_quota, choose_flags, risk_band
from models.reviewed import false_alarm_rate_by_family, reviewed_flag_metrics

pytestmark = pytest.mark.code

WEEK = date(2025, 3, 3)
POLICY = FlagPolicy(capacity=0.1, min_risk=0.2, cooldown_weeks=6, risk_rise=0.1)
NO_HISTORY = pl.DataFrame(
    schema={"person_id": pl.String, "as_of": pl.Date, "risk": pl.Float64, "status": pl.String}
)


def scored(risks: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"person_id": list(risks), "team_id": ["t1"] * len(risks), "score": list(risks.values())}
    )


def org(n: int = 50, top: dict[str, float] | None = None) -> pl.DataFrame:
    risks = {f"p{i:03d}": 0.01 * (i % 10) for i in range(n)}
    risks.update(top or {})
    return scored(risks)


def history(*rows: tuple[str, date, float, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=NO_HISTORY.schema, orient="row")


def test_capacity_and_minimum_risk_bound_the_flags() -> None:
    flags = choose_flags(
        org(50, {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6, "e": 0.5, "f": 0.45}), NO_HISTORY, WEEK, POLICY
    )
    assert flags["person_id"].to_list() == ["a", "b", "c", "d", "e", "f"][: capacity_quota(56, 0.1)]
    assert flags["rank"].to_list() == list(range(1, flags.height + 1))
    low = choose_flags(org(50, {"a": 0.15}), NO_HISTORY, WEEK, POLICY)
    assert low.height == 0, "nobody under the minimum risk is flagged, even with capacity left"


def test_capacity_quota_rounds_up_without_floating_point_surprises() -> None:
    assert capacity_quota(1000, 0.02) == 20
    assert capacity_quota(1001, 0.02) == 21
    assert capacity_quota(10, 0.02) == 1
    assert capacity_quota(0, 0.02) == 0


def test_an_open_flag_blocks_whatever_the_risk() -> None:
    past = history(("a", WEEK - timedelta(weeks=10), 0.3, "open"))
    flags = choose_flags(org(20, {"a": 0.99, "b": 0.5}), past, WEEK, POLICY)
    assert "a" not in flags["person_id"].to_list() and "b" in flags["person_id"].to_list()


def test_cooldown_blocks_unless_risk_rose_clearly() -> None:
    recent = WEEK - timedelta(weeks=3)
    past = history(("a", recent, 0.5, "not_a_concern"), ("b", recent, 0.5, "not_a_concern"))
    flags = choose_flags(org(20, {"a": 0.55, "b": 0.65}), past, WEEK, POLICY)
    assert flags["person_id"].to_list() == ["b"]
    blocked = blocked_people(past, org(20, {"a": 0.55, "b": 0.65}), WEEK, POLICY)
    assert blocked.rows() == [("a", "cooldown")]


def test_the_cooldown_ends_and_a_rerun_ignores_its_own_week() -> None:
    long_ago = history(("a", WEEK - timedelta(weeks=7), 0.9, "not_a_concern"), ("b", WEEK, 0.9, "open"))
    flags = choose_flags(org(20, {"a": 0.5, "b": 0.5}), long_ago, WEEK, POLICY)
    assert sorted(flags["person_id"].to_list()) == ["a", "b"]


def test_people_on_or_after_their_outcome_are_never_flagged() -> None:
    after = pl.DataFrame({"person_id": ["a"]})
    flags = choose_flags(org(20, {"a": 0.99, "b": 0.5}), NO_HISTORY, WEEK, POLICY, after_outcome=after)
    assert flags["person_id"].to_list() == ["b"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=60), st.randoms(use_true_random=False))
def test_flags_do_not_depend_on_row_order(risks: list[float], rng) -> None:
    frame = scored({f"p{i:03d}": r for i, r in enumerate(risks)})
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=rng.randint(0, 10_000))
    assert choose_flags(frame, NO_HISTORY, WEEK, POLICY).equals(
        choose_flags(shuffled, NO_HISTORY, WEEK, POLICY)
    )


def test_risk_bands() -> None:
    assert [risk_band(r) for r in (0.1, 0.25, 0.49, 0.5, 0.99)] == [
        "elevated",
        "high",
        "high",
        "very high",
        "very high",
    ]


# The flag store ---------------------------------------------------------------------------------


def a_run(as_of: date = WEEK, run_id: str = "r1", people: tuple[str, ...] = ("p1", "p2")):
    record = RunRecord(run_id, as_of, "gradient_boosting", "3", "abc", as_of, 100, {"settings": {}})
    chosen = pl.DataFrame(
        {
            "person_id": list(people),
            "team_id": ["t1"] * len(people),
            "risk": [0.6] * len(people),
            "band": ["very high"] * len(people),
            "rank": list(range(1, len(people) + 1)),
        }
    )
    reasons = pl.DataFrame(
        {
            "person_id": list(people),
            "rank": [1] * len(people),
            "family": ["growth"] * len(people),
            "family_label": ["Growth"] * len(people),
            "signal": ["learning_hours"] * len(people),
            "signal_label": ["Learning"] * len(people),
            "contribution": [0.4] * len(people),
            "sentence": ["Learning: 0.5 hours a week, against a normal of 2.0"] * len(people),
            "prompts": [["What would you like to learn next?"]] * len(people),
        }
    )
    flags, reason_rows = flag_rows(chosen, reasons, {}, {}, as_of)
    teams = team_rows(chosen.rename({"risk": "score"}), flags)
    return record, flags, reason_rows, teams


def test_a_rerun_of_a_week_replaces_its_run_and_reviews_survive(tmp_path) -> None:
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    store.write_run(*a_run())
    first = store.run_flags("r1")
    store.add_review(first["flag_id"][0], "conversation_planned", "talked to the manager", "alex")
    store.write_run(*a_run(run_id="r2"))
    assert store.list_runs()["run_id"].to_list() == ["r2"]
    again = store.run_flags("r2")
    assert again.height == 2 and store.run_reasons("r2").height == 2
    assert again.filter(pl.col("flag_id") == first["flag_id"][0])["status"].item() == "conversation_planned"
    assert store.run()["run_id"] == "r2" and store.run(WEEK)["run_id"] == "r2"


def test_a_rerun_keeps_every_reviewed_flag_and_replaces_only_undecided_ones(tmp_path) -> None:
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    assert store.write_run(*a_run(people=("p1", "p2", "p3", "p4"))) == 0
    first = store.run_flags("r1")
    ids = dict(first.select("person_id", "flag_id").iter_rows())
    store.add_review(ids["p1"], "conversation_planned", "talked to the manager", "alex")
    store.add_review(ids["p3"], "false_alarm", "on a planned sabbatical", "alex")
    # The re-run flags fewer people: p2 again, p1, p3 and p4 not at all.
    kept = store.write_run(*a_run(run_id="r2", people=("p2", "p5")))
    assert kept == 2
    assert store.list_runs()["run_id"].to_list() == ["r2"]
    again = store.run_flags("r2")
    assert sorted(again["person_id"]) == ["p1", "p2", "p3", "p5"], "p4 was undecided: replaced"
    assert dict(again.select("person_id", "status").iter_rows()) == {
        "p1": "conversation_planned",
        "p2": "open",
        "p3": "false_alarm",
        "p5": "open",
    }
    assert again["rank"].sort().to_list() == [1, 2, 3, 4]
    assert store.run()["flag_count"] == 4
    reasons = store.run_reasons("r2")
    assert set(reasons["flag_id"]) == set(again["flag_id"]), "the reviewed flags keep their reasons"
    history = store.review_history()
    assert history.height == 2 and history["leading_family"].null_count() == 0, (
        "every decision keeps its flag"
    )
    # Flagged again on a re-run, a reviewed person keeps the reviewed flag (one flag, its decision).
    assert store.write_run(*a_run(run_id="r3", people=("p1", "p2"))) == 2
    third = store.run_flags("r3")
    assert sorted(third["person_id"]) == ["p1", "p2", "p3"]
    assert third.filter(pl.col("person_id") == "p1")["status"].item() == "conversation_planned"
    assert store.run_teams("r3")["flagged"].to_list() == [3]


def test_a_failed_write_leaves_the_store_as_it_was(tmp_path) -> None:
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    store.write_run(*a_run())
    record, flags, reasons, teams = a_run(run_id="r2")
    doubled = pl.concat([reasons, reasons])  # the same (flag, rank) twice: the insert fails late
    with pytest.raises(sa.exc.IntegrityError):
        store.write_run(record, flags, doubled, teams)
    assert store.list_runs()["run_id"].to_list() == ["r1"]
    assert store.run_flags("r1").height == 2 and store.run_reasons("r1").height == 2


def test_the_schema_is_upgraded_in_place_and_a_newer_one_refused(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    upgrade(engine, target=1)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(store_module.runs).values(
                run_id="old",
                as_of=WEEK,
                finished_at="2025-03-04T02:00:00+00:00",
                model_name="logistic",
                model_version="1",
                data_sha256="x",
                data_last_week=WEEK,
                people_scored=10,
                flag_count=0,
                details="{}",
            )
        )
    store = FlagStore(url)
    assert store.schema_version() == store_module.SCHEMA_VERSION
    assert store.list_runs()["run_id"].to_list() == ["old"]
    assert store.review_history().height == 0
    with engine.begin() as connection:
        connection.execute(sa.update(store_module.meta).values(value=str(store_module.SCHEMA_VERSION + 1)))
    with pytest.raises(StoreError, match="newer"):
        FlagStore(url)


def test_decisions_need_a_known_decision_and_a_note(tmp_path) -> None:
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    store.write_run(*a_run())
    flag = store.run_flags("r1")["flag_id"][0]
    with pytest.raises(ValueError):
        store.add_review(flag, "fire them", "no", "alex")
    with pytest.raises(ValueError):
        store.add_review(flag, "false_alarm", "  ", "alex")
    with pytest.raises(KeyError):
        store.add_review("nope", "false_alarm", "note", "alex")
    store.add_review(flag, "false_alarm", "holiday not in the data", "alex")
    assert store.audit_entries()["action"].to_list() == ["decision"]


def test_reviewed_flag_metrics_count_each_flag_by_its_latest_decision() -> None:
    reviews = pl.DataFrame(
        {
            "review_id": [1, 2, 3, 4],
            "flag_id": ["a", "a", "b", "c"],
            "decision": ["false_alarm", "conversation_planned", "false_alarm", "not_a_concern"],
            "leading_family": ["growth", "growth", "workload", "growth"],
        }
    )
    assert reviewed_flag_metrics(reviews) == {"flags": 3.0, "precision": 1 / 3, "false_alarm_rate": 1 / 3}
    by_family = false_alarm_rate_by_family(reviews)
    assert by_family.rows() == [("growth", 2, 0, 0.0), ("workload", 1, 1, 1.0)]
    assert reviewed_flag_metrics(reviews.head(0)) == {}


# Flag details and the report ---------------------------------------------------------------------


def test_flag_ids_are_stable_and_opaque() -> None:
    assert flag_id(WEEK, "p1") == flag_id(WEEK, "p1") != flag_id(WEEK + timedelta(weeks=1), "p1")
    assert "p1" not in flag_id(WEEK, "p1")


def test_signal_series_holds_the_last_26_weeks_with_gaps_and_the_normal() -> None:
    catalog = load_catalog()
    weeks = [WEEK - timedelta(weeks=i) for i in range(30)]
    signals = pl.DataFrame(
        {
            "person_id": ["p1"] * 30,
            "week": weeks,
            "signal": ["questions_asked"] * 30,
            "value": [float(i) if i != 3 else None for i in range(30)],
        }
    ).drop_nulls()
    features = pl.DataFrame({"person_id": ["p1"], "questions_asked__baseline": [12.0]})
    series = json.loads(signal_series(signals, features, {"p1": ["questions_asked"]}, WEEK, catalog)["p1"])
    (item,) = series
    assert len(item["weeks"]) == 26 and item["weeks"][-1] == WEEK.isoformat()
    assert item["values"][-1] == 0.0 and item["values"][-4] is None and item["normal"] == 12.0
    assert item["label"] == catalog.signal("questions_asked").label


def test_report_and_summary_hide_small_teams_and_load_nothing_from_elsewhere() -> None:
    catalog = load_catalog()
    _, flags, reasons, _ = a_run()
    teams = pl.DataFrame(
        {
            "team_id": ["big", "mid", "tiny"],
            "people": [40, 9, 3],
            "flagged": [2, 1, 1],
            "leading_families": ['["growth"]', "[]", '["growth"]'],
        }
    )
    shown = visible_teams(teams, 5)
    assert shown["team_id"].to_list() == ["big"], "tiny under the threshold, mid as its complement"
    run = RunSummary(WEEK, WEEK, "gradient_boosting", "3", 52, 0.02, 0.1, 5)
    html = html_report(run, flags, reasons, teams, catalog)
    summary = markdown_summary(run, flags, teams, catalog)
    for text in (html, summary):
        assert (
            "| tiny |" not in text and ">tiny<" not in text and ">mid<" not in text and "| mid |" not in text
        )
    assert "<script" not in html and "src=" not in html and "href=" not in html
    assert "p1" in html and "Learning: 0.5 hours a week" in html
