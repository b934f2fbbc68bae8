"""Settings are the one source: each default written once, and the environment reaches every command."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.settings import Settings
from flows.simulate import write_simulation
from models.fairness import DEFAULT_THRESHOLD
from models.metrics import DEFAULT_CAPACITY
from simulator.organisation import simulate_organisation

runner = CliRunner()
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "flows", "review", "cli")


def test_each_default_is_written_once() -> None:
    defaults = Settings.model_construct()
    assert (defaults.capacity, defaults.anonymity_threshold) == (DEFAULT_CAPACITY, DEFAULT_THRESHOLD)
    # A capacity or threshold given a literal value: only where the constants are defined.
    for literal, home in ((r"0\.02\b", "models/metrics.py"), (r"5\b", "models/fairness.py")):
        assignment = re.compile(rf"(capacity|threshold)\w*\s*(:[^=\n]*)?=\s*{literal}", re.IGNORECASE)
        found = sorted(
            str(path.relative_to(ROOT))
            for package in PACKAGES
            for path in (ROOT / package).rglob("*.py")
            if assignment.search(path.read_text(encoding="utf-8"))
        )
        assert found == [home], found


def test_the_tracking_uri_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home_store = Settings(home=tmp_path).mlflow_uri()
    assert home_store.startswith("sqlite:///") and home_store.endswith("mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert Settings(home=tmp_path).mlflow_uri() == "http://tracking.example:5000"


def test_validate_counts_small_teams_against_the_deployments_threshold(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    org = simulate_organisation(60, 12, seed=2)
    write_simulation(org, tmp_path / "landing")
    monkeypatch.setenv("EWARN_ANONYMITY_THRESHOLD", "9")
    result = runner.invoke(app, ["validate", str(tmp_path / "landing")])
    assert result.exit_code == 0, result.output
    assert "below the anonymity threshold of 9" in result.output


@pytest.mark.slow
def test_the_capacity_setting_reaches_the_backtest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_simulation(simulate_organisation(300, 70, seed=4), tmp_path / "landing")

    def flagged_share(*extra: str) -> float:
        out = tmp_path / f"scores{len(extra)}.parquet"
        args = ["backtest", "--data", str(tmp_path / "landing"), "--out", str(out), *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        scored = pl.read_parquet(out)
        return scored["flagged"].sum() / scored.height

    monkeypatch.setenv("EWARN_CAPACITY", "0.1")
    from_settings = flagged_share()
    given = flagged_share("--capacity", "0.02")
    assert from_settings >= 0.09 and given <= 0.03, (from_settings, given)
