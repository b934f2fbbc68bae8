"""The fault matrix: each command against each fault it can meet, through the real `ewarn` entry point.

Every case runs `ewarn` in a subprocess, so the exit code is the one `main()` really gives, and
asserts: the exit code (0 only on success, 2 for bad input, 1 for anything else), no Python
traceback without --debug, a message that names the file and what to do, and the stores, the
landing folder and any earlier output unchanged by a failure (hashed before and after).

The landing folders and a home with a flag store are cheap and shared by every case; the home with
a trained champion is a copy of the session's trained world (tests/trained_world.py), so the
matrix trains nothing of its own. Every case starts an `ewarn` process, so every case is slow.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from trained_world import TrainedWorld

from flows.store import FlagStore, RunRecord, default_url
from review.testing import free_port

pytestmark = pytest.mark.integration

LAST_WEEK = date(2024, 12, 23)  # the last week of 52 simulated weeks from 2024-01-01
AFTER_THE_DATA = "2030-01-07"


def ewarn_command() -> list[str]:
    """The installed `ewarn` script next to this interpreter, else the same entry point through -c."""
    script = Path(sys.executable).with_name("ewarn")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from cli.main import main; main()"]


def child_environment(root: Path) -> dict[str, str]:
    """The test's environment for a child `ewarn`: its own Prefect home, the home stores of MLflow."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EWARN_", "MLFLOW_TRACKING", "COLUMNS"))}
    env.update(
        PREFECT_HOME=str(root / "prefect"),
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run_ewarn(
    args: list[str], cwd: Path, root: Path, *, stdin: str = "", timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `ewarn ARGS` to its end; a command still running after `timeout` seconds is killed (exit -9)."""
    process = subprocess.Popen(
        [*ewarn_command(), *args],
        cwd=cwd,
        env=child_environment(root),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        output += f"\n[killed after {timeout:.0f} s: the command did not end]"
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")


# ---------------------------------------------------------------------------------------------
# the shared world: landing folders (one per data fault), a store home, a trained home


@dataclass(frozen=True)
class World:
    root: Path
    landings: dict[str, Path]
    store_home: Path


def write_landings(root: Path) -> dict[str, Path]:
    """A valid simulated landing folder and one copy per data fault."""
    good = root / "landing"
    made = run_ewarn(
        ["simulate", "--out", str(good), "--people", "150", "--weeks", "52", "--seed", "3"], root, root
    )
    assert made.returncode == 0, made.stdout
    shutil.rmtree(good / "truth")
    signals = pl.read_parquet(good / "signals.parquet")
    assert signals["week"].max() == LAST_WEEK

    def variant(name: str, write: Callable[[Path], None]) -> Path:
        folder = root / name
        shutil.copytree(good, folder)
        write(folder / "signals.parquet")
        return folder

    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def one_row_in(week: date) -> Callable[[Path], None]:
        return lambda path: pl.concat(
            [signals, signals.head(1).with_columns(week=pl.lit(week))]
        ).write_parquet(path)

    return {
        "good": good,
        "truncated": variant("truncated", truncate),
        "bad_column": variant("bad_column", lambda p: signals.rename({"value": "valu"}).write_parquet(p)),
        "empty": variant("empty", lambda p: p.write_bytes(b"")),
        "short": variant(
            "short", lambda p: signals.filter(pl.col("week") > date(2024, 10, 28)).write_parquet(p)
        ),
        "future": variant("future", one_row_in(date(2999, 12, 30))),
        "far_future": variant("far_future", one_row_in(date(9999, 12, 27))),
    }


def write_store_home(home: Path) -> None:
    """A home whose flag store holds one run with two explained flags and an audit entry."""
    store = FlagStore(default_url(home))
    flags = pl.DataFrame(
        {
            "flag_id": ["f1", "f2"],
            "person_id": ["p000001", "p000002"],
            "team_id": ["t001", "t002"],
            "risk": [0.4, 0.3],
            "band": ["high", "elevated"],
            "rank": [1, 2],
            "leading_family": ["workload", "workload"],
            "families": ["[]", "[]"],
            "series": ["[]", "[]"],
            "prompts": ["[]", "[]"],
        }
    )
    reasons = pl.DataFrame(
        {
            "flag_id": ["f1", "f2"],
            "rank": [1, 1],
            "family": ["workload", "workload"],
            "family_label": ["Workload", "Workload"],
            "signal": ["after_hours_messages", "after_hours_messages"],
            "signal_label": ["After-hours messages", "After-hours messages"],
            "contribution": [0.5, 0.4],
            "sentence": ["More after-hours messages than usual", "More after-hours messages than usual"],
        }
    )
    teams = pl.DataFrame(
        {"team_id": ["t001", "t002"], "people": [8, 9], "flagged": [1, 1], "leading_families": ["[]", "[]"]}
    )
    record = RunRecord("run1", LAST_WEEK, "hgb", "1", "0" * 64, LAST_WEEK, 17, {})
    store.write_run(record, flags, reasons, teams)
    store.audit("cli", "user_added", "user:someone", "role=admin")
    store.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("faults")
    store_home = root / "store_home"
    write_store_home(store_home)
    return World(root, write_landings(root), store_home)


@pytest.fixture(scope="module")
def trained_home(world: World, trained_world: TrainedWorld) -> Path:
    """A home with the session's champion, the store home's flag store and an earlier report (a
    nightly run would add nothing the cases look at). The champion learnt from another simulated
    world of the same signals: every case here fails before or without any score of it mattering."""
    home = world.root / "trained_home"
    shutil.copytree(trained_world.home, home, ignore=shutil.ignore_patterns("flags.db", "reports", "*.lock"))
    shutil.copy2(world.store_home / "flags.db", home / "flags.db")
    (home / "reports").mkdir()
    for name in (f"nightly-{LAST_WEEK}.html", "latest.html"):
        (home / "reports" / name).write_text("<p>an earlier report that a failure must leave as it was</p>")
    return home


# ---------------------------------------------------------------------------------------------
# the matrix


@dataclass(frozen=True)
class Case:
    """One command against one fault: what it must answer."""

    command: str
    fault: str
    code: int
    says: tuple[str, ...] = ()  # in the output: the file named and what to do
    never_says: tuple[str, ...] = ()
    extra: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return f"{self.command}-{self.fault}".replace(" ", "_")


COMMANDS: dict[str, list[str]] = {
    "validate": ["validate", "{data}"],
    "features": ["features", "--data", "{data}", "--out", "{out}"],
    "backtest": ["backtest", "--data", "{data}", "--out", "{out}"],
    "train": ["train", "--data", "{data}", "--home", "{home}"],
    "nightly": ["nightly", "--data", "{data}", "--home", "{home}"],
    "flags": ["flags", "--home", "{home}"],
    "review": ["review", "--home", "{home}", "--port", "{port}"],
    "audit export": ["audit", "export", "--out", "{out}", "--home", "{home}"],
}
# Commands whose home must hold a trained champion.
NEEDS_CHAMPION = ("train", "nightly")
NOT_A_STORE = b"SQLite format 2\x00 but not really: the first page of this file was overwritten. " * 64
WRONG_STORE_ADVICE = ("EWARN_STORE_URL", "tracking server")

CONTRACT = {
    "truncated parquet": ("signals.parquet", "not a readable Parquet file"),
    "bad column": ("signals.parquet", '"valu"', "column is missing"),
    "empty input": ("signals.parquet", "empty (0 bytes)"),
    "future date": ("signals.parquet", "2999-12-30", "future"),
    "far future date": ("signals.parquet", "9999-12-27", "future"),
}
STORE = {
    "missing store": ("flags.db", "--home"),
    "empty store": ("flags.db", "0 bytes", "backup"),
    "corrupt store": ("flags.db", "not a readable SQLite database", "backup"),
}

CASES: list[Case] = [
    Case("validate", "none", 0, ("meets input contract v1",)),
    *(Case("validate", fault, 2, says) for fault, says in CONTRACT.items()),
    *(Case("features", fault, 2, says) for fault, says in CONTRACT.items() if fault != "far future date"),
    Case("features", "as-of after the data", 2, (AFTER_THE_DATA, str(LAST_WEEK), "signals.parquet")),
    Case("features", "unwritable output", 2, ("{out_folder}", "folder you can write")),
    *(Case("backtest", fault, 2, says) for fault, says in CONTRACT.items() if "future" not in fault),
    Case("backtest", "short history", 2, ("weeks",)),
    Case("backtest", "unwritable output", 2, ("{out_folder}", "folder you can write")),
    Case("train", "truncated parquet", 2, CONTRACT["truncated parquet"]),
    Case("train", "short history", 2, ("weeks",)),
    Case("train", "corrupt store", 1, STORE["corrupt store"], WRONG_STORE_ADVICE),
    Case("train", "empty mlflow.db", 1, ("mlflow.db", "0 bytes", "backup"), WRONG_STORE_ADVICE),
    Case("train", "corrupt mlflow.db", 1, ("mlflow.db", "backup"), WRONG_STORE_ADVICE),
    Case("nightly", "future date", 2, CONTRACT["future date"]),
    Case("nightly", "as-of after the data", 2, (AFTER_THE_DATA, str(LAST_WEEK))),
    Case("nightly", "empty store", 1, STORE["empty store"], WRONG_STORE_ADVICE),
    Case("nightly", "corrupt store", 1, STORE["corrupt store"], WRONG_STORE_ADVICE),
    Case("nightly", "missing mlflow.db", 1, ("mlflow.db", "ewarn train"), WRONG_STORE_ADVICE),
    Case("nightly", "corrupt mlflow.db", 1, ("mlflow.db", "backup"), WRONG_STORE_ADVICE),
    Case("nightly", "unwritable output", 2, ("reports", "folder you can write")),
    Case("nightly", "truncated parquet", 2, ("signals.parquet", "Traceback"), extra=("--debug",)),
    Case("flags", "none", 0, ("p000001", "More after-hours messages")),
    Case("flags", "flags without reasons", 0, ("p000001", "p000002")),
    *(Case("flags", fault, 1, says, WRONG_STORE_ADVICE) for fault, says in STORE.items()),
    *(Case("review", fault, 1, says, WRONG_STORE_ADVICE) for fault, says in STORE.items()),
    Case("audit export", "none", 0, ("audit entries",)),
    *(Case("audit export", fault, 1, says, WRONG_STORE_ADVICE) for fault, says in STORE.items()),
    Case("audit export", "unwritable output", 2, ("{out_folder}", "folder you can write")),
]
DATA_FAULTS = {
    "truncated parquet": "truncated",
    "bad column": "bad_column",
    "empty input": "empty",
    "short history": "short",
    "future date": "future",
    "far future date": "far_future",
}


def unwritable_folder(root: Path) -> Path:
    """An existing folder this process cannot create files in (root ignores modes: then /sys)."""
    folder = root / "read-only"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            probe = candidate / ".ewarn-probe"
            probe.touch()
            probe.unlink()
        except OSError:
            return candidate
    pytest.skip("no folder this process cannot write to")


def apply_fault(fault: str, home: Path, out: Path, work: Path) -> Path:
    """Break what `fault` names in a case's own copies; return the output path to use."""
    flags_db, mlflow_db = home / "flags.db", home / "mlflow.db"
    if fault == "missing store":
        flags_db.unlink()
    elif fault == "empty store":
        flags_db.write_bytes(b"")
    elif fault == "corrupt store":
        flags_db.write_bytes(NOT_A_STORE + flags_db.read_bytes()[len(NOT_A_STORE) :])
    elif fault == "missing mlflow.db":
        mlflow_db.unlink()
    elif fault == "empty mlflow.db":
        mlflow_db.write_bytes(b"")
    elif fault == "corrupt mlflow.db":
        mlflow_db.write_bytes(mlflow_db.read_bytes()[: mlflow_db.stat().st_size // 3])
    elif fault == "flags without reasons":
        with sqlite3.connect(flags_db) as connection:
            connection.execute("DELETE FROM reasons")
        connection.close()
    elif fault == "unwritable output":
        if out.parent == home / "reports":
            shutil.rmtree(home / "reports")
            (home / "reports").write_text("a file where the reports folder should be\n")
            return out
        return unwritable_folder(work) / out.name
    return out


def fingerprint(*folders: Path) -> dict[str, str]:
    """SHA-256 of every file under the folders (lock files aside: they hold the last job's pid)."""
    found: dict[str, str] = {}
    for folder in folders:
        if not folder.exists():
            found[str(folder)] = "absent"
            continue
        paths = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
        for path in paths:
            if path.suffix != ".lock":
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_fault(case: Case, world: World, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    source = world.store_home
    if case.command in NEEDS_CHAMPION:  # flows: they talk to the suite's Prefect server too
        request.getfixturevalue("prefect_api")
        source = request.getfixturevalue("trained_home")
    home = tmp_path / "home"
    shutil.copytree(source, home, ignore=shutil.ignore_patterns("*.lock"))
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    if case.command == "nightly":
        out = home / "reports" / "latest.html"
    elif case.command == "audit export":
        out = outputs / "audit.csv"
    else:
        out = outputs / "result.parquet"
    out.parent.mkdir(exist_ok=True)
    if case.command != "nightly":
        out.write_bytes(b"an earlier output that a failure must leave as it was\n")
    out = apply_fault(case.fault, home, out, tmp_path)
    data = world.landings[DATA_FAULTS.get(case.fault, "good")]
    extra = ["--as-of", AFTER_THE_DATA] if case.fault == "as-of after the data" else []
    values = {"data": str(data), "home": str(home), "out": str(out), "port": str(free_port())}
    args = [part.format(**values) for part in COMMANDS[case.command]] + extra + list(case.extra)
    watched = (home, data, out)
    before = fingerprint(*watched)

    done = run_ewarn(args, tmp_path, world.root, timeout=60 if case.command == "review" else 300)

    output = done.stdout
    assert done.returncode == case.code, output
    if "--debug" not in case.extra:
        assert "Traceback" not in output, output
    for text in case.says:
        assert text.format(out_folder=out.parent) in output, output
    for text in case.never_says:
        assert text not in output, output
    if case.code != 0:
        assert fingerprint(*watched) == before, f"a failed {case.command} changed files\n{output}"


def test_matrix_size() -> None:
    """The matrix covers every command (the size is quoted in the issue's note)."""
    assert {case.command for case in CASES} == set(COMMANDS)
    assert len({case.id for case in CASES}) == len(CASES)
