"""The one adapter to MLflow: log a training run, register its model, move the champion alias.

Everything else in ewarn hands this module plain values (dicts, frames, text); nothing person-level
is ever passed in, so nothing person-level can reach the tracking store.

With the home's own store (no MLFLOW_TRACKING_URI), every artifact lives in HOME/mlartifacts, never
in the working folder of whichever command ran (MLflow's default, `./mlruns`). MLflow records
artifact locations as absolute paths, so a home that was moved or copied reads its artifacts from
its own HOME/mlartifacts, whatever path was recorded.
"""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.directions import LEARNT_DIRECTIONS

MODEL_NAME = "ewarn-risk"
ARTIFACTS = "mlartifacts"  # the home's folder for MLflow's artifacts
EXPERIMENT = "ewarn"
CHAMPION, CHALLENGER = "champion", "challenger"
# What skops may load back: the calibration wrapper, the boosted trees and our horizon ensemble
# of them, the signed-log step of the person split's logistic candidate and the logistic
# candidates' imputer, nothing arbitrary.
TRUSTED_TYPES = [
    "models.train.HorizonEnsemble",
    "models.candidates.AppendSignedLog",
    "models.candidates.MedianImputer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "numpy.dtype",
]


class TrackingUnavailableError(RuntimeError):
    """The MLflow tracking store could not be reached or used; the message says what to do."""


class TrackingStoreFileError(TrackingUnavailableError):
    """The tracking store's SQLite file is missing, empty or damaged: waiting and retrying cannot help."""


def tracking_uri(home: Path, configured: str | None = None) -> str:
    """The `configured` server's URI (read by flows.settings), else an SQLite store in the home folder."""
    configured = (configured or "").strip()
    if configured:
        return configured
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return f"sqlite:///{(home / 'mlflow.db').resolve()}"


def home_artifacts(uri: str) -> Path | None:
    """HOME/mlartifacts when `uri` is a home's own SQLite store (see tracking_uri), else None."""
    if not uri.startswith("sqlite:///") or not uri.endswith("/mlflow.db"):
        return None
    return Path(uri.removeprefix("sqlite:///")).parent / ARTIFACTS


def _local_artifacts(uri: str, recorded: str) -> Path | None:
    """Where an artifact location recorded in the home's store is now: under this home's
    mlartifacts, wherever the home was when it was recorded. None for any other store or location."""
    root = home_artifacts(uri)
    parts = Path(recorded.removeprefix("file://")).parts
    if root is None or ARTIFACTS not in parts:
        return None
    return root.joinpath(*parts[len(parts) - parts[::-1].index(ARTIFACTS) :])


def _private(uri: str) -> None:
    # The home's store holds the model card and metrics: its owner's alone, like the home.
    root = home_artifacts(uri)
    if root is not None and (root.parent / "mlflow.db").exists():
        os.chmod(root.parent / "mlflow.db", 0o600)


def _mlflow(uri: str):
    # Imported here, not at module level: mlflow takes seconds to import.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    exported = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    # The registry lives in the same store. Set it too: MLflow otherwise keeps the registry of the
    # first store this process used, and a second home would register into the first one.
    mlflow.set_registry_uri(uri)
    # Both setters also export environment variables; put the user's own settings back, or the
    # next home used in this process (tests, notebooks) would silently inherit this store.
    for name, value in exported.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return mlflow


@dataclass(frozen=True)
class ChampionInfo:
    """The current champion: its version, run and the numbers it was chosen on."""

    version: str
    run_id: str
    params: dict[str, str]
    metrics: dict[str, float]


def check_reachable(uri: str, *, must_exist: bool = False) -> None:
    """Fail fast, before any training, when the tracking store cannot be used.

    An SQLite store is checked as a file first: MLflow would silently start a new registry in an
    empty or missing file (losing the champion without a word) and calls a damaged one
    unreachable. A missing file passes unless `must_exist` (scoring needs a champion); it is not
    created here.
    """
    path = _sqlite_store_file(uri)
    if path is not None:
        _check_store_file(path, must_exist)
        if not path.exists():
            return
    mlflow = _mlflow(uri)
    try:
        mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)
    except Exception as exc:  # connection refused, DNS, TLS, auth: all mean the same to the user
        if path is not None:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            error = TrackingStoreFileError if _damaged_file(exc) else TrackingUnavailableError
            raise error(
                f"Cannot use the MLflow store {path} ({type(exc).__name__}: {first}). If the file is "
                "damaged, restore it from a backup; to start again with a new registry instead, move "
                "it away and run `ewarn train`."
            ) from exc
        raise TrackingUnavailableError(
            f"Cannot reach the MLflow tracking store at {uri} ({type(exc).__name__}). Start the tracking "
            "server or fix MLFLOW_TRACKING_URI; unset it to use the store in the home folder."
        ) from exc
    _private(uri)


def _sqlite_store_file(uri: str) -> Path | None:
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri.removeprefix(prefix) in ("", ":memory:"):
        return None
    return Path(uri.removeprefix(prefix))


