"""The nightly flow end to end: explained flags in the store, a report, re-runs, failures, locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from trained_world import NightlyRun, TrainedWorld, copy_home, fresh_home
from typer.testing import CliRunner

from cli.main import app
from flows.lock import job_lock
from flows.store import FlagStore, default_url

runner = CliRunner()
pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.integration, pytest.mark.slow]


def nightly(landing: Path, home: Path, *extra: str, env: dict | None = None):
    return runner.invoke(app, ["nightly", "--data", str(landing), "--home", str(home), *extra], env=env)


def store_state(home: Path) -> tuple[list, list, list]:
    store = FlagStore(default_url(home))
    try:
        runs = store.list_runs().drop("finished_at").rows()
        flags = sorted(r for run in store.list_runs()["run_id"] for r in store.run_flags(run).rows())
        reasons = sorted(r for run in store.list_runs()["run_id"] for r in store.run_reasons(run).rows())
        return runs, flags, reasons
    finally:
        store.dispose()


def test_nightly_stores_explained_flags_and_a_report_with_pseudonyms_only(
    trained_world: TrainedWorld, nightly_run: NightlyRun
) -> None:
    home, raw_ids = nightly_run.home, trained_world.raw_ids
    store = FlagStore(default_url(home))
    run = store.run()
    assert run is not None and run["model_version"] == "1"
    flags = store.run_flags(run["run_id"])
    reasons = store.run_reasons(run["run_id"])
    # Capacity 2% of the people scored, at least one.
    assert 1 <= flags.height <= -(-run["people_scored"] * 2 // 100)
    assert set(flags["status"]) == {"open"}
    assert set(flags["band"]) <= {"elevated", "high", "very high"}
    assert (flags["risk"] >= 0.10).all()
    assert reasons["flag_id"].n_unique() >= flags.height - 1, "nearly every flag has reasons in words"
    assert "planned_leave" not in set(reasons["family"])
    first = flags.row(0, named=True)
    assert json.loads(first["families"]) and json.loads(first["prompts"])
    series = json.loads(first["series"])
    assert series and len(series[0]["weeks"]) == 26 and series[0]["weeks"][-1] == str(run["as_of"])
    report = home / "reports" / f"nightly-{run['as_of']}.html"
    assert report.exists() and (home / "reports" / "latest.html").read_text() == report.read_text()
    html = report.read_text()
    assert first["person_id"] in html
    assert "<script" not in html and "src=" not in html and "href=" not in html, "the report opens offline"
    everything = html + (home / "flags.db").read_bytes().decode("latin-1")
    assert not [p for p in raw_ids if p in everything], "no raw identifier may reach the store or report"
    assert "Report:" in nightly_run.output and "flags" in nightly_run.output
    store.dispose()


def test_nightly_publishes_a_markdown_summary_artifact(nightly_run: NightlyRun) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    # The session's nightly ran against this session's Prefect API, so its artifacts are there.
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ewarn-nightly-summary"]))
        )
    assert found and found[-1].type == "markdown"
    assert "Flags by team" in found[-1].data and "Leading families" in found[-1].data
    with get_client(sync_client=True) as client:
        links = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ewarn-nightly-report"]))
        )
    assert links and "nightly-" in links[-1].data and ".html" in links[-1].data


def test_rerunning_a_week_replaces_its_flags_and_never_duplicates(
    trained_world: TrainedWorld, nightly_run: NightlyRun, tmp_path: Path
) -> None:
    home = copy_home(nightly_run.home, tmp_path)
    runs, flags, reasons = store_state(home)
    assert runs and flags
    assert nightly(trained_world.landing, home).exit_code == 0
    runs2, flags2, reasons2 = store_state(home)
    assert len(runs2) == 1 and runs2[0][1] == runs[0][1] and runs2[0][0] != runs[0][0]
    strip = lambda rows: sorted(r[:1] + r[2:] for r in rows)  # noqa: E731 - the run id differs by design
    assert strip(flags2) == strip(flags) and reasons2 == reasons


def test_open_flags_and_the_cooldown_keep_people_from_being_flagged_again(
    trained_world: TrainedWorld, tmp_path: Path
) -> None:
    landing = trained_world.landing
    home = fresh_home(trained_world, tmp_path)
    last = pl.read_parquet(landing / "signals.parquet")["week"].max()
    earlier = last - timedelta(weeks=1)
    assert nightly(landing, home, "--as-of", str(earlier)).exit_code == 0
    assert nightly(landing, home).exit_code == 0
    store = FlagStore(default_url(home))
    first, second = (set(store.run_flags(store.run(w)["run_id"])["person_id"]) for w in (earlier, last))
    assert first and second
    assert not first & second, "a person with an open flag is not flagged twice"


def test_flags_command_prints_table_csv_and_json(
    trained_world: TrainedWorld, nightly_run: NightlyRun, tmp_path: Path
) -> None:
    empty = runner.invoke(app, ["flags", "--home", str(fresh_home(trained_world, tmp_path / "empty"))])
    assert empty.exit_code == 1 and "ewarn nightly" in empty.output
    home = nightly_run.home  # read only: `ewarn flags` writes nothing
    as_json = runner.invoke(app, ["flags", "--home", str(home), "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert rows and set(rows[0]) == {"pseudonym", "team", "risk_band", "reasons", "status"}
    as_csv = runner.invoke(app, ["flags", "--home", str(home), "--format", "csv"])
    assert as_csv.stdout.splitlines()[0] == "pseudonym,team,risk_band,reasons,status"
    assert len(as_csv.stdout.splitlines()) >= len(rows) + 1
    table = runner.invoke(app, ["flags", "--home", str(home)])
    assert table.exit_code == 0 and rows[0]["pseudonym"] in table.stdout
    as_of = runner.invoke(app, ["flags", "--home", str(home), "--as-of", "2001-01-01"])
    assert as_of.exit_code == 1 and "2001-01-01" in as_of.output
    bad = runner.invoke(app, ["flags", "--home", str(home), "--format", "xml"])
    assert bad.exit_code == 2


def test_a_task_that_raises_leaves_the_store_and_report_as_they_were(
    trained_world: TrainedWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = trained_world.landing
    home = fresh_home(trained_world, tmp_path)
    last = pl.read_parquet(landing / "signals.parquet")["week"].max()
    assert nightly(landing, home, "--as-of", str(last - timedelta(weeks=1))).exit_code == 0
    before, report = store_state(home), (home / "reports" / "latest.html").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("explainer exploded")

    monkeypatch.setattr("flows.nightly.explain", broken)
    failed = nightly(landing, home)
    assert failed.exit_code == 1
    assert "explainer exploded" in failed.output and "Nothing was stored" in failed.output
    assert "Traceback" not in failed.output
    assert store_state(home) == before and (home / "reports" / "latest.html").read_bytes() == report
    monkeypatch.undo()
    assert nightly(landing, home).exit_code == 0
    assert len(store_state(home)[0]) == 2


KILLER = """
import os, signal, sys
from datetime import date
from flows.prefect_env import quiet_prefect
quiet_prefect()
import flows.store
from flows.nightly import nightly
from flows.settings import Settings

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

