"""Validation that says how to fix things: hints from the refused values, and notes across tables.

Pure, like `features.contract_rules`, which calls the hints while it reports a rule's examples. A hint
is a guess from up to five example values (a decimal comma, a day-first date, a Sunday week);
a note is a fact about a valid folder that is no error but usually a mistake (people without a
`people` row, events for ids that have no signals).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

import polars as pl

from features.names import normalise_event_name, normalise_signal_name

_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})*,\d+$|^[+-]?\d+,\d+$")
_NUMERIC_DATE = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")
_UNPADDED_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_SLASHED_ISO = re.compile(r"^\d{4}[/.]\d{1,2}[/.]\d{1,2}$")
_WITH_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d")
VIVA_HINT = (
    "A Viva Insights person query? `ewarn import viva-insights FILE --out DIR` converts it, dates and "
    "names included."
)


def suggested_name(column: str, value: str) -> str:
    """The name a refused signal or event name would get under the importers' rule."""
    return normalise_event_name(value) if column == "event" else normalise_signal_name(value)


def number_hint(values: Sequence[object]) -> str:
    """A hint for text refused where a number is expected, from example values; '' if none fits."""
    commas = [v for v in values if isinstance(v, str) and _DECIMAL_COMMA.match(v.strip())]
    if not commas:
        return ""
    shown = commas[0].strip()
    fixed = shown.replace(".", "").replace(",", ".")
    return (
        f' Some look like numbers with a decimal comma ("{shown}"): write them with a decimal point '
        f"({fixed}); in a spreadsheet, export CSV with '.' as the decimal separator."
    )


def date_form(values: Sequence[object]) -> str:
    """Which numeric date format example values seem to be in ('day-first (DD-MM-YYYY)', ...); '' if none."""
    numeric = [m for m in (_NUMERIC_DATE.match(v.strip()) for v in values if isinstance(v, str)) if m]
    if not numeric:
        return ""
    if any(int(m.group(1)) > 12 for m in numeric):
        return "day-first (DD-MM-YYYY)"
    if any(int(m.group(2)) > 12 for m in numeric):
        return "month-first (MM/DD/YYYY, as in US exports)"
    return "DD-MM-YYYY or MM/DD/YYYY (the examples fit both)"


def date_hint(values: Sequence[object]) -> str:
    """A hint for refused dates, from example values: which other format they seem to be in."""
    texts = [v.strip() for v in values if isinstance(v, str)]
    form = date_form(texts)
    if form:
        return f" These look {form}; convert them to YYYY-MM-DD. {VIVA_HINT}"
    if any(_WITH_TIME.match(t) for t in texts):
        return " These carry a time of day; keep only the date, YYYY-MM-DD."
    if any(_SLASHED_ISO.match(t) or _UNPADDED_ISO.match(t) for t in texts):
        return " Write them as YYYY-MM-DD: four-digit year, two-digit month and day, separated by '-'."
    return ""


def monday_hint(values: Sequence[object]) -> str:
    """A hint for weeks that are not Mondays: Sunday weeks come from Viva Insights and the like."""
    days = [v for v in (_as_date(v) for v in values) if v is not None]
    if not days or any(day.weekday() != 6 for day in days):
        return ""
    return (
        " Every example is a Sunday: a week that runs Sunday to Saturday (as Viva Insights dates its "
        "weeks) belongs to the ISO week that holds six of its seven days, so write the Monday AFTER "
        "the Sunday; the Monday before would put every value a week early. " + VIVA_HINT
    )


def _as_date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def cross_table_notes(
    signals: pl.LazyFrame,
    events: pl.LazyFrame | None,
    people: pl.LazyFrame | None,
    files: dict[str, str],
    outcomes: Sequence[str] = ("resigned", "long_term_sick_leave"),
) -> list[str]:
    """Notes on ids that do not meet across the tables of a valid landing folder (counts only).

    People in signals without a `people` row have no team; events for people without signals
    never reach a feature or a label, which is usually an id mismatch (a table that was not
    pseudonymised with the same key).
    """
    if events is None and people is None:
        return []
    ids = signals.select("person_id").unique()
    queries = []
    if people is not None:
        queries.append(ids.join(people.select("person_id"), on="person_id", how="anti").select(pl.len()))
    if events is not None:
        orphans = events.join(ids, on="person_id", how="anti")
        queries.append(
            orphans.select(
                events=pl.len(),
                people=pl.col("person_id").n_unique(),
                outcomes=pl.col("event").is_in(list(outcomes)).sum(),
            )
        )
    found = pl.collect_all(queries, engine="streaming")
    notes: list[str] = []
    if people is not None:
        missing = int(found.pop(0).item())
        if missing:
            notes.append(
                f"{_people(missing)} in {files.get('signals', 'signals')} "
                f"{'has' if missing == 1 else 'have'} no row in {files.get('people', 'people')}: no team "
                "for them, so no team context, and they are left out of team views and the fairness audit."
            )
    if events is not None:
        row = found.pop(0).row(0, named=True)
        if row["events"]:
            outcome_text = f", {row['outcomes']:,} of them outcomes" if row["outcomes"] else ""
            notes.append(
                f"{row['events']:,} event{'s' if row['events'] != 1 else ''} in "
                f"{files.get('events', 'events')} ({_people(row['people'])}{outcome_text}) "
                f"{'is' if row['events'] == 1 else 'are'} for ids with no signals and count for nothing. "
                "If these people should be there, check that both tables use the same pseudonyms."
            )
    return notes


def _people(count: int) -> str:
    return f"{count:,} {'person' if count == 1 else 'people'}"
