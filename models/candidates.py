"""The candidate models: each a scikit-learn Pipeline, so every fitted step travels with the model."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from features import drift
from features.catalog import Catalog
from features.columns import is_family_column, split_signal_column

# Ordered from simplest to most complex: a tie in back-test quality goes to the earlier one.
SIMPLICITY_ORDER = ("logistic", "logistic_with_logs", "gradient_boosting")
# The candidates each back-test compares. The logistic regression with logs earns its place only
# where the rows carry little history (a one-week snapshot, person 5-fold), where it ranked better
# on most simulator seeds. On a time split the features already stand against each person's own
# normal, and the logs cost twice the fit for a lower back-test AP. Figures: docs/research.md.
TIME_CANDIDATES = ("logistic", "gradient_boosting")
PERSON_CANDIDATES = SIMPLICITY_ORDER

# Features whose direction the catalog fixes: a move the catalog calls risky may never lower risk.
_DIRECTED_SIGNAL_FEATURES = (
    "deviation",
    "deviation_vs_team",
    "trend_8w",
    "weeks_off_normal",
    *drift.OUTPUTS,
)
_ABSENCE_FEATURES = ("absence_days_26w", "absence_spells_26w", "bradford_factor_26w")


def monotone_constraints(features: Sequence[str], catalog: Catalog) -> list[int]:
    """Per feature: +1 risk may only rise with it, -1 only fall, 0 free (from the catalog's directions)."""
    constraints = []
    for feature in features:
        signal, kind = split_signal_column(feature) or ("", "")
        if is_family_column(feature):
            constraints.append(1)  # family summaries are already turned the way that raises risk
        elif signal and kind in (*_DIRECTED_SIGNAL_FEATURES, *_ABSENCE_FEATURES):
            constraints.append(catalog.signal(signal).risk_sign)
        else:
            constraints.append(0)
    return constraints


class MedianImputer(SimpleImputer):
    """SimpleImputer(strategy="median") whose medians come from np.nanmedian: the same values.

    Why: scikit-learn finds them with numpy's masked median, which sorts a masked copy of the
    whole input; on a large time split that was most of the logistic candidate's fit.
    """

    def _dense_fit(  # scikit-learn's hook for dense inputs; its names
        self,
        X: np.ndarray,  # noqa: N803
        strategy: str,
        missing_values: object,
        fill_value: object,
    ) -> np.ndarray:
        if strategy != "median" or not (isinstance(missing_values, float) and np.isnan(missing_values)):
            return super()._dense_fit(X, strategy, missing_values, fill_value)
        missing = np.isnan(X)
        self._fit_indicator(missing)
        with warnings.catch_warnings():  # a column with no value at all: handled just below
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(X, axis=0)
        median[missing.all(axis=0)] = 0 if self.keep_empty_features else np.nan
        return median


def logistic_regression(seed: int = 0, constraints: list[int] | None = None) -> Pipeline:
    """Regularised logistic regression; missing values imputed (with indicators), inputs scaled.

    The classes are not reweighted: the rare outcome is handled by ranking metrics and by the sigmoid
    calibration on a later slice. Balanced weights ranked worse on the simulator, in time and person
    back-tests, and C=0.1 best of the range tried (docs/research.md). scikit-learn's logistic
    regression cannot take sign constraints;
    `constraints` is accepted for a common signature and the model tests check its directions
    instead.
    """
    return Pipeline(
        [
            ("impute", MedianImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=0.1, max_iter=3000, random_state=seed)),
        ]
    )


def signed_log(values: np.ndarray) -> np.ndarray:
    """sign(x) * log(1 + |x|) of an array: features.drift.signed_log's scale, for model inputs."""
    return np.sign(values) * np.log1p(np.abs(values))


class AppendSignedLog(TransformerMixin, BaseEstimator):
    """Every input column kept, and its signed log (see signed_log) appended after all of them.

    With both, a linear model can bend each feature: a weekly count that grows from 2 to 4 may
    weigh more than one that grows from 50 to 52. Learns nothing but the number of columns.
    """

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> AppendSignedLog:  # noqa: N803 (sklearn's name)
        """Record the number of input columns."""
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """The inputs, then their signed logs: twice as many columns, in the same order."""
        values = np.asarray(X, dtype=np.float64)
        if values.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got {values.shape[1]}")
        return np.hstack([values, signed_log(values)])


