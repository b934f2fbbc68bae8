"""A flag's risk per outcome in words: which outcome most of the risk points to. Pure: record in, text out.

Outcome names come from the data (the configured outcome events, EWARN_OUTCOME_EVENTS), so they
are labelled from the name itself, never from a fixed list.
"""

from __future__ import annotations

from models.flag_records import OutcomeRisks

# The contract's own outcome events read as nouns; any other configured event is named after itself.
_CONTRACT_OUTCOMES = {"resigned": "resignation", "long_term_sick_leave": "long-term sick leave"}


def outcome_label(outcome: str) -> str:
    """An outcome event as words: the contract's as nouns ("resigned": "resignation"), others with
    underscores to spaces ("burn_out": "burn out")."""
    return _CONTRACT_OUTCOMES.get(outcome) or " ".join(outcome.replace("_", " ").split())


def percent(value: float) -> str:
    """A risk as a whole percentage; below one percent says so instead of rounding to 0%."""
    return "under 1%" if 0 < value < 0.005 else f"{value:.0%}"


def risk_sentence(curve: OutcomeRisks) -> str:
    """One plain sentence: the leading outcome's risk within the horizon, the others' beside it.

    E.g. "Most of the risk points to resignation: 14% within 12 weeks (long-term sick leave 4%)."
    """
    horizon = curve.horizon
    lead = curve.within(curve.leading, horizon)
    others = ", ".join(
        f"{outcome_label(o)} {percent(curve.within(o, horizon))}" for o in curve.risks if o != curve.leading
    )
    return (
        f"Most of the risk points to {outcome_label(curve.leading)}: {percent(lead)} within {horizon} weeks"
        + (f" ({others})." if others else ".")
    )


def curve_description(curve: OutcomeRisks) -> str:
    """The chart's numbers in words, for screen readers: each outcome's risk at every week shown."""
    return " ".join(
        f"{outcome_label(o).capitalize()}: "
        + ", ".join(f"{percent(v)} within {w} weeks" for w, v in zip(curve.weeks, values, strict=True))
        + "."
        for o, values in curve.risks.items()
    )
