"""Tests of the family of simulated worlds: drawn per world seed, the default world unchanged."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from simulator.organisation import SimulatedOrganisation, simulate_organisation
from simulator.worlds import (
    DEFAULT_WORLD,
    DEVELOPMENT_WORLDS,
    RESERVED_WORLDS,
    World,
    draw_world,
    world_for,
)

pytestmark = pytest.mark.data

runner = CliRunner()

# Digests of the frames the simulator wrote for 120 people x 40 weeks, people seed 5, before worlds
# existed (floats rounded to 6 decimals). The default world must keep reproducing them, so every
# earlier figure and test stays valid.
BEFORE_WORLDS = {
    "signals": "f2cd971c83985063",
    "events": "ae79e38d61e2d3e4",
    "people": "2666d96d1acc7034",
    "declines": "0f66f6a94010ad63",
    "truth": "91475d0e01e28716",
}
TRUTH_BEFORE_WORLDS = (
    "person_id",
    "week",
    "motivation",
    "motivation_normal",
    "motivation_change_4w",
    "motivation_gap",
    "driver",
    "in_decline",
)
# A development world that differs from the default in many mechanisms at once: renamed signals,
# sudden declines, weekly pulses, no learning tool, a gap before sick leave is registered.
OTHER_WORLD = 104


def _digest(frame: pl.DataFrame) -> str:
    frame = frame.with_columns(pl.col(pl.Float64).round(6))
    return hashlib.sha256(frame.write_csv().encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def other() -> SimulatedOrganisation:
    return simulate_organisation(300, 60, seed=2, world=draw_world(OTHER_WORLD))


def test_default_world_reproduces_the_simulator_from_before_worlds() -> None:
    org = simulate_organisation(120, 40, seed=5)
    got = {name: _digest(getattr(org, name)) for name in ("signals", "events", "people", "declines")}
    got["truth"] = _digest(org.truth.select(TRUTH_BEFORE_WORLDS))
    assert got == BEFORE_WORLDS
    assert org.world == DEFAULT_WORLD
    explicit = simulate_organisation(120, 40, seed=5, world=DEFAULT_WORLD)
    assert explicit.signals.equals(org.signals) and explicit.truth.equals(org.truth)


def test_a_world_seed_always_draws_the_same_world() -> None:
    assert draw_world(9001) == draw_world(9001)
    assert world_for(9001) == draw_world(9001)
    assert world_for(None) is DEFAULT_WORLD


def test_world_seeds_draw_different_mechanisms() -> None:
    worlds = [draw_world(seed) for seed in (*DEVELOPMENT_WORLDS, *RESERVED_WORLDS)]
    assert len(set(worlds)) == len(worlds)
    assert all(world != DEFAULT_WORLD for world in worlds)
    # Every mechanism varies across the family, not just a few of them.
    for field in dataclasses.fields(World):
        assert len({getattr(world, field.name) for world in worlds}) > 1, field.name


def test_reserved_and_development_worlds_do_not_overlap() -> None:
    assert not set(RESERVED_WORLDS) & set(DEVELOPMENT_WORLDS)
    assert len(RESERVED_WORLDS) >= 4 and len(DEVELOPMENT_WORLDS) >= 4


def test_draws_stay_within_sane_ranges() -> None:
    for seed in (*DEVELOPMENT_WORLDS, *RESERVED_WORLDS):
        world = draw_world(seed)
        assert 1 <= world.driver_lead_weeks[0] < world.driver_lead_weeks[1]
        assert world.survey_every in (1, 2, 4)
        assert abs(sum(world.risk_weights) - 1.0) < 1e-9
        assert world.tool_share("calendar") > 0


def test_a_drawn_world_follows_its_mechanisms(other: SimulatedOrganisation) -> None:
    world = other.world
    assert world == draw_world(OTHER_WORLD)
    names = set(other.signals["signal"].unique())
    for old, new in world.renamed:
        assert new in names and old not in names
    # The learning tool does not exist in this world.
    assert world.tool_share("learning") == 0 and "learning_hours" not in names
    # Weekly pulses: many people answer in consecutive weeks (never under the default cadence).
    pulses = other.signals.filter(pl.col("signal") == "pulse.engagement").sort("person_id", "week")
    steps = pulses.select((pl.col("week").diff().over("person_id").dt.total_days() == 7).sum()).item()
    assert world.survey_every == 1 and steps > 100


def test_a_drawn_world_gives_outcomes_and_truth_for_its_oracle(other: SimulatedOrganisation) -> None:
    outcomes = other.events.filter(pl.col("event").is_in(["resigned", "long_term_sick_leave"]))
    assert outcomes.height > 5
    assert {"motivation", "motivation_change_4w", "motivation_gap", "outcome_strain"} <= set(
        other.truth.columns
    )
    assert other.truth["outcome_strain"].min() >= 0


def test_simulate_world_writes_a_landing_folder_that_validates(tmp_path: Path) -> None:
    out = tmp_path / "landing"
    args = ["simulate", "--out", str(out), "--people", "150", "--weeks", "40", "--world", str(OTHER_WORLD)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"world {OTHER_WORLD}" in result.output
    assert (out / "truth" / "motivation.parquet").exists()
    signals = set(pl.read_parquet(out / "signals.parquet")["signal"].unique())
    assert "calendar_events_accepted" in signals
    result = runner.invoke(app, ["validate", str(out)])
    assert result.exit_code == 0, result.output
    assert "meets input contract v1" in result.output
