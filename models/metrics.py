"""Back-test metrics: how good, how early and how steady the flags are. evaluate() returns a dict."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

DEFAULT_CAPACITY = 0.02  # reviewers can look at the top 2% of people each week


def choose_weekly_flags(scored: pl.DataFrame, capacity: float = DEFAULT_CAPACITY) -> pl.DataFrame:
    """Flag the top `capacity` share of people each week by score (at least one a week).

    Ties are broken by pseudonym so that the same scores always give the same flags.
    """
    people = pl.len().over("week")
    quota = pl.max_horizontal((people * capacity).ceil(), pl.lit(1)).cast(pl.UInt32)
    ordered = scored.sort(["week", "score", "person_id"], descending=[False, True, False])
    rank = pl.int_range(1, pl.len() + 1).over("week")
    return ordered.with_columns((rank <= quota).alias("flagged")).sort("person_id", "week")


def _outcome_windows(scored: pl.DataFrame, horizon: int) -> pl.DataFrame:
    in_window = pl.col("weeks_to_outcome").is_between(1, horizon)
    return (
        scored.filter(in_window)
        .group_by("person_id")
        .agg(
            pl.col("flagged").any().alias("caught"),
            pl.col("weeks_to_outcome").filter(pl.col("flagged")).max().alias("lead_weeks"),
        )
        .sort("person_id")
    )


def flag_churn(scored: pl.DataFrame) -> float:
    """Mean share of each week's flagged people who were not flagged the week before."""
    flagged = scored.filter(pl.col("flagged")).select("person_id", "week")
    weeks = sorted(flagged["week"].unique().to_list())
    shares = []
    for before, now in itertools.pairwise(weeks):
        previous = set(flagged.filter(pl.col("week") == before)["person_id"].to_list())
        current = flagged.filter(pl.col("week") == now)["person_id"].to_list()
        shares.append(sum(p not in previous for p in current) / len(current))
    return float(np.mean(shares)) if shares else math.nan


def evaluate(scored: pl.DataFrame, horizon: int, capacity: float = DEFAULT_CAPACITY) -> dict[str, float]:
    """Metrics on scored rows (person_id, week, score, label, weeks_to_outcome[, flagged]).

    Rows whose label is unknown (censored) are scored and flagged but left out of the
    label-based metrics. Returns average precision, ROC-AUC, Brier score, weekly precision at
    capacity, event recall, median lead time (weeks) and flag churn, plus counts.
    """
    if "flagged" not in scored.columns:
        scored = choose_weekly_flags(scored, capacity)
    known = scored.filter(pl.col("label").is_not_null())
    y, p = known["label"].to_numpy(), known["score"].to_numpy()
    two_classes = len(np.unique(y)) == 2
    weekly = (
        known.filter(pl.col("flagged"))
        .group_by("week")
        .agg(pl.col("label").mean().alias("precision"))["precision"]
        .to_numpy()
    )
    outcomes = _outcome_windows(scored, horizon)
    caught = outcomes.filter(pl.col("caught"))
    return {
        "average_precision": float(average_precision_score(y, p)) if two_classes else math.nan,
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else math.nan,
        "brier": float(brier_score_loss(y, p)) if len(y) else math.nan,
        "precision_at_capacity": float(np.mean(weekly)) if len(weekly) else math.nan,
        "event_recall": caught.height / outcomes.height if outcomes.height else math.nan,
        "median_lead_weeks": float(caught["lead_weeks"].median()) if caught.height else math.nan,
        "flag_churn": flag_churn(scored),
        "rows_scored": float(scored.height),
        "rows_with_label": float(known.height),
        "positive_rate": float(np.mean(y)) if len(y) else math.nan,
        "outcomes": float(outcomes.height),
    }
