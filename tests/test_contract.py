"""Input contract v1: every rule, through `validate_folder`, `load_landing` and `ewarn validate`."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app
from features.contract import check_table
from features.contract_report import Problem, ValidationReport
from features.contract_specs import PARTITION_ROWS, PEOPLE, SIGNALS, partition_count, person_partition
from features.masking import mask_identifiers
from flows.landing import (
    CSV_BYTES_PER_ROW,
    ContractViolation,
    Landing,
    load_landing,
    table_partitions,
    validate_folder,
)

pytestmark = pytest.mark.data

HEADER = "person_id,week,signal,value\n"
SIGNALS_OK = HEADER + (
    "p1,2024-01-01,mood,3.5\n"
    "p1,2024-01-01,meetings.hours,10\n"
    "p1,2024-01-08,mood,3\n"
    "p2,2024-01-01,mood,4\n"
    "p2,2024-01-08,mood,4.5\n"
    "p2,2024-01-08,meetings.hours,12.25\n"
)
EVENTS_OK = "person_id,date,event\np1,2024-03-04,resigned\np2,2024-02-01,long_term_sick_leave\n"
PEOPLE_OK = "person_id,team_id,hired_on,audit_gender\np1,t1,2020-05-01,f\np2,t1,,m\np3,t2,2021-01-01,\n"

runner = CliRunner()


def landing(folder: Path, **tables: str | bytes) -> Path:
    """Write a landing folder: keyword = file name with '_' for '.', e.g. signals_csv."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in tables.items():
        path = folder / name.replace("_", ".", 1)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return folder


def signals(*rows: str) -> str:
    return HEADER + "".join(row + "\n" for row in rows)


def only(report: ValidationReport, *, file: str | None = None, column: str | None = None) -> list[Problem]:
    return [
        problem
        for problem in report.problems
        if (file is None or problem.file == file) and (column is None or problem.column == column)
    ]


def one(report: ValidationReport, text: str, **where: str | None) -> Problem:
    found = [problem for problem in only(report, **where) if text in problem.message]
    assert len(found) == 1, report.render()
    return found[0]


# ---------------------------------------------------------------------------------------------
# valid folders


def test_valid_csv_folder_passes_with_a_summary(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=SIGNALS_OK, events_csv=EVENTS_OK, people_csv=PEOPLE_OK)
    report = validate_folder(folder)
    assert report.ok, report.render()
    summary = report.summary
    assert summary["signals"]["people"] == 2
    assert summary["signals"]["weeks"] == 2
    assert summary["signals"]["person_weeks"] == 4
    assert (summary["signals"]["first_week"], summary["signals"]["last_week"]) == ("2024-01-01", "2024-01-08")
    assert summary["signals"]["coverage"] == {"meetings.hours": 0.5, "mood": 1.0}
    assert summary["events"]["by_type"] == {"long_term_sick_leave": 1, "resigned": 1}
    assert summary["people"]["teams"] == 2
    assert summary["people"]["team_sizes"] == [2, 1]
    text = report.render()
    assert "OK" in text
    assert "2024-01-01 to 2024-01-08" in text
    assert "50.0%" in text
    assert text.rstrip().endswith("2 teams (sizes 1 to 2, median 2)")  # no threshold given, none counted
    assert "resigned 1" in text
    counted = validate_folder(folder, anonymity_threshold=2).render()
    assert "2 teams (sizes 1 to 2, median 2); 1 below the anonymity threshold of 2" in counted


def test_load_landing_gives_typed_lazy_frames(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=SIGNALS_OK, events_csv=EVENTS_OK, people_csv=PEOPLE_OK)
    loaded = load_landing(folder)
    assert isinstance(loaded, Landing)
    assert isinstance(loaded.signals, pl.LazyFrame)
    assert dict(loaded.signals.collect_schema()) == {
        "person_id": pl.String,
        "week": pl.Date,
        "signal": pl.String,
        "value": pl.Float64,
    }
    assert loaded.events is not None
    assert dict(loaded.events.collect_schema()) == {
        "person_id": pl.String,
        "date": pl.Date,
        "event": pl.String,
    }
    assert loaded.people is not None
    assert dict(loaded.people.collect_schema()) == {
        "person_id": pl.String,
        "team_id": pl.String,
        "hired_on": pl.Date,
        "audit_gender": pl.String,
    }
    people = loaded.people.collect()
    assert people["hired_on"].to_list() == [date(2020, 5, 1), None, date(2021, 1, 1)]
    assert loaded.signals.collect()["value"].sum() == pytest.approx(37.25)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.signals = loaded.signals  # type: ignore[misc]