def _check_store_file(path: Path, must_exist: bool) -> None:
    if not path.exists():
        if must_exist:
            raise TrackingStoreFileError(
                f"There is no MLflow store at {path}, so no champion yet to score with. Train one first "
                "with `ewarn train --data DIR`, or check --home (or EWARN_HOME)."
            )
        return
    with path.open("rb") as handle:
        header = handle.read(16)
    if not header:
        raise TrackingStoreFileError(
            f"The MLflow store {path} is empty (0 bytes): its models and runs are gone. Restore it from "
            "a backup; to start again with a new registry instead, delete it and run `ewarn train`."
        )
    if header != b"SQLite format 3\x00":
        raise TrackingStoreFileError(_damaged_store(path, "it does not start as an SQLite file does"))


def _damaged_file(exc: BaseException) -> bool:
    """Whether sqlite called the file damaged ("malformed", "not a database") somewhere in the
    chain of causes: a lasting fault, unlike its OperationalError (locked), which may pass."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sqlite3.DatabaseError) and not isinstance(seen, sqlite3.OperationalError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _damaged_store(path: Path, why: str) -> str:
    return (
        f"The MLflow store {path} is not a readable SQLite database ({why}). Restore it from a backup; "
        "to start again with a new registry instead, move it away and run `ewarn train`."
    )


def current_champion(uri: str) -> ChampionInfo | None:
    """The model version holding the champion alias, or None when there is none yet."""
    mlflow = _mlflow(uri)
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        version = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            return None
        raise TrackingUnavailableError(f"MLflow at {uri} answered with an error: {exc}") from exc
    run = client.get_run(version.run_id)
    return ChampionInfo(str(version.version), version.run_id, dict(run.data.params), dict(run.data.metrics))


def load_model(uri: str, version: str) -> tuple[Any, list[str]]:
    """Load a registered model version (sklearn flavour: it has predict_proba) and its feature list."""
    mlflow = _mlflow(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    registered = client.get_model_version(MODEL_NAME, version)
    features = json.loads(_run_text(uri, registered.run_id, "features.json"))
    model_uri = f"models:/{MODEL_NAME}/{version}"
    # The version's source names the logged model ("models:/m-..."), whose files hold the model.
    source = registered.source or ""
    model_id = registered.model_id or (
        source.removeprefix("models:/") if source.startswith("models:/m-") else None
    )
    if model_id:
        recorded = client.get_logged_model(model_id).artifact_location
        local = _local_artifacts(uri, recorded)
        model_uri = str(local) if local is not None else model_uri
    return mlflow.sklearn.load_model(model_uri), features


def _run_text(uri: str, run_id: str, name: str) -> str:
    """A text artifact of a run: from this home's mlartifacts when the home's store recorded it."""
    mlflow = _mlflow(uri)
    recorded = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).get_run(run_id).info.artifact_uri
    local = _local_artifacts(uri, recorded)
    if local is not None:
        return (local / name).read_text(encoding="utf-8")
    return mlflow.artifacts.load_text(f"runs:/{run_id}/{name}")


OUTCOME_RISKS = "outcome_risks.pkl"  # the run's fitted models.competing.CompetingRisks, if any


def load_outcome_risks(uri: str, run_id: str) -> Any | None:
    """The run's risk per outcome (a models.competing.CompetingRisks), or None when it has none.

    None for a run logged before ewarn learnt outcome risks, or one whose data had too few of an
    outcome: such a champion still scores, only without a curve per outcome.
    """
    mlflow = _mlflow(uri)
    try:
        recorded = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).get_run(run_id).info.artifact_uri
        local = _local_artifacts(uri, recorded)
        if local is not None:
            path = local / OUTCOME_RISKS
            if not path.exists():
                return None
        else:
            path = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{OUTCOME_RISKS}"))
    except FileNotFoundError:
        return None
    except Exception as exc:  # mlflow's own "no such artifact" error types vary by store
        if "not found" in str(exc).lower() or "no such file" in str(exc).lower():
            return None
        raise
    # Unpickled: this reads only what a training of this home (or its tracking server) logged, as
    # the registered model's own files are. Pickle, not joblib: the standard library, no new dependency.
    return pickle.loads(path.read_bytes())


def load_learnt_directions(uri: str, run_id: str) -> dict[str, str]:
    """The directions a training learnt for uncatalogued signals; none for a run logged without them."""
    try:
        text = _run_text(uri, run_id, LEARNT_DIRECTIONS)
    except FileNotFoundError:
        return {}
    except Exception as exc:  # mlflow's own "no such artifact" error types vary by store
        if "not found" in str(exc).lower() or "no such file" in str(exc).lower():
            return {}
        raise
    return {str(k): str(v) for k, v in json.loads(text).items()}


def champion_details(uri: str, champion: ChampionInfo) -> dict[str, Any]:
    """What a reviewer may read about the champion: metrics against the naive reference, the
    fairness audit and the model card (aggregates only, as logged by the training)."""

    def text(name: str) -> str | None:
        try:
            return _run_text(uri, champion.run_id, name)
        except Exception:  # a run logged by an older ewarn may lack an artifact; show what there is
            return None

    metrics = {
        key.removeprefix("chosen."): {
            "ours": value,
            "naive": champion.metrics.get("naive." + key.removeprefix("chosen.")),
        }
        for key, value in sorted(champion.metrics.items())
        if key.startswith("chosen.")
    }
    fairness = text("fairness_audit.json")
    return {
        "name": champion.params.get("model", "unknown"),
        "version": champion.version,
        "run_id": champion.run_id,
        "trained_until": champion.params.get("trained_until"),
        # The question the model answers: an outcome within this many weeks (logged by training).
        "horizon_weeks": int(champion.params.get("horizon_weeks", 12)),
        "split": champion.params.get("split", "time"),
        "metrics": metrics,
        "fairness": json.loads(fairness) if fairness else None,
        "card": text("model_card.md"),
    }


def model_versions(uri: str) -> list[dict[str, Any]]:
    """Every registered version, oldest first: when, which candidate, the role it was given and why."""
    from datetime import UTC, datetime

    mlflow = _mlflow(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = []
    for version in client.search_model_versions(f"name='{MODEL_NAME}'"):
        run = client.get_run(version.run_id)
        created = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC).replace(microsecond=0)
        found.append(
            {
                "version": str(version.version),
                "created": created.isoformat(),
                "model": run.data.params.get("model"),
                "alias": run.data.tags.get("ewarn.alias"),
                "reason": run.data.tags.get("ewarn.promotion"),
                "manual": run.data.tags.get("ewarn.manual_promotion") == "true",
                "trained_until": run.data.params.get("trained_until"),
            }
        )
    return sorted(found, key=lambda v: int(v["version"]))


@dataclass(frozen=True)
class TrainingRecord:
    """Where a training went: its run, the registered version and the alias it received."""

    run_id: str
    version: str
    alias: str
    experiment_id: str


def log_training(
    uri: str,
    *,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tables: Mapping[str, pl.DataFrame],
    texts: Mapping[str, str],
    figures: Mapping[str, Any],
    card: Callable[[str], str],
    model: Any,
    example: np.ndarray,
    alias: str,
    tags: Mapping[str, str],
    objects: Mapping[str, Any] | None = None,
) -> TrainingRecord:
    """Log one training as an MLflow run, register its model and give it `alias`.

    `tables` become CSV artifacts, `texts` files (name with extension), `figures` PNG images,
    `objects` pickled files (name with extension: fitted models besides the registered one), and
    `card(version)` the model card (it needs the version the registry gives). The model is logged
    with the sklearn flavour, a signature from `example`, and explicit pip requirements (no slow
    dependency inference).
    """
    mlflow = _mlflow(uri)
    from mlflow.models import infer_signature

    try:
        mlflow.set_experiment(experiment_id=_experiment(mlflow, uri))
        with mlflow.start_run() as run:
            mlflow.log_params({k: _param(v) for k, v in params.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
            mlflow.set_tags(dict(tags))
            with tempfile.TemporaryDirectory() as folder:
                for name, table in tables.items():
                    path = Path(folder) / f"{name}.csv"
                    table.write_csv(path)
                    mlflow.log_artifact(str(path))
                for name, text in texts.items():
                    mlflow.log_text(text, name)
                for name, value in (objects or {}).items():
                    path = Path(folder) / name
                    path.write_bytes(pickle.dumps(value))
                    mlflow.log_artifact(str(path))
            for name, figure in figures.items():
                mlflow.log_figure(figure, f"{name}.png")
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(example, model.predict_proba(example)[:, 1]),
                pip_requirements=_requirements(),
                registered_model_name=MODEL_NAME,
                skops_trusted_types=TRUSTED_TYPES,
            )
            version = str(info.registered_model_version)
            mlflow.log_text(card(version), "model_card.md")
            mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(
                MODEL_NAME, alias, version
            )
            mlflow.set_tag("ewarn.alias", alias)
        _private(uri)
        return TrainingRecord(run.info.run_id, version, alias, run.info.experiment_id)
    except TrackingUnavailableError:
        raise
    except Exception as exc:  # an unreachable server surfaces as many different exception types
        raise TrackingUnavailableError(
            f"Could not log the training to MLflow at {uri}: {exc}. Check that the tracking server is "
            "running and MLFLOW_TRACKING_URI is right, or unset it to use the store in the home folder."
        ) from exc


def _experiment(mlflow: Any, uri: str) -> str:
    """The id of the ewarn experiment, created with its artifacts in the home when the store is the home's.

    An experiment created by an older ewarn keeps the location it was created with.
    """
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    root = home_artifacts(uri)
    return client.create_experiment(EXPERIMENT, artifact_location=str(root / EXPERIMENT) if root else None)


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("scikit-learn", "numpy", "scipy", "skops")]
