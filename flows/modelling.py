"""The I/O edge of modelling: read the landing folder, run back-tests, train, log to MLflow.

The work itself is in features/ and models/ (pure); this module reads files, calls those
functions in order and hands the results to the tracking adapter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score

from features.build import FeatureRequest, build_features, feature_columns
from features.catalog import Catalog
from features.naive import raw_week_values
from flows.landing import Landing, landing_files, load_landing
from flows.settings import Settings
from models.backtest import BacktestResult, naive_table, person_backtest, time_backtest
from models.card import model_card
from models.fairness import fairness_audit
from models.importance import global_importance, importance_figure
from models.metrics import DEFAULT_CAPACITY
from models.promotion import DEFAULT_MARGIN, PromotionDecision, decide
from models.splits import known_before
from models.tracking import (
    ChampionInfo,
    TrainingRecord,
    check_reachable,
    current_champion,
    load_model,
    log_training,
    tracking_uri,
)
from models.train import fit_calibrated, matrix

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingTables:
    """A landing folder turned into what the models need: features with labels and the naive inputs."""

    table: pl.DataFrame
    naive: pl.DataFrame
    people: pl.DataFrame | None
    fingerprint: dict
    last_week: date


def data_fingerprint(landing: Landing) -> dict:
    """Row counts, date range and a SHA-256 of the landing files: enough to recognise data, no rows."""
    digest = hashlib.sha256()
    for path in sorted(landing_files(landing.folder)):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    signals = landing.report.summary.get("signals", {})
    return {
        "sha256": digest.hexdigest(),
        "signal_rows": signals.get("rows"),
        "people": signals.get("people"),
        "weeks": signals.get("weeks"),
        "first_week": str(signals.get("first_week")),
        "last_week": str(signals.get("last_week")),
        "events": landing.report.summary.get("events", {}).get("rows"),
    }


def prepare_tables(data: Path, settings: Settings, catalog: Catalog) -> TrainingTables:
    """Validate the landing folder (events required) and build the labelled and the naive tables."""
    landing = load_landing(data, require_events=True)
    request = FeatureRequest(
        horizon=settings.horizon_weeks, with_labels=True, outcome_events=settings.outcome_events
    )
    table = build_features(landing.signals, landing.events, landing.people, catalog, request).collect()
    signal_names = sorted(landing.signals.select(pl.col("signal").unique()).collect().to_series().to_list())
    naive = naive_table(table, raw_week_values(landing.signals, signal_names).collect())
    people = landing.people.collect() if landing.people is not None else None
    return TrainingTables(table, naive, people, data_fingerprint(landing), table["week"].max())


def default_cutoff(last_week: date, horizon: int) -> date:
    """Leave two horizons of weeks after the cutoff: one to score with known labels, one censored."""
    return last_week - timedelta(weeks=2 * horizon)


def backtest(
    tables: TrainingTables,
    horizon: int,
    *,
    cutoff: date | None = None,
    split: str = "time",
    folds: int = 5,
    capacity: float = DEFAULT_CAPACITY,
    catalog: Catalog | None = None,
) -> BacktestResult:
    """Run the back-test the user asked for on prepared tables."""
    if split == "person":
        return person_backtest(tables.table, tables.naive, folds, horizon, capacity, catalog=catalog)
    cutoff = cutoff or default_cutoff(tables.last_week, horizon)
    return time_backtest(tables.table, tables.naive, cutoff, horizon, capacity, catalog=catalog)


def metrics_as_params(result: BacktestResult) -> dict[str, float]:
    """Flatten back-test metrics into MLflow metric names: backtest.<candidate>.<metric>, naive.<metric>."""
    flat = {}
    for name, values in result.metrics.items():
        flat.update({f"backtest.{name}.{metric}": value for metric, value in values.items()})
    flat.update({f"naive.{metric}": value for metric, value in result.naive.items()})
    flat.update({f"chosen.{metric}": value for metric, value in result.metrics[result.chosen].items()})
    return flat


def json_text(value: object) -> str:
    """Pretty JSON for artifacts (dates and numpy numbers as text or floats)."""

    def plain(item: object) -> object:
        if isinstance(item, np.generic):
            return item.item()
        return str(item)

    return json.dumps(value, indent=2, default=plain, sort_keys=True)


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def features_of(table: pl.DataFrame) -> list[str]:
    """The model inputs of a feature table (protected attributes are never among them)."""
    features = feature_columns(table.columns)
    protected = [f for f in features if f.startswith("audit_")]
    if protected:
        raise ValueError(f"protected attributes must never be features: {protected}")
    return features


@dataclass(frozen=True)
class TrainingSummary:
    """What `ewarn train` did: the back-test, the alias decision and where it was logged."""

    result: BacktestResult
    decision: PromotionDecision
    record: TrainingRecord
    cutoff: date
    uri: str
    fairness_warnings: tuple[str, ...]


def _same_backtest_ap(
    uri: str,
    champion: ChampionInfo,
    result: BacktestResult,
    tables: TrainingTables,
    cutoff: date,
) -> tuple[float | None, float]:
    """Average precision of the champion and of the new model on the same back-test rows.

    On the same data and cutoff the champion's logged back-test is the same back-test. Otherwise
    the champion is scored on the new back-test's rows it has never seen (weeks after the data
    it was trained on), and the new model on exactly those rows too.
    """
    new_ap = result.metrics[result.chosen]["average_precision"]
    params = champion.params
    if (
        params.get("data_sha256") == tables.fingerprint["sha256"]
        and params.get("cutoff") == str(cutoff)
        and "chosen.average_precision" in champion.metrics
    ):
        return champion.metrics["chosen.average_precision"], new_ap
    trained_until = params.get("trained_until")
    if not trained_until:
        return None, new_ap
    unseen = result.scored.filter(
        (pl.col("week") > date.fromisoformat(trained_until)) & pl.col("label").is_not_null()
    )
    if unseen["label"].n_unique() < 2:
        return None, new_ap
    model, features = load_model(uri, champion.version)
    rows = unseen.select("person_id", "week").join(tables.table, on=["person_id", "week"], how="left")
    champion_scores = model.predict_proba(matrix(rows, features))[:, 1]
    labels = unseen["label"].to_numpy()
    return (
        float(average_precision_score(labels, champion_scores)),
        float(average_precision_score(labels, unseen["score"].to_numpy())),
    )


def train(
    data: Path,
    settings: Settings,
    catalog: Catalog,
    *,
    cutoff: date | None = None,
    promote: bool = False,
    capacity: float = DEFAULT_CAPACITY,
    margin: float = DEFAULT_MARGIN,
    progress: Progress = lambda _: None,
) -> TrainingSummary:
    """Back-test every candidate, train the chosen one on all known weeks, log and register it."""
    horizon = settings.horizon_weeks
    uri = tracking_uri(settings.resolved_home())
    check_reachable(uri)
    progress("Validating the landing folder and building features")
    tables = prepare_tables(data, settings, catalog)
    cutoff = cutoff or default_cutoff(tables.last_week, horizon)
    progress(f"Back-testing every candidate and the naive reference at cutoff {cutoff}")
    result = backtest(tables, horizon, cutoff=cutoff, capacity=capacity, catalog=catalog)
    progress(f"Training the chosen model ({result.chosen}) on every week with a known outcome")
    features = features_of(tables.table)
    fit, calibrate = known_before(tables.table, tables.last_week + timedelta(weeks=1), horizon)
    final = fit_calibrated(result.chosen, fit, calibrate, features, catalog=catalog)
    progress("Explaining the model and auditing fairness")
    recent = tables.table.filter(
        pl.col("eligible") & (pl.col("week") > tables.last_week - timedelta(weeks=8))
    )
    sample = recent.sample(n=min(2000, recent.height), seed=0) if recent.height else recent
    by_feature, by_family = global_importance(final, sample, catalog)
    audit = fairness_audit(result.scored, tables.people, settings.anonymity_threshold, horizon)

    progress("Comparing with the champion and logging to MLflow")
    champion = current_champion(uri)
    champion_ap, new_ap = (None, result.metrics[result.chosen]["average_precision"])
    if champion is not None:
        champion_ap, new_ap = _same_backtest_ap(uri, champion, result, tables, cutoff)
    decision = decide(
        new_ap, champion_ap, champion_exists=champion is not None, margin=margin, promote=promote
    )
    params = {
        "model": result.chosen,
        "candidates": list(result.metrics),
        "horizon_weeks": horizon,
        "cutoff": str(cutoff),
        "split": "time",
        "capacity": capacity,
        "promotion_margin": margin,
        "trained_until": str(tables.last_week),
        "fit_rows": fit.height,
        "calibration_rows": calibrate.height,
        "n_features": len(features),
        "data_sha256": tables.fingerprint["sha256"],
        "catalog": catalog.source,
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
            catalog_families=sorted({catalog.signal(f.split("__")[0]).family for f in features if "__" in f}),
        )

    record = log_training(
        uri,
        params=params,
        metrics={
            **metrics_as_params(result),
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
            "data_fingerprint.json": json_text(tables.fingerprint),
            "fairness_audit.json": json_text(audit.to_dict()),
            "promotion.json": json_text(decision.__dict__),
        },
        figures={"shap_by_family": importance_figure(by_family)},
        card=card,
        model=final.calibrated,
        example=matrix(sample.head(50), features),
        alias=decision.alias,
        tags={
            "ewarn.promotion": decision.reason,
            "ewarn.manual_promotion": str(promote).lower(),
            "ewarn.fairness_warnings": str(len(audit.warnings)),
        },
    )
    return TrainingSummary(result, decision, record, cutoff, uri, tuple(audit.warnings))
