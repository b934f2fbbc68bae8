"""The per-column rules of input contract v1: how a column is typed and which rows break a rule.

Each rule is an expression that marks the rows at fault, so all of a table's rules are counted in
one streaming pass; only a failing rule's examples are fetched afterwards, a few rows each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from features.contract_hints import date_hint, monday_hint, number_hint, suggested_name
from features.contract_report import Problem, example_rows
from features.contract_specs import (
    EXAMPLE_LIMIT,
    FUTURE_ALLOWANCE,
    ISO_DATE_FORMAT,
    ISO_DATE_PATTERN,
    PERSON_ID_MAX_CHARS,
    ROW,
    TYPED_DTYPES,
    ColumnSpec,
    TableSpec,
)
from features.masking import looks_like_email, looks_like_name, mask_identifiers

# Column kinds whose rules are checked once per distinct value when the column is text: few
# distinct values among many rows. Free text and numbers have about one value per row.
_CHECKED_BY_VALUE: frozenset[str] = frozenset({"person_id", "name", "week", "date"})


@dataclass(frozen=True)
class Rule:
    """One rule of a column: `bad` marks the rows that break it; `id` is `column::what`."""

    id: str
    column: str
    message: str
    bad: pl.Expr


@dataclass(frozen=True)
class ColumnPlan:
    """How one column present in a table is typed, and the rules its rows are checked by."""

    name: str
    spec: ColumnSpec
    typed: pl.Expr
    rules: tuple[Rule, ...]


def is_text(dtype: pl.DataType) -> bool:
    """Whether a column of this dtype holds text (as a CSV read without a schema does)."""
    return dtype.base_type() in (pl.String, pl.Categorical, pl.Enum)


def plan_column(
    column: ColumnSpec, name: str, dtype: pl.DataType, allow_real: bool, file: str, today: date | None = None
) -> ColumnPlan | Problem:
    """The typing and rules of a column, or the problem when its dtype cannot hold its kind."""
    raw = pl.col(name)
    is_null = dtype == pl.Null
    if column.kind in ("person_id", "name", "text"):
        if not (is_null or is_text(dtype)):
            return Problem(file, name, f"holds {dtype} values; text is expected.")
        typed = raw.cast(pl.String)
        return ColumnPlan(name, column, typed, _text_rules(column, name, typed, allow_real))
    if column.kind == "number":
        if is_null or dtype.is_numeric():
            typed = raw.cast(pl.Float64)
            rules = [_missing_rule(name, raw.is_null())] if not column.nullable else []
            rules.append(_not_finite_rule(name, typed))
            return ColumnPlan(name, column, typed, tuple(rules))
        if not is_text(dtype):
            return Problem(file, name, f"holds {dtype} values; a number is expected.")
        stripped = raw.cast(pl.String).str.strip_chars()
        typed = stripped.cast(pl.Float64, strict=False)
        missing = raw.is_null() | (stripped == "")
        rules = [_missing_rule(name, missing)] if not column.nullable else []
        rules += [
            _rule(name, "not_number", "text where a number is expected.", ~missing & typed.is_null()),
            _not_finite_rule(name, typed),
        ]
        return ColumnPlan(name, column, typed, tuple(rules))
    return _date_plan(column, name, dtype, file, today or date.today())


def _text_rules(column: ColumnSpec, name: str, typed: pl.Expr, allow_real: bool) -> tuple[Rule, ...]:
    missing = typed.is_null() | (typed.str.strip_chars() == "")
    rules: list[Rule] = []
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
) -> ColumnPlan | Problem:
    raw = pl.col(name)
    rules: list[Rule] = []
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
    elif is_text(dtype):
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
    return ColumnPlan(name, column, typed, tuple(rules))


def _rule(column: str, what: str, message: str, bad: pl.Expr) -> Rule:
    return Rule(f"{column}::{what}", column, message, bad)


def _not_finite_rule(name: str, typed: pl.Expr) -> Rule:
    return _rule(
        name,
        "not_finite",
        "NaN or infinite; values must be finite numbers.",
        typed.is_not_null() & ~typed.is_finite(),
    )


def _missing_rule(name: str, missing: pl.Expr) -> Rule:
    return _rule(name, "missing", "empty; every row needs a value here.", missing)


def typed_columns(spec: TableSpec, plans: Mapping[str, ColumnPlan]) -> list[pl.Expr]:
    """The typed columns of a table, in contract order, with any optional column that is absent."""
    columns = []
    for column in spec.columns:
        if column.name in plans:
            columns.append(plans[column.name].typed.alias(column.name))
        else:
            # Optional columns always exist downstream, so readers need not test for them.
            columns.append(pl.lit(None, dtype=TYPED_DTYPES[column.kind]).alias(column.name))
    columns += [plan.typed.alias(name) for name, plan in plans.items() if name not in spec.column_names]
    return columns


def rule_problems(
    spec: TableSpec,
    file: str,
    indexed: pl.LazyFrame,
    failing: list[Rule],
    counts: Mapping[str, Any],
    present: set[str],
) -> list[Problem]:
    """One problem per failing rule, with its row count, example rows (masked) and a hint."""
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
        problems.append(Problem(file, rule.column, message, int(counts[rule.id]), example_rows(frame)))
    return problems


_CHARACTERS = "::characters"
_HINTS = {"not_number": number_hint, "not_date": date_hint, "not_monday": monday_hint}
# Distinct refused names listed, with the name each would get; more are counted, not shown.
BAD_NAMES_SHOWN = 10


def _distinct_bad_names(indexed: pl.LazyFrame, rule: Rule) -> pl.LazyFrame:
    """The distinct refused names, in order of first appearance, with their row counts."""
    return (
        indexed.filter(rule.bad.fill_null(False))
        .group_by(pl.col(rule.column).cast(pl.String))
        .agg(rows=pl.len(), first=pl.col(ROW).min())
        .sort("first")
        .select(rule.column, "rows", distinct=pl.len())
    )


def _bad_names_problem(file: str, rule: Rule, rows: int, frame: pl.DataFrame) -> Problem:
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


def checked_by_value(schema: pl.Schema, plans: Mapping[str, ColumnPlan]) -> list[str]:
    """The columns whose rules are checked per distinct value instead of per row."""
    return [
        name
        for name, plan in plans.items()
        if plan.rules and plan.spec.kind in _CHECKED_BY_VALUE and is_text(schema[name])
    ]
