"""A flag's risk per outcome over time: the curve by hand, its record, the store upgrade to hold it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

from flows import store_schema
from flows.store import FlagStore, RunRecord, default_url
from models.competing import outcome_curve, risk_curves, scaled_to
from models.flag_records import FlagRecord, OutcomeRisks, flag_frame, reason_frame

pytestmark = pytest.mark.data
WEEK = date(2025, 3, 3)
OUTCOMES = ("long_term_sick_leave", "resigned")


class FixedRisks:
    """Stands in for a fitted CompetingRisks: the same risks for every row."""

    outcomes = OUTCOMES
    ends = (4, 8, 12, 26)

    def risks(self, rows: pl.DataFrame) -> np.ndarray:
        one = np.array([[0.01, 0.03], [0.02, 0.07], [0.041, 0.14], [0.08, 0.2]])
        return np.repeat(one[None], rows.height, axis=0)


def test_the_curve_keeps_each_outcome_rounded_and_names_the_one_leading_at_the_horizon() -> None:
    risks = np.array([[0.011111, 0.03], [0.02, 0.07], [0.05, 0.04], [0.3, 0.2]])
    curve = outcome_curve(risks, (4, 8, 12, 26), OUTCOMES, horizon=8)
    assert curve.weeks == (4, 8, 12, 26)
    assert curve.risks == {
        "long_term_sick_leave": (0.0111, 0.02, 0.05, 0.3),
        "resigned": (0.03, 0.07, 0.04, 0.2),
    }
    # Within 8 weeks resignation leads, though sick leave overtakes it later.
    assert curve.leading == "resigned" and curve.horizon == 8
    assert outcome_curve(risks, (4, 8, 12, 26), OUTCOMES, horizon=12).leading == "long_term_sick_leave"
    # A horizon between two ends is judged at the last end before it.
    assert curve.within("resigned", 10) == 0.07 and curve.within("resigned", 2) == 0.0


def test_risk_curves_give_every_flagged_person_the_stored_json() -> None:
    rows = pl.DataFrame({"person_id": ["p1", "p2"]})
    # p1's combined risk equals what the outcomes add up to within 12 weeks: the curve as fitted.
    curves = risk_curves(FixedRisks(), rows, 12, np.array([0.181, 0.362]))  # type: ignore[arg-type]
    assert set(curves) == {"p1", "p2"}
    assert json.loads(curves["p1"]) == {
        "weeks": [4, 8, 12, 26],
        "risks": {"long_term_sick_leave": [0.01, 0.02, 0.041, 0.08], "resigned": [0.03, 0.07, 0.14, 0.2]},
        "horizon": 12,
        "leading": "resigned",
    }
    # p2's is twice that: every point of the curve doubles, the leading outcome stays.
    assert json.loads(curves["p2"])["risks"]["resigned"] == [0.06, 0.14, 0.28, 0.4]
    assert risk_curves(FixedRisks(), rows.clear(), 12, np.array([])) == {}  # type: ignore[arg-type]


def test_scaled_curves_add_up_to_the_combined_risk_and_never_past_one() -> None:
    risks = np.array([[[0.01, 0.03], [0.02, 0.07], [0.041, 0.14], [0.3, 0.6]]] * 3)
    scaled = scaled_to(risks, (4, 8, 12, 26), 12, np.array([0.181, 0.09, 0.0]))
    assert scaled[:, 2, :].sum(axis=1) == pytest.approx([0.181, 0.09, 0.0])
    assert np.all(np.diff(scaled, axis=1) >= 0.0)
    # A combined risk of 0.5 would lift 26 weeks to 0.9 x 2.76: the factor stops where they make 1.
    high = scaled_to(risks[:1], (4, 8, 12, 26), 12, np.array([0.5]))
    assert high[0, 3, :] == pytest.approx([1 / 3, 2 / 3]) and high[0, 2, :].sum() == pytest.approx(
        0.181 / 0.9
    )
    assert np.all(np.diff(high, axis=1) >= 0.0)
    # Nothing within the horizon to split: no risk shown for any outcome.
    assert np.all(scaled_to(np.zeros((1, 4, 2)), (4, 8, 12, 26), 12, np.array([0.3])) == 0.0)


CURVE = OutcomeRisks((4, 8, 12, 26), {"resigned": (0.03, 0.07, 0.14, 0.2)}, 12, "resigned")


def a_flag(flag_id: str, curve: OutcomeRisks | None) -> FlagRecord:
    return FlagRecord(flag_id, f"p{flag_id}", "t01", 0.4, "high", 1, "recognition", outcome_risks=curve)


def test_a_flag_with_and_without_a_curve_survives_its_row() -> None:
    for record in (a_flag("f1", CURVE), a_flag("f2", None)):
        assert FlagRecord.from_row(record.to_row()) == record
    assert a_flag("f2", None).to_row()["outcome_risks"] is None


def version_4_store(path: Path) -> str:
    """A store as version 4 left it: a run, its flag and a decision, and no outcome_risks column."""
    url = default_url(path)
    store = FlagStore(url)
    teams = pl.DataFrame({"team_id": ["t01"], "people": [9], "flagged": [1], "leading_families": ["[]"]})
    store.write_run(
        RunRecord("run1", WEEK, "hgb", "1", "0" * 64, WEEK, 9, {}),
        flag_frame([a_flag("f1", None)]),
        reason_frame([]),
        teams,
    )
    store.add_review("f1", "conversation_planned", "We will talk on Monday.", "reviewer")
    with store.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE flags DROP COLUMN outcome_risks"))
        connection.execute(sa.update(store_schema.meta).values(value="4"))
    store.dispose()
    return url


def test_a_version_4_store_gains_the_column_in_place_keeping_flags_and_decisions(tmp_path: Path) -> None:
    url = version_4_store(tmp_path)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert "outcome_risks" not in {c["name"] for c in sa.inspect(connection).get_columns("flags")}
    engine.dispose()
    store = FlagStore(url)
    assert store.schema_version() == store_schema.SCHEMA_VERSION == 5
    (row,) = store.run_flags("run1").iter_rows(named=True)
    assert row["status"] == "conversation_planned" and row["outcome_risks"] is None
    assert FlagRecord.from_row(row) == a_flag("f1", None)
    history = store.review_history()
    assert history["note"].to_list() == ["We will talk on Monday."]
    # The upgraded store takes a run with a curve.
    teams = pl.DataFrame({"team_id": ["t01"], "people": [9], "flagged": [1], "leading_families": ["[]"]})
    later = date(2025, 3, 10)
    store.write_run(
        RunRecord("run2", later, "hgb", "1", "0" * 64, later, 9, {}),
        flag_frame([a_flag("f9", CURVE)]),
        reason_frame([]),
        teams,
    )
    (row,) = store.run_flags("run2").iter_rows(named=True)
    assert FlagRecord.from_row(row).outcome_risks == CURVE
    store.dispose()
