"""Turn an export (every cell text) into contract tables by a mapping (features.table_import).

Pure: frames in, frames out. Problems are collected, not raised one by one, so that one run names
every column at fault; each names the column, how many rows and example rows by number (the
first data row is row 1), showing the cell at fault and never the person's identifier.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from features.table_import import (
    DATE_FORMATS_TRIED,
    EventsMapping,
    MappingError,
    PeopleMapping,
    SignalsMapping,
    TableMapping,
    normalise_name,
)

PERSON = "person_id"
ROW = "__ewarn_import_row__"
EXAMPLES = 3


@dataclass(frozen=True)
class Converted:
    """The contract tables a mapping filled, and notes for the user (counts and names, never ids)."""

    tables: dict[str, pl.DataFrame]
    notes: list[str] = field(default_factory=list)


def convert(export: pl.DataFrame, mapping: TableMapping, file: str) -> Converted:
    """The contract tables `mapping` fills from `export` (all columns text); MappingError otherwise."""
    missing = [(key, column) for key, column in mapping.columns() if column not in export.columns]
    if missing:
        shown = ", ".join(f'"{c}"' for c in export.columns[:40])
        raise MappingError(
            [
                f'{file} has no column "{column}" (named by {key} in the mapping){_fixed_date_hint(column)}'
                for key, column in missing
            ]
            + [f"{file} has the columns {shown}{', ...' if export.width > 40 else ''}"]
        )
    frame = export.with_row_index(ROW, offset=1).with_columns(
        _blank_to_null(pl.exclude(ROW), mapping.missing)
    )
    problems: list[str] = []
    frame = _with_person(frame, mapping.person, file, problems)
    tables: dict[str, pl.DataFrame] = {}
    notes: list[str] = []
    if mapping.signals is not None:
        tables["signals"] = _signals(frame, mapping, mapping.signals, file, problems, notes)
    if mapping.events is not None:
        tables["events"] = _events(frame, mapping, mapping.events, file, problems, notes)
    if mapping.people is not None:
        tables["people"] = _people(frame, mapping, mapping.people, file, problems)
    used = {column for _, column in mapping.columns()}
    unused = [c for c in export.columns if c not in used]
    if unused:
        notes.append(
            f"{len(unused)} column{'s' if len(unused) != 1 else ''} not imported: " + ", ".join(unused)
        )
    if problems:
        raise MappingError(problems)
    return Converted(tables, notes)


def _fixed_date_hint(column: str) -> str:
    if re.match(r"^\d{4}-\d{2}-\d{2}$", column):
        return f"; to give every row one date, write it without quotes: date = {column}"
    return ""


def _blank_to_null(columns: pl.Expr, missing: Sequence[str]) -> pl.Expr:
    stripped = columns.cast(pl.String).str.strip_chars()
    return pl.when(stripped.is_in(list(missing))).then(None).otherwise(stripped).name.keep()


def _rows(bad: pl.DataFrame) -> str:
    return f"{bad.height:,} row{'s' if bad.height != 1 else ''}"


def _examples(bad: pl.DataFrame, column: str | None) -> str:
    shown = []
    for row in bad.head(EXAMPLES).iter_rows(named=True):
        cell = f': "{row[column]}"' if column is not None and row.get(column) is not None else ""
        shown.append(f"row {row[ROW]}{cell}")
    return "e.g. " + "; ".join(shown)


def _problem(file: str, column: str, bad: pl.DataFrame, what: str, shown: str | None = None) -> str:
    """One problem line; `shown` is the column whose cell the examples show (never the person's)."""
    return f'{file}, column "{column}" ({_rows(bad)}): {what}; {_examples(bad, shown)}'


def _with_person(frame: pl.DataFrame, column: str, file: str, problems: list[str]) -> pl.DataFrame:
    frame = frame.with_columns(pl.col(column).alias(PERSON))
    empty = frame.filter(pl.col(PERSON).is_null())
    if empty.height:
        problems.append(_problem(file, column, empty, "the person id is empty"))
    return frame.filter(pl.col(PERSON).is_not_null())


def _dates(
    frame: pl.DataFrame, column: str, mapping: TableMapping, file: str, problems: list[str]
) -> pl.Series:
    """A text column as dates in the mapping's format; unparsable cells are a problem (with a hint)."""
    text = frame[column]
    parsed = text.str.strptime(pl.Date, mapping.date_format, strict=False)
    bad = frame.filter(text.is_not_null() & parsed.is_null())
    if bad.height:
        hint = _date_hint(bad[column], mapping.date_format)
        problems.append(
            _problem(file, column, bad, f"not a date in the format {mapping.date_format}{hint}", column)
        )
    return parsed


def _date_hint(values: pl.Series, current: str) -> str:
    sample = values.head(50)
    for fmt in DATE_FORMATS_TRIED:
        if fmt != current and sample.str.strptime(pl.Date, fmt, strict=False).is_not_null().all():
            return f' (they read as {fmt}: set date_format = "{fmt}")'
    return ""


def _numbers(
    frame: pl.DataFrame, column: str, mapping: TableMapping, file: str, problems: list[str]
) -> pl.Series:
    """A text column as finite numbers (decimal comma as the mapping says); others are a problem."""
    text = frame[column].str.replace_all(r"[\s\u00a0]", "")
    if mapping.decimal_comma:
        text = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    parsed = text.cast(pl.Float64, strict=False)
    bad = frame.filter(text.is_not_null() & (parsed.is_null() | ~parsed.is_finite()))
    if bad.height:
        hint = ""
        if not mapping.decimal_comma and bad[column].str.contains(r"^-?\d+,\d+$").any():
            hint = " (they look like decimal commas: set decimal_comma = true)"
        what = f"not a number{hint}; leave a cell empty for no value, or list the text under missing = [...]"
        problems.append(_problem(file, column, bad, what, column))
    return parsed.set(~parsed.is_finite().fill_null(True), None) if bad.height else parsed


def _when(
    frame: pl.DataFrame,
    column: str | None,
    fixed: date | None,
    mapping: TableMapping,
    file: str,
    problems: list[str],
) -> pl.Series:
    if column is None:
        return pl.Series([fixed] * frame.height, dtype=pl.Date)
    dates = _dates(frame, column, mapping, file, problems)
    return dates


def _monday(day: pl.Expr) -> pl.Expr:
    # The ISO week's Monday: the contract's `week`.
    return day.dt.truncate("1w")


def _signals(
    frame: pl.DataFrame,
    mapping: TableMapping,
    signals: SignalsMapping,
    file: str,
    problems: list[str],
    notes: list[str],
) -> pl.DataFrame:
    dated = frame.with_columns(
        _when(frame, signals.date_column, signals.fixed_date, mapping, file, problems).alias("_date")
    )
    if signals.date_column:
        undated = dated.filter(pl.col("_date").is_null() & pl.col(signals.date_column).is_null())
        if undated.height:
            problems.append(_problem(file, signals.date_column, undated, "the date is empty"))
    parts = []
    if signals.metrics:
        for column, name in signals.metrics.items():
            values = _numbers(dated, column, mapping, file, problems)
            parts.append(
                dated.select(ROW, PERSON, "_date", pl.lit(name).alias("signal"), values.alias("value"))
            )
    else:
        raw = dated[signals.signal_column]
        found = raw.unique().drop_nulls().to_list()
        names = {value: signals.names.get(value, normalise_name(value)) for value in found}
        named = raw.replace_strict(names, default=None, return_dtype=pl.String)
        unnamed = dated.filter(raw.is_null() | (named == ""))
        if unnamed.height:
            problems.append(
                _problem(file, signals.signal_column, unnamed, "no signal name", signals.signal_column)
            )
        values = _numbers(dated, signals.value_column, mapping, file, problems)
        parts.append(dated.select(ROW, PERSON, "_date", named.alias("signal"), values.alias("value")))
        renamed = sorted({v for v in raw.unique().drop_nulls().to_list() if v not in signals.names})
        if renamed:
            notes.append(
                "signal names derived from the export: "
                + ", ".join(f'"{v}" -> {normalise_name(v)}' for v in renamed[:20])
                + (", ..." if len(renamed) > 20 else "")
            )
    rows = (
        pl.concat(parts)
        .filter(pl.col("value").is_not_null() & pl.col("_date").is_not_null() & (pl.col("signal") != ""))
        .with_columns(_monday(pl.col("_date")).alias("week"))
    )
    _conflicts(rows, ("week", "signal"), "value", file, signals.date_column or "date", problems)
    return (
        rows.unique(subset=[PERSON, "week", "signal"], keep="first")
        .select(PERSON, "week", "signal", "value")
        .sort(PERSON, "week", "signal")
    )


def _conflicts(
    rows: pl.DataFrame, key: tuple[str, ...], value: str, file: str, column: str, problems: list[str]
) -> None:
    """Two rows of one person and key with different values: the contract cannot tell which holds."""
    clashing = rows.filter(pl.col(value).n_unique().over(PERSON, *key) > 1).sort(ROW)
    if clashing.height:
        what = (
            f"two different values for the same person, week and {key[-1]} (dates in one ISO week go to "
            "its Monday); keep one row per person and week"
        )
        problems.append(_problem(file, column, clashing, what))


def _events(
    frame: pl.DataFrame,
    mapping: TableMapping,
    events: EventsMapping,
    file: str,
    problems: list[str],
    notes: list[str],
) -> pl.DataFrame:
    column = events.event_column
    kept = frame.filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(list(events.skip)))
    unmapped = kept.filter(~pl.col(column).is_in(list(events.values)))
    if unmapped.height and events.other is None:
        counts = unmapped.group_by(column).len().sort("len", column, descending=[True, False])
        listed = ", ".join(f'"{value}" ({n:,})' for value, n in counts.head(10).iter_rows())
        what = (
            f"values the mapping does not map: {listed}; add them under [events.values], list those that "
            'are no event under skip = [...], or set other = "left_other" for exits that are no outcome'
        )
        problems.append(_problem(file, column, unmapped, what, column))
    elif unmapped.height:
        notes.append(f"{unmapped.height:,} event rows with values not mapped became {events.other}")
    named = kept[column].replace_strict(events.values, default=events.other, return_dtype=pl.String)
    dates = _when(kept, events.date_column, events.fixed_date, mapping, file, problems)
    if events.date_column:
        undated = kept.filter(pl.col(events.date_column).is_null())
        if undated.height:
            problems.append(_problem(file, events.date_column, undated, "an event without a date", column))
    return (
        kept.select(PERSON, dates.alias("date"), named.alias("event"))
        .drop_nulls()
        .unique()
        .sort(PERSON, "date", "event")
    )


