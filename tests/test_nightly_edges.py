"""The nightly at its edges: a night without flags, a ragged last week, a re-run over decisions,
where MLflow keeps its files, who may read the home, and what a killed run leaves running."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from trained_world import TrainedWorld, ewarn, fresh_home
from typer.testing import CliRunner

from cli.main import app
from flows.store import FlagStore, default_url

runner = CliRunner()
pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.integration, pytest.mark.slow]


def nightly(landing: Path, home: Path, *extra: str, env: dict | None = None):
    return runner.invoke(app, ["nightly", "--data", str(landing), "--home", str(home), *extra], env=env)


def readable_by_others(folder: Path) -> list[str]:
    """Every file or folder under `folder` (itself included) that anyone but its owner may use."""
    return [
        f"{item} {stat.S_IMODE(item.lstat().st_mode):o}"
        for item in [folder, *folder.rglob("*")]
        if not item.is_symlink() and stat.S_IMODE(item.lstat().st_mode) & 0o077
    ]


def test_mlflow_keeps_its_files_in_the_home_wherever_the_commands_run(
    trained_world: TrainedWorld, tmp_path: Path
) -> None:
    # The shared world was simulated, pseudonymised and trained by `ewarn` processes run from cwd_a.
    landing, home, cwd_a = trained_world.landing, trained_world.home, trained_world.cwd
    cwd_b = tmp_path / "b"
    cwd_b.mkdir()
    moved = tmp_path / "moved-home"
    shutil.copytree(home, moved)
    # The home as it would be on another machine: nothing at the paths it was trained in.
    aside = home.with_name("home-aside")
    home.rename(aside)
    try:
        result = ewarn("nightly", "--data", str(landing), "--home", str(moved), cwd=cwd_b)
    finally:
        aside.rename(home)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (cwd_a / "mlruns").exists() and not (cwd_b / "mlruns").exists()
    assert (home / "mlartifacts").is_dir() and (moved / "reports" / "latest.html").exists()
    # Written by `ewarn` itself: the home and the landing folder are their owner's alone.
    assert readable_by_others(home) == [] and readable_by_others(moved) == []
    assert readable_by_others(landing) == []


def test_a_home_open_to_others_is_closed_when_ewarn_opens_it(tmp_path: Path) -> None:
    from flows.lock import job_lock
    from models.tracking import check_reachable, tracking_uri

    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)  # as an older ewarn, or a default umask, left it
    uri = tracking_uri(home)
    from mlflow import MlflowClient

    MlflowClient(uri).search_experiments()  # creates the tracking store, as a training would
    FlagStore(default_url(home)).dispose()
    for store in ("flags.db", "mlflow.db"):
        (home / store).chmod(0o644)
    FlagStore(default_url(home)).dispose()
    check_reachable(uri)
    with job_lock(home, "nightly"):
        assert readable_by_others(home) == []


def test_a_night_without_flags_is_stored_and_reported(trained_world: TrainedWorld, tmp_path: Path) -> None:
    landing = trained_world.landing
    home = fresh_home(trained_world, tmp_path)
    result = nightly(landing, home, env={"EWARN_MIN_RISK": "0.99"})
    assert result.exit_code == 0, result.output
    assert "0 flags (no one was flagged)" in result.output
    store = FlagStore(default_url(home))
    run = store.run()
    assert run is not None and run["flag_count"] == 0 and run["people_scored"] > 300
    assert store.run_flags(run["run_id"]).is_empty()
    assert "No one was flagged this week" in (home / "reports" / "latest.html").read_text()
    store.dispose()


def test_a_few_people_a_week_ahead_do_not_become_the_night(
    trained_world: TrainedWorld, tmp_path: Path
) -> None:
    landing = trained_world.landing
    ragged = tmp_path / "ragged"
    shutil.copytree(landing, ragged, ignore=shutil.ignore_patterns("truth"))
    signals = pl.read_parquet(ragged / "signals.parquet")
    last = signals["week"].max()
    later = last + timedelta(weeks=1)
    three = sorted(signals.filter(pl.col("week") == last)["person_id"].unique())[:3]
    ahead = signals.filter((pl.col("week") == last) & pl.col("person_id").is_in(three))
    pl.concat([signals, ahead.with_columns(pl.lit(later).alias("week"))]).write_parquet(
        ragged / "signals.parquet"
    )
    home = fresh_home(trained_world, tmp_path)
    default = nightly(ragged, home)
    assert default.exit_code == 0, default.output
    assert f"week of {last}:" in default.output and f"--as-of {later}" in default.output
    asked = nightly(ragged, home, "--as-of", str(later))
    assert asked.exit_code == 0, asked.output
    store = FlagStore(default_url(home))
    assert store.run(last)["people_scored"] > 300
    assert store.run(later)["people_scored"] == 3
    store.dispose()


def test_a_rerun_keeps_the_reviewed_flags_and_says_so(trained_world: TrainedWorld, tmp_path: Path) -> None:
    landing = trained_world.landing
    home = fresh_home(trained_world, tmp_path)
    assert nightly(landing, home).exit_code == 0
    store = FlagStore(default_url(home))
    flags = store.run_flags(store.run()["run_id"])
    assert flags.height >= 3
    reviewed = sorted(flags["flag_id"][:2])
    for flag in reviewed:
        store.add_review(flag, "not_a_concern", "spoke with them last week", "alex")
    again = nightly(landing, home, env={"EWARN_MIN_RISK": "0.99"})
    assert again.exit_code == 0, again.output
    said = "2 reviewed flags of an earlier run for this week kept with their decisions"
    assert said in again.output and said in (home / "reports" / "latest.html").read_text()
    kept = store.run_flags(store.run()["run_id"])
    assert sorted(kept["flag_id"]) == reviewed and set(kept["status"]) == {"not_a_concern"}
    store.dispose()


def _servers(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == parent and b"uvicorn" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its exit status waits to be read


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_nightly_takes_its_prefect_server_with_it(
    trained_world: TrainedWorld, tmp_path: Path, how: int
) -> None:
    landing = trained_world.landing
    home = fresh_home(trained_world, tmp_path)
    # Without a configured API the command line starts Prefect's temporary server as a child.
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    parent = subprocess.Popen(
        [sys.executable, "-m", "cli", "nightly", "--data", str(landing), "--home", str(home)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = None
    try:
        deadline = time.monotonic() + 180
        while server is None and time.monotonic() < deadline and parent.poll() is None:
            server = next(iter(_servers(parent.pid)), None)
            time.sleep(0.2)
        assert server is not None, "the nightly started no server"
        os.kill(parent.pid, how)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 5
        while _running(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(server), "the Prefect server outlived its nightly"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if server is not None and _running(server):
            os.kill(server, signal.SIGKILL)
