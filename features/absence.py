"""Short unplanned absence: how often, how long, and the Bradford factor that weighs frequency.

Every week on the weekly grid restricted to absence signals, days absent that week
(add_absence_features); or one as-of week from the rows that exist (absence_features_at).
"""

from __future__ import annotations

import polars as pl

from features.as_of_window import AGO, series_time
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


def absence_features_at(series: pl.LazyFrame, values: pl.LazyFrame) -> pl.LazyFrame:
    """OUTPUTS of each absence series in the as-of week (none without recent rows), as the grid has them."""
    window = pl.col(AGO) < ABSENCE_WEEKS
    # The week before the oldest of the window tells whether a spell there started in the window.
    observed = (
        values.join(series.filter(pl.col("kind") == "absence"), on=SERIES, how="semi")
        .filter(VALUE.is_not_null() & (pl.col(AGO) <= ABSENCE_WEEKS))
        .select(SERIES, AGO, "value")
    )
    # A spell starts in an absent week whose week before was not absent; a week without a value
    # (no row, leave, before the series) counts as not absent, as in absence_spells_26w.
    continued = (pl.col("_time").shift(1) == pl.col("_time") - 1).fill_null(False)
    spells = (
        observed.filter(VALUE > 0)
        .select(SERIES, AGO, series_time().alias("_time"))
        .sort("_time")
        .filter(window & ~continued)
        .group_by(SERIES)
        .agg(pl.len().cast(pl.Float64).alias("_spells"))
    )
    enough = VALUE.filter(window).count() >= _MIN_OBSERVED
    days = observed.group_by(SERIES).agg(
        pl.when(enough).then(VALUE.filter(window).sum()).alias("absence_days_26w"), enough.alias("_enough")
    )
    return (
        days.join(spells, on=SERIES, how="left")
        .with_columns(pl.when("_enough").then(pl.col("_spells").fill_null(0.0)).alias("absence_spells_26w"))
        .select(SERIES, "absence_days_26w", "absence_spells_26w", bradford_factor_26w())
    )
