"""Model tier: competing risks in discrete time, each outcome's own risk (models.competing)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score

from features.build import FeatureRequest, build_features
from features.catalog import load_catalog
from features.naive import raw_week_values
from models import competing
from models.backtest import naive_table, time_backtest
from simulator.organisation import simulate_organisation
from simulator.worlds import World

pytestmark = pytest.mark.model

OUTCOMES = ("resigned", "long_term_sick_leave")
MONDAY = date(2024, 1, 1)


def test_chained_risks_add_up_never_exceed_one_and_grow_with_the_horizon() -> None:
    # One row, three intervals, two outcomes; by hand: survival 1, then 0.7, then 0.7 * 0.5.
    hazards = np.array([[[0.2, 0.1], [0.3, 0.2], [0.5, 0.5]]])
    risks = competing.chain(hazards)[0]
    assert risks[:, 0] == pytest.approx([0.2, 0.2 + 0.7 * 0.3, 0.2 + 0.7 * 0.3 + 0.35 * 0.5])
    assert risks[:, 1] == pytest.approx([0.1, 0.1 + 0.7 * 0.2, 0.1 + 0.7 * 0.2 + 0.35 * 0.5])
    # Everyone has an outcome once the last interval's hazards add up to 1.
    assert risks[-1].sum() == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    many = rng.dirichlet([1.0, 1.0, 4.0], size=(200, 4))[:, :, :2]  # hazards that add up below 1
    chained = competing.chain(many)
    assert np.all(chained.sum(axis=2) <= 1.0 + 1e-12)
    assert np.all(np.diff(chained, axis=1) >= 0.0)


def test_the_intervals_always_end_at_the_horizon() -> None:
    assert competing.interval_ends(12) == (4, 8, 12, 26)
    assert competing.interval_ends(10) == (4, 8, 10, 12, 26)
    assert competing.interval_ends(30) == (4, 8, 12, 26, 30)


def test_interval_classes_by_hand() -> None:
    rows = pl.DataFrame(
        {
            "weeks_to_outcome": [None, 2, 5, 6, 9, 3],
            "outcome": [None, "resigned", "long_term_sick_leave", "retired", "resigned", "retired"],
        }
    )
    at_risk, classes = competing.interval_classes(rows, 4, 8, OUTCOMES)
    # Outcomes 2 and 3 weeks ahead came before the interval: those rows are no longer at risk.
    assert at_risk.to_list() == [True, False, True, True, True, False]
    # An outcome whose own risk is not asked for counts as none.
    assert classes.to_list() == [0, 2, 0, 0]


def test_too_few_of_an_outcome_is_said_not_fitted() -> None:
    rows = pl.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(30)],
            "weeks_to_outcome": [3] * 30,
            "outcome": ["resigned"] * 25 + ["long_term_sick_leave"] * 5,
        }
    )
    modelled, note = competing.outcomes_to_model(rows, 12, OUTCOMES)
    assert modelled == ("resigned",)
    assert "long_term_sick_leave: 5" in note and str(competing.MIN_OUTCOME_PEOPLE) in note


def hand_world(people: int = 600, weeks: int = 70, seed: int = 0) -> pl.DataFrame:
    """Person-weeks with two features: `strain` leads to either outcome, `load` to sick leave only."""
    rng = np.random.default_rng(seed)
    frames = []
    for p in range(people):
        strain, load = rng.normal(size=weeks).cumsum() / 4, rng.normal(size=weeks).cumsum() / 4
        hazard = 0.004 * np.exp(strain)
        sick = rng.random(weeks) < 0.2 + 0.6 * (load > 0.5)
        hit = np.flatnonzero(rng.random(weeks) < hazard)
        first = int(hit[0]) if hit.size else None
        kind = ("long_term_sick_leave" if sick[first] else "resigned") if first is not None else None
        last = first if first is not None else weeks
        index = np.arange(last)
        frames.append(
            pl.DataFrame(
                {
                    "person_id": f"p{p:04d}",
                    "week": [MONDAY + timedelta(weeks=int(t)) for t in index],
                    "strain": strain[:last],
                    "load": load[:last],
                    "weeks_to_outcome": (first - index) if first is not None else [None] * last,
                    "outcome": kind,
                },
                schema_overrides={"weeks_to_outcome": pl.Int32, "outcome": pl.String},
            )
        )
    return pl.concat(frames).with_columns(pl.lit(True).alias("eligible"))


def test_nothing_from_the_cutoff_on_is_learnt_from() -> None:
    table = hand_world()
    cutoff = MONDAY + timedelta(weeks=60)
    fitted = competing.fit_competing(table, ["strain", "load"], OUTCOMES, cutoff, horizon=12)
    assert fitted.ends == (4, 8, 12, 26)
    # The same fit without any row from the cutoff on, and with every outcome dated on or after the
    # cutoff erased: a model that read none of it gives the very same hazards.
    outcome_week = pl.col("week") + pl.duration(weeks=pl.col("weeks_to_outcome"))
    blind = table.filter(pl.col("week") < cutoff).with_columns(
        pl.when(outcome_week >= cutoff).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("weeks_to_outcome", "outcome")
    )
    assert blind["outcome"].null_count() > table.filter(pl.col("week") < cutoff)["outcome"].null_count()
    again = competing.fit_competing(blind, ["strain", "load"], OUTCOMES, cutoff, horizon=12)
    later = table.filter(pl.col("week") >= cutoff)
    np.testing.assert_array_equal(fitted.hazards(later), again.hazards(later))
    # Up to the horizon only: the same first intervals, so the same risk within the horizon.
    short = competing.fit_competing(
        table, ["strain", "load"], OUTCOMES, cutoff, horizon=12, past_horizon=False
    )
    assert short.ends == (4, 8, 12)
    np.testing.assert_array_equal(short.risk_within(later, 12), fitted.risk_within(later, 12))


def test_each_outcome_scores_in_range_and_its_own_cause_ranks_it() -> None:
    table = hand_world(seed=1)
    cutoff = MONDAY + timedelta(weeks=50)
    fitted = competing.fit_competing(table, ["strain", "load"], OUTCOMES, cutoff, horizon=12)
    later = table.filter(
        pl.col("week") >= cutoff, pl.col("week") + pl.duration(weeks=12) < table["week"].max()
    )
    scores = competing.score_outcomes(fitted, later, 12)
    own = scores.select(competing.score_column(o) for o in OUTCOMES).to_numpy()
    assert np.all((own >= 0.0) & (own <= 1.0))
    curve = fitted.risks(later)
    assert np.all(np.diff(curve, axis=1) >= -1e-12) and np.all(curve.sum(axis=2) <= 1.0 + 1e-9)
    sick = (later["outcome"] == "long_term_sick_leave") & later["weeks_to_outcome"].is_between(1, 12)
    y = sick.fill_null(False).to_numpy()
    assert 10 < y.sum() < y.size
    either = own.sum(axis=1)
    assert average_precision_score(y, own[:, 1]) > 1.1 * average_precision_score(y, either)


@pytest.mark.slow
def test_the_time_backtest_gives_each_outcome_its_own_score_on_a_simulated_world() -> None:
    # Workload declines end almost always in sick leave here: sick leave has a cause of its own.
    org = simulate_organisation(900, 90, seed=5, world=World(workload_sick_share=0.95))
    catalog = load_catalog()
    table = build_features(
        org.signals.lazy(), org.events.lazy(), org.people.lazy(), catalog, FeatureRequest(with_labels=True)
    ).collect()
    signals = sorted(org.signals["signal"].unique().to_list())
    naive = naive_table(table, raw_week_values(org.signals.lazy(), signals).collect())
    cutoff = table["week"].max() - timedelta(weeks=24)
    result = time_backtest(table, naive, cutoff, 12, candidates=("logistic",), catalog=catalog)
    assert result.outcome_note == "", result.outcome_note
    assert set(result.outcomes) == set(OUTCOMES)
    for outcome in OUTCOMES:
        column = result.scored[competing.score_column(outcome)]
        assert column.null_count() == 0 and column.min() >= 0.0 and column.max() <= 1.0
    # Scored rows are the weeks from the cutoff on (test_nothing_from_the_cutoff_on_is_learnt_from).
    assert result.scored["week"].min() >= cutoff
    sick = result.outcomes["long_term_sick_leave"]
    assert sick["event_people"] >= 5
    assert sick["average_precision"] > sick["average_precision_combined"], sick
    assert result.outcome_table().columns == ["metric", *result.outcomes]
