"""Input contract v1: which tables a landing folder may hold and the rules their rows must follow.

Pure rules over polars LazyFrames; this module never opens a path (`flows.landing` is the I/O edge).
Every check is an expression, so one table costs one streaming pass for counts and, only when
something is wrong, a few short passes that stop after five example rows each. Person ids are
pseudonyms and may be shown, but anything that looks like an e-mail address or a personal name is
masked before it enters a `Problem`, so a report can be pasted anywhere.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import polars as pl

from features.contract_hints import date_hint, monday_hint, number_hint, suggested_name

CONTRACT_VERSION = 1
PERSON_ID_MAX_CHARS = 128
EXAMPLE_LIMIT = 5

SIGNAL_NAME_PATTERN = r"^[a-z0-9_.]+$"
EVENT_NAME_PATTERN = r"^[a-z0-9_]+$"
ISO_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
ISO_DATE_FORMAT = "%Y-%m-%d"
# Anything with a non-space character on both sides of an '@': addresses without a dot
# (Kerberos principals, "jdoe@corp") identify people just as well.
EMAIL_PATTERN = r"\S@\S"
# Two or more capitalised words, optionally "Last, First" or with short lowercase particles
# ("van der"). Deliberately narrow: a heuristic that refuses pseudonyms would be worse than
# one that misses "jane doe" (which the e-mail rule and the pseudonymise step still cover).
_NAME_WORD = r"\p{Lu}(?:[\p{L}'’-]*\p{Ll}|\.)"
PERSONAL_NAME_PATTERN = rf"^{_NAME_WORD}(?:,?\s+(?:\p{{Ll}}{{1,3}}\s+)*{_NAME_WORD})+$"
AUDIT_PREFIX = "audit_"

# Internal column names chosen so they cannot clash with a contract column.
ROW = "__ewarn_row__"
_ROWS = "__ewarn_rows__"
_HASH = "__ewarn_key_hash__"
# Per key order (see _key_orders): rows after the previous row's key, and rows that start a new
# person or summary combination.
_IN_ORDER = "__ewarn_in_order_{}__"
_NEW_PEOPLE = "__ewarn_new_people_{}__"
_NEW_COMBINATIONS = "__ewarn_new_combinations_{}__"
# Column kinds whose rules are checked once per distinct value when the column is text: few
# distinct values among many rows. Free text and numbers have about one value per row.
_CHECKED_BY_VALUE: frozenset[str] = frozenset({"person_id", "name", "week", "date"})

# The memory setting of validation for tables not in key order (sorted tables need no grouping,
# see _key_orders). Grouping by a key (duplicates, distinct people and person-weeks) holds one
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


@dataclass(frozen=True)
class Problem:
    """One way a landing folder breaks the contract, with enough detail to fix it."""

    file: str
    column: str | None
    message: str
    rows: int = 0
    examples: tuple[dict[str, Any], ...] = ()

    def render(self) -> str:
        """The problem as a few lines of text: where, how many rows, what, and examples."""
        where = self.file if self.column is None else f'{self.file}, column "{self.column}"'
        count = f" ({self.rows:,} row{'s' if self.rows != 1 else ''})" if self.rows else ""
        lines = [f"{where}{count}: {self.message}"]
        for example in self.examples:
            lines.append("    " + _render_example(example))
        return "\n".join(lines)


@dataclass(frozen=True)
class ValidationReport:
    """Everything validation found about one landing folder."""

    folder: str
    problems: tuple[Problem, ...] = ()
    dropped_duplicates: dict[str, int] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    # Facts about a valid folder that are no error but often a mistake (features.contract_hints).
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the folder meets the contract."""
        return not self.problems

    def render(self) -> str:
        """A short summary when the folder is valid, otherwise every problem with examples."""
        if self.ok:
            return _render_summary(self)
        count = len(self.problems)
        lines = [
            f"FAILED: {self.folder} does not meet input contract v{CONTRACT_VERSION} "
            f"({count} problem{'s' if count != 1 else ''}).",
            "",
        ]
        for number, problem in enumerate(self.problems, start=1):
            body = problem.render().replace("\n", "\n   ")
            lines.append(f"{number}. {body}")
        if any(problem.examples for problem in self.problems):
            lines += ["", "Rows are numbered from 1, the first data row (a CSV header is not counted)."]
        lines += self._dropped_lines()
        return "\n".join(lines)

    def _dropped_lines(self) -> list[str]:
        return [
            f"{self.files.get(table, table)}: {count:,} identical duplicate row"
            f"{'s' if count != 1 else ''} dropped."
            for table, count in self.dropped_duplicates.items()
            if count
        ]


@dataclass(frozen=True)
class TableProfile:
    """What the summary needs of one valid table, counted in the same passes as its checks.

    `counts`: rows per combination of the table's summary columns (`SUMMARY_COUNTS`), identical
    duplicates dropped. `people`: distinct persons. `combinations`: distinct combinations of
    `SUMMARY_DISTINCT` (person-weeks for signals).
    """

    counts: pl.DataFrame
    people: int = 0
    combinations: int = 0


@dataclass(frozen=True)
class TableCheck:
    """The outcome of checking one table: problems, or a typed and de-duplicated LazyFrame.

    `profile` is set only when the table has no problems.
    """

    table: str
    file: str
    rows: int
    problems: tuple[Problem, ...]
    dropped_duplicates: int = 0
    frame: pl.LazyFrame | None = None
    profile: TableProfile | None = None


@dataclass(frozen=True)
class _Rule:
    id: str
    column: str
    message: str
    bad: pl.Expr


@dataclass(frozen=True)
class _ColumnPlan:
    name: str
    spec: ColumnSpec
    typed: pl.Expr
    rules: tuple[_Rule, ...]


# ---------------------------------------------------------------------------------------------
# partitions by person


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


# ---------------------------------------------------------------------------------------------
# identifiers and masking


