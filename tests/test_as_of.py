"""The nightly as-of path (features.as_of_week) equals the every-week table's row of that week.

Scoring one week reads only the look-back window (features.windows.LOOKBACK_WEEKS), so the
every-week table it is held to is built on that same window of history; for as-of weeks within
the look-back of the data's start, that is the whole history.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.as_of_week import _RUN_WEEKS
from features.build import FeatureRequest, build_features
from features.catalog import load_catalog
from features.windows import LOOKBACK_WEEKS
from simulator.organisation import simulate_organisation

CATALOG = load_catalog()
BEFORE_LAST = (0, 1, 5, 20, 45, 60)


@pytest.fixture(scope="module")
def org():
    # 70 weeks: longer than the look-back, so the last as-of weeks lose their oldest history.
    return simulate_organisation(300, 70, 11)


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
