"""Global SHAP summary of a model: which features and families move risk most, over many rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from features.catalog import Catalog
from models.attribution import shap_values
from models.explain import feature_family
from models.train import FittedModel


def global_importance(
    model: FittedModel, rows: pl.DataFrame, catalog: Catalog
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Mean absolute SHAP value (log-odds) per feature and per family, largest first.

    Aggregates over `rows` only: no row, person or week appears in the result.
    """
    if rows.is_empty():
        empty = pl.DataFrame(schema={"feature": pl.String, "family": pl.String, "mean_abs_shap": pl.Float64})
        return empty, empty.drop("feature")
    values = np.abs(shap_values(model, rows))
    by_feature = pl.DataFrame(
        {
            "feature": list(model.features),
            "family": [feature_family(f, catalog) for f in model.features],
            "mean_abs_shap": values.mean(axis=0).astype(np.float64),
        }
    ).sort("mean_abs_shap", descending=True)
    by_family = (
        by_feature.group_by("family")
        .agg(pl.col("mean_abs_shap").sum())
        .sort("mean_abs_shap", descending=True)
    )
    return by_feature, by_family


def importance_figure(by_family: pl.DataFrame) -> Any:
    """A horizontal bar chart of family importance (a matplotlib Figure, drawn without a screen)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 0.35 * max(by_family.height, 3) + 1))
    ordered = by_family.sort("mean_abs_shap")
    axis.barh(ordered["family"].to_list(), ordered["mean_abs_shap"].to_list(), color="#3a6ea5")
    axis.set_xlabel("mean |SHAP| (log-odds), summed over the family's features")
    axis.set_title("What moves the risk estimate, by family")
    figure.tight_layout()
    plt.close(figure)
    return figure
