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
            "risk_sign": [float(i.risk_sign) for i in infos],
        },
        schema={"signal": pl.String, "family": pl.String, "kind": pl.String, "risk_sign": pl.Float64},
    )


def series_weeks(signals: pl.LazyFrame) -> pl.LazyFrame:
    """Every week of each person's signal from its first observation to the person's last week.

    A series starts at its own first observation: whether a person will ever use a tool or
    answer a question is not known before they do, so earlier weeks must not depend on it.
    """
    last_week = signals.group_by(PERSON).agg(pl.col(WEEK).max().alias("last"))
    return (
        signals.group_by(PERSON, "signal")
        .agg(pl.col(WEEK).min().alias("first"))
        .join(last_week, on=PERSON)
        # Sorting the few series here, not the many rows later, keeps the grid in order cheaply.
        .sort(PERSON, "signal")
        .with_row_index(SERIES)
        .select(SERIES, PERSON, "signal", pl.date_ranges("first", "last", interval="1w").alias(WEEK))
        .explode(WEEK)
    )


def series_grid(signals: pl.LazyFrame, catalog_rows: pl.LazyFrame) -> pl.LazyFrame:
    """Each person's signals on their full weekly grid, leave weeks masked, sorted, numbered by series.

    Values in weeks with substantial planned leave become null for every signal except the leave
    itself: a holiday is not withdrawal, and it must not pull the person's normal down either.
    """
    grid = series_weeks(signals)
    leave_signals = catalog_rows.filter(pl.col("kind") == "leave").select("signal")
    leave_weeks = (
        signals.join(leave_signals, on="signal", how="semi")
        .group_by(PERSON, WEEK)
        .agg(pl.col("value").sum().alias("leave_days"))
        .filter(pl.col("leave_days") >= LEAVE_WEEK_MIN_DAYS)
        .select(PERSON, WEEK, pl.lit(True).alias("on_leave"))
    )
    return (
        grid.join(signals, on=[PERSON, WEEK, "signal"], how="left", maintain_order="left")
        .join(catalog_rows, on="signal", how="left", maintain_order="left")
        .join(leave_weeks, on=[PERSON, WEEK], how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("on_leave").is_null() | (pl.col("kind") == "leave"))
            .then(pl.col("value"))
            .otherwise(None)
            .alias("value"),
            pl.col("on_leave").fill_null(False),
        )
    )
