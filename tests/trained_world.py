"""One trained world for the whole session: simulated, pseudonymised and trained by `ewarn` itself.

A training is the dearest step of the suite, so the nightly, its edges, the fault matrix and the
review page read one champion instead of training their own. Each test copies the home it needs
(`fresh_home`); nothing writes to the shared folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl

KEY = "a-test-key-that-is-long-enough"
PEOPLE, WEEKS, SEED = 400, 70, 11


@dataclass(frozen=True)
class NightlyRun:
    """A home after one `ewarn nightly` on the trained world, and what the command printed."""

    home: Path
    output: str


@dataclass(frozen=True)
class TrainedWorld:
    """The folders of the shared world and what its making printed."""

    raw: Path  # the simulated landing folder, with the raw identifiers
    landing: Path  # its pseudonymised copy, which the champion learnt from
    home: Path  # a home with that champion and no nightly run
    cwd: Path  # the folder every `ewarn` of the making ran in
    raw_ids: frozenset[str]
    trained_output: str  # what `ewarn train` printed


def ewarn(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line in its own process (its umask, its exit code), run from `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,
    )


def make_trained_world(root: Path) -> TrainedWorld:
    """Simulate, pseudonymise and train under `root`, each step a separate `ewarn` run from root/a."""
    cwd, raw, landing, home = root / "a", root / "raw", root / "landing", root / "home"
    cwd.mkdir(parents=True)
    steps = [
        ("simulate", "--out", str(raw), "--people", str(PEOPLE), "--weeks", str(WEEKS), "--seed", str(SEED)),
        ("pseudonymise", str(raw), str(landing)),
        ("train", "--data", str(landing), "--home", str(home)),
    ]
    done = None
    for step in steps:
        done = ewarn(*step, cwd=cwd, env={"EWARN_PSEUDONYM_KEY": KEY})
        assert done.returncode == 0, f"ewarn {step[0]}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done is not None
    raw_ids = frozenset(pl.read_parquet(raw / "people.parquet")["person_id"].to_list())
    return TrainedWorld(raw, landing, home, cwd, raw_ids, done.stdout + done.stderr)


def fresh_home(world: TrainedWorld, folder: Path) -> Path:
    """A copy of the world's home under `folder`: the champion, no flags, no reports, no locks."""
    home = folder / "home"
    shutil.copytree(world.home, home, ignore=shutil.ignore_patterns("flags.db", "reports", "*.lock"))
    return home


def copy_home(home: Path, folder: Path) -> Path:
    """A copy of `home` as folder/home, its stores and reports included, its lock files left out."""
    copy = folder / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("*.lock"))
    return copy


def run_nightly(world: TrainedWorld, folder: Path) -> NightlyRun:
    """`ewarn nightly` for the latest week, in this process, into a fresh copy of the world's home."""
    from typer.testing import CliRunner

    from cli.main import app

    home = fresh_home(world, folder)
    result = CliRunner().invoke(app, ["nightly", "--data", str(world.landing), "--home", str(home)])
    assert result.exit_code == 0, result.output
    return NightlyRun(home, result.output)
