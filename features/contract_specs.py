"""Input contract v1, the specification: the tables a landing folder may hold, their columns and keys.

Data only, plus the split of a table into partitions by person that every key-based pass shares.
The rules rows must follow are in `features.contract_rules`; `features.contract` checks a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import polars as pl

CONTRACT_VERSION = 1
PERSON_ID_MAX_CHARS = 128
EXAMPLE_LIMIT = 5

SIGNAL_NAME_PATTERN = r"^[a-z0-9_.]+$"
EVENT_NAME_PATTERN = r"^[a-z0-9_]+$"
ISO_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
ISO_DATE_FORMAT = "%Y-%m-%d"
AUDIT_PREFIX = "audit_"

# Internal column names chosen so they cannot clash with a contract column.
ROW = "__ewarn_row__"

# The memory setting of validation for tables not in key order (sorted tables need no grouping,
# see contract_passes.key_orders). Grouping by a key (duplicates, distinct people and person-weeks) holds one
# hash-table entry per distinct key, about 100 bytes a row all told, so a table with more rows
# than this is checked in several passes, each over one partition of the persons (the memory a pass
# takes at this value: docs/research.md). Each pass reads the whole file, so fewer, larger passes
# are faster; lower it for less memory and more passes.
PARTITION_ROWS = 8_000_000
# Every key starts with the person, so duplicates and person-weeks never cross partitions.
PARTITION_COLUMN = "person_id"

# What the summary counts, per table: rows per combination of these columns (each column is in
# the table's key or the table refuses duplicates, so dropped duplicates can be subtracted) ...
SUMMARY_COUNTS: dict[str, tuple[str, ...]] = {
    "signals": ("week", "signal"),
    "events": ("event",),
    "people": ("team_id",),
}
# ... and distinct persons and distinct combinations of the person with these columns.
SUMMARY_DISTINCT: dict[str, tuple[str, ...]] = {"signals": ("week",), "events": ()}

# How far after today a date may lie, and why. A week of signals must have started (a week's
# grace for clocks and time zones); events and hiring dates may be entered ahead of time. Beyond
# these, a date is a typo or a placeholder (9999-12-31), and scoring its week would fail later.
FUTURE_ALLOWANCE: dict[str, tuple[timedelta, str]] = {
    "week": (timedelta(weeks=1), "a week after today: signals can only be counted for a week that has begun"),
    "date": (timedelta(weeks=52), "a year after today: not even a planned event or hire lies that far ahead"),
}

ColumnKind = Literal["person_id", "week", "date", "name", "number", "text"]

# Polars raises these for unreadable bytes; a panic in the reader derives from BaseException,
# so it has to be named to keep "no traceback whatever the bytes".
READ_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    OSError,
    ValueError,
)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract table."""

    name: str
    kind: ColumnKind
    required: bool = True
    nullable: bool = False
    pattern: str | None = None
    allowed: str = ""


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract: its columns, key and how repeated keys are treated."""

    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    duplicates: Literal["drop_identical", "error"]
    required: bool
    value_column: str | None = None
    prefix: ColumnSpec | None = None
    example_columns: tuple[str, ...] = ()

    def column(self, name: str) -> ColumnSpec | None:
        """The spec for a column name, including prefixed columns such as `audit_*`."""
        for column in self.columns:
            if column.name == name:
                return column
        if (
            self.prefix is not None
            and name.startswith(self.prefix.name)
            and len(name) > len(self.prefix.name)
        ):
            return ColumnSpec(name, self.prefix.kind, required=False, nullable=self.prefix.nullable)
        return None

    @property
    def column_names(self) -> tuple[str, ...]:
        """Names of the fixed columns, in contract order."""
        return tuple(column.name for column in self.columns)

    def allowed_columns_text(self) -> str:
        """The allowed columns in words, for messages."""
        names = ", ".join(self.column_names)
        if self.prefix is not None:
            names += f" and {self.prefix.name}* columns"
        return names


_PERSON = ColumnSpec("person_id", "person_id")

SIGNALS = TableSpec(
    name="signals",
    columns=(
        _PERSON,
        ColumnSpec("week", "week"),
        ColumnSpec("signal", "name", pattern=SIGNAL_NAME_PATTERN, allowed="a-z, 0-9, '_' and '.'"),
        ColumnSpec("value", "number"),
    ),
    key=("person_id", "week", "signal"),
    duplicates="drop_identical",
    required=True,
    value_column="value",
    example_columns=("person_id", "week", "signal", "value"),
)
EVENTS = TableSpec(
    name="events",
    columns=(
        _PERSON,
        ColumnSpec("date", "date"),
        ColumnSpec("event", "name", pattern=EVENT_NAME_PATTERN, allowed="a-z, 0-9 and '_'"),
    ),
    # The same event for the same person on the same day is one event recorded twice.
    key=("person_id", "date", "event"),
    duplicates="drop_identical",
    required=False,
    example_columns=("person_id", "date", "event"),
)
PEOPLE = TableSpec(
    name="people",
    columns=(
        _PERSON,
        ColumnSpec("team_id", "text"),
        ColumnSpec("hired_on", "date", required=False, nullable=True),
    ),
    key=("person_id",),
    duplicates="error",
    required=False,
    prefix=ColumnSpec(AUDIT_PREFIX, "text", required=False, nullable=True),
    # Protected attributes are shown only when they are the column at fault.
    example_columns=("person_id", "team_id"),
)
TABLES: tuple[TableSpec, ...] = (SIGNALS, EVENTS, PEOPLE)
TABLE_SPECS: dict[str, TableSpec] = {table.name: table for table in TABLES}

TYPED_DTYPES: dict[ColumnKind, pl.DataType] = {
    "person_id": pl.String(),
    "week": pl.Date(),
    "date": pl.Date(),
    "name": pl.String(),
    "number": pl.Float64(),
    "text": pl.String(),
}


def partition_count(rows: int, rows_per_partition: int = PARTITION_ROWS) -> int:
    """How many person partitions keep each key-based pass under `rows_per_partition` rows.

    Small tables get 1: a single pass, exactly as without partitioning.
    """
    return max(1, math.ceil(rows / max(1, rows_per_partition)))


def person_partition(person_id: pl.Expr, partitions: int, index: int) -> pl.Expr:
    """Expression: the row's person falls in partition `index` of `partitions`.

    A seeded hash of the id as text, so a person's rows always land in the same partition,
    whatever the file format and within one run. (Polars does not promise the hash across
    versions; nothing stores it.)
    """
    return person_id.cast(pl.String).hash(seed=0) % partitions == index
