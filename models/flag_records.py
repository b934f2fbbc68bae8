"""A flag as the flag store holds it, typed: built here, and read back here by the report and the page.

The store keeps a flag's families, signal series, prompts and risk per outcome as JSON text
(their formats are in `flows.store_schema`). Every writer encodes them with `FlagRecord.to_row`
(or the encoders below) and every reader decodes them with `FlagRecord.from_row`, so the format
lives in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import polars as pl


@dataclass(frozen=True)
class FamilyShare:
    """One family's summed contribution to a flag's risk (log-odds; positive raises it)."""

    family: str
    label: str
    contribution: float


@dataclass(frozen=True)
class SignalSeries:
    """The recent weeks of one signal behind a flag's reasons, against the person's own normal."""

    signal: str
    label: str
    unit: str
    direction: str
    weeks: tuple[str, ...]  # ISO dates, oldest first
    values: tuple[float | None, ...]  # one per week; None where the week has no value
    normal: float | None


@dataclass(frozen=True)
class OutcomeRisks:
    """Each outcome's risk (cumulative incidence) within each of `weeks`, and which leads at the horizon."""

    weeks: tuple[int, ...]  # weeks ahead, ascending: 4, 8, 12, 26 (the horizon among them)
    risks: Mapping[str, tuple[float, ...]]  # outcome event name -> one risk per week
    horizon: int  # the champion's horizon: the week the leading outcome is judged at
    leading: str  # the outcome with the largest risk within the horizon

    def within(self, outcome: str, weeks: int) -> float:
        """The outcome's risk within `weeks` (the last end at or before it; 0 before the first)."""
        ends = [i for i, end in enumerate(self.weeks) if end <= weeks]
        return self.risks[outcome][ends[-1]] if ends else 0.0


@dataclass(frozen=True)
class FlagRecord:
    """One flag: who, how high, why (by family), the signals to look at and how to open a conversation."""

    flag_id: str
    person_id: str
    team_id: str | None
    risk: float
    band: str
    rank: int
    leading_family: str | None
    families: tuple[FamilyShare, ...] = ()  # every family, largest contribution first
    series: tuple[SignalSeries, ...] = ()
    prompts: tuple[str, ...] = ()  # the leading family's conversation prompts
    # None when the champion has no risk per outcome (too few of an outcome, or trained before it).
    outcome_risks: OutcomeRisks | None = None

    def to_row(self) -> dict[str, Any]:
        """The flag as a row of the store's `flags` table, its lists as JSON text."""
        return {
            **{name: getattr(self, name) for name in FLAG_COLUMNS},
            "families": encode_families(self.families),
            "series": encode_series(self.series),
            "prompts": encode_prompts(self.prompts),
            "outcome_risks": encode_outcome_risks(self.outcome_risks),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> FlagRecord:
        """The flag of a `flags` row (other columns, such as the review status, are ignored)."""
        return cls(
            flag_id=row["flag_id"],
            person_id=row["person_id"],
            team_id=row["team_id"],
            risk=row["risk"],
            band=row["band"],
            rank=row["rank"],
            leading_family=row["leading_family"],
            families=tuple(FamilyShare(**item) for item in json.loads(row["families"] or "[]")),
            series=tuple(
                SignalSeries(**{**item, "weeks": tuple(item["weeks"]), "values": tuple(item["values"])})
                for item in json.loads(row["series"] or "[]")
            ),
            prompts=tuple(json.loads(row["prompts"] or "[]")),
            # .get: rows read before the column existed (a frame built by an older writer) have none.
            outcome_risks=decode_outcome_risks(row.get("outcome_risks")),
        )


@dataclass(frozen=True)
class ReasonRecord:
    """One reason of a flag in words, with the family and signal it comes from."""

    flag_id: str
    rank: int
    family: str
    family_label: str
    signal: str
    signal_label: str
    contribution: float
    sentence: str


FLAG_COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(FlagRecord))
# Nullable, added after version 4 of the store: a writer that leaves them out stores them empty.
OPTIONAL_FLAG_COLUMNS: tuple[str, ...] = ("outcome_risks",)
REASON_COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(ReasonRecord))
_FLAG_SCHEMA = {
    "flag_id": pl.String,
    "person_id": pl.String,
    "team_id": pl.String,
    "risk": pl.Float64,
    "band": pl.String,
    "rank": pl.Int64,
    "leading_family": pl.String,
    "families": pl.String,
    "series": pl.String,
    "prompts": pl.String,
    "outcome_risks": pl.String,
}
_REASON_SCHEMA = {
    "flag_id": pl.String,
    "rank": pl.Int64,
    "family": pl.String,
    "family_label": pl.String,
    "signal": pl.String,
    "signal_label": pl.String,
    "contribution": pl.Float64,
    "sentence": pl.String,
}


def encode_families(families: Iterable[FamilyShare]) -> str:
    """`flags.families` as the store holds it."""
    return json.dumps([asdict(family) for family in families])


def encode_series(series: Iterable[SignalSeries]) -> str:
    """`flags.series` as the store holds it."""
    return json.dumps([asdict(item) for item in series])


def encode_prompts(prompts: Iterable[str]) -> str:
    """`flags.prompts` as the store holds it."""
    return json.dumps(list(prompts))


def encode_outcome_risks(curve: OutcomeRisks | None) -> str | None:
    """`flags.outcome_risks` as the store holds it (None: no curve)."""
    if curve is None:
        return None
    return json.dumps(
        {
            "weeks": list(curve.weeks),
            "risks": {outcome: list(values) for outcome, values in curve.risks.items()},
            "horizon": curve.horizon,
            "leading": curve.leading,
        }
    )


def decode_outcome_risks(text: str | None) -> OutcomeRisks | None:
    """The curve of a `flags.outcome_risks` value (None, or an empty text, is no curve)."""
    if not text:
        return None
    item = json.loads(text)
    return OutcomeRisks(
        weeks=tuple(int(w) for w in item["weeks"]),
        risks={str(o): tuple(float(v) for v in values) for o, values in item["risks"].items()},
        horizon=int(item["horizon"]),
        leading=str(item["leading"]),
    )


def flag_frame(records: Iterable[FlagRecord]) -> pl.DataFrame:
    """The flags as rows of the store's `flags` table (typed, even when there are none)."""
    return pl.DataFrame([record.to_row() for record in records], schema=_FLAG_SCHEMA)


def reason_frame(records: Iterable[ReasonRecord]) -> pl.DataFrame:
    """The reasons as rows of the store's `reasons` table (typed, even when there are none)."""
    return pl.DataFrame([asdict(record) for record in records], schema=_REASON_SCHEMA)
