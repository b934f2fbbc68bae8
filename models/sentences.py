"""The sentences of the explanations: a signal's real numbers against the person's normal, in words.

Pure: one row's feature values in, one sentence (or None) out, with no person identifier. Which
signal speaks for a family, and in which order the families come, is models.explain's business.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from features.catalog import SignalInfo
from features.context import weeks_since
from features.drift import drift_feature
from models.history_words import TWO_YEAR_NORMAL, absence_span_words, long_normal_words

# The causes that lead are those whose signals drifted the risky way over this many weeks against
# the person's two-year normal (features.drift), furthest first.
EVIDENCE_WEEKS = 13
# A sentence an analyst can see the move in: counts at least 10% off the normal, answers at least
# half a point (1-5 scale) off the usual, or their 13-week mean a quarter point off the two-year
# normal, answering at least 10 points less often. A family speaks through a signal that moved this
# clearly when one of its signals did; only otherwise through one that moved less (on the demo's
# flags, before this rule, leading reasons such as "45.2 a week against a normal of 44.0").
CLEAR_CHANGE = 0.10
CLEAR_ANSWER_POINTS = 0.5
CLEAR_ANSWER_DRIFT = 0.25
CLEAR_RESPONSE_POINTS = 10
CONTEXT_PREFIX = weeks_since("")


def number(value: float, decimals: int = 1) -> str:
    """One decimal, trailing '.0' kept so that averages read as averages (4.0, not 4)."""
    return f"{value:.{decimals}f}"


def count(value: float) -> str:
    """Whole numbers for counts that are exact; one decimal where they are not (half days)."""
    return f"{round(value):d}" if abs(value - round(value)) < 1e-6 else number(value)


def plural(value: float, word: str) -> str:
    """A count with its word, in the plural unless the count is one."""
    return f"{count(value)} {word}" if count(value) == "1" else f"{count(value)} {word}s"


def points_to_risk(recent: float, usual: float, info: SignalInfo, contribution: float) -> bool:
    """Do the numbers move the way that raises risk, and visibly so once rounded?"""
    if number(recent) == number(usual):
        return False
    if info.direction == "falls":
        return recent < usual
    if info.direction == "rises":
        return recent > usual
    if info.known:
        # The catalog describes it as having no risky way (context only, e.g. Copilot use).
        return False
    # A signal the catalog does not know: the model's sign is all there is.
    return contribution > 0


def present(value: object) -> bool:
    """Whether a feature value is there (a number, not NaN or None)."""
    return isinstance(value, (int, float)) and not math.isnan(value)


def activity_sentence(
    info: SignalInfo, row: dict[str, float | None], contribution: float, clear: bool = False
) -> str | None:
    """An activity signal's recent weekly level against the person's normal, or None."""
    recent, usual = row.get(f"{info.name}__level_4w"), row.get(f"{info.name}__baseline")
    if not (present(recent) and present(usual)) or not points_to_risk(recent, usual, info, contribution):
        return None
    if clear and abs(recent - usual) < CLEAR_CHANGE * abs(usual):
        return None
    unit = f" {info.unit}" if info.unit else " on average"
    return f"{info.label}: {number(recent)}{unit} over the last 4 weeks, against a normal of {number(usual)}"


def answer_sentence(
    info: SignalInfo, row: dict[str, float | None], contribution: float, clear: bool = False
) -> str | None:
    """A survey item's latest answer against the person's usual answers, or None."""
    latest, usual = row.get(f"{info.name}__answer_latest"), row.get(f"{info.name}__baseline")
    if not (present(latest) and present(usual)) or not points_to_risk(latest, usual, info, contribution):
        return None
    if clear and abs(latest - usual) < CLEAR_ANSWER_POINTS:
        return None
    return f"{info.label}: latest answer {number(latest)}, against a usual {number(usual)}"


@dataclass(frozen=True)
class History:
    """How much history one row stands on: its week and the first week of each of its signals."""

    week: date | None = None
    since: Mapping[str, date] = field(default_factory=dict)

    def long_normal(self, signal: str) -> str:
        """The long normal in words (models.history_words)."""
        if self.week is None:
            return TWO_YEAR_NORMAL
        return long_normal_words(self.week, self.since.get(signal))

    def absence_span(self, signal: str) -> str:
        """The absence window in words (models.history_words)."""
        if self.week is None:
            return absence_span_words(date.min, None)
        return absence_span_words(self.week, self.since.get(signal))


UNKNOWN_HISTORY = History()


def drift_sentence(
    info: SignalInfo, row: dict[str, float | None], clear: bool = False, history: History = UNKNOWN_HISTORY
) -> str | None:
    """A signal's slow drift against the long normal, net of what everybody shared, or None."""
    drift = row.get(f"{info.name}__{drift_feature(EVIDENCE_WEEKS)}")
    if not present(drift) or info.risk_sign == 0 or drift * info.risk_sign <= 0:
        return None
    span = f"over the last {EVIDENCE_WEEKS} weeks"
    versus = f"{history.long_normal(info.name)}, net of what everybody shared"
    if info.kind == "activity":
        # Drift of counts is a difference of log(1 + value): a ratio once exponentiated.
        percent = round(100 * abs(math.expm1(drift)))
        if percent < (100 * CLEAR_CHANGE if clear else 1):
            return None
        return f"{info.label}: {span}, {percent}% {'below' if drift < 0 else 'above'} {versus}"
    if number(abs(drift)) == number(0.0) or (clear and abs(drift) < CLEAR_ANSWER_DRIFT):
        return None
    side = "below" if drift < 0 else "above"
    return f"{info.label}: answers {span}, {number(abs(drift))} {side} {versus}"


def response_sentence(info: SignalInfo, row: dict[str, float | None], clear: bool = False) -> str | None:
    """How much less often the person answers a survey item than they used to, or None."""
    rate, change = row.get(f"{info.name}__response_rate_12w"), row.get(f"{info.name}__response_rate_change")
    if not (present(rate) and present(change)):
        return None
    recent, usual = round(100 * rate), round(100 * (rate - change))
    # Answering less often is the risky way whatever the question is about.
    if recent >= usual or (clear and usual - recent < CLEAR_RESPONSE_POINTS):
        return None
    return f"{info.label}: answered in {recent}% of the last 12 weeks, against a usual {usual}%"


def absence_sentence(
    info: SignalInfo, row: dict[str, float | None], history: History = UNKNOWN_HISTORY
) -> str | None:
    """Short absences over the absence window (days and spells), or None."""
    days, spells = row.get(f"{info.name}__absence_days_26w"), row.get(f"{info.name}__absence_spells_26w")
    if not (present(days) and days > 0) or info.direction == "falls":
        return None
    spells_text = f" in {plural(spells, 'spell')}" if present(spells) and spells > 0 else ""
    span = history.absence_span(info.name)
    return f"{info.label}: {plural(days, 'day')}{spells_text} {'' if span == 'this week' else 'over '}{span}"


def context_sentence(feature: str, row: dict[str, float | None]) -> str | None:
    """A context event in words: how many weeks since it happened, or None."""
    value = row.get(feature)
    if not present(value):
        return None
    if feature == "tenure_weeks":
        return f"Time in the organisation: {plural(value, 'week')}"
    if feature.startswith(CONTEXT_PREFIX):
        event = feature.removeprefix(CONTEXT_PREFIX).replace("_", " ")
        ago = "this week" if value < 1 else f"{plural(value, 'week')} ago"
        return f"Recent change: {event} {ago}"
    return None
