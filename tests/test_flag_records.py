"""A flag as the store holds it: the typed record goes in and comes back out unchanged."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from flows.store import FlagStore, RunRecord, default_url
from flows.store_schema import flags, reasons
from models.flag_records import (
    FLAG_COLUMNS,
    REASON_COLUMNS,
    FamilyShare,
    FlagRecord,
    ReasonRecord,
    SignalSeries,
    flag_frame,
    reason_frame,
)

pytestmark = pytest.mark.data
WEEK = date(2025, 3, 3)
RECORD = FlagRecord(
    flag_id="f1",
    person_id="p0a1b2c3d4e5f6a7b8c9d0e1f",
    team_id="t01",
    risk=0.42,
    band="high",
    rank=1,
    leading_family="recognition",
    families=(FamilyShare("recognition", "Recognition", 0.91), FamilyShare("growth", "Growth", -0.12)),
    series=(
        SignalSeries(
            signal="kudos_received",
            label="Kudos received",
            unit="per week",
            direction="falls",
            weeks=("2025-02-24", "2025-03-03"),
            values=(3.0, None),
            normal=4.5,
        ),
    ),
    prompts=("What would you like more recognition for?",),
)
REASON = ReasonRecord(
    "f1", 1, "recognition", "Recognition", "kudos_received", "Kudos received", 0.91, "Fewer kudos."
)


def test_a_record_survives_its_row() -> None:
    row = RECORD.to_row()
    assert set(row) == set(FLAG_COLUMNS)
    assert json.loads(row["series"])[0]["values"] == [3.0, None]
    assert FlagRecord.from_row(row) == RECORD


def test_the_records_columns_are_the_store_tables() -> None:
    assert set(FLAG_COLUMNS) == {c.name for c in flags.columns} - {"run_id", "as_of"}
    assert list(REASON_COLUMNS) == [c.name for c in reasons.columns]


def test_the_store_gives_back_the_record_it_was_given(tmp_path: Path) -> None:
    store = FlagStore(default_url(tmp_path))
    teams = pl.DataFrame(
        {"team_id": ["t01"], "people": [9], "flagged": [1], "leading_families": ['["recognition"]']}
    )
    run = RunRecord("run1", WEEK, "hgb", "1", "0" * 64, WEEK, 9, {})
    store.write_run(run, flag_frame([RECORD]), reason_frame([REASON]), teams)
    (row,) = store.run_flags("run1").iter_rows(named=True)
    assert row["status"] == "open"
    assert FlagRecord.from_row(row) == RECORD
    (reason,) = store.run_reasons("run1").iter_rows(named=True)
    assert ReasonRecord(**reason) == REASON


def test_no_flags_still_make_typed_frames() -> None:
    assert flag_frame([]).schema["risk"] == pl.Float64
    assert reason_frame([]).columns == list(REASON_COLUMNS)
