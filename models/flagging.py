"""Which scored people become flags tonight: capacity, a minimum risk, a cooldown, no double review.

Pure: frames in, frames out. The nightly flow reads the earlier flags from the store and writes
the chosen ones back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from models.metrics import DEFAULT_CAPACITY

# Calibrated risk of an outcome within the horizon -> words for reviewers (never raw numbers).
BANDS = ((0.5, "very high"), (0.25, "high"), (0.0, "elevated"))


@dataclass(frozen=True)
class FlagPolicy:
    """How many people reviewers can see, and when someone is flagged again."""

    capacity: float = DEFAULT_CAPACITY
    min_risk: float = 0.10
    cooldown_weeks: int = 6
    risk_rise: float = 0.10


def risk_band(risk: float) -> str:
    """The band a calibrated risk falls in: elevated, high or very high."""
    return next(label for floor, label in BANDS if risk >= floor)


def band_expr(risk: pl.Expr) -> pl.Expr:
    """`risk_band` as a Polars expression."""
    expr = pl.lit(BANDS[-1][1])
    for floor, label in reversed(BANDS[:-1]):
        expr = pl.when(risk >= floor).then(pl.lit(label)).otherwise(expr)
    return expr


def capacity_quota(people: int, capacity: float) -> int:
    """Reviewer capacity in people: the top share, at least one when anyone was scored."""
    if people <= 0:
        return 0
    # The small tolerance keeps 2% of 1,000 at 20, not 21, despite binary floating point.
    return max(1, math.ceil(people * capacity - 1e-9))


def blocked_people(
    history: pl.DataFrame, scored: pl.DataFrame, as_of: date, policy: FlagPolicy
) -> pl.DataFrame:
    """People who may not be flagged tonight, with the rule that blocks them.

    `history` holds earlier flags (person_id, as_of, risk, status). A flag still open (no
    decision yet) blocks its person whatever the risk: one review at a time. A flag within the
    cooldown blocks unless tonight's risk exceeds that flag's risk by `policy.risk_rise`.
    """
    earlier = history.filter(pl.col("as_of") < as_of)
    open_flags = earlier.filter(pl.col("status") == "open").select("person_id").unique()
    since = as_of - timedelta(weeks=policy.cooldown_weeks)
    recent = (
        earlier.filter(pl.col("as_of") > since)
        .group_by("person_id")
        .agg(pl.col("risk").sort_by("as_of").last().alias("last_risk"))
        .join(scored.select("person_id", "score"), on="person_id", how="inner")
        .filter(pl.col("score") < pl.col("last_risk") + policy.risk_rise)
        .select("person_id")
    )
    return pl.concat(
        [
            open_flags.with_columns(pl.lit("open flag under review").alias("blocked_by")),
            recent.with_columns(pl.lit("cooldown").alias("blocked_by")),
        ]
    ).unique("person_id", keep="first", maintain_order=True)


def choose_flags(
    scored: pl.DataFrame,
    history: pl.DataFrame,
    as_of: date,
    policy: FlagPolicy,
    after_outcome: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Tonight's flags from one as-of week's scores: rank, risk and band for each flagged person.

    `scored` has person_id, team_id and score (calibrated risk). People in `after_outcome`
    (person_id; on or after their first outcome) are never flagged; nor are those blocked by
    an open flag or the cooldown (see `blocked_people`). Of the rest, the highest risks at or
    above `policy.min_risk` are flagged, at most the capacity share of everyone scored. Ties go
    by pseudonym, so the same scores always give the same flags.
    """
    quota = capacity_quota(scored.height, policy.capacity)
    candidates = scored.join(blocked_people(history, scored, as_of, policy), on="person_id", how="anti")
    if after_outcome is not None and after_outcome.height:
        candidates = candidates.join(after_outcome.select("person_id"), on="person_id", how="anti")
    return (
        candidates.filter(pl.col("score") >= policy.min_risk)
        .sort(["score", "person_id"], descending=[True, False])
        .head(quota)
        .with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("rank"),
            pl.col("score").alias("risk"),
            band_expr(pl.col("score")).alias("band"),
        )
    )
