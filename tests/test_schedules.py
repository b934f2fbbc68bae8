"""`ewarn serve`: the nightly and retrain deployments and their schedules, checked against a test API."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.schedules import NIGHTLY, RETRAIN, ScheduleError, deployments
from flows.settings import Settings

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.integration, pytest.mark.slow]


def registered(settings: Settings) -> dict[str, object]:
    from prefect.client.orchestration import get_client

    found = {}
    with get_client(sync_client=True) as client:
        for deployment in deployments(settings):
            deployment_id = deployment.apply()
            found[deployment.name] = client.read_deployment(deployment_id)
    return found


def test_default_schedules_and_parameters(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", landing=tmp_path / "landing")
    found = registered(settings)
    assert set(found) == {NIGHTLY, RETRAIN}
    nightly, retrain = found[NIGHTLY], found[RETRAIN]
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in nightly.schedules] == [
        ("0 2 * * *", "UTC", True)
    ]
    assert [(s.schedule.cron, s.schedule.timezone) for s in retrain.schedules] == [("0 3 * * 0", "UTC")]
    recorded = nightly.parameters["settings"]
    assert recorded["home"] == str((tmp_path / "home").resolve())
    assert recorded["landing"] == str((tmp_path / "landing").resolve())
    assert (recorded["capacity"], recorded["anonymity_threshold"]) == (
        settings.capacity,
        settings.anonymity_threshold,
    )
    assert "tracking_uri" not in recorded  # a server URI may carry credentials
    assert Settings.model_validate(recorded).landing_folder() == (tmp_path / "landing").resolve()
    assert retrain.parameters == nightly.parameters


def test_crons_and_timezone_are_configurable(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, nightly_cron="30 1 * * 1-5", retrain_cron="0 4 1 * *", timezone="Europe/Amsterdam"
    )
    found = registered(settings)
    assert found[NIGHTLY].schedules[0].schedule.cron == "30 1 * * 1-5"
    assert found[RETRAIN].schedules[0].schedule.cron == "0 4 1 * *"
    assert {d.schedules[0].schedule.timezone for d in found.values()} == {"Europe/Amsterdam"}


def test_bad_crons_and_timezones_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="cron"):
        deployments(Settings(home=tmp_path, nightly_cron="every night"))
    with pytest.raises(ScheduleError, match="timezone"):
        deployments(Settings(home=tmp_path, timezone="Mars/Olympus"))
    result = CliRunner().invoke(app, ["serve", "--home", str(tmp_path), "--retrain-cron", "0 3 * *"])
    assert result.exit_code == 2 and "--retrain-cron" in result.output
