"""The fault matrix's faults one unit at a time: store files, dates, reports, empty frames, exit codes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.listing import flag_listing
from cli.main import app
from features.contract import check_table
from features.contract_specs import SIGNALS
from flows.landing import validate_folder
from flows.store import FlagStore, RunRecord, default_url
from flows.store_schema import StoreError

pytestmark = pytest.mark.code

runner = CliRunner()
HEADER = "person_id,week,signal,value\n"
ROWS = "p1,2024-01-01,mood,3.5\np1,2024-01-08,mood,3\np2,2024-01-08,mood,4\n"


def landing(folder: Path, signals: str, **tables: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "signals.csv").write_text(signals)
    for name, content in tables.items():
        (folder / f"{name}.csv").write_text(content)
    return folder


# ---------------------------------------------------------------------------------------------
# dates in the future


@pytest.mark.parametrize("week", ["2999-12-30", "9999-12-27"])
def test_a_signal_dated_far_in_the_future_is_refused_with_file_column_count_and_example(
    tmp_path: Path, week: str
) -> None:
    report = validate_folder(landing(tmp_path, HEADER + ROWS + f"p2,{week},mood,4\np1,{week},mood,1\n"))
    assert not report.ok
    (problem,) = report.problems
    assert (problem.file, problem.column, problem.rows) == ("signals.csv", "week", 2)
    assert "future" in problem.message
    assert problem.examples[0]["week"] == week
    assert "signals.csv" in report.render() and week in report.render()


def test_the_future_bound_is_weeks_for_signals_and_a_year_for_dates(tmp_path: Path) -> None:
    today = date(2025, 6, 11)  # a Wednesday
    monday = today - timedelta(days=today.weekday())

    def problems(*weeks: date) -> list[str]:
        rows = "".join(f"p1,{w.isoformat()},mood,1\n" for w in weeks)
        frame = pl.DataFrame(
            [line.split(",") for line in rows.splitlines()],
            schema=["person_id", "week", "signal", "value"],
            orient="row",
        )
        return [p.message for p in check_table(SIGNALS, frame.lazy(), "signals.csv", today=today).problems]

    assert problems(monday, monday + timedelta(weeks=1)) == []
    assert any("future" in m for m in problems(monday + timedelta(weeks=3)))
    # Events and hiring dates may be announced ahead; a year ahead is the bound.
    events = "person_id,date,event\np1,2026-01-05,resigned\n"
    people = "person_id,team_id,hired_on\np1,t1,2025-09-01\np2,t1,2031-01-01\n"
    report = validate_folder(landing(tmp_path, HEADER + ROWS, events=events, people=people))
    assert [(p.file, p.column, p.rows) for p in report.problems] == [("people.csv", "hired_on", 1)]


# ---------------------------------------------------------------------------------------------
# --as-of outside the data


def test_features_as_of_outside_the_data_exits_2_naming_the_weeks(tmp_path: Path) -> None:
    folder = landing(tmp_path / "landing", HEADER + ROWS)
    out = tmp_path / "features.parquet"
    for as_of, says in (("2030-01-07", "2024-01-08"), ("2020-01-06", "2024-01-01")):
        result = runner.invoke(app, ["features", "--data", str(folder), "--out", str(out), "--as-of", as_of])
        assert result.exit_code == 2, result.output
        assert as_of in result.output and says in result.output and "signals.csv" in result.output
        assert not out.exists()


# ---------------------------------------------------------------------------------------------
# the flag store's file


def store_with_a_run(home: Path, *, reasons: bool = True) -> Path:
    store = FlagStore(default_url(home))
    flags = pl.DataFrame(
        {
            "flag_id": ["f1"],
            "person_id": ["p000001"],
            "team_id": ["t001"],
            "risk": [0.4],
            "band": ["high"],
            "rank": [1],
            "leading_family": ["workload"],
            "families": ["[]"],
            "series": ["[]"],
            "prompts": ["[]"],
        }
    )
    reason_rows = pl.DataFrame(
        {
            "flag_id": ["f1"],
            "rank": [1],
            "family": ["workload"],
            "family_label": ["Workload"],
            "signal": ["mood"],
            "signal_label": ["Mood"],
            "contribution": [0.5],
            "sentence": ["Lower mood than usual"],
        }
    )
    teams = pl.DataFrame({"team_id": ["t001"], "people": [8], "flagged": [1], "leading_families": ["[]"]})
    record = RunRecord("run1", date(2024, 1, 8), "hgb", "1", "0" * 64, date(2024, 1, 8), 8, {})
    store.write_run(record, flags, reason_rows if reasons else reason_rows.clear(), teams)
    store.dispose()
    return home / "flags.db"


def test_an_empty_result_has_the_columns_types(tmp_path: Path) -> None:
    store_with_a_run(tmp_path, reasons=False)
    store = FlagStore(default_url(tmp_path))
    reasons = store.run_reasons("run1")
    assert reasons.height == 0
    assert reasons.schema["flag_id"] == pl.String and reasons.schema["rank"] == pl.Int64
    assert reasons.schema["contribution"] == pl.Float64
    listing = flag_listing(store.run_flags("run1"), reasons)
    assert listing.rows() == [("p000001", "t001", "high", "", "open")]
    assert store.list_runs().clear().schema == store.list_runs().schema


def test_flags_of_a_run_without_reasons_are_listed(tmp_path: Path) -> None:
    store_with_a_run(tmp_path, reasons=False)
    result = runner.invoke(app, ["flags", "--home", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert 'p000001,t001,high,"",open' in result.output


def test_a_zero_byte_flag_store_is_refused_not_recreated(tmp_path: Path) -> None:
    path = tmp_path / "flags.db"
    path.write_bytes(b"")
    with pytest.raises(StoreError) as caught:
        FlagStore(default_url(tmp_path))
    message = str(caught.value)
    assert str(path) in message and "0 bytes" in message and "backup" in message
    assert "EWARN_STORE_URL" not in message
    assert path.stat().st_size == 0


@pytest.mark.parametrize("damage", ["overwritten", "truncated"])
def test_a_damaged_flag_store_names_the_file_and_the_fix(tmp_path: Path, damage: str) -> None:
    path = store_with_a_run(tmp_path)
    content = path.read_bytes()
    if damage == "overwritten":
        path.write_bytes(b"\0" * 4096 + content[4096:])
    else:
        path.write_bytes(content[: len(content) // 3])
    before = path.read_bytes()
    with pytest.raises(StoreError) as caught:
        store = FlagStore(default_url(tmp_path))
        store.run_flags("run1")
    message = str(caught.value)
    assert str(path) in message and "backup" in message
    assert "EWARN_STORE_URL" not in message
    assert path.read_bytes() == before


def test_reading_commands_never_create_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="--home"):
        FlagStore(default_url(tmp_path), create=False)
    assert not (tmp_path / "flags.db").exists()
    FlagStore(default_url(tmp_path)).dispose()  # the nightly job and `users add` create it
    assert (tmp_path / "flags.db").stat().st_size > 0


def test_a_home_that_cannot_hold_a_store_is_not_called_damaged(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StoreError) as caught:
        FlagStore(default_url(tmp_path / "a-file" / "home"))
    message = str(caught.value)
    assert "flags.db" in message and "folder" in message
    assert "EWARN_STORE_URL" not in message and "backup" not in message


def test_another_database_keeps_the_store_url_advice() -> None:
    with pytest.raises(StoreError, match="EWARN_STORE_URL"):
        FlagStore("postgresql+nosuchdriver://user:secret@localhost/ewarn")


# ---------------------------------------------------------------------------------------------
# the MLflow store's file


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"", "0 bytes"), (b"\0" * 8192, "not a readable SQLite database")],
)
def test_a_damaged_mlflow_db_names_the_file_and_the_fix(tmp_path: Path, content: bytes, says: str) -> None:
    from models.tracking import TrackingUnavailableError, check_reachable, tracking_uri

    path = tmp_path / "mlflow.db"
    path.write_bytes(content)
    with pytest.raises(TrackingUnavailableError) as caught:
        check_reachable(tracking_uri(tmp_path))
    message = str(caught.value)
    assert str(path) in message and says in message and "backup" in message
    assert "tracking server" not in message
    assert path.read_bytes() == content


@pytest.mark.slow  # creates a real MLflow tracking store, migrations and all
def test_a_truncated_mlflow_db_names_the_file_and_the_fix(tmp_path: Path) -> None:
    from models.tracking import TrackingStoreFileError, check_reachable, tracking_uri

    uri = tracking_uri(tmp_path)
    check_reachable(uri)
    path = tmp_path / "mlflow.db"
    import mlflow

    mlflow.MlflowClient(tracking_uri=uri).search_experiments()
    assert path.stat().st_size > 0
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE filler (x TEXT)")
        connection.executemany("INSERT INTO filler VALUES (?)", [("x" * 2000,)] * 200)
    connection.close()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(TrackingStoreFileError) as caught:  # lasting: the nightly job does not retry
        check_reachable(uri)
    assert str(path) in str(caught.value) and "backup" in str(caught.value)
    assert "tracking server" not in str(caught.value)


def test_a_missing_mlflow_db_is_not_created_by_a_check(tmp_path: Path) -> None:
    from models.tracking import TrackingUnavailableError, check_reachable, tracking_uri

    uri = tracking_uri(tmp_path)
    check_reachable(uri)  # training creates it when it logs the first model
    assert not (tmp_path / "mlflow.db").exists()
    with pytest.raises(TrackingUnavailableError, match="ewarn train"):
        check_reachable(uri, must_exist=True)
    assert not (tmp_path / "mlflow.db").exists()


# ---------------------------------------------------------------------------------------------
# reports


def test_latest_html_only_ever_shows_the_newest_week(tmp_path: Path) -> None:
    from flows.nightly import write_report

    write_report.fn(tmp_path, date(2024, 12, 23), "week 52")
    write_report.fn(tmp_path, date(2024, 12, 2), "week 49, run again later")
    reports = tmp_path / "reports"
    assert (reports / "latest.html").read_text() == "week 52"
    assert (reports / "nightly-2024-12-02.html").read_text() == "week 49, run again later"
    write_report.fn(tmp_path, date(2024, 12, 23), "week 52, run again")
    assert (reports / "latest.html").read_text() == "week 52, run again"
    write_report.fn(tmp_path, date(2024, 12, 30), "week 53")
    assert (reports / "latest.html").read_text() == "week 53"


# ---------------------------------------------------------------------------------------------
# main(): the exit code of whatever a command raises


def run_main_raising(exception: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`cli.main.main()` in a child whose command raises `exception` (Python source)."""
    script = (
        "import sys\n"
        "import cli.main as entry\n"
        "def command():\n"
        f"    raise {exception}\n"
        "entry.app = command\n"
        f"sys.argv = ['ewarn', *{list(args)!r}]\n"
        "entry.main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )


# Each case starts a Python process with the whole command line: the full suite's, not the quick loop's.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("exception", "code"),
    [
        ("RuntimeError('the disk said no')", 1),
        ("KeyError('flag_id')", 1),
        ("PermissionError(13, 'Permission denied', '/srv/ewarn/out.csv')", 1),
        ("KeyboardInterrupt()", 130),
        ("SystemExit(2)", 2),
        ("SystemExit(None)", 0),
    ],
)
def test_main_never_reports_a_failure_as_success(exception: str, code: int) -> None:
    done = run_main_raising(exception, "flags")
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_an_unexpected_failure_says_what_to_do_in_one_line() -> None:
    done = run_main_raising("RuntimeError('the disk said no')", "flags", "--home", "x")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "ewarn flags" in lines[0] and "the disk said no" in lines[0] and "--debug" in lines[0]
    quoted = run_main_raising("ValueError('could not parse jane.doe@example.com as float')", "features")
    assert "jane.doe@example.com" not in quoted.stderr and "could not parse" in quoted.stderr
    missing = run_main_raising("PermissionError(13, 'Permission denied', '/srv/ewarn/out.csv')", "flags")
    assert "/srv/ewarn/out.csv" in missing.stderr and "Permission denied" in missing.stderr


@pytest.mark.slow
def test_debug_shows_the_traceback_and_keeps_the_exit_code() -> None:
    done = run_main_raising("RuntimeError('the disk said no')", "--debug", "flags")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: the disk said no" in done.stderr
