"""Features of one as-of week without computing every week: the nightly scoring path.

The every-week path rolls each feature over every week of every series and would then keep one
week. Here each feature of the as-of week reads only the weeks it can reach: aggregates per series
over the window it needs, and rolling windows only over the weeks a run above or below the own
normal can still reach. Values equal the every-week table's row for that week (tested).
Only integer keys travel through the large steps; text is joined onto the small result.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from features import absence, own_normal, surveys
from features.grid import PERSON, SERIES, WEEK
from features.own_normal import _OFF_NORMAL_UNITS, _SCALE_FLOOR_ABSOLUTE, _SCALE_FLOOR_RELATIVE
from features.windows import (
    BASELINE_GAP_WEEKS,
    BASELINE_MIN_WEEKS,
    BASELINE_WEEKS,
    LEAVE_WEEK_MIN_DAYS,
    LOOKBACK_WEEKS,
    RECENT_WEEKS,
    TREND_MIN_WEEKS,
    TREND_WEEKS,
)

AGO = "_weeks_ago"  # 0 is the as-of week itself
_SPAN = 256  # more than any weeks-ago value, so (number, weeks ago) packs into one Int64 key
# The baseline at a week reads the values this many weeks back, and no further.
_NORMAL_REACH = BASELINE_GAP_WEEKS + BASELINE_WEEKS - 1
# A first pass finds most runs above or below normal within this many recent weeks; only the
# series whose run reaches further get a second pass over their whole history.
_RUN_WEEKS = 6
if LOOKBACK_WEEKS + _NORMAL_REACH >= _SPAN:
    raise ValueError("features.windows look back further than the packed keys of as_of_week can hold")
VALUE = pl.col("value")


def _pack(number: str, weeks_ago: str = AGO) -> pl.Expr:
    return pl.col(number).cast(pl.Int64) * _SPAN + pl.col(weeks_ago).cast(pl.Int64)


def series_values(
    signals: pl.LazyFrame, catalog_rows: pl.LazyFrame, as_of: date
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The series of people seen in the as-of week, and their observed values by weeks before it.

    `signals` holds only the weeks up to `as_of` (see build._restrict). Returns the series
    (series number, person, signal, kind, weeks since its first observation) and the value rows
    (series, weeks ago, the series' age in weeks, value with leave weeks masked as in the grid).
    """
    people = (
        signals.group_by(PERSON)
        .agg(pl.col(WEEK).max().alias("_last"))
        # Only people with data in the as-of week have a row that week, as in the every-week table.
        .filter(pl.col("_last") == as_of)
        .sort(PERSON)
        .with_row_index("_person")
        .drop("_last")
    )
    series = (
        signals.group_by(PERSON, "signal")
        .agg(pl.col(WEEK).min().alias("_first"))
        .join(people, on=PERSON)
        .sort(PERSON, "signal")
        .with_row_index(SERIES)
        .join(catalog_rows.select("signal", "kind"), on="signal", how="left")
        .with_columns(
            ((pl.lit(as_of) - pl.col("_first")).dt.total_days() // 7).cast(pl.Int16).alias("_age"),
            # A flag, not the kind's text, travels to the many value rows.
            (pl.col("kind") == "leave").alias("_is_leave"),
        )
        .cache()
    )
    rows = signals.join(
        series.select(PERSON, "signal", SERIES, "_person", "_is_leave", "_age"), on=[PERSON, "signal"]
    ).select(
        SERIES,
        "_person",
        "_is_leave",
        ((pl.lit(as_of) - pl.col(WEEK)).dt.total_days() // 7).cast(pl.Int16).alias(AGO),
        "_age",
        "value",
    )
    leave = (
        rows.filter(pl.col("_is_leave"))
        .group_by("_person", AGO)
        .agg(pl.col("value").sum().alias("_leave_days"))
        .filter(pl.col("_leave_days") >= LEAVE_WEEK_MIN_DAYS)
        .select(_pack("_person").alias("_person_week"), pl.lit(True).alias("on_leave"))
    )
    values = (
        rows.with_columns(_pack("_person").alias("_person_week"))
        .join(leave, on="_person_week", how="left")
        .select(
            SERIES,
            AGO,
            "_age",
            pl.when(pl.col("on_leave").is_null() | pl.col("_is_leave"))
            .then(pl.col("value"))
            .otherwise(None)
            .alias("value"),
            pl.col("on_leave").fill_null(False),
        )
    )
    return series.drop("_first"), values


def _in_weeks(first: int, last: int) -> pl.Expr:
    return pl.col(AGO).is_between(first, last)


def own_normal_at(values: pl.LazyFrame) -> pl.LazyFrame:
    """Recent level, own normal, spread, deviation, trend and volatility of each series in the as-of week."""
    observed = values.filter(VALUE.is_not_null() & (pl.col(AGO) <= _NORMAL_REACH))
    recent = _in_weeks(0, RECENT_WEEKS - 1)
    normal_weeks = _in_weeks(BASELINE_GAP_WEEKS, _NORMAL_REACH)
    trend_weeks = _in_weeks(0, TREND_WEEKS - 1)
    normal = VALUE.filter(normal_weeks)
    enough = normal.count() >= BASELINE_MIN_WEEKS
    # Week number within the series, as the every-week grid counts it.
    week_index = (pl.col("_age") - pl.col(AGO)).cast(pl.Float64)
    t, y = week_index.filter(trend_weeks), VALUE.filter(trend_weeks)
    sums = observed.group_by(SERIES).agg(
        VALUE.filter(recent).mean().alias("level_4w"),
        pl.when(enough).then(normal.median()).alias("baseline"),
        pl.when(enough).then(normal.quantile(0.25, "linear")).alias("_q25"),
        pl.when(enough).then(normal.quantile(0.75, "linear")).alias("_q75"),
        y.count().cast(pl.Float64).alias("_n"),
        t.sum().alias("_st"),
        y.sum().alias("_sy"),
        (t * y).sum().alias("_sty"),
        (t * t).sum().alias("_stt"),
        pl.when(y.count() >= TREND_MIN_WEEKS).then(y.std()).alias("_std"),
        VALUE.filter(pl.col(AGO) == 0).max().alias("_now"),
    )
    iqr_sigma = (pl.col("_q75") - pl.col("_q25")) / 1.349
    floor = _SCALE_FLOOR_ABSOLUTE + _SCALE_FLOOR_RELATIVE * pl.col("baseline").abs()
    n = pl.col("_n")
    slope = (n * pl.col("_sty") - pl.col("_st") * pl.col("_sy")) / (n * pl.col("_stt") - pl.col("_st") ** 2)
    return (
        sums.with_columns(pl.max_horizontal(iqr_sigma, floor).alias("spread"))
        .with_columns(
            ((pl.col("level_4w") - pl.col("baseline")) / pl.col("spread")).alias("deviation"),
            pl.when(n >= TREND_MIN_WEEKS).then(slope / pl.col("spread")).alias("trend_8w"),
            (pl.col("_std") / pl.col("spread")).alias("volatility_8w"),
        )
        .select(
            SERIES,
            "level_4w",
            "baseline",
            "spread",
            "deviation",
            "trend_8w",
            "volatility_8w",
            # Near the normal in the as-of week itself: the run there is worth 0 whatever its length.
            (((pl.col("_now") - pl.col("baseline")) / pl.col("spread")).abs() <= _OFF_NORMAL_UNITS)
            .fill_null(False)
            .alias("_near_now"),
        )
    )


def _dense(series: pl.LazyFrame, values: pl.LazyFrame, weeks: int) -> pl.LazyFrame:
    """The last `weeks` weeks of each series, oldest first, weeks before the series included as null."""
    grid = (
        series.select(SERIES)
        .sort(SERIES)
        .with_columns(pl.int_ranges(weeks - 1, -1, -1, dtype=pl.Int16).alias(AGO))
        .explode(AGO)
    )
    known = values.filter(pl.col(AGO) < weeks).select(_pack(SERIES).alias("_key"), "value")
    return _oldest_first(grid.with_columns(_pack(SERIES).alias("_key")).join(known, on="_key", how="left"))


def _oldest_first(frame: pl.LazyFrame) -> pl.LazyFrame:
    # Joining without keeping the left order and sorting once after is measured faster than
    # order-keeping joins (streaming engine); the key orders series, then weeks oldest first.
    return frame.sort(pl.col(SERIES).cast(pl.Int64) * _SPAN - pl.col(AGO).cast(pl.Int64))


def _runs(series: pl.LazyFrame, values: pl.LazyFrame, weeks: int) -> pl.LazyFrame:
    """weeks_off_normal of each series from its last `weeks` weeks, and whether that reached far enough.

    Every series in the block has the same number of rows, so one rolling pass over the whole
    column never mixes two series in the weeks kept (those with a full normal window behind them).
    The run itself is counted by own_normal.weeks_off_normal, the expression of the every-week path.
    """
    dense = _dense(series, values, weeks + _NORMAL_REACH)

    def normal(expr: pl.Expr) -> pl.Expr:
        return expr.shift(BASELINE_GAP_WEEKS)

    quartile = {
        q: normal(
            VALUE.rolling_quantile(q, "linear", window_size=BASELINE_WEEKS, min_samples=BASELINE_MIN_WEEKS)
        )
        for q in (0.25, 0.75)
    }
    baseline = normal(VALUE.rolling_median(BASELINE_WEEKS, min_samples=BASELINE_MIN_WEEKS))
    floor = _SCALE_FLOOR_ABSOLUTE + _SCALE_FLOOR_RELATIVE * pl.col("baseline").abs()
    spread = pl.max_horizontal((pl.col("_q75") - pl.col("_q25")) / 1.349, floor)
    block = (
        dense.with_columns(
            baseline.alias("baseline"), quartile[0.25].alias("_q25"), quartile[0.75].alias("_q75")
        )
        .with_columns(spread.alias("spread"))
        .filter(pl.col(AGO) < weeks)
        .with_columns(own_normal.weeks_off_normal())
        .cache()  # read twice below: the rolling windows are the expensive part
    )
    z = (VALUE - pl.col("baseline")) / pl.col("spread")
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
        block.filter(pl.col(AGO) == 0)
        .select(SERIES, "weeks_off_normal")
        .join(states, on=SERIES)
        .join(series.select(SERIES, "_age"), on=SERIES)
        .select(SERIES, "weeks_off_normal", settled.alias("_settled"))
    )


def weeks_off_normal_at(series: pl.LazyFrame, values: pl.LazyFrame, near_now: pl.LazyFrame) -> pl.LazyFrame:
    """Weeks in a row above (+) or below (-) the own normal up to the as-of week, per series.

    `near_now` holds the series near their normal in the as-of week itself (their run is 0).
    """
    # Fewer observed weeks in all than a normal needs: never scored, so the run is null. Most
    # sparse surveys are settled by this count instead of rolling windows.
    scorable = (
        values.filter(VALUE.is_not_null()).group_by(SERIES).len().filter(pl.col("len") >= BASELINE_MIN_WEEKS)
    )
    scored = series.join(scorable, on=SERIES, how="semi").join(near_now, on=SERIES, how="anti").cache()
    first = _runs(scored, values.join(scored, on=SERIES, how="semi"), _RUN_WEEKS).cache()
    unsettled = scored.join(first.filter(~pl.col("_settled")), on=SERIES, how="semi")
    # The history read by the caller reaches LOOKBACK_WEEKS back: a block that long always settles.
    second = _runs(unsettled, values.join(unsettled, on=SERIES, how="semi"), LOOKBACK_WEEKS)
    zero = near_now.select(SERIES, pl.lit(0.0).alias("weeks_off_normal"))
    # Series in none of these are never scored: their run is null (a left join in the caller).
    return pl.concat(
        [
            first.filter(pl.col("_settled")).select(SERIES, "weeks_off_normal"),
            second.select(SERIES, "weeks_off_normal"),
            zero,
        ]
    )


def own_normal_features_at(series: pl.LazyFrame, values: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Every own-normal feature (features.own_normal.OUTPUTS) of each series in the as-of week, long."""
    own = own_normal_at(values).cache()
    near_now = own.filter(pl.col("_near_now")).select(SERIES)
    return (
        series.select(SERIES, PERSON, "signal")
        .join(own.drop("_near_now"), on=SERIES, how="left")
        .join(weeks_off_normal_at(series, values, near_now), on=SERIES, how="left")
        .with_columns(pl.lit(as_of).alias(WEEK))
    )


def kind_features_at(series: pl.LazyFrame, values: pl.LazyFrame, kind: str, as_of: date) -> pl.LazyFrame:
    """Survey or absence features of each series of that kind in the as-of week, long."""
    add = {"survey": surveys.add_survey_features, "absence": absence.add_absence_features}[kind]
    mine = series.filter(pl.col("kind") == kind)
    grid = (
        mine.select(SERIES, "_age", "_person")
        .sort(SERIES)
        .with_columns(pl.int_ranges(pl.col("_age"), -1, -1, dtype=pl.Int16).alias(AGO))
        .explode(AGO)
    )
    known = values.join(mine, on=SERIES, how="semi").select(_pack(SERIES).alias("_key"), "value", "on_leave")
    # A week without a value row of this series can still be a leave week of the person.
    leave_weeks = (
        values.filter(pl.col("on_leave"))
        .join(series.select(SERIES, "_person"), on=SERIES)
        .select(_pack("_person").alias("_person_week"))
        .unique()
        .with_columns(pl.lit(True).alias("_leave"))
    )
    grid = (
        grid.with_columns(_pack(SERIES).alias("_key"))
        .join(known, on="_key", how="left")
        .with_columns(_pack("_person").alias("_person_week"))
        .join(leave_weeks, on="_person_week", how="left")
        .pipe(_oldest_first)
        .select(
            # Sorted by series now: flagged, the features' over(SERIES) windows take contiguous
            # slices instead of hashing every row.
            pl.col(SERIES).set_sorted(),
            (pl.lit(as_of) - pl.duration(weeks=pl.col(AGO))).alias(WEEK),
            "value",
            pl.col("_leave").fill_null(False).alias("on_leave"),
        )
    )
    return add(grid).filter(pl.col(WEEK) == as_of).join(series.select(SERIES, PERSON, "signal"), on=SERIES)
