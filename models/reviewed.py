"""What reviewers decided, as numbers: decisions are data about how good the flags are."""

from __future__ import annotations

import polars as pl

CONCERN = "conversation_planned"
FALSE_ALARM = "false_alarm"


def _latest_per_flag(reviews: pl.DataFrame) -> pl.DataFrame:
    # A flag may be decided more than once (a correction); its newest decision counts.
    return reviews.sort("review_id").unique("flag_id", keep="last", maintain_order=True)


def reviewed_flag_metrics(reviews: pl.DataFrame) -> dict[str, float]:
    """Reviewed flags, the share reviewers found a real concern (precision) and the false-alarm share.

    A flag counts as right when its reviewer planned a conversation; "not a concern", "false
    alarm" and "other" count against it. With no reviews yet the result is empty.
    """
    if reviews.height == 0:
        return {}
    latest = _latest_per_flag(reviews)
    n = latest.height
    return {
        "flags": float(n),
        "precision": latest.filter(pl.col("decision") == CONCERN).height / n,
        "false_alarm_rate": latest.filter(pl.col("decision") == FALSE_ALARM).height / n,
    }


def false_alarm_rate_by_family(reviews: pl.DataFrame) -> pl.DataFrame:
    """Per leading family of reviewed flags: how many were reviewed and were false alarms, and the share."""
    latest = _latest_per_flag(reviews)
    return (
        latest.group_by(pl.col("leading_family").fill_null("none"))
        .agg(
            pl.len().alias("reviewed"),
            (pl.col("decision") == FALSE_ALARM).sum().alias("false_alarms"),
            (pl.col("decision") == FALSE_ALARM).mean().alias("false_alarm_rate"),
        )
        .sort("reviewed", "leading_family", descending=[True, False])
    )
