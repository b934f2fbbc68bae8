"""Code-tier tests of the modelling core: metrics by hand, splits that never leak, selection rules."""

from __future__ import annotations

import inspect
import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
import shap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline

from models.backtest import choose, person_backtest, time_backtest
from models.candidates import (
    HORIZON_ENSEMBLES,
    AppendSignedLog,
    MedianImputer,
    QuantileBins,
    gradient_boosting,
    gradient_boosting_member,
    logistic_regression,
    logistic_regression_with_logs,
    on_raw_values,
)
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
from models.train import (
    HorizonEnsemble,
    fit_calibrated,
    fit_cross_calibrated,
    horizon_members,
    matrix,
    member_rows,
    negatives_sampled,
)

pytestmark = pytest.mark.code

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
    with pytest.raises(SplitError, match="no weeks to fit on"):
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
    logs_ahead = {**clear, "logistic_with_logs": {"average_precision": 0.346}}
    logs_behind = {**clear, "logistic_with_logs": {"average_precision": 0.344}}
    assert choose(logs_ahead) == "logistic_with_logs"
    assert choose(logs_behind) == "gradient_boosting"


def test_only_the_person_backtest_weighs_the_logistic_regression_with_logs() -> None:
    # It measured worse, at twice the fitting time, on a time split (models.candidates).
    assert "logistic_with_logs" not in inspect.signature(time_backtest).parameters["candidates"].default
    assert "logistic_with_logs" in inspect.signature(person_backtest).parameters["candidates"].default


def test_appended_signed_logs_keep_every_column_then_add_its_log() -> None:
    values = np.array([[0.0, 3.0, -3.0], [1.0, 54.0, -0.5]])
    appended = AppendSignedLog().fit(values).transform(values)
    np.testing.assert_array_equal(appended[:, :3], values)
    np.testing.assert_allclose(
        appended[:, 3:], [[0.0, np.log(4.0), -np.log(4.0)], [np.log(2.0), np.log(55.0), -np.log(1.5)]]
    )
    with pytest.raises(ValueError, match="expected 3 features, got 2"):
        AppendSignedLog().fit(values).transform(values[:, :2])


def test_the_logistic_regression_with_logs_bends_a_feature_the_plain_one_cannot() -> None:
    # Risk that rises with the log of a count: a line through the count itself fits it worse.
    rng = np.random.default_rng(3)
    count = rng.lognormal(1.0, 1.2, 4000)
    label = (rng.random(4000) < 1 / (1 + np.exp(-(2.0 * np.log1p(count) - 4.0)))).astype(int)
    inputs = count[:, None]
    plain = logistic_regression().fit(inputs, label).predict_proba(inputs)[:, 1]
    with_logs = logistic_regression_with_logs().fit(inputs, label).predict_proba(inputs)[:, 1]
    assert log_loss(label, with_logs) < log_loss(label, plain) - 0.01


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


def test_longer_horizons_learn_only_from_outcomes_known_before_the_cutoff() -> None:
    table = labelled_table(n_people=60)
    cutoff = week(45)
    # Every row with a known 12-week label (fit and calibration rows alike), the newest ones included.
    known = table.filter(pl.col("eligible") & (pl.col("week") + timedelta(weeks=12) < cutoff))
    members = horizon_members(known, 12, cutoff, (0, 4, 8, 12))
    assert [h for h, _, _ in members] == [12, 16, 20, 24]
    _, plain_rows, plain_labels = members[0]
    assert plain_rows.all() and plain_labels.tolist() == known["label"].to_list()
    for longer, keep, labels in members:
        assert keep.shape == (known.height,) and labels.shape == (keep.sum(),)
        too_late = known["week"] + timedelta(weeks=longer) >= cutoff
        assert (keep == ~too_late.to_numpy()).all()
        to_outcome = known["weeks_to_outcome"].filter(pl.Series(keep))
        expected = ((to_outcome >= 1) & (to_outcome <= longer)).fill_null(False).cast(pl.Int8)
        assert labels.tolist() == expected.to_list()
    sizes = [int(keep.sum()) for _, keep, _ in members]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-1] < known.height and members[-1][2].sum() > plain_labels.sum() / 2

    # Forget every outcome dated on or after the cutoff: no member may change.
    unknown = (pl.col("week") + pl.duration(weeks=pl.col("weeks_to_outcome"))) >= cutoff
    forgotten = known.with_columns(
        pl.when(unknown).then(None).otherwise(pl.col("weeks_to_outcome")).alias("weeks_to_outcome")
    )
    assert forgotten["weeks_to_outcome"].null_count() > known["weeks_to_outcome"].null_count()
    for (longer, keep, labels), (again, keep_again, labels_again) in zip(
        members, horizon_members(forgotten, 12, cutoff, (0, 4, 8, 12)), strict=True
    ):
        assert longer == again and (keep == keep_again).all() and (labels == labels_again).all()