def looks_like_email(expr: pl.Expr) -> pl.Expr:
    """Expression: the string looks like an e-mail address (a real identifier)."""
    return expr.str.contains(EMAIL_PATTERN)


def looks_like_name(expr: pl.Expr) -> pl.Expr:
    """Expression: the string looks like a personal name such as "Jane Doe" (a real identifier)."""
    return expr.str.contains(PERSONAL_NAME_PATTERN)


def mask_identifiers(values: Sequence[str | None]) -> list[str | None]:
    """Mask values that look like e-mail addresses (`j***@***`) or names (`J*** D***`)."""
    if not values:
        return []
    frame = pl.DataFrame({"v": list(values)}, schema={"v": pl.String}).select(
        pl.col("v"),
        email=looks_like_email(pl.col("v")).fill_null(False),
        name=looks_like_name(pl.col("v")).fill_null(False),
    )
    masked: list[str | None] = []
    for value, email, name in frame.iter_rows():
        if value is not None and email:
            masked.append(f"{value[0]}***@***" if value[0] != "@" else "***@***")
        elif value is not None and name:
            masked.append(" ".join(f"{word[0]}***" for word in re.split(r"[\s,]+", value) if word))
        else:
            masked.append(value)
    return masked


def mask_text(text: str) -> str:
    """Mask e-mail-like tokens inside free text such as a reader's error message."""
    return re.sub(r"\S*\S@\S\S*", "***@***", text)


# ---------------------------------------------------------------------------------------------
# checking one table


def check_table(
    spec: TableSpec,
    frame: pl.LazyFrame,
    file: str,
    *,
    allow_real_identifiers: bool = False,
    skip_blank_rows: bool = False,
    partitions: int = 1,
    today: date | None = None,
) -> TableCheck:
    """Check one table against its spec; return problems, or the typed, de-duplicated frame.

    `skip_blank_rows` drops rows where every column is null, which is how a CSV reader sees blank
    lines (trailing newlines from spreadsheets are common and carry no data). `partitions` splits
    the duplicate check and the summary's counts into that many passes by person (see
    `partition_count`); the outcome is the same for any number, only memory and time change.
    `today` (default: the system date) is what dates in the future are judged against (see
    `FUTURE_ALLOWANCE`).
    """
    try:
        schema = frame.collect_schema()
    except READ_ERRORS as exc:
        return _unreadable(spec, file, exc)

    names = list(schema.names())
    header_problem = _foreign_header(spec, file, names)
    if header_problem is not None:
        return TableCheck(spec.name, file, 0, (header_problem,))
    problems = _schema_problems(spec, file, names)
    plans: dict[str, _ColumnPlan] = {}
    for name, dtype in schema.items():
        column = spec.column(name)
        if column is None or _duplicated_header(name, names) is not None:
            continue
        plan = _plan_column(column, name, dtype, allow_real_identifiers, file, today)
        if isinstance(plan, Problem):
            problems.append(plan)
        else:
            plans[name] = plan

    indexed = frame.with_row_index(ROW, offset=1)
    data = frame
    if skip_blank_rows:
        indexed = indexed.filter(~pl.all_horizontal(pl.exclude(ROW).is_null()))
        data = _without_blank_rows(frame)
    rules = [rule for plan in plans.values() for rule in plan.rules]
    by_value = _checked_by_value(schema, plans)
    # A text column holds few distinct values (people, signal names, weeks) among many rows:
    # its rules run once per distinct value, weighted by how many rows hold it.
    value_queries = [
        data.group_by(name)
        .agg(pl.len().alias(_ROWS))
        .select(
            pl.when(rule.bad.fill_null(False)).then(pl.col(_ROWS)).otherwise(0).sum().alias(rule.id)
            for rule in rules
            if rule.column == name
        )
        for name in by_value
    ]
    row_rules = [rule for rule in rules if rule.column not in by_value]
    count_queries = [
        indexed.select(
            pl.len().alias(_ROWS), *(rule.bad.fill_null(False).sum().alias(rule.id) for rule in row_rules)
        ),
        *value_queries,
    ]
    order = _key_order_counts(spec, plans)
    if order:
        # A query of its own: in the rules' select, the shifts make the streaming engine hold the
        # whole table in memory (docs/research.md).
        count_queries.append(data.select(order))
    summary_query = _summary_counts_query(spec, _base_frame(spec, data, plans))
    try:
        # A read error (invalid bytes, a ragged row) inside a streaming run of several queries
        # that share one scan can kill polars' executor threads, and every later query in the
        # process then waits for good (polars 2.1; it hung a CI run). Read every column once in
        # a query of its own first, so that such an error is raised where it is harmless.
        frame.select(pl.all().null_count()).collect(engine="streaming")
        found = pl.collect_all(
            [*count_queries, *([summary_query] if summary_query is not None else [])], engine="streaming"
        )
    except READ_ERRORS as exc:
        return _unreadable(spec, file, exc)
    counts = {
        name: value
        for frame in found[: len(count_queries)]
        for name, value in frame.row(0, named=True).items()
    }
    rows = int(counts[_ROWS])
    if rows == 0:
        problems.append(_no_rows_problem(spec, file))
        return TableCheck(spec.name, file, 0, tuple(problems))

    failing = [rule for rule in rules if counts[rule.id]]
    try:
        parts: list[_Partition] = []
        in_order = [
            number
            for number in range(len(_key_orders(spec)))
            if counts.get(_IN_ORDER.format(number)) == rows - 1
        ]
        if in_order:
            # Rows already sorted by key (or by time first), the usual export: no key repeats and
            # none is missing, so the pass that groups keys is not needed, and the summary's
            # distinct counts were counted along the way.
            parts.append(
                _Partition(
                    profile=_ordered_profile(spec, data, plans, counts, in_order[0], found[-1])
                    if summary_query is not None and not failing
                    else ()
                )
            )
        else:
            # Each partition is done with (its exact duplicate groups included) before the next is
            # read; what is kept of it is small: totals, five examples, the summary's counts.
            partitions = max(1, partitions) if PARTITION_COLUMN in spec.key else 1
            for index in range(partitions):
                # A table already known to be invalid gets no summary, so it is not counted for one.
                queries = _partition_pass(spec, data, plans, partitions, index, profile=not failing)
                if not queries:
                    break  # key columns missing or of the wrong type: reported already, nothing to group
                results = pl.collect_all(queries, engine="streaming")
                parts.append(_finish_partition(spec, data, plans, partitions, index, results))
        problems += _rule_problems(spec, file, indexed, failing, counts, set(names))
        dropped, duplicate_problems = _duplicate_outcome(spec, file, data, plans, parts)
    except READ_ERRORS as exc:
        return _unreadable(spec, file, exc)
    problems += duplicate_problems

    if problems:
        return TableCheck(spec.name, file, rows, tuple(problems), dropped)
    profile = _profile(spec, parts)
    return TableCheck(spec.name, file, rows, (), dropped, _typed_frame(spec, data, plans, dropped), profile)


