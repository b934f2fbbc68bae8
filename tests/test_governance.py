"""Governance as a user runs it, on a small simulated home: simulate, train, nightly, then the rights.

The bar: `subject-access` for a flagged pseudonym holds their flags and reasons and exits 2 for an
unknown one; after `forget`, neither `ewarn flags` nor the next nightly shows the person and
`ewarn audit verify` passes; the works-council report and the notice are written and name no
pseudonym. The opt-out list keeps people out of scoring and training.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from features.catalog import load_catalog
from flows.modelling import prepare_tables
from flows.settings import Settings
from flows.store import FlagStore, default_url

runner = CliRunner()
pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.integration, pytest.mark.slow]
OLD_WEEK, LAST_RUN, LAST_WEEK = "2024-05-27", "2024-09-23", date(2024, 9, 30)


def invoke(*args: str, env: dict[str, str] | None = None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 people x 40 weeks, a champion, a nightly run long ago and one last week."""
    home = tmp_path_factory.mktemp("governance") / "home"
    steps = [
        ("simulate", "--out", home / "landing", "--people", "150", "--weeks", "40", "--seed", "3"),
        ("train", "--home", home, "--cutoff", "2024-06-24"),
        ("nightly", "--home", home, "--as-of", OLD_WEEK),
        ("nightly", "--home", home, "--as-of", LAST_RUN),
    ]
    for step in steps:
        result = invoke(*step)
        assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def home(trained_home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(trained_home, copy, ignore=shutil.ignore_patterns("*.lock"))
    return copy


def everyone(home: Path) -> list[str]:
    return pl.read_parquet(home / "landing" / "people.parquet")["person_id"].to_list()


def present_in(home: Path, week: date) -> set[str]:
    signals = pl.read_parquet(home / "landing" / "signals.parquet")
    return set(signals.filter(pl.col("week") == week)["person_id"].unique().to_list())


def test_subject_access_forget_and_the_next_nightly(home: Path, tmp_path: Path) -> None:
    listing = invoke("flags", "--home", home, "--format", "json")
    assert listing.exit_code == 0, listing.output
    shown = json.loads(listing.output)
    person = next(row["pseudonym"] for row in shown if row["pseudonym"] in present_in(home, LAST_WEEK))
    reasons = next(row["reasons"] for row in shown if row["pseudonym"] == person).split(" | ")

    copy = tmp_path / "copy.json"
    result = invoke("subject-access", person, "--out", copy, "--home", home)
    assert result.exit_code == 0, result.output
    record = json.loads(copy.read_text(encoding="utf-8"))
    latest = next(f for f in record["flags"] if f["week"] == LAST_RUN)
    assert [r["sentence"] for r in latest["reasons"]] == reasons
    assert latest["risk_band"] in {"elevated", "high", "very high"} and latest["model"]["version"] == "1"
    assert record["data_read"]["signals"]  # what the landing folder holds about them
    assert not [p for p in everyone(home) if p != person and p in copy.read_text(encoding="utf-8")]
    unknown = invoke("subject-access", "p999999", "--out", tmp_path / "none.json", "--home", home)
    assert unknown.exit_code == 2 and not (tmp_path / "none.json").exists()

    erased = invoke("forget", person, "--home", home)
    assert erased.exit_code == 0, erased.output
    after = invoke("flags", "--home", home, "--format", "csv")
    assert after.exit_code == 0 and person not in after.output
    assert not [p for p in (home / "reports").glob("*.html") if person in p.read_text(encoding="utf-8")]
    verify = invoke("audit", "verify", "--home", home)
    assert verify.exit_code == 0, verify.output

    # The next night, with a retention of 13 weeks: the person is not scored, the old night goes.
    night = invoke("nightly", "--home", home, env={"EWARN_RETENTION_WEEKS": "13"})
    assert night.exit_code == 0, night.output
    store = FlagStore(default_url(home))
    run = store.run()
    assert run is not None and str(run["as_of"]) == str(LAST_WEEK)
    assert run["people_scored"] == len(present_in(home, LAST_WEEK) - {person})
    assert person not in invoke("flags", "--home", home, "--format", "csv").output
    assert all(person not in store.run_flags(r)["person_id"].to_list() for r in store.list_runs()["run_id"])
    old = store.run(date.fromisoformat(OLD_WEEK))
    assert old is not None and store.run_flags(old["run_id"]).is_empty()
    assert not (home / "reports" / f"nightly-{OLD_WEEK}.html").exists()
    actions = store.audit_entries()["action"].to_list()
    assert "erasure" in actions and "retention_purge" in actions
    verify = invoke("audit", "verify", "--home", home)
    assert verify.exit_code == 0, verify.output


def test_works_council_report_and_notice_name_no_pseudonym(trained_home: Path, tmp_path: Path) -> None:
    people = everyone(trained_home)
    for command, name in (
        (("report", "works-council", "--months", "12"), "council.html"),
        (("notice",), "notice.html"),
        (("notice",), "notice.md"),
    ):
        out = tmp_path / name
        result = invoke(*command, "--out", out, "--home", trained_home)
        assert result.exit_code == 0, result.output
        text = out.read_text(encoding="utf-8")
        assert len(text) > 2000
        assert not [p for p in people if p in text], f"{name} names a pseudonym"
    council = (tmp_path / "council.html").read_text(encoding="utf-8")
    assert "Flags per month" in council and "2024-09" in council
    assert "there was no champion yet" in council  # the model change and its reason, from the registry


def test_the_opt_out_list_keeps_people_out_of_training(trained_home: Path, tmp_path: Path) -> None:
    out = everyone(trained_home)[:3]
    listed = tmp_path / "exclusions.txt"
    listed.write_text("# objected\n" + "\n".join(out) + "\n", encoding="utf-8")
    settings = Settings(home=tmp_path, exclusions=listed)
    tables = prepare_tables(trained_home / "landing", settings, load_catalog())
    assert not set(out) & set(tables.table["person_id"].to_list())
    assert tables.people is not None and not set(out) & set(tables.people["person_id"].to_list())
    assert tables.table["person_id"].n_unique() > 100