def test_a_longer_horizon_with_one_class_is_left_out() -> None:
    rows = pl.DataFrame(
        {
            "week": [week(0), week(1), week(10), week(11)],
            "weeks_to_outcome": [5, None, None, 3],
            "label": [1, 0, 0, 1],
        }
    )
    # Only weeks 0 and 1 see 24 weeks before week 26, and they hold both classes; 36 weeks: none.
    assert [h for h, _, _ in horizon_members(rows, 12, week(26), (0, 12, 24))] == [12, 24]
    assert [h for h, _, _ in horizon_members(rows.head(1), 12, week(26), (0, 12))] == []


def _known_rows(n_people: int, cutoff: date) -> pl.DataFrame:
    table = labelled_table(n_people=n_people)
    return table.filter(pl.col("eligible") & (pl.col("week") + timedelta(weeks=12) < cutoff))


def test_each_horizon_member_keeps_every_positive_and_a_sample_of_the_rest() -> None:
    cutoff = week(45)
    known = _known_rows(150, cutoff)
    plan = HORIZON_ENSEMBLES["gradient_boosting"]
    per_positive = plan.negatives_per_positive
    assert per_positive is not None
    sampled = member_rows(known, 12, cutoff, plan, seed=0)
    every = horizon_members(known, 12, cutoff, plan.extensions)
    assert [h for h, _, _ in sampled] == [h for h, _, _ in every] == [12, 16, 20]
    for (_, rows, labels), (_, keep, all_labels) in zip(sampled, every, strict=True):
        assert np.isin(rows, np.flatnonzero(keep)).all()
        # The labels travel with their rows, and no positive is left out.
        assert labels.tolist() == all_labels[np.searchsorted(np.flatnonzero(keep), rows)].tolist()
        assert labels.sum() == all_labels.sum()
        negatives, all_negatives = int((labels == 0).sum()), int((all_labels == 0).sum())
        assert negatives < all_negatives
        assert negatives == pytest.approx(per_positive * labels.sum(), rel=0.2)


def test_a_higher_share_of_negatives_keeps_a_superset_and_none_keeps_every_row() -> None:
    labels = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0] * 200)
    draws = np.random.default_rng(1).integers(0, 2**63, labels.size, dtype=np.uint64) * np.uint64(2)
    fewer, more = negatives_sampled(labels, draws, 2), negatives_sampled(labels, draws, 4)
    assert (fewer <= more).all() and fewer.sum() < more.sum()
    assert (fewer[labels == 1]).all() and (more[labels == 1]).all()
    assert negatives_sampled(labels, draws, None).all()
    assert negatives_sampled(labels, draws, 9).all()  # no more negatives than asked for: all kept


def test_a_feature_seen_only_in_rows_the_sampling_left_out_is_not_learnt() -> None:
    cutoff = week(45)
    table = labelled_table(n_people=150)
    split = time_split(table, cutoff, horizon=12)
    plan = HORIZON_ENSEMBLES["gradient_boosting"]
    sampled = set().union(*(rows.tolist() for _, rows, _ in member_rows(split.fit, 12, cutoff, plan, 0)))
    left_out = next(i for i in range(split.fit.height) if i not in sampled)
    rare = pl.Series("rare", [1.0 if i == left_out else None for i in range(split.fit.height)])
    model = fit_calibrated(
        "gradient_boosting",
        split.fit.with_columns(rare),
        split.calibrate.with_columns(pl.lit(None, dtype=pl.Float64).alias("rare")),
        ["x", "rare"],
        horizon=12,
        known_until=cutoff,
    )
    assert model.features == ("x",)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order_seed=st.integers(0, 2**32 - 1))
