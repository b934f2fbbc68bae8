"""`ewarn train` then `ewarn nightly`: each flag carries its risk per outcome, or none and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from trained_world import NightlyRun, TrainedWorld
from typer.testing import CliRunner

from cli.main import app
from flows.store import FlagStore, default_url
from models import competing
from models.flag_records import FlagRecord

runner = CliRunner()
pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.integration, pytest.mark.slow]


def stored_flags(home: Path) -> list[FlagRecord]:
    store = FlagStore(default_url(home))
    try:
        run = store.run()
        assert run is not None
        return [FlagRecord.from_row(row) for row in store.run_flags(run["run_id"]).iter_rows(named=True)]
    finally:
        store.dispose()


def test_the_shared_world_says_why_it_has_no_risk_per_outcome_and_its_flags_carry_none(
    trained_world: TrainedWorld, nightly_run: NightlyRun
) -> None:
    # 400 people: too few with long-term sick leave for a model of its own (MIN_OUTCOME_PEOPLE).
    assert "no risk per outcome" in trained_world.trained_output
    flags = stored_flags(nightly_run.home)
    assert flags and all(flag.outcome_risks is None for flag in flags)
    report = next((nightly_run.home / "reports").glob("nightly-*.html")).read_text()
    assert "risk points to" not in report


def test_train_and_nightly_store_each_flags_risk_curve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, home = tmp_path / "landing", tmp_path / "home"
    made = runner.invoke(
        app, ["simulate", "--out", str(landing), "--people", "400", "--weeks", "70", "--seed", "11"]
    )
    assert made.exit_code == 0, made.output
    # The same world as the shared one, with the bar lowered so that both outcomes get a model:
    # a world large enough to pass the real bar would cost minutes more to train.
    monkeypatch.setattr(competing, "MIN_OUTCOME_PEOPLE", 5)
    trained = runner.invoke(app, ["train", "--data", str(landing), "--home", str(home)])
    assert trained.exit_code == 0, trained.output
    assert "no risk per outcome" not in trained.output
    night = runner.invoke(app, ["nightly", "--data", str(landing), "--home", str(home)])
    assert night.exit_code == 0, night.output
    flags = stored_flags(home)
    assert flags
    for flag in flags:
        curve = flag.outcome_risks
        assert curve is not None and curve.horizon == 12 and curve.weeks[:3] == (4, 8, 12)
        assert set(curve.risks) == {"long_term_sick_leave", "resigned"} and curve.leading in curve.risks
        for values in curve.risks.values():
            assert all(0 <= v <= 1 for v in values) and list(values) == sorted(values)
        assert curve.within(curve.leading, 12) == max(curve.within(o, 12) for o in curve.risks)
    report = next((home / "reports").glob("nightly-*.html")).read_text()
    assert "risk points to" in report and report.count("<svg") >= 2 + len(flags)
