"""`ewarn train` and `ewarn backtest` end to end: MLflow runs, registry aliases, artifacts, no people."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
PEOPLE, WEEKS = 400, 70
# `ewarn train` is the retrain Prefect flow: every test here runs against the session's test API.
pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train") / "landing"
    result = runner.invoke(
        app, ["simulate", "--out", str(out), "--people", str(PEOPLE), "--weeks", str(WEEKS)]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def small_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 people x 52 weeks, for what does not depend on the size of the organisation."""
    out = tmp_path_factory.mktemp("train-small") / "landing"
    result = runner.invoke(
        app, ["simulate", "--out", str(out), "--people", "150", "--weeks", "52", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    return out


def client(uri: str):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri)


def person_ids(landing: Path) -> set[str]:
    return set(pl.read_parquet(landing / "people.parquet")["person_id"].to_list())


def test_backtest_writes_scores_and_flags_and_prints_the_naive_reference(
    landing: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["backtest", "--data", str(landing), "--cutoff", "2024-08-05", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "naive_reference" in result.output and "average_precision" in result.output
    scores = pl.read_csv(out)
    own = [c for c in scores.columns if c.startswith("score_")]
    assert scores.columns == ["person_id", "week", "score", *own, "flagged"]
    assert all(scores[c].is_between(0, 1).all() for c in ["score", *own])
    # Each outcome's own score, or why there is none (too few of an outcome in 400 people).
    assert own == ["score_long_term_sick_leave", "score_resigned"] or "no risk per outcome" in result.output
    assert (scores["week"].str.to_date() >= date(2024, 8, 5)).all()


def test_backtest_refuses_a_cutoff_outside_the_data(landing: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    result = runner.invoke(
        app, ["backtest", "--data", str(landing), "--cutoff", "2030-01-07", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "Cannot back-test" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_person_split_backtest_scores_every_learnable_row_once(small_landing: Path, tmp_path: Path) -> None:
    out = tmp_path / "oof.parquet"
    result = runner.invoke(
        app,
        ["backtest", "--data", str(small_landing), "--split", "person", "--folds", "3", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    scores = pl.read_parquet(out)
    assert scores.select("person_id", "week").is_duplicated().sum() == 0


def test_train_registers_champion_then_challenger_then_a_promoted_champion(
    small_landing: Path, tmp_path: Path
) -> None:
    landing = small_landing  # what is asserted is the registry's bookkeeping, not the model
    home = tmp_path / "home"
    uri = f"sqlite:///{home / 'mlflow.db'}"
    first = runner.invoke(app, ["train", "--data", str(landing), "--home", str(home)])
    assert first.exit_code == 0, first.output
    assert "as champion" in first.output
    mlflow_client = client(uri)
    assert str(mlflow_client.get_model_version_by_alias("ewarn-risk", "champion").version) == "1"

    second = runner.invoke(app, ["train", "--data", str(landing), "--home", str(home)])
    assert second.exit_code == 0, second.output
    assert "as challenger" in second.output  # same data, same back-test: no margin over the champion
    assert str(mlflow_client.get_model_version_by_alias("ewarn-risk", "champion").version) == "1"
    assert str(mlflow_client.get_model_version_by_alias("ewarn-risk", "challenger").version) == "2"

    third = runner.invoke(app, ["train", "--data", str(landing), "--home", str(home), "--promote"])
    assert third.exit_code == 0, third.output
    champion = mlflow_client.get_model_version_by_alias("ewarn-risk", "champion")
    assert str(champion.version) == "3"
    run = mlflow_client.get_run(champion.run_id)
    assert run.data.tags["ewarn.manual_promotion"] == "true"
    assert "backtest.gradient_boosting.average_precision" in run.data.metrics
    assert "naive.average_precision" in run.data.metrics

    artifacts = {a.path for a in mlflow_client.list_artifacts(champion.run_id)}
    expected = {
        "model_card.md",
        "features.json",
        "data_fingerprint.json",
        "fairness_audit.json",
        "shap_by_family.png",
    }
    assert expected <= artifacts
    folder = Path(mlflow_client.download_artifacts(champion.run_id, ""))
    text = "\n".join(
        p.read_text(errors="ignore") for p in folder.rglob("*") if p.suffix in {".md", ".json", ".csv"}
    )
    assert not person_ids(landing) & set(re.findall(r"p\d{6}", text)), "no pseudonym may reach MLflow"
    assert not any(f.startswith("audit_") for f in json.loads((folder / "features.json").read_text()))
    card = (folder / "model_card.md").read_text()
    assert "must not be used" in card.lower() and "naive" in card.lower()

    import mlflow

    mlflow.set_tracking_uri(uri)
    model = mlflow.sklearn.load_model("models:/ewarn-risk@champion")
    assert hasattr(model, "predict_proba")


def test_unreachable_tracking_server_is_a_clear_error(landing: Path, tmp_path: Path) -> None:
    env = {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "3",
    }
    result = runner.invoke(app, ["train", "--data", str(landing), "--home", str(tmp_path / "h")], env=env)
    assert result.exit_code == 1, result.output
    assert "MLFLOW_TRACKING_URI" in result.output
    assert "Traceback" not in result.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_train_against_a_real_mlflow_server_on_loopback(small_landing: Path, tmp_path: Path) -> None:
    port = free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [
            str(mlflow_bin),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start within 90 s"
            assert server.poll() is None, "mlflow server exited"
            time.sleep(0.5)
        result = runner.invoke(
            app,
            ["train", "--data", str(small_landing), "--home", str(tmp_path / "home")],
            env={"MLFLOW_TRACKING_URI": uri},
        )
        assert result.exit_code == 0, result.output
        assert str(client(uri).get_model_version_by_alias("ewarn-risk", "champion").version) == "1"
        assert not (tmp_path / "home" / "mlflow.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_champion_trained_on_other_data_is_compared_on_weeks_it_never_saw(tmp_path: Path) -> None:
    home = tmp_path / "home"
    older, newer = tmp_path / "older", tmp_path / "newer"
    for out, weeks in ((older, 70), (newer, 96)):
        made = runner.invoke(app, ["simulate", "--out", str(out), "--people", "400", "--weeks", str(weeks)])
        assert made.exit_code == 0, made.output
    first = runner.invoke(app, ["train", "--data", str(older), "--home", str(home)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["train", "--data", str(newer), "--home", str(home)])
    assert second.exit_code == 0, second.output
    # Earlier tests in this process used other homes: each training must still go to its own store.
    assert str(home / "mlflow.db") in second.output
    mlflow_client = client(f"sqlite:///{home / 'mlflow.db'}")
    run = mlflow_client.get_run(mlflow_client.get_model_version("ewarn-risk", "2").run_id)
    reason = run.data.tags["ewarn.promotion"]
    # Different data: the logged back-test of the champion is not the same back-test, so the champion
    # was scored on the new back-test's weeks after its own training data, beside the new model.
    assert "beat" in reason, reason
    assert "promotion.champion_average_precision" in run.data.metrics
