"""Every signal against the person's own normal: recent level, baseline, deviation, trend, runs.

The every-week form: each function returns a Polars expression named after the feature it makes;
they run on the weekly grid (features.grid), one series per person and signal, sorted by week.
The one-week form (own_normal_at) gives the same values for one as-of week from the rows that
exist (features.as_of_window), without the grid.
"""

from __future__ import annotations

import polars as pl

from features.as_of_window import AGO, NORMAL_REACH, in_weeks, series_time
from features.grid import SERIES
from features.windows import (
    BASELINE_GAP_WEEKS,
    BASELINE_MIN_WEEKS,
    BASELINE_WEEKS,
    LOOKBACK_WEEKS,
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
# The one-week form finds most runs above or below normal within this many recent weeks; only the
# series whose run reaches further get a second pass over their whole history.
_RUN_WEEKS = 6


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
    return _spread_of(quartile[0.25], quartile[0.75])


def _spread_of(q25: pl.Expr, q75: pl.Expr) -> pl.Expr:
    """The usual spread from the normal's quartiles: the interquartile range as a standard deviation."""
    iqr_sigma = (q75 - q25) / 1.349
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

    return _trend_of(n, window_sum(t), window_sum(VALUE), window_sum(t * VALUE), window_sum(t * t))


def _trend_of(n: pl.Expr, s_t: pl.Expr, s_y: pl.Expr, s_ty: pl.Expr, s_tt: pl.Expr) -> pl.Expr:
    """trend_8w from sums over the n observed weeks: the least-squares slope per usual spread."""
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
    z = _z()
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


def _z() -> pl.Expr:
    """A week's value against the own normal, in units of usual spread."""
    return (VALUE - pl.col("baseline")) / pl.col("spread")


OUTPUTS = ("level_4w", "baseline", "deviation", "trend_8w", "volatility_8w", "weeks_off_normal")


def add_own_normal_features(grid: pl.LazyFrame) -> pl.LazyFrame:
    """Add every own-normal feature to the weekly grid (columns named in OUTPUTS, plus spread)."""
    return (
        grid.with_columns(level_4w(), baseline())
        .with_columns(spread())
        .with_columns(deviation(), trend_8w(), volatility_8w(), weeks_off_normal())
    )


# The one-week form. Each feature of the as-of week reads only the rows that exist and the weeks
# it can reach: aggregates per series over the window it needs, and time windows (not a weekly
# grid) over the observed weeks a run above or below the own normal can still reach.


def recent_at(values: pl.LazyFrame) -> pl.LazyFrame:
    """Recent level, and the sums behind the 8-week trend and volatility, of each series in the as-of week."""
    # Time in weeks, counted back from the as-of week: the slope is the same whatever week is 0.
    t = -pl.col(AGO).cast(pl.Float64)
    return (
        values.filter(VALUE.is_not_null() & in_weeks(0, TREND_WEEKS - 1))
        .group_by(SERIES)
        .agg(
            VALUE.filter(in_weeks(0, RECENT_WEEKS - 1)).mean().alias("level_4w"),
            pl.len().cast(pl.Float64).alias("_n"),
            t.sum().alias("_st"),
            VALUE.sum().alias("_sy"),
            (t * VALUE).sum().alias("_sty"),
            (t * t).sum().alias("_stt"),
            VALUE.std().alias("_std"),
        )
    )


def _runs(series: pl.LazyFrame, values: pl.LazyFrame, weeks: int) -> pl.LazyFrame:
    """weeks_off_normal of each series from its last `weeks` weeks, and whether that reached far enough.

    Also the own normal (baseline) and spread in the as-of week, from the same windows. Only the
    observed weeks are read: a week without a value neither breaks nor lengthens a run, so the
    every-week run expression (weeks_off_normal) counts the same on them. Each normal is a window
    over time (26 weeks ending 4 weeks back), not over rows, so the weeks without a value need no
    row; series lie apart in time (as_of_window.series_time), so no window reaches into another.
    One row without a value in the as-of week itself carries each series' normal there.
    """
    reach = weeks + NORMAL_REACH
    observed = values.filter(VALUE.is_not_null() & (pl.col(AGO) < reach)).select(SERIES, AGO, "value")
    as_of_rows = series.select(
        SERIES, pl.lit(0, dtype=pl.Int16).alias(AGO), pl.lit(None, dtype=pl.Float64).alias("value")
    )
    rows = (
        pl.concat(
            [
                observed.with_columns(pl.lit(0).alias("_last")),
                as_of_rows.with_columns(pl.lit(1).alias("_last")),
            ]
        )
        # Time in half weeks, so that one sort key puts the as-of row after a value of that week.
        .with_columns((series_time() * 2 + pl.col("_last")).alias("_time"))
        .sort("_time")
    )
    window = {
        "index_column": "_time",
        "period": f"{2 * BASELINE_WEEKS}i",
        "offset": f"-{2 * (BASELINE_WEEKS + BASELINE_GAP_WEEKS)}i",
    }
    enough = pl.col("_normal_weeks") >= BASELINE_MIN_WEEKS
    block = (
        rows.with_columns(
            VALUE.count().rolling(**window).alias("_normal_weeks"),
            VALUE.median().rolling(**window).alias("baseline"),
            VALUE.quantile(0.25, "linear").rolling(**window).alias("_q25"),
            VALUE.quantile(0.75, "linear").rolling(**window).alias("_q75"),
        )
        .with_columns(pl.when(enough).then(pl.col(name)).alias(name) for name in ("baseline", "_q25", "_q75"))
        .with_columns(_spread_of(pl.col("_q25"), pl.col("_q75")))
        .filter(pl.col(AGO) < weeks)
        .with_columns(weeks_off_normal())
        .cache()  # read twice below: the windows are the expensive part
    )
    z = _z()
    states = block.group_by(SERIES).agg(
        (z > _OFF_NORMAL_UNITS).sum().alias("_above"),
        (z < -_OFF_NORMAL_UNITS).sum().alias("_below"),
        (z.abs() <= _OFF_NORMAL_UNITS).sum().alias("_near"),
    )
    run = pl.col("weeks_off_normal")
    # The run in the block is the whole run when the block also saw another state before it, when
    # it is a run of 0 (worth 0 whatever its length), or when the block starts before the series.
    other = (
        pl.when(run > 0)
        .then(pl.col("_below") + pl.col("_near"))
        .when(run < 0)
        .then(pl.col("_above") + pl.col("_near"))
        .otherwise(0)
    )
    settled = (run == 0).fill_null(False) | (other > 0) | (pl.col("_age") < weeks)
    return (
        block.filter(pl.col("_last") == 1)
        .select(SERIES, "weeks_off_normal", "baseline", "spread")
        .join(states, on=SERIES)
        .join(series.select(SERIES, "_age"), on=SERIES)
        .select(SERIES, "weeks_off_normal", "baseline", "spread", settled.alias("_settled"))
    )


def normal_and_runs_at(series: pl.LazyFrame, values: pl.LazyFrame) -> pl.LazyFrame:
    """Own normal, spread and weeks in a row above (+) or below (-) it, per series, in the as-of week.

    Series with fewer observed weeks in all than a normal needs have neither: no row (null in
    the caller's left join). Most sparse surveys are settled by that count instead of windows.
    """
    scorable = (
        values.filter(VALUE.is_not_null()).group_by(SERIES).len().filter(pl.col("len") >= BASELINE_MIN_WEEKS)
    )
    scored = series.join(scorable, on=SERIES, how="semi").cache()
    first = _runs(scored, values.join(scored, on=SERIES, how="semi"), _RUN_WEEKS).cache()
    unsettled = scored.join(first.filter(~pl.col("_settled")), on=SERIES, how="semi")
    # The history read by the caller reaches LOOKBACK_WEEKS back: a block that long always settles.
    second = _runs(unsettled, values.join(unsettled, on=SERIES, how="semi"), LOOKBACK_WEEKS)
    runs = pl.concat(
        [
            first.filter(pl.col("_settled")).select(SERIES, "weeks_off_normal"),
            second.select(SERIES, "weeks_off_normal"),
        ]
    )
    return first.select(SERIES, "baseline", "spread").join(runs, on=SERIES, how="left")


def own_normal_at(series: pl.LazyFrame, values: pl.LazyFrame) -> pl.LazyFrame:
    """OUTPUTS (and spread) of each series in the as-of week: the every-week grid's row of that week."""
    n = pl.col("_n")
    return (
        series.select(SERIES)
        .join(recent_at(values), on=SERIES, how="left")
        .join(normal_and_runs_at(series, values), on=SERIES, how="left")
        .select(
            SERIES,
            "level_4w",
            "baseline",
            "spread",
            deviation(),
            _trend_of(n, pl.col("_st"), pl.col("_sy"), pl.col("_sty"), pl.col("_stt")),
            (pl.when(n >= TREND_MIN_WEEKS).then(pl.col("_std")) / pl.col("spread")).alias("volatility_8w"),
            "weeks_off_normal",
        )
    )
