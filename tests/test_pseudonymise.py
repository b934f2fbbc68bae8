"""Keyed pseudonyms: stable, unlinkable without the key, and never printed raw."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.landing import load_landing, validate_folder
from flows.pseudonymise import PseudonymiseError, PseudonymiseResult, pseudonym, pseudonymise_folder

pytestmark = pytest.mark.code

KEY = b"0123456789abcdef-test-key"
OTHER_KEY = b"fedcba9876543210-test-key"
REAL_IDS = ("jane.doe@example.com", "Bob Smith", "e1234")
SIGNALS = (
    "person_id,week,signal,value\n"
    "jane.doe@example.com,2024-01-01,mood,3\n"
    "jane.doe@example.com,2024-01-08,mood,2.5\n"
    "jane.doe@example.com,2024-01-08,mood,2.5\n"
    "Bob Smith,2024-01-01,mood,4\n"
    "e1234,2024-01-01,mood,5\n"
)
EVENTS = "person_id,date,event\njane.doe@example.com,2024-02-01,resigned\n"
PEOPLE = (
    "person_id,team_id,hired_on,audit_gender\n"
    "jane.doe@example.com,t1,2020-01-01,f\n"
    "Bob Smith,t1,,m\n"
    "e1234,t2,,\n"
)

runner = CliRunner()


def source(folder: Path, **tables: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in tables.items():
        (folder / f"{name}.csv").write_text(content, encoding="utf-8")
    return folder


def full_source(folder: Path) -> Path:
    source(folder, signals=SIGNALS, events=EVENTS, people=PEOPLE)
    (folder / "truth").mkdir()
    (folder / "truth" / "labels.csv").write_text(
        "person_id,label\njane.doe@example.com,1\n", encoding="utf-8"
    )
    return folder


def test_pseudonym_is_a_keyed_hmac() -> None:
    value = pseudonym("jane.doe@example.com", KEY)
    assert re.fullmatch(r"p[0-9a-f]{24}", value)
    expected = hmac.new(KEY, b"jane.doe@example.com", hashlib.sha256).hexdigest()[:24]
    assert value == "p" + expected
    assert pseudonym("jane.doe@example.com", KEY) == value
    assert pseudonym("jane.doe@example.com", OTHER_KEY) != value
    assert pseudonym("Jane.Doe@example.com", KEY) != value


def test_pseudonym_hashes_utf8() -> None:
    expected = hmac.new(KEY, "Zoë Ærø".encode(), hashlib.sha256).hexdigest()[:24]
    assert pseudonym("Zoë Ærø", KEY) == "p" + expected


@pytest.mark.parametrize("key", [b"", b"short", b"x" * 15])
def test_short_keys_are_refused(key: bytes, tmp_path: Path) -> None:
    with pytest.raises(PseudonymiseError, match="too short"):
        pseudonym("e1", key)
    with pytest.raises(PseudonymiseError, match="too short"):
        pseudonymise_folder(full_source(tmp_path / "src"), tmp_path / "dst", key)
    assert not (tmp_path / "dst").exists()


def test_pseudonymise_folder_replaces_every_identifier(tmp_path: Path) -> None:
    src = full_source(tmp_path / "src")
    dst = tmp_path / "dst"
    result = pseudonymise_folder(src, dst, KEY)
    assert isinstance(result, PseudonymiseResult)
    assert result.people == 3
    assert result.rows == {"signals": 4, "events": 1, "people": 3}
    assert result.dropped_duplicates["signals"] == 1
    assert result.report is not None
    assert result.report.ok
    assert sorted(path.name for path in dst.iterdir()) == [
        "events.parquet",
        "people.parquet",
        "signals.parquet",
    ]

    assert validate_folder(dst).ok
    loaded = load_landing(dst)
    signals = loaded.signals.collect()
    expected = {pseudonym(raw, KEY) for raw in REAL_IDS}
    assert set(signals["person_id"]) == expected
    assert loaded.people is not None
    people = loaded.people.collect()
    assert set(people["person_id"]) == expected
    assert (
        people.filter(pl.col("person_id") == pseudonym("jane.doe@example.com", KEY))["audit_gender"].item()
        == "f"
    )
    assert loaded.events is not None
    assert loaded.events.collect()["person_id"].to_list() == [pseudonym("jane.doe@example.com", KEY)]

    for path in dst.iterdir():
        data = path.read_bytes()
        for raw in REAL_IDS:
            assert raw.encode() not in data, path.name


def test_result_render_shows_counts_only(tmp_path: Path) -> None:
    result = pseudonymise_folder(full_source(tmp_path / "src"), tmp_path / "dst", KEY)
    text = result.render()
    assert "3 distinct person ids" in text
    assert "signals.parquet: 4 rows" in text
    for raw in REAL_IDS:
        assert raw not in text
    for raw in REAL_IDS:
        assert pseudonym(raw, KEY) not in text


def test_same_key_gives_the_same_pseudonyms_across_runs(tmp_path: Path) -> None:
    src = full_source(tmp_path / "src")
    pseudonymise_folder(src, tmp_path / "a", KEY)
    pseudonymise_folder(src, tmp_path / "b", KEY)
    pseudonymise_folder(src, tmp_path / "c", OTHER_KEY)
    ids = {name: set(pl.read_parquet(tmp_path / name / "signals.parquet")["person_id"]) for name in "abc"}
    assert ids["a"] == ids["b"]
    assert not ids["a"] & ids["c"]


def test_subfolders_are_not_copied(tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    pseudonymise_folder(full_source(tmp_path / "src"), dst, KEY)
    assert not (dst / "truth").exists()


def test_only_present_tables_are_written(tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    pseudonymise_folder(source(tmp_path / "src", signals=SIGNALS), dst, KEY)
    assert [path.name for path in dst.iterdir()] == ["signals.parquet"]


def test_refuses_to_write_into_the_source(tmp_path: Path) -> None:
    src = full_source(tmp_path / "src")
    with pytest.raises(PseudonymiseError, match="source folder"):
        pseudonymise_folder(src, src / ".." / "src", KEY)


def test_refuses_a_destination_that_holds_landing_tables(tmp_path: Path) -> None:
    src = full_source(tmp_path / "src")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "events.csv").write_text("keep me", encoding="utf-8")
    with pytest.raises(PseudonymiseError, match="already holds landing tables"):
        pseudonymise_folder(src, dst, KEY)
    assert (dst / "events.csv").read_text(encoding="utf-8") == "keep me"
    assert not (dst / "signals.parquet").exists()


def test_existing_destination_without_tables_is_fine(tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "README.txt").write_text("pseudonymised exports", encoding="utf-8")
    pseudonymise_folder(full_source(tmp_path / "src"), dst, KEY)
    assert validate_folder(dst).ok
    assert not [path for path in dst.iterdir() if path.name.startswith(".")]


def test_invalid_source_is_refused_without_writing(tmp_path: Path) -> None:
    src = source(
        tmp_path / "src", signals="person_id,week,signal,value\njane@example.com,2024-01-03,mood,high\n"
    )
    dst = tmp_path / "dst"
    with pytest.raises(PseudonymiseError) as caught:
        pseudonymise_folder(src, dst, KEY)
    message = str(caught.value)
    assert "does not meet input contract" in message
    assert "not a Monday" in message
    assert "jane@example.com" not in message
    assert not (dst / "signals.parquet").exists()


def test_missing_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PseudonymiseError, match="does not exist"):
        pseudonymise_folder(tmp_path / "absent", tmp_path / "dst", KEY)


def test_cli_refuses_without_a_key(tmp_path: Path) -> None:
    src = full_source(tmp_path / "src")
    result = runner.invoke(
        app, ["pseudonymise", str(src), str(tmp_path / "dst")], env={"EWARN_PSEUDONYM_KEY": None}
    )
    assert result.exit_code == 2
    assert "EWARN_PSEUDONYM_KEY" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "dst").exists()


def test_cli_refuses_a_short_key(tmp_path: Path) -> None:
    src = full_source(tmp_path / "src")
    result = runner.invoke(
        app, ["pseudonymise", str(src), str(tmp_path / "dst")], env={"EWARN_PSEUDONYM_KEY": "short"}
    )
    assert result.exit_code == 2
    assert "too short" in result.output


def test_cli_pseudonymises_and_prints_counts(tmp_path: Path) -> None:
    src = full_source(tmp_path / "src")
    dst = tmp_path / "dst"
    result = runner.invoke(
        app, ["pseudonymise", str(src), str(dst)], env={"EWARN_PSEUDONYM_KEY": KEY.decode()}
    )
    assert result.exit_code == 0, result.output
    assert "3 distinct person ids" in result.output
    for raw in REAL_IDS:
        assert raw not in result.output
    validated = runner.invoke(app, ["validate", str(dst)])
    assert validated.exit_code == 0, validated.output


def test_cli_reports_an_invalid_source_with_exit_2(tmp_path: Path) -> None:
    src = source(tmp_path / "src", signals="person_id,week,signal,value\n")
    result = runner.invoke(
        app, ["pseudonymise", str(src), str(tmp_path / "dst")], env={"EWARN_PSEUDONYM_KEY": KEY.decode()}
    )
    assert result.exit_code == 2
    assert "no rows" in result.output
    assert "Traceback" not in result.output