flows.store.FlagStore.write_run = die
nightly(settings=Settings(landing=sys.argv[1], home=sys.argv[2]))
"""


def test_a_process_killed_between_scoring_and_storing_changes_nothing(
    trained_world: TrainedWorld, tmp_path: Path
) -> None:
    landing = trained_world.landing
    home = fresh_home(trained_world, tmp_path)
    last = pl.read_parquet(landing / "signals.parquet")["week"].max()
    assert nightly(landing, home, "--as-of", str(last - timedelta(weeks=1))).exit_code == 0
    before, report = store_state(home), (home / "reports" / "latest.html").read_bytes()
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(landing), str(home)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert store_state(home) == before and (home / "reports" / "latest.html").read_bytes() == report
    again = nightly(landing, home)
    assert again.exit_code == 0, again.output
    assert len(store_state(home)[0]) == 2


def test_a_second_nightly_for_the_same_home_refuses_while_one_runs(
    trained_world: TrainedWorld, tmp_path: Path
) -> None:
    landing = trained_world.landing
    home = fresh_home(trained_world, tmp_path)
    with job_lock(home, "nightly"):
        refused = nightly(landing, home)
    assert refused.exit_code == 1
    assert "already working on" in refused.output and "Traceback" not in refused.output
    assert not (home / "flags.db").exists() or store_state(home)[0] == []


def test_no_champion_yet_says_to_train_first(trained_world: TrainedWorld, tmp_path: Path) -> None:
    landing = trained_world.landing
    result = nightly(landing, tmp_path / "empty-home")
    assert result.exit_code == 1
    assert "no champion yet" in result.output and "ewarn train" in result.output
    assert "Traceback" not in result.output


def test_a_landing_folder_that_fails_validation_is_bad_input(
    trained_world: TrainedWorld, tmp_path: Path
) -> None:
    landing = trained_world.landing
    home = fresh_home(trained_world, tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    signals = pl.read_parquet(landing / "signals.parquet").head(1000).drop("value")
    signals.write_parquet(broken / "signals.parquet")
    result = nightly(broken, home)
    assert result.exit_code == 2
    assert "value" in result.output and "Traceback" not in result.output


def test_an_unreachable_tracking_store_is_a_clear_error(trained_world: TrainedWorld, tmp_path: Path) -> None:
    landing = trained_world.landing
    env = {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
    }
    result = nightly(landing, fresh_home(trained_world, tmp_path), env=env)
    assert result.exit_code == 1
    assert "MLFLOW_TRACKING_URI" in result.output and "Traceback" not in result.output


def test_as_of_after_the_data_is_bad_input(trained_world: TrainedWorld, tmp_path: Path) -> None:
    landing = trained_world.landing
    result = nightly(landing, fresh_home(trained_world, tmp_path), "--as-of", str(date(2100, 1, 4)))
    assert result.exit_code == 2 and "after the last week" in result.output


def flag_table(home: Path) -> tuple[list[tuple], list[float]]:
    """Each flag as stored but its risk, then every reason sentence; and the risks apart.

    Polars sums a group in blocks whose bounds depend on the frame it sits in, so a partition's
    features can differ from the whole's in the sixteenth digit, and a risk in the eighth: risks
    are compared to a tolerance, everything shown to a reviewer exactly.
    """
    store = FlagStore(default_url(home))
    try:
        run = store.run()
        flags = store.run_flags(run["run_id"])
        shown = flags.select("person_id", "band", "rank", "families", "series")
        reasons = store.run_reasons(run["run_id"]).sort("flag_id", "rank")["sentence"].to_list()
        return [*shown.rows(), *reasons], flags["risk"].to_list()
    finally:
        store.dispose()


def test_partitions_and_a_dask_cluster_give_the_same_flags_as_the_default_runner(
    trained_world: TrainedWorld, tmp_path: Path
) -> None:
    from dask.distributed import LocalCluster

    landing = trained_world.landing
    homes = {name: fresh_home(trained_world, tmp_path / name) for name in ("whole", "threads", "dask")}
    assert nightly(landing, homes["whole"], "--partitions", "1").exit_code == 0
    assert nightly(landing, homes["threads"], "--partitions", "3").exit_code == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = nightly(
            landing,
            homes["dask"],
            "--partitions",
            "3",
            "--task-runner",
            "dask",
            "--dask-address",
            cluster.scheduler_address,
        )
    assert on_dask.exit_code == 0, on_dask.output
    expected, risks = flag_table(homes["whole"])
    assert expected
    for other in ("threads", "dask"):
        shown, other_risks = flag_table(homes[other])
        assert shown == expected
        assert other_risks == pytest.approx(risks, abs=1e-6)


def test_dask_runner_options_go_together(trained_world: TrainedWorld, tmp_path: Path) -> None:
    landing = trained_world.landing
    result = nightly(landing, tmp_path / "h", "--task-runner", "dask")
    assert result.exit_code == 2 and "--dask-address" in result.output
