"""Features of one as-of week without computing every week: the nightly scoring path.

The every-week path rolls each feature over a grid with a row for every week of every series and
would then keep one week. Here each feature of the as-of week reads only the rows that exist and
the weeks it can reach: aggregates per series over the window it needs, and time windows (not a
weekly grid) over the observed weeks a run above or below the own normal can still reach. Values
equal the every-week table's row for that week (tested, column by column).
Only integer keys travel through the large steps; text is joined onto the small result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from features import absence, drift, own_normal, surveys
from features.grid import PERSON, SERIES, WEEK
from features.own_normal import _OFF_NORMAL_UNITS, _SCALE_FLOOR_ABSOLUTE, _SCALE_FLOOR_RELATIVE
from features.windows import (
    ABSENCE_WEEKS,
    BASELINE_GAP_WEEKS,
    BASELINE_MIN_WEEKS,
    BASELINE_WEEKS,
    DRIFT_WEEKS,
    LEAVE_WEEK_MIN_DAYS,
    LONG_NORMAL_WEEKS,
    LOOKBACK_WEEKS,
    RECENT_WEEKS,
    SURVEY_NORMAL_WEEKS,
    SURVEY_RECENT_WEEKS,
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
    signals: pl.LazyFrame, catalog_rows: pl.LazyFrame, as_of: date, signal_names: Sequence[str]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The series of people seen in the as-of week, and their observed values by weeks before it.

    `signals` holds only the weeks up to `as_of` (see build._restrict), and only signals named in
    `signal_names`. Returns the series (series number, person, signal, kind, weeks since its
    first observation) and the value rows (series, weeks ago, value with leave weeks masked as
    in the grid, whether it is on leave, how drift reads the series). Series numbers
    follow person, then signal, order; they need not be consecutive.
    """
    names = sorted(signal_names)
    people = (
        signals.group_by(PERSON)
        .agg(pl.col(WEEK).max().alias("_last"))
        # Only people with data in the as-of week have a row that week, as in the every-week table.
        .filter(pl.col("_last") == as_of)
        .sort(PERSON)
        .with_row_index("_person")
        .drop("_last")
    )
    # The series number is computed from the person's number and the signal's place among the
    # names (an enum lookup), instead of joining every row on person and signal text: measured
    # three times faster. Only integers travel through the large steps below.
    signal_number = pl.col("signal").cast(pl.Enum(names)).to_physical().cast(pl.Int64)
    catalog = catalog_rows.select(
        signal_number.alias("_signal"),
        "signal",
        "kind",
        (pl.col("kind") == "leave").alias("_is_leave"),
        # How drift reads the series: 0 not at all (no direction), 1 on a log scale, 2 as it is.
        pl.when(~pl.col("drifts"))
        .then(0)
        .when(pl.col("kind") == "activity")
        .then(1)
        .otherwise(2)
        .cast(pl.Int8)
        .alias("_drift_kind"),
    )
    rows = (
        signals.join(people, on=PERSON)
        .select(
            (pl.col("_person").cast(pl.Int64) * len(names) + signal_number).alias(SERIES),
            "_person",
            signal_number.alias("_signal"),
            ((pl.lit(as_of) - pl.col(WEEK)).dt.total_days() // 7).cast(pl.Int16).alias(AGO),
            "value",
        )
        .join(catalog.select("_signal", "_is_leave", "_drift_kind"), on="_signal", how="left")
        .cache()
    )
    series = (
        rows.group_by(SERIES)
        .agg(pl.col("_person").first(), pl.col("_signal").first(), pl.col(AGO).max().alias("_age"))
        .join(people, on="_person")
        .join(catalog, on="_signal", how="left")
        .sort(SERIES)
        .select(SERIES, PERSON, "signal", "_person", "kind", "_age", "_is_leave")
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
            pl.when(pl.col("on_leave").is_null() | pl.col("_is_leave"))
            .then(pl.col("value"))
            .otherwise(None)
            .alias("value"),
            pl.col("on_leave").fill_null(False),
            "_drift_kind",
        )
    )
    return series, values


def _in_weeks(first: int, last: int) -> pl.Expr:
    return pl.col(AGO).is_between(first, last)


