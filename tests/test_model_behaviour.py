"""Model tier: a signal moving the way the catalog calls risky never lowers the risk estimate."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features import drift
from features.build import FeatureRequest, build_features, feature_columns
from features.catalog import load_catalog
from models.candidates import monotone_constraints
from models.splits import known_before
from models.train import FittedModel, HorizonEnsemble, fit_calibrated
from simulator.organisation import simulate_organisation

# Trains the product's horizon ensemble on a simulated organisation of 400 people: slow.
pytestmark = [pytest.mark.model, pytest.mark.slow]

CATALOG = load_catalog()
DIRECTED = ("deviation", "deviation_vs_team", "trend_8w", "weeks_off_normal", *drift.OUTPUTS)


@pytest.fixture(scope="module")
def trained() -> tuple[FittedModel, pl.DataFrame]:
    org = simulate_organisation(400, 70, seed=9)
    table = build_features(
        org.signals.lazy(), org.events.lazy(), org.people.lazy(), CATALOG, FeatureRequest(with_labels=True)
    ).collect()
    known_until = table["week"].max()
    fit, calibrate = known_before(table, known_until, horizon=12)
    # As the product trains it: a horizon ensemble whose every member is monotone where told.
    model = fit_calibrated(
        "gradient_boosting",
        fit,
        calibrate,
        feature_columns(table.columns),
        catalog=CATALOG,
        horizon=12,
        known_until=known_until,
    )
    assert isinstance(model.pipeline, HorizonEnsemble) and len(model.pipeline.members) > 1
    rows = table.filter(pl.col("eligible") & (pl.col("week") == table["week"].max())).head(300)
    return model, rows


def test_constraints_follow_the_catalog() -> None:
    features = [
        "questions_asked__deviation",
        "approval_requests__trend_8w",
        "questions_asked__level_4w",
        "family:initiative__risk_deviation",
        "badge_swipes__deviation",
        "tenure_weeks",
    ]
    assert monotone_constraints(features, CATALOG) == [-1, 1, 0, 1, 0, 0]


@pytest.mark.parametrize(("signal", "step"), [("questions_asked", -2.0), ("approval_requests", 2.0)])
def test_moving_a_signal_the_risky_way_never_lowers_risk(trained, signal: str, step: float) -> None:
    model, rows = trained
    direction = CATALOG.signal(signal).risk_sign
    assert direction == (1 if step > 0 else -1)
    moved = rows.with_columns(
        *(pl.col(f"{signal}__{f}") + step for f in DIRECTED if f"{signal}__{f}" in rows.columns),
        # The family summary moves with its signal, turned the way that raises risk.
        pl.col(f"family:{CATALOG.signal(signal).family}__risk_deviation") + abs(step),
    )
    before, after = model.predict_risk(rows), model.predict_risk(moved)
    assert np.all(after >= before - 1e-12)
    assert np.any(after > before + 1e-6), "the move should matter for some people, or the test proves nothing"