def test_bom_and_crlf_csv_is_valid(tmp_path: Path) -> None:
    content = "\ufeff" + SIGNALS_OK.replace("\n", "\r\n")
    folder = landing(tmp_path, signals_csv=content, events_csv=EVENTS_OK.replace("\n", "\r\n"))
    report = validate_folder(folder)
    assert report.ok, report.render()
    frame = load_landing(folder).signals.collect()
    assert frame.columns == ["person_id", "week", "signal", "value"]
    assert frame.height == 6
    assert not frame["signal"].str.contains("\r").any()


def test_trailing_blank_lines_are_ignored(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=SIGNALS_OK + "\n\n\r\n")
    report = validate_folder(folder)
    assert report.ok, report.render()
    assert report.summary["signals"]["rows"] == 6


def test_parquet_tables_are_valid_and_typed(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    pl.DataFrame(
        {
            "person_id": ["p1", "p1", "p2"],
            "week": [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 1)],
            "signal": ["mood", "mood", "mood"],
            "value": pl.Series([1, 2, 3], dtype=pl.Int32),
        }
    ).write_parquet(tmp_path / "signals.parquet")
    pl.DataFrame({"person_id": ["p1"], "team_id": ["t1"]}).write_parquet(tmp_path / "people.parquet")
    loaded = load_landing(tmp_path)
    assert loaded.events is None
    assert loaded.signals.collect_schema()["value"] == pl.Float64
    assert loaded.people is not None
    assert loaded.people.collect_schema()["hired_on"] == pl.Date
    text = loaded.report.render()
    assert "events: not present" in text


def test_people_and_events_for_persons_absent_from_signals_are_fine(tmp_path: Path) -> None:
    folder = landing(
        tmp_path,
        signals_csv=SIGNALS_OK,
        events_csv=EVENTS_OK + "p99,2024-01-05,resigned\n",
        people_csv=PEOPLE_OK + "p42,t9,,\n",
    )
    assert validate_folder(folder).ok


def test_subfolders_and_other_files_are_ignored(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=SIGNALS_OK, notes_txt="anything", **{"README_md": "x"})
    landing(folder / "truth", signals_csv=b"\x00\xff junk", labels_csv="person_id\njane@corp.com\n")
    assert validate_folder(folder).ok


# ---------------------------------------------------------------------------------------------
# files


def test_missing_signals_is_an_error_and_near_misses_are_named(tmp_path: Path) -> None:
    folder = landing(tmp_path, events_csv=EVENTS_OK, signals_xlsx=b"PK")
    report = validate_folder(folder)
    problem = one(report, "is missing", file="signals")
    assert "signals.csv or signals.parquet" in problem.message
    assert "signals.xlsx" in problem.message


def test_missing_events_is_fine_unless_required(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=SIGNALS_OK)
    assert validate_folder(folder).ok
    report = validate_folder(folder, require_events=True)
    one(report, "is missing", file="events")


def test_missing_folder(tmp_path: Path) -> None:
    report = validate_folder(tmp_path / "nowhere")
    assert not report.ok
    assert "does not exist" in report.render()


def test_csv_and_parquet_of_the_same_table(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=SIGNALS_OK)
    pl.read_csv(folder / "signals.csv").write_parquet(folder / "signals.parquet")
    report = validate_folder(folder)
    problem = one(report, "keep exactly one")
    assert "signals.csv" in problem.file
    assert "signals.parquet" in problem.file


