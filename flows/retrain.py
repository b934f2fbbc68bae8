"""The retrain Prefect flow, behind `ewarn train` and the weekly schedule: one implementation.

Back-test every candidate and the naive reference, train the chosen one on every week with a known
outcome, explain and audit it, compare it with the champion on the same back-test, then log and
register it in MLflow as champion or challenger. Each task calls one step; only reading tasks
retry (logging a run twice would register two versions).

The back-test splits by time (a cutoff) or, for a short history or a one-week snapshot, by person
(grouped K-fold; the final model is then calibrated out of fold). The horizon and the split are
logged with the model; a retraining that is not told otherwise keeps the champion's, so the
weekly schedule never swaps the question the champion answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from features.catalog import Catalog, load_catalog
from features.columns import signal_of
from flows.lock import job_lock
from flows.modelling import (
    TrainingTables,
    backtest,
    features_of,
    json_text,
    metrics_as_params,
    prepare_tables,
    resolve_cutoff,
    same_backtest_ap,
    utc_now,
)
from flows.progress import step
from flows.settings import Settings
from flows.store import FlagStore
from flows.task_policy import IO, PURE
from models.backtest import BacktestResult
from models.card import model_card
from models.competing import CompetingRisks, final_outcome_risks
from models.directions import LEARNT_DIRECTIONS
from models.fairness import FairnessAudit, fairness_audit
from models.importance import global_importance, importance_figure
from models.promotion import DEFAULT_MARGIN, PromotionDecision, decide
from models.reviewed import reviewed_flag_metrics
from models.splits import known_before, learnable, person_folds
from models.tracking import OUTCOME_RISKS
from models.train import FittedModel, fit_calibrated, fit_cross_calibrated, matrix

SPLITS = ("time", "person")
DEFAULT_FOLDS = 5


@dataclass(frozen=True)
class TrainingSummary:
    """What a training did: the back-test, the alias decision and where it was logged."""

    result: BacktestResult
    decision: PromotionDecision
    record: Any
    cutoff: date | None
    uri: str
    fairness_warnings: tuple[str, ...]
    reviewed: dict[str, float]
    horizon: int = 12
    split: str = "time"
    folds: int = DEFAULT_FOLDS
    # Why no risk per outcome was fitted (too few of an outcome), or "" when it was.
    outcome_note: str = ""


@task(name="check-tracking-store", **IO)
def check_tracking(uri: str) -> None:
    """Fail fast, before any work, when MLflow cannot be reached."""
    from models.tracking import check_reachable

    check_reachable(uri)


@task(name="read-champion-settings", **IO)
def champion_settings(uri: str) -> dict[str, str]:
    """The parameters the champion was trained with (empty when there is no champion yet)."""
    from models.tracking import current_champion

    champion = current_champion(uri)
    return dict(champion.params) if champion is not None else {}


@task(name="validate-and-build-features", **IO)
def read_tables(data: Path, settings: Settings, catalog: Catalog) -> TrainingTables:
    """Validate the landing folder and build the labelled and the naive feature tables."""
    return prepare_tables(data, settings, catalog)


@task(name="backtest", **PURE)
def run_backtest(
    tables: TrainingTables,
    horizon: int,
    cutoff: date | None,
    capacity: float,
    catalog: Catalog,
    split: str = "time",
    folds: int = DEFAULT_FOLDS,
) -> BacktestResult:
    """Back-test every candidate and the naive reference on one time split or person folds."""
    return backtest(
        tables, horizon, cutoff=cutoff, split=split, folds=folds, capacity=capacity, catalog=catalog
    )


@task(name="train-final-model", **PURE)
def train_final(
    tables: TrainingTables,
    name: str,
    horizon: int,
    catalog: Catalog,
    split: str = "time",
    folds: int = DEFAULT_FOLDS,
) -> tuple[FittedModel, int, int]:
    """The chosen candidate, fitted on every week with a known outcome and calibrated on the latest.

    With the person split there is no later slice to calibrate on: the model is fitted on every
    labelled row and calibrated on out-of-fold predictions of person folds, as in its back-test.
    """
    if split == "person":
        rows = tables.table.filter(learnable(tables.table))
        model = fit_cross_calibrated(
            name, rows, person_folds(rows, folds, seed=1), features_of(tables.table), catalog=catalog
        )
        return model, rows.height, rows.height
    known_until = tables.last_week + timedelta(weeks=1)
    fit, calibrate = known_before(tables.table, known_until, horizon)
    return (
        fit_calibrated(
            name,
            fit,
            calibrate,
            features_of(tables.table),
            catalog=catalog,
            horizon=horizon,
            known_until=known_until,
        ),
        fit.height,
        calibrate.height,
    )


@task(name="fit-outcome-risks", **PURE)
def fit_outcome_risks(tables: TrainingTables, horizon: int) -> tuple[CompetingRisks | None, str]:
    """Each outcome's risk over time, fitted on every week with a known outcome (or a note why not)."""
    return final_outcome_risks(tables.table, features_of(tables.table), tables.last_week, horizon)


