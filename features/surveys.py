"""Pulse-survey answers: the latest answer, how it moved, and whether the person still answers.

Runs on the weekly grid restricted to survey signals; a week without an answer is null there.
"""

from __future__ import annotations

import polars as pl

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