def test_the_sampled_rows_do_not_depend_on_the_rows_order(order_seed: int) -> None:
    cutoff = week(45)
    known = _known_rows(60, cutoff)
    shuffled = known.sample(fraction=1.0, shuffle=True, seed=order_seed)
    plan = HORIZON_ENSEMBLES["gradient_boosting"]

    def chosen(frame: pl.DataFrame) -> list[set[tuple[str, date, int]]]:
        return [
            set(
                zip(frame["person_id"].gather(rows), frame["week"].gather(rows), labels.tolist(), strict=True)
            )
            for _, rows, labels in member_rows(frame, 12, cutoff, plan, seed=0)
        ]

    assert chosen(known) == chosen(shuffled)


def test_the_median_imputer_gives_scikit_learns_medians_and_indicators() -> None:
    rng = np.random.default_rng(5)
    inputs = rng.normal(size=(501, 6)).astype(np.float32)
    inputs[rng.random(inputs.shape) < 0.3] = np.nan
    inputs[:, 2] = np.nan  # never observed
    inputs[:, 4] = rng.integers(0, 3, 501)  # complete, with ties at the median
    ours = MedianImputer(strategy="median", add_indicator=True, keep_empty_features=True).fit(inputs)
    theirs = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True).fit(inputs)
    np.testing.assert_array_equal(ours.statistics_, theirs.statistics_)
    assert ours.indicator_.features_.tolist() == theirs.indicator_.features_.tolist() == [0, 1, 2, 3, 5]
    np.testing.assert_array_equal(ours.transform(inputs), theirs.transform(inputs))


def test_the_single_boosting_model_scores_without_bins_with_the_scores_of_its_binned_fit() -> None:
    table = labelled_table(n_people=90).with_columns(
        (pl.col("x") - 3.0 / pl.col("weeks_to_outcome").clip(1, None).fill_null(1000)).alias("x")
    )
    rows = table.filter(pl.col("eligible") & pl.col("label").is_not_null())
    inputs, labels = matrix(rows, ["x"]), rows["label"].to_numpy()
    binned = clone(gradient_boosting()).fit(inputs, labels)
    assert [name for name, _ in binned.steps] == ["bins", "model"]

    folds = person_folds(rows, 3, seed=0)
    crossed = fit_cross_calibrated("gradient_boosting", rows, folds, ["x"])
    split = time_split(table, week(45), horizon=12)
    later = fit_calibrated("gradient_boosting", split.fit, split.calibrate, ["x"])
    for model in (crossed, later):
        assert [name for name, _ in model.pipeline.steps] == ["model"]
    # What scores in the person back-test is the model fitted on every row, bins folded in.
    assert crossed.calibrated.calibrated_classifiers_[0].estimator is crossed.pipeline
    np.testing.assert_array_equal(
        crossed.pipeline.decision_function(inputs), binned.decision_function(inputs)
    )


def test_the_boosting_candidate_learns_as_a_horizon_ensemble_when_time_allows() -> None:
    table = labelled_table(n_people=90).with_columns(
        # A signal that drops as the outcome nears, so that every member has something to learn.
        (pl.col("x") - 3.0 / pl.col("weeks_to_outcome").clip(1, None).fill_null(1000)).alias("x")
    )
    cutoff = week(45)
    split = time_split(table, cutoff, horizon=12)
    model = fit_calibrated(
        "gradient_boosting", split.fit, split.calibrate, ["x"], horizon=12, known_until=cutoff
    )
    ensemble = model.pipeline
    assert isinstance(ensemble, HorizonEnsemble) and list(ensemble.horizons) == [12, 16, 20]
    # Fitted on bins, kept without them: scoring never bins (the 100,000-person nightly's budget).
    assert all([name for name, _ in member.steps] == ["model"] for member in ensemble.members)
    inputs = matrix(split.score, model.features)
    members = np.array([member.decision_function(inputs) for member in ensemble.members])
    assert not np.allclose(members[0], members[-1]), "members that learned the same thing prove nothing"
    np.testing.assert_allclose(ensemble.decision_function(inputs), members.mean(axis=0))
    risk = model.predict_risk(split.score)
    assert np.all((risk > 0) & (risk < 1))
    # The calibration is a monotone map of the ensemble's mean log-odds.
    order = np.argsort(members.mean(axis=0), kind="stable")
    assert np.all(np.diff(risk[order]) >= -1e-12)
    # Without the time to spare, and for the logistic regression, one pipeline as before.
    assert isinstance(
        fit_calibrated("gradient_boosting", split.fit, split.calibrate, ["x"]).pipeline, Pipeline
    )
    logistic = fit_calibrated("logistic", split.fit, split.calibrate, ["x"], horizon=12, known_until=cutoff)
    assert isinstance(logistic.pipeline, Pipeline)


