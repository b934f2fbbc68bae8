"""Input contract v1: checking one table of a landing folder against its spec.

Pure rules over polars LazyFrames; this module never opens a path (`flows.landing` is the I/O edge).
Every check is an expression, so one table costs one streaming pass for counts and, only when
something is wrong, a few short passes that stop after five example rows each. Person ids are
pseudonyms and may be shown, but anything that looks like an e-mail address or a personal name is
masked before it enters a `Problem`, so a report can be pasted anywhere.

The parts: the tables and columns (`features.contract_specs`), the per-column rules
(`features.contract_rules`), the key-based passes (`features.contract_passes`), what is reported
(`features.contract_report`) and the masking of real identifiers (`features.masking`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date

import polars as pl

from features.contract_passes import (
    IN_ORDER,
    Partition,
    base_frame,
    duplicate_outcome,
    finish_partition,
    key_order_counts,
    key_orders,
    ordered_profile,
    partition_pass,
    summary_counts_query,
    table_profile,
)
from features.contract_report import Problem, TableCheck, example_rows, printable
from features.contract_rules import (
    ColumnPlan,
    checked_by_value,
    plan_column,
    rule_problems,
    typed_columns,
)
from features.contract_specs import EXAMPLE_LIMIT, PARTITION_COLUMN, READ_ERRORS, ROW, TableSpec
from features.masking import mask_identifiers, mask_text

# The row count's column, named like `contract_specs.ROW` so it cannot clash with a contract column.
_ROWS = "__ewarn_rows__"


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
    plans: dict[str, ColumnPlan] = {}
    for name, dtype in schema.items():
        column = spec.column(name)
        if column is None or _duplicated_header(name, names) is not None:
            continue
        plan = plan_column(column, name, dtype, allow_real_identifiers, file, today)
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
    by_value = checked_by_value(schema, plans)
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
    order = key_order_counts(spec, plans)
    if order:
        # A query of its own: in the rules' select, the shifts make the streaming engine hold the
        # whole table in memory (docs/research.md).
        count_queries.append(data.select(order))
    summary_query = summary_counts_query(spec, base_frame(spec, data, plans))
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
        parts: list[Partition] = []
        in_order = [
            number
            for number in range(len(key_orders(spec)))
            if counts.get(IN_ORDER.format(number)) == rows - 1
        ]
        if in_order:
            # Rows already sorted by key (or by time first), the usual export: no key repeats and
            # none is missing, so the pass that groups keys is not needed, and the summary's
            # distinct counts were counted along the way.
            parts.append(
                Partition(
                    profile=ordered_profile(spec, data, plans, counts, in_order[0], found[-1])
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
                queries = partition_pass(spec, data, plans, partitions, index, profile=not failing)
                if not queries:
                    break  # key columns missing or of the wrong type: reported already, nothing to group
                results = pl.collect_all(queries, engine="streaming")
                parts.append(finish_partition(spec, data, plans, partitions, index, results))
        problems += rule_problems(spec, file, indexed, failing, counts, set(names))
        dropped, duplicate_problems = duplicate_outcome(spec, file, data, plans, parts)
    except READ_ERRORS as exc:
        return _unreadable(spec, file, exc)
    problems += duplicate_problems

    if problems:
        return TableCheck(spec.name, file, rows, tuple(problems), dropped)
    profile = table_profile(spec, parts)
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
    plans: dict[str, ColumnPlan] = {}
    for name, dtype in schema.items():
        column = spec.column(name)
        if column is None or _duplicated_header(name, names) is not None:
            continue
        # Real identifiers are allowed here: only the rules depend on it, not the typing.
        plan = plan_column(column, name, dtype, True, "")
        if isinstance(plan, ColumnPlan):
            plans[name] = plan
    data = _without_blank_rows(frame) if skip_blank_rows else frame
    return _typed_frame(spec, data, plans, dropped)


def _without_blank_rows(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.filter(~pl.all_horizontal(pl.all().is_null()))


def _typed_frame(
    spec: TableSpec, data: pl.LazyFrame, plans: Mapping[str, ColumnPlan], dropped: int
) -> pl.LazyFrame:
    typed = data.select(*typed_columns(spec, plans))
    if dropped:
        typed = typed.unique(subset=list(spec.key), keep="first", maintain_order=True)
    return typed


def _unreadable(spec: TableSpec, file: str, exc: BaseException) -> TableCheck:
    return TableCheck(spec.name, file, 0, (read_problem(file, exc),))


def read_problem(file: str, exc: BaseException) -> Problem:
    """Turn a reader's exception into a Problem in words, without a traceback or raw identifiers."""
    text = str(exc).strip()
    first = mask_text(printable(text.splitlines()[0] if text else type(exc).__name__, 160))
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
    return Problem(file, None, UTF8_MESSAGE, int(count.item()), example_rows(examples))


def _mask_quoted(text: str) -> str:
    core = text.strip("\"' \r\n")
    masked = mask_identifiers([core])[0]
    return text if masked == core else text.replace(core, masked or "")


def _foreign_header(spec: TableSpec, file: str, names: list[str]) -> Problem | None:
    if any(name in spec.column_names for name in names):
        return None
    found = ", ".join(repr(printable(mask_text(name), 40)) for name in names[:5])
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
                    printable(mask_text(name), 60),
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
