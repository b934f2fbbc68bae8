"""Signals nobody catalogued: feature names, directions learnt inside the fit, and what uses them."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features.build import FeatureRequest, build_features, feature_columns
from features.catalog import load_catalog
from features.columns import family_column, family_of_summary, feature_of, signal_column, signal_of
from models.candidates import monotone_constraints
from models.directions import learn_directions, rank_effect, with_learnt_directions
from models.explain import explain
from models.metrics import choose_weekly_flags
from models.splits import time_split
from models.train import fit_calibrated, score_rows
from simulator.organisation import simulate_organisation

pytestmark = pytest.mark.model
CATALOG = load_catalog()
# A catalogued signal renamed so that the catalog no longer knows it: the catalog says risk rises
# as questions_asked falls, so a good learner finds "falls" for it from the outcomes alone.
RENAMED = {"questions_asked": "questions_posted_count", "after_hours_messages": "late_pings"}


def test_column_names_are_written_and_read_in_one_place() -> None:
    column = signal_column("tool__x__y", "drift_13w")
    assert column == "tool__x__y__drift_13w"
    assert (signal_of(column), feature_of(column)) == ("tool__x__y", "drift_13w")
    summary = family_column("initiative")
    assert signal_of(summary) is None and family_of_summary(summary) == "initiative"
    assert signal_of("tenure_weeks") is None and family_of_summary("tenure_weeks") is None


def test_a_clear_rank_effect_gives_its_sign_and_noise_gives_none() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(4000) < 0.05
    falling = rng.normal(size=4000) - 0.8 * labels
    noise = rng.normal(size=4000)
    features = [signal_column("mystery_a", "deviation"), signal_column("mystery_b", "deviation")]
    learnt = learn_directions(np.column_stack([falling, noise]), labels.astype(int), features, CATALOG)
    assert learnt == {"mystery_a": "falls"}
    size, z = rank_effect(falling, labels.astype(int))
    assert size < 0 and z < -4


def test_catalogued_signals_keep_the_catalogs_word() -> None:
    rng = np.random.default_rng(1)
    labels = rng.random(3000) < 0.1
    # questions_asked rising with risk would contradict the catalog: nothing is learnt for it.
    values = rng.normal(size=3000) + 2.0 * labels
    learnt = learn_directions(values[:, None], labels.astype(int), ["questions_asked__deviation"], CATALOG)
    assert learnt == {}
    directed = with_learnt_directions(CATALOG, {"questions_asked": "rises", "mystery": "rises"})
    assert directed.signal("questions_asked").direction == "falls"
    assert directed.signal("mystery").direction == "rises"
    assert not directed.signal("mystery").known  # still something for a person to describe
    assert "mystery" not in directed.signals


def test_learnt_directions_become_monotone_constraints() -> None:
    features = ["mystery__deviation", "mystery__drift_13w", "mystery__volatility_8w", "other__deviation"]
    assert monotone_constraints(features, CATALOG) == [0, 0, 0, 0]
    directed = with_learnt_directions(CATALOG, {"mystery": "falls"})
    assert monotone_constraints(features, directed) == [-1, -1, 0, 0]


@pytest.fixture(scope="module")
def renamed_world() -> tuple[pl.DataFrame, object]:
    org = simulate_organisation(900, 90, seed=11)
    signals = org.signals.with_columns(pl.col("signal").replace(RENAMED))
    table = build_features(
        signals.lazy(), org.events.lazy(), org.people.lazy(), CATALOG, FeatureRequest(with_labels=True)
    ).collect()
    return table, org


def test_uncatalogued_signals_get_drift_features_and_catalogued_context_does_not() -> None:
    org = simulate_organisation(60, 40, seed=3)
    signals = org.signals.with_columns(pl.col("signal").replace(RENAMED))
    columns = set(build_features(signals.lazy(), None, org.people.lazy(), CATALOG).collect_schema().names())
    assert "questions_posted_count__drift_13w" in columns
    assert "late_pings__drift_26w" in columns
    assert "planned_leave_days__drift_13w" not in columns  # the catalog says: no risky way


@pytest.mark.slow
def test_a_fit_learns_the_renamed_signals_directions_from_its_own_rows_only(renamed_world) -> None:
    table, _ = renamed_world
    cutoff = table["week"].unique().sort()[60]
    split = time_split(table.filter(pl.col("label").is_not_null()), cutoff, horizon=8)
    features = feature_columns(table.columns)
    model = fit_calibrated("gradient_boosting", split.fit, split.calibrate, features, seed=0, catalog=CATALOG)
    assert model.learnt_directions.get("questions_posted_count") == "falls"
    # Turned against the outcomes in the fit rows, the same feature is learnt the other way round:
    # the direction comes from those rows and nothing else.
    flipped = split.fit.with_columns(-pl.col("questions_posted_count__deviation"))
    other = fit_calibrated("logistic", flipped, split.calibrate, features, seed=0, catalog=CATALOG)
    assert other.learnt_directions.get("questions_posted_count") == "rises"

    scored = score_rows(model, split.score)
    flagged = scored.join(choose_weekly_flags(scored, 0.02), on=["person_id", "week"], how="semi")
    rows = split.score.join(flagged.select("person_id", "week"), on=["person_id", "week"], how="semi")
    reasons = explain(model, rows, CATALOG)
    named = reasons.filter(pl.col("signal") == "questions_posted_count")
    assert named.height > 0, "the renamed signal should explain some flags"
    # Its sentences read the numbers the learnt way: fewer questions than usual.
    for sentence in named["sentence"]:
        assert "Questions posted count" in sentence
