"""Exact SHAP values of a fitted model, in log-odds, per model class (boosting trees, linear pipelines).

The explanations (models.explain) and the importance summaries (models.importance) read them; a
horizon ensemble is explained by its members' mean, as it scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models.candidates import AppendSignedLog
from models.train import FittedModel, HorizonEnsemble, matrix


@dataclass(frozen=True)
class Attribution:
    """SHAP values in log-odds: one row per input row, one column per model feature, and the base.

    `values.sum(axis=1) + base_value` equals the model's raw output (decision_function) per row.
    """

    values: np.ndarray
    base_value: float
    features: tuple[str, ...]


def attribute(model: FittedModel, rows: pl.DataFrame) -> Attribution:
    """Exact SHAP values (log-odds) of `rows` for the fitted model, with the expected value.

    Gradient boosting: `shap.TreeExplainer` in its default tree-path-dependent mode, which needs no
    background data and is exact for the trees. Logistic pipeline: `shap.LinearExplainer` on the
    imputed and scaled matrix with the scaler's mean (all zeros) as background, so each value is
    coefficient times scaled input; missing-indicator columns are added to the feature they flag,
    and so is a feature's signed log (AppendSignedLog).
    Horizon ensemble: the mean of its members' SHAP values, exact because it scores the mean of
    their log-odds. Raises TypeError for any other model.
    """
    x = matrix(rows, model.features)
    if isinstance(model.pipeline, HorizonEnsemble):
        parts = [
            _pipeline_attribution(model.name, member, x, model.features) for member in model.pipeline.members
        ]
        return Attribution(
            values=np.mean([part.values for part in parts], axis=0),
            base_value=float(np.mean([part.base_value for part in parts])),
            features=model.features,
        )
    return _pipeline_attribution(model.name, model.pipeline, x, model.features)


def _pipeline_attribution(
    name: str, pipeline: object, x: np.ndarray, features: tuple[str, ...]
) -> Attribution:
    if not isinstance(pipeline, Pipeline) or "model" not in pipeline.named_steps:
        raise TypeError(f"cannot explain {type(pipeline).__name__}: expected a Pipeline with a 'model' step")
    estimator = pipeline.named_steps["model"]
    if isinstance(estimator, HistGradientBoostingClassifier) and len(pipeline.steps) == 1:
        return _tree_attribution(estimator, x, features)
    if isinstance(estimator, LogisticRegression):
        return _linear_attribution(pipeline, x, features)
    steps = ", ".join(f"{step_name}={type(step).__name__}" for step_name, step in pipeline.steps)
    raise TypeError(
        f"cannot explain model {name!r} ({steps}): exact SHAP is implemented for "
        "Pipeline([model=HistGradientBoostingClassifier]), "
        "Pipeline([impute=SimpleImputer, (logs=AppendSignedLog,) scale=StandardScaler, "
        "model=LogisticRegression]) "
        "and a HorizonEnsemble of the former"
    )


def attribution_of(model: FittedModel, rows: pl.DataFrame, given: Attribution | None) -> Attribution:
    """The given SHAP values when already computed, else those of `rows`."""
    if given is None:
        return attribute(model, rows)
    if given.features != model.features or given.values.shape != (rows.height, len(model.features)):
        raise ValueError(
            f"the attribution given holds {given.values.shape[0]} rows x {given.values.shape[1]} features; "
            f"expected one row per row to explain ({rows.height}) and the model's {len(model.features)} "
            "features in its order"
        )
    return given


def shap_values(model: FittedModel, rows: pl.DataFrame) -> np.ndarray:
    """Exact SHAP values in log-odds, n_rows x n_features, columns in `model.features` order."""
    return attribute(model, rows).values


def _binary_only(estimator: HistGradientBoostingClassifier | LogisticRegression) -> None:
    if len(estimator.classes_) != 2:
        raise ValueError(f"explanations need a binary classifier, this one has classes {estimator.classes_}")


def _tree_attribution(
    estimator: HistGradientBoostingClassifier, x: np.ndarray, features: tuple[str, ...]
) -> Attribution:
    _binary_only(estimator)
    import shap  # here, not at module level: shap takes seconds to import and only explaining needs it

    explainer = shap.TreeExplainer(estimator)
    # The additivity check costs a second prediction pass; the tests check additivity instead.
    values = np.asarray(explainer.shap_values(x, check_additivity=False), dtype=np.float64)
    base = float(np.ravel(explainer.expected_value)[0])
    return Attribution(values=values.reshape(x.shape[0], len(features)), base_value=base, features=features)


def _linear_attribution(pipeline: Pipeline, x: np.ndarray, features: tuple[str, ...]) -> Attribution:
    estimator = pipeline.named_steps["model"]
    _binary_only(estimator)
    # Which feature each column the steps make comes from, followed step by step.
    source = np.arange(len(features))
    for name, step in pipeline.steps[:-1]:
        if isinstance(step, SimpleImputer):
            # An imputer that dropped all-missing columns is caught by the column count below.
            if step.add_indicator:
                flagged = np.asarray(step.indicator_.features_, dtype=np.int64)
                source = np.concatenate([source, source[flagged]])
        elif isinstance(step, AppendSignedLog):
            source = np.concatenate([source, source])
        elif not isinstance(step, StandardScaler):
            raise TypeError(
                f"cannot explain the logistic pipeline: step {name!r} is {type(step).__name__}; "
                "only SimpleImputer, AppendSignedLog and StandardScaler can be mapped back to the features"
            )
    if x.shape[0] == 0:
        # No rows (a night without flags): the steps refuse an empty matrix, and there is nothing
        # to map back; the columns they make are the ones the coefficients weigh.
        transformed = np.zeros((0, estimator.coef_.shape[1]))
    else:
        transformed = np.asarray(pipeline[:-1].transform(x), dtype=np.float64)
    if transformed.shape[1] != len(source):
        raise TypeError(
            f"the logistic pipeline makes {transformed.shape[1]} columns from {len(features)} features; "
            "cannot map them back"
        )
    # After StandardScaler the training mean is zero in every column, so a single all-zero row is
    # exactly the mean background: each value is coefficient x scaled input.
    background = np.zeros((1, transformed.shape[1]))
    import shap

    explainer = shap.LinearExplainer(estimator, background)
    raw = np.asarray(explainer.shap_values(transformed), dtype=np.float64)
    # A missing-indicator column ("this feature was missing") and a feature's signed log are shares of
    # that feature.
    values = np.zeros((raw.shape[0], len(features)))
    np.add.at(values, (slice(None), source), raw)
    base = float(np.ravel(explainer.expected_value)[0])
    return Attribution(values=values, base_value=base, features=features)
