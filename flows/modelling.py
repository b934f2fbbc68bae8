"""The I/O edge of modelling: read the landing folder, run back-tests, train, log to MLflow.

The work itself is in features/ and models/ (pure); this module reads files, calls those
functions in order and hands the results to the tracking adapter.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score

from features.build import FeatureRequest, build_features_by_partition, feature_columns
from features.catalog import Catalog
from features.manifest import MANIFEST_FILE
from features.naive import raw_week_values
from flows.exclusions import honour_exclusions
from flows.landing import Landing, landing_files, load_landing
from flows.settings import Settings
from models.backtest import BacktestResult, naive_table, person_backtest, time_backtest
from models.splits import SplitError, learnable, too_short, unlabelled, weeks_needed
from models.tracking import (
    ChampionInfo,
    load_model,
)
from models.train import matrix


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
    manifest = landing.folder / MANIFEST_FILE
    # The manifest changes the labels, so it is part of what the data is.
    for path in sorted([*landing_files(landing.folder), *([manifest] if manifest.is_file() else [])]):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    signals = landing.report.summary.get("signals", {})
    declared = {"observed_until": str(landing.observed_until)} if landing.observed_until else {}
    return {
        "sha256": digest.hexdigest(),
        "signal_rows": signals.get("rows"),
        "people": signals.get("people"),
        "weeks": signals.get("weeks"),
        "first_week": str(signals.get("first_week")),
        "last_week": str(signals.get("last_week")),
        "events": landing.report.summary.get("events", {}).get("rows"),
        **declared,
    }


# Signal rows per partition of people in the every-week feature stage (training) ...
PARTITION_SIGNAL_ROWS = 20_000_000
# ... and in the one-week stage of the nightly, which keeps less per row: fewer partitions are
# faster, as each reads the whole file; the memory each size took: docs/research.md.
AS_OF_PARTITION_SIGNAL_ROWS = 80_000_000


def partition_count_for(
    landing: Landing, requested: int = 0, rows_per_partition: int = PARTITION_SIGNAL_ROWS
) -> int:
    """The partitions asked for, or enough to keep each under `rows_per_partition` signal rows."""
    if requested > 0:
        return requested
    rows = landing.report.summary.get("signals", {}).get("rows") or 0
    return max(1, math.ceil(rows / rows_per_partition))


def prepare_tables(data: Path, settings: Settings, catalog: Catalog) -> TrainingTables:
    """Validate the landing folder (events required) and build the labelled and the naive tables.

    People on the opt-out list (flows.exclusions) are left out before anything is built.

    Features are built one partition of people at a time, so memory follows the partition size.
    """
    landing = honour_exclusions(load_landing(data, require_events=True), settings)
    request = FeatureRequest(
        horizon=settings.horizon_weeks,
        with_labels=True,
        outcome_events=settings.outcome_events,
        observed_until=landing.observed_until,
    )
    table = build_features_by_partition(
        landing.signals,
        landing.events,
        landing.people,
        catalog,
        request,
        partitions=partition_count_for(landing, settings.partitions),
    )
    signal_names = sorted(landing.signals.select(pl.col("signal").unique()).collect().to_series().to_list())
    naive = naive_table(table, raw_week_values(landing.signals, signal_names).collect())
    people = landing.people.collect() if landing.people is not None else None
    return TrainingTables(table, naive, people, data_fingerprint(landing), table["week"].max())


def default_cutoff(last_week: date, horizon: int) -> date:
    """Leave two horizons of weeks after the cutoff: one to score with known labels, one censored."""
    return last_week - timedelta(weeks=2 * horizon)


def resolve_cutoff(tables: TrainingTables, horizon: int, cutoff: date | None) -> date:
    """The cutoff asked for, else the default; a history too short for the default is refused
    with the weeks it would need (SplitError)."""
    if cutoff is not None:
        return cutoff
    if tables.table.filter(learnable(tables.table)).is_empty():
        raise SplitError(unlabelled(tables.table, horizon))
    first = tables.table["week"].min() if tables.table.height else None
    if first is None or (tables.last_week - first).days // 7 + 1 < weeks_needed(horizon):
        raise SplitError(too_short(tables.table, horizon))
    return default_cutoff(tables.last_week, horizon)


def backtest(
    tables: TrainingTables,
    horizon: int,
    *,
    cutoff: date | None = None,
    split: str = "time",
    folds: int = 5,
    capacity: float,
    catalog: Catalog | None = None,
) -> BacktestResult:
    """Run the back-test the user asked for on prepared tables."""
    if split == "person":
        return person_backtest(tables.table, tables.naive, folds, horizon, capacity, catalog=catalog)
    cutoff = resolve_cutoff(tables, horizon, cutoff)
    return time_backtest(tables.table, tables.naive, cutoff, horizon, capacity, catalog=catalog)


def metrics_as_params(result: BacktestResult) -> dict[str, float]:
    """Flatten back-test metrics into MLflow metric names: backtest.<candidate>.<metric>, naive.<metric>.

    Also chosen.<metric> and, per outcome with its own score (models.competing), outcome.<outcome>.<metric>.
    """
    flat = {}
    for name, values in result.metrics.items():
        flat.update({f"backtest.{name}.{metric}": value for metric, value in values.items()})
    flat.update({f"naive.{metric}": value for metric, value in result.naive.items()})
    flat.update({f"chosen.{metric}": value for metric, value in result.metrics[result.chosen].items()})
    for outcome, values in result.outcomes.items():
        # Outcome names come from the settings; MLflow takes few characters in a metric's name.
        name = re.sub(r"[^\w.\- /]", "_", outcome)
        flat.update({f"outcome.{name}.{metric}": value for metric, value in values.items()})
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


def same_backtest_ap(
    uri: str,
    champion: ChampionInfo,
    result: BacktestResult,
    tables: TrainingTables,
    cutoff: date | None,
    *,
    folds: int | None = None,
) -> tuple[float | None, float]:
    """Average precision of the champion and of the new model on the same back-test rows.

    On the same data and the same split (the cutoff of a time split, the folds of a person split)
    the champion's logged back-test is the same back-test. Otherwise the champion is scored on
    the new back-test's rows it has never seen (weeks after the data it was trained on), and the
    new model on exactly those rows too. Both must warn the same horizon ahead (the caller checks).
    """
    new_ap = result.metrics[result.chosen]["average_precision"]
    params = champion.params
    same_split = params.get("split", "time") == result.split and (
        params.get("cutoff") == str(cutoff) if result.split == "time" else params.get("folds") == str(folds)
    )
    if (
        params.get("data_sha256") == tables.fingerprint["sha256"]
        and same_split
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
