"""Short unplanned absence: how often, how long, and the Bradford factor that weighs frequency.

Runs on the weekly grid restricted to absence signals (days absent that week).
"""

from __future__ import annotations

import polars as pl

from features.grid import SERIES
from features.windows import ABSENCE_WEEKS

VALUE = pl.col("value")
_MIN_OBSERVED = ABSENCE_WEEKS // 2


def absence_days_26w() -> pl.Expr:
    """Days of short absence in the last 26 weeks."""
    return VALUE.rolling_sum(ABSENCE_WEEKS, min_samples=_MIN_OBSERVED).over(SERIES).alias("absence_days_26w")


def absence_spells_26w() -> pl.Expr:
    """Separate spells of short absence that started in the last 26 weeks."""
    absent = VALUE > 0
    started = absent & ~absent.shift(1).fill_null(False).over(SERIES)
    observed = VALUE.is_not_null()
    return (
        pl.when(observed)
        .then(started.cast(pl.Float64))
        .rolling_sum(ABSENCE_WEEKS, min_samples=_MIN_OBSERVED)
        .over(SERIES)
        .alias("absence_spells_26w")
    )


def bradford_factor_26w() -> pl.Expr:
    """Bradford factor over 26 weeks: spells squared times days, so many short spells weigh most."""
    return (pl.col("absence_spells_26w") ** 2 * pl.col("absence_days_26w")).alias("bradford_factor_26w")


OUTPUTS = ("absence_days_26w", "absence_spells_26w", "bradford_factor_26w")


def add_absence_features(grid: pl.LazyFrame) -> pl.LazyFrame:
    """Add the absence features (columns named in OUTPUTS) to a grid of absence signals."""
    return grid.with_columns(absence_days_26w(), absence_spells_26w()).with_columns(bradford_factor_26w())