def logistic_regression_with_logs(seed: int = 0, constraints: list[int] | None = None) -> Pipeline:
    """The logistic regression on every input and its signed log (AppendSignedLog), after imputation.

    For rows with little history (a snapshot), where the features are raw weekly levels, tenure and
    weeks since events, whose effect is far from linear; TIME_CANDIDATES says where it is used.
    """
    pipeline = logistic_regression(seed, constraints)
    pipeline.steps.insert(1, ("logs", AppendSignedLog()))
    return pipeline


def gradient_boosting(seed: int = 0, constraints: list[int] | None = None) -> Pipeline:
    """Histogram gradient boosting: handles missing values, learns interactions, monotone where told.

    Its inputs are binned first (QuantileBins), which makes the fit much faster (docs/research.md).
    Once fitted, `fitted_for_scoring` folds the bins into the trees, so scoring reads raw values.
    """
    boosting = HistGradientBoostingClassifier(
        # 63 bins and 150 rounds: faster than the defaults at the same back-test AP (docs/research.md).
        learning_rate=0.08,
        max_iter=150,
        max_bins=63,
        max_leaf_nodes=15,
        min_samples_leaf=200,
        l2_regularization=1.0,
        class_weight="balanced",
        early_stopping=False,
        random_state=seed,
        monotonic_cst=constraints,
    )
    return Pipeline(
        [("bins", QuantileBins(max_bins=boosting.max_bins, random_state=seed)), ("model", boosting)]
    )


CANDIDATES: dict[str, Callable[[int, list[int] | None], Pipeline]] = {
    "logistic": logistic_regression,
    "logistic_with_logs": logistic_regression_with_logs,
    "gradient_boosting": gradient_boosting,
}


class QuantileBins(TransformerMixin, BaseEstimator):
    """Each feature's values replaced by the number of its quantile bin; missing values stay missing.

    Why: with row weights (the balanced class weights), scikit-learn's histogram boosting finds its
    bin edges as weighted percentiles, one pass per edge and feature: most of the time of a fit.
    Given at most `max_bins` distinct values per feature it takes them as they are, so the same
    kind of edges, weighted by the balanced class weights of `y`, are found here from one sort per
    feature. (Unweighted edges ranked worse; docs/research.md.) The bins only ever grow with the
    value, so the catalog's monotone constraints still hold.
    """

    def __init__(self, max_bins: int = 63, subsample: int = 200_000, random_state: int = 0) -> None:
        self.max_bins = max_bins
        self.subsample = subsample
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> QuantileBins:  # noqa: N803 (sklearn's name)
        """Learn each feature's bin edges from (a sample of) the rows, weighted by balanced class weights."""
        inputs = np.asarray(X)
        weights = np.ones(inputs.shape[0]) if y is None else compute_sample_weight("balanced", y)
        if inputs.shape[0] > self.subsample:  # sampled before the copy below: training memory
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(inputs.shape[0], self.subsample, replace=False))
            inputs, weights = inputs[rows], weights[rows]
        values = np.asfortranarray(inputs, dtype=np.float32)  # one column at a time below
        levels = np.linspace(0.0, 1.0, self.max_bins + 1)[1:-1]
        self.edges_: list[np.ndarray] = []
        for j in range(values.shape[1]):
            column = values[:, j]
            seen = ~np.isnan(column)
            order = np.argsort(column[seen], kind="stable")
            ordered = column[seen][order].astype(np.float64)
            if ordered.size == 0:
                self.edges_.append(np.empty(0))
                continue
            distinct = ordered[np.r_[True, np.diff(ordered) > 0]]
            if distinct.size <= self.max_bins:
                edges = (distinct[:-1] + distinct[1:]) / 2.0
            else:
                cumulative = np.cumsum(weights[seen][order])
                at = np.searchsorted(cumulative, levels * cumulative[-1], side="left")
                edges = np.unique(ordered[np.minimum(at, ordered.size - 1)])
                edges = edges[edges < ordered[-1]]  # an edge at the maximum would leave an empty last bin
            self.edges_.append(edges)
        self.n_features_in_ = values.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """Bin numbers (0, 1, ...), NaN where the value is missing.

        As float64, the type the boosting model fits on: float32 would be copied to float64 there,
        and both copies held at once (training memory).
        """
        values = np.asfortranarray(X, dtype=np.float32)
        if values.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} features, got {values.shape[1]}")
        binned = np.empty(values.shape, dtype=np.float64, order="F")
        for j, edges in enumerate(self.edges_):
            column = values[:, j]
            binned[:, j] = np.searchsorted(edges, column, side="left")
            binned[np.isnan(column), j] = np.nan
        return binned


