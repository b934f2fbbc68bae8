"""The weekly grid every feature is computed on: one row per person, signal and week, gaps kept."""

from __future__ import annotations

import polars as pl

from features.catalog import Catalog
from features.windows import LEAVE_WEEK_MIN_DAYS

PERSON = "person_id"
WEEK = "week"
SERIES = "series"  # one integer per person and signal: partitions on it hash far faster than on text


def catalog_frame(catalog: Catalog, signal_names: list[str]) -> pl.LazyFrame:
    """What the catalog says about each signal present in the data, as a small frame to join."""
    infos = [catalog.signal(name) for name in signal_names]
    return pl.LazyFrame(
        {
            "signal": [i.name for i in infos],
            "family": [i.family for i in infos],
            "kind": [i.kind for i in infos],
            "drifts": [i.may_have_risky_way for i in infos],
        },
        schema={"signal": pl.String, "family": pl.String, "kind": pl.String, "drifts": pl.Boolean},
    )


# A join key packs a number (series or person) and a day offset into one Int64: joining on one
# integer is several times faster than on person text, signal text and date.
_KEY_SPAN = 2**32


def _key(number: str, since: str) -> pl.Expr:
    return pl.col(number).cast(pl.Int64) * _KEY_SPAN + (pl.col(WEEK) - pl.col(since)).dt.total_days()


def _people(signals: pl.LazyFrame) -> pl.LazyFrame:
    """Each person's first and last week, numbered in person order."""
    return (
        signals.group_by(PERSON)
        .agg(pl.col(WEEK).min().alias("_since"), pl.col(WEEK).max().alias("last"))
        .sort(PERSON)
        .with_row_index("_person")
    )


def _series(signals: pl.LazyFrame, people: pl.LazyFrame) -> pl.LazyFrame:
    """One row per person and signal, numbered in that order, with its first and the person's last week."""
    return (
        signals.group_by(PERSON, "signal")
        .agg(pl.col(WEEK).min().alias("first"))
        .join(people, on=PERSON)
        # Sorting the few series here, not the many rows later, keeps the grid in order cheaply.
        .sort(PERSON, "signal")
        .with_row_index(SERIES)
    )


def _explode_weeks(series: pl.LazyFrame, *columns: str) -> pl.LazyFrame:
    return series.select(
        SERIES, PERSON, "signal", *columns, pl.date_ranges("first", "last", interval="1w").alias(WEEK)
    ).explode(WEEK)


def series_weeks(signals: pl.LazyFrame) -> pl.LazyFrame:
    """Every week of each person's signal from its first observation to the person's last week.

    A series starts at its own first observation: whether a person will ever use a tool or
    answer a question is not known before they do, so earlier weeks must not depend on it.
    """
    return _explode_weeks(_series(signals, _people(signals)))


def series_grid(signals: pl.LazyFrame, catalog_rows: pl.LazyFrame) -> pl.LazyFrame:
    """Each person's signals on their full weekly grid, leave weeks masked, sorted, numbered by series.

    Values in weeks with substantial planned leave become null for every signal except the leave
    itself: a holiday is not withdrawal, and it must not pull the person's normal down either.
    """
    people = _people(signals).cache()
    # The catalog goes onto the few series, not onto every row of the grid.
    series = (
        _series(signals, people).join(catalog_rows, on="signal", how="left", maintain_order="left").cache()
    )
    grid = _explode_weeks(series, "first", "_person", "_since", "family", "kind", "drifts")
    values = signals.join(series.select(PERSON, "signal", SERIES, "first"), on=[PERSON, "signal"]).select(
        _key(SERIES, "first").alias("_series_week"), "value"
    )
    leave_signals = catalog_rows.filter(pl.col("kind") == "leave").select("signal")
    leave_weeks = (
        signals.join(leave_signals, on="signal", how="semi")
        .group_by(PERSON, WEEK)
        .agg(pl.col("value").sum().alias("leave_days"))
        .filter(pl.col("leave_days") >= LEAVE_WEEK_MIN_DAYS)
        .join(people.select(PERSON, "_person", "_since"), on=PERSON)
        .select(_key("_person", "_since").alias("_person_week"), pl.lit(True).alias("on_leave"))
    )
    return (
        grid.with_columns(
            _key(SERIES, "first").alias("_series_week"), _key("_person", "_since").alias("_person_week")
        )
        # Plain joins and one sort after them: measured cheaper than order-keeping joins. The key
        # orders series, then weeks; flagged sorted, the features' over(SERIES) windows take
        # contiguous slices instead of hashing every row.
        .join(values, on="_series_week", how="left")
        .join(leave_weeks, on="_person_week", how="left")
        .sort("_series_week")
        .select(
            pl.col(SERIES).set_sorted(),
            PERSON,
            "signal",
            WEEK,
            pl.when(pl.col("on_leave").is_null() | (pl.col("kind") == "leave"))
            .then(pl.col("value"))
            .otherwise(None)
            .alias("value"),
            "family",
            "kind",
            "drifts",
            pl.col("on_leave").fill_null(False),
        )
    )
