"""Every signal against the person's own normal: recent level, baseline, deviation, trend, runs.

Each function returns a Polars expression named after the feature it makes; they run on the
weekly grid (features.grid), one series per person and signal, sorted by week.
"""

from __future__ import annotations

import polars as pl

from features.grid import SERIES
from features.windows import (
    BASELINE_GAP_WEEKS,
    BASELINE_MIN_WEEKS,
    BASELINE_WEEKS,
    RECENT_WEEKS,
    TREND_MIN_WEEKS,
    TREND_WEEKS,
)

VALUE = pl.col("value")
# Below one robust unit of spread a change is noise; the floor keeps near-constant signals
# (a survey always answered 4, a count that is always 0) from turning tiny moves into alarms.
_SCALE_FLOOR_ABSOLUTE = 0.05
_SCALE_FLOOR_RELATIVE = 0.05
_OFF_NORMAL_UNITS = 0.5


def level_4w() -> pl.Expr:
    """Average over the observed weeks among the last 4."""
    return VALUE.rolling_mean(RECENT_WEEKS, min_samples=1).over(SERIES).alias("level_4w")


def baseline() -> pl.Expr:
    """The person's own normal: median of the 26 weeks before the last 4, leave weeks left out."""
    return (
        VALUE.rolling_median(BASELINE_WEEKS, min_samples=BASELINE_MIN_WEEKS)
        .shift(BASELINE_GAP_WEEKS)
        .over(SERIES)
        .alias("baseline")
    )


def spread() -> pl.Expr:
    """How much the person's own weeks usually vary (robust: interquartile range of the normal)."""
    quartile = {
        q: VALUE.rolling_quantile(
            q, interpolation="linear", window_size=BASELINE_WEEKS, min_samples=BASELINE_MIN_WEEKS
        )
        .shift(BASELINE_GAP_WEEKS)
        .over(SERIES)
        for q in (0.25, 0.75)
    }
    iqr_sigma = (quartile[0.75] - quartile[0.25]) / 1.349
    floor = _SCALE_FLOOR_ABSOLUTE + _SCALE_FLOOR_RELATIVE * pl.col("baseline").abs()
    return pl.max_horizontal(iqr_sigma, floor).alias("spread")


def deviation() -> pl.Expr:
    """Recent level against the own normal, in units of the person's usual spread."""
    return ((pl.col("level_4w") - pl.col("baseline")) / pl.col("spread")).alias("deviation")


def trend_8w() -> pl.Expr:
    """Change per week over the last 8 weeks (least-squares slope), in units of usual spread."""
    # Evaluated inside the window sums' own over(SERIES), so pl.len() is the series length: a
    # nested over() here would make every sum a slow group-by-group evaluation.
    week_index = pl.int_range(pl.len()).cast(pl.Float64)
    observed = VALUE.is_not_null()
    t = pl.when(observed).then(week_index)
    n = observed.cast(pl.Float64).rolling_sum(TREND_WEEKS, min_samples=1).over(SERIES)

    def window_sum(expr: pl.Expr) -> pl.Expr:
        return expr.rolling_sum(TREND_WEEKS, min_samples=1).over(SERIES)

    s_t, s_y = window_sum(t), window_sum(VALUE)
    s_ty, s_tt = window_sum(t * VALUE), window_sum(t * t)
    slope = (n * s_ty - s_t * s_y) / (n * s_tt - s_t * s_t)
    return pl.when(n >= TREND_MIN_WEEKS).then(slope / pl.col("spread")).alias("trend_8w")


def volatility_8w() -> pl.Expr:
    """How unsteady the last 8 weeks were, in units of the person's usual spread."""
    std = VALUE.rolling_std(TREND_WEEKS, min_samples=TREND_MIN_WEEKS).over(SERIES)
    return (std / pl.col("spread")).alias("volatility_8w")


def weeks_off_normal() -> pl.Expr:
    """Weeks in a row above (+) or below (-) the own normal; unobserved weeks do not break a run."""
    # Written with whole-column operations only: the grid keeps each series contiguous and in week
    # order, and a partition per run (millions of tiny groups) would be many times slower.
    z = (VALUE - pl.col("baseline")) / pl.col("spread")
    series = pl.col(SERIES)
    observed_state = (
        pl.when(z > _OFF_NORMAL_UNITS)
        .then(1)
        .when(z < -_OFF_NORMAL_UNITS)
        .then(-1)
        .when(z.is_not_null())
        .then(0)
    )
    state_series = pl.when(observed_state.is_not_null()).then(series).forward_fill()
    state = pl.when(state_series == series).then(observed_state.forward_fill())
    run_starts = ((state != state.shift(1)) | (series != series.shift(1))).fill_null(True)
    # Only observed weeks count: a holiday neither breaks a run nor lengthens it.
    observed = VALUE.is_not_null().cast(pl.Int64)
    seen = observed.cum_sum()
    seen_before_run = pl.when(run_starts).then(seen - observed).forward_fill()
    return ((seen - seen_before_run) * state).cast(pl.Float64).alias("weeks_off_normal")


OUTPUTS = ("level_4w", "baseline", "deviation", "trend_8w", "volatility_8w", "weeks_off_normal")


def add_own_normal_features(grid: pl.LazyFrame) -> pl.LazyFrame:
    """Add every own-normal feature to the weekly grid (columns named in OUTPUTS, plus spread)."""
    return (
        grid.with_columns(level_4w(), baseline())
        .with_columns(spread())
        .with_columns(deviation(), trend_8w(), volatility_8w(), weeks_off_normal())
    )
