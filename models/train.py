"""Fit a candidate, calibrate it (on a later slice, or out of fold), score rows. Pure: frames in, out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from features.catalog import Catalog, Direction
from models.candidates import (
    CANDIDATES,
    HORIZON_ENSEMBLES,
    HorizonPlan,
    fitted_for_scoring,
    monotone_constraints,
)
from models.directions import learn_directions, with_learnt_directions


class HorizonEnsemble(ClassifierMixin, BaseEstimator):
    """Pipelines that learned the same outcome over longer and longer horizons; scores their mean log-odds.

    Each member comes fitted (see fit_calibrated); `fit` only checks that they agree and records
    their classes, so the ensemble can be calibrated and saved like any scikit-learn classifier.
    The mean of log-odds keeps exact SHAP simple: the members' SHAP values, averaged.
    """

    def __init__(self, members: Sequence[Pipeline] = (), horizons: Sequence[int] = ()) -> None:
        self.members = members
        self.horizons = horizons

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> HorizonEnsemble:  # noqa: N803 (sklearn's name)
        """Check the fitted members (one per horizon, same classes and inputs); fits nothing."""
        if not self.members or len(self.members) != len(self.horizons):
            raise ValueError("a horizon ensemble needs one fitted member per horizon")
        classes = [tuple(member.classes_) for member in self.members]
        if len(set(classes)) != 1 or len(classes[0]) != 2:
            raise ValueError(f"the members must share two classes, they have {classes}")
        self.classes_ = np.asarray(self.members[0].classes_)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """The members' mean log-odds of the outcome."""
        # In the members' own input type once, rather than one converted copy per member.
        values = np.asarray(X, dtype=np.float64)
        return np.mean([member.decision_function(values) for member in self.members], axis=0)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """Uncalibrated probabilities from the mean log-odds (the calibration maps them)."""
        positive = expit(self.decision_function(X))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """The more likely class per row."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


@dataclass(frozen=True)
class FittedModel:
    """A fitted pipeline (or horizon ensemble of them), its calibration, and its feature columns, in order."""

    name: str
    pipeline: Pipeline | HorizonEnsemble
    calibrated: CalibratedClassifierCV
    features: tuple[str, ...]
    # Directions the fit learnt for signals the catalog does not know (models.directions).
    learnt_directions: dict[str, Direction] = field(default_factory=dict)

    def predict_risk(self, rows: pl.DataFrame) -> np.ndarray:
        """Calibrated probability of an outcome within the horizon, one per row."""
        return self.calibrated.predict_proba(matrix(rows, self.features))[:, 1]


def matrix(rows: pl.DataFrame, features: tuple[str, ...] | list[str]) -> np.ndarray:
    """The model input as float32 with NaN for missing; columns the rows lack are all missing."""
    present = set(rows.columns)
    columns = [
        pl.col(f).cast(pl.Float32) if f in present else pl.lit(None, dtype=pl.Float32).alias(f)
        for f in features
    ]
    return rows.select(columns).to_numpy().astype(np.float32, copy=False)


def _learnable_features(fit_rows: pl.DataFrame, features: list[str]) -> list[str]:
    # A feature never observed in the fit rows carries nothing to learn (and breaks binning).
    observed = fit_rows.select(pl.col(f).is_not_null().any() for f in features).row(0)
    return [f for f, seen in zip(features, observed, strict=True) if seen]


def _candidate(name: str, features: list[str], seed: int, catalog: Catalog | None) -> Pipeline:
    constraints = monotone_constraints(features, catalog) if catalog is not None else None
    return CANDIDATES[name](seed, constraints)


def _directed(
    catalog: Catalog | None, inputs: np.ndarray, labels: np.ndarray, features: list[str]
) -> tuple[Catalog | None, dict[str, Direction]]:
    """The catalog with directions learnt from these fit rows for the signals it does not know."""
    if catalog is None:
        return None, {}
    learnt = learn_directions(inputs, labels, features, catalog)
    return with_learnt_directions(catalog, learnt), learnt


def row_draws(rows: pl.DataFrame, seed: int) -> np.ndarray:
    """A pseudo-random number per row from its person and week: the same whatever the rows' order."""
    return rows.select(pl.struct("person_id", "week").hash(seed)).to_series().to_numpy()


