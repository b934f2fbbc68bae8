"""Code-tier tests of the point-in-time features: no look-ahead, order-free, leave is not decline."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from features.build import LABEL_COLUMNS, FeatureRequest, build_features, feature_columns
from features.catalog import load_catalog

pytestmark = pytest.mark.code

START = date(2024, 1, 1)
CATALOG = load_catalog()
SIGNALS = [
    "questions_asked",
    "meetings_attended",
    "pulse.engagement",
    "short_absence_days",
    "planned_leave_days",
]


def week(k: int) -> date:
    return START + timedelta(weeks=k)


def landing(
    n_people: int = 12, n_weeks: int = 40, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A small random landing folder: steady activity, biweekly surveys, some absence and leave."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_people):
        normal = rng.uniform(2, 12)
        for k in range(n_weeks):
            leave = float(rng.random() < 0.08) * 5
            rows.append((f"p{p:03d}", week(k), "planned_leave_days", leave))
            if leave == 0:
                rows.append((f"p{p:03d}", week(k), "questions_asked", float(rng.poisson(normal))))
                rows.append((f"p{p:03d}", week(k), "meetings_attended", float(rng.poisson(normal * 2))))
                rows.append((f"p{p:03d}", week(k), "short_absence_days", float(rng.random() < 0.05)))
                if k % 2 == 0 and rng.random() < 0.8:
                    rows.append((f"p{p:03d}", week(k), "pulse.engagement", float(rng.integers(2, 6))))
    signals = pl.DataFrame(rows, schema=["person_id", "week", "signal", "value"], orient="row")
    events = pl.DataFrame(
        {
            "person_id": ["p001", "p002", "p003"],
            "date": [week(30) + timedelta(days=2), week(10), week(20)],
            "event": ["resigned", "manager_changed", "long_term_sick_leave"],
        }
    )
    people = pl.DataFrame(
        {
            "person_id": [f"p{p:03d}" for p in range(n_people)],
            "team_id": [f"t{p % 2}" for p in range(n_people)],
            "hired_on": [date(2022, 1, 1)] * n_people,
        }
    )
    return signals, events, people


def build(
    signals: pl.DataFrame, events: pl.DataFrame | None, people: pl.DataFrame | None, **request
) -> pl.DataFrame:
    return build_features(
        signals.lazy(),
        None if events is None else events.lazy(),
        None if people is None else people.lazy(),
        CATALOG,
        FeatureRequest(**request),
    ).collect()


BASE = landing(n_people=8, n_weeks=38)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cutoff=st.integers(min_value=5, max_value=35),
    change=st.sampled_from(["values", "add_rows", "drop_rows", "events"]),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_data_after_week_t_never_changes_features_at_or_before_t(cutoff: int, change: str, seed: int) -> None:
    signals, events, people = BASE
    rng = np.random.default_rng(seed)
    later = pl.col("week") > week(cutoff)
    if change == "values":
        noise = pl.Series(rng.normal(0, 5, signals.height))
        altered = signals.with_columns(
            pl.when(later).then(pl.col("value") + noise).otherwise("value").alias("value")
        )
        altered_events = events
    elif change == "add_rows":
        extra = pl.DataFrame(
            {
                "person_id": ["p000", "p004", "p999"],
                "week": [week(cutoff + 1), week(cutoff + 3), week(cutoff + 1)],
                "signal": ["badge_swipes", "pulse.growth", "questions_asked"],
                "value": [1.0, 2.0, 3.0],
            }
        )
        altered = pl.concat([signals, extra]).unique(["person_id", "week", "signal"], keep="last")
        altered_events = events
    elif change == "drop_rows":
        altered = signals.filter(~(later & pl.Series(rng.random(signals.height) < 0.5)))
        altered_events = events
    else:
        altered = signals
        extra_events = pl.DataFrame(
            {
                "person_id": ["p005", "p006"],
                "date": [week(cutoff + 1), week(cutoff + 2)],
                "event": ["promoted", "resigned"],
            }
        )
        altered_events = pl.concat([events, extra_events])
    before = build(signals, events, people)
    after = build(altered, altered_events, people)
    keep = [c for c in feature_columns(before.columns) if c not in LABEL_COLUMNS]
    common = [c for c in keep if c in after.columns]
    # Columns that only exist because of the later data are null at or before t by construction.
    only_after = [
        c for c in feature_columns(after.columns) if c not in before.columns and c not in LABEL_COLUMNS
    ]
    early_before = before.filter(pl.col("week") <= week(cutoff)).select("person_id", "week", *common)
    early_after = after.filter(pl.col("week") <= week(cutoff))
    joined = early_before.join(early_after.select("person_id", "week"), on=["person_id", "week"], how="inner")
    assert joined.height == early_before.height
    assert_frame_equal(
        early_before, early_after.select("person_id", "week", *common), check_exact=False, rel_tol=1e-5
    )
    for column in only_after:
        assert early_after[column].null_count() == early_after.height, column


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_row_order_of_the_input_never_changes_the_output(seed: int) -> None:
    signals, events, people = BASE
    shuffled = signals.sample(fraction=1.0, shuffle=True, seed=seed)
    assert_frame_equal(
        build(signals, events, people, with_labels=True),
        build(shuffled, events.reverse(), people.reverse(), with_labels=True),
    )


def test_planned_leave_alone_is_not_seen_as_decline() -> None:
    rows = []
    for k in range(52):
        on_leave = k in (30, 31, 32, 45, 46)
        rows.append(("p000", week(k), "planned_leave_days", 5.0 if on_leave else 0.0))
        # During leave the tools see nothing of the person: activity drops to zero.
        rows.append(("p000", week(k), "questions_asked", 0.0 if on_leave else 6.0 + (k % 3)))
        rows.append(("p000", week(k), "meetings_attended", 0.0 if on_leave else 10.0 + (k % 2)))
    signals = pl.DataFrame(rows, schema=["person_id", "week", "signal", "value"], orient="row")
    table = build(signals, None, None)
    scored = table.filter(pl.col("week") >= week(30))
    for signal in ("questions_asked", "meetings_attended"):
        assert scored[f"{signal}__deviation"].abs().max() < 1.0
        assert scored[f"{signal}__weeks_off_normal"].min() > -2
    assert scored["family:all__risk_deviation"].max() < 1.0

    # The same drop without planned leave is a decline, so the test above can fail.
    unplanned = signals.with_columns(
        pl.when(pl.col("signal") == "planned_leave_days").then(0.0).otherwise("value").alias("value")
    )
    drop = build(unplanned, None, None).filter(pl.col("week") == week(32))
    assert drop["questions_asked__deviation"].item() < -3


def test_too_little_history_gives_missing_features_not_invented_ones() -> None:
    signals = pl.DataFrame(
        {
            "person_id": ["new"] * 6,
            "week": [week(k) for k in range(6)],
            "signal": ["questions_asked"] * 6,
            "value": [3.0] * 6,
        }
    )
    table = build(signals, None, None)
    assert table.height == 6
    assert table["questions_asked__baseline"].null_count() == 6
    assert table["questions_asked__deviation"].null_count() == 6
    assert table["questions_asked__level_4w"][0] == pytest.approx(3.0)
    assert table["questions_asked__level_4w"][5] == pytest.approx(3.0)


def test_falling_signal_after_a_steady_normal_shows_negative_deviation_trend_and_run() -> None:
    values = [10.0, 11.0, 9.0, 10.0] * 8 + [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0]
    signals = pl.DataFrame(
        {
            "person_id": ["a"] * len(values),
            "week": [week(k) for k in range(len(values))],
            "signal": ["questions_asked"] * len(values),
            "value": values,
        }
    )
    last = build(signals, None, None).row(-1, named=True)
    assert last["questions_asked__deviation"] < -3
    assert last["questions_asked__trend_8w"] < 0
    assert last["questions_asked__weeks_off_normal"] <= -6
    assert last["family:initiative__risk_deviation"] > 3  # questions falling raises risk (catalog)


def test_labels_follow_the_contract_horizon_and_censoring() -> None:
    signals = pl.DataFrame(
        {
            "person_id": ["a"] * 60 + ["b"] * 60 + ["c"] * 60,
            "week": [week(k) for k in range(60)] * 3,
            "signal": "kudos_received",
            "value": 1.0,
        }
    )
    events = pl.DataFrame(
        {
            "person_id": ["a", "b"],
            "date": [week(30) + timedelta(days=3), week(55) + timedelta(days=1)],
            "event": ["resigned", "long_term_sick_leave"],
        }
    )
    table = build(signals, events, None, with_labels=True, horizon=12)
    a = {r["week"]: r for r in table.filter(pl.col("person_id") == "a").iter_rows(named=True)}
    assert a[week(29)]["label"] == 1 and a[week(18)]["label"] == 1
    assert a[week(17)]["label"] == 0
    assert a[week(30)]["label"] is None and not a[week(30)]["eligible"]
    b = {r["week"]: r for r in table.filter(pl.col("person_id") == "b").iter_rows(named=True)}
    # b's outcome (week 55) is 1 to 12 weeks after weeks 43-54, but the horizon of weeks 48-54
    # runs past the data (week 59): censored like any week there, or they would be positives
    # without the negatives of their weeks.
    assert [b[week(k)]["label"] for k in range(43, 48)] == [1] * 5
    assert [b[week(k)]["label"] for k in range(48, 55)] == [None] * 7
    assert [b[week(k)]["weeks_to_outcome"] for k in range(48, 55)] == list(range(7, 0, -1))
    assert [b[week(k)]["label"] for k in range(43)] == [0] * 43
    c = table.filter(pl.col("person_id") == "c")
    # The last 12 weeks of c (no outcome) are censored: nothing is known about their whole horizon.
    assert c.filter(pl.col("week") > week(59 - 12))["label"].null_count() == 12
    assert c.filter(pl.col("week") <= week(59 - 12))["label"].to_list() == [0] * 48


def test_as_of_gives_the_same_row_as_the_full_table() -> None:
    signals, events, people = BASE
    full = build(signals, events, people).filter(pl.col("week") == week(33))
    one = build(signals, events, people, as_of=week(33) + timedelta(days=4))
    assert one["week"].unique().to_list() == [week(33)]
    assert_frame_equal(full.select(one.columns), one)


def test_unknown_signals_get_every_feature() -> None:
    signals, events, people = BASE
    extra = signals.filter(pl.col("signal") == "questions_asked").with_columns(
        pl.lit("badge_swipes").alias("signal")
    )
    table = build(pl.concat([signals, extra]), events, people)
    for feature in ("level_4w", "baseline", "deviation", "trend_8w", "volatility_8w", "weeks_off_normal"):
        assert f"badge_swipes__{feature}" in table.columns
    assert table["badge_swipes__deviation"].drop_nulls().len() > 0
    # Drift for the unknown signal too (its direction is learnt in the fit), never for planned leave.
    assert "badge_swipes__drift_13w" in table.columns
    assert table["badge_swipes__drift_13w"].drop_nulls().len() > 0
    assert not [c for c in table.columns if c.startswith("planned_leave_days__drift")]
    assert "questions_asked__drift_13w" in table.columns


def test_team_wide_dip_cancels_in_deviation_vs_team() -> None:
    rows = []
    for p in range(5):
        for k in range(40):
            dip = 5.0 if k >= 34 else 0.0
            rows.append((f"p{p}", week(k), "questions_asked", 10.0 + (k + p) % 3 - dip))
    signals = pl.DataFrame(rows, schema=["person_id", "week", "signal", "value"], orient="row")
    people = pl.DataFrame({"person_id": [f"p{p}" for p in range(5)], "team_id": ["t"] * 5})
    last = build(signals, None, people).filter(pl.col("week") == week(39))
    assert last["questions_asked__deviation"].max() < -2
    assert last["questions_asked__deviation_vs_team"].abs().max() < 1.0


def _steady_colleagues_and(person_values: list[float]) -> pl.DataFrame:
    """Four colleagues steady at 10 questions a week, and one person with the given weeks."""
    rows = [("x", week(k), "questions_asked", v) for k, v in enumerate(person_values)]
    for p in range(4):
        rows += [(f"p{p}", week(k), "questions_asked", 10.0) for k in range(len(person_values))]
    return pl.DataFrame(rows, schema=["person_id", "week", "signal", "value"], orient="row")


def test_slow_decline_shows_in_drift_after_the_half_year_normal_has_absorbed_it() -> None:
    # 60 steady weeks, a slide from 10 to 5 over 20 weeks, then 10 weeks at 5.
    values = [10.0] * 60 + [10.0 - 5.0 * (k + 1) / 20 for k in range(20)] + [5.0] * 10
    last = (
        build(_steady_colleagues_and(values), None, None)
        .filter(pl.col("person_id") == "x")
        .row(-1, named=True)
    )
    assert last["questions_asked__baseline"] < 7.0  # the half-year normal has followed the slide down
    # The two-year normal (weeks 0-85, on a log scale) still remembers mostly 10.
    normal = np.mean(np.log1p(values[:86]))
    assert normal > np.log1p(8.5)  # about 9 a week, against the half-year normal under 7
    assert last["questions_asked__drift_4w"] == pytest.approx(np.log1p(5.0) - normal, abs=1e-5)
    assert (
        last["questions_asked__drift_13w"] < last["questions_asked__drift_26w"] < 0
    )  # older weeks were higher
    assert last["questions_asked__drift_8w"] == pytest.approx(np.log1p(5.0) - normal, abs=1e-5)


def test_a_shift_everybody_shares_cancels_in_drift() -> None:
    rows = [
        (f"p{p}", week(k), "questions_asked", (10.0 + (k + p) % 3) * (0.5 if k >= 36 else 1.0))
        for p in range(5)
        for k in range(40)
    ]
    signals = pl.DataFrame(rows, schema=["person_id", "week", "signal", "value"], orient="row")
    last = build(signals, None, None).filter(pl.col("week") == week(39))
    assert last["questions_asked__deviation"].max() < -2  # each one alone looks like a fall ...
    assert last["questions_asked__drift_4w"].abs().max() < 0.1  # ... that everybody shared


def test_drift_needs_a_long_normal_and_a_few_people() -> None:
    short = build(_steady_colleagues_and([10.0] * 7), None, None)
    assert short["questions_asked__drift_4w"].null_count() == short.height  # under 8 weeks: no normal
    alone = build(
        _steady_colleagues_and([10.0] * 20).filter(pl.col("person_id").is_in(["x", "p0"])), None, None
    )
    assert alone["questions_asked__drift_4w"].null_count() == alone.height  # two people: no shared median


def test_context_weeks_since_event_and_tenure() -> None:
    signals, events, people = BASE
    table = build(signals, events, people)
    p2 = table.filter(pl.col("person_id") == "p002")
    assert p2.filter(pl.col("week") < week(10))["weeks_since_manager_changed"].null_count() == 10
    assert p2.filter(pl.col("week") == week(14))["weeks_since_manager_changed"].item() == 4
    assert (
        p2.filter(pl.col("week") == week(0))["tenure_weeks"].item()
        == (week(0) - date(2021, 12, 27)).days // 7
    )
