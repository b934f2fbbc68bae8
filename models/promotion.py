"""Whether a new model takes the champion alias: only when it is clearly better, or a person says so."""

from __future__ import annotations

from dataclasses import dataclass

from models.tracking import CHALLENGER, CHAMPION

DEFAULT_MARGIN = 0.01  # average precision must rise by at least this much to replace a champion


@dataclass(frozen=True)
class PromotionDecision:
    """The alias a new model version receives and why, in words."""

    alias: str
    reason: str
    new_average_precision: float
    champion_average_precision: float | None


def decide(
    new_ap: float,
    champion_ap: float | None,
    *,
    champion_exists: bool,
    margin: float = DEFAULT_MARGIN,
    promote: bool = False,
    not_comparable: str | None = None,
) -> PromotionDecision:
    """Champion when there is none, when it beats the champion by `margin`, or when a person promotes it.

    A champion that exists but could not be compared (`champion_ap` None) keeps its alias;
    `not_comparable` says why, when that is known.
    """
    if promote:
        return PromotionDecision(CHAMPION, "promoted by a person (--promote)", new_ap, champion_ap)
    if not champion_exists:
        return PromotionDecision(CHAMPION, "there was no champion yet", new_ap, None)
    if champion_ap is None:
        why = f" ({not_comparable})" if not_comparable else ""
        reason = (
            f"the champion could not be compared on the same back-test{why}, so it stays champion; "
            "use --promote to replace it"
        )
        return PromotionDecision(CHALLENGER, reason, new_ap, None)
    if new_ap >= champion_ap + margin:
        reason = f"average precision {new_ap:.3f} beats the champion's {champion_ap:.3f} by at least {margin}"
        return PromotionDecision(CHAMPION, reason, new_ap, champion_ap)
    reason = f"average precision {new_ap:.3f} does not beat the champion's {champion_ap:.3f} by {margin}"
    return PromotionDecision(CHALLENGER, reason, new_ap, champion_ap)