@task(name="explain-and-audit", **PURE)
def explain_and_audit(
    model: FittedModel,
    tables: TrainingTables,
    result: BacktestResult,
    settings: Settings,
    catalog: Catalog,
    horizon: int,
) -> tuple[pl.DataFrame, pl.DataFrame, FairnessAudit, pl.DataFrame]:
    """Global SHAP importance on recent weeks and the fairness audit of the back-test flags."""
    recent = tables.table.filter(
        pl.col("eligible") & (pl.col("week") > tables.last_week - timedelta(weeks=8))
    )
    sample = recent.sample(n=min(2000, recent.height), seed=0) if recent.height else recent
    by_feature, by_family = global_importance(model, sample, catalog)
    audit = fairness_audit(result.scored, tables.people, settings.anonymity_threshold, horizon)
    return by_feature, by_family, audit, sample


@task(name="compare-with-champion", **IO)
def compare_with_champion(
    uri: str,
    result: BacktestResult,
    tables: TrainingTables,
    cutoff: date | None,
    horizon: int,
    folds: int = DEFAULT_FOLDS,
) -> tuple[bool, float | None, float, str | None]:
    """Whether a champion exists, its and the new model's AP on the same back-test rows, and why
    they could not be compared (None when they could, or when there is no champion)."""
    from models.tracking import current_champion

    champion = current_champion(uri)
    new_ap = result.metrics[result.chosen]["average_precision"]
    if champion is None:
        return False, None, new_ap, None
    trained_for = champion.params.get("horizon_weeks")
    if trained_for is not None and trained_for != str(horizon):
        why = (
            f"it warns {trained_for} weeks ahead and this model {horizon}: their average precision "
            "answers different questions"
        )
        return True, None, new_ap, why
    return (True, *same_backtest_ap(uri, champion, result, tables, cutoff, folds=folds), None)


@task(name="read-reviewed-flags", **IO)
def read_reviews(store_url: str) -> dict[str, float]:
    """Precision of the flags people have reviewed so far (decisions are data)."""
    store = FlagStore(store_url)
    try:
        return reviewed_flag_metrics(store.review_history())
    finally:
        store.dispose()


@task(name="log-and-register", cache_policy=NO_CACHE)
def log_and_register(uri: str, **logged: Any) -> Any:
    """Log the run to MLflow, register the model and give it its alias (not retried: not idempotent)."""
    from models.tracking import log_training

    return log_training(uri, **logged)


@flow(name="retrain")
def retrain(
    settings: Settings | None = None,
    cutoff: str | None = None,
    promote: bool = False,
    capacity: float | None = None,
    split: str | None = None,
    folds: int | None = None,
    horizon: int | None = None,
) -> TrainingSummary:
    """Train, back-test, compare with the champion, and promote or not.

    `settings` are typed and recorded with every flow run and deployment; None reads them from the
    EWARN_* environment. `capacity` None is the settings'. `split`, `folds` and `horizon` left
    empty keep the champion's (see the module doc).
    """
    settings = settings or Settings()
    return run_retrain(
        settings,
        load_catalog(settings.catalog),
        cutoff=date.fromisoformat(cutoff) if cutoff else None,
        promote=promote,
        capacity=capacity,
        split=split,
        folds=folds,
        horizon=horizon,
    )


def training_plan(
    champion: dict[str, str],
    settings: Settings,
    *,
    split: str | None,
    folds: int | None,
    horizon: int | None,
    cutoff: date | None,
) -> tuple[str, int, int]:
    """The split, folds and horizon to train with: as asked, else the champion's, else the defaults.

    Raises ValueError (bad input) for an unknown split, or a cutoff with the person split.
    """
    split = split or champion.get("split") or "time"
    if split not in SPLITS:
        raise ValueError(f"the split must be 'time' or 'person', not {split!r}")
    if split == "person" and cutoff is not None:
        raise ValueError("a cutoff splits by time; the person split takes --folds instead of --cutoff")
    folds = folds or int(champion.get("folds") or DEFAULT_FOLDS)
    horizon = horizon or int(champion.get("horizon_weeks") or settings.horizon_weeks)
    return split, folds, horizon


