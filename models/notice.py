"""The notice for workers: what ewarn reads and never reads, what a flag leads to, how long what is
kept, and how to use one's rights; generated from the signal catalog and the settings in force.

Pure: catalog and policy in, sections out, as markdown here (editable) or HTML in
`flows.governance_pages`. Square brackets mark what only the organisation can fill in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.catalog import DEFAULT_CATALOG_PATH, Catalog
from models.governance import Policy, outcome_words, percent

NEVER_USED = (
    "the content of e-mails, chat messages, documents or calls (only how many there were)",
    "keystrokes, mouse movements, screenshots, websites visited or applications used",
    "cameras, microphones, voice, face or any other biometric data, and no reading of emotions",
    "location, private life or social media",
    "the reasons for an absence or any medical information (only the number of short absence days)",
)
LEAVE_NOTE = "Weeks with planned leave are left out of your normal and never read as a decline."


@dataclass(frozen=True)
class Section:
    """One part of the notice: a heading, paragraphs, and bullet points after them."""

    title: str
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = field(default_factory=tuple)


def catalog_families(catalog: Catalog) -> list[dict[str, Any]]:
    """Each family in use with its label, description and its signals' labels (catalog order)."""
    grouped: dict[str, list[str]] = {}
    for signal in catalog.signals.values():
        unit = f" ({signal.unit})" if signal.unit else ""
        grouped.setdefault(signal.family, []).append(f"{signal.label}{unit}")
    return [
        {
            "family": name,
            "label": catalog.family(name).label,
            "description": catalog.family(name).description,
            "signals": labels,
        }
        for name, labels in grouped.items()
    ]


def notice_sections(policy: Policy, catalog: Catalog, model: Mapping[str, Any] | None) -> list[Section]:
    """The notice, section by section. `model`: the champion in force (name, version), if any."""
    families = catalog_families(catalog)
    kinds = {s.kind for s in catalog.signals.values()}
    source = "built in" if catalog.source == str(DEFAULT_CATALOG_PATH) else Path(catalog.source).name
    in_force = f"model version {model['version']} ({model['name']})" if model else "no model yet"
    return [
        Section(
            "Why we use ewarn",
            (
                "[Organisation name] uses ewarn to notice early, and with care, when work may be becoming "
                "harder or less satisfying for someone, so that a person can offer a supportive "
                "conversation in time. This notice explains what ewarn reads, what it never reads, what "
                "a flag leads to, how long things are kept, and your rights.",
                "[Fill in: who is responsible for ewarn, the legal basis, the date of the works council's "
                "consent, and the contact for questions.]",
            ),
        ),
        Section(
            "What ewarn reads",
            (
                "Once a week ewarn reads these signals per person as weekly numbers, from [the source "
                "systems]. Your name is replaced by a code (a pseudonym) before ewarn sees anything.",
            ),
            tuple(
                f"{f['label']}: {'; '.join(f['signals'])}."
                + (f" ({f['description']})" if f["description"] else "")
                for f in families
            )
            + ((LEAVE_NOTE,) if "leave" in kinds else ())
            + (
                "Dates of joining and of leaving or long-term sick leave, to learn from earlier years "
                "what came before someone left.",
                "Characteristics such as age band or gender, where supplied, only to check that ewarn "
                "treats groups alike (the fairness audit); never to score anyone.",
            ),
        ),
        Section("What ewarn never reads", ("ewarn never uses:",), NEVER_USED),
        Section(
            "What a flag is, and what it leads to",
            (
                "ewarn compares each signal with your own normal and with what your whole team went "
                "through in the same weeks, and estimates the chance of "
                f"{outcome_words(policy.outcome_events)} within {policy.horizon_weeks} weeks. "
                f"Each week at most {percent(policy.capacity)} of "
                f"people, those with the highest estimates and none below {percent(policy.min_risk)}, "
                "are flagged.",
                "A flag is an invitation for a person (an HR analyst) to look more closely and, where it "
                "seems to help, to offer a conversation about what would help you next: recognition, "
                "clearer goals, room to decide or to grow, workload. A flag is never a judgement about "
                "you, and never leads to a decision by itself: ewarn takes or prepares no decision about "
                "pay, appraisal, promotion, contract or dismissal.",
            ),
        ),
        Section(
            "Who sees what",
            (),
            (
                "HR analysts see the flags of the teams they are responsible for, under your code, with "
                "the reasons in words. [Fill in who else, if anyone.]",
                f"Team figures are shown only for teams of {policy.anonymity_threshold} or more people, "
                "and never in a way that lets a smaller team be worked out.",
                "Every look at a flag and every decision is logged.",
            ),
        ),
        Section(
            "How long what is kept",
            (),
            (
                f"Flags, their reasons, decisions and notes: {policy.retention_weeks} weeks, then they are "
                "deleted automatically.",
                f"The log of who looked at what: {policy.audit_retention_weeks} weeks (the law asks for at "
                "least six months).",
                "The weekly signals themselves stay in [the source systems] under their own rules.",
            ),
        ),
        Section(
            "Your rights",
            ("Ask [contact] for any of these; you will get an answer within a month.",),
            (
                "See what is held about you: a copy of every flag, its reasons, the decisions and notes, "
                "and who looked at them and when.",
                "Have it erased: your flags, reasons, decisions and notes are deleted and ewarn stops "
                "reading your data from the next night on.",
                "Object, or be left out for a while (during leave, say): you are put on the opt-out list, "
                "and no run reads, scores or learns from your data while you are on it.",
                "Complain to [the data-protection authority] if you think your data is mishandled.",
            ),
        ),
        Section(
            "The configuration in force",
            (
                f"Horizon {policy.horizon_weeks} weeks; at most {percent(policy.capacity)} of people flagged "
                f"a week, none below an estimate of {percent(policy.min_risk)}; no new flag within "
                f"{policy.cooldown_weeks} weeks unless the estimate rose by {percent(policy.risk_rise)}; "
                f"teams shown from {policy.anonymity_threshold} people; {in_force}; signal catalog: "
                f"{source}.",
            ),
        ),
    ]


def notice_markdown(sections: list[Section], generated_at: str) -> str:
    """The notice as editable markdown."""
    lines = ["# How ewarn works: information for employees", "", f"_Generated {generated_at}._", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        lines += [f"- {bullet}" for bullet in section.bullets]
        if section.bullets:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
