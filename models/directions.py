"""Directions for the signals the catalog does not know, learnt from the training rows only.

A signal nobody catalogued still has a risky way: fewer of something, or more. It is learnt inside
each fit from the rows that fit sees (never from rows being scored or evaluated), as the sign of
how the signal's evidence ranks the outcome: the person's value against their own normal first,
their slow drift or trend when that is missing, the recent level in a snapshot. A direction is
kept only when the evidence clearly separates the outcomes; otherwise the signal stays free. The
learnt direction then plays the catalog's part: monotone constraints, and the risky way the
explanations read the numbers in. The model card lists each one, for a person to check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from features import drift
from features.catalog import Catalog, Direction, SignalInfo
from features.columns import signal_column, signal_of

# Which of a signal's features speaks for its direction, in order of preference.
EVIDENCE_FEATURES = ("deviation", *drift.OUTPUTS, "trend_8w", "level_4w")
# Person-weeks of one person are far from independent, so the bar on the rank statistic is high;
# a direction also needs a visible effect, not just many rows.
MIN_Z = 4.0
MIN_EFFECT = 0.03
_MIN_PER_CLASS = 10
# The training run's artifact that carries them to the nightly run and the model card.
LEARNT_DIRECTIONS = "learnt_directions.json"
LEARNT_NOTE = "direction learnt from the training data, not from the catalog: check it"


def unknown_signals(features: Sequence[str], catalog: Catalog) -> list[str]:
    """The feature columns' signals whose direction is to learn (uncatalogued, not leave), in order."""
    seen: dict[str, None] = {}
    for feature in features:
        signal = signal_of(feature)
        if (
            signal is not None
            and catalog.signal(signal).may_have_risky_way
            and not catalog.signal(signal).known
        ):
            seen.setdefault(signal)
    return list(seen)


def rank_effect(values: np.ndarray, labels: np.ndarray) -> tuple[float, float] | None:
    """(AUC - 0.5, its z-score) of the values ranking the positive labels high; None when too few rows.

    Missing values are left out. The AUC is the Mann-Whitney statistic from mid-ranks; its
    standard error is the one under no effect.
    """
    seen = ~np.isnan(values)
    values, labels = values[seen], labels[seen].astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives < _MIN_PER_CLASS or negatives < _MIN_PER_CLASS:
        return None
    ranks = rankdata(values)
    auc = (ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    spread = np.sqrt((positives + negatives + 1) / (12.0 * positives * negatives))
    return float(auc - 0.5), float((auc - 0.5) / spread)


def learn_directions(
    inputs: np.ndarray, labels: np.ndarray, features: Sequence[str], catalog: Catalog
) -> dict[str, Direction]:
    """A direction ("rises" or "falls") for each uncatalogued signal whose evidence is clear.

    `inputs` are the fit rows' feature values in the order of `features` (NaN for missing),
    `labels` their 0/1 outcomes. A signal whose first usable evidence feature (EVIDENCE_FEATURES)
    does not clear MIN_Z and MIN_EFFECT is left out: it stays free.
    """
    index = {feature: i for i, feature in enumerate(features)}
    labels = np.asarray(labels)
    learnt: dict[str, Direction] = {}
    for signal in unknown_signals(features, catalog):
        for evidence in EVIDENCE_FEATURES:
            column = index.get(signal_column(signal, evidence))
            if column is None:
                continue
            effect = rank_effect(np.asarray(inputs[:, column], dtype=np.float64), labels)
            if effect is None:
                continue
            size, z = effect
            if abs(z) >= MIN_Z and abs(size) >= MIN_EFFECT:
                learnt[signal] = "rises" if size > 0 else "falls"
            break
    return learnt


def with_learnt_directions(catalog: Catalog, learnt: Mapping[str, Direction]) -> Catalog:
    """The catalog, with each learnt direction given to its (still uncatalogued) signal."""
    if not learnt:
        return catalog
    added: dict[str, SignalInfo] = {}
    for signal, direction in learnt.items():
        info = catalog.signal(signal)
        if info.known:
            continue  # the catalog's word stands
        added[signal] = SignalInfo(
            name=signal,
            label=info.label,
            unit=info.unit,
            family=info.family,
            direction=direction,
            kind=info.kind,
            known=False,
            note=LEARNT_NOTE,
        )
    return Catalog(
        signals=catalog.signals,
        families=catalog.families,
        source=catalog.source,
        learnt={**catalog.learnt, **added},
    )
