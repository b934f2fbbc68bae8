"""Slow drift: each signal's recent weeks against the person's two-year normal.

A creeping decline takes months. A half-year normal (features.own_normal) slowly absorbs it; a
two-year normal, skipping the last 4 weeks like the other, still remembers the time before. Activity
counts are compared on a log scale, log(1 + value), so that a fall from 10 to 5 weighs as much as
one from 20 to 10; survey answers and absence days are compared as they are.

The shift everybody shared in a week (a holiday season, a quiet month) says nothing about one
person: `net_of_shared_shift` takes it out once all people are together (build.add_team_features).
Every week on the weekly grid (add_drift_features), or one as-of week from the rows that exist
(drift_at). Why each of these choices, with its figures: docs/research.md.
"""

from __future__ import annotations

import polars as pl

from features.as_of_window import AGO, in_weeks
from features.catalog import SignalInfo
from features.context import MIN_TEAM_MEMBERS
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
    return _against(recent, pl.col("long_normal"), weeks)


def _against(recent: pl.Expr, normal: pl.Expr, weeks: int) -> pl.Expr:
    """The drift feature over `weeks` weeks from its recent level and the long normal."""
    return (recent - normal).alias(drift_feature(weeks))


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


def drift_at(series: pl.LazyFrame, values: pl.LazyFrame) -> pl.LazyFrame:
    """OUTPUTS of each series in the as-of week: the every-week grid's row of that week.

    The long normal is a plain mean of the scaled values 4 to 107 weeks back, and each recent
    level a mean over the weeks it covers: the every-week rolling windows at that week. How each
    series drifts comes with its values (`_drift_kind`, see as_of_week.series_values), so
    `series` is not read; it is there so that every family's one-week form takes the same inputs.
    """
    scaled = pl.when(pl.col("_drift_kind") == 1).then(signed_log(VALUE)).otherwise(VALUE).alias("_y")
    observed = values.filter(VALUE.is_not_null() & (pl.col("_drift_kind") > 0))
    y = pl.col("_y")
    normal = (
        observed.filter(in_weeks(BASELINE_GAP_WEEKS, BASELINE_GAP_WEEKS + LONG_NORMAL_WEEKS - 1))
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
        SERIES, *(_against(pl.col(f"_recent_{w}"), pl.col("_normal"), w) for w in DRIFT_WEEKS)
    )


def net_of_shared_shift(column: str) -> pl.Expr:
    """A drift column minus everybody's median drift that week: seasons and holidays cancel out."""
    value = pl.col(column)
    people = value.count().over(WEEK)
    # As for team medians: a median of one or two people is just those people.
    return pl.when(people >= MIN_TEAM_MEMBERS).then(value - value.median().over(WEEK)).alias(column)
