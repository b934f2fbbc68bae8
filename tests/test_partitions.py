"""Features built one partition of people at a time equal the table built at once, for any count."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.build import FeatureRequest, build_features, build_features_by_partition
from features.catalog import load_catalog
from simulator.organisation import simulate_organisation

pytestmark = pytest.mark.data


MODES = ("every week with labels", "one as-of week")


@pytest.fixture(scope="module")
def org():
    return simulate_organisation(150, 60, 4)


def request_for(org, mode: str) -> FeatureRequest:
    last = org.signals["week"].max()
    if mode.startswith("every"):
        return FeatureRequest(with_labels=True, horizon=12)
    return FeatureRequest(as_of=last - timedelta(weeks=2))


@pytest.fixture(scope="module")
def wholes(org) -> dict[str, pl.DataFrame]:
    """Each mode's table built at once: built once, held to every partition count."""
    tables = (org.signals.lazy(), org.events.lazy(), org.people.lazy())
    return {mode: build_features(*tables, load_catalog(), request_for(org, mode)).collect() for mode in MODES}


@pytest.mark.parametrize("partitions", [1, 3, 7])
@pytest.mark.parametrize("mode", MODES)
def test_any_number_of_partitions_gives_the_same_table(org, wholes, partitions: int, mode: str) -> None:
    tables = (org.signals.lazy(), org.events.lazy(), org.people.lazy())
    whole = wholes[mode]
    parted = build_features_by_partition(
        *tables, load_catalog(), request_for(org, mode), partitions=partitions
    )
    assert whole.height > 0 and any(c.endswith("__deviation_vs_team") for c in whole.columns)
    assert_frame_equal(parted, whole)
