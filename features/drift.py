"""Slow drift: each signal's recent weeks against the person's two-year normal.

A creeping decline takes months. A half-year normal (features.own_normal) slowly absorbs it; a
two-year normal, skipping the last 4 weeks like the other, still remembers the time before. Activity
counts are compared on a log scale, log(1 + value), so that a fall from 10 to 5 weighs as much as
one from 20 to 10; survey answers and absence days are compared as they are.

The shift everybody shared in a week (a holiday season, a quiet month) says nothing about one
person: `net_of_shared_shift` takes it out once all people are together (build.add_team_features).
Why each of these choices, with its figures: docs/research.md.
"""

from __future__ import annotations

import polars as pl

from features.catalog import SignalInfo
from features.context import _MIN_TEAM_MEMBERS
from features.grid import SERIES, WEEK
from features.windows import BASELINE_GAP_WEEKS, BASELINE_MIN_WEEKS, DRIFT_WEEKS, LONG_NORMAL_WEEKS

VALUE = pl.col("value")
SCALED = "_drift_scale"


def signed_log(value: pl.Expr) -> pl.Expr:
    """log(1 + |value|) with the value's sign: counts on a log scale, and no value lost to a log."""
    return value.sign() * value.abs().log1p()


def drift_scale() -> pl.Expr:
    """The weekly value on the scale drift is measured on: log(1 + value) for activity counts.

    Null for signals the catalog says have no risky way (planned leave, context such as Copilot
    use): their drift would be read by neither the model's sign constraints nor the explanations,
    and it would cost time every night. A signal the catalog does not know drifts: the model
    learns its direction from the training rows (models.directions).
    """
    return (
        pl.when(~pl.col("drifts"))
        .then(None)
        .when(pl.col("kind") == "activity")
        .then(signed_log(VALUE))
        .otherwise(VALUE)
        .alias(SCALED)
    )


def long_normal() -> pl.Expr:
    """The person's long normal: average of up to 104 weeks before the last 4, leave weeks left out."""
    # A mean, not a median: on the log scale a past dip weighs little; the median ranked no
    # better and doubled the nightly's cost of this aggregation (docs/research.md).
    return (
        pl.col(SCALED)
        .rolling_mean(LONG_NORMAL_WEEKS, min_samples=BASELINE_MIN_WEEKS)
        .shift(BASELINE_GAP_WEEKS)
        .over(SERIES)
        .alias("long_normal")
    )


def drift(weeks: int) -> pl.Expr:
    """Average of the last `weeks` weeks against the long normal (log scale for counts)."""
    recent = pl.col(SCALED).rolling_mean(weeks, min_samples=1).over(SERIES)
    return (recent - pl.col("long_normal")).alias(drift_feature(weeks))


def drift_feature(weeks: int) -> str:
    """Name of the drift feature over `weeks` weeks, e.g. drift_13w."""
    return f"drift_{weeks}w"


OUTPUTS = tuple(drift_feature(w) for w in DRIFT_WEEKS)


def has_drift(info: SignalInfo) -> bool:
    """Whether a signal gets drift features: those with a risky way, known or still to be learnt."""
    return info.may_have_risky_way


def add_drift_features(grid: pl.LazyFrame) -> pl.LazyFrame:
    """Add every drift feature (OUTPUTS) to the weekly grid (needs its `kind` and `drifts` columns)."""
    return (
        grid.with_columns(drift_scale())
        .with_columns(long_normal())
        .with_columns(*(drift(w) for w in DRIFT_WEEKS))
        .drop(SCALED, "long_normal")
    )


def net_of_shared_shift(column: str) -> pl.Expr:
    """A drift column minus everybody's median drift that week: seasons and holidays cancel out."""
    value = pl.col(column)
    people = value.count().over(WEEK)
    # As for team medians: a median of one or two people is just those people.
    return pl.when(people >= _MIN_TEAM_MEMBERS).then(value - value.median().over(WEEK)).alias(column)
