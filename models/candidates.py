"""The candidate models: each a scikit-learn Pipeline, so every fitted step travels with the model."""

from __future__ import annotations

from collections.abc import Callable

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

# Ordered from simplest to most complex: a tie in back-test quality goes to the earlier one.
SIMPLICITY_ORDER = ("logistic", "gradient_boosting")


def logistic_regression(seed: int = 0) -> Pipeline:
    """Regularised logistic regression; missing values imputed (with indicators), inputs scaled."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=0.05, class_weight="balanced", max_iter=3000, random_state=seed)),
        ]
    )


def gradient_boosting(seed: int = 0) -> Pipeline:
    """Histogram gradient boosting: handles missing values itself, learns interactions."""
    return Pipeline(
        [
            (
                "model",
                HistGradientBoostingClassifier(
                    learning_rate=0.05,
                    max_iter=250,
                    max_leaf_nodes=15,
                    min_samples_leaf=200,
                    l2_regularization=1.0,
                    class_weight="balanced",
                    early_stopping=False,
                    random_state=seed,
                ),
            )
        ]
    )


CANDIDATES: dict[str, Callable[[int], Pipeline]] = {
    "logistic": logistic_regression,
    "gradient_boosting": gradient_boosting,
}
