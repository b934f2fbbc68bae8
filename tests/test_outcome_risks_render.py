"""A flag's risk per outcome on the report and the review page: a sentence and a chart, or nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from review_helpers import ANALYST_TEAMS, TestClient, fast_hashing, log_in, make_store

from features.catalog import load_catalog
from flows.outcome_chart import outcome_curve_svg
from flows.report import RunSummary, html_report, markdown_summary
from flows.store_schema import flags
from models.flag_records import FlagRecord, OutcomeRisks, encode_outcome_risks, flag_frame
from models.outcome_words import outcome_label, risk_sentence
from review.app import create_app

pytestmark = pytest.mark.code
WEEK = date(2025, 3, 3)
CURVE = OutcomeRisks(
    (4, 8, 12, 26),
    {"long_term_sick_leave": (0.01, 0.02, 0.04, 0.09), "resigned": (0.03, 0.08, 0.14, 0.2)},
    12,
    "resigned",
)
SENTENCE = "Most of the risk points to resignation: 14% within 12 weeks (long-term sick leave 4%)."


def test_the_sentence_names_the_leading_outcome_from_its_name() -> None:
    assert outcome_label("long_term_sick_leave") == "long-term sick leave"
    assert outcome_label("burn_out") == "burn out"
    assert risk_sentence(CURVE) == SENTENCE
    one = OutcomeRisks((4, 12), {"burn_out": (0.001, 0.004)}, 12, "burn_out")
    assert risk_sentence(one) == "Most of the risk points to burn out: under 1% within 12 weeks."


def test_the_chart_draws_a_line_per_outcome_with_a_legend_and_a_text_alternative() -> None:
    svg = outcome_curve_svg(CURVE, "c1")
    assert svg.startswith("<svg") and svg.count("<polyline") == 2
    assert '<title id="c1-t">Risk per outcome over the next 26 weeks</title>' in svg
    assert 'aria-labelledby="c1-t c1-d"' in svg and "Resignation: 3% within 4 weeks" in svg
    assert ">long-term sick leave</text>" in svg and ">resignation</text>" in svg
    assert "weeks ahead" in svg and ">26</text>" in svg and "long_term" not in svg
    hostile = OutcomeRisks((4, 12), {"<b>x</b>": (0.1, 0.2), "y": (0.0, 0.1)}, 12, "<b>x</b>")
    assert "<b>" not in outcome_curve_svg(hostile, "c2")


def a_flag(flag_id: str, rank: int, curve: OutcomeRisks | None) -> FlagRecord:
    return FlagRecord(flag_id, f"p{flag_id}", "t01", 0.4, "high", rank, "recognition", outcome_risks=curve)


def test_the_report_shows_the_sentence_and_chart_only_for_a_flag_with_a_curve() -> None:
    run = RunSummary(WEEK, WEEK, "gradient_boosting", "3", 52, 0.02, 0.1, 5)
    teams = pl.DataFrame({"team_id": ["t01"], "people": [9], "flagged": [2], "leading_families": ["[]"]})
    reasons = pl.DataFrame(schema={"flag_id": pl.String, "rank": pl.Int64, "sentence": pl.String})
    catalog = load_catalog()
    with_curve = flag_frame([a_flag("f1", 1, CURVE), a_flag("f2", 2, None)])
    html = html_report(run, with_curve, reasons, teams, catalog)
    assert html.count(SENTENCE) == 1 and html.count("Risk per outcome over the next") == 1
    assert "it decides nothing" in html and "<script" not in html
    assert "- resignation: 1" in markdown_summary(run, with_curve, teams, catalog)
    without = flag_frame([a_flag("f2", 1, None)])
    html = html_report(run, without, reasons, teams, catalog)
    assert "risk points to" not in html and "Risk per outcome" not in html and "Which outcome:" not in html
    assert "risk points to" not in markdown_summary(run, without, teams, catalog)


def test_the_flag_page_shows_the_curve_of_a_flag_that_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch)
    store, _ = make_store(tmp_path)
    latest = store.run()
    assert latest is not None
    with store.engine.begin() as connection:
        ids = (
            connection.execute(
                sa.select(flags.c.flag_id)
                .where(flags.c.run_id == latest["run_id"], flags.c.team_id.in_(ANALYST_TEAMS))
                .order_by(flags.c.rank)
            )
            .scalars()
            .all()
        )
        connection.execute(
            sa.update(flags)
            .where(flags.c.flag_id == ids[0])
            .values(outcome_risks=encode_outcome_risks(CURVE))
        )
    client = TestClient(create_app(store))
    log_in(client, "ana")
    page = client.get(f"/flags/{ids[0]}").text
    assert SENTENCE in page and "Which outcome the risk points to" in page
    assert "Risk per outcome over the next 26 weeks" in page and '<td class="num">14%</td>' in page
    assert "long_term_sick_leave" not in page
    other = client.get(f"/flags/{ids[1]}").text
    assert "Which outcome the risk points to" not in other and "risk points to" not in other
    store.dispose()
