"""A Microsoft Viva Insights person query as contract tables: signals and people.

Pure: a LazyFrame of the export (every column as text, as `flows.importers` reads it) in, frames
out. Decisions, in one place:

* A Viva week runs Sunday to Saturday and is dated by its Sunday. It becomes the Monday of the ISO
  week that holds six of its seven days, the Monday after that Sunday (in general: the Monday of
  the ISO week holding the week's fourth day). Shifting back to the Monday before would pass
  validation just as well and put every value a week early.
* Every column whose filled cells are all numbers is a metric and becomes a signal, its name
  normalised (`features.names`). An empty cell (or NA, N/A, NaN, null) is "not observed": no row,
  never zero.
* HR attributes are never features. The team column becomes `team_id`, named audit columns
  become `audit_*`, each from the person's latest week with a value; every other text column is
  dropped and listed. A numeric HR attribute (a tenure, a level as a number) is dropped only when
  named, as nothing in the export tells it from a metric.
* Anything ambiguous is refused with the column, the rows and examples: a column mixing numbers
  and text, a decimal comma, day-first dates, dates on different weekdays (a daily or monthly
  query), the same person and week twice with different values, two metrics with one name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from features.contract_hints import date_form
from features.contract_report import Problem
from features.contract_specs import EXAMPLE_LIMIT
from features.names import normalise_event_name, normalise_signal_name

PERSON_COLUMNS = ("PersonId",)
DATE_COLUMNS = ("MetricDate", "Date")
DEFAULT_TEAM_COLUMN = "Organization"
MISSING_TOKENS = ("", "na", "n/a", "nan", "null")
_ROW = "__ewarn_row__"
_DATE = "__ewarn_date__"
_ISO = r"^\d{4}-\d{2}-\d{2}"
_US = r"^\d{1,2}/\d{1,2}/\d{4}"
# Exports through a spreadsheet often carry a midnight time of day; any other time is refused.
_MIDNIGHT = r"(?:[ T](?:0?0:00(?::00(?:\.0+)?)?|12:00(?::00)?\s?AM))?$"
_DECIMAL_COMMA = r"^[+-]?\d{1,3}(?:\.\d{3})*,\d+$|^[+-]?\d+,\d+$"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class VivaImportError(ValueError):
    """A person query that cannot be imported; `problems` say which column, how many rows, examples."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = tuple(problems)
        lines = [f"Cannot import {file} as a Viva Insights person query ({len(problems)} problem(s)):"]
        lines += [f"{n}. " + p.render().replace("\n", "\n   ") for n, p in enumerate(problems, start=1)]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class VivaOptions:
    """How to treat the HR attributes: `team_column` None means Organization when present."""

    team_column: str | None = None
    audit_columns: tuple[str, ...] = ()
    drop_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class VivaConversion:
    """The contract tables of one person query, and what became of every column."""

    signals: pl.DataFrame
    people: pl.DataFrame | None
    metrics: dict[str, str]
    team_column: str | None
    audit_columns: dict[str, str]
    dropped: tuple[str, ...]
    empty: tuple[str, ...] = ()
    people_without_team: int = 0
    source_weekday: str = "Sunday"
    dropped_duplicate_rows: int = 0


def viva_week(day: date) -> date:
    """The contract week (a Monday) of a Viva week dated `day`: the ISO week holding most of its days."""
    middle = day + timedelta(days=3)
    return middle - timedelta(days=middle.weekday())


def viva_weeks(days: pl.Expr) -> pl.Expr:
    """`viva_week` as an expression over a Date column."""
    return days.dt.offset_by("3d").dt.truncate("1w")


def _missing(column: str) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    return pl.col(column).is_null() | text.str.to_lowercase().is_in(list(MISSING_TOKENS))


def _number(column: str) -> pl.Expr:
    return pl.when(~_missing(column)).then(pl.col(column).str.strip_chars().cast(pl.Float64, strict=False))


