"""The frame of the one-week (as-of) forms: each value's weeks before the as-of week, on integer keys.

features.as_of_week makes the rows (series_values); each family module reads them with these
helpers in its as-of form, next to its every-week form. Kept apart from as_of_week so that the
family modules can import them and as_of_week can import the families.
"""

from __future__ import annotations

import polars as pl

from features.grid import SERIES
from features.windows import BASELINE_GAP_WEEKS, BASELINE_WEEKS, LOOKBACK_WEEKS

AGO = "_weeks_ago"  # 0 is the as-of week itself
SPAN = 256  # more than any weeks-ago value, so (number, weeks ago) packs into one Int64 key
# The baseline at a week reads the values this many weeks back, and no further.
NORMAL_REACH = BASELINE_GAP_WEEKS + BASELINE_WEEKS - 1
if LOOKBACK_WEEKS + NORMAL_REACH >= SPAN:
    raise ValueError("features.windows look back further than the packed keys of the as-of path can hold")


def in_weeks(first: int, last: int) -> pl.Expr:
    """Whether a row lies `first` to `last` weeks (both included) before the as-of week."""
    return pl.col(AGO).is_between(first, last)


def series_time() -> pl.Expr:
    """Series, then weeks oldest first, on one integer: weeks of one series are consecutive numbers."""
    # Series lie SPAN weeks apart on it, so no window over time reaches into another series.
    return pl.col(SERIES).cast(pl.Int64) * SPAN - pl.col(AGO).cast(pl.Int64)
