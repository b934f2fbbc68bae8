"""Fairness audit of the flags: do groups of a protected attribute get flagged, and helped, alike?

Protected attributes (the `audit_*` columns of the `people` table) are read here and nowhere else in
the models: never as features, never shown per person. The audit reports aggregates per group only,
and hides every group too small to stay anonymous.

Pure: polars in, a frozen `FairnessAudit` out; no file I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from models.anonymity import suppressed

AUDIT_PREFIX = "audit_"
UNKNOWN_GROUP = "unknown"
FOUR_FIFTHS = 0.8
DEFAULT_THRESHOLD = 5
DEFAULT_HORIZON = 12
# Rule of thumb: below this many people a group's flag rate swings by chance from run to run.
SMALL_GROUP = 30

RATE_COLUMNS = ("flag_rate", "ever_flagged_rate", "precision", "recall", "event_recall")
TABLE_SCHEMA: dict[str, pl.DataType] = {
    "attribute": pl.String(),
    "group": pl.String(),
    "people": pl.Int64(),
    **{c: pl.Float64() for c in RATE_COLUMNS},
    "suppressed": pl.Boolean(),
}

HEADLINE = (
    "Flag rate is the share of the group's scored person-weeks that were flagged. It is the headline "
    "because every person-week is one chance to be flagged, so people who were in the data for "
    "fewer weeks do not pull their group's rate down."
)
COLUMN_NOTES = (
    "Ever flagged: share of the group's people flagged at least once.",
    "Precision: share of flagged person-weeks (with a known label) that led to an outcome "
    "within the horizon.",
    "Recall: share of person-weeks that led to an outcome within the horizon that were flagged.",
    "Event recall: share of the group's people with an outcome who were flagged at least once in the "
    "weeks before it.",
)


def format_value(value: float | int | None, decimals: int = 3) -> str:
    """A number for a table: `decimals` places for floats, thousands separators for ints, n/a if missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{decimals}f}"


