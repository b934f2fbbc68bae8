"""`ewarn import table`: an export and a mapping become contract tables; bad ones exit 2 and say where."""

from __future__ import annotations

import shutil
import tomllib
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from features.table_convert import convert
from features.table_import import MappingError, normalise_name, parse_mapping

pytestmark = pytest.mark.data

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def text_frame(**columns: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(columns, schema={name: pl.String for name in columns})


def mapping(text: str):
    return parse_mapping(tomllib.loads(text))


def problems_of(export: pl.DataFrame, text: str) -> str:
    with pytest.raises(MappingError) as caught:
        convert(export, mapping(text), "export.csv")
    return str(caught.value)


# --------------------------------------------------------------------------------------------------
# The mapping


def test_normalised_names_follow_the_signal_name_rule() -> None:
    assert normalise_name("Work-life balance (1-5)") == "work_life_balance_1_5"
    assert normalise_name("JobSatisfaction") == "job_satisfaction"
    assert normalise_name("  pulse.Recognition ") == "pulse.recognition"


def test_a_mapping_names_every_key_at_fault() -> None:
    with pytest.raises(MappingError) as caught:
        mapping(
            'delimiter = ";;"\nfoo = 1\n[events]\nevent = "Reason"\ndate = "When"\n'
            '[events.values]\n"Voluntary resignation" = "Resigned"\n'
        )
    text = str(caught.value)
    assert "person: name the column" in text
    assert "foo: not a mapping key" in text
    assert "delimiter" in text
    assert '"Voluntary resignation" = "Resigned"' in text and "a-z, 0-9 and '_'" in text


def test_signals_need_either_wide_metrics_or_long_signal_and_value() -> None:
    with pytest.raises(MappingError, match="metrics"):
        mapping('person = "P"\n[signals]\ndate = "D"\n')
    with pytest.raises(MappingError, match="not both"):
        mapping('person = "P"\n[signals]\ndate = "D"\nmetrics = ["A"]\nsignal = "S"\nvalue = "V"\n')


def test_day_first_dates_in_words_become_strftime_codes() -> None:
    assert (
        mapping('person = "P"\ndate_format = "DD-MM-YYYY"\n[people]\nteam = "T"\n').date_format == "%d-%m-%Y"
    )


# --------------------------------------------------------------------------------------------------
# Conversion


WIDE = """
person = "Id"
decimal_comma = true
date_format = "DD-MM-YYYY"
[signals]
date = "Date"
metrics = ["Work load", "Mood"]
"""


def test_a_wide_export_becomes_one_row_per_observed_cell_on_the_monday_of_its_week() -> None:
    export = text_frame(
        Id=["a", "a", "b"],
        Date=["10-01-2024", "17-01-2024", "12-01-2024"],
        **{"Work load": ["3,5", "", "4"]},
        Mood=["1", "2", " "],
    )
    signals = convert(export, mapping(WIDE), "export.csv").tables["signals"]
    assert signals.columns == ["person_id", "week", "signal", "value"]
    # Empty cells are "not observed": no row, never zero.
    assert signals.height == 4
    assert set(signals["week"].to_list()) == {date(2024, 1, 8), date(2024, 1, 15)}
    assert signals.filter(pl.col("signal") == "work_load")["value"].to_list() == [3.5, 4.0]


def test_a_long_export_maps_its_signal_names_and_derives_the_rest() -> None:
    export = text_frame(
        P=["a", "a", "b"],
        D=["2024-01-08"] * 3,
        Q=["I feel recognised", "Team Spirit", "I feel recognised"],
        V=["4", "3", "2"],
    )
    text = (
        'person = "P"\n[signals]\ndate = "D"\nsignal = "Q"\nvalue = "V"\n'
        '[signals.names]\n"I feel recognised" = "pulse.recognition"\n'
    )
    converted = convert(export, mapping(text), "export.csv")
    assert sorted(converted.tables["signals"]["signal"].unique()) == ["pulse.recognition", "team_spirit"]
    assert any('"Team Spirit" -> team_spirit' in note for note in converted.notes)


def test_a_decimal_comma_without_the_setting_is_refused_with_a_hint() -> None:
    export = text_frame(
        Id=["a", "b"], Date=["10-01-2024"] * 2, **{"Work load": ["3,5", "4"]}, Mood=["1", "2"]
    )
    text = problems_of(export, WIDE.replace("decimal_comma = true", "decimal_comma = false"))
    assert 'column "Work load" (1 row)' in text
    assert "set decimal_comma = true" in text and 'row 1: "3,5"' in text


def test_dates_in_another_format_say_which_format_they_read_as() -> None:
    export = text_frame(Id=["a"], Date=["2024-01-10"], **{"Work load": ["3"]}, Mood=["1"])
    text = problems_of(export, WIDE)
    assert 'column "Date" (1 row)' in text and 'set date_format = "%Y-%m-%d"' in text


def test_two_values_for_one_person_week_and_signal_are_refused() -> None:
    export = text_frame(
        Id=["a", "a"], Date=["08-01-2024", "10-01-2024"], **{"Work load": ["3", "4"]}, Mood=["", ""]
    )
    assert "two different values for the same person, week and signal" in problems_of(export, WIDE)


EVENTS = """
person = "Id"
[events]
date = "Left on"
event = "Reason"
skip = ["-"]
[events.values]
"Voluntary resignation" = "resigned"
"Sick leave > 6 weeks" = "long_term_sick_leave"
"""


def test_event_values_map_and_every_other_exit_is_the_other_event() -> None:
    export = text_frame(
        Id=["a", "b", "c", "d", "e"],
        **{"Left on": ["2024-03-01", "2024-03-02", "2024-03-03", None, None]},
        Reason=["Voluntary resignation", "Sick leave > 6 weeks", "Retirement", "-", None],
    )
    text = EVENTS.replace('skip = ["-"]', 'skip = ["-"]\nother = "left_other"')
    table = convert(export, mapping(text), "x.csv").tables["events"]
    assert dict(zip(table["person_id"], table["event"], strict=True)) == {
        "a": "resigned",
        "b": "long_term_sick_leave",
        "c": "left_other",
    }


def test_event_values_not_mapped_are_listed_when_there_is_no_other() -> None:
    export = text_frame(
        Id=["a", "b", "c"],
        **{"Left on": ["2024-03-01"] * 3},
        Reason=["Retirement", "Retirement", "Dismissal"],
    )
    text = problems_of(export, EVENTS)
    assert 'column "Reason" (3 rows)' in text
    assert '"Retirement" (2), "Dismissal" (1)' in text and 'other = "left_other"' in text


def test_problems_never_show_a_person_identifier() -> None:
    export = text_frame(
        Id=["jane.doe@example.com", None],
        Date=["x", "10-01-2024"],
        **{"Work load": ["?", "3"]},
        Mood=["1", "2"],
    )
    text = problems_of(export, WIDE)
    assert 'column "Id" (1 row): the person id is empty' in text
    assert "jane" not in text and "example.com" not in text


def test_a_column_the_mapping_names_but_the_export_lacks_is_listed_with_the_columns_there() -> None:
    export = text_frame(Id=["a"], **{"Left on": ["2024-03-01"]}, Reason=["x"])
    text = problems_of(export, EVENTS.replace('"Left on"', '"2024-03-01"'))
    assert 'no column "2024-03-01"' in text and "without quotes" in text and '"Left on"' in text


def test_people_with_two_teams_are_refused() -> None:
    export = text_frame(Id=["a", "a", "b"], Team=["x", "y", "x"])
    assert "different teams" in problems_of(export, 'person = "Id"\n[people]\nteam = "Team"\n')


# --------------------------------------------------------------------------------------------------
# The documented examples, end to end (docs/import.md)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("import") / "landing"
    for name in ("hr_terminations", "survey_pulse"):
        result = runner.invoke(
            app,
            [
                "import",
                "table",
                str(EXAMPLES / f"{name}.csv"),
                "--out",
                str(out),
                "--mapping",
                str(EXAMPLES / f"{name}.toml"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "E100" not in result.output  # counts and names, never an identifier
    return out


def test_the_hr_termination_example_fills_events_and_people(imported: Path) -> None:
    events = pl.read_parquet(imported / "events.parquet")
    assert events.rows() == [
        ("E1001", date(2024, 4, 15), "resigned"),
        ("E1003", date(2024, 6, 28), "long_term_sick_leave"),
        ("E1004", date(2024, 5, 31), "left_other"),
        ("E1005", date(2024, 3, 31), "left_other"),
    ]
    people = pl.read_parquet(imported / "people.parquet")
    assert people.columns == ["person_id", "team_id", "hired_on", "audit_gender"]
    assert people.height == 6 and people["hired_on"][0] == date(2019, 3, 1)


def test_the_survey_example_fills_signals_and_the_folder_passes_validation(imported: Path) -> None:
    signals = pl.read_parquet(imported / "signals.parquet")
    # 16 answer sheets x 3 questions, one question skipped.
    assert signals.height == 47
    assert signals["week"].dt.weekday().unique().to_list() == [1]
    first = signals.filter((pl.col("person_id") == "E1002") & (pl.col("signal") == "pulse.engagement"))
    assert first["value"][0] == 4.25
    result = runner.invoke(app, ["validate", str(imported)])
    assert result.exit_code == 0, result.output


def test_re_running_an_import_gives_the_same_folder(imported: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    shutil.copytree(imported, again)
    before = {p.name: p.read_bytes() for p in again.iterdir()}
    result = runner.invoke(
        app,
        [
            "import",
            "table",
            str(EXAMPLES / "survey_pulse.csv"),
            "--out",
            str(again),
            "--mapping",
            str(EXAMPLES / "survey_pulse.toml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in again.iterdir()} == before


def test_bad_data_exits_2_naming_file_column_rows_and_an_example_and_writes_nothing(tmp_path: Path) -> None:
    mapping_file = tmp_path / "survey.toml"
    mapping_file.write_text((EXAMPLES / "survey_pulse.toml").read_text().replace("decimal_comma = true", ""))
    out = tmp_path / "landing"
    result = runner.invoke(
        app,
        [
            "import",
            "table",
            str(EXAMPLES / "survey_pulse.csv"),
            "--out",
            str(out),
            "--mapping",
            str(mapping_file),
        ],
    )
    assert result.exit_code == 2
    assert 'survey_pulse.csv, column "Engagement index" (8 rows)' in result.output
    assert 'row 1: "3,5"' in result.output and "decimal_comma = true" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_a_bad_mapping_exits_2_naming_the_mapping_file(tmp_path: Path) -> None:
    mapping_file = tmp_path / "bad.toml"
    mapping_file.write_text('person = "Respondent"\n[signals]\ndate = "Response date"\n')
    result = runner.invoke(
        app,
        [
            "import",
            "table",
            str(EXAMPLES / "survey_pulse.csv"),
            "--out",
            str(tmp_path / "o"),
            "--mapping",
            str(mapping_file),
        ],
    )
    assert result.exit_code == 2
    assert f"{mapping_file}: signals: give metrics" in result.output
