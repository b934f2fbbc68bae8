"""Governance commands on a store of synthetic runs: subject access, erasure, works council, notice."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.exclusions import ExclusionListError, parse_exclusions, read_exclusions
from flows.store import FlagStore, default_url
from review.sample import SampleOrg, fill_sample_store

pytestmark = pytest.mark.code

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path) -> tuple[Path, SampleOrg]:
    store = FlagStore(default_url(tmp_path))
    org = fill_sample_store(store, runs=8)
    store.dispose()
    return tmp_path, org


def every_pseudonym(home: Path) -> set[str]:
    store = FlagStore(default_url(home))
    return {p for run in store.list_runs()["run_id"] for p in store.run_flags(run)["person_id"]}


def flagged(home: Path) -> tuple[str, pl.DataFrame]:
    """The pseudonym flagged most often, and their flags."""
    store = FlagStore(default_url(home))
    rows = pl.concat([store.run_flags(run) for run in store.list_runs()["run_id"]])
    person = rows.group_by("person_id").len().sort(["len", "person_id"], descending=[True, False])[0, 0]
    return person, rows.filter(pl.col("person_id") == person)


def invoke(*args: str, env: dict[str, str] | None = None):
    result = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in result.output
    return result


def test_subject_access_holds_the_persons_flags_reasons_and_decisions_only(home, tmp_path: Path) -> None:
    root, org = home
    person, theirs = flagged(root)
    store = FlagStore(default_url(root))
    store.add_review(theirs["flag_id"][0], "conversation_planned", "Talk on Friday about goals.", "ana")
    store.audit("ana", "view_flag", f"flag:{theirs['flag_id'][0]}", f"pseudonym:{person}")
    out = tmp_path / "copy.json"
    result = invoke("subject-access", person, "--out", str(out), "--home", str(root))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    record = json.loads(text)
    assert record["pseudonym"] == person
    assert sorted(f["week"] for f in record["flags"]) == sorted(str(w) for w in theirs["as_of"])
    stored = store.run_reasons(theirs["run_id"][0]).filter(pl.col("flag_id") == theirs["flag_id"][0])
    first = next(f for f in record["flags"] if f["week"] == str(theirs["as_of"][0]))
    assert [r["sentence"] for r in first["reasons"]] == stored.sort("rank")["sentence"].to_list()
    assert first["conversation_prompts"] and first["model"]["version"] == "3"
    assert [d["note"] for d in record["decisions"]] == ["Talk on Friday about goals."]
    assert [a["what"] for a in record["access"]] == ["recorded a decision", "opened the flag page"]
    assert record["how_flags_are_made"] and "2%" in " ".join(record["how_flags_are_made"])
    # Teams and other people never appear.
    assert '"team' not in text
    assert not any(team in text for team in org.team_sizes)
    assert not [p for p in every_pseudonym(root) - {person} if p in text]
    audited = store.audit_entries().filter(pl.col("action") == "subject_access")
    assert audited["target"].to_list() == [f"person:{person}"]


def test_subject_access_as_html_opens_offline(home, tmp_path: Path) -> None:
    root, _ = home
    person, theirs = flagged(root)
    out = tmp_path / "copy.html"
    result = invoke("subject-access", person, "--out", str(out), "--home", str(root))
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and person in page
    assert not any(tag in page for tag in ("<script", "<link", " src=", " href="))  # opens offline
    assert page.count("<h3>Week of") == theirs.height


def test_an_unknown_pseudonym_exits_2_writes_nothing_and_is_audited(home, tmp_path: Path) -> None:
    root, _ = home
    out = tmp_path / "copy.json"
    result = invoke("subject-access", "E-004711", "--out", str(out), "--home", str(root))
    assert result.exit_code == 2
    assert "holds nothing about that pseudonym" in result.output
    assert "E-004711" not in result.output  # it may be an employee number typed by mistake
    assert not out.exists()
    entries = FlagStore(default_url(root)).audit_entries()
    refused = entries.filter(pl.col("action") == "subject_access_refused")
    assert refused.height == 1 and "E-004711" not in str(refused.rows())


@pytest.mark.parametrize("value", ["jane.doe@example.com", "Jane Doe"])
def test_a_name_or_email_is_refused_without_repeating_it(home, tmp_path: Path, value: str) -> None:
    root, _ = home
    for command in (["subject-access", value, "--out", str(tmp_path / "x.json")], ["forget", value]):
        result = invoke(*command, "--home", str(root))
        assert result.exit_code == 2
        assert value not in result.output and "not a pseudonym" in result.output


def test_subject_access_refuses_an_unknown_format_before_any_work(home, tmp_path: Path) -> None:
    root, _ = home
    person, _ = flagged(root)
    result = invoke("subject-access", person, "--out", str(tmp_path / "copy.pdf"), "--home", str(root))
    assert result.exit_code == 2 and ".json or .html" in result.output


def test_forget_erases_the_person_keeps_a_tombstone_and_the_trail_verifies(home) -> None:
    root, _ = home
    person, theirs = flagged(root)
    store = FlagStore(default_url(root))
    store.add_review(theirs["flag_id"][0], "false_alarm", "Was on a course.", "ana")
    result = invoke("forget", person, "--home", str(root))
    assert result.exit_code == 0, result.output
    assert f"{theirs.height} flags" in result.output and "1 decisions" in result.output
    assert person not in every_pseudonym(root)
    for run in store.list_runs()["as_of"]:
        listing = invoke("flags", "--home", str(root), "--as-of", str(run), "--format", "csv")
        assert listing.exit_code == 0 and person not in listing.output
    assert store.review_history().filter(pl.col("person_id") == person).is_empty()
    assert person in read_exclusions(root / "exclusions.txt")
    tombstone = store.audit_entries().filter(pl.col("action") == "erasure")
    assert tombstone["target"].to_list() == [f"person:{person}"]
    verify = invoke("audit", "verify", "--home", str(root))
    assert verify.exit_code == 0, verify.output
    # Asked again, the person is known (tombstone, opt-out list) and nothing is left to erase.
    again = invoke("forget", person, "--home", str(root))
    assert again.exit_code == 0 and "0 flags" in again.output
    copy = root / "after.json"
    assert invoke("subject-access", person, "--out", str(copy), "--home", str(root)).exit_code == 0
    record = json.loads(copy.read_text(encoding="utf-8"))
    assert record["flags"] == [] and record["decisions"] == [] and record["opt_out_listed"]
    assert record["erased_at"]


def test_works_council_report_shows_aggregates_and_hides_small_teams(home, tmp_path: Path) -> None:
    root, _ = home
    person, _ = flagged(root)
    assert invoke("forget", person, "--home", str(root)).exit_code == 0
    store = FlagStore(default_url(root))
    decided = pl.concat([store.run_flags(run) for run in store.list_runs()["run_id"]])["flag_id"][:6]
    for n, flag_id in enumerate(decided):
        decision = "false_alarm" if n % 3 == 0 else "conversation_planned"
        store.add_review(flag_id, decision, "Spoke with them on Friday.", "zed.reviewer")
    out = tmp_path / "council.html"
    result = invoke("report", "works-council", "--out", str(out), "--months", "6", "--home", str(root))
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert not [p for p in every_pseudonym(root) | {person} if p in page]
    assert "Spoke with them" not in page and "zed.reviewer" not in page  # no note, no reviewer
    assert "False-alarm rate: <strong>33%</strong> of 6 reviewed flags" in page
    # t04 (4 people) and t07 (3) are under the threshold; together they hold 7, so t05 (6) may show.
    assert "<td>t04</td>" not in page and "<td>t07</td>" not in page
    assert "<td>t05</td>" in page and "<td>t01</td>" in page
    assert "People erased on request: fewer than 5" in page
    assert "<td>Erasures</td><td>fewer than 5</td>" in page
    assert "2025-03" in page and "Every model change" in page
    assert not any(tag in page for tag in ("<script", "<link", " src=", " href="))  # opens offline


def test_notice_is_generated_from_the_configuration_in_force(home, tmp_path: Path) -> None:
    root, _ = home
    env = {"EWARN_RETENTION_WEEKS": "30", "EWARN_CAPACITY": "0.03"}
    for name in ("notice.md", "notice.html"):
        out = tmp_path / name
        result = invoke("notice", "--out", str(out), "--home", str(root), env=env)
        assert result.exit_code == 0, result.output
        text = out.read_text(encoding="utf-8")
        assert "30 weeks" in text and "at most 3% of people" in text
        assert "keystrokes" in text and "never leads to a decision by itself" in text
        assert "Questions asked" in text  # from the catalog
        assert not [p for p in every_pseudonym(root) if p in text]
    assert invoke("notice", "--out", str(tmp_path / "notice.txt"), "--home", str(root)).exit_code == 2


def test_the_opt_out_list_takes_pseudonyms_only_and_never_repeats_a_name() -> None:
    assert parse_exclusions("# objected\np0001  # on leave\n\n  p0002\n") == {"p0001", "p0002"}
    with pytest.raises(ExclusionListError) as caught:
        parse_exclusions("p0001\nJane Doe\njane@example.com\n")
    message = str(caught.value)
    assert "2 lines (2, 3)" in message and "Jane" not in message and "jane@" not in message


@pytest.fixture(scope="module")
def small_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("optout") / "landing"
    made = invoke("simulate", "--out", str(landing), "--people", "60", "--weeks", "20", "--seed", "5")
    assert made.exit_code == 0, made.output
    return landing


def test_features_leave_out_the_people_on_the_opt_out_list(small_landing: Path, tmp_path: Path) -> None:
    people = pl.read_parquet(small_landing / "people.parquet")["person_id"].to_list()[:2]
    (tmp_path / "exclusions.txt").write_text("\n".join(people) + "\n", encoding="utf-8")
    out = tmp_path / "features.parquet"
    env = {"EWARN_HOME": str(tmp_path)}
    result = invoke("features", "--data", str(small_landing), "--out", str(out), env=env)
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(out)
    assert table["person_id"].n_unique() > 40 and not set(people) & set(table["person_id"])


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_a_name_on_the_opt_out_list_stops_every_run_without_repeating_it(
    small_landing: Path, tmp_path: Path
) -> None:
    (tmp_path / "exclusions.txt").write_text("p000001\nJane Doe\n", encoding="utf-8")
    env = {"EWARN_HOME": str(tmp_path)}
    features = invoke("features", "--data", str(small_landing), "--out", str(tmp_path / "f.csv"), env=env)
    night = invoke("nightly", "--data", str(small_landing), "--home", str(tmp_path))
    for result in (features, night):
        assert result.exit_code == 2, result.output
        assert "exclusions.txt: 1 line (2)" in result.output and "Jane" not in result.output
    assert not (tmp_path / "f.csv").exists()
