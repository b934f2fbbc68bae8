"""Back-tests: every candidate and the naive reference on the same split, judged on unseen rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from features.build import feature_columns
from features.catalog import Catalog
from models.candidates import PERSON_CANDIDATES, SIMPLICITY_ORDER, TIME_CANDIDATES
from models.competing import outcome_backtest
from models.metrics import DEFAULT_CAPACITY, choose_weekly_flags, evaluate
from models.splits import SplitError, learnable, person_folds, time_split, unlabelled
from models.train import FittedModel, fit_calibrated, fit_cross_calibrated, score_rows

# Average precision closer than this is a tie, and a tie goes to the simpler model.
TIE_MARGIN = 0.005
LABELS = ("label", "weeks_to_outcome", "eligible")


@dataclass(frozen=True)
class BacktestResult:
    """What a back-test found: metrics per candidate and for the naive reference, the chosen one."""

    chosen: str
    metrics: dict[str, dict[str, float]]
    naive: dict[str, float]
    scored: pl.DataFrame
    models: dict[str, FittedModel] = field(default_factory=dict)
    split: str = "time"
    # Per outcome (models.competing): how its own score and the combined one rank its events; and
    # why there are none, when there are none.
    outcomes: dict[str, dict[str, float]] = field(default_factory=dict)
    outcome_note: str = "a risk per outcome is measured on the time back-test only"
    outcome_fit_seconds: float = 0.0

    def table(self) -> pl.DataFrame:
        """Metrics side by side: one row per metric, one column per candidate and the naive reference."""
        names = [*self.metrics, "naive_reference"]
        values = {**self.metrics, "naive_reference": self.naive}
        metrics = list(self.naive)
        return pl.DataFrame(
            {"metric": metrics, **{n: [values[n].get(m) for m in metrics] for n in names}},
        )

    def outcome_table(self) -> pl.DataFrame:
        """Per-outcome metrics side by side: one row per metric, one column per outcome (empty if none)."""
        if not self.outcomes:
            return pl.DataFrame({"metric": []}, schema={"metric": pl.String})
        metrics = list(next(iter(self.outcomes.values())))
        return pl.DataFrame(
            {"metric": metrics, **{o: [values[m] for m in metrics] for o, values in self.outcomes.items()}}
        )


def choose(metrics: dict[str, dict[str, float]]) -> str:
    """The candidate with the best average precision; within TIE_MARGIN, the simpler one."""
    best = max(m["average_precision"] for m in metrics.values())
    for name in SIMPLICITY_ORDER:
        if name in metrics and metrics[name]["average_precision"] >= best - TIE_MARGIN:
            return name
    return max(metrics, key=lambda n: metrics[n]["average_precision"])


def naive_table(table: pl.DataFrame, raw_values: pl.DataFrame) -> pl.DataFrame:
    """The same person-weeks and labels as `table`, with each week's raw values as the only inputs."""
    keep = ["person_id", "week", *[c for c in ("team_id", *LABELS) if c in table.columns]]
    return table.select(keep).join(raw_values, on=["person_id", "week"], how="left", maintain_order="left")


def time_backtest(
    table: pl.DataFrame,
    naive: pl.DataFrame,
    cutoff: date,
    horizon: int,
    capacity: float = DEFAULT_CAPACITY,
    candidates: Sequence[str] = TIME_CANDIDATES,
    seed: int = 0,
    catalog: Catalog | None = None,
) -> BacktestResult:
    """Train before `cutoff`, calibrate on the latest slice before it, score every week after it.

    Beside the combined `score`, the chosen model's scored rows get each outcome's own risk within
    the horizon (`score_<outcome>`, models.competing) when the data has two outcomes common enough.
    """
    features = feature_columns(table.columns)
    split = time_split(table, cutoff, horizon)
    metrics: dict[str, dict[str, float]] = {}
    scored: dict[str, pl.DataFrame] = {}
    models: dict[str, FittedModel] = {}
    for name in candidates:
        models[name] = fit_calibrated(
            name, split.fit, split.calibrate, features, seed, catalog, horizon=horizon, known_until=cutoff
        )
        scored[name] = choose_weekly_flags(score_rows(models[name], split.score), capacity)
        metrics[name] = evaluate(scored[name], horizon, capacity)
    chosen = choose(metrics)
    naive_split = time_split(naive, cutoff, horizon)
    naive_features = feature_columns(naive.columns)
    naive_model = fit_calibrated(
        chosen,
        naive_split.fit,
        naive_split.calibrate,
        naive_features,
        seed,
        catalog,
        horizon=horizon,
        known_until=cutoff,
    )
    naive_scored = choose_weekly_flags(score_rows(naive_model, naive_split.score), capacity)
    per_outcome = outcome_backtest(table, scored[chosen], cutoff, horizon, seed)
    return BacktestResult(
        chosen=chosen,
        metrics=metrics,
        naive=evaluate(naive_scored, horizon, capacity),
        scored=scored[chosen].join(per_outcome.scores, on=["person_id", "week"], how="left"),
        models=models,
        split="time",
        outcomes=per_outcome.metrics,
        outcome_note=per_outcome.note,
        outcome_fit_seconds=per_outcome.fit_seconds,
    )


def _out_of_fold(
    name: str,
    rows: pl.DataFrame,
    features: list[str],
    folds: int,
    capacity: float,
    seed: int,
    catalog: Catalog | None,
) -> pl.DataFrame:
    parts = []
    for train_index, test_index in person_folds(rows, folds, seed):
        train = rows[train_index]
        # Calibrated on out-of-fold predictions of inner person folds; fitted on the whole part.
        inner = person_folds(train, 5, seed + 1)
        model = fit_cross_calibrated(name, train, inner, features, seed, catalog)
        parts.append(score_rows(model, rows[test_index]))
    return choose_weekly_flags(pl.concat(parts), capacity)


def person_backtest(
    table: pl.DataFrame,
    naive: pl.DataFrame,
    folds: int,
    horizon: int,
    capacity: float = DEFAULT_CAPACITY,
    candidates: Sequence[str] = PERSON_CANDIDATES,
    seed: int = 0,
    catalog: Catalog | None = None,
) -> BacktestResult:
    """Out-of-fold scores from person-grouped, outcome-stratified K-fold (for data with little history)."""
    rows = table.filter(learnable(table))
    if rows.is_empty():
        raise SplitError(unlabelled(table, horizon))
    if rows["label"].n_unique() < 2:
        raise SplitError(
            f"the person-weeks with a known label hold one class only (an outcome within {horizon} "
            "weeks for everyone, or for no one): nothing to learn; use a longer history"
        )
    features = feature_columns(table.columns)
    metrics: dict[str, dict[str, float]] = {}
    scored: dict[str, pl.DataFrame] = {}
    for name in candidates:
        scored[name] = _out_of_fold(name, rows, features, folds, capacity, seed, catalog)
        metrics[name] = evaluate(scored[name], horizon, capacity)
    chosen = choose(metrics)
    naive_rows = naive.filter(learnable(naive))
    naive_features = feature_columns(naive.columns)
    naive_scored = _out_of_fold(chosen, naive_rows, naive_features, folds, capacity, seed, catalog)
    return BacktestResult(
        chosen=chosen,
        metrics=metrics,
        naive=evaluate(naive_scored, horizon, capacity),
        scored=scored[chosen],
        split="person",
    )