@pytest.mark.parametrize("name", ["signals_csv", "events_csv", "people_parquet"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    tables = {"signals_csv": SIGNALS_OK, name: b""}
    report = validate_folder(landing(tmp_path, **tables))
    file = name.replace("_", ".")
    problem = one(report, "is empty (0 bytes)", file=file)
    if name != "signals_csv":
        assert "leave the file out instead" in problem.message


def test_header_without_rows(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=SIGNALS_OK, events_csv="person_id,date,event\n")
    problem = one(validate_folder(folder), "no rows", file="events.csv")
    assert "leave the file out instead" in problem.message
    folder = landing(tmp_path / "b", signals_csv=HEADER)
    one(validate_folder(folder), "no rows", file="signals.csv")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_binary_junk_instead_of_a_table(tmp_path: Path, suffix: str) -> None:
    junk = bytes(range(256)) * 4
    folder = landing(tmp_path, **{f"signals_{suffix}": junk})
    report = validate_folder(folder)
    assert not report.ok
    assert report.problems[0].file == f"signals.{suffix}"
    text = report.render()
    assert "\x00" not in text
    assert "Traceback" not in text


def test_csv_that_is_not_utf8_names_the_rows(tmp_path: Path) -> None:
    content = (HEADER + "p1,2024-01-01,mood,1\np2,2024-01-01,m\u00fcde,1\n").encode("cp1252")
    problem = one(validate_folder(landing(tmp_path, signals_csv=content)), "UTF-8", file="signals.csv")
    assert problem.rows == 1
    assert problem.examples[0]["row"] == 2
    assert problem.examples[0]["person_id"] == "p2"


def test_reader_errors_mask_identifiers(tmp_path: Path) -> None:
    report = validate_folder(landing(tmp_path, signals_csv='person_id,week\n"Jane Doe'))
    assert not report.ok
    assert "Jane" not in report.render()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.binary(max_size=600), with_header=st.booleans(), parquet=st.booleans())
def test_random_bytes_never_raise(content: bytes, with_header: bool, parquet: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        name = "signals.parquet" if parquet else "signals.csv"
        (folder / name).write_bytes((HEADER.encode() if with_header else b"") + content)
        report = validate_folder(folder)
        assert isinstance(report.render(), str)
        if not with_header:
            assert not report.ok


# ---------------------------------------------------------------------------------------------
# columns


def test_missing_and_extra_columns(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv="person_id,week,value,comment\np1,2024-01-01,1,hi\n")
    report = validate_folder(folder)
    missing = one(report, "column is missing", column="signal")
    assert missing.file == "signals.csv"
    one(report, "unexpected column", column="comment")


def test_repeated_header_column(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv="person_id,week,signal,value,value\np1,2024-01-01,mood,1,2\n")
    one(validate_folder(folder), "more than once in the header", column="value")


def test_header_from_another_file(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv="person_id;week;signal;value\np1;2024-01-01;mood;1\n")
    problem = one(validate_folder(folder), "none of the expected columns", file="signals.csv")
    assert "';'" in problem.message


def test_parquet_column_of_the_wrong_type(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    pl.DataFrame(
        {"person_id": [1], "week": [date(2024, 1, 1)], "signal": ["mood"], "value": [True]}
    ).write_parquet(tmp_path / "signals.parquet")
    report = validate_folder(tmp_path)
    assert "text is expected" in one(report, "Int64", column="person_id").message
    one(report, "a number is expected", column="value")


def test_parquet_datetime_week_with_a_time_of_day(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    pl.DataFrame(
        {
            "person_id": ["p1", "p2"],
            "week": [datetime(2024, 1, 1), datetime(2024, 1, 1, 9, 30)],
            "signal": ["mood", "mood"],
            "value": [1.0, 2.0],
        }
    ).write_parquet(tmp_path / "signals.parquet")
    problem = one(validate_folder(tmp_path), "time of day", column="week")
    assert problem.rows == 1
    assert problem.examples[0]["person_id"] == "p2"


# ---------------------------------------------------------------------------------------------
# values


def test_text_in_a_numeric_column(tmp_path: Path) -> None:
    rows = ["p1,2024-01-01,mood,3", "p1,2024-01-08,mood,high", 'p2,2024-01-01,mood,"1,5"']
    report = validate_folder(landing(tmp_path, signals_csv=signals(*rows)))
    problem = one(report, "text where a number is expected", file="signals.csv", column="value")
    assert problem.rows == 2
    assert problem.examples == (
        {"row": 2, "person_id": "p1", "week": "2024-01-08", "signal": "mood", "value": "high"},
        {"row": 3, "person_id": "p2", "week": "2024-01-01", "signal": "mood", "value": "1,5"},
    )
    text = report.render()
    assert 'row 2: person_id="p1", week="2024-01-08", signal="mood", value="high"' in text


def test_row_with_too_many_fields(tmp_path: Path) -> None:
    report = validate_folder(landing(tmp_path, signals_csv=signals("p1,2024-01-01,mood,1,5")))
    one(report, "more fields than the header", file="signals.csv")


def test_examples_are_capped_at_five_but_every_row_is_counted(tmp_path: Path) -> None:
    rows = [f"p{i},2024-01-01,mood,n/a" for i in range(12)]
    problem = one(validate_folder(landing(tmp_path, signals_csv=signals(*rows))), "number", column="value")
    assert problem.rows == 12
    assert [example["row"] for example in problem.examples] == [1, 2, 3, 4, 5]


def test_malformed_dates(tmp_path: Path) -> None:
    folder = landing(
        tmp_path,
        signals_csv=signals("p1,2024-1-1,mood,1", "p2,01/01/2024,mood,1", "p3,2024-01-01,mood,1"),
        events_csv="person_id,date,event\np1,2024-02-30,resigned\np2,2024-02-29,resigned\n",
        people_csv="person_id,team_id,hired_on\np1,t1,last year\np2,t1,\n",
    )
    report = validate_folder(folder)
    week = one(report, "YYYY-MM-DD", file="signals.csv", column="week")
    assert week.rows == 2
    assert [example["week"] for example in week.examples] == ["2024-1-1", "01/01/2024"]
    event_date = one(report, "YYYY-MM-DD", file="events.csv", column="date")
    assert event_date.examples[0]["date"] == "2024-02-30"
    hired = one(report, "YYYY-MM-DD", file="people.csv", column="hired_on")
    assert hired.rows == 1
    assert hired.examples == ({"row": 1, "person_id": "p1", "team_id": "t1", "hired_on": "last year"},)


def test_week_that_is_not_a_monday(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=signals("p1,2024-01-01,mood,1", "p1,2024-01-03,mood,1"))
    problem = one(validate_folder(folder), "not a Monday", column="week")
    assert problem.rows == 1
    assert problem.examples[0]["week"] == "2024-01-03"


def test_nan_and_infinite_strings_in_csv(tmp_path: Path) -> None:
    rows = [
        "p1,2024-01-01,mood,nan",
        "p2,2024-01-01,mood,inf",
        "p3,2024-01-01,mood,-inf",
        "p4,2024-01-01,mood,NaN",
    ]
    problem = one(validate_folder(landing(tmp_path, signals_csv=signals(*rows))), "finite", column="value")
    assert problem.rows == 4
    assert [example["value"] for example in problem.examples] == ["nan", "inf", "-inf", "NaN"]


def test_nan_and_infinite_in_parquet(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    pl.DataFrame(
        {
            "person_id": ["p1", "p2", "p3"],
            "week": [date(2024, 1, 1)] * 3,
            "signal": ["mood"] * 3,
            "value": [float("nan"), float("inf"), 1.0],
        }
    ).write_parquet(tmp_path / "signals.parquet")
    problem = one(validate_folder(tmp_path), "finite", column="value")
    assert problem.rows == 2
    assert math.isnan(problem.examples[0]["value"])
    assert "value=nan" in validate_folder(tmp_path).render()


def test_missing_value(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=signals("p1,2024-01-01,mood,", "p2,2024-01-01,mood, "))
    assert one(validate_folder(folder), "empty", column="value").rows == 2


def test_identical_duplicates_are_dropped_and_counted(tmp_path: Path) -> None:
    content = SIGNALS_OK + "p1,2024-01-01,mood,3.5\np1,2024-01-01,mood,3.50\np2,2024-01-01,mood,4\n"
    folder = landing(tmp_path, signals_csv=content, events_csv=EVENTS_OK + "p1,2024-03-04,resigned\n")
    report = validate_folder(folder)
    assert report.ok, report.render()
    assert report.dropped_duplicates == {"signals": 3, "events": 1}
    assert "3 identical duplicate rows dropped" in report.render()
    loaded = load_landing(folder)
    assert loaded.signals.collect().height == 6
    assert loaded.events is not None
    assert loaded.events.collect().height == 2


def test_conflicting_duplicates_are_an_error(tmp_path: Path) -> None:
    content = signals(
        "p1,2024-01-01,mood,3", "p1,2024-01-01,mood,4", "p1,2024-01-01,mood,4", "p2,2024-01-01,mood,1"
    )
    problem = one(validate_folder(landing(tmp_path, signals_csv=content)), "different values")
    assert problem.file == "signals.csv"
    assert problem.rows == 3
    assert problem.examples == (
        {"person_id": "p1", "week": "2024-01-01", "signal": "mood", "value": [3.0, 4.0], "rows": 3},
    )


def test_empty_person_id(tmp_path: Path) -> None:
    folder = landing(
        tmp_path, signals_csv=signals(",2024-01-01,mood,1", '"",2024-01-01,mood,1', "  ,2024-01-01,mood,2")
    )
    problem = one(validate_folder(folder), "empty", column="person_id")
    assert problem.rows == 3
    assert problem.examples[0]["person_id"] is None


def test_person_id_longer_than_128_characters(tmp_path: Path) -> None:
    folder = landing(
        tmp_path, signals_csv=signals(f"{'x' * 128},2024-01-01,mood,1", f"{'y' * 129},2024-01-01,mood,1")
    )
    problem = one(validate_folder(folder), "longer than 128", column="person_id")
    assert problem.rows == 1
    assert problem.examples[0]["row"] == 2


@pytest.mark.parametrize("name", ["Mood", "mood score", "mood-score", "stimmung_ä"])
def test_signal_names_outside_the_allowed_characters(tmp_path: Path, name: str) -> None:
    folder = landing(tmp_path, signals_csv=signals(f"p1,2024-01-01,{name},1", "p1,2024-01-01,ok.name_2,1"))
    problem = one(validate_folder(folder), "may use only", column="signal")
    assert problem.examples[0]["signal"] == name


def test_event_names_may_not_hold_dots(tmp_path: Path) -> None:
    folder = landing(
        tmp_path, signals_csv=SIGNALS_OK, events_csv="person_id,date,event\np1,2024-01-01,left.company\n"
    )
    assert one(validate_folder(folder), "may use only", column="event").rows == 1


def test_people_with_duplicate_persons_and_an_unknown_column(tmp_path: Path) -> None:
    content = (
        "person_id,team_id,salary,audit_age_band\n"
        "p1,t1,100,30-39\np1,t2,100,30-39\np2,t1,90,\np3,t1,90,\np3,t1,90,\np3,t2,90,\n"
    )
    report = validate_folder(landing(tmp_path, signals_csv=SIGNALS_OK, people_csv=content))
    one(report, "unknown column", file="people.csv", column="salary")
    duplicate = one(report, "must be unique", file="people.csv", column="person_id")
    assert duplicate.message.startswith("2 people appear")
    assert duplicate.rows == 5
    assert duplicate.examples == ({"person_id": "p1", "rows": 2}, {"person_id": "p3", "rows": 3})
    assert not only(report, column="audit_age_band")


def test_people_needs_a_team(tmp_path: Path) -> None:
    report = validate_folder(landing(tmp_path, signals_csv=SIGNALS_OK, people_csv="person_id,team_id\np1,\n"))
    one(report, "empty", file="people.csv", column="team_id")


# ---------------------------------------------------------------------------------------------
# identifiers


def test_email_identifiers_are_refused_and_masked(tmp_path: Path) -> None:
    folder = landing(
        tmp_path,
        signals_csv=signals(
            "jane.doe@example.com,2024-01-01,mood,1", "jane.doe@example.com,2024-01-01,meetings,x"
        ),
        events_csv="person_id,date,event\nbob@example.org,2024-01-01,resigned\n",
    )
    report = validate_folder(folder)
    problem = one(report, "e-mail", file="signals.csv", column="person_id")
    assert problem.rows == 2
    assert problem.examples[0]["person_id"] == "j***@***"
    one(report, "e-mail", file="events.csv", column="person_id")
    text = report.render()
    assert "jane.doe" not in text
    assert "example.com" not in text
    assert "bob@" not in text
    assert "j***@***" in text


def test_name_like_identifiers_are_refused_and_masked(tmp_path: Path) -> None:
    report = validate_folder(landing(tmp_path, signals_csv=signals("Jane Doe,2024-01-01,mood,1")))
    problem = one(report, "personal name", column="person_id")
    assert problem.examples[0]["person_id"] == "J*** D***"
    assert "Jane" not in report.render()


def test_real_identifiers_can_be_allowed_for_pseudonymisation(tmp_path: Path) -> None:
    folder = landing(
        tmp_path, signals_csv=signals("jane.doe@example.com,2024-01-01,mood,1", "Jane Doe,2024-01-01,mood,2")
    )
    assert not validate_folder(folder).ok
    assert validate_folder(folder, allow_real_identifiers=True).ok


def test_mask_identifiers_leaves_pseudonyms_alone() -> None:
    assert mask_identifiers(["p3f2a9c1", "jane@x.org", "Doe, Jane", None]) == [
        "p3f2a9c1",
        "j***@***",
        "D*** J***",
        None,
    ]


def test_contract_violation_carries_the_report(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=signals("p1,2024-01-01,mood,abc"))
    with pytest.raises(ContractViolation) as caught:
        load_landing(folder)
    assert caught.value.report.problems
    assert str(caught.value) == caught.value.report.render()


def test_check_table_is_pure_over_lazy_frames() -> None:
    frame = pl.LazyFrame(
        {
            "person_id": ["p1", "p2"],
            "week": ["2024-01-01", "2024-01-02"],
            "signal": ["a", "b"],
            "value": ["1", "2"],
        }
    )
    check = check_table(SIGNALS, frame, "signals.csv")
    assert [problem.column for problem in check.problems] == ["week"]
    people = check_table(PEOPLE, pl.LazyFrame({"person_id": ["p1"], "team_id": ["t"]}), "people.parquet")
    assert people.problems == ()
    assert people.frame is not None


# ---------------------------------------------------------------------------------------------
# partitions: large tables are checked in passes by person, with the same report

PERSONS = [f"p{index:02d}" for index in range(12)]
WEEKS = ["2024-01-01", "2024-01-08", "2024-01-15"]


def many_people(*, conflicts: bool) -> dict[str, pl.DataFrame]:
    """12 people x 3 weeks x 2 signals with identical duplicates, and optionally conflicting ones.

    With conflicts, seven people get a second value and seven appear twice in people, so the five
    examples have to be picked across partitions.
    """
    cells = [
        (person, week, signal) for person in PERSONS for week in WEEKS for signal in ("mood", "sleep.hours")
    ]
    rows = [
        {"person_id": person, "week": week, "signal": signal, "value": float(number % 7)}
        for number, (person, week, signal) in enumerate(cells)
    ]
    # Identical duplicates of every third person's mood, dropped and left out of the summary.
    rows += [dict(row) for row in rows if row["person_id"] in PERSONS[::3] and row["signal"] == "mood"]
    events = [
        {"person_id": person, "date": "2024-02-01", "event": "resigned" if number % 2 else "promoted"}
        for number, person in enumerate(PERSONS)
    ]
    events += events[:4]
    people = [{"person_id": person, "team_id": f"t{number % 3}"} for number, person in enumerate(PERSONS)]
    if conflicts:
        rows += [
            {**row, "value": row["value"] + 1}
            for row in rows[: len(cells)]
            if row["person_id"] in PERSONS[:7] and row["week"] == WEEKS[0] and row["signal"] == "mood"
        ]
        people += [{**row, "team_id": "t9"} for row in people[5:]]
    frames = {"signals": pl.DataFrame(rows), "events": pl.DataFrame(events), "people": pl.DataFrame(people)}
    # Shuffled, so that no partition is a contiguous run of rows.
    return {name: frame.sample(fraction=1.0, shuffle=True, seed=7) for name, frame in frames.items()}


def write_tables(folder: Path, frames: dict[str, pl.DataFrame], suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if suffix == "csv":
            frame.write_csv(folder / f"{name}.csv")
        else:
            dates = [column for column in ("week", "date") if column in frame.columns]
            frame.with_columns(pl.col(dates).str.to_date()).write_parquet(folder / f"{name}.parquet")
    return folder


def test_person_partitions_hold_every_person_once() -> None:
    ids = pl.DataFrame({"person_id": [f"p{index:05d}" for index in range(3000)]})
    for partitions in (1, 3, 7):
        member = ids.select(
            person_partition(pl.col("person_id"), partitions, index).alias(str(index))
            for index in range(partitions)
        )
        assert (member.sum_horizontal() == 1).all()
        # Roughly even, so each pass holds about its share of the rows.
        assert all(member[column].sum() > 3000 / partitions / 2 for column in member.columns)
    # The small folders below really are split: several partitions hold people.
    split = (
        pl.DataFrame({"person_id": PERSONS}).select(person_partition(pl.col("person_id"), 3, 0)).to_series()
    )
    assert 0 < split.sum() < len(PERSONS)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
@pytest.mark.parametrize("conflicts", [False, True])
def test_partitions_do_not_change_the_report(tmp_path: Path, suffix: str, conflicts: bool) -> None:
    folder = write_tables(tmp_path / "landing", many_people(conflicts=conflicts), suffix)
    whole = validate_folder(folder, partitions=1)
    for partitions in (3, 7):
        split = validate_folder(folder, partitions=partitions)
        assert split.render() == whole.render()
        assert split.problems == whole.problems
        assert split.summary == whole.summary
        assert split.dropped_duplicates == whole.dropped_duplicates
    if conflicts:
        assert len(whole.problems) == 2, whole.render()
        values = one(whole, "different values", file=f"signals.{suffix}")
        assert values.message.startswith("7 combinations")
        assert [example["person_id"] for example in values.examples] == PERSONS[:5]
        people = one(whole, "must be unique", file=f"people.{suffix}")
        assert people.message.startswith("7 people appear")
        assert people.rows == 14
        assert [example["person_id"] for example in people.examples] == PERSONS[5:10]
    else:
        assert whole.ok, whole.render()
        assert whole.dropped_duplicates == {"signals": 12, "events": 4, "people": 0}
        signals_summary = whole.summary["signals"]
        assert (signals_summary["rows"], signals_summary["people"]) == (72, 12)
        assert (signals_summary["weeks"], signals_summary["person_weeks"]) == (3, 36)
        assert signals_summary["coverage"] == {"mood": 1.0, "sleep.hours": 1.0}
        assert whole.summary["events"] == {
            "file": f"events.{suffix}",
            "rows": 12,
            "people": 12,
            "by_type": {"promoted": 6, "resigned": 6},
        }
        assert whole.summary["people"]["team_sizes"] == [4, 4, 4]


def test_small_folders_report_the_same_in_partitions(tmp_path: Path) -> None:
    folders = [
        landing(tmp_path / "ok", signals_csv=SIGNALS_OK, events_csv=EVENTS_OK, people_csv=PEOPLE_OK),
        landing(
            tmp_path / "duplicates",
            signals_csv=SIGNALS_OK + "p1,2024-01-01,mood,3.5\np1,2024-01-08,mood,4\np2,2024-01-01,mood,4\n",
            people_csv=PEOPLE_OK + "p2,t2,,\n",
        ),
        landing(
            tmp_path / "encoding", signals_csv=(SIGNALS_OK + "p3,2024-01-01,m\u00fcde,1\n").encode("cp1252")
        ),
        landing(tmp_path / "no_value", signals_csv="person_id,week,signal\np1,2024-01-01,mood\n"),
        tmp_path / "typed",
    ]
    # A key column of the wrong type: there is nothing to group, in any number of partitions.
    folders[-1].mkdir()
    pl.DataFrame({"person_id": ["p1"], "week": [1], "signal": ["mood"], "value": [1.0]}).write_parquet(
        folders[-1] / "signals.parquet"
    )
    for folder in folders:
        whole = validate_folder(folder, partitions=1)
        split = validate_folder(folder, partitions=3)
        assert split.render() == whole.render()
        assert split.problems == whole.problems
    assert validate_folder(folders[0], partitions=3).summary["events"]["people"] == 2


def test_partitioned_csv_is_loaded_from_the_csv_itself(tmp_path: Path) -> None:
    # A large CSV is checked through a temporary Parquet copy; the frames handed on must not
    # read that copy, which is gone by then.
    folder = write_tables(tmp_path / "landing", many_people(conflicts=False), "csv")
    whole = load_landing(folder, partitions=1)
    split = load_landing(folder, partitions=3)
    for name in ("signals", "events", "people"):
        expected = getattr(whole, name).collect()
        assert getattr(split, name).collect().equals(expected)
    assert split.signals.collect().height == 72


def test_partitions_follow_the_table_size(tmp_path: Path) -> None:
    assert partition_count(0) == 1
    assert partition_count(PARTITION_ROWS) == 1
    assert partition_count(PARTITION_ROWS + 1) == 2
    pl.DataFrame({"person_id": [f"p{index}" for index in range(10)]}).write_parquet(tmp_path / "a.parquet")
    assert table_partitions(tmp_path / "a.parquet", rows_per_partition=3) == 4
    (tmp_path / "a.csv").write_text("x" * (CSV_BYTES_PER_ROW * 10))
    assert table_partitions(tmp_path / "a.csv", rows_per_partition=5) == 2
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    assert table_partitions(tmp_path / "junk.parquet", rows_per_partition=1) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.binary(max_size=400))
def test_partitions_do_not_change_the_report_whatever_the_bytes(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "signals.csv").write_bytes(SIGNALS_OK.encode() + content)
        whole = validate_folder(folder, partitions=1)
        split = validate_folder(folder, partitions=3)
        assert split.render() == whole.render()


UNREADABLE_AGAIN_AND_AGAIN = """
import sys
from pathlib import Path
from flows.landing import validate_folder

folder = Path(sys.argv[1])
header = sys.argv[2].encode()
endings = [b"p3,2024-01-08,mood,\\xc8\\n", b"p3,2024-01-08,mood,3,9,9\\n", b'p3,"2024-01-08,mood,3\\n']
for attempt in range(300):
    (folder / "signals.csv").write_bytes(header + endings[attempt % len(endings)])
    assert validate_folder(folder, partitions=1 + attempt % 3).problems
(folder / "signals.csv").write_bytes(header)
assert not validate_folder(folder).problems
"""


def test_unreadable_files_checked_again_and_again_never_stall_the_reader(tmp_path: Path) -> None:
    # A read error inside a streaming run of several queries could kill polars' executor
    # threads, and a later check then waited for good: it hung a CI run in the test above.
    result = subprocess.run(
        [sys.executable, "-c", UNREADABLE_AGAIN_AND_AGAIN, str(tmp_path), SIGNALS_OK],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "panicked" not in result.stderr, result.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# row order: a table sorted by its key is checked in one pass, with the same report


def sorted_by_key(frames: dict[str, pl.DataFrame], *, time_first: bool = False) -> dict[str, pl.DataFrame]:
    keys = {"signals": SIGNALS.key, "events": ("person_id", "date", "event"), "people": PEOPLE.key}
    if time_first:
        keys = {"signals": ("week", "person_id", "signal"), "events": ("date", "person_id", "event")}
    return {name: frame.sort(list(keys.get(name, PEOPLE.key))) for name, frame in frames.items()}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
@pytest.mark.parametrize("conflicts", [False, True])
def test_row_order_does_not_change_the_report(tmp_path: Path, suffix: str, conflicts: bool) -> None:
    shuffled = many_people(conflicts=conflicts)
    distinct = {name: frame.unique(maintain_order=True) for name, frame in shuffled.items()}
    for number, tables in enumerate((shuffled, distinct)):
        reports, folders = [], []
        for label, frames in (("shuffled", tables), ("sorted", sorted_by_key(tables))):
            folders.append(write_tables(tmp_path / f"{label}{number}", frames, suffix))
            reports.append(validate_folder(folders[-1], partitions=3))
        assert reports[0].render().replace(str(folders[0]), "") == reports[1].render().replace(
            str(folders[1]), ""
        )
        assert reports[0].problems == reports[1].problems
        assert reports[0].summary == reports[1].summary
        assert reports[0].dropped_duplicates == reports[1].dropped_duplicates


def test_sorted_table_without_repeats_skips_the_key_grouping_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    distinct = {name: frame.unique() for name, frame in many_people(conflicts=False).items()}
    tables = sorted_by_key(distinct)
    expected = validate_folder(write_tables(tmp_path / "a", tables, "parquet"), partitions=3)
    assert expected.ok and expected.summary["signals"]["person_weeks"] == 36
    write_tables(tmp_path / "t", sorted_by_key(distinct, time_first=True), "parquet")

    def no_grouping(*args: object, **kwargs: object) -> None:
        raise AssertionError("the key grouping pass ran on a table in key order")

    monkeypatch.setattr("features.contract.partition_pass", no_grouping)
    assert validate_folder(tmp_path / "a", partitions=3).summary == expected.summary
    assert validate_folder(tmp_path / "t", partitions=3).summary == expected.summary
    # One repeated key, next to its twin: found all the same (by the grouping pass).
    monkeypatch.undo()
    repeated = pl.concat([tables["signals"], tables["signals"].head(1)]).sort(list(SIGNALS.key))
    report = validate_folder(write_tables(tmp_path / "b", {**tables, "signals": repeated}, "parquet"))
    assert report.dropped_duplicates["signals"] == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["p1", "p2", "p3", "a@b.c", ""]),
            st.sampled_from(["2024-01-01", "2024-01-08", "2024-01-09"]),
            st.sampled_from(["mood", "Mood", "sleep.hours"]),
            st.sampled_from(["1", "2", "", "nan"]),
        ),
        min_size=1,
        max_size=12,
    ),
    seed=st.integers(0, 1000),
)
def test_any_row_order_gives_the_same_report(rows: list[tuple[str, str, str, str]], seed: int) -> None:
    frame = pl.DataFrame(rows, schema=["person_id", "week", "signal", "value"], orient="row")
    with tempfile.TemporaryDirectory() as tmp:
        reports = []
        for label, table in (
            ("sorted", frame.sort("person_id", "week", "signal")),
            ("time_first", frame.sort("week", "person_id", "signal")),
            ("shuffled", frame.sample(fraction=1.0, shuffle=True, seed=seed)),
        ):
            folder = Path(tmp) / label
            folder.mkdir()
            table.write_csv(folder / "signals.csv")
            reports.append(validate_folder(folder))

        # Examples are numbered by row, which moves with the order: compare all but the rows.
        def without_rows(report: ValidationReport) -> list[tuple]:
            return sorted(
                (p.file, p.column or "", p.message, p.rows, len(p.examples)) for p in report.problems
            )

        for report in reports[1:]:
            assert without_rows(report) == without_rows(reports[0])
            assert report.summary == reports[0].summary
            assert report.dropped_duplicates == reports[0].dropped_duplicates


# ---------------------------------------------------------------------------------------------
# command line


def test_cli_validate_valid_folder(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=SIGNALS_OK, people_csv=PEOPLE_OK)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "meets input contract v1" in result.output
    assert "meetings.hours" in result.output


def test_cli_validate_invalid_folder(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=signals("jane@corp.com,2024-01-02,mood,abc"))
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "signals.csv" in result.output
    assert "not a Monday" in result.output
    assert "jane@corp.com" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "content", [b"", bytes(range(256)), b"\xef\xbb\xbf\r\n\r\n", b'person_id,week\n"unterminated']
)
def test_cli_validate_never_shows_a_traceback(tmp_path: Path, content: bytes) -> None:
    folder = landing(tmp_path, signals_csv=content)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_cli_validate_missing_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_cli_validate_allows_real_identifiers_on_request(tmp_path: Path) -> None:
    folder = landing(tmp_path, signals_csv=signals("jane@corp.com,2024-01-01,mood,1"))
    result = runner.invoke(app, ["validate", str(folder), "--allow-real-identifiers"])
    assert result.exit_code == 0, result.output
