"""Validation that helps: distinct bad names with the name each would get, hints, notes across tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from features.catalog import coverage, load_catalog
from features.contract_report import ValidationReport
from flows.landing import validate_folder

pytestmark = pytest.mark.code

runner = CliRunner()
HEADER = "person_id,week,signal,value\n"


def landing(folder: Path, **tables: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in tables.items():
        (folder / name.replace("_", ".", 1)).write_text(content, encoding="utf-8")
    return folder


def problem(report: ValidationReport, column: str, text: str):
    found = [p for p in report.problems if p.column == column and text in p.message]
    assert len(found) == 1, report.render()
    return found[0]


def test_bad_signal_names_are_listed_once_each_with_the_name_they_would_get(tmp_path: Path) -> None:
    rows = "".join(
        f"p{i},2024-01-01,Collaboration_hours,1\n"
        f"p{i},2024-01-01,After-hours (email),2\n"
        f"p{i},2024-01-01,ok,3\n"
        for i in range(6)
    )
    report = validate_folder(landing(tmp_path, signals_csv=HEADER + rows))
    found = problem(report, "signal", "may use only")
    assert found.rows == 12
    assert "2 distinct names" in found.message
    assert found.examples == (
        {"signal": "Collaboration_hours", "rows": 6, "suggested": "collaboration_hours"},
        {"signal": "After-hours (email)", "rows": 6, "suggested": "after_hours_email"},
    )
    assert 'signal="Collaboration_hours", rows=6, suggested="collaboration_hours"' in report.render()


def test_a_capitalised_event_is_shown_with_its_lowercase_name(tmp_path: Path) -> None:
    folder = landing(
        tmp_path,
        signals_csv=HEADER + "p1,2024-01-01,mood,1\n",
        events_csv="person_id,date,event\np1,2024-02-01,Resigned\np2,2024-02-01,Resigned\n",
    )
    found = problem(validate_folder(folder), "event", "may use only")
    assert found.examples == ({"event": "Resigned", "rows": 2, "suggested": "resigned"},)


def test_a_name_like_signal_is_masked_and_gets_no_suggestion(tmp_path: Path) -> None:
    report = validate_folder(landing(tmp_path, signals_csv=HEADER + "p1,2024-01-01,Jane Doe,1\n"))
    found = problem(report, "signal", "may use only")
    assert found.examples == ({"signal": "J*** D***", "rows": 1},)
    assert "jane" not in report.render().lower()


def test_a_decimal_comma_gets_a_hint(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=HEADER + 'p1,2024-01-01,mood,"33,97"\n')
    found = problem(validate_folder(folder), "value", "text where a number is expected")
    assert "decimal comma" in found.message and "33.97" in found.message


def test_words_in_a_number_column_get_no_decimal_comma_hint(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=HEADER + "p1,2024-01-01,mood,high\n")
    found = problem(validate_folder(folder), "value", "text where a number is expected")
    assert "decimal comma" not in found.message


def test_day_first_and_month_first_dates_are_recognised(tmp_path: Path) -> None:
    folder = landing(
        tmp_path,
        signals_csv=HEADER + "p1,31-01-2024,mood,1\n",
        events_csv="person_id,date,event\np1,01/31/2024,resigned\n",
    )
    report = validate_folder(folder)
    assert "day-first" in problem(report, "week", "YYYY-MM-DD").message
    assert "month-first" in next(p for p in report.problems if p.column == "date").message


def test_sunday_weeks_are_explained_with_the_monday_after(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=HEADER + "p1,2024-03-31,mood,1\np1,2024-04-07,mood,1\n")
    found = problem(validate_folder(folder), "week", "not a Monday")
    assert "Monday AFTER the Sunday" in found.message
    assert "ewarn import viva-insights" in found.message


def test_a_wednesday_week_gets_no_sunday_hint(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=HEADER + "p1,2024-01-03,mood,1\n")
    assert "Sunday" not in problem(validate_folder(folder), "week", "not a Monday").message


def test_notes_name_people_without_a_people_row_and_events_without_signals(tmp_path: Path) -> None:
    folder = landing(
        tmp_path,
        signals_csv=HEADER + "p1,2024-01-01,mood,1\np2,2024-01-01,mood,1\np3,2024-01-01,mood,1\n",
        people_csv="person_id,team_id\np1,t1\n",
        events_csv="person_id,date,event\np1,2024-02-01,hired\nx9,2024-02-01,resigned\nx9,2024-01-01,hired\n",
    )
    report = validate_folder(folder, notes=True)
    assert report.ok
    assert any("2 people in signals.csv have no row in people.csv" in note for note in report.notes)
    assert any("2 events in events.csv (1 person, 1 of them outcomes)" in note for note in report.notes)
    assert "Notes (not errors)" in report.render()
    assert validate_folder(folder).notes == ()  # only on request: loading for training skips the pass


def test_matching_tables_have_no_notes(tmp_path: Path) -> None:
    folder = landing(
        tmp_path,
        signals_csv=HEADER + "p1,2024-01-01,mood,1\n",
        people_csv="person_id,team_id\np1,t1\np2,t1\n",
        events_csv="person_id,date,event\np1,2024-02-01,resigned\n",
    )
    assert validate_folder(folder, notes=True).notes == ()


def test_catalog_coverage_counts_known_signals_and_names_near_misses() -> None:
    found = coverage(
        load_catalog(),
        ["questions_asked", "pulse.recognitoin", "WorkLifeBalance", "after_hours_collab_hours", "x"],
    )
    assert found.known == ("questions_asked",)
    assert found.near_misses == {
        "WorkLifeBalance": "work_life_balance",
        "after_hours_collab_hours": "after_hours_collaboration_hours",
        "pulse.recognitoin": "pulse.recognition",
    }
    assert "x" not in found.near_misses
    assert "describes 1 of 5 signals" in found.render()


def test_cli_validate_says_how_many_signals_the_catalog_knows(tmp_path: Path) -> None:
    folder = landing(
        tmp_path, signals_csv=HEADER + "p1,2024-01-01,questions_asked,1\np1,2024-01-01,questions_askd,1\n"
    )
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "catalog: describes 1 of 2 signals" in result.output
    assert "questions_askd: not in the catalog; did you mean questions_asked?" in result.output
