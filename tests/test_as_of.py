"""The nightly as-of path (features.as_of_week) equals the every-week table's row of that week.

Scoring one week reads only the look-back window (features.windows.LOOKBACK_WEEKS), so the
every-week table it is held to is built on that same window of history; for as-of weeks within
the look-back of the data's start, that is the whole history.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features import twins
from features.as_of_week import features_at, series_values
from features.build import FeatureRequest, build_features
from features.catalog import load_catalog
from features.grid import catalog_frame, series_grid
from features.own_normal import _RUN_WEEKS
from features.windows import LOOKBACK_WEEKS
from simulator.organisation import simulate_organisation

pytestmark = pytest.mark.data

CATALOG = load_catalog()
BEFORE_LAST = (0, 1, 5, 20, 45, 60)


@pytest.fixture(scope="module")
def org():
    # 70 weeks: longer than the look-back, so the last as-of weeks lose their oldest history. What
    # is compared is row by row, so a small organisation holds it as well as a large one.
    return simulate_organisation(150, 70, 11)


def every_week(org, as_of) -> pl.DataFrame:
    """The every-week table on the history an as-of run reads, at week `as_of`."""
    window = pl.col("week").is_between(as_of - timedelta(weeks=LOOKBACK_WEEKS), as_of, closed="right")
    tables = (org.signals.lazy().filter(window), org.events.lazy(), org.people.lazy())
    table = build_features(*tables, CATALOG, FeatureRequest()).collect()
    return table.filter(pl.col("week") == as_of)


@pytest.mark.parametrize("weeks_before_last", BEFORE_LAST)
def test_as_of_equals_the_every_week_row(org, weeks_before_last: int) -> None:
    as_of = org.signals["week"].max() - timedelta(weeks=weeks_before_last)
    tables = (org.signals.lazy(), org.events.lazy(), org.people.lazy())
    # A Wednesday: the as-of day may be any day of its week.
    one = build_features(*tables, CATALOG, FeatureRequest(as_of=as_of + timedelta(days=2))).collect()
    full = every_week(org, as_of)
    assert one.height == full.height > 50
    # Events after the as-of week are not known yet: their columns exist only in the full table.
    later = [c for c in full.columns if c not in one.columns]
    assert all(c.startswith("weeks_since_") for c in later), later
    assert all(full[c].null_count() == full.height for c in later), later
    assert_frame_equal(full.select(one.columns), one, check_exact=False, rel_tol=1e-5, abs_tol=1e-6)


def test_long_runs_off_normal_are_compared(org) -> None:
    # Runs longer than the first block take the as-of path's second pass over the whole history:
    # the comparison above covers that pass only if such runs exist in the as-of weeks.
    as_of = org.signals["week"].max() - timedelta(weeks=1)
    runs = every_week(org, as_of).select(pl.col("^.*__weeks_off_normal$").abs().max())
    assert max(v for v in runs.row(0) if v is not None) > _RUN_WEEKS


EDGE_AS_OF = date(2025, 6, 30)


def _weeks_ago_rows(person: str, signal: str, values: dict[int, float]) -> list[dict]:
    return [
        {"person_id": person, "week": EDGE_AS_OF - timedelta(weeks=ago), "signal": signal, "value": value}
        for ago, value in values.items()
    ]


_ABSENT = {26: 1.0, 25: 2.0, 12: 1.0, 11: 1.0, 5: 1.0, 2: 1.0, 1: 1.0, 0: 1.0}
EDGE_SIGNALS = pl.DataFrame(
    [
        # Leave weeks inside the survey and absence windows; 1 day (ago 4) is not a leave week.
        *_weeks_ago_rows("a", "planned_leave_days", {1: 3.0, 4: 1.0, 20: 3.0, 40: 3.0, 50: 3.0}),
        # Younger than 12 weeks, an answer in a leave week (masked): too few working weeks for a rate.
        *_weeks_ago_rows("a", "pulse.engagement", {5: 4.0, 3: 2.0, 1: 5.0, 0: 3.0}),
        # One earlier answer within 12 weeks of the latest: the change falls back to ago 30.
        *_weeks_ago_rows(
            "a", "pulse.wellbeing", {44: 2.0, 42: 4.0, 40: 5.0, 36: 4.0, 30: 3.0, 10: 2.0, 0: 1.0}
        ),
        # No answer in the last 12 weeks.
        *_weeks_ago_rows("a", "pulse.growth", {60: 3.0, 50: 2.0, 30: 4.0, 14: 5.0}),
        # A spell across the window's start, one interrupted by a leave week, gaps and a leave week.
        *_weeks_ago_rows("a", "short_absence_days", {ago: _ABSENT.get(ago, 0.0) for ago in range(31)}),
        # No leave signal; too young for a rate and for absence counts.
        *_weeks_ago_rows("b", "pulse.engagement", {3: 4.0, 2: 4.0, 1: 3.0, 0: 3.0}),
        *_weeks_ago_rows("b", "short_absence_days", {ago: float(ago % 2) for ago in range(9)}),
        # Leave only before the survey series' first week: not in its windows.
        *_weeks_ago_rows("c", "planned_leave_days", {12: 5.0, 11: 5.0, 10: 5.0}),
        *_weeks_ago_rows("c", "pulse.engagement", {ago: 4.0 for ago in range(8)}),
    ]
)


@pytest.mark.parametrize("kind", ["survey", "absence"])
def test_kind_features_at_edge_cases(kind: str) -> None:
    names = sorted(EDGE_SIGNALS["signal"].unique())
    cat = catalog_frame(CATALOG, names)
    family = next(f for f in twins.BY_KIND if f.kind == kind)
    grid = series_grid(EDGE_SIGNALS.lazy(), cat)
    outputs = list(family.outputs)
    keys = ["person_id", "signal"]
    full = twins.every_week(grid, (family,)).filter(pl.col("week") == EDGE_AS_OF)
    full = full.select(*keys, *outputs).sort(keys).collect()
    series, values = series_values(EDGE_SIGNALS.lazy(), cat, EDGE_AS_OF, names)
    one = features_at(series, values, (family,), EDGE_AS_OF).select(*keys, *outputs).sort(keys).collect()
    assert_frame_equal(full, one, check_exact=True)
    # The frames above reach the cases they name: no output is null everywhere, and the rates are
    # null exactly where too few working weeks lie in their windows.
    for column in outputs:
        assert one[column].null_count() < one.height, column
    if kind == "survey":
        wellbeing = one.row(by_predicate=pl.col("signal") == "pulse.wellbeing", named=True)
        assert wellbeing["answer_change"] == -1.0
        assert one["response_rate_12w"].null_count() == 2
        assert one["response_rate_change"].null_count() == 3
    else:
        # Person a: 7 days in 4 spells (the one at ago 25 began before the window; the leave week
        # at ago 1 splits the last); person b has too few weeks.
        assert one.select(outputs).rows() == [(7.0, 4.0, 112.0), (None, None, None)]


def test_the_default_week_is_the_last_one_most_people_have() -> None:
    from features.latest_week import latest_week, people_by_week

    weeks = [date(2025, 3, 3) + timedelta(weeks=i) for i in range(10)]
    rows = [(f"p{p}", week) for week in weeks[:-1] for p in range(40)] + [
        ("p1", weeks[-1]),
        ("p2", weeks[-1]),
    ]
    signals = pl.LazyFrame(rows, schema={"person_id": pl.String, "week": pl.Date}, orient="row")
    counts = people_by_week(signals)
    assert counts["week"].to_list() == weeks[-8:] and counts["people"].to_list()[-2:] == [40, 2]
    chosen = latest_week(counts)
    assert (chosen.week, chosen.people, chosen.last_week, chosen.last_week_people) == (
        weeks[-2],
        40,
        weeks[-1],
        2,
    )
    assert chosen.skips_later_weeks
    everyone = latest_week(people_by_week(signals.filter(pl.col("week") < weeks[-1])))
    assert everyone.week == weeks[-2] and not everyone.skips_later_weeks
    with pytest.raises(ValueError, match="no week to score"):
        latest_week(people_by_week(signals.clear()))
