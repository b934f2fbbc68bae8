"""What checking a landing folder reports: problems with masked example rows, or a valid folder's summary."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl

from features.contract_specs import CONTRACT_VERSION, ROW
from features.masking import mask_identifiers


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
    # The deployment's smallest team shown in aggregates (flows.settings), for the summary's count.
    anonymity_threshold: int | None = None

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


def example_rows(frame: pl.DataFrame) -> tuple[dict[str, Any], ...]:
    """A problem's example rows as plain values, anything like an e-mail address or a name masked."""
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


def printable(text: str, limit: int) -> str:
    """`text` with control characters escaped, cut to `limit` characters."""
    # Junk bytes decode to control characters that would garble a terminal.
    cleaned = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return json.dumps(printable(value, 48), ensure_ascii=False)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return str(value)


def _render_example(example: Mapping[str, Any]) -> str:
    parts = [f"{key}={_show(value)}" for key, value in example.items() if key != "row"]
    prefix = f"row {example['row']}: " if "row" in example else ""
    return prefix + ", ".join(parts)


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


def plural(count: int, word: str, words: str | None = None) -> str:
    """`count` and the word in the singular or the plural, e.g. "1 person", "3 people"."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def _render_summary(report: ValidationReport) -> str:
    lines = [f"OK: {report.folder} meets input contract v{CONTRACT_VERSION}."]
    signals = report.summary.get("signals")
    if signals:
        lines.append(
            f"{signals['file']}: {plural(signals['people'], 'person', 'people')}"
            f", {plural(signals['weeks'], 'week')} ({signals['first_week']} to {signals['last_week']}),"
            f" {plural(signals['rows'], 'row')}"
        )
        lines.append(f"  signals, with coverage of the {signals['person_weeks']:,} person-weeks present:")
        width = max((len(name) for name in signals["coverage"]), default=0)
        for name, share in signals["coverage"].items():
            lines.append(f"    {name:<{width}}  {share:7.1%}")
    events = report.summary.get("events")
    if events:
        by_type = ", ".join(f"{name} {count:,}" for name, count in events["by_type"].items())
        lines.append(
            f"{events['file']}: {plural(events['rows'], 'event')} for "
            f"{plural(events['people'], 'person', 'people')}: {by_type}"
        )
    elif "events" not in report.files:
        lines.append("events: not present (fine for scoring; training needs events).")
    people = report.summary.get("people")
    if people:
        sizes = sorted(people["team_sizes"])
        threshold = report.anonymity_threshold
        # Sizes as a range only: which team is how small is not the validator's business to print.
        shown = f"sizes {sizes[0]} to {sizes[-1]}, median {sizes[len(sizes) // 2]}" if sizes else "none"
        teams = plural(people["teams"], "team")
        line = f"{people['file']}: {plural(people['rows'], 'person', 'people')} in {teams} ({shown})"
        if threshold is not None:
            small = sum(size < threshold for size in sizes)
            line += f"; {small:,} below the anonymity threshold of {threshold}, so never shown in team views"
        lines.append(line)
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
