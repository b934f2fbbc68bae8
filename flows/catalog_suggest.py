"""`ewarn catalog suggest`: guessed catalog entries for a landing's uncatalogued signals (I/O edge)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from features.build import FeatureRequest, build_features, feature_columns
from features.catalog import Catalog, Direction, coverage
from features.catalog_suggest import render_suggestions, suggest, summarise_signals
from flows.landing import Landing, load_landing
from models.directions import learn_directions
from models.train import matrix


def learnt_from_landing(landing: Landing, catalog: Catalog, horizon: int) -> tuple[dict[str, Direction], str]:
    """Directions learnt from every labelled person-week of the landing, and how they were found."""
    if landing.events is None:
        return {}, "none learnt: the landing has no events table, so no outcomes to learn them from."
    request = FeatureRequest(horizon=horizon, with_labels=True, observed_until=landing.observed_until)
    table = build_features(landing.signals, landing.events, landing.people, catalog, request).collect()
    labelled = table.filter(pl.col("eligible") & pl.col("label").is_not_null())
    if labelled["label"].n_unique() < 2:
        return {}, "none learnt: the landing's outcomes hold one class only."
    features = feature_columns(table.columns)
    learnt = learn_directions(matrix(labelled, features), labelled["label"].to_numpy(), features, catalog)
    return learnt, (
        f"learnt from {labelled.height:,} labelled person-weeks (outcome within {horizon} weeks), "
        "the way a training does; shown only where the data was clear."
    )


def suggest_catalog(folder: Path, catalog: Catalog, horizon: int) -> tuple[str, int]:
    """The suggested catalog text for a landing folder and how many signals it covers (0: nothing to do)."""
    landing = load_landing(folder)
    names = landing.signals.select(pl.col("signal").unique()).collect()["signal"].to_list()
    unknown = coverage(catalog, names).unknown
    if not unknown:
        return "", 0
    directions, learnt_from = learnt_from_landing(landing, catalog, horizon)
    suggestions = suggest(summarise_signals(landing.signals, unknown), directions)
    return render_suggestions(suggestions, folder.name or str(folder), learnt_from), len(suggestions)