def negatives_sampled(labels: np.ndarray, draws: np.ndarray, per_positive: int | None) -> np.ndarray:
    """Which rows a fit keeps: every positive, and about `per_positive` negatives for each (all: None).

    A negative is kept when its draw (row_draws) falls under the share of negatives to keep, so a
    higher share keeps a superset.
    """
    positives = int(labels.sum())
    negatives = labels.size - positives
    if per_positive is None or negatives <= per_positive * positives:
        return np.ones(labels.size, dtype=bool)
    # Scaled to the draws' range; 2**64 - 2**11 is the largest float below 2**64, so no overflow.
    threshold = np.uint64(per_positive * positives / negatives * float(2**64 - 2**11))
    return (labels == 1) | (draws < threshold)


def member_rows(
    fit_rows: pl.DataFrame, horizon: int, known_until: date, plan: HorizonPlan, seed: int
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per member of a horizon ensemble: its horizon, the positions of its rows in `fit_rows`, labels.

    Each member learns from the rows horizon_members allows, with every positive and
    `plan.negatives_per_positive` negatives for each (negatives_sampled).
    """
    draws = row_draws(fit_rows, seed)
    members = []
    for longer, keep, labels in horizon_members(fit_rows, horizon, known_until, plan.extensions):
        rows = np.flatnonzero(keep)
        kept = negatives_sampled(labels, draws[rows], plan.negatives_per_positive)
        members.append((longer, rows[kept], labels[kept]))
    return members


def horizon_members(
    fit_rows: pl.DataFrame, horizon: int, known_until: date, extensions: Sequence[int]
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per longer horizon: which fit rows may learn it (a boolean mask) and their labels for it.

    A row is positive for horizon h when the person's first outcome falls 1 to h weeks later
    (`weeks_to_outcome`). Only rows with week + h < known_until are kept, so every label, positive
    or negative, rests on events dated before `known_until`, as the plain label does. A horizon
    whose rows hold one class only is left out. Extension 0 is the plain label on every fit row.
    Masks, not copies of the rows: the members share one input matrix (training memory).
    """
    members = []
    for extension in extensions:
        longer = horizon + extension
        keep = fit_rows.select(pl.col("week") + pl.duration(weeks=longer) < known_until).to_series()
        labels = (
            fit_rows["weeks_to_outcome"].filter(keep).is_between(1, longer).fill_null(False).cast(pl.Int8)
        )
        if labels.n_unique() == 2:
            members.append((longer, keep.to_numpy(), labels.to_numpy()))
    return members


def fit_calibrated(
    name: str,
    fit_rows: pl.DataFrame,
    calibration_rows: pl.DataFrame,
    features: list[str],
    seed: int = 0,
    catalog: Catalog | None = None,
    *,
    horizon: int | None = None,
    known_until: date | None = None,
) -> FittedModel:
    """Fit candidate `name` on `fit_rows`, then calibrate its probabilities on `calibration_rows`.

    The calibration rows must be disjoint from the fit rows (later in time, or other people):
    the fitted model is frozen and only the sigmoid mapping is learned on them. Features with
    no observed value in the fit rows are left out of the model's feature list. With a `catalog`,
    the catalog's risk directions become monotone constraints where the learner supports them,
    and signals it does not know get a direction learnt from the fit rows (models.directions).

    With `horizon` and `known_until` (the date no event is known from, e.g. the back-test's cutoff),
    a candidate listed in HORIZON_ENSEMBLES becomes a HorizonEnsemble: one pipeline per longer
    horizon (see horizon_members), scored by their mean log-odds. Longer horizons teach the
    earlier stages of a decline from the same rare outcomes, and members that learned different
    horizons err differently (measurements in models.candidates). Each member learns from a
    sample of the weeks without the outcome (member_rows); its balanced class weights keep the
    two classes' weight as it was, and the calibration on `calibration_rows` sees every week.
    """
    plan = HORIZON_ENSEMBLES.get(name)
    over_time = horizon is not None and known_until is not None and "weeks_to_outcome" in fit_rows.columns
    features = _learnable_features(fit_rows, features)
    inputs = matrix(fit_rows, features)
    members = []
    if plan is not None and over_time:
        members = member_rows(fit_rows, horizon, known_until, plan, seed)
        observed = np.logical_and.reduce([~np.isnan(inputs[rows]).all(axis=0) for _, rows, _ in members])
        if not observed.all():  # never observed in a member's rows: nothing to learn, and breaks binning
            features = [f for f, seen in zip(features, observed, strict=True) if seen]
            inputs = inputs[:, observed]
    catalog, learnt = _directed(catalog, inputs, fit_rows["label"].to_numpy(), features)
    if members:
        constraints = monotone_constraints(features, catalog) if catalog is not None else None
        # Fitted on binned inputs (fast), kept with the bins folded into the trees (fast to score).
        pipelines = [
            fitted_for_scoring(plan.member(seed, constraints).fit(inputs[rows], labels))
            for _, rows, labels in members
        ]
        ensemble = HorizonEnsemble(pipelines, [h for h, _, _ in members])
        model: Pipeline | HorizonEnsemble = ensemble.fit(inputs[:1])
    else:
        candidate = _candidate(name, features, seed, catalog)
        model = fitted_for_scoring(candidate.fit(inputs, fit_rows["label"].to_numpy()))
    del inputs
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid")
    calibrated.fit(matrix(calibration_rows, features), calibration_rows["label"].to_numpy())
    return FittedModel(name, model, calibrated, tuple(features), learnt)


def fit_cross_calibrated(
    name: str,
    rows: pl.DataFrame,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    features: list[str],
    seed: int = 0,
    catalog: Catalog | None = None,
) -> FittedModel:
    """Fit candidate `name` on all `rows`; learn the calibration from out-of-fold predictions.

    For data without a later slice to calibrate on (the person-grouped back-test): the candidate
    is fitted once per fold in `folds` (index pairs into `rows`, e.g. person folds) to predict
    the rows it did not see, the sigmoid mapping is learned on those predictions, and the model
    that scores is fitted on every row (scikit-learn's CalibratedClassifierCV, ensemble=False).
    Holding people out of the fit for calibration instead cost the one-week snapshot a fifth of
    its training people, and it ranked worse (docs/research.md).

    Directions for signals the catalog does not know are learnt from all `rows` (the training
    data): the out-of-fold fits share them, which touches only the calibration's sigmoid.
    """
    folds = list(folds)
    features = _learnable_features(rows, features)
    for fit_index, _ in folds:  # every inner fit must see each feature, too
        features = _learnable_features(rows[fit_index], features)
    inputs, labels = matrix(rows, features), rows["label"].to_numpy()
    catalog, learnt = _directed(catalog, inputs, labels, features)
    calibrated = CalibratedClassifierCV(
        _candidate(name, features, seed, catalog), method="sigmoid", cv=folds, ensemble=False
    )
    calibrated.fit(inputs, labels)
    del inputs
    # The model fitted on every row, with any bins folded in: the same scores, no binning to score.
    fitted = calibrated.calibrated_classifiers_[0]
    fitted.estimator = fitted_for_scoring(fitted.estimator)
    pipeline = fitted.estimator
    # The unfitted template stays behind as `estimator` otherwise: a registered model would then
    # carry the binning step and explain itself with a pipeline that was never fitted
    # (from_calibrated). Frozen, as after fit_calibrated; scoring reads only the fitted one.
    calibrated.estimator = FrozenEstimator(pipeline)
    return FittedModel(name, pipeline, calibrated, tuple(features), learnt)


def score_rows(model: FittedModel, rows: pl.DataFrame) -> pl.DataFrame:
    """Rows with their calibrated risk as `score` (keys and any label columns kept)."""
    keep = [c for c in ("person_id", "week", "team_id", "label", "weeks_to_outcome") if c in rows.columns]
    return rows.select(keep).with_columns(pl.Series("score", model.predict_risk(rows), dtype=pl.Float64))


def from_calibrated(
    name: str,
    calibrated: CalibratedClassifierCV,
    features: list[str],
    learnt_directions: dict[str, Direction] | None = None,
) -> FittedModel:
    """Rebuild a FittedModel from a calibrated model and its learnt directions, loaded from the registry.

    The calibration wraps the fitted pipeline (or horizon ensemble) in a FrozenEstimator;
    explanations need the model itself.
    """
    frozen = calibrated.estimator
    pipeline = frozen.estimator if isinstance(frozen, FrozenEstimator) else frozen
    return FittedModel(name, pipeline, calibrated, tuple(features), dict(learnt_directions or {}))
