"""Every feature has both forms: the every-week one and the one-week (as-of) one (features.twins).

The registry is walked, not listed here: a family added with one form, a feature that only one
form makes, or a module's OUTPUTS left out of the registry fails.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import features
from features import twins
from features.as_of_week import features_at, series_values
from features.catalog import load_catalog
from features.grid import SERIES, catalog_frame, series_grid

pytestmark = pytest.mark.code

AS_OF = date(2025, 6, 30)
WEEKS = 40
# One signal of every kind the families cover, and leave, which masks the others.
NAMES = ["meetings_attended", "planned_leave_days", "pulse.engagement", "short_absence_days"]


def tiny_signals() -> pl.DataFrame:
    """Three people over 40 weeks: steady activity, sparse answers, some absence and leave."""
    rng = np.random.default_rng(3)
    rows = []
    for person in ("a", "b", "c"):
        for ago in range(WEEKS):
            week = AS_OF - timedelta(weeks=ago)
            leave = 5.0 if rng.random() < 0.08 else 0.0
            rows.append((person, week, "planned_leave_days", leave))
            rows.append((person, week, "meetings_attended", float(rng.poisson(6))))
            rows.append((person, week, "short_absence_days", float(rng.random() < 0.15)))
            if ago % 2 == 0 and rng.random() < 0.8:
                rows.append((person, week, "pulse.engagement", float(rng.integers(1, 6))))
    return pl.DataFrame(rows, schema=["person_id", "week", "signal", "value"], orient="row")


@pytest.fixture(scope="module")
def tiny() -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """The weekly grid, and the as-of series and values, of the tiny signals."""
    signals = tiny_signals().lazy()
    cat = catalog_frame(load_catalog(), NAMES)
    series, values = series_values(signals, cat, AS_OF, NAMES)
    return series_grid(signals, cat).cache(), series.cache(), values.cache()


def twin_problems(
    family: twins.Family, grid: pl.LazyFrame, series: pl.LazyFrame, values: pl.LazyFrame
) -> list[str]:
    """Each column one form of `family` makes and the other does not, or that is not declared."""
    declared = {*family.outputs, *family.helpers}
    mine = grid if family.kind is None else grid.filter(pl.col("kind") == family.kind)
    made = {
        "every-week": set(family.every_week(mine).collect_schema().names())
        - set(grid.collect_schema().names()),
        "as-of": set(family.as_of(series, values).collect_schema().names()) - {SERIES},
    }
    return [
        f"{family.name}: the {form} form {verb} {sorted(columns)}"
        for form, columns_made in made.items()
        for verb, columns in (
            ("makes undeclared", columns_made - declared),
            ("lacks", declared - columns_made),
        )
        if columns
    ]


def test_every_family_has_both_forms_and_a_feature_is_defined_once() -> None:
    assert [f.name for f in twins.TWINS] == ["own_normal", "drift", "survey", "absence"]
    for family in twins.TWINS:
        assert family.outputs, family.name
        assert callable(family.every_week) and callable(family.as_of), family.name
    names = twins.outputs(twins.TWINS)
    assert len(names) == len(set(names)), "a feature is made by two families"
    assert twins.EVERY_SIGNAL + twins.BY_KIND == twins.TWINS


def test_every_module_outputs_is_registered() -> None:
    registered = {family.outputs for family in twins.TWINS}
    found = {}
    for module in pkgutil.iter_modules(features.__path__):
        outputs = getattr(importlib.import_module(f"features.{module.name}"), "OUTPUTS", None)
        if outputs is not None:
            found[module.name] = tuple(outputs)
    assert set(found) == {"own_normal", "drift", "surveys", "absence"}
    unregistered = {name: outputs for name, outputs in found.items() if outputs not in registered}
    assert not unregistered, f"families without twins in features.twins: {unregistered}"


@pytest.mark.parametrize("family", twins.TWINS, ids=lambda f: f.name)
def test_both_forms_make_exactly_the_family_outputs(tiny, family: twins.Family) -> None:
    assert twin_problems(family, *tiny) == []


@pytest.mark.parametrize("family", twins.TWINS, ids=lambda f: f.name)
def test_both_forms_agree_in_the_as_of_week(tiny, family: twins.Family) -> None:
    grid, series, values = tiny
    keys = ["person_id", "signal"]
    columns = [*keys, *family.outputs]
    every = twins.every_week(grid, (family,)).filter(pl.col("week") == AS_OF).select(columns)
    one = features_at(series, values, (family,), AS_OF).select(columns)
    every_rows, one_rows = every.sort(keys).collect(), one.sort(keys).collect()
    assert every_rows.height == one_rows.height > 0
    # The tiny frame reaches every feature: none is null everywhere.
    assert [c for c in family.outputs if one_rows[c].null_count() == one_rows.height] == []
    assert_frame_equal(every_rows, one_rows, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)


def test_a_feature_without_its_twin_fails(tiny) -> None:
    own = twins.TWINS[0]
    extra = pl.lit(1.0).alias("level_12w")
    one_sided = replace(own, every_week=lambda grid: own.every_week(grid).with_columns(extra))
    assert twin_problems(one_sided, *tiny) == [
        "own_normal: the every-week form makes undeclared ['level_12w']"
    ]
    declared = replace(own, outputs=(*own.outputs, "level_12w"), every_week=one_sided.every_week)
    assert twin_problems(declared, *tiny) == ["own_normal: the as-of form lacks ['level_12w']"]
    with pytest.raises(ValueError, match="one kind of signal"):
        twins.every_week(tiny[0], twins.TWINS)
