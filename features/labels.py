"""The label the models learn: will this person's first outcome fall 1 to H weeks after this week?"""

from __future__ import annotations

import polars as pl

from features.context import event_weeks
from features.grid import PERSON, WEEK

DEFAULT_OUTCOMES = ("resigned", "long_term_sick_leave")


def first_outcomes(events: pl.LazyFrame, outcome_events: tuple[str, ...] = DEFAULT_OUTCOMES) -> pl.LazyFrame:
    """Each person's first outcome event: its week and its kind."""
    return (
        event_weeks(events)
        .filter(pl.col("event").is_in(list(outcome_events)))
        .sort(PERSON, "date", "event")
        .group_by(PERSON)
        .agg(pl.col("event_week").first().alias("outcome_week"), pl.col("event").first().alias("outcome"))
    )


def add_labels(
    frame: pl.LazyFrame,
    events: pl.LazyFrame,
    *,
    horizon: int,
    known_until: pl.Expr,
    outcome_events: tuple[str, ...] = DEFAULT_OUTCOMES,
) -> pl.LazyFrame:
    """Add `label` (1/0, null when unknown), `weeks_to_outcome`, `outcome` and `eligible`.

    A person-week is positive when the person's first outcome falls 1 to `horizon` weeks later.
    Weeks on or after the first outcome are not eligible (never trained on, never flagged).
    A label, negative *or positive*, needs the whole horizon observed (week + horizon <=
    `known_until`); otherwise it is censored and null. A negative there could still turn
    positive, so the last weeks never pose as "nothing happened"; and the outcomes seen there
    are left out too, because without the negatives of the same weeks they would be a sample of
    positives only: every label-based metric (average precision, weekly precision) would count
    them and overstate the model. `weeks_to_outcome` still tells of them (event recall, lead time).
    """
    weeks_to = ((pl.col("outcome_week") - pl.col(WEEK)).dt.total_days() // 7).cast(pl.Int32)
    horizon_seen = pl.col(WEEK) + pl.duration(weeks=horizon) <= known_until
    eligible = pl.col("outcome_week").is_null() | (weeks_to >= 1)
    label = pl.when(~eligible | ~horizon_seen).then(None).when(weeks_to <= horizon).then(1).otherwise(0)
    return (
        frame.join(first_outcomes(events, outcome_events), on=PERSON, how="left")
        .with_columns(
            label.cast(pl.Int8).alias("label"),
            weeks_to.alias("weeks_to_outcome"),
            eligible.alias("eligible"),
        )
        .drop("outcome_week")
    )
