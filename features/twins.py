"""Every feature family once: its features, and the every-week and one-week (as-of) forms of them.

The every-week form adds the family's features to the weekly grid (features.grid), a row for every
week of every series; the one-week form gives the values of one as-of week from the rows that
exist (features.as_of_week). Both paths of features.build read this registry, and
tests/test_twins.py holds every feature to having both forms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from features import absence, drift, own_normal, surveys


@dataclass(frozen=True)
class Family:
    """A family of features, the signals it covers and its two forms."""

    name: str
    outputs: tuple[str, ...]
    # The weekly grid in, the grid with `outputs` (and `helpers`) added out.
    every_week: Callable[[pl.LazyFrame], pl.LazyFrame]
    # (series, values) of features.as_of_week.series_values in, a row per series with `outputs` out.
    as_of: Callable[[pl.LazyFrame, pl.LazyFrame], pl.LazyFrame]
    # Signals of this kind only (the catalog's `kind`); None for every signal.
    kind: str | None = None
    # Columns both forms also leave: what the features are measured in, not model inputs.
    helpers: tuple[str, ...] = ()


TWINS = (
    Family(
        "own_normal",
        own_normal.OUTPUTS,
        own_normal.add_own_normal_features,
        own_normal.own_normal_at,
        helpers=("spread",),
    ),
    Family("drift", drift.OUTPUTS, drift.add_drift_features, drift.drift_at),
    Family("survey", surveys.OUTPUTS, surveys.add_survey_features, surveys.survey_features_at, "survey"),
    Family("absence", absence.OUTPUTS, absence.add_absence_features, absence.absence_features_at, "absence"),
)
# The families of every signal, in the order of their columns, and those of one kind of signal.
EVERY_SIGNAL = tuple(f for f in TWINS if f.kind is None)
BY_KIND = tuple(f for f in TWINS if f.kind is not None)


def outputs(families: Sequence[Family]) -> tuple[str, ...]:
    """The features of `families`, in their order."""
    return tuple(name for family in families for name in family.outputs)


def kind_of(families: Sequence[Family]) -> str | None:
    """The one kind of signal `families` cover (None: every signal); families of two kinds are an error."""
    kinds = {family.kind for family in families}
    if len(kinds) != 1:
        raise ValueError(f"families of one kind of signal at a time, not {sorted(map(str, kinds))}")
    return kinds.pop()


def every_week(grid: pl.LazyFrame, families: Sequence[Family]) -> pl.LazyFrame:
    """The every-week form of `families` on the grid's series of their kind."""
    kind = kind_of(families)
    if kind is not None:
        grid = grid.filter(pl.col("kind") == kind)
    for family in families:
        grid = family.every_week(grid)
    return grid
