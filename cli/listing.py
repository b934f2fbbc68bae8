"""What `ewarn` prints as tables: a back-test's metrics and a nightly run's flags."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


def print_metrics(table: pl.DataFrame, title: str) -> None:
    """A back-test's metrics as a table on the terminal (n/a where a metric has no value)."""
    from rich.console import Console
    from rich.table import Table

    shown = Table(title=title)
    for column in table.columns:
        shown.add_column(column, justify="left" if column == "metric" else "right")
    for row in table.iter_rows():
        shown.add_row(row[0], *("n/a" if v is None or v != v else f"{v:,.3f}" for v in row[1:]))
    Console().print(shown)


def flag_listing(flag_rows: pl.DataFrame, reason_rows: pl.DataFrame) -> pl.DataFrame:
    """One row per flag: pseudonym, team, risk band, top reasons joined, status."""
    import polars as pl

    if flag_rows.height == 0:
        return pl.DataFrame(
            schema={c: pl.String for c in ("pseudonym", "team", "risk_band", "reasons", "status")}
        )
    if reason_rows.height == 0:
        # Flags whose families gave no sentence; the store's empty frame has no column types.
        reason_rows = pl.DataFrame(schema={"flag_id": pl.String, "rank": pl.Int64, "sentence": pl.String})
    joined = (
        reason_rows.sort("flag_id", "rank")
        .group_by("flag_id", maintain_order=True)
        .agg(pl.col("sentence").str.join(" | ").alias("reasons"))
    )
    return (
        flag_rows.join(joined, on="flag_id", how="left")
        .sort("rank")
        .select(
            pl.col("person_id").alias("pseudonym"),
            pl.col("team_id").alias("team"),
            pl.col("band").alias("risk_band"),
            pl.col("reasons").fill_null(""),
            "status",
        )
    )


def print_flags(table: pl.DataFrame, title: str) -> None:
    """The flag listing as a table on the terminal, one reason a line."""
    from rich.console import Console
    from rich.table import Table

    shown = Table(title=title, show_lines=True)
    for column in table.columns:
        # Pseudonyms must stay whole to be found again; the reasons may wrap.
        shown.add_column(
            column, overflow="fold", no_wrap=column != "reasons", ratio=3 if column == "reasons" else None
        )
    for row in table.iter_rows():
        shown.add_row(*("" if v is None else str(v).replace(" | ", "\n") for v in row))
    Console().print(shown)