def on_raw_values(pipeline: Pipeline) -> Pipeline:
    """A fitted Pipeline([bins=QuantileBins, model=boosting]) as one boosting step that reads raw values.

    Same scores and SHAP values, without binning every row again when scoring: each split's
    threshold moves from bin numbers to the feature's own values. A split sends a bin number
    b <= t left; since b = (number of edges below x), b <= floor(t) exactly when x <= edges[floor(t)].
    The boosting model's bin edges are rewritten the same way, so the fitted model stays consistent.
    The pipeline given is left as it was.
    """
    bins = pipeline.named_steps["bins"]
    boosting = copy.deepcopy(pipeline.named_steps["model"])
    for round_predictors in boosting._predictors:
        for predictor in round_predictors:
            nodes = predictor.nodes
            for node in np.flatnonzero(nodes["is_leaf"] == 0):
                edges = bins.edges_[nodes["feature_idx"][node]]
                nodes["num_threshold"][node] = _raw_threshold(edges, nodes["num_threshold"][node])
    mapper = boosting._bin_mapper
    mapper.bin_thresholds_ = [
        np.array([_raw_threshold(bins.edges_[f], t) for t in thresholds], dtype=thresholds.dtype)
        for f, thresholds in enumerate(mapper.bin_thresholds_)
    ]
    return Pipeline([("model", boosting)])


def _raw_threshold(edges: np.ndarray, bin_threshold: float) -> float:
    # Infinite thresholds (a split of missing against present values) mean the same in both spaces.
    if not np.isfinite(bin_threshold):
        return float(bin_threshold)
    below = int(np.floor(bin_threshold))
    return float(edges[below]) if below < edges.size else float("inf")


def gradient_boosting_member(seed: int = 0, constraints: list[int] | None = None) -> Pipeline:
    """The boosting candidate as one member of a horizon ensemble: half the rounds at twice the rate."""
    pipeline = gradient_boosting(seed, constraints)
    pipeline.named_steps["model"].set_params(max_iter=75, learning_rate=0.16)
    return pipeline


def fitted_for_scoring(pipeline: Pipeline) -> Pipeline:
    """A fitted candidate as it should score: with any QuantileBins step folded into the trees."""
    return on_raw_values(pipeline) if "bins" in pipeline.named_steps else pipeline


@dataclass(frozen=True)
class HorizonPlan:
    """How a candidate learns as a horizon ensemble (models.train.HorizonEnsemble).

    One member per extension: weeks added to the horizon the outcome is learned over (0 is the
    horizon itself), each member built by `member`.
    """

    extensions: tuple[int, ...]
    member: Callable[[int, list[int] | None], Pipeline]
    # Rows without the outcome each member learns from, per row with it; None: every row.
    negatives_per_positive: int | None = None


# Where the data has time to spare (a time split), the boosting candidate learns as a horizon
# ensemble: three members of 75 rounds, for H, H + 4 and H + 8 weeks, gave nearly all the gain of
# the longer and larger ensembles tried, at a fraction of their training time. The variants, with
# their figures: docs/research.md. Each member learns from every week with the outcome and five
# without it for each: the person-weeks without are many and alike, and on the development worlds
# the sample ranked as well as all of them at a fraction of the fit (docs/research.md).
HORIZON_ENSEMBLES: dict[str, HorizonPlan] = {
    "gradient_boosting": HorizonPlan(
        extensions=(0, 4, 8), member=gradient_boosting_member, negatives_per_positive=5
    ),
}
