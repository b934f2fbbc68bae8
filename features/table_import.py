"""A mapped import: an HR-system or survey export plus a mapping become contract tables.

Pure: a frame of text cells and a parsed mapping in, the contract tables (signals, events,
people) out; `cli.import_commands` reads the files and writes the tables. The mapping (TOML, see
docs/import.md) names the person column, the date format, the delimiter and the decimal mark,
and for each table it fills the columns it comes from:

* `[signals]`, wide (`metrics`: one column per signal) or long (`signal` and `value` columns),
  dated by a `date` column or one fixed date (a snapshot); every date goes to the Monday of its
  ISO week. An empty cell is "not observed": no row, never zero.
* `[events]`: a `date` column (or one fixed date) and an `event` column whose values are mapped
  (`"Voluntary resignation" = "resigned"`); `other` names the event for every value not mapped
  (an exit that is no outcome, say `left_other`), `skip` lists values that are no event at all
  (`"No"` in an attrition column), an empty cell is no event.
* `[people]`: the `team` column, optionally `hired_on` and `audit` columns.

Every problem names the file, the column, how many rows and an example row (its number and the
cell at fault), and never shows a person identifier: exports hold real ones before
`ewarn pseudonymise`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from features.contract_specs import AUDIT_PREFIX, EVENT_NAME_PATTERN, SIGNAL_NAME_PATTERN

_TOP_KEYS = ("person", "delimiter", "date_format", "decimal_comma", "missing", "signals", "events", "people")
_SIGNAL_KEYS = ("date", "metrics", "signal", "value", "names")
_EVENT_KEYS = ("date", "event", "values", "other", "skip")
_PEOPLE_KEYS = ("team", "hired_on", "audit")
# Formats tried on dates that did not parse, to say which one the export uses.
DATE_FORMATS_TRIED = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%y")
_WORDS_FORMAT = {"YYYY": "%Y", "YY": "%y", "MM": "%m", "DD": "%d"}


class MappingError(ValueError):
    """A mapping, or data that does not fit it; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(f"- {problem}" for problem in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class SignalsMapping:
    """Where the signals come from: wide (`metrics`) or long (`signal_column` and `value_column`)."""

    date_column: str | None = None
    fixed_date: date | None = None
    metrics: dict[str, str] = field(default_factory=dict)
    signal_column: str | None = None
    value_column: str | None = None
    names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventsMapping:
    """Where the events come from and how the export's values become event names."""

    event_column: str
    date_column: str | None = None
    fixed_date: date | None = None
    values: dict[str, str] = field(default_factory=dict)
    other: str | None = None
    skip: tuple[str, ...] = ()


@dataclass(frozen=True)
class PeopleMapping:
    """Where the people table comes from: the team column, hiring dates and audit attributes."""

    team_column: str
    hired_on_column: str | None = None
    audit: dict[str, str] = field(default_factory=dict)  # column -> audit_* name


@dataclass(frozen=True)
class TableMapping:
    """A parsed mapping file (see the module doc)."""

    person: str
    delimiter: str = ","
    date_format: str = "%Y-%m-%d"
    decimal_comma: bool = False
    missing: tuple[str, ...] = ("",)
    signals: SignalsMapping | None = None
    events: EventsMapping | None = None
    people: PeopleMapping | None = None

    def columns(self) -> list[tuple[str, str]]:
        """Every export column the mapping reads, with the mapping key that names it."""
        used = [("person", self.person)]
        if self.signals is not None:
            s = self.signals
            used += [("signals.date", s.date_column)] if s.date_column else []
            used += [("signals.metrics", column) for column in s.metrics]
            used += [("signals.signal", s.signal_column)] if s.signal_column else []
            used += [("signals.value", s.value_column)] if s.value_column else []
        if self.events is not None:
            e = self.events
            used += [("events.event", e.event_column)]
            used += [("events.date", e.date_column)] if e.date_column else []
        if self.people is not None:
            p = self.people
            used += [("people.team", p.team_column)]
            used += [("people.hired_on", p.hired_on_column)] if p.hired_on_column else []
            used += [("people.audit", column) for column in p.audit]
        return used


def normalise_name(text: str) -> str:
    """A contract signal name from an export's column name: 'Work-life balance' -> 'work_life_balance',
    'JobSatisfaction' -> 'job_satisfaction'."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text.strip())
    return re.sub(r"[^a-z0-9_.]+", "_", words.lower()).strip("_.")


def parse_mapping(raw: dict[str, Any]) -> TableMapping:
    """Build a mapping from parsed TOML; raise MappingError naming every key that is wrong."""
    problems: list[str] = []
    _unknown(raw, _TOP_KEYS, "", problems)
    person = raw.get("person")
    if not isinstance(person, str) or not person:
        problems.append('person: name the column that holds the person id, e.g. person = "Employee ID"')
    delimiter = raw.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        problems.append(f'delimiter: {delimiter!r} must be one character, e.g. ";" or "\\t"')
    date_format = _date_format(raw.get("date_format", "%Y-%m-%d"), problems)
    decimal_comma = raw.get("decimal_comma", False)
    if not isinstance(decimal_comma, bool):
        problems.append(f"decimal_comma: {decimal_comma!r} must be true or false")
    missing = raw.get("missing", [""])
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        problems.append('missing: must be a list of texts that mean "no value", e.g. ["", "NA"]')
        missing = [""]
    tables = {
        "signals": _signals(raw.get("signals"), problems),
        "events": _events(raw.get("events"), problems),
        "people": _people(raw.get("people"), problems),
    }
    if all(table is None for table in tables.values()) and not any(k in raw for k in tables):
        problems.append("the mapping fills no table: add [signals], [events] or [people]")
    if problems:
        raise MappingError(problems)
    return TableMapping(
        person=person,
        delimiter=delimiter,
        date_format=date_format,
        decimal_comma=decimal_comma,
        missing=tuple(dict.fromkeys(["", *missing])),
        **tables,
    )


def _unknown(raw: dict[str, Any], allowed: tuple[str, ...], where: str, problems: list[str]) -> None:
    for key in raw:
        if key not in allowed:
            problems.append(f"{where}{key}: not a mapping key here; expected one of {', '.join(allowed)}")


def _date_format(value: object, problems: list[str]) -> str:
    if not isinstance(value, str) or not value:
        problems.append(f'date_format: {value!r} must be a text such as "%d-%m-%Y" or "DD-MM-YYYY"')
        return "%Y-%m-%d"
    if "%" in value:
        return value
    fmt = value
    for words, code in _WORDS_FORMAT.items():
        fmt = fmt.replace(words, code)
    if re.search(r"[A-Za-z]", fmt.replace("%Y", "").replace("%y", "").replace("%m", "").replace("%d", "")):
        problems.append(f"date_format: {value!r} is not a date format; use DD, MM, YYYY or strftime codes")
    return fmt


def _table(raw: object, name: str, problems: list[str]) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"{name}: must be a table ([{name}])")
        return None
    return raw


def _column(
    raw: dict[str, Any], key: str, where: str, problems: list[str], required: bool = False
) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            problems.append(f'{where}.{key}: name the column, e.g. {key} = "..."')
        return None
    if not isinstance(value, str) or not value:
        problems.append(f"{where}.{key}: {value!r} must be a column name")
        return None
    return value


def _dated(raw: dict[str, Any], where: str, problems: list[str]) -> tuple[str | None, date | None]:
    """A `date` key: a column name (text) or one fixed date (a TOML date, unquoted)."""
    value = raw.get("date")
    if isinstance(value, datetime):
        problems.append(f"{where}.date: {value} has a time; give a date (date = 2024-06-30) or a column")
    elif isinstance(value, date):
        return None, value
    elif isinstance(value, str) and value:
        return value, None
    else:
        problems.append(
            f'{where}.date: name the date column (date = "Survey date") or give one date for every row, '
            "unquoted (date = 2024-06-30)"
        )
    return None, None


def _name_map(value: object, where: str, pattern: str, problems: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        problems.append(f'{where}: must be a table of "export value" = "name"')
        return {}
    for source, target in value.items():
        if not re.match(pattern, target):
            problems.append(f'{where}: "{source}" = "{target}": the name may hold only {_allowed(pattern)}')
    return dict(value)


def _allowed(pattern: str) -> str:
    return "a-z, 0-9, '_' and '.'" if pattern == SIGNAL_NAME_PATTERN else "a-z, 0-9 and '_'"


def _signals(raw: object, problems: list[str]) -> SignalsMapping | None:
    table = _table(raw, "signals", problems)
    if table is None:
        return None
    _unknown(table, _SIGNAL_KEYS, "signals.", problems)
    date_column, fixed = _dated(table, "signals", problems)
    metrics_raw = table.get("metrics")
    metrics: dict[str, str] = {}
    if isinstance(metrics_raw, list) and all(isinstance(m, str) for m in metrics_raw):
        metrics = {column: normalise_name(column) for column in metrics_raw}
        for column, name in metrics.items():
            if not name:
                problems.append(
                    f'signals.metrics: "{column}" gives no usable name; map it: [signals.metrics]'
                )
    elif metrics_raw is not None:
        metrics = _name_map(metrics_raw, "signals.metrics", SIGNAL_NAME_PATTERN, problems)
    signal_column = _column(table, "signal", "signals", problems)
    value_column = _column(table, "value", "signals", problems)
    long = signal_column is not None or value_column is not None
    if metrics and long:
        problems.append(
            "signals: give metrics (wide: one column per signal) or signal and value (long), not both"
        )
    elif not metrics and not (signal_column and value_column):
        problems.append(
            'signals: give metrics = ["Column", ...] (one column per signal) or signal = "..." and '
            'value = "..." (one row per signal)'
        )
    names = _name_map(table.get("names"), "signals.names", SIGNAL_NAME_PATTERN, problems)
    return SignalsMapping(date_column, fixed, metrics, signal_column, value_column, names)


def _events(raw: object, problems: list[str]) -> EventsMapping | None:
    table = _table(raw, "events", problems)
    if table is None:
        return None
    _unknown(table, _EVENT_KEYS, "events.", problems)
    date_column, fixed = _dated(table, "events", problems)
    event_column = _column(table, "event", "events", problems, required=True) or ""
    values = _name_map(table.get("values"), "events.values", EVENT_NAME_PATTERN, problems)
    other = table.get("other")
    if other is not None and (not isinstance(other, str) or not re.match(EVENT_NAME_PATTERN, other)):
        problems.append(f"events.other: {other!r} must be an event name (a-z, 0-9 and '_'), e.g. left_other")
        other = None
    skip = table.get("skip", [])
    if not isinstance(skip, list) or not all(isinstance(v, str) for v in skip):
        problems.append('events.skip: must be a list of values that are no event, e.g. ["No"]')
        skip = []
    return EventsMapping(event_column, date_column, fixed, values, other, tuple(skip))


def _people(raw: object, problems: list[str]) -> PeopleMapping | None:
    table = _table(raw, "people", problems)
    if table is None:
        return None
    _unknown(table, _PEOPLE_KEYS, "people.", problems)
    team = _column(table, "team", "people", problems, required=True) or ""
    hired_on = _column(table, "hired_on", "people", problems)
    audit_raw = table.get("audit", {})
    audit: dict[str, str] = {}
    if isinstance(audit_raw, list) and all(isinstance(a, str) for a in audit_raw):
        audit = {column: AUDIT_PREFIX + normalise_name(column) for column in audit_raw}
    elif isinstance(audit_raw, dict) and all(isinstance(a, str) for a in audit_raw.values()):
        audit = {
            column: name if name.startswith(AUDIT_PREFIX) else AUDIT_PREFIX + name
            for column, name in audit_raw.items()
        }
    else:
        problems.append('people.audit: a list of columns, or a table of "column" = "name"')
    return PeopleMapping(team, hired_on, audit)
