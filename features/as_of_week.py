"""Features of one as-of week without computing every week: the nightly scoring path's windowing.

The every-week path rolls each feature over a grid with a row for every week of every series and
would then keep one week. Here the rows that exist are read once, keyed by weeks before the as-of
week (series_values), and each family's one-week form (features.twins) reads from them only the
weeks it can reach. Values equal the every-week table's row for that week (tested, column by
column). Only integer keys travel through the large steps; text is joined onto the small result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from features.as_of_window import AGO, SPAN
from features.grid import PERSON, SERIES, WEEK
from features.twins import Family, kind_of
from features.windows import LEAVE_WEEK_MIN_DAYS


def _pack(number: str, weeks_ago: str = AGO) -> pl.Expr:
    # One Int64 key for a (number, weeks ago) pair.
    return pl.col(number).cast(pl.Int64) * SPAN + pl.col(weeks_ago).cast(pl.Int64)


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


def features_at(
    series: pl.LazyFrame, values: pl.LazyFrame, families: Sequence[Family], as_of: date
) -> pl.LazyFrame:
    """The features of `families` (of one kind, features.twins) of each series in the as-of week, long."""
    kind = kind_of(families)
    mine = series if kind is None else series.filter(pl.col("kind") == kind)
    frame = mine.select(SERIES, PERSON, "signal")
    for family in families:
        frame = frame.join(family.as_of(series, values), on=SERIES, how="left")
    return frame.with_columns(pl.lit(as_of).alias(WEEK))