def run_retrain(
    settings: Settings,
    catalog: Catalog,
    *,
    cutoff: date | None = None,
    promote: bool = False,
    capacity: float | None = None,
    margin: float = DEFAULT_MARGIN,
    split: str | None = None,
    folds: int | None = None,
    horizon: int | None = None,
) -> TrainingSummary:
    """The body of the retrain flow (call it inside a flow run, or through `retrain`).

    `capacity` None: the settings' (EWARN_CAPACITY), for the back-test and the model card alike.
    """
    capacity = settings.capacity if capacity is None else capacity
    home = settings.resolved_home()
    with job_lock(home, "retrain"):
        uri = settings.mlflow_uri()
        check_tracking(uri)
        # Read before the training: a flag store that cannot be read fails the run at once.
        reviewed = read_reviews(settings.flag_store_url())
        split, folds, horizon = training_plan(
            champion_settings(uri), settings, split=split, folds=folds, horizon=horizon, cutoff=cutoff
        )
        settings = settings.model_copy(update={"horizon_weeks": horizon})
        step("Validating the landing folder and building features")
        tables = read_tables(settings.landing_folder(), settings, catalog)
        if split == "time":
            cutoff = resolve_cutoff(tables, horizon, cutoff)
            step(f"Back-testing every candidate and the naive reference at cutoff {cutoff}")
        else:
            step(f"Back-testing every candidate and the naive reference on {folds} person folds")
        result = run_backtest(tables, horizon, cutoff, capacity, catalog, split, folds)
        step(f"Training the chosen model ({result.chosen}) on every week with a known outcome")
        final, fit_rows, calibration_rows = train_final(tables, result.chosen, horizon, catalog, split, folds)
        step("Fitting each outcome's own risk over time")
        outcome_risks, outcome_note = fit_outcome_risks(tables, horizon)
        step("Explaining the model and auditing fairness")
        by_feature, by_family, audit, sample = explain_and_audit(
            final, tables, result, settings, catalog, horizon
        )
        step("Comparing with the champion and logging to MLflow")
        champion_exists, champion_ap, new_ap, not_comparable = compare_with_champion(
            uri, result, tables, cutoff, horizon, folds
        )
        decision = decide(
            new_ap,
            champion_ap,
            champion_exists=champion_exists,
            margin=margin,
            promote=promote,
            not_comparable=not_comparable,
        )
        features = list(final.features)
        params = {
            "model": result.chosen,
            "candidates": list(result.metrics),
            "horizon_weeks": horizon,
            "split": split,
            # A time split is defined by its cutoff, a person split by its folds.
            **({"cutoff": str(cutoff)} if split == "time" else {"folds": folds}),
            "capacity": capacity,
            "promotion_margin": margin,
            "trained_until": str(tables.last_week),
            "fit_rows": fit_rows,
            "calibration_rows": calibration_rows,
            "n_features": len(features),
            # A horizon ensemble's members learned these horizons; a single pipeline: the horizon.
            "learned_horizons": list(getattr(final.pipeline, "horizons", [horizon])),
            "data_sha256": tables.fingerprint["sha256"],
            "catalog": catalog.source,
            # The outcomes with a risk curve of their own, or none (and why: outcome_risks_note).
            "outcome_risks": list(outcome_risks.outcomes) if outcome_risks else "none",
            **({"outcome_risks_note": outcome_note} if outcome_note else {}),
        }
        trained_at = utc_now()

        def card(version: str) -> str:
            return model_card(
                model_name=result.chosen,
                version=version,
                trained_at=trained_at,
                horizon=horizon,
                capacity=capacity,
                data=tables.fingerprint,
                metrics=result.metrics,
                naive=result.naive,
                chosen=result.chosen,
                features=features,
                fairness=audit,
                catalog_families=sorted(
                    {catalog.signal(signal).family for f in features if (signal := signal_of(f))}
                ),
                learned_horizons=params["learned_horizons"],
                learnt_directions={
                    catalog.signal(signal).label: direction
                    for signal, direction in sorted(final.learnt_directions.items())
                },
                backtest=(
                    f"trained on the weeks before {cutoff}, scored on the weeks from it"
                    if split == "time"
                    else f"people held out: {folds} person-grouped folds (a short history or a snapshot)"
                ),
            )

        record = log_and_register(
            uri,
            params=params,
            metrics={
                **metrics_as_params(result),
                **{f"reviewed.{k}": v for k, v in reviewed.items()},
                "promotion.new_average_precision": decision.new_average_precision,
                **(
                    {"promotion.champion_average_precision": decision.champion_average_precision}
                    if decision.champion_average_precision is not None
                    else {}
                ),
            },
            tables={
                "backtest_metrics": result.table(),
                "shap_by_feature": by_feature,
                "shap_by_family": by_family,
            },
            texts={
                "features.json": json_text(features),
                LEARNT_DIRECTIONS: json_text(final.learnt_directions),
                "data_fingerprint.json": json_text(tables.fingerprint),
                "fairness_audit.json": json_text(audit.to_dict()),
                "promotion.json": json_text(decision.__dict__),
            },
            figures={"shap_by_family": importance_figure(by_family)},
            card=card,
            model=final.calibrated,
            example=matrix(sample.head(50), features),
            objects={OUTCOME_RISKS: outcome_risks} if outcome_risks else {},
            alias=decision.alias,
            tags={
                "ewarn.promotion": decision.reason,
                "ewarn.manual_promotion": str(promote).lower(),
                "ewarn.fairness_warnings": str(len(audit.warnings)),
            },
        )
        return TrainingSummary(
            result,
            decision,
            record,
            cutoff if split == "time" else None,
            uri,
            tuple(audit.warnings),
            reviewed,
            horizon,
            split,
            folds,
            outcome_note,
        )
