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
from datetime import date, datetime
from typing import Any, Literal

import polars as pl

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

# The memory setting of validation. Grouping by a key (duplicates, distinct people and
# person-weeks) holds one hash-table entry per distinct key, about 70 bytes a row, so a table
# with more rows than this is checked in several passes, each over one partition of the persons.
# Peak memory then follows this number instead of the table's size.
PARTITION_ROWS = 2_000_000
# Every key starts with the person, so duplicates and person-weeks never cross partitions.
PARTITION_COLUMN = "person_id"

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
class TableCheck:
    """The outcome of checking one table: problems, or a typed and de-duplicated LazyFrame."""

    table: str
    file: str
    rows: int
    problems: tuple[Problem, ...]
    dropped_duplicates: int = 0
    frame: pl.LazyFrame | None = None


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


def _partitions(frame: pl.LazyFrame, partitions: int) -> list[pl.LazyFrame]:
    if partitions <= 1:
        return [frame]
    return [
        frame.filter(person_partition(pl.col(PARTITION_COLUMN), partitions, index))
        for index in range(partitions)
    ]


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
) -> TableCheck:
    """Check one table against its spec; return problems, or the typed, de-duplicated frame.

    `skip_blank_rows` drops rows where every column is null, which is how a CSV reader sees blank
    lines (trailing newlines from spreadsheets are common and carry no data).
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
        plan = _plan_column(column, name, dtype, allow_real_identifiers, file)
        if isinstance(plan, Problem):
            problems.append(plan)
        else:
            plans[name] = plan

    indexed = frame.with_row_index(ROW, offset=1)
    data = frame
    if skip_blank_rows:
        indexed = indexed.filter(~pl.all_horizontal(pl.exclude(ROW).is_null()))
        data = frame.filter(~pl.all_horizontal(pl.all().is_null()))
    rules = [rule for plan in plans.values() for rule in plan.rules]
    counts_query = indexed.select(
        pl.len().alias(_ROWS), *(rule.bad.fill_null(False).sum().alias(rule.id) for rule in rules)
    )
    duplicates_query = _duplicates_query(spec, indexed, plans)
    queries = [counts_query] if duplicates_query is None else [counts_query, duplicates_query]
    try:
        results = pl.collect_all(queries, engine="streaming")
    except READ_ERRORS as exc:
        return _unreadable(spec, file, exc)
    counts = results[0].row(0, named=True)
    rows = int(counts[_ROWS])
    if rows == 0:
        problems.append(_no_rows_problem(spec, file))
        return TableCheck(spec.name, file, 0, tuple(problems))

    failing = [rule for rule in rules if counts[rule.id]]
    try:
        problems += _rule_problems(spec, file, indexed, failing, counts, set(names))
        dropped, duplicate_problems = _duplicate_outcome(
            spec, file, indexed, plans, results[1] if duplicates_query is not None else None
        )
    except READ_ERRORS as exc:
        return _unreadable(spec, file, exc)
    problems += duplicate_problems

    if problems:
        return TableCheck(spec.name, file, rows, tuple(problems), dropped)
    typed = data.select(*_typed_columns(spec, plans))
    if dropped:
        typed = typed.unique(subset=list(spec.key), keep="first", maintain_order=True)
    return TableCheck(spec.name, file, rows, (), dropped, typed)


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
        count, examples = pl.collect_all(
            [indexed.filter(bad).select(pl.len()), indexed.filter(bad).head(EXAMPLE_LIMIT)],
            engine="streaming",
        )
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
    column: ColumnSpec, name: str, dtype: pl.DataType, allow_real: bool, file: str
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
            rules.append(
                _rule(
                    name,
                    "not_finite",
                    "NaN or infinite; values must be finite numbers.",
                    typed.is_not_null() & ~typed.is_finite(),
                )
            )
            return _ColumnPlan(name, column, typed, tuple(rules))
        if not _is_text(dtype):
            return Problem(file, name, f"holds {dtype} values; a number is expected.")
        stripped = raw.cast(pl.String).str.strip_chars()
        typed = stripped.cast(pl.Float64, strict=False)
        missing = raw.is_null() | (stripped == "")
        rules = [_missing_rule(name, missing)] if not column.nullable else []
        rules += [
            _rule(name, "not_number", "text where a number is expected.", ~missing & typed.is_null()),
            _rule(
                name,
                "not_finite",
                "NaN or infinite; values must be finite numbers.",
                typed.is_not_null() & ~typed.is_finite(),
            ),
        ]
        return _ColumnPlan(name, column, typed, tuple(rules))
    return _date_plan(column, name, dtype, file)


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


def _date_plan(column: ColumnSpec, name: str, dtype: pl.DataType, file: str) -> _ColumnPlan | Problem:
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
    return _ColumnPlan(name, column, typed, tuple(rules))


def _rule(column: str, what: str, message: str, bad: pl.Expr) -> _Rule:
    return _Rule(f"{column}::{what}", column, message, bad)


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
        shown = [name for name in spec.example_columns if name in present]
        if rule.column not in shown:
            shown.append(rule.column)
        queries.append(indexed.filter(rule.bad.fill_null(False)).select(ROW, *shown).head(EXAMPLE_LIMIT))
    examples = pl.collect_all(queries, engine="streaming")
    return [
        Problem(file, rule.column, rule.message, int(counts[rule.id]), _example_rows(frame))
        for rule, frame in zip(failing, examples, strict=True)
    ]


# ---------------------------------------------------------------------------------------------
# duplicates


def _key_frame(
    spec: TableSpec, indexed: pl.LazyFrame, plans: Mapping[str, _ColumnPlan]
) -> pl.LazyFrame | None:
    needed = [*spec.key, *([spec.value_column] if spec.value_column else [])]
    if not all(name in plans for name in needed):
        return None
    typed = indexed.select(*(plans[name].typed.alias(name) for name in needed))
    # Rows with a missing key or value are reported by their own rule; counting them here too
    # would turn one problem into two.
    typed = typed.filter(pl.all_horizontal(pl.col(name).is_not_null() for name in needed))
    return typed.with_columns(pl.struct(list(spec.key)).hash().alias(_HASH))


def _duplicates_query(
    spec: TableSpec, indexed: pl.LazyFrame, plans: Mapping[str, _ColumnPlan]
) -> pl.LazyFrame | None:
    # First pass over a 64-bit hash of the key: a fraction of the memory of grouping by the
    # strings themselves, and exact enough to say "no duplicates at all", the usual answer.
    # Only when some hash repeats does `_duplicate_outcome` group those few rows exactly.
    keys = _key_frame(spec, indexed, plans)
    if keys is None:
        return None
    return keys.group_by(_HASH).agg(n=pl.len()).select(candidates=(pl.col("n") > 1).sum())


def _duplicate_outcome(
    spec: TableSpec,
    file: str,
    indexed: pl.LazyFrame,
    plans: Mapping[str, _ColumnPlan],
    stats: pl.DataFrame | None,
) -> tuple[int, list[Problem]]:
    if stats is None or not stats.item():
        return 0, []
    keys = _key_frame(spec, indexed, plans)
    assert keys is not None  # stats exist only when the key columns could be typed
    repeated = keys.group_by(_HASH).agg(n=pl.len()).filter(pl.col("n") > 1).select(_HASH)
    aggregations = [pl.len().alias("n")]
    if spec.value_column is not None:
        aggregations.append(pl.col(spec.value_column).n_unique().alias("values"))
    groups = (
        keys.join(repeated, on=_HASH, how="semi")
        .group_by(list(spec.key))
        .agg(aggregations)
        .filter(pl.col("n") > 1)
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
    ).collect(engine="streaming")
    row = totals.row(0, named=True)
    dropped_rows, group_count, rows = (int(row[name] or 0) for name in ("dropped", "groups", "rows"))
    if not group_count:
        return dropped_rows, []

    first = (
        groups.filter(offending).sort(list(spec.key)).head(EXAMPLE_LIMIT).select(*spec.key, n.alias("rows"))
    )
    if spec.value_column is not None:
        # The distinct values are gathered for the five example keys only: a list aggregation
        # over every group would not stream.
        value = pl.col(spec.value_column)
        shown = (
            keys.join(first.select(*spec.key), on=list(spec.key), how="semi")
            .group_by(list(spec.key))
            .agg(value.unique().sort().head(EXAMPLE_LIMIT))
        )
        first = first.join(shown, on=list(spec.key), how="left").select(*spec.key, spec.value_column, "rows")
    examples = first.sort(list(spec.key)).collect(engine="streaming")
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


def summarise(frames: Mapping[str, pl.LazyFrame], files: Mapping[str, str]) -> dict[str, Any]:
    """Aggregate counts for a valid landing (people, weeks, coverage, events, teams); no ids."""
    summary: dict[str, Any] = {}
    queries: list[pl.LazyFrame] = []
    signals = frames["signals"]
    queries += [
        signals.select(
            rows=pl.len(),
            people=pl.col("person_id").n_unique(),
            weeks=pl.col("week").n_unique(),
            first_week=pl.col("week").min(),
            last_week=pl.col("week").max(),
        ),
        signals.select("person_id", "week").unique().select(person_weeks=pl.len()),
        signals.group_by("signal").agg(n=pl.len()).sort("signal"),
    ]
    if frames.get("events") is not None:
        events = frames["events"]
        queries += [
            events.select(rows=pl.len(), people=pl.col("person_id").n_unique()),
            events.group_by("event").agg(n=pl.len()).sort(["n", "event"], descending=[True, False]),
        ]
    if frames.get("people") is not None:
        people = frames["people"]
        queries.append(people.group_by("team_id").agg(n=pl.len()).sort("n", descending=True))
    results = iter(pl.collect_all(queries, engine="streaming"))

    head = next(results).row(0, named=True)
    person_weeks = int(next(results).item())
    coverage = {
        name: (count / person_weeks if person_weeks else 0.0) for name, count in next(results).iter_rows()
    }
    summary["signals"] = {
        "file": files.get("signals", "signals"),
        "rows": int(head["rows"]),
        "people": int(head["people"]),
        "weeks": int(head["weeks"]),
        "person_weeks": person_weeks,
        "first_week": head["first_week"].isoformat() if head["first_week"] else None,
        "last_week": head["last_week"].isoformat() if head["last_week"] else None,
        "coverage": coverage,
    }
    if frames.get("events") is not None:
        totals = next(results).row(0, named=True)
        summary["events"] = {
            "file": files.get("events", "events"),
            "rows": int(totals["rows"]),
            "people": int(totals["people"]),
            "by_type": {name: int(count) for name, count in next(results).iter_rows()},
        }
    if frames.get("people") is not None:
        sizes = [int(count) for _, count in next(results).iter_rows()]
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
    lines += report._dropped_lines()
    return "\n".join(lines)