def recent_at(values: pl.LazyFrame) -> pl.LazyFrame:
    """Recent level, and the sums behind the 8-week trend and volatility, of each series in the as-of week."""
    # Time in weeks, counted back from the as-of week: the slope is the same whatever week is 0.
    t = -pl.col(AGO).cast(pl.Float64)
    return (
        values.filter(VALUE.is_not_null() & _in_weeks(0, TREND_WEEKS - 1))
        .group_by(SERIES)
        .agg(
            VALUE.filter(_in_weeks(0, RECENT_WEEKS - 1)).mean().alias("level_4w"),
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
    every-week path's run expression (own_normal.weeks_off_normal) counts the same on them. Each
    normal is a window over time (26 weeks ending 4 weeks back), not over rows, so the weeks
    without a value need no row; series lie _SPAN weeks apart in time, so no window reaches into
    another. One row without a value in the as-of week itself carries each series' normal there.
    """
    reach = weeks + _NORMAL_REACH
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
        .with_columns(
            (
                (pl.col(SERIES).cast(pl.Int64) * _SPAN - pl.col(AGO).cast(pl.Int64)) * 2 + pl.col("_last")
            ).alias("_time")
        )
        .sort("_time")
    )
    window = {
        "index_column": "_time",
        "period": f"{2 * BASELINE_WEEKS}i",
        "offset": f"-{2 * (BASELINE_WEEKS + BASELINE_GAP_WEEKS)}i",
    }
    enough = pl.col("_normal_weeks") >= BASELINE_MIN_WEEKS
    floor = _SCALE_FLOOR_ABSOLUTE + _SCALE_FLOOR_RELATIVE * pl.col("baseline").abs()
    spread = pl.max_horizontal((pl.col("_q75") - pl.col("_q25")) / 1.349, floor)
    block = (
        rows.with_columns(
            VALUE.count().rolling(**window).alias("_normal_weeks"),
            VALUE.median().rolling(**window).alias("baseline"),
            VALUE.quantile(0.25, "linear").rolling(**window).alias("_q25"),
            VALUE.quantile(0.75, "linear").rolling(**window).alias("_q75"),
        )
        .with_columns(pl.when(enough).then(pl.col(name)).alias(name) for name in ("baseline", "_q25", "_q75"))
        .with_columns(spread.alias("spread"))
        .filter(pl.col(AGO) < weeks)
        .with_columns(own_normal.weeks_off_normal())
        .cache()  # read twice below: the windows are the expensive part
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


def drift_at(values: pl.LazyFrame) -> pl.LazyFrame:
    """The drift features (features.drift.OUTPUTS) of each series in the as-of week.

    The long normal is a plain mean of the scaled values 4 to 107 weeks back, and each recent
    level a mean over the weeks it covers: the every-week path's rolling windows at that week.
    """
    scaled = pl.when(pl.col("_drift_kind") == 1).then(drift.signed_log(VALUE)).otherwise(VALUE).alias("_y")
    observed = values.filter(VALUE.is_not_null() & (pl.col("_drift_kind") > 0))
    y = pl.col("_y")
    normal = (
        observed.filter(_in_weeks(BASELINE_GAP_WEEKS, BASELINE_GAP_WEEKS + LONG_NORMAL_WEEKS - 1))
        .select(SERIES, scaled)
        .group_by(SERIES)
        .agg(pl.when(y.count() >= BASELINE_MIN_WEEKS).then(y.mean()).alias("_normal"))
    )
    # Each recent window as its own column (null outside it) and plain means over them: measured
    # several times faster than a filter per window inside the aggregation. Only the recent rows, to
    # keep the extra memory small.
    recent = (
        observed.filter(pl.col(AGO) < max(DRIFT_WEEKS))
        .select(
            SERIES,
            *(pl.when(pl.col(AGO) < weeks).then(scaled).alias(f"_recent_{weeks}") for weeks in DRIFT_WEEKS),
        )
        .group_by(SERIES)
        .agg(pl.col(f"_recent_{weeks}").mean() for weeks in DRIFT_WEEKS)
    )
    return recent.join(normal, on=SERIES, how="full", coalesce=True).select(
        SERIES,
        *((pl.col(f"_recent_{w}") - pl.col("_normal")).alias(drift.drift_feature(w)) for w in DRIFT_WEEKS),
    )


def own_normal_features_at(series: pl.LazyFrame, values: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Every own-normal and drift feature (features.own_normal.OUTPUTS, features.drift.OUTPUTS) of
    each series in the as-of week, long."""
    n = pl.col("_n")
    slope = (n * pl.col("_sty") - pl.col("_st") * pl.col("_sy")) / (n * pl.col("_stt") - pl.col("_st") ** 2)
    spread = pl.col("spread")
    return (
        series.select(SERIES, PERSON, "signal")
        .join(recent_at(values), on=SERIES, how="left")
        .join(normal_and_runs_at(series, values), on=SERIES, how="left")
        .join(drift_at(values), on=SERIES, how="left")
        .select(
            SERIES,
            PERSON,
            "signal",
            "level_4w",
            "baseline",
            "spread",
            ((pl.col("level_4w") - pl.col("baseline")) / spread).alias("deviation"),
            pl.when(n >= TREND_MIN_WEEKS).then(slope / spread).alias("trend_8w"),
            (pl.when(n >= TREND_MIN_WEEKS).then(pl.col("_std")) / spread).alias("volatility_8w"),
            "weeks_off_normal",
            *drift.OUTPUTS,
            pl.lit(as_of).alias(WEEK),
        )
    )


def kind_features_at(series: pl.LazyFrame, values: pl.LazyFrame, kind: str, as_of: date) -> pl.LazyFrame:
    """Survey or absence features of each series of that kind in the as-of week, long."""
    features = {"survey": _survey_features_at, "absence": _absence_features_at}[kind](series, values)
    return (
        series.filter(pl.col("kind") == kind)
        .select(SERIES, PERSON, "signal")
        .join(features, on=SERIES, how="left")
        .with_columns(pl.lit(as_of).alias(WEEK))
    )


# The every-week features of features.surveys and features.absence are rolling windows over a
# grid with a row for every week of every series. At the as-of week each window is a plain count,
# sum or latest value over the weeks it covers, so the aggregates below read only the rows that
# exist (an answer, a day count) plus the person's leave weeks, and never build that grid.


def _leave_weeks(series: pl.LazyFrame, values: pl.LazyFrame) -> pl.LazyFrame:
    """Each person's leave weeks (person number, weeks ago), as the grid flags them."""
    # A leave week always has a row of a leave signal (its days make it one): those few rows
    # carry the flag for the person, whichever other series lack a row that week.
    leave_series = series.filter(pl.col("kind") == "leave").select(SERIES, "_person")
    return values.filter(pl.col("on_leave")).join(leave_series, on=SERIES).select("_person", AGO).unique()


def _survey_features_at(series: pl.LazyFrame, values: pl.LazyFrame) -> pl.LazyFrame:
    """features.surveys.OUTPUTS of each survey series in the as-of week."""
    mine = series.filter(pl.col("kind") == "survey").select(SERIES, "_person", "_age")
    # Leave weeks are already null in `values`: every non-null survey value is an answer in a working week.
    answers = (
        values.join(mine, on=SERIES, how="semi")
        .filter(VALUE.is_not_null())
        .select(SERIES, AGO, "value", _time().alias("_time"))
        .sort("_time")
    )
    # The grid's rolling mean of the 12 weeks before each week, at an answer week: the answers in
    # [t - 12, t). Series lie _SPAN weeks apart on _time, so no window reaches another series.
    previous = VALUE.rolling_mean_by(
        "_time",
        f"{surveys._PREVIOUS_ANSWERS_WEEKS}i",
        min_samples=surveys._PREVIOUS_ANSWERS_MIN,
        closed="left",
    )
    recent = pl.col(AGO) < SURVEY_RECENT_WEEKS
    # The year before the recent weeks: the grid's 52-week rate shifted by 12 weeks.
    normal = pl.col(AGO).is_between(SURVEY_RECENT_WEEKS, SURVEY_RECENT_WEEKS + SURVEY_NORMAL_WEEKS - 1)
    answered = (
        answers.with_columns((VALUE - previous).alias("_change"))
        # Rows stay in time order within each group: last() is the most recent.
        .group_by(SERIES)
        .agg(
            VALUE.last().alias("answer_latest"),
            # forward_fill in the grid: the change at the latest answer that has one.
            pl.col("_change").drop_nulls().last().alias("answer_change"),
            pl.col(AGO).last().cast(pl.Float64).alias("weeks_since_answer"),
            recent.sum().alias("_answered_recent"),
            normal.sum().alias("_answered_normal"),
        )
    )
    # Leave weeks are neither answered nor silent; those before the series' first week are not in its grid.
    leave = (
        _leave_weeks(series, values)
        .join(mine, on="_person")
        .filter(pl.col(AGO) <= pl.col("_age"))
        .group_by(SERIES)
        .agg(recent.sum().alias("_leave_recent"), normal.sum().alias("_leave_normal"))
    )
    age = pl.col("_age").cast(pl.Int64)
    # The windows end at the series' first week, where the grid starts.
    working_recent = pl.min_horizontal(age, SURVEY_RECENT_WEEKS - 1) + 1 - pl.col("_leave_recent")
    last_normal_week = SURVEY_RECENT_WEEKS + SURVEY_NORMAL_WEEKS - 1
    working_normal = (
        pl.min_horizontal(age, last_normal_week) - SURVEY_RECENT_WEEKS + 1 - pl.col("_leave_normal")
    )
    rate = pl.when(working_recent >= surveys._RECENT_MIN_WEEKS).then(
        pl.col("_answered_recent") / working_recent
    )
    usual = pl.when(working_normal >= surveys._NORMAL_MIN_WEEKS).then(
        pl.col("_answered_normal") / working_normal
    )
    counts = ["_answered_recent", "_answered_normal", "_leave_recent", "_leave_normal"]
    return (
        mine.join(answered, on=SERIES, how="left")
        .join(leave, on=SERIES, how="left")
        .with_columns(pl.col(counts).fill_null(0).cast(pl.Int64))
        .with_columns(rate.alias("response_rate_12w"))
        .select(
            SERIES,
            *(c for c in surveys.OUTPUTS if c != "response_rate_change"),
            (pl.col("response_rate_12w") - usual).alias("response_rate_change"),
        )
    )


def _time() -> pl.Expr:
    # Series, then weeks oldest first, on one integer: weeks of one series are consecutive numbers.
    return pl.col(SERIES).cast(pl.Int64) * _SPAN - pl.col(AGO).cast(pl.Int64)


def _absence_features_at(series: pl.LazyFrame, values: pl.LazyFrame) -> pl.LazyFrame:
    """features.absence.OUTPUTS of each absence series in the as-of week (none without recent rows)."""
    window = pl.col(AGO) < ABSENCE_WEEKS
    # The week before the oldest of the window tells whether a spell there started in the window.
    observed = (
        values.join(series.filter(pl.col("kind") == "absence"), on=SERIES, how="semi")
        .filter(VALUE.is_not_null() & (pl.col(AGO) <= ABSENCE_WEEKS))
        .select(SERIES, AGO, "value")
    )
    # A spell starts in an absent week whose week before was not absent; a week without a value
    # (no row, leave, before the series) counts as not absent, as in absence.absence_spells_26w.
    continued = (pl.col("_time").shift(1) == pl.col("_time") - 1).fill_null(False)
    spells = (
        observed.filter(VALUE > 0)
        .select(SERIES, AGO, _time().alias("_time"))
        .sort("_time")
        .filter(window & ~continued)
        .group_by(SERIES)
        .agg(pl.len().cast(pl.Float64).alias("_spells"))
    )
    enough = VALUE.filter(window).count() >= absence._MIN_OBSERVED
    days = observed.group_by(SERIES).agg(
        pl.when(enough).then(VALUE.filter(window).sum()).alias("absence_days_26w"), enough.alias("_enough")
    )
    return (
        days.join(spells, on=SERIES, how="left")
        .with_columns(pl.when("_enough").then(pl.col("_spells").fill_null(0.0)).alias("absence_spells_26w"))
        .select(
            SERIES,
            "absence_days_26w",
            "absence_spells_26w",
            (pl.col("absence_spells_26w") ** 2 * pl.col("absence_days_26w")).alias("bradford_factor_26w"),
        )
    )
