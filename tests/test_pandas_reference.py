"""The pandas reference of the feature stage computes the same table as ours (benchmarks/).

The benchmark's ratio means something only if both sides do the same work: these tests hold the
reference to every column, value and null of `build_features`, in both modes.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from features.build import FeatureRequest, build_features
from features.catalog import load_catalog
from simulator.organisation import simulate_organisation

# Holds the benchmarks' reference to the product, on whole simulated tables: slow.
pytestmark = [pytest.mark.data, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CATALOG = load_catalog(None)


def _load_reference():
    # benchmarks/ is not an installed package: load the module from its file.
    spec = importlib.util.spec_from_file_location(
        "pandas_reference", ROOT / "benchmarks" / "pandas_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ref = _load_reference()


@pytest.fixture(scope="module")
def org():
    return simulate_organisation(60, 60, 3)


@pytest.fixture(scope="module")
def long_org():
    # Longer than the look-back window, so the as-of cut drops history that runs would reach.
    return simulate_organisation(40, 90, 5)


def both(org, request: FeatureRequest) -> tuple[pl.DataFrame, object]:
    ours = build_features(
        org.signals.lazy(), org.events.lazy(), org.people.lazy(), CATALOG, request
    ).collect()
    theirs = ref.build_features_pandas(
        *ref.to_pandas_inputs(org.signals, org.events, org.people), CATALOG, request
    )
    return ours, theirs


def test_every_week_with_labels_equal(org) -> None:
    ours, theirs = both(org, FeatureRequest(with_labels=True))
    assert ours.height > 2500 and ours["label"].drop_nulls().sum() > 0
    assert ref.compare_tables(ours, theirs) == []


def test_nightly_as_of_last_week_equal(org) -> None:
    ours, theirs = both(org, FeatureRequest(as_of=ref.last_week(org.signals)))
    assert ours.height > 40 and ours["week"].n_unique() == 1
    assert ref.compare_tables(ours, theirs) == []


def test_as_of_inside_a_long_history_equal(long_org) -> None:
    as_of = ref.last_week(long_org.signals) - timedelta(weeks=8) + timedelta(days=3)  # a Thursday
    ours, theirs = both(long_org, FeatureRequest(as_of=as_of, with_labels=True))
    assert ours.height > 20
    assert ref.compare_tables(ours, theirs) == []


def test_without_events_and_people_equal(org) -> None:
    request = FeatureRequest()
    ours = build_features(org.signals.lazy(), None, None, CATALOG, request).collect()
    theirs = ref.build_features_pandas(org.signals.to_pandas(), None, None, CATALOG, request)
    assert ref.compare_tables(ours, theirs) == []


def test_comparison_names_each_differing_column(org) -> None:
    ours, theirs = both(org, FeatureRequest(with_labels=True))
    changed = theirs.copy()
    present = changed["questions_asked__baseline"].notna()
    rows = changed.index[present][:3]
    changed.loc[rows, "questions_asked__baseline"] += 0.01
    changed.loc[changed.index[0], "tenure_weeks"] = None
    changed["label"] = changed["label"].fillna(0)
    problems = ref.compare_tables(ours, changed)
    assert any(p.startswith("questions_asked__baseline: 3 of") for p in problems), problems
    assert any(p.startswith("tenure_weeks: 1 of") for p in problems), problems
    assert any(p.startswith("label:") for p in problems), problems
    assert len(problems) == 3
    dropped = ref.compare_tables(ours, theirs.drop(columns="weeks_since_promoted"))
    assert dropped and "weeks_since_promoted" in dropped[0]