def _people(
    frame: pl.DataFrame, mapping: TableMapping, people: PeopleMapping, file: str, problems: list[str]
) -> pl.DataFrame:
    columns = [pl.col(PERSON), pl.col(people.team_column).alias("team_id")]
    if people.hired_on_column:
        hired = _dates(frame, people.hired_on_column, mapping, file, problems)
        columns.append(pl.lit(hired).alias("hired_on"))
    columns += [pl.col(source).alias(name) for source, name in people.audit.items()]
    table = frame.select(ROW, *columns)
    no_team = table.filter(pl.col("team_id").is_null())
    if no_team.height:
        problems.append(_problem(file, people.team_column, no_team, "the team is empty (people need a team)"))
    attributes = [c for c in table.columns if c not in (ROW, PERSON)]
    distinct = table.unique(subset=[PERSON, *attributes], keep="first")
    twice = distinct.filter(pl.col(PERSON).is_duplicated()).sort(ROW)
    if twice.height:
        what = "one person with different teams or attributes on different rows; keep one per person"
        problems.append(_problem(file, people.team_column, twice, what))
    return distinct.drop(ROW).unique(subset=[PERSON], keep="first").sort(PERSON)


def summary_lines(tables: dict[str, pl.DataFrame]) -> list[str]:
    """What was made, in counts and names only (never an identifier)."""
    lines = []
    signals = tables.get("signals")
    if signals is not None:
        names = sorted(signals["signal"].unique().to_list())
        lines.append(
            f"signals: {signals.height:,} rows, {signals[PERSON].n_unique():,} people, "
            f"{signals['week'].n_unique():,} weeks, {len(names)} signals ({', '.join(names[:12])}"
            f"{', ...' if len(names) > 12 else ''})"
        )
    events = tables.get("events")
    if events is not None:
        by_type = events.group_by("event").len().sort("len", "event", descending=[True, False])
        said = ", ".join(f"{name} {n:,}" for name, n in by_type.iter_rows()) or "none"
        lines.append(f"events: {events.height:,} rows for {events[PERSON].n_unique():,} people: {said}")
    people = tables.get("people")
    if people is not None:
        lines.append(f"people: {people.height:,} people in {people['team_id'].n_unique():,} teams")
    return lines