def typed_frame(
    spec: TableSpec, frame: pl.LazyFrame, *, skip_blank_rows: bool = False, dropped: int = 0
) -> pl.LazyFrame:
    """The typed, de-duplicated frame of a table that `check_table` passed, built over `frame`.

    For when the check read another copy of the same rows (a staged Parquet copy of a large
    CSV) and the frame handed on must read the original. `dropped` is the check's
    `dropped_duplicates`.
    """
    schema = frame.collect_schema()
    names = schema.names()
    plans: dict[str, _ColumnPlan] = {}
    for name, dtype in schema.items():
        column = spec.column(name)
        if column is None or _duplicated_header(name, names) is not None:
            continue
        # Real identifiers are allowed here: only the rules depend on it, not the typing.
        plan = _plan_column(column, name, dtype, True, "")
        if isinstance(plan, _ColumnPlan):
            plans[name] = plan
    data = _without_blank_rows(frame) if skip_blank_rows else frame
    return _typed_frame(spec, data, plans, dropped)


def _without_blank_rows(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.filter(~pl.all_horizontal(pl.all().is_null()))


def _typed_frame(
    spec: TableSpec, data: pl.LazyFrame, plans: Mapping[str, _ColumnPlan], dropped: int
) -> pl.LazyFrame:
    typed = data.select(*_typed_columns(spec, plans))
    if dropped:
        typed = typed.unique(subset=list(spec.key), keep="first", maintain_order=True)
    return typed


def _unreadable(spec: TableSpec, file: str, exc: BaseException) -> TableCheck:
    return TableCheck(spec.name, file, 0, (read_problem(file, exc),))


def read_problem(file: str, exc: BaseException) -> Problem:
    """Turn a reader's exception into a Problem in words, without a traceback or raw identifiers."""
    text = str(exc).strip()
    first = mask_text(_printable(text.splitlines()[0] if text else type(exc).__name__, 160))
    # The reader quotes the offending field in backticks; it may be a name.
    first = re.sub(r"`([^`]*)`", lambda match: f"`{_mask_quoted(match.group(1))}`", first)
    lowered = text.lower()
    if file.endswith(".parquet"):
        return Problem(file, None, f"is not a readable Parquet file ({first}).")
    if "utf-8" in lowered or "utf8" in lowered:
        message = UTF8_MESSAGE
    elif isinstance(exc, pl.exceptions.NoDataError):
        message = "has no header row (the file holds only blank lines)."
    elif "more fields" in lowered:
        message = "has a row with more fields than the header; check separators and quotes."
    else:
        message = f"could not be read as CSV ({first})."
    return Problem(file, None, message)


UTF8_MESSAGE = "is not valid UTF-8 text; save it as CSV with UTF-8 encoding."


def encoding_problem(file: str, lossy: pl.LazyFrame) -> Problem:
    """Locate the rows that are not valid UTF-8, given the file re-read with `utf8-lossy`.

    The lossy reader turns each invalid byte into U+FFFD, so those rows can be counted and shown
    (typically a spreadsheet saved as Windows-1252, where "Müller" breaks).
    """
    indexed = lossy.with_row_index(ROW, offset=1)
    bad = pl.any_horizontal(pl.exclude(ROW).cast(pl.String).str.contains("\ufffd", literal=True))
    try:
        # Two collects, not one collect_all: the streaming engine can hang for good when one plan
        # stops early (the head) while another still reads the same shared scan (seen once in CI).
        count = indexed.filter(bad).select(pl.len()).collect(engine="streaming")
        examples = indexed.filter(bad).head(EXAMPLE_LIMIT).collect(engine="streaming")
    except READ_ERRORS:
        return Problem(file, None, UTF8_MESSAGE)
    return Problem(file, None, UTF8_MESSAGE, int(count.item()), _example_rows(examples))


def _mask_quoted(text: str) -> str:
    core = text.strip("\"' \r\n")
    masked = mask_identifiers([core])[0]
    return text if masked == core else text.replace(core, masked or "")


def _foreign_header(spec: TableSpec, file: str, names: list[str]) -> Problem | None:
    if any(name in spec.column_names for name in names):
        return None
    found = ", ".join(repr(_printable(mask_text(name), 40)) for name in names[:5])
    hint = ""
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        hint = " The header looks separated by ';' or tabs; the contract needs commas."
    return Problem(
        file,
        None,
        f"the header names none of the expected columns ({spec.allowed_columns_text()}); "
        f"found {found or 'nothing'}. Is this the right file?{hint}",
    )


def _duplicated_header(name: str, names: Sequence[str]) -> str | None:
    # The CSV reader renames a repeated header to `<name>_duplicated_<n>`.
    match = re.fullmatch(r"(.+)_duplicated_\d+", name)
    if match and match.group(1) in names:
        return match.group(1)
    return None


def _schema_problems(spec: TableSpec, file: str, names: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    for column in spec.columns:
        if column.required and column.name not in names:
            needed = ", ".join(c.name for c in spec.columns if c.required)
            problems.append(Problem(file, column.name, f"column is missing ({spec.name} needs {needed})."))
    reported: set[str] = set()
    for name in names:
        original = _duplicated_header(name, names)
        if original is not None:
            if original not in reported:
                reported.add(original)
                problems.append(Problem(file, original, "appears more than once in the header."))
        elif spec.column(name) is None:
            word = "unknown" if spec.prefix is not None else "unexpected"
            problems.append(
                Problem(
                    file,
                    _printable(mask_text(name), 60),
                    f"{word} column; {spec.name} may only have {spec.allowed_columns_text()}.",
                )
            )
    return problems


def _no_rows_problem(spec: TableSpec, file: str) -> Problem:
    if spec.required:
        message = (
            f"has a header but no rows. {spec.name} is required and must hold data "
            "(only the optional tables may be left out: leave the file out instead of sending it empty)."
        )
    else:
        message = "has a header but no rows: leave the file out instead."
    return Problem(file, None, message)


# ---------------------------------------------------------------------------------------------
# per-column rules


def _is_text(dtype: pl.DataType) -> bool:
    return dtype.base_type() in (pl.String, pl.Categorical, pl.Enum)


def _plan_column(
    column: ColumnSpec, name: str, dtype: pl.DataType, allow_real: bool, file: str, today: date | None = None
) -> _ColumnPlan | Problem:
    raw = pl.col(name)
    is_null = dtype == pl.Null
    if column.kind in ("person_id", "name", "text"):
        if not (is_null or _is_text(dtype)):
            return Problem(file, name, f"holds {dtype} values; text is expected.")
        typed = raw.cast(pl.String)
        return _ColumnPlan(name, column, typed, _text_rules(column, name, typed, allow_real))
    if column.kind == "number":
        if is_null or dtype.is_numeric():
            typed = raw.cast(pl.Float64)
            rules = [_missing_rule(name, raw.is_null())] if not column.nullable else []
            rules.append(_not_finite_rule(name, typed))
            return _ColumnPlan(name, column, typed, tuple(rules))
        if not _is_text(dtype):
            return Problem(file, name, f"holds {dtype} values; a number is expected.")
        stripped = raw.cast(pl.String).str.strip_chars()
        typed = stripped.cast(pl.Float64, strict=False)
        missing = raw.is_null() | (stripped == "")
        rules = [_missing_rule(name, missing)] if not column.nullable else []
        rules += [
            _rule(name, "not_number", "text where a number is expected.", ~missing & typed.is_null()),
            _not_finite_rule(name, typed),
        ]
        return _ColumnPlan(name, column, typed, tuple(rules))
    return _date_plan(column, name, dtype, file, today or date.today())


def _text_rules(column: ColumnSpec, name: str, typed: pl.Expr, allow_real: bool) -> tuple[_Rule, ...]:
    missing = typed.is_null() | (typed.str.strip_chars() == "")
    rules: list[_Rule] = []
    if not column.nullable:
        rules.append(_missing_rule(name, missing))
    if column.kind == "person_id":
        rules.append(
            _rule(
                name,
                "too_long",
                f"longer than {PERSON_ID_MAX_CHARS} characters.",
                typed.str.len_chars() > PERSON_ID_MAX_CHARS,
            )
        )
        if not allow_real:
            email = looks_like_email(typed)
            advice = "pseudonymise the folder first (`ewarn pseudonymise SRC DST`)."
            rules += [
                _rule(name, "email", f"looks like an e-mail address, a real identifier; {advice}", email),
                _rule(
                    name,
                    "name",
                    f"looks like a personal name, a real identifier; {advice}",
                    looks_like_name(typed) & ~email,
                ),
            ]
    if column.kind == "name" and column.pattern is not None:
        rules.append(
            _rule(
                name,
                "characters",
                f"may use only {column.allowed} (lowercase).",
                ~missing & ~typed.str.contains(column.pattern),
            )
        )
    return tuple(rules)


def _date_plan(
    column: ColumnSpec, name: str, dtype: pl.DataType, file: str, today: date
) -> _ColumnPlan | Problem:
    raw = pl.col(name)
    rules: list[_Rule] = []
    if dtype == pl.Date or dtype == pl.Null:
        typed = raw.cast(pl.Date)
        missing = raw.is_null()
    elif isinstance(dtype, pl.Datetime):
        typed = raw.dt.date()
        missing = raw.is_null()
        rules.append(
            _rule(
                name,
                "time_of_day",
                "has a time of day; a plain date is expected.",
                raw.is_not_null() & (raw.dt.truncate("1d") != raw),
            )
        )
    elif _is_text(dtype):
        stripped = raw.cast(pl.String).str.strip_chars()
        # `str.to_date` accepts "2024-1-1"; the regex keeps the contract's strict YYYY-MM-DD.
        typed = pl.when(stripped.str.contains(ISO_DATE_PATTERN)).then(
            stripped.str.to_date(ISO_DATE_FORMAT, strict=False)
        )
        missing = raw.is_null() | (stripped == "")
        rules.append(
            _rule(name, "not_date", "not a date in the form YYYY-MM-DD.", ~missing & typed.is_null())
        )
    else:
        return Problem(file, name, f"holds {dtype} values; a date is expected.")
    if not column.nullable:
        rules.insert(0, _missing_rule(name, missing))
    if column.kind == "week":
        rules.append(
            _rule(
                name,
                "not_monday",
                "not a Monday; week must be the Monday that starts the ISO week.",
                typed.is_not_null() & (typed.dt.weekday() != 1),
            )
        )
    allowance, why = FUTURE_ALLOWANCE[column.kind]
    latest = today + allowance
    rules.append(
        _rule(
            name,
            "future",
            f"in the future: later than {latest.isoformat()}, {why} (today is {today.isoformat()}). "
            "Fix the dates at the source and export again.",
            typed.is_not_null() & (typed > pl.lit(latest)),
        )
    )
    return _ColumnPlan(name, column, typed, tuple(rules))


def _rule(column: str, what: str, message: str, bad: pl.Expr) -> _Rule:
    return _Rule(f"{column}::{what}", column, message, bad)


def _not_finite_rule(name: str, typed: pl.Expr) -> _Rule:
    return _rule(
        name,
        "not_finite",
        "NaN or infinite; values must be finite numbers.",
        typed.is_not_null() & ~typed.is_finite(),
    )


def _missing_rule(name: str, missing: pl.Expr) -> _Rule:
    return _rule(name, "missing", "empty; every row needs a value here.", missing)


def _typed_columns(spec: TableSpec, plans: Mapping[str, _ColumnPlan]) -> list[pl.Expr]:
    columns = []
    for column in spec.columns:
        if column.name in plans:
            columns.append(plans[column.name].typed.alias(column.name))
        else:
            # Optional columns always exist downstream, so readers need not test for them.
            columns.append(pl.lit(None, dtype=TYPED_DTYPES[column.kind]).alias(column.name))
    columns += [plan.typed.alias(name) for name, plan in plans.items() if name not in spec.column_names]
    return columns


def _rule_problems(
    spec: TableSpec,
    file: str,
    indexed: pl.LazyFrame,
    failing: list[_Rule],
    counts: Mapping[str, Any],
    present: set[str],
) -> list[Problem]:
    if not failing:
        return []
    queries = []
    for rule in failing:
        if rule.id.endswith(_CHARACTERS):
            queries.append(_distinct_bad_names(indexed, rule))
            continue
        shown = [name for name in spec.example_columns if name in present]
        if rule.column not in shown:
            shown.append(rule.column)
        queries.append(indexed.filter(rule.bad.fill_null(False)).select(ROW, *shown).head(EXAMPLE_LIMIT))
    # One collect per rule: early-stopping heads sharing one scan can hang the streaming engine.
    examples = [query.collect(engine="streaming") for query in queries]
    problems = []
    for rule, frame in zip(failing, examples, strict=True):
        if rule.id.endswith(_CHARACTERS):
            problems.append(_bad_names_problem(file, rule, int(counts[rule.id]), frame))
            continue
        values = frame[rule.column].to_list()
        message = rule.message + _HINTS.get(rule.id.rpartition("::")[2], lambda _: "")(values)
        problems.append(Problem(file, rule.column, message, int(counts[rule.id]), _example_rows(frame)))
    return problems


_CHARACTERS = "::characters"
_HINTS = {"not_number": number_hint, "not_date": date_hint, "not_monday": monday_hint}
# Distinct refused names listed, with the name each would get; more are counted, not shown.
BAD_NAMES_SHOWN = 10


def _distinct_bad_names(indexed: pl.LazyFrame, rule: _Rule) -> pl.LazyFrame:
    """The distinct refused names, in order of first appearance, with their row counts."""
    return (
        indexed.filter(rule.bad.fill_null(False))
        .group_by(pl.col(rule.column).cast(pl.String))
        .agg(rows=pl.len(), first=pl.col(ROW).min())
        .sort("first")
        .select(rule.column, "rows", distinct=pl.len())
    )


def _bad_names_problem(file: str, rule: _Rule, rows: int, frame: pl.DataFrame) -> Problem:
    """One problem naming each distinct refused name once, with the name it would get."""
    distinct = int(frame["distinct"][0]) if frame.height else 0
    shown = frame.head(BAD_NAMES_SHOWN)
    names = shown[rule.column].to_list()
    masked = mask_identifiers(names)
    examples = tuple(
        {rule.column: shown_name, "rows": int(count)}
        # A masked name gets no suggestion: it would show the name again.
        | ({"suggested": suggested_name(rule.column, name)} if shown_name == name else {})
        for name, shown_name, count in zip(names, masked, shown["rows"].to_list(), strict=True)
    )
    more = f" ({distinct - len(examples):,} more not shown)" if distinct > len(examples) else ""
    word = "name" if distinct == 1 else "names"
    message = (
        f"{distinct:,} distinct {word} {'breaks' if distinct == 1 else 'break'} the rule{more}: "
        f"{'an' if rule.column[0] in 'aeiou' else 'a'} {rule.column} name {rule.message} Rename "
        f"{'it' if distinct == 1 else 'them'}, e.g. as suggested (the importers' rule)."
    )
    return Problem(file, rule.column, message, rows, examples)


# ---------------------------------------------------------------------------------------------
# duplicates


def _base_frame(
    spec: TableSpec,
    source: pl.LazyFrame,
    plans: Mapping[str, _ColumnPlan],
    partitions: int = 1,
    index: int = 0,
) -> pl.LazyFrame | None:
    # The typed key (and value) of every row of one partition, plus the columns the summary
    # counts: the one input that the key checks and the summary's counts all read.
    needed = [*spec.key, *([spec.value_column] if spec.value_column else [])]
    if not all(name in plans for name in needed):
        return None
    extra = [name for name in SUMMARY_COUNTS.get(spec.name, ()) if name in plans and name not in needed]
    if partitions > 1:
        # Filter the raw rows before typing them, so each pass types only its own partition.
        source = source.filter(person_partition(plans[PARTITION_COLUMN].typed, partitions, index))
    typed = source.select(*(plans[name].typed.alias(name) for name in [*needed, *extra]))
    # Rows with a missing key or value are reported by their own rule; counting them here too
    # would turn one problem into two.
    return typed.filter(pl.all_horizontal(pl.col(name).is_not_null() for name in needed))


def _key_frame(
    spec: TableSpec,
    source: pl.LazyFrame,
    plans: Mapping[str, _ColumnPlan],
    partitions: int = 1,
    index: int = 0,
) -> pl.LazyFrame | None:
    base = _base_frame(spec, source, plans, partitions, index)
    return None if base is None else base.with_columns(pl.struct(list(spec.key)).hash().alias(_HASH))


def _partition_pass(
    spec: TableSpec,
    source: pl.LazyFrame,
    plans: Mapping[str, _ColumnPlan],
    partitions: int,
    index: int,
    *,
    profile: bool,
) -> list[pl.LazyFrame]:
    """The queries over one partition: the key hashes that repeat, then (with `profile`) the summary's.

    All are built on one and the same base frame, so that `pl.collect_all` reads the partition
    once for all of them (a CSV is parsed once, not once per query). Empty when the key columns
    could not be typed (the table has problems then).
    """
    base = _base_frame(spec, source, plans, partitions, index)
    if base is None:
        return []
    # First a 64-bit hash of the key: a fraction of the memory of grouping by the strings
    # themselves, and exact enough to say "no duplicates at all", the usual answer. Only the
    # hashes that repeat come back, and `_finish_partition` groups their few rows exactly.
    keys = base.with_columns(pl.struct(list(spec.key)).hash().alias(_HASH))
    queries = [keys.group_by(_HASH).agg(n=pl.len()).filter(pl.col("n") > 1).select(_HASH)]
    counts = _summary_counts_query(spec, base) if profile else None
    if counts is not None:
        queries.append(counts)
        distinct = SUMMARY_DISTINCT.get(spec.name)
        if distinct is not None:
            queries.append(
                base.select(PARTITION_COLUMN, *distinct)
                .unique()
                .group_by(PARTITION_COLUMN)
                .agg(n=pl.len())
                .select(people=pl.len(), combinations=pl.col("n").sum())
            )
    return queries


def _summary_counts_query(spec: TableSpec, base: pl.LazyFrame | None) -> pl.LazyFrame | None:
    """Rows per combination of the summary's columns (`SUMMARY_COUNTS`); None if not countable."""
    counted = SUMMARY_COUNTS.get(spec.name, ())
    if base is None or not counted or not set(counted) <= set(base.collect_schema().names()):
        return None
    return base.group_by(*counted).agg(n=pl.len())


def _checked_by_value(schema: pl.Schema, plans: Mapping[str, _ColumnPlan]) -> list[str]:
    """The columns whose rules are checked per distinct value instead of per row."""
    return [
        name
        for name, plan in plans.items()
        if plan.rules and plan.spec.kind in _CHECKED_BY_VALUE and _is_text(schema[name])
    ]


def _ordered_profile(
    spec: TableSpec,
    data: pl.LazyFrame,
    plans: Mapping[str, _ColumnPlan],
    counts: Mapping[str, Any],
    order: int,
    summary_counts: pl.DataFrame,
) -> tuple[pl.DataFrame, ...]:
    """The summary's counts of a table in key order number `order`, as `_partition_pass` gives them."""
    if SUMMARY_DISTINCT.get(spec.name) is None:
        return (summary_counts,)
    people = counts.get(_NEW_PEOPLE.format(order))
    if people is None:
        # A time-first order interleaves persons: their number takes one small query more.
        people = data.select(plans[PARTITION_COLUMN].typed.n_unique()).collect(engine="streaming").item()
    combinations = counts[_NEW_COMBINATIONS.format(order)]
    return summary_counts, pl.DataFrame({"people": [people], "combinations": [combinations]})


def _key_orders(spec: TableSpec) -> list[tuple[str, ...]]:
    """The row orders in which a table is checked without grouping its keys.

    Its key order (person, week, signal), and the time-first order of a table appended week by
    week (week, person, signal). Either puts repeated keys next to each other.
    """
    orders = [spec.key]
    if len(spec.key) > 1:
        orders.append((spec.key[1], spec.key[0], *spec.key[2:]))
    return orders


def _key_order_counts(spec: TableSpec, plans: Mapping[str, _ColumnPlan]) -> list[pl.Expr]:
    """Counts that show, in one streaming pass, whether rows come in one of the `_key_orders`.

    `_IN_ORDER` of order i counts rows whose typed key (in that order) is strictly greater than
    the previous row's; it is rows - 1 exactly when the table is sorted that way with no key
    repeated or missing. The summary's distinct persons and combinations (person-weeks) are then
    the rows that start a new one, where the order allows counting them so.
    """
    if not all(name in plans for name in spec.key):
        return []
    distinct = SUMMARY_DISTINCT.get(spec.name)
    prefix = {PARTITION_COLUMN, *(distinct or ())}

    def starts(columns: Sequence[str]) -> pl.Expr:
        # Row 0 has no previous row (null): it starts the first person and combination.
        typed = [plans[name].typed for name in columns]
        return pl.any_horizontal(column != column.shift(1) for column in typed).fill_null(True).sum()

    counts = []
    for number, order in enumerate(_key_orders(spec)):
        later = pl.lit(False)
        for key in reversed([plans[name].typed for name in order]):
            previous = key.shift(1)
            later = (key > previous) | ((key == previous) & later)
        counts.append(later.fill_null(False).sum().alias(_IN_ORDER.format(number)))
        if distinct is not None and order[0] == PARTITION_COLUMN:
            counts.append(starts(order[:1]).alias(_NEW_PEOPLE.format(number)))
        if distinct is not None and set(order[: len(prefix)]) == prefix:
            counts.append(starts(order[: len(prefix)]).alias(_NEW_COMBINATIONS.format(number)))
    return counts


def _duplicate_outcome(
    spec: TableSpec,
    file: str,
    source: pl.LazyFrame,
    plans: Mapping[str, _ColumnPlan],
    parts: Sequence[_Partition],
) -> tuple[int, list[Problem]]:
    """The identical duplicate rows dropped, and the problem if some keys repeat with a conflict.

    Counts add up over the partitions, as a repeated key never crosses them.
    """
    dropped_rows = sum(part.dropped for part in parts)
    group_count = sum(part.groups for part in parts)
    rows = sum(part.rows for part in parts)
    firsts = [part.first for part in parts if part.first is not None]
    if not group_count:
        return dropped_rows, []

    key = list(spec.key)
    # The first keys of each partition hold the first keys overall: sorting their union and
    # keeping five gives the examples a single pass would give.
    first = pl.concat(firsts).sort(key).head(EXAMPLE_LIMIT)
    if spec.value_column is not None:
        # The distinct values are gathered for the five example keys only: a list aggregation
        # over every group would not stream. The semi join holds just those five keys, so one
        # pass over the whole table is fine whatever its size.
        keys = _key_frame(spec, source, plans)
        assert keys is not None  # keys repeat only where the key columns could be typed
        value = pl.col(spec.value_column)
        shown = (
            keys.join(first.lazy().select(*spec.key), on=key, how="semi")
            .group_by(key)
            .agg(value.unique().sort().head(EXAMPLE_LIMIT))
            .collect(engine="streaming")
        )
        first = first.join(shown, on=key, how="left").select(*spec.key, spec.value_column, "rows")
    examples = first.sort(key)
    if spec.value_column is not None:
        key_words = ", ".join(spec.key[:-1]) + f" and {spec.key[-1]}"
        message = (
            f"{_plural(group_count, 'combination')} of {key_words} "
            f"{'appears' if group_count == 1 else 'appear'} more than once with different values; "
            "keep one value per combination."
        )
    else:
        message = (
            f"{_plural(group_count, 'person', 'people')} {'appears' if group_count == 1 else 'appear'} on "
            f"more than one row; {spec.key[0]} must be unique in {spec.name}."
        )
    column = spec.key[0] if len(spec.key) == 1 else None
    return dropped_rows, [Problem(file, column, message, rows, _example_rows(examples))]


@dataclass(frozen=True)
class _Partition:
    """What is kept of one partition once its queries ran: all small, whatever its size."""

    dropped: int = 0  # identical duplicate rows
    groups: int = 0  # keys repeated with different values (or at all, where duplicates are errors)
    rows: int = 0  # the rows of those keys
    first: pl.DataFrame | None = None  # up to five of those keys with their row counts, in key order
    dropped_by: pl.DataFrame | None = None  # identical duplicate rows per `SUMMARY_COUNTS` combination
    profile: tuple[pl.DataFrame, ...] = ()  # the summary's counts of this partition


def _finish_partition(
    spec: TableSpec,
    source: pl.LazyFrame,
    plans: Mapping[str, _ColumnPlan],
    partitions: int,
    index: int,
    found: Sequence[pl.DataFrame],
) -> _Partition:
    # `found`: the results of `_partition_pass`, the repeated key hashes first.
    repeated, profile = found[0], tuple(found[1:])
    if not repeated.height:
        return _Partition(profile=profile)
    keys = _key_frame(spec, source, plans, partitions, index)
    assert keys is not None  # hashes exist only when the key columns could be typed
    aggregations = [pl.len().alias("n")]
    if spec.value_column is not None:
        aggregations.append(pl.col(spec.value_column).n_unique().alias("values"))
    # Joined with the repeated hashes already collected: joined while they are still being
    # computed, the streaming engine would buffer the whole partition on the other side. Only
    # the repeated keys of one partition are held, which costs little and saves a pass.
    groups = (
        keys.join(repeated.lazy(), on=_HASH, how="semi")
        .group_by(list(spec.key))
        .agg(aggregations)
        .filter(pl.col("n") > 1)
        .collect(engine="streaming")
    )
    n = pl.col("n")
    # `offending` must be a per-group column: a bare literal would be summed once, not per group.
    if spec.duplicates == "error":
        offending, dropped = n > 1, pl.lit(0)
    elif spec.value_column is None:
        offending, dropped = n < 0, (n - 1).sum()
    else:
        offending = pl.col("values") > 1
        dropped = pl.when(~offending).then(n - 1).otherwise(0).sum()
    totals = groups.select(
        dropped=dropped.cast(pl.Int64),
        groups=offending.cast(pl.Int64).sum(),
        rows=pl.when(offending).then(n).otherwise(0).cast(pl.Int64).sum(),
    )
    row = totals.row(0, named=True)
    dropped_rows, group_count, rows = (int(row[name] or 0) for name in ("dropped", "groups", "rows"))
    counted = list(SUMMARY_COUNTS.get(spec.name, ()))
    dropped_by = None
    if dropped_rows and set(counted) <= set(spec.key):
        # Reduced at once to the summary's combinations (a few hundred rows), not kept per key.
        dropped_by = groups.filter(~offending).group_by(counted).agg(d=(n - 1).cast(pl.Int64).sum())
    if not group_count:
        return _Partition(dropped_rows, 0, 0, None, dropped_by, profile)
    first = (
        groups.filter(offending).sort(list(spec.key)).head(EXAMPLE_LIMIT).select(*spec.key, n.alias("rows"))
    )
    return _Partition(dropped_rows, group_count, rows, first, dropped_by, profile)


# ---------------------------------------------------------------------------------------------
# examples and rendering


def _example_rows(frame: pl.DataFrame) -> tuple[dict[str, Any], ...]:
    rows = [
        {("row" if name == ROW else name): _plain(value) for name, value in row.items()}
        for row in frame.iter_rows(named=True)
    ]
    # Mask in one batch, whatever the column's dtype (a parquet id may be categorical).
    slots = [
        (row, name, index)
        for row in rows
        for name, value in row.items()
        for index in (range(len(value)) if isinstance(value, list) else [None])
        if isinstance(value if index is None else value[index], str)
    ]
    masked = mask_identifiers(
        [row[name] if index is None else row[name][index] for row, name, index in slots]
    )
    for (row, name, index), value in zip(slots, masked, strict=True):
        if index is None:
            row[name] = value
        else:
            row[name][index] = value
    return tuple(rows)


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _printable(text: str, limit: int) -> str:
    # Junk bytes decode to control characters that would garble a terminal.
    cleaned = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return json.dumps(_printable(value, 48), ensure_ascii=False)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return str(value)


def _render_example(example: Mapping[str, Any]) -> str:
    parts = [f"{key}={_show(value)}" for key, value in example.items() if key != "row"]
    prefix = f"row {example['row']}: " if "row" in example else ""
    return prefix + ", ".join(parts)


def _profile(spec: TableSpec, parts: Sequence[_Partition]) -> TableProfile | None:
    # Combine the summary's counts of every partition: they add up, as persons never cross
    # partitions; then leave out the identical duplicates that loading drops.
    counted = list(SUMMARY_COUNTS.get(spec.name, ()))
    if not counted or not parts or any(not part.profile for part in parts):
        return None
    n = pl.col("n").cast(pl.Int64)
    counts = pl.concat([part.profile[0] for part in parts]).group_by(counted).agg(n.sum())
    dropped = [part.dropped_by for part in parts if part.dropped_by is not None]
    if dropped:
        minus = pl.concat(dropped).group_by(counted).agg(pl.col("d").sum())
        counts = counts.join(minus, on=counted, how="left").select(
            *counted, n=pl.col("n") - pl.col("d").fill_null(0)
        )
    distinct = [part.profile[1] for part in parts if len(part.profile) > 1]
    people = sum(int(frame["people"].sum()) for frame in distinct)
    combinations = sum(int(frame["combinations"].sum() or 0) for frame in distinct)
    return TableProfile(counts, people, combinations)


def summarise(profiles: Mapping[str, TableProfile], files: Mapping[str, str]) -> dict[str, Any]:
    """Aggregate counts for a valid landing (people, weeks, coverage, events, teams); no ids.

    `profiles` are the tables' `TableCheck.profile`s: the counting happened in the checks' own
    passes, partition by partition, so this only combines small frames.
    """
    summary: dict[str, Any] = {}
    signals = profiles["signals"]
    cells = signals.counts  # rows per week and signal
    by_signal = cells.group_by("signal").agg(pl.col("n").sum()).sort("signal")
    first_week, last_week = cells["week"].min(), cells["week"].max()
    person_weeks = signals.combinations
    summary["signals"] = {
        "file": files.get("signals", "signals"),
        "rows": int(cells["n"].sum()),
        "people": signals.people,
        "weeks": cells["week"].n_unique(),
        "person_weeks": person_weeks,
        "first_week": first_week.isoformat() if first_week else None,
        "last_week": last_week.isoformat() if last_week else None,
        "coverage": {
            name: (int(n) / person_weeks if person_weeks else 0.0) for name, n in by_signal.iter_rows()
        },
    }
    events = profiles.get("events")
    if events is not None:
        by_type = events.counts.sort(["n", "event"], descending=[True, False])
        summary["events"] = {
            "file": files.get("events", "events"),
            "rows": int(by_type["n"].sum()),
            "people": events.people,
            "by_type": {name: int(count) for name, count in by_type.iter_rows()},
        }
    people = profiles.get("people")
    if people is not None:
        sizes = [int(count) for count in people.counts.sort("n", descending=True)["n"]]
        summary["people"] = {
            "file": files.get("people", "people"),
            "rows": sum(sizes),
            "teams": len(sizes),
            "team_sizes": sizes,
        }
    return summary


ANONYMITY_THRESHOLD = 5  # the default of flows.settings; teams smaller than this are never shown


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def _render_summary(report: ValidationReport) -> str:
    lines = [f"OK: {report.folder} meets input contract v{CONTRACT_VERSION}."]
    signals = report.summary.get("signals")
    if signals:
        lines.append(
            f"{signals['file']}: {_plural(signals['people'], 'person', 'people')}"
            f", {_plural(signals['weeks'], 'week')} ({signals['first_week']} to {signals['last_week']}),"
            f" {_plural(signals['rows'], 'row')}"
        )
        lines.append(f"  signals, with coverage of the {signals['person_weeks']:,} person-weeks present:")
        width = max((len(name) for name in signals["coverage"]), default=0)
        for name, share in signals["coverage"].items():
            lines.append(f"    {name:<{width}}  {share:7.1%}")
    events = report.summary.get("events")
    if events:
        by_type = ", ".join(f"{name} {count:,}" for name, count in events["by_type"].items())
        lines.append(
            f"{events['file']}: {_plural(events['rows'], 'event')} for "
            f"{_plural(events['people'], 'person', 'people')}: {by_type}"
        )
    elif "events" not in report.files:
        lines.append("events: not present (fine for scoring; training needs events).")
    people = report.summary.get("people")
    if people:
        sizes = sorted(people["team_sizes"])
        small = sum(size < ANONYMITY_THRESHOLD for size in sizes)
        # Sizes as a range only: which team is how small is not the validator's business to print.
        shown = f"sizes {sizes[0]} to {sizes[-1]}, median {sizes[len(sizes) // 2]}" if sizes else "none"
        lines.append(
            f"{people['file']}: {_plural(people['rows'], 'person', 'people')}"
            f" in {_plural(people['teams'], 'team')} ({shown}); {small:,} below the anonymity threshold of"
            f" {ANONYMITY_THRESHOLD}, so never shown in team views"
        )
    elif "people" not in report.files:
        lines.append("people: not present (optional; team views and fairness audits need it).")
    manifest = report.summary.get("manifest")
    if manifest:
        lines.append(
            f"{manifest['file']}: everybody observed until {manifest['observed_until']}; labels are "
            "censored at that date, not at the last signal week or event."
        )
    lines += report._dropped_lines()
    if report.notes:
        lines += ["", "Notes (not errors):"]
        lines += ["  - " + note.replace("\n", "\n    ") for note in report.notes]
    return "\n".join(lines)
