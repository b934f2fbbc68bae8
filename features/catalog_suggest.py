"""A starting point for a catalog of one's own: guesses for the signals the catalog does not know.

Pure: frames in, TOML text out. Every guess is marked as one, for a person to check before the
file is used with `--catalog`: a label from the name, a kind from the name and the values, and the
direction a training on the landing's own outcomes would learn (models.directions), when clear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from features.catalog import Direction, Kind, kind_from_name, readable_label
from features.names import normalise_signal_name

_NAMED_BECAUSE = {
    "leave": "its name speaks of leave",
    "absence": "its name speaks of sickness or absence",
    "survey": "its name speaks of a survey",
}
# A survey item: answers on a 1-5 (or 0-10) scale, whole numbers, given in few of the weeks.
_SURVEY_SCALES = ((1.0, 5.0), (0.0, 10.0))
SPARSE_SHARE = 0.6


@dataclass(frozen=True)
class SignalSummary:
    """How one signal's values look: observed share of its people's weeks, range, whole numbers."""

    name: str
    observed_share: float
    low: float
    high: float
    whole_numbers: bool


@dataclass(frozen=True)
class Suggestion:
    """A guessed catalog entry and why each part was guessed so."""

    name: str
    label: str
    kind: Kind
    kind_because: str
    direction: Direction | None


def summarise_signals(signals: pl.LazyFrame, names: Sequence[str]) -> list[SignalSummary]:
    """Per named signal: the share of its people's weeks (first to last) it holds a value, and its range."""
    weeks = (pl.col("week").max() - pl.col("week").min()).dt.total_days() // 7 + 1
    per_person = (
        signals.filter(pl.col("signal").is_in(list(names)))
        .group_by("signal", "person_id")
        .agg(
            pl.len().alias("rows"),
            weeks.alias("weeks"),
            pl.col("value").min().alias("low"),
            pl.col("value").max().alias("high"),
            (pl.col("value") == pl.col("value").round()).all().alias("whole"),
        )
    )
    per_signal = (
        per_person.group_by("signal")
        .agg(
            pl.col("rows").sum(),
            pl.col("weeks").sum(),
            pl.col("low").min(),
            pl.col("high").max(),
            pl.col("whole").all(),
        )
        .sort("signal")
        .collect()
    )
    return [
        SignalSummary(
            name=row["signal"],
            observed_share=row["rows"] / row["weeks"] if row["weeks"] else 0.0,
            low=float(row["low"]),
            high=float(row["high"]),
            whole_numbers=bool(row["whole"]),
        )
        for row in per_signal.iter_rows(named=True)
    ]


def guess_kind(summary: SignalSummary) -> tuple[Kind, str]:
    """The kind a signal most likely is, and the reason in words."""
    named = kind_from_name(normalise_signal_name(summary.name))
    if named != "activity":
        return named, _NAMED_BECAUSE[named]
    on_scale = any(low <= summary.low and summary.high <= high for low, high in _SURVEY_SCALES)
    if on_scale and summary.whole_numbers and summary.observed_share < SPARSE_SHARE:
        return "survey", (
            f"whole numbers from {summary.low:g} to {summary.high:g}, "
            f"given in {summary.observed_share:.0%} of the weeks: survey answers"
        )
    return "activity", "a weekly count or amount"


def suggest(summaries: Sequence[SignalSummary], directions: Mapping[str, Direction]) -> list[Suggestion]:
    """One suggestion per summarised signal, with the learnt direction where there is one."""
    out = []
    for summary in summaries:
        kind, because = guess_kind(summary)
        direction = None if kind == "leave" else directions.get(summary.name)
        out.append(Suggestion(summary.name, readable_label(summary.name), kind, because, direction))
    return out


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_suggestions(suggestions: Sequence[Suggestion], source: str, learnt_from: str) -> str:
    """The suggestions as a catalog TOML file, every guessed field commented as a guess."""
    lines = [
        f"# Catalog entries suggested by `ewarn catalog suggest` for {source}.",
        "# Every field below is a GUESS: check each one, give a family (see the built-in families",
        "# in `ewarn notice` or docs/features.md) and a unit, then use it with --catalog FILE.",
        f"# Directions: {learnt_from}",
        "# An entry without a direction is context only; delete the entry instead to let each",
        "# training learn a direction from its own data.",
    ]
    for item in suggestions:
        lines += ["", f"[signals.{_quoted(item.name)}]"]
        lines.append(f"label = {_quoted(item.label)}  # guess: from the name")
        lines.append('unit = ""  # to fill in')
        lines.append('family = "other"  # to choose')
        lines.append(f"kind = {_quoted(item.kind)}  # guess: {item.kind_because}")
        if item.kind == "leave":
            lines.append('direction = "none"  # planned leave is context, never a risk')
        elif item.direction is None:
            lines.append('# direction = "falls" or "rises"  # no clear direction in the data')
        else:
            lines.append(
                f"direction = {_quoted(item.direction)}  # guess: learnt from the landing's outcomes"
            )
    return "\n".join(lines) + "\n"
