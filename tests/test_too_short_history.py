"""Too little history to learn from: back-tests and trainings refuse (exit 2), say why and how much
history they need, and register nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.simulate import write_simulation
from simulator.organisation import simulate_organisation

runner = CliRunner()
pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def landings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The whole simulated history, its last 30 weeks, and a 10-week snapshot (every label censored)."""
    root = tmp_path_factory.mktemp("short")
    org = simulate_organisation(200, 60, 3)
    last = org.signals["week"].max()
    out = {"whole": root / "whole"}
    write_simulation(org, out["whole"])
    for name, weeks in (("short", 30), ("snapshot", 10)):
        start = last - timedelta(weeks=weeks - 1)
        folder = out[name] = root / name
        folder.mkdir()
        org.signals.filter(pl.col("week") >= start).write_parquet(folder / "signals.parquet")
        org.events.filter(pl.col("date") >= start).write_parquet(folder / "events.parquet")
        org.people.write_parquet(folder / "people.parquet")
    return out


def registered_models(home: Path) -> list:
    import mlflow

    if not (home / "mlflow.db").exists():
        return []
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}").search_registered_models()


@pytest.mark.parametrize("split", ["time", "person"])
def test_a_backtest_with_every_label_censored_says_why(landings, tmp_path: Path, split: str) -> None:
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["backtest", "--data", str(landings["snapshot"]), "--split", split, "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not out.exists()
    message = " ".join(result.output.split())
    assert "has a known label" in message and "10 weeks" in message
    assert "more than 12 weeks of history" in message


def test_train_on_a_history_too_short_says_how_many_weeks_it_needs(landings, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = runner.invoke(app, ["train", "--data", str(landings["short"]), "--home", str(home)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "history holds 30 weeks" in message and "needs at least 42 weeks" in message
    assert "inside the data" not in message and "Traceback" not in message
    assert registered_models(home) == []


def test_a_training_whose_backtest_has_no_known_label_registers_nothing(landings, tmp_path: Path) -> None:
    home = tmp_path / "home"
    last = pl.read_parquet(landings["whole"] / "signals.parquet")["week"].max()
    cutoff = last - timedelta(weeks=6)  # every week from here on is within the horizon of the end
    result = runner.invoke(
        app, ["train", "--data", str(landings["whole"]), "--home", str(home), "--cutoff", str(cutoff)]
    )
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "no week with a known label" in message and str(last - timedelta(weeks=12)) in message
    assert registered_models(home) == []