@dataclass(frozen=True)
class FairnessAudit:
    """Flag rate, precision and recall per group of each protected attribute, small groups hidden.

    `table` has one row per attribute and group (attribute, group, people, flag_rate,
    ever_flagged_rate, precision, recall, event_recall, suppressed); a suppressed row has no numbers.
    `ratios` is the lowest over the highest flag rate among shown groups (None when fewer than two
    groups can be compared); `recall_ratios` the same for event recall (or recall without outcome
    timing). `warnings` are plain sentences; `note` says why there is no audit, when there is none.
    """

    table: pl.DataFrame
    ratios: dict[str, float | None]
    warnings: list[str]
    recall_ratios: dict[str, float | None] = field(default_factory=dict)
    recall_measure: str = "event_recall"
    threshold: int = DEFAULT_THRESHOLD
    horizon: int = DEFAULT_HORIZON
    note: str | None = None

    @property
    def attributes(self) -> list[str]:
        """The protected attributes audited, in the order of the people table."""
        return list(self.ratios)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (NaN becomes None) for logging as an artifact: aggregates only, no person ids."""
        attributes: dict[str, Any] = {}
        for attribute in self.attributes:
            rows = self.table.filter(pl.col("attribute") == attribute).drop("attribute").to_dicts()
            attributes[attribute] = {
                "flag_rate_ratio": _json_number(self.ratios.get(attribute)),
                "recall_ratio": _json_number(self.recall_ratios.get(attribute)),
                "recall_measure": self.recall_measure,
                "groups": [{k: _json_number(v) for k, v in row.items()} for row in rows],
            }
        return {
            "threshold": self.threshold,
            "horizon": self.horizon,
            "four_fifths": FOUR_FIFTHS,
            "headline": "flag_rate: share of the group's scored person-weeks that were flagged",
            "note": self.note,
            "attributes": attributes,
            "warnings": list(self.warnings),
        }

    def to_markdown(self, heading_level: int = 1) -> str:
        """The audit as markdown: a title at `heading_level`, one table per attribute, then warnings."""
        h = "#" * heading_level
        lines = [f"{h} Fairness audit", ""]
        if self.note:
            lines += [self.note, ""]
        if self.attributes:
            lines += [
                HEADLINE,
                "",
                *[f"- {note}" for note in COLUMN_NOTES],
                "",
                f"Groups with fewer than {self.threshold} people are suppressed, and so is the next-smallest "
                "group of the same attribute (more if needed, until the hidden groups hold "
                f"{self.threshold} people together), so a hidden group cannot be worked out from the totals. "
                "n/a: not computable, or resting on fewer than "
                f"{self.threshold} people (flagged people for precision, people with an outcome for recall).",
                "",
            ]
        for attribute in self.attributes:
            lines += [f"{h}# {attribute}", "", *self._attribute_table(attribute), ""]
            ratio = self.ratios.get(attribute)
            if ratio is None:
                lines.append("Lowest / highest flag rate: n/a (fewer than two groups to compare).")
            else:
                lines.append(f"Lowest / highest flag rate: {format_value(ratio)} (four-fifths rule: 0.8).")
            recall_ratio = self.recall_ratios.get(attribute)
            if recall_ratio is not None:
                lines.append(
                    f"Lowest / highest {self.recall_measure.replace('_', ' ')}: {format_value(recall_ratio)} "
                    "(few outcomes per group: compare with care)."
                )
            lines.append("")
        lines += [f"{h}# Warnings", ""]
        # The note already opens the audit; the warnings list keeps it for callers that only read warnings.
        shown = [w for w in self.warnings if w != self.note]
        lines += [f"- {w}" for w in shown] if shown else ["None."]
        return "\n".join(lines).rstrip() + "\n"

    def _attribute_table(self, attribute: str) -> list[str]:
        lines = [
            "| Group | People | Flag rate | Ever flagged | Precision | Recall | Event recall |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in self.table.filter(pl.col("attribute") == attribute).iter_rows(named=True):
            if row["suppressed"]:
                cells = ["suppressed", *["—"] * len(RATE_COLUMNS)]
            else:
                cells = [format_value(row["people"]), *(format_value(row[c]) for c in RATE_COLUMNS)]
            lines.append(f"| {row['group']} | " + " | ".join(cells) + " |")
        return lines


def fairness_audit(
    scored: pl.DataFrame,
    people: pl.DataFrame | None,
    threshold: int = DEFAULT_THRESHOLD,
    horizon: int = DEFAULT_HORIZON,
) -> FairnessAudit:
    """Audit flags per group of every `audit_*` column of `people` (null values form group "unknown").

    `scored` needs person_id, week and flagged; label (1/0/null) and weeks_to_outcome are used when
    present. Per group: people, flag rate (headline: share of person-weeks flagged), share of people
    ever flagged, precision, recall and event recall (an outcome 1 to `horizon` weeks after a flag).
    Groups with fewer than `threshold` people are suppressed, plus the next-smallest groups until the
    hidden ones hold `threshold` people together. No audit columns or no people table gives an audit
    that says so, not an error.
    """
    if threshold < 1:
        raise ValueError(f"threshold must be at least 1, got {threshold}")
    missing = {"person_id", "week", "flagged"} - set(scored.columns)
    if missing:
        raise ValueError(f"scored rows need columns {sorted(missing)} for a fairness audit")
    attributes = [] if people is None else [c for c in people.columns if c.startswith(AUDIT_PREFIX)]
    if not attributes:
        where = "There is no people table" if people is None else "The people table has no audit_* columns"
        note = f"{where}, so no fairness audit was possible."
        return FairnessAudit(
            table=pl.DataFrame(schema=TABLE_SCHEMA),
            ratios={},
            warnings=[note],
            threshold=threshold,
            horizon=horizon,
            note=note,
        )
    assert people is not None
    per_person = _per_person(scored, horizon)
    rows: list[dict[str, Any]] = []
    ratios: dict[str, float | None] = {}
    recall_ratios: dict[str, float | None] = {}
    warnings: list[str] = []
    recall_key = "event_recall" if "weeks_to_outcome" in scored.columns else "recall"
    for attribute in attributes:
        groups = _group_rows(scored, per_person, people, attribute, threshold)
        rows += groups
        shown = [g for g in groups if not g["suppressed"]]
        ratios[attribute], low, high = _min_max_ratio(shown, "flag_rate")
        warnings += _flag_rate_warnings(attribute, shown, ratios[attribute], low, high)
        # Shown, not warned about: with the handful of outcomes a group usually has, recall gaps of
        # this size come and go by chance, and a warning that fires on noise stops being read.
        recall_ratios[attribute] = _min_max_ratio(shown, recall_key)[0]
    table = pl.DataFrame(rows, schema=TABLE_SCHEMA, orient="row")
    return FairnessAudit(
        table=table,
        ratios=ratios,
        warnings=warnings,
        recall_ratios=recall_ratios,
        recall_measure=recall_key,
        threshold=threshold,
        horizon=horizon,
    )


def _per_person(scored: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """One row per scored person: flagged at all, and for outcomes, caught before it or not."""
    flagged = pl.col("flagged").fill_null(False)
    aggs = [flagged.any().alias("ever_flagged")]
    if "weeks_to_outcome" in scored.columns:
        # Same window as metrics.evaluate: an outcome 1 to `horizon` weeks after the scored week.
        in_window = pl.col("weeks_to_outcome").is_between(1, horizon).fill_null(False)
        aggs += [in_window.any().alias("has_outcome"), (flagged & in_window).any().alias("caught")]
    return scored.group_by("person_id").agg(aggs)


def _group_rows(
    scored: pl.DataFrame, per_person: pl.DataFrame, people: pl.DataFrame, attribute: str, threshold: int
) -> list[dict[str, Any]]:
    # One value per person (a duplicated person must not join twice); the key as text on both sides.
    lookup = people.select(
        pl.col("person_id").cast(pl.String), pl.col(attribute).cast(pl.String).alias("group")
    ).unique(subset="person_id", keep="first", maintain_order=True)

    def with_group(frame: pl.DataFrame) -> pl.DataFrame:
        return (
            frame.with_columns(pl.col("person_id").cast(pl.String))
            .join(lookup, on="person_id", how="left")
            .with_columns(pl.col("group").fill_null(UNKNOWN_GROUP))
        )

    weeks = with_group(scored.with_columns(pl.col("flagged").fill_null(False)))
    persons = with_group(per_person)
    has_label = "label" in scored.columns
    has_outcome = "has_outcome" in per_person.columns

    sizes = dict(persons.group_by("group").len().iter_rows())
    hidden = suppressed(sizes, threshold)
    rows = []
    for group in sorted(sizes):
        row: dict[str, Any] = {"attribute": attribute, "group": group, "suppressed": group in hidden}
        row.update(dict.fromkeys(("people", *RATE_COLUMNS)))
        if group not in hidden:
            week_rows = weeks.filter(pl.col("group") == group)
            person_rows = persons.filter(pl.col("group") == group)
            row["people"] = sizes[group]
            row["flag_rate"] = float(week_rows["flagged"].mean())
            row["ever_flagged_rate"] = float(person_rows["ever_flagged"].mean())
            if has_label:
                row["precision"] = _rate(
                    week_rows.filter(pl.col("flagged") & pl.col("label").is_not_null()),
                    pl.col("label") == 1,
                    threshold,
                )
                row["recall"] = _rate(week_rows.filter(pl.col("label") == 1), pl.col("flagged"), threshold)
            if has_outcome:
                row["event_recall"] = _rate(
                    person_rows.filter(pl.col("has_outcome")), pl.col("caught"), threshold
                )
        rows.append(row)
    return rows


def _rate(rows: pl.DataFrame, hit: pl.Expr, threshold: int) -> float | None:
    """Share of `rows` where `hit` holds; None when the rows come from fewer than `threshold` people.

    Why: the analyst knows who was flagged and who left, so a rate over one or two people (say, the
    only resignation in a group) would tell them that person's protected attribute.
    """
    if rows.is_empty() or rows["person_id"].n_unique() < threshold:
        return None
    return float(rows.select(hit.mean()).item())


def _min_max_ratio(
    shown: list[dict[str, Any]], key: str
) -> tuple[float | None, dict[str, Any] | None, dict[str, Any] | None]:
    valued = [g for g in shown if g[key] is not None]
    if len(valued) < 2:
        return None, None, None
    low = min(valued, key=lambda g: (g[key], g["group"]))
    high = max(valued, key=lambda g: (g[key], g["group"]))
    if high[key] == 0:
        return None, low, high
    return low[key] / high[key], low, high


def _flag_rate_warnings(
    attribute: str,
    shown: list[dict[str, Any]],
    ratio: float | None,
    low: dict[str, Any] | None,
    high: dict[str, Any] | None,
) -> list[str]:
    if len(shown) < 2:
        return [
            f"For {attribute}, fewer than two groups are large enough to show, so flag rates cannot be "
            "compared."
        ]
    if ratio is None or low is None or high is None:
        return []
    if ratio >= FOUR_FIFTHS:
        return []
    warning = (
        f"For {attribute}, group {low['group']} is flagged at {format_value(ratio)} times the rate of group "
        f"{high['group']} ({format_value(low['flag_rate'])} against {format_value(high['flag_rate'])} of "
        f"person-weeks), under the four-fifths rule ({FOUR_FIFTHS}). Find out why (a real difference in "
        "strain, or a signal that reads one group differently) before relying on the flags."
    )
    if min(low["people"], high["people"]) < SMALL_GROUP:
        warning += f" With fewer than {SMALL_GROUP} people in a group, chance alone can make a gap this size."
    return [warning]


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
