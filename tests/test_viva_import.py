"""`ewarn import viva-insights` on small person queries written here: every rule of the conversion."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.main import app
from features.names import normalise_event_name, normalise_signal_name
from features.viva import VivaImportError, VivaOptions, convert_person_query, viva_week
from flows.landing import load_landing
from flows.pseudonymise import pseudonym

pytestmark = pytest.mark.data

runner = CliRunner()
HEADER = (
    "PersonId,MetricDate,Collaboration_hours,After-hours collaboration (hours),eSat,"
    "Organization,Level,FunctionType\n"
)
QUERY = HEADER + (
    "a1,2024-03-31,20.5,4,3,IT,3,Advisor\n"
    "a1,2024-04-07,18,,4,IT,3,Advisor\n"
    "b2,2024-03-31,30,6.25,,Sales,2,Manager\n"
    "b2,2024-04-07,31,7,NA,Finance,2,Manager\n"
)


def write(folder: Path, text: str, name: str = "query.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def convert(text: str, **options: object):
    frame = pl.read_csv(text.encode(), infer_schema=False).lazy()
    return convert_person_query(frame, "query.csv", VivaOptions(**options))  # type: ignore[arg-type]


def run(*arguments: str, env: dict[str, str] | None = None):
    return runner.invoke(app, ["import", "viva-insights", *arguments], env=env)


# ---------------------------------------------------------------------------------------------
# weeks


def test_a_viva_week_from_sunday_is_dated_by_the_following_monday() -> None:
    # 2024-03-31 is a Sunday; six of its seven days (Mon 1 April to Sat 6 April) are ISO week 14.
    assert viva_week(date(2024, 3, 31)) == date(2024, 4, 1)
    assert date(2024, 4, 1).isocalendar().week == 14
    # A week that already starts on Monday stays where it is.
    assert viva_week(date(2024, 4, 1)) == date(2024, 4, 1)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_the_contract_week_holds_most_days_of_the_viva_week(start: date) -> None:
    week = viva_week(start)
    assert week.weekday() == 0
    days = [start + timedelta(days=n) for n in range(7)]
    inside = sum(week <= day < week + timedelta(days=7) for day in days)
    assert inside >= 4
    if start.weekday() == 6:
        assert inside == 6 and week == start + timedelta(days=1)


def test_us_and_iso_dates_give_the_same_weeks() -> None:
    iso = convert(QUERY).signals
    us = convert(QUERY.replace("2024-03-31", "3/31/2024").replace("2024-04-07", "04/07/2024 12:00:00 AM"))
    assert us.signals.equals(iso)
    assert sorted(iso["week"].unique().to_list()) == [date(2024, 4, 1), date(2024, 4, 8)]


# ---------------------------------------------------------------------------------------------
# signals and people


def test_metrics_become_signals_with_normalised_names_and_empty_cells_no_row() -> None:
    result = convert(QUERY)
    assert result.metrics == {
        "Collaboration_hours": "collaboration_hours",
        "After-hours collaboration (hours)": "after_hours_collaboration_hours",
        "eSat": "esat",
        "Level": "level",
    }
    signals = result.signals
    assert signals.columns == ["person_id", "week", "signal", "value"]
    a1 = signals.filter(pl.col("person_id") == "a1", pl.col("week") == date(2024, 4, 8))
    # The empty after-hours cell is "not observed": no row, never a zero.
    assert sorted(a1["signal"].to_list()) == ["collaboration_hours", "esat", "level"]
    b2 = signals.filter(pl.col("person_id") == "b2", pl.col("signal") == "esat")
    assert b2.height == 0  # empty and NA
    assert signals.filter(pl.col("signal") == "after_hours_collaboration_hours")["value"].to_list() == [
        4.0,
        6.25,
        7.0,
    ]
    assert signals.equals(signals.sort("person_id", "week", "signal"))


def test_hr_attributes_are_never_features() -> None:
    result = convert(QUERY, drop_columns=("Level",), audit_columns=("FunctionType",))
    assert "level" not in result.signals["signal"].to_list()
    assert set(result.signals["signal"].unique()) == {
        "collaboration_hours",
        "after_hours_collaboration_hours",
        "esat",
    }
    assert result.dropped == ("Level",)
    assert result.people is not None
    # The team and audit values come from the person's latest week.
    assert result.people.sort("person_id").rows() == [("a1", "IT", "Advisor"), ("b2", "Finance", "Manager")]
    assert result.people.columns == ["person_id", "team_id", "audit_functiontype"]


def test_text_attributes_not_named_are_dropped_and_listed() -> None:
    result = convert(QUERY, team_column="Organization")
    assert result.dropped == ("FunctionType",)
    assert result.audit_columns == {}


def test_without_a_team_column_no_people_table() -> None:
    result = convert(QUERY.replace("Organization", "Department"))
    assert result.people is None
    assert "Department" in result.dropped


def test_signal_names_follow_one_rule() -> None:
    assert normalise_signal_name("Copilot_actions_taken_in_Copilot_chat_(work)") == (
        "copilot_actions_taken_in_copilot_chat_work"
    )
    assert (
        normalise_signal_name("Days_of_active_Copilot_chat__work__usage")
        == "days_of_active_copilot_chat_work_usage"
    )
    assert normalise_signal_name("Pulse . Recognition") == "pulse.recognition"
    assert normalise_signal_name("Stimmung_ä") == "stimmung_a"
    assert normalise_event_name("Voluntary Resignation") == "voluntary_resignation"
    assert normalise_event_name("left.company") == "left_company"


# ---------------------------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        (
            HEADER + 'a1,2024-03-31,"20,5",4,3,IT,3,A\na1,2024-04-07,"18,25",4,3,IT,3,A\n',
            "Collaboration_hours",
            "decimal comma",
        ),
        (QUERY.replace("a1,2024-04-07,18,", "a1,2024-04-07,lots,"), "Collaboration_hours", "mixes numbers"),
        (QUERY.replace("2024-03-31", "31/03/2024"), "MetricDate", "day-first"),
        (QUERY.replace("2024-04-07", "2024-04-08"), "MetricDate", "different weekdays"),
        (QUERY.replace("2024-04-07", "last week"), "MetricDate", "not a date"),
        (QUERY.replace("a1,2024-04-07,18", "a1,2024-03-31,18"), None, "more than once"),
        (
            QUERY.replace("eSat", "Collaboration hours"),
            None,
            "would all become the signal 'collaboration_hours'",
        ),
        (QUERY.replace("PersonId", "Person"), "PersonId", "column is missing"),
        (QUERY.replace("a1,2024-04-07", ",2024-04-07"), "PersonId", "needs a person id"),
    ],
)
def test_ambiguous_exports_are_refused_with_the_column(text: str, column: str | None, words: str) -> None:
    with pytest.raises(VivaImportError) as raised:
        convert(text)
    matching = [p for p in raised.value.problems if words in p.message]
    assert matching, str(raised.value)
    assert matching[0].column == column


def test_a_named_attribute_that_is_not_there_is_refused() -> None:
    with pytest.raises(VivaImportError, match="no such column"):
        convert(QUERY, audit_columns=("Gender",))


# ---------------------------------------------------------------------------------------------
# the command


def test_import_writes_a_valid_landing_and_leaves_other_files_alone(tmp_path: Path) -> None:
    source = write(tmp_path / "in", QUERY)
    out = tmp_path / "landing"
    events = write(out, "person_id,date,event\na1,2024-05-01,resigned\n", "events.csv")
    notes = write(out, "keep me", "notes.txt")
    options = ("--audit-column", "FunctionType", "--drop-column", "Level")
    result = run(str(source), "--out", str(out), *options)
    assert result.exit_code == 0, result.output
    assert "HR attributes dropped, never features: Level." in result.output
    assert "FunctionType -> audit_functiontype" in result.output
    assert "describes 3 of 3 signals" in result.output
    assert events.read_text() == "person_id,date,event\na1,2024-05-01,resigned\n"
    assert notes.read_text() == "keep me"
    landing = load_landing(out)
    assert landing.events is not None
    people = landing.people.collect()  # type: ignore[union-attr]
    assert people.columns == ["person_id", "team_id", "hired_on", "audit_functiontype"]
    first = out.joinpath("signals.parquet").read_bytes(), out.joinpath("people.parquet").read_bytes()
    again = run(str(source), "--out", str(out), *options)
    assert again.exit_code == 0
    assert (
        out.joinpath("signals.parquet").read_bytes(),
        out.joinpath("people.parquet").read_bytes(),
    ) == first


def test_a_refused_import_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    source = write(tmp_path, QUERY.replace("2024-04-07", "2024-04-08"))
    out = tmp_path / "landing"
    result = run(str(source), "--out", str(out))
    assert result.exit_code == 2
    assert "MetricDate" in result.output and "Traceback" not in result.output
    assert not (out / "signals.parquet").exists()


def test_a_csv_table_of_the_same_name_is_not_shadowed(tmp_path: Path) -> None:
    source = write(tmp_path, QUERY)
    out = tmp_path / "landing"
    write(out, "person_id,team_id\na1,t\n", "people.csv")
    result = run(str(source), "--out", str(out))
    assert result.exit_code == 2
    assert "people.csv" in result.output
    assert not (out / "signals.parquet").exists()


def test_email_ids_are_refused_unless_pseudonymised(tmp_path: Path) -> None:
    source = write(tmp_path, QUERY.replace("a1,", "jane.doe@example.com,"))
    out = tmp_path / "landing"
    refused = run(str(source), "--out", str(out))
    assert refused.exit_code == 2
    assert "jane.doe" not in refused.output and "j***@***" in refused.output
    assert not out.exists() or not any(out.iterdir())
    key = "a-secret-key-of-16-or-more"
    done = run(str(source), "--out", str(out), "--pseudonymise", env={"EWARN_PSEUDONYM_KEY": key})
    assert done.exit_code == 0, done.output
    ids = set(pl.read_parquet(out / "signals.parquet")["person_id"])
    assert ids == {pseudonym("jane.doe@example.com", key.encode()), pseudonym("b2", key.encode())}
    assert "jane.doe" not in done.output


def test_pseudonymise_without_a_key_exits_2(tmp_path: Path) -> None:
    result = run(
        str(write(tmp_path, QUERY)),
        "--out",
        str(tmp_path / "o"),
        "--pseudonymise",
        env={"EWARN_PSEUDONYM_KEY": ""},
    )
    assert result.exit_code == 2
    assert "EWARN_PSEUDONYM_KEY" in result.output


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "does not exist" in result.output
