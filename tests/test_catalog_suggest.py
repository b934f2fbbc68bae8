"""`ewarn catalog suggest`: guessed entries for uncatalogued signals, each marked, loadable as a catalog."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from features.catalog import load_catalog
from features.catalog_suggest import SignalSummary, Suggestion, guess_kind, render_suggestions
from flows.simulate import write_simulation
from simulator.organisation import simulate_organisation

pytestmark = pytest.mark.integration
runner = CliRunner()
RENAMED = {
    "questions_asked": "questions_posted_count",
    "pulse.engagement": "engagement_item",
    "planned_leave_days": "vacation_days",
    "short_absence_days": "sick_days_short",
}


def _summary(name: str, share: float = 0.9, low: float = 0.0, high: float = 40.0, whole: bool = True):
    return SignalSummary(name, share, low, high, whole)


@pytest.mark.parametrize(
    ("summary", "kind"),
    [
        (_summary("vacation_days"), "leave"),
        (_summary("PTO hours"), "leave"),
        (_summary("sick_days_short"), "absence"),
        (_summary("engagement_item", share=0.2, low=1, high=5), "survey"),
        (_summary("engagement_item", share=0.9, low=1, high=5), "activity"),  # every week: not a survey
        (_summary("focus_hours", share=0.2, low=0.5, high=4.5, whole=False), "activity"),
        (_summary("badge_swipes"), "activity"),
    ],
)
def test_kinds_are_guessed_from_names_then_values(summary: SignalSummary, kind: str) -> None:
    assert guess_kind(summary)[0] == kind


def test_the_suggestion_loads_as_a_catalog_and_marks_every_guess(tmp_path: Path) -> None:
    suggestions = [
        Suggestion("questions_posted_count", "Questions posted count", "activity", "a count", "falls"),
        Suggestion('odd "name"', 'Odd "name"', "activity", "a count", None),
        Suggestion("vacation_days", "Vacation days", "leave", "its name speaks of leave", None),
    ]
    text = render_suggestions(suggestions, "landing", "learnt from 10 rows")
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    catalog = load_catalog(path)
    assert catalog.signal("questions_posted_count").direction == "falls"
    assert catalog.signal('odd "name"').direction == "none"
    assert catalog.signal("vacation_days").kind == "leave"
    entries = tomllib.loads(text)["signals"]
    assert len(entries) == 3
    assert text.count("# guess") >= 5


@pytest.mark.slow
def test_suggest_on_a_landing_with_renamed_signals(tmp_path: Path) -> None:
    org = simulate_organisation(800, 80, seed=21)
    org = dataclasses.replace(org, signals=org.signals.with_columns(pl.col("signal").replace(RENAMED)))
    write_simulation(org, tmp_path / "landing")
    out = tmp_path / "suggested.toml"
    result = runner.invoke(app, ["catalog", "suggest", str(tmp_path / "landing"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    entries = tomllib.loads(out.read_text(encoding="utf-8"))["signals"]
    # The renamed signals, and the simulator's own uncatalogued ones (noise: no clear direction).
    assert set(RENAMED.values()) <= set(entries)
    for noise in ("badge_swipes", "wiki_edits", "docs_viewed"):
        assert "direction" not in entries[noise]
    assert entries["questions_posted_count"]["direction"] == "falls"
    assert entries["engagement_item"]["kind"] == "survey"
    assert entries["vacation_days"] == {**entries["vacation_days"], "kind": "leave", "direction": "none"}
    assert entries["sick_days_short"]["kind"] == "absence"
    # Used as the user's catalog, nothing is left to suggest.
    again = runner.invoke(
        app, ["catalog", "suggest", str(tmp_path / "landing"), "--out", str(out), "--catalog", str(out)]
    )
    assert again.exit_code == 0 and "nothing to suggest" in again.output


def test_a_folder_that_breaks_the_contract_exits_2(tmp_path: Path) -> None:
    (tmp_path / "signals.csv").write_text("person_id,week\nx,2024-01-01\n", encoding="utf-8")
    result = runner.invoke(app, ["catalog", "suggest", str(tmp_path), "--out", str(tmp_path / "s.toml")])
    assert result.exit_code == 2
    assert "does not meet the input contract" in result.output
    assert not (tmp_path / "s.toml").exists()
