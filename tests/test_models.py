"""Code-tier tests of the modelling core: metrics by hand, splits that never leak, selection rules."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from models.backtest import choose
from models.candidates import logistic_regression
from models.metrics import choose_weekly_flags, evaluate, flag_churn
from models.promotion import decide
from models.splits import (
    CALIBRATION_POSITIVES,
    MAX_CALIBRATION_WEEKS,
    MIN_CALIBRATION_WEEKS,
    SplitError,
    person_folds,
    time_split,
)
from models.train import fit_cross_calibrated, matrix

START = date(2024, 1, 1)


def week(k: int) -> date:
    return START + timedelta(weeks=k)


def scored_frame() -> pl.DataFrame:
    # 10 people over 3 weeks; p0 resigns in week 4 (weeks_to_outcome 3, 2, 1); p1 has no outcome.
    rows = []
    for k in range(3):
        for p in range(10):
            outcome = 4 - k if p == 0 else None
            score = 0.9 if p == 0 else (0.8 if p == 1 and k == 1 else 0.1 + p / 100)
            rows.append((f"p{p}", week(k), score, 1 if p == 0 else 0, outcome))
    return pl.DataFrame(
        rows, schema=["person_id", "week", "score", "label", "weeks_to_outcome"], orient="row"
    )


def test_weekly_flags_take_the_top_share_and_at_least_one() -> None:
    flagged = choose_weekly_flags(scored_frame(), capacity=0.02)
    per_week = flagged.filter(pl.col("flagged")).group_by("week").len()
    assert per_week["len"].to_list() == [1, 1, 1]
    assert set(flagged.filter(pl.col("flagged"))["person_id"]) == {"p0"}
    assert choose_weekly_flags(scored_frame(), capacity=0.2).filter(pl.col("flagged")).height == 6


def test_metrics_by_hand() -> None:
    metrics = evaluate(scored_frame(), horizon=12, capacity=0.2)
    assert metrics["average_precision"] == pytest.approx(1.0)
    assert metrics["roc_auc"] == pytest.approx(1.0)
    # Two flags a week: p0 (positive) and one negative each week.
    assert metrics["precision_at_capacity"] == pytest.approx(0.5)
    assert metrics["event_recall"] == pytest.approx(1.0)
    assert metrics["median_lead_weeks"] == pytest.approx(4.0)
    assert metrics["outcomes"] == 1


def test_flag_churn_counts_new_faces_only() -> None:
    frame = pl.DataFrame(
        {
            "person_id": ["a", "b", "a", "c", "a", "c"],
            "week": [week(0), week(0), week(1), week(1), week(2), week(2)],
            "flagged": [True] * 6,
        }
    )
    assert flag_churn(frame) == pytest.approx((0.5 + 0.0) / 2)


def test_metrics_handle_a_single_class_without_crashing() -> None:
    frame = scored_frame().with_columns(
        pl.lit(0).alias("label"), pl.lit(None, dtype=pl.Int64).alias("weeks_to_outcome")
    )
    metrics = evaluate(frame, horizon=12)
    assert math.isnan(metrics["average_precision"]) and math.isnan(metrics["event_recall"])


def labelled_table(n_people: int = 40, n_weeks: int = 60) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for p in range(n_people):
        outcome = int(rng.integers(20, 70)) if p % 3 == 0 else None
        for k in range(n_weeks):
            weeks_to = None if outcome is None else outcome - k
            eligible = weeks_to is None or weeks_to >= 1
            label = None if not eligible else int(weeks_to is not None and weeks_to <= 12)
            rows.append((f"p{p:02d}", week(k), float(rng.normal()), label, weeks_to, eligible))
    return pl.DataFrame(
        rows, schema=["person_id", "week", "x", "label", "weeks_to_outcome", "eligible"], orient="row"
    )


def test_time_split_never_trains_on_a_horizon_that_reaches_the_cutoff() -> None:
    table = labelled_table()
    cutoff = week(45)
    split = time_split(table, cutoff, horizon=12)
    for part in (split.fit, split.calibrate):
        assert (part["week"] + timedelta(weeks=12) < cutoff).all()
        assert part["label"].null_count() == 0 and part["eligible"].all()
    assert split.fit["week"].max() < split.calibrate["week"].min()
    assert split.score["week"].min() == cutoff and split.score["eligible"].all()


def outcome_rows_per_week(positives: int, weeks: int = 44) -> pl.DataFrame:
    # Each week: `positives` rows followed by an outcome, 20 rows not (labels as if all were known).
    rows = [
        (f"p{p:04d}", week(k), int(p < positives), 1 if p < positives else None, True)
        for k in range(weeks)
        for p in range(positives + 20)
    ]
    schema = ["person_id", "week", "label", "weeks_to_outcome", "eligible"]
    return pl.DataFrame(rows, schema=schema, orient="row")


@pytest.mark.parametrize(
    ("positives", "expected_weeks"),
    [
        (CALIBRATION_POSITIVES, MIN_CALIBRATION_WEEKS),  # enough in one week: still the minimum
        (CALIBRATION_POSITIVES // 6 + 1, 6),  # six weeks hold enough, five do not
        (CALIBRATION_POSITIVES // 20, MAX_CALIBRATION_WEEKS),  # never enough: the maximum
    ],
)
def test_the_calibration_slice_is_as_short_as_its_outcomes_allow(positives: int, expected_weeks: int) -> None:
    cutoff = week(40)
    split = time_split(outcome_rows_per_week(positives), cutoff, horizon=12)
    assert split.calibrate["week"].n_unique() == expected_weeks
    assert split.calibrate["week"].max() == week(27)  # the last week whose horizon ends before the cutoff
    assert split.fit["week"].max() == week(27 - expected_weeks)


def test_time_split_refuses_a_cutoff_outside_the_data() -> None:
    with pytest.raises(SplitError, match="no rows to fit"):
        time_split(labelled_table(), week(10), horizon=12)
    with pytest.raises(SplitError, match="no weeks to score"):
        time_split(labelled_table(), week(80), horizon=12)


def test_person_folds_keep_each_person_in_one_fold() -> None:
    table = labelled_table()
    rows = table.filter(pl.col("eligible") & pl.col("label").is_not_null())
    seen: dict[str, int] = {}
    for fold, (_, test_index) in enumerate(person_folds(table, 4)):
        for person in set(rows[test_index]["person_id"].to_list()):
            assert person not in seen
            seen[person] = fold
    assert len(seen) == rows["person_id"].n_unique()


def test_a_tie_goes_to_the_simpler_model() -> None:
    close = {"logistic": {"average_precision": 0.300}, "gradient_boosting": {"average_precision": 0.303}}
    clear = {"logistic": {"average_precision": 0.300}, "gradient_boosting": {"average_precision": 0.350}}
    assert choose(close) == "logistic"
    assert choose(clear) == "gradient_boosting"


def test_promotion_rules() -> None:
    assert decide(0.2, None, champion_exists=False).alias == "champion"
    assert decide(0.25, 0.20, champion_exists=True).alias == "champion"
    assert decide(0.205, 0.20, champion_exists=True).alias == "challenger"
    assert decide(0.10, 0.20, champion_exists=True, promote=True).alias == "champion"
    assert decide(0.30, None, champion_exists=True).alias == "challenger"


def test_cross_calibration_fits_on_every_row_and_calibrates_out_of_fold() -> None:
    from sklearn.calibration import _SigmoidCalibration  # the sigmoid CalibratedClassifierCV fits

    rng = np.random.default_rng(1)
    n = 600
    x = rng.normal(size=n)
    table = pl.DataFrame(
        {
            "person_id": [f"p{i:03d}" for i in range(n)],
            "week": [week(0)] * n,
            "signal__level_4w": x,
            "rare__level_4w": [1.0] + [None] * (n - 1),
            "label": (rng.random(n) < 1 / (1 + np.exp(-(2 * x - 3)))).astype(np.int8),
            "eligible": [True] * n,
        }
    )
    folds = person_folds(table, 5, seed=1)
    model = fit_cross_calibrated("logistic", table, folds, ["signal__level_4w", "rare__level_4w"])
    # The one row with `rare` is held out of one inner fit, which then never sees it: dropped.
    assert model.features == ("signal__level_4w",)
    inputs, labels = matrix(table, model.features), table["label"].to_numpy()
    # The pipeline that scores was fitted on every row ...
    on_all = logistic_regression().fit(inputs, labels)
    np.testing.assert_allclose(model.pipeline.named_steps["model"].coef_, on_all.named_steps["model"].coef_)
    # ... and the sigmoid was learned on predictions for rows each inner fit did not see.
    out_of_fold = np.zeros(n)
    for fit_index, test_index in folds:
        inner = logistic_regression().fit(inputs[fit_index], labels[fit_index])
        out_of_fold[test_index] = inner.decision_function(inputs[test_index])
    expected = _SigmoidCalibration().fit(out_of_fold, labels)
    learned = model.calibrated.calibrated_classifiers_[0].calibrators[0]
    assert (learned.a_, learned.b_) == pytest.approx((expected.a_, expected.b_), rel=1e-2)
    in_sample = _SigmoidCalibration().fit(on_all.decision_function(inputs), labels)
    assert (learned.a_, learned.b_) != pytest.approx((in_sample.a_, in_sample.b_), rel=1e-2)
