"""Pulse-survey answers: the latest answer, how it moved, and whether the person still answers.

Every week on the weekly grid restricted to survey signals, where a week without an answer is
null (add_survey_features); or one as-of week from the answers that exist (survey_features_at).
"""

from __future__ import annotations

import polars as pl

from features.as_of_window import AGO, series_time
from features.grid import SERIES, WEEK
from features.windows import SURVEY_NORMAL_WEEKS, SURVEY_RECENT_WEEKS

VALUE = pl.col("value")
_PREVIOUS_ANSWERS_WEEKS = 12
_PREVIOUS_ANSWERS_MIN = 2
# Fewer working weeks than these in a window and its answer rate is null, not a guess.
_RECENT_MIN_WEEKS = SURVEY_RECENT_WEEKS // 2
_NORMAL_MIN_WEEKS = SURVEY_NORMAL_WEEKS // 4


def answer_latest() -> pl.Expr:
    """The person's most recent answer at or before this week."""
    return VALUE.forward_fill().over(SERIES).alias("answer_latest")


def answer_change() -> pl.Expr:
    """The most recent answer minus the average of the person's answers in the 12 weeks before it."""
    previous = (
        VALUE.rolling_mean(_PREVIOUS_ANSWERS_WEEKS, min_samples=_PREVIOUS_ANSWERS_MIN).shift(1).over(SERIES)
    )
    return (VALUE - previous).forward_fill().over(SERIES).alias("answer_change")


def weeks_since_answer() -> pl.Expr:
    """Weeks since the person last answered this question."""
    last_answer = pl.when(VALUE.is_not_null()).then(pl.col(WEEK)).forward_fill().over(SERIES)
    return ((pl.col(WEEK) - last_answer).dt.total_days() // 7).cast(pl.Float64).alias("weeks_since_answer")


def _answered() -> pl.Expr:
    # Leave weeks are null (not asked), so they count neither as answered nor as silent.
    return pl.when(~pl.col("on_leave")).then(VALUE.is_not_null().cast(pl.Float64))


def response_rate_12w() -> pl.Expr:
    """Share of the last 12 working weeks with an answer."""
    return (
        _answered()
        .rolling_mean(SURVEY_RECENT_WEEKS, min_samples=_RECENT_MIN_WEEKS)
        .over(SERIES)
        .alias("response_rate_12w")
    )


def response_rate_change() -> pl.Expr:
    """Answer rate of the last 12 weeks minus the person's usual rate in the year before."""
    normal = (
        _answered()
        .rolling_mean(SURVEY_NORMAL_WEEKS, min_samples=_NORMAL_MIN_WEEKS)
        .shift(SURVEY_RECENT_WEEKS)
        .over(SERIES)
    )
    return (pl.col("response_rate_12w") - normal).alias("response_rate_change")


OUTPUTS = (
    "answer_latest",
    "answer_change",
    "weeks_since_answer",
    "response_rate_12w",
    "response_rate_change",
)


def add_survey_features(grid: pl.LazyFrame) -> pl.LazyFrame:
    """Add the survey features (columns named in OUTPUTS) to a grid of survey signals."""
    return grid.with_columns(
        answer_latest(), answer_change(), weeks_since_answer(), response_rate_12w()
    ).with_columns(response_rate_change())


# The one-week form. Each every-week feature above is a rolling window over a grid with a row for
# every week of every series. At the as-of week each window is a plain count, sum or latest value
# over the weeks it covers, so the aggregates below read only the answers that exist plus the
# person's leave weeks, and never build that grid.


def _leave_weeks(series: pl.LazyFrame, values: pl.LazyFrame) -> pl.LazyFrame:
    """Each person's leave weeks (person number, weeks ago), as the grid flags them."""
    # A leave week always has a row of a leave signal (its days make it one): those few rows
    # carry the flag for the person, whichever other series lack a row that week.
    leave_series = series.filter(pl.col("kind") == "leave").select(SERIES, "_person")
    return values.filter(pl.col("on_leave")).join(leave_series, on=SERIES).select("_person", AGO).unique()


def survey_features_at(series: pl.LazyFrame, values: pl.LazyFrame) -> pl.LazyFrame:
    """OUTPUTS of each survey series in the as-of week: the every-week grid's row of that week."""
    mine = series.filter(pl.col("kind") == "survey").select(SERIES, "_person", "_age")
    # Leave weeks are already null in `values`: every non-null survey value is an answer in a working week.
    answers = (
        values.join(mine, on=SERIES, how="semi")
        .filter(VALUE.is_not_null())
        .select(SERIES, AGO, "value", series_time().alias("_time"))
        .sort("_time")
    )
    # The grid's rolling mean of the 12 weeks before each week, at an answer week: the answers in
    # [t - 12, t). Series lie apart on _time, so no window reaches another series.
    previous = VALUE.rolling_mean_by(
        "_time", f"{_PREVIOUS_ANSWERS_WEEKS}i", min_samples=_PREVIOUS_ANSWERS_MIN, closed="left"
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
    rate = pl.when(working_recent >= _RECENT_MIN_WEEKS).then(pl.col("_answered_recent") / working_recent)
    usual = pl.when(working_normal >= _NORMAL_MIN_WEEKS).then(pl.col("_answered_normal") / working_normal)
    counts = ["_answered_recent", "_answered_normal", "_leave_recent", "_leave_normal"]
    return (
        mine.join(answered, on=SERIES, how="left")
        .join(leave, on=SERIES, how="left")
        .with_columns(pl.col(counts).fill_null(0).cast(pl.Int64))
        .with_columns(rate.alias("response_rate_12w"))
        .select(
            SERIES,
            *(c for c in OUTPUTS if c != "response_rate_change"),
            (pl.col("response_rate_12w") - usual).alias("response_rate_change"),
        )
    )
