"""Context: tenure, time since changes around the person, and dips the whole team shares."""

from __future__ import annotations

import polars as pl

from features.grid import PERSON, WEEK

MIN_TEAM_MEMBERS = 3  # a "team median" of one or two people is just those people


def event_weeks(events: pl.LazyFrame) -> pl.LazyFrame:
    """Events with the Monday of the week they happened in."""
    return events.with_columns(pl.col("date").dt.truncate("1w").alias("event_week"))


def weeks_since(name: str) -> str:
    """Column name of 'weeks since the last <event>' (e.g. weeks_since_manager_changed)."""
    return f"weeks_since_{name}"


def add_weeks_since_events(frame: pl.LazyFrame, events: pl.LazyFrame, names: list[str]) -> pl.LazyFrame:
    """Weeks since the last event of each named kind at or before the week (null if none yet)."""
    dated = event_weeks(events)
    for name in names:
        last = (
            dated.filter(pl.col("event") == name)
            .select(PERSON, pl.col("event_week").alias("_last"))
            .unique()
            .sort("_last")
        )
        frame = (
            # Both sides are sorted by week; polars cannot verify that per person, hence no check.
            frame.sort(WEEK)
            .join_asof(
                last, left_on=WEEK, right_on="_last", by=PERSON, strategy="backward", check_sortedness=False
            )
            .with_columns(
                ((pl.col(WEEK) - pl.col("_last")).dt.total_days() // 7)
                .cast(pl.Float64)
                .alias(weeks_since(name))
            )
            .drop("_last")
        )
    return frame


def add_tenure(frame: pl.LazyFrame, hired: pl.LazyFrame | None) -> pl.LazyFrame:
    """tenure_weeks: weeks since the person was hired, null when the hire date is unknown."""
    if hired is None:
        return frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("tenure_weeks"))
    return (
        frame.join(hired, on=PERSON, how="left")
        .with_columns(
            pl.when(pl.col("hired_week") <= pl.col(WEEK))
            .then((pl.col(WEEK) - pl.col("hired_week")).dt.total_days() // 7)
            .cast(pl.Float64)
            .alias("tenure_weeks")
        )
        .drop("hired_week")
    )


def hire_weeks(people: pl.LazyFrame | None, events: pl.LazyFrame | None) -> pl.LazyFrame | None:
    """Each person's hire week: `hired_on` from people, else their first `hired` event."""
    sources = []
    if people is not None and "hired_on" in people.collect_schema().names():
        sources.append(people.select(PERSON, pl.col("hired_on").alias("hired")))
    if events is not None:
        sources.append(
            events.filter(pl.col("event") == "hired").select(PERSON, pl.col("date").alias("hired"))
        )
    if not sources:
        return None
    return (
        pl.concat(sources, how="vertical")
        .drop_nulls("hired")
        .group_by(PERSON)
        .agg(pl.col("hired").first())  # people.hired_on comes first in the concat
        .select(PERSON, pl.col("hired").dt.truncate("1w").alias("hired_week"))
    )


def deviation_vs_team(deviation_column: str, output: str) -> pl.Expr:
    """The person's deviation minus their team's median deviation that week: team-wide dips cancel out."""
    group = ["team_id", WEEK]
    deviation = pl.col(deviation_column)
    members = deviation.count().over(group)
    return (
        pl.when(pl.col("team_id").is_not_null() & (members >= MIN_TEAM_MEMBERS))
        .then(deviation - deviation.median().over(group))
        .alias(output)
    )
