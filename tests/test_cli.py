"""The command line end to end on a small simulated organisation: exit codes, outputs, no tracebacks."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "landing"
    result = runner.invoke(
        app, ["simulate", "--out", str(out), "--people", "150", "--weeks", "40", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("command", ["validate", "pseudonymise", "simulate", "features", "demo"])
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_simulated_landing_passes_validation_and_keeps_truth_apart(landing: Path) -> None:
    result = runner.invoke(app, ["validate", str(landing)])
    assert result.exit_code == 0, result.output
    assert "meets input contract v1" in result.output
    assert (landing / "truth" / "motivation.parquet").exists()
    assert not any("motivation" in c for c in pl.read_parquet(landing / "signals.parquet").columns)


def test_features_for_every_week_with_labels(landing: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    result = runner.invoke(app, ["features", "--data", str(landing), "--out", str(out), "--labels"])
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(out)
    assert table.select("person_id", "week").is_duplicated().sum() == 0
    assert {"label", "questions_asked__deviation", "family:all__risk_deviation"} <= set(table.columns)
    assert table["label"].drop_nulls().sum() > 0


def test_features_as_of_one_week_to_csv(landing: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores_input.csv"
    result = runner.invoke(
        app, ["features", "--data", str(landing), "--out", str(out), "--as-of", "2024-09-05"]
    )
    assert result.exit_code == 0, result.output
    table = pl.read_csv(out, try_parse_dates=True)
    assert table["week"].cast(pl.String).unique().to_list() == ["2024-09-02"]
    assert table["person_id"].n_unique() == table.height > 50


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--out", "features.xlsx"], "must end in .parquet or .csv"),
        (["--out", "f.parquet", "--as-of", "2024-13-01"], "is not a date"),
        (["--out", "f.parquet", "--catalog", "missing.toml"], "catalog file not found"),
    ],
)
def test_features_refuses_bad_options_with_exit_2(
    landing: Path, tmp_path: Path, arguments: list[str], message: str
) -> None:
    arguments = [
        a if not a.endswith((".parquet", ".xlsx", ".toml")) else str(tmp_path / a) for a in arguments
    ]
    result = runner.invoke(app, ["features", "--data", str(landing), *arguments])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_features_on_invalid_data_exits_2_and_leaves_earlier_output_intact(tmp_path: Path) -> None:
    data = tmp_path / "bad"
    data.mkdir()
    (data / "signals.csv").write_text("person_id,week,signal,value\np1,2024-01-02,x,1\n", encoding="utf-8")
    out = tmp_path / "features.csv"
    out.write_text("earlier output\n", encoding="utf-8")
    result = runner.invoke(app, ["features", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 2
    assert "not a Monday" in result.output
    assert "Traceback" not in result.output
    assert out.read_text(encoding="utf-8") == "earlier output\n"


def test_labels_need_events(tmp_path: Path) -> None:
    data = tmp_path / "no-events"
    data.mkdir()
    (data / "signals.csv").write_text("person_id,week,signal,value\np1,2024-01-01,x,1\n", encoding="utf-8")
    result = runner.invoke(
        app, ["features", "--data", str(data), "--out", str(tmp_path / "f.csv"), "--labels"]
    )
    assert result.exit_code == 2
    assert "needs the events table" in result.output


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_demo_runs_the_main_job_into_the_home_folder(tmp_path: Path) -> None:
    from flows.store import FlagStore, default_url

    home = tmp_path / "home"
    result = runner.invoke(app, ["demo", "--home", str(home), "--people", "300", "--weeks", "70"])
    assert result.exit_code == 0, result.output
    assert (home / "landing" / "signals.parquet").exists() and (home / "mlflow.db").exists()
    run = FlagStore(default_url(home)).run()
    assert run is not None and run["flag_count"] > 0 and run["model_version"] == "1"
    assert (home / "reports" / "latest.html").exists()
    assert "Demo done in" in result.output
    for pointer in ("ewarn flags", "ewarn review", "mlflow ui", str(home / "reports")):
        assert pointer in result.output


def test_home_comes_from_the_environment_when_not_given(tmp_path: Path) -> None:
    home = tmp_path / "env-home"
    result = runner.invoke(app, ["flags"], env={"EWARN_HOME": str(home)})
    assert result.exit_code == 1
    assert str(home / "flags.db") in result.output.replace("\n", "")


def test_flags_without_any_reason_are_listed_with_empty_reasons() -> None:
    # A run whose flags have no reasons (signals the catalog gives no direction) comes back from
    # the store as an empty frame without column types.
    from cli.listing import flag_listing

    flag_rows = pl.DataFrame(
        {
            "flag_id": ["f1"],
            "rank": [1],
            "person_id": ["p1"],
            "team_id": ["t"],
            "band": ["high"],
            "status": ["open"],
        }
    )
    empty = pl.DataFrame([], schema=["flag_id", "rank", "sentence"], orient="row")
    listing = flag_listing(flag_rows, empty)
    assert listing.rows() == [("p1", "t", "high", "", "open")]
