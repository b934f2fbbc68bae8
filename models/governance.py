"""What a person may see about themselves, and how flags are made, in plain words.

Pure: frames and settings in, JSON-ready dicts and sentences out. `flows.governance` reads the
store and the landing folder; `flows.governance_pages` renders HTML. A subject-access record holds
one person's own flags, reasons, decisions, notes and the views of their flags, and never a team,
another person or a reviewer's address.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from features.catalog import Catalog

OUTCOME_WORDS = {"resigned": "leaving the organisation", "long_term_sick_leave": "long-term sick leave"}
DECISION_WORDS = {
    "conversation_planned": "a conversation was planned",
    "not_a_concern": "not a concern",
    "false_alarm": "a false alarm",
    "other": "other",
}
# The audit entries that concern one person, in words; others (log-ins, queue views) name nobody.
PERSON_ACTIONS = {
    "view_flag": "opened the flag page",
    "view_flag_refused": "was refused the flag page",
    "decision": "recorded a decision",
    "decision_failed": "tried to record a decision (not stored)",
    "subject_access": "exported a copy of this record",
    "erasure": "erased the flags, reasons, decisions and notes",
}
ERASURE = "erasure"


@dataclass(frozen=True)
class Policy:
    """The configuration in force that a person or a works council should know, in numbers."""

    horizon_weeks: int
    capacity: float
    min_risk: float
    cooldown_weeks: int
    risk_rise: float
    anonymity_threshold: int
    retention_weeks: int
    audit_retention_weeks: int
    outcome_events: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """The policy of a settings object (any object with these attributes)."""
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "outcome_events": list(self.outcome_events)}


def percent(share: float) -> str:
    """A share as a percentage for prose: 0.02 -> "2%"."""
    return f"{share * 100:g}%"


def outcome_words(events: Sequence[str]) -> str:
    """The outcome events in words: "leaving the organisation or long-term sick leave"."""
    words = [OUTCOME_WORDS.get(e, e.replace("_", " ")) for e in events]
    return " or ".join([", ".join(words[:-1]), words[-1]] if len(words) > 2 else words)


def how_flags_are_made(policy: Policy) -> list[str]:
    """Plain paragraphs on how a flag comes about and what it leads to."""
    return [
        "Once a week ewarn reads a few work signals per person (such as how many questions someone "
        "asked, how often priorities changed, pulse-survey answers), as weekly numbers under a code "
        "instead of a name. It never reads the content of messages, keystrokes, cameras or voice.",
        "It compares each signal with the person's own normal over the past months and with what the "
        "whole team went through in the same weeks. A statistical model, learned from earlier years of "
        "the same organisation, turns those comparisons into an estimated chance of "
        f"{outcome_words(policy.outcome_events)} within {policy.horizon_weeks} weeks.",
        f"Each week at most {percent(policy.capacity)} of people, those with the highest estimates and "
        f"never anyone below {percent(policy.min_risk)}, are flagged. Someone flagged in the last "
        f"{policy.cooldown_weeks} weeks is flagged again only if the estimate rose by "
        f"{percent(policy.risk_rise)} or more.",
        "A flag names the signals that changed most against the person's own normal, in words, and "
        "suggests questions to open a supportive conversation. An HR analyst reads it and decides: plan "
        "a conversation, not a concern, a false alarm, or other, with a note. A flag decides nothing by "
        "itself: ewarn takes no decision about pay, appraisal, promotion, contract or dismissal.",
        f"Flags, their reasons, decisions and notes are kept {policy.retention_weeks} weeks; the record "
        f"of who looked at them {policy.audit_retention_weeks} weeks.",
    ]


def _json_list(text: Any) -> list[Any]:
    return json.loads(text) if isinstance(text, str) and text else []


def subject_access_record(
    pseudonym: str,
    flags: pl.DataFrame,
    reasons: pl.DataFrame,
    decisions: pl.DataFrame,
    audit: pl.DataFrame,
    *,
    policy: Policy,
    catalog: Catalog,
    data_read: Mapping[str, Any],
    listed: bool,
    generated_at: str,
) -> dict[str, Any]:
    """Everything ewarn holds about one person, JSON-ready.

    `flags`: flag_id, as_of, band, risk, leading_family, families, series, prompts (JSON text),
    status, model_name, model_version, data_last_week (a team column, if any, is ignored).
    `reasons`: flag_id, rank, family_label, signal_label, contribution, sentence. `decisions`:
    flag_id, decision, note, reviewer, decided_at. `audit`: at, actor, action, target (entries
    about this person). `data_read`: what the landing folder holds about them (see
    `flows.governance.landing_summary`). `listed`: whether they are on the opt-out list.
    """
    said: dict[str, list[dict[str, Any]]] = {}
    for row in reasons.sort("flag_id", "rank").iter_rows(named=True):
        said.setdefault(row["flag_id"], []).append(
            {
                "family": row["family_label"],
                "signal": row["signal_label"],
                "sentence": row["sentence"],
                "contribution": round(float(row["contribution"]), 4),
            }
        )
    weeks = {row["flag_id"]: str(row["as_of"]) for row in flags.iter_rows(named=True)}
    flag_list = [
        {
            "week": str(row["as_of"]),
            "risk_band": row["band"],
            "estimated_risk": round(float(row["risk"]), 3),
            "leading_family": catalog.family(row["leading_family"]).label if row["leading_family"] else None,
            "status": DECISION_WORDS.get(row["status"], "not reviewed yet"),
            "model": {"name": row["model_name"], "version": row["model_version"]},
            "data_up_to_week": str(row["data_last_week"]),
            "reasons": said.get(row["flag_id"], []),
            "family_contributions": _json_list(row["families"]),
            "conversation_prompts": _json_list(row["prompts"]),
            "signals": _json_list(row["series"]),
        }
        for row in flags.sort("as_of").iter_rows(named=True)
    ]
    decision_list = [
        {
            "flag_week": weeks.get(row["flag_id"]),
            "decision": DECISION_WORDS.get(row["decision"], row["decision"]),
            "note": row["note"],
            "by": row["reviewer"],
            "at": row["decided_at"],
        }
        for row in decisions.sort("decided_at").iter_rows(named=True)
    ]
    flag_ids = {f"flag:{flag_id}": week for flag_id, week in weeks.items()}
    access = [
        {
            "at": row["at"],
            "who": row["actor"],
            "what": PERSON_ACTIONS.get(row["action"], row["action"].replace("_", " ")),
            "flag_week": flag_ids.get(row["target"]),
        }
        for row in audit.sort("at").iter_rows(named=True)
    ]
    erased = [row["at"] for row in audit.iter_rows(named=True) if row["action"] == ERASURE]
    return {
        "pseudonym": pseudonym,
        "generated_at": generated_at,
        "how_flags_are_made": how_flags_are_made(policy),
        "flags": flag_list,
        "decisions": decision_list,
        "access": access,
        "data_read": dict(data_read),
        "opt_out_listed": listed,
        "erased_at": erased[-1] if erased else None,
        "policy": policy.to_dict(),
    }
