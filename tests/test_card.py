"""The model card: every section, candidates beside the naive reference, n/a for NaN, no person ids."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest

from models.candidates import HORIZON_ENSEMBLES
from models.card import format_metric, model_card
from models.fairness import FairnessAudit, fairness_audit

pytestmark = pytest.mark.code

PEOPLE = [f"pseud-{i:04d}x" for i in range(1, 13)]
SECTIONS = (
    "## Intended use",
    "## What it must not be used for",
    "## Data",
    "## Features",
    "## Metrics",
    "## Fairness audit",
    "## Limits",
)


def _metrics(ap: float, lead: float) -> dict[str, float]:
    return {
        "average_precision": ap,
        "roc_auc": 0.81234,
        "brier": 0.0412,
        "precision_at_capacity": 0.2,
        "event_recall": 0.55,
        "median_lead_weeks": lead,
        "flag_churn": 0.31,
        "rows_scored": 30104.0,
        "rows_with_label": 25000.0,
        "positive_rate": 0.021,
        "outcomes": 61.0,
    }


@pytest.fixture
def audit() -> FairnessAudit:
    # Group f flagged in 5 of 6 weeks, group m in 1 of 6: far under four-fifths, so a warning.
    scored = pl.DataFrame(
        {
            "person_id": PEOPLE,
            "week": [date(2024, 1, 1)] * 12,
            "flagged": [True] * 5 + [False] + [True] + [False] * 5,
            "label": [0] * 12,
        }
    )
    people = pl.DataFrame({"person_id": PEOPLE, "audit_gender": ["f"] * 6 + ["m"] * 6})
    return fairness_audit(scored, people, threshold=5)


def _card(audit: FairnessAudit, **overrides: object) -> str:
    arguments: dict = {
        "model_name": "ewarn-risk",
        "version": "3",
        "trained_at": "2025-03-03T10:00:00Z",
        "horizon": 12,
        "capacity": 0.02,
        "data": {
            "rows": {"signals": 512345, "events": 493, "people": 600},
            "date_range": ["2024-01-01", "2025-02-17"],
            "people": 600,
            "hash": "sha256:9f2c",
        },
        "metrics": {"logistic": _metrics(0.123456, math.nan), "gradient_boosting": _metrics(0.11, 7.0)},
        "naive": _metrics(0.05, 3.5),
        "chosen": "logistic",
        "features": [
            "questions_asked__deviation",
            "questions_asked__deviation_vs_team",
            "pulse.engagement__level",
            "family:initiative__risk_deviation",
            "family:all__risk_deviation",
            "tenure_weeks",
            "weeks_since_manager_changed",
        ],
        "fairness": audit,
    }
    arguments.update(overrides)
    return model_card(**arguments)


def test_card_has_every_section_in_order(audit: FairnessAudit) -> None:
    card = _card(audit)
    assert card.startswith("# Model card: ewarn-risk")
    positions = [card.index(f"\n{section}\n") for section in SECTIONS]
    assert positions == sorted(positions)
    for words in ("GDPR art. 22", "Annex III", "4(b)", "emotion", "feedforward", "Human oversight"):
        assert words in card
    assert "top 2% of people" in card


def test_metrics_table_has_candidates_and_naive_reference(audit: FairnessAudit) -> None:
    card = _card(audit)
    header = next(line for line in card.splitlines() if line.startswith("| Metric |"))
    assert header == "| Metric | logistic (chosen) | gradient_boosting | naive reference |"
    rows = {line.split(" | ")[0].strip("| "): line for line in card.splitlines() if line.startswith("| ")}
    assert rows["Average precision"] == "| Average precision | 0.123 | 0.110 | 0.050 |"
    assert rows["Median lead (weeks)"] == "| Median lead (weeks) | n/a | 7.0 | 3.5 |"
    assert rows["Person-weeks scored"] == "| Person-weeks scored | 30,104 | 30,104 | 30,104 |"
    # Every metric is explained in one plain line.
    assert "- Brier score: " in card and "- Flag churn: " in card
    assert "within 12 weeks" in card


def test_a_horizon_ensemble_names_the_horizons_it_learned(audit: FairnessAudit) -> None:
    card = _card(audit, learned_horizons=[12, 16, 20], chosen="gradient_boosting")
    assert "mean log-odds of 3 models that learned an outcome within 12, 16, 20 weeks" in card
    per_positive = HORIZON_ENSEMBLES["gradient_boosting"].negatives_per_positive
    assert f"a sample of {per_positive} weeks without it for each" in card
    assert "Learned as" not in _card(audit, learned_horizons=[12])
    assert "Learned as" not in _card(audit)


def test_nan_and_missing_render_as_na() -> None:
    assert format_metric("roc_auc", math.nan) == "n/a"
    assert format_metric("roc_auc", None) == "n/a"
    assert format_metric("roc_auc", 0.5) == "0.500"
    assert format_metric("outcomes", 61.0) == "61"


def test_fairness_audit_and_its_warnings_appear(audit: FairnessAudit) -> None:
    card = _card(audit)
    assert audit.warnings and all(w in card for w in audit.warnings)
    assert "four-fifths" in card
    assert "| f | 6 | 0.833 |" in card


def test_features_section_counts_and_families(audit: FairnessAudit) -> None:
    card = _card(audit)
    assert "- 7 features" in card
    assert "Families: initiative." in card  # the overall summary ('all') is not a family
    assert "protected attributes" in card.lower()
    with_catalog = _card(audit, catalog_families=["recognition", "autonomy", "all"])
    assert "Families: autonomy, recognition." in with_catalog


def test_protected_attribute_as_feature_is_refused(audit: FairnessAudit) -> None:
    with pytest.raises(ValueError, match="protected"):
        _card(audit, features=["questions_asked__deviation", "audit_gender"])


def test_data_fingerprint_and_no_person_ids(audit: FairnessAudit) -> None:
    card = _card(audit)
    assert "signals 512,345" in card
    assert "2024-01-01 to 2025-02-17" in card
    assert "sha256:9f2c" in card
    assert "Version: 3" in card
    assert not any(person in card for person in PEOPLE)


def test_card_without_audit_columns_or_version() -> None:
    scored = pl.DataFrame({"person_id": PEOPLE[:1], "week": [date(2024, 1, 1)], "flagged": [True]})
    card = _card(fairness_audit(scored, None), version=None, data={})
    assert "no fairness audit was possible" in card
    assert "Version: not registered" in card
    assert "No fingerprint was recorded" in card


def _limits(card: str) -> str:
    return card[card.index("## Limits") :]


def test_limits_take_their_figures_from_this_models_back_test(audit: FairnessAudit) -> None:
    chosen = {**_metrics(0.2, 7.0), "precision_at_capacity": 0.4167, "event_recall": 0.62}
    other = {**_metrics(0.1, 7.0), "precision_at_capacity": 0.9, "event_recall": 0.9}
    limits = _limits(_card(audit, metrics={"logistic": chosen, "gradient_boosting": other}))
    assert "42% of each week's flags" in limits and "62% of the people" in limits
    # No hand-written figure from some other measurement of some other model.
    assert "66-87%" not in limits and "three measurements" not in limits
    assert "90%" not in limits  # the candidate that was not chosen says nothing here
    changed = {**chosen, "precision_at_capacity": 0.25, "event_recall": 0.5}
    limits = _limits(_card(audit, metrics={"logistic": changed, "gradient_boosting": other}))
    assert "25% of each week's flags" in limits and "50% of the people" in limits


def test_limits_say_so_when_the_back_test_could_not_measure_it(audit: FairnessAudit) -> None:
    unmeasured = {**_metrics(0.2, 7.0), "precision_at_capacity": math.nan}
    del unmeasured["event_recall"]
    limits = _limits(_card(audit, metrics={"logistic": unmeasured}))
    assert "not measured" in limits
    assert "nan" not in limits.lower()


def test_the_card_says_how_the_metrics_were_back_tested(audit: FairnessAudit) -> None:
    card = _card(audit, backtest="people held out: 5 person-grouped folds")
    assert "- Back-test: people held out: 5 person-grouped folds" in card.split("## Intended use")[0]
    assert "- Back-test:" not in _card(audit)


def test_learnt_directions_are_listed_for_a_person_to_check(audit: FairnessAudit) -> None:
    card = _card(audit, learnt_directions={"Questions posted count": "falls", "Late pings": "rises"})
    assert "Directions learnt from the training data" in card
    assert "Questions posted count: risk rises as it falls" in card
    assert "Late pings: risk rises as it rises" in card
    assert "Directions learnt" not in _card(audit)
