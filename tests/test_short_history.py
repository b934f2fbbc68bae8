"""Short histories and snapshots train: the person split in `ewarn train`, the horizon kept with the
model, the manifest's end of observation, and reasons that name the normal the history supports."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from features.manifest import last_observed_week, parse_manifest
from models.attribution import attribute
from models.candidates import CANDIDATES
from models.history_words import absence_span_words, long_normal_words
from models.splits import person_folds
from models.train import fit_cross_calibrated, from_calibrated

pytestmark = pytest.mark.model


def small_table(people: int = 120, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=people)
    label = (rng.random(people) < 1 / (1 + np.exp(-2 * x - 1.5))).astype(np.int8)
    return pl.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(people)],
            "week": [date(2024, 6, 3)] * people,
            "a__level_4w": x,
            "b__level_4w": rng.normal(size=people),
            "label": label,
            "eligible": [True] * people,
        }
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One tracking store for every candidate: creating a store costs more than logging a model."""
    return f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"


@pytest.mark.slow  # an MLflow tracking store and a registry round trip per candidate
@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_every_candidate_is_logged_and_loaded_back_from_the_registry(name: str, registry: str) -> None:
    # The person split chooses among more candidates than the time split; each must survive the
    # registry's safe loading (skops), or `ewarn train --split person` fails at the very end.
    from models.tracking import load_model, log_training

    rows = small_table()
    features = ["a__level_4w", "b__level_4w"]
    model = fit_cross_calibrated(name, rows, person_folds(rows, 3), features)
    uri = registry
    example = rows.select(features).to_numpy().astype(np.float32)
    record = log_training(
        uri,
        params={"model": name},
        metrics={},
        tables={},
        texts={"features.json": '["a__level_4w", "b__level_4w"]'},
        figures={},
        card=lambda version: f"card {version}",
        model=model.calibrated,
        example=example[:5],
        alias="champion",
        tags={},
    )
    loaded, loaded_features = load_model(uri, record.version)
    assert loaded_features == features
    np.testing.assert_allclose(
        loaded.predict_proba(example)[:, 1], model.calibrated.predict_proba(example)[:, 1]
    )
    # The nightly explains flags with the model found inside the calibration: the fitted one.
    rebuilt = from_calibrated(name, loaded, loaded_features)
    attribution = attribute(rebuilt, rows.head(5))
    raw = rebuilt.pipeline.decision_function(example[:5])
    np.testing.assert_allclose(attribution.values.sum(axis=1) + attribution.base_value, raw, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# The manifest


def test_a_manifest_declares_the_end_of_observation() -> None:
    manifest, problems = parse_manifest("observed_until = 2024-07-07\n")
    assert problems == () and manifest.observed_until == date(2024, 7, 7)
    assert parse_manifest('observed_until = "2024-07-07"\n')[0].observed_until == date(2024, 7, 7)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("observed_until = 2024-13-01\n", "not valid TOML"),
        ('observed_until = "07-07-2024"\n', "'07-07-2024' is not a date"),
        ("observed_until = 2024-07-07T10:00:00\n", "a date and time"),
        ("observed_until = 2024-07-07\nhorizon = 4\n", "not a manifest setting"),
    ],
)
def test_a_bad_manifest_is_a_problem_naming_the_file(text: str, said: str) -> None:
    _, problems = parse_manifest(text)
    assert len(problems) == 1
    assert problems[0].file == "manifest.toml" and said in problems[0].render()


def test_only_weeks_observed_to_their_sunday_count() -> None:
    assert last_observed_week(date(2024, 7, 7)) == date(2024, 7, 1)  # a Sunday: its week is whole
    assert last_observed_week(date(2024, 7, 6)) == date(2024, 6, 24)  # a Saturday: its week is not


# --------------------------------------------------------------------------------------------------
# Words for the history there is


def test_the_long_normal_is_named_for_the_history_it_stands_on() -> None:
    week = date(2024, 9, 2)
    assert long_normal_words(week, date(2024, 1, 1)) == "the person's normal since January 2024"
    assert long_normal_words(week, date(2022, 1, 3)) == "the two-year normal"
    assert long_normal_words(week, None) == "the two-year normal"
    assert absence_span_words(week, date(2024, 7, 1)) == "the last 10 weeks"
    assert absence_span_words(week, date(2023, 1, 2)) == "the last 26 weeks"