def test_quantile_bins_keep_order_and_missing_values_and_weigh_the_rare_class() -> None:
    rng = np.random.default_rng(4)
    n = 5000
    values = np.column_stack([rng.normal(size=n), rng.integers(0, 5, n).astype(float), rng.normal(size=n)])
    values[rng.random(n) < 0.1, 0] = np.nan
    labels = (values[:, 2] > 1.6).astype(int)  # about 5% positives, all at the top of column 2
    bins = QuantileBins(max_bins=16).fit(values, labels)
    binned = bins.transform(values)
    assert np.array_equal(np.isnan(binned), np.isnan(values))
    for j in range(values.shape[1]):
        seen = ~np.isnan(values[:, j])
        assert np.unique(binned[seen, j]).size <= 16
        order = np.argsort(values[seen, j])
        assert np.all(np.diff(binned[seen, j][order]) >= 0), "a larger value never falls in a lower bin"
    # Few distinct values: one bin each, as the boosting itself would do.
    assert np.unique(binned[:, 1]).tolist() == [0, 1, 2, 3, 4]
    # Balanced class weights put half the weight on the rare positives: more edges among them.
    unweighted = QuantileBins(max_bins=16).fit(values)
    assert (bins.edges_[2] > 1.6).sum() > (unweighted.edges_[2] > 1.6).sum() + 3
    with pytest.raises(ValueError, match="expected 3 features"):
        bins.transform(values[:, :2])


def test_bins_folded_into_the_trees_give_the_same_scores_and_shap_values_on_raw_inputs() -> None:
    rng = np.random.default_rng(5)
    n, width = 6000, 5
    values = rng.normal(size=(n, width)).astype(np.float32)
    values[:, 1] = rng.integers(0, 4, n)  # few distinct values: edges between them
    values[rng.random((n, width)) < 0.1] = np.nan
    labels = (values[:, 0] + np.nan_to_num(values[:, 1]) + rng.normal(size=n) > 3.0).astype(int)
    binned = gradient_boosting_member(0, [1, 1, 0, 0, 0]).fit(values, labels)
    raw = on_raw_values(binned)
    assert [name for name, _ in raw.steps] == ["model"]
    # Unseen rows: beyond the fitted range, between and outside the few distinct values, missing.
    unseen = (rng.normal(size=(4000, width)) * 3).astype(np.float32)
    unseen[:, 1] = rng.integers(-1, 6, 4000) + rng.choice([0.0, 0.5], 4000)
    unseen[rng.random((4000, width)) < 0.1] = np.nan
    rows = np.vstack([values, unseen])
    np.testing.assert_array_equal(raw.decision_function(rows), binned.decision_function(rows))
    np.testing.assert_array_equal(
        shap.TreeExplainer(raw.named_steps["model"]).shap_values(rows[:500]),
        shap.TreeExplainer(binned.named_steps["model"]).shap_values(binned[:-1].transform(rows[:500])),
    )
    # The fitted pipeline it came from is left as it was: its splits still fall between bin numbers.
    assert [name for name, _ in binned.steps] == ["bins", "model"]
    for predictors in binned.named_steps["model"]._predictors:
        nodes = predictors[0].nodes
        thresholds = nodes["num_threshold"][(nodes["is_leaf"] == 0) & np.isfinite(nodes["num_threshold"])]
        assert np.all(thresholds % 1.0 == 0.5)