def _find(names: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {name.lower(): name for name in names}
    return next((lowered[w.lower()] for w in wanted if w.lower() in lowered), None)


def _parsed_date(column: str) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    iso = text.str.extract(_ISO + _MIDNIGHT.replace("$", ""), 0).str.slice(0, 10)
    us = text.str.extract(r"^(\d{1,2}/\d{1,2}/\d{4})" + _MIDNIGHT, 1)
    return (
        pl.when(text.str.contains(_ISO + _MIDNIGHT))
        .then(iso.str.to_date("%Y-%m-%d", strict=False))
        .when(text.str.contains(_US + _MIDNIGHT))
        .then(us.str.to_date("%m/%d/%Y", strict=False))
    )


def _examples(frame: pl.LazyFrame, bad: pl.Expr, column: str) -> tuple[dict, ...]:
    rows = frame.filter(bad).select(pl.col(_ROW).alias("row"), pl.col(column)).head(EXAMPLE_LIMIT).collect()
    return tuple(rows.iter_rows(named=True))


def convert_person_query(
    frame: pl.LazyFrame, file: str, options: VivaOptions | None = None
) -> VivaConversion:
    """Turn a person query (every column as text) into signals and people; raise VivaImportError.

    `signals`: person_id, week, signal, value (Float64), sorted by person, week and signal.
    `people`: person_id, team_id and audit_* (None without a team column). Person ids are
    passed through as they are: refusing or pseudonymising real identifiers is the caller's step.
    """
    options = options or VivaOptions()
    names = frame.collect_schema().names()
    person, day = _find(names, PERSON_COLUMNS), _find(names, DATE_COLUMNS)
    problems = [
        Problem(file, wanted[0], f"column is missing; a person query has {wanted[0]}.")
        for found, wanted in ((person, PERSON_COLUMNS), (day, DATE_COLUMNS))
        if found is None
    ]
    team = options.team_column or (DEFAULT_TEAM_COLUMN if DEFAULT_TEAM_COLUMN in names else None)
    named = [*([team] if team else []), *options.audit_columns, *options.drop_columns]
    for column in named:
        if column not in names:
            problems.append(
                Problem(file, column, "was named as an HR attribute but the file has no such column.")
            )
    if problems:
        raise VivaImportError(file, problems)
    assert person is not None and day is not None
    indexed = frame.with_row_index(_ROW, offset=1)
    attributes = {c for c in named if c in names}
    candidates = [c for c in names if c not in (person, day, *attributes)]
    metrics, text, empty, problems = _classify(indexed, candidates, file)

    problems += _id_problems(indexed, person, file)
    typed = indexed.with_columns(_parsed_date(day).alias(_DATE))
    problems += _date_problems(typed, day, file)
    signal_names, collisions = _signal_names(metrics, file)
    problems += collisions
    if problems:
        raise VivaImportError(file, problems)

    weekdays = typed.select(pl.col(_DATE).dt.weekday().unique()).collect().to_series().to_list()
    wide = (
        typed.select(
            pl.col(person).str.strip_chars().alias("person_id"),
            pl.col(_DATE),
            *(_number(c).alias(signal_names[c]) for c in metrics),
            *(pl.when(~_missing(c)).then(pl.col(c).str.strip_chars()).alias(c) for c in sorted(attributes)),
        )
        .unique(maintain_order=True)
        .collect()
    )
    rows = frame.select(pl.len()).collect().item()
    repeated = wide.group_by("person_id", _DATE).len().filter(pl.col("len") > 1)
    if repeated.height:
        raise VivaImportError(
            file,
            [
                Problem(
                    file,
                    None,
                    f"{repeated.height:,} combinations of {person} and {day} appear more than once with "
                    "different values; a person query has one row per person and week.",
                    int(repeated["len"].sum()),
                )
            ],
        )
    wide = wide.with_columns(viva_weeks(pl.col(_DATE)).alias("week"))
    signals = _long(wide, sorted(signal_names.values()))
    audit = {c: "audit_" + normalise_event_name(c).removeprefix("audit_") for c in options.audit_columns}
    people, without_team = _people(wide, team, audit)
    weekday = _WEEKDAYS[weekdays[0] - 1] if weekdays else "Sunday"
    return VivaConversion(
        signals=signals,
        people=people,
        metrics={c: signal_names[c] for c in metrics},
        team_column=team,
        audit_columns=audit,
        dropped=tuple(sorted({*text, *options.drop_columns})),
        empty=tuple(empty),
        people_without_team=without_team,
        source_weekday=weekday,
        dropped_duplicate_rows=rows - wide.height,
    )


def _long(wide: pl.DataFrame, ordered: list[str]) -> pl.DataFrame:
    """One row per person, week and signal, in that order, without the cells not observed.

    The metrics are listed per row in name order, so exploding rows in person and week order
    gives the table in key order (which validation checks fastest) without sorting it.
    """
    if not ordered:
        return pl.DataFrame(
            schema={"person_id": pl.String, "week": pl.Date, "signal": pl.String, "value": pl.Float64}
        )
    return (
        wide.sort("person_id", "week")
        .select(
            "person_id",
            "week",
            pl.lit(pl.Series([ordered], dtype=pl.List(pl.String))).first().alias("signal"),
            pl.concat_list(pl.col(ordered).cast(pl.Float64)).alias("value"),
        )
        .explode("signal", "value")
        .filter(pl.col("value").is_not_null())
    )


def _classify(
    indexed: pl.LazyFrame, candidates: list[str], file: str
) -> tuple[list[str], list[str], list[str], list[Problem]]:
    """Split the columns into metrics, text (HR attributes) and empty ones; refuse the ambiguous."""
    if not candidates:
        return [], [], [], []
    counts = (
        indexed.select(
            *(
                expr
                for c in candidates
                for expr in (
                    (~_missing(c)).sum().alias(f"{c}\x00filled"),
                    _number(c).is_not_null().sum().alias(f"{c}\x00numbers"),
                    pl.col(c).str.strip_chars().str.contains(_DECIMAL_COMMA).sum().alias(f"{c}\x00commas"),
                    _number(c).is_infinite().sum().alias(f"{c}\x00infinite"),
                )
            )
        )
        .collect()
        .row(0, named=True)
    )
    metrics: list[str] = []
    text: list[str] = []
    empty: list[str] = []
    problems: list[Problem] = []
    for c in candidates:
        filled, numbers = counts[f"{c}\x00filled"], counts[f"{c}\x00numbers"]
        commas, infinite = counts[f"{c}\x00commas"], counts[f"{c}\x00infinite"]
        not_numbers = ~_missing(c) & _number(c).is_null()
        if filled == 0:
            empty.append(c)
        elif commas and numbers + commas == filled:
            problems.append(
                Problem(
                    file,
                    c,
                    "holds numbers written with a decimal comma (33,97); export the query with a decimal "
                    "point (33.97), the format Viva Insights downloads use.",
                    commas,
                    _examples(indexed, pl.col(c).str.strip_chars().str.contains(_DECIMAL_COMMA), c),
                )
            )
        elif numbers == filled:
            metrics.append(c)
            if infinite:
                bad = _number(c).is_infinite().fill_null(False)
                problems.append(
                    Problem(
                        file,
                        c,
                        "infinite values; metrics must be finite numbers.",
                        infinite,
                        _examples(indexed, bad, c),
                    )
                )
        elif numbers == 0:
            text.append(c)
        else:
            problems.append(
                Problem(
                    file,
                    c,
                    f"mixes numbers ({numbers:,} cells) and text: a metric with text in it, or an HR "
                    "attribute that looks numeric in places. Fix the cells, or name the column with "
                    "--drop-column (or --audit-column) if it is an HR attribute.",
                    filled - numbers,
                    _examples(indexed, not_numbers.fill_null(False), c),
                )
            )
    return metrics, text, empty, problems


def _id_problems(indexed: pl.LazyFrame, person: str, file: str) -> list[Problem]:
    missing = _missing(person)
    count = indexed.select(missing.sum()).collect().item()
    if not count:
        return []
    rows = indexed.filter(missing).select(pl.col(_ROW).alias("row")).head(EXAMPLE_LIMIT).collect()
    return [
        Problem(file, person, "empty; every row needs a person id.", count, tuple(rows.iter_rows(named=True)))
    ]


def _date_problems(typed: pl.LazyFrame, day: str, file: str) -> list[Problem]:
    bad = ~_missing(day) & pl.col(_DATE).is_null() | _missing(day)
    count = typed.select(bad.sum()).collect().item()
    if count:
        examples = _examples(typed, bad, day)
        form = date_form([example[day] for example in examples])
        hint = f" These look {form}." if form and not form.startswith("month-first") else ""
        message = f"not a date: expected YYYY-MM-DD or month-first M/D/YYYY.{hint}"
        return [Problem(file, day, message, count, examples)]
    weekdays = typed.group_by(pl.col(_DATE).dt.weekday().alias("weekday")).len().sort("weekday").collect()
    if weekdays.height <= 1:
        return []
    spread = ", ".join(f"{_WEEKDAYS[d - 1]} {n:,}" for d, n in weekdays.iter_rows())
    return [
        Problem(
            file,
            day,
            f"dates fall on {weekdays.height} different weekdays ({spread}); a weekly person query dates "
            "every week by the same day. Run the query with weekly grouping.",
            int(weekdays["len"].sum()),
        )
    ]


def _signal_names(metrics: list[str], file: str) -> tuple[dict[str, str], list[Problem]]:
    names = {c: normalise_signal_name(c) for c in metrics}
    problems = [
        Problem(file, c, "has no letter or digit to make a signal name from; rename the column.")
        for c, name in names.items()
        if not name
    ]
    by_name: dict[str, list[str]] = {}
    for c, name in names.items():
        if name:
            by_name.setdefault(name, []).append(c)
    for name, columns in sorted(by_name.items()):
        if len(columns) > 1:
            listed = ", ".join(f'"{c}"' for c in columns)
            problems.append(
                Problem(
                    file, None, f"columns {listed} would all become the signal {name!r}; rename all but one."
                )
            )
    return names, problems


def _people(wide: pl.DataFrame, team: str | None, audit: dict[str, str]) -> tuple[pl.DataFrame | None, int]:
    if team is None:
        return None, 0
    columns = [team, *audit]
    latest = (
        wide.sort("person_id", _DATE)
        .group_by("person_id", maintain_order=True)
        .agg(pl.col(c).drop_nulls().last() for c in columns)
    )
    people = latest.select(
        "person_id",
        pl.col(team).alias("team_id"),
        *(pl.col(c).alias(name) for c, name in audit.items()),
    )
    without = people.filter(pl.col("team_id").is_null()).height
    return people.filter(pl.col("team_id").is_not_null()), without
