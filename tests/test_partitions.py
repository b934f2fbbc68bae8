"""Features built one partition of people at a time equal the table built at once, for any count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from polars.testing import assert_frame_equal

from features.build import FeatureRequest, build_features, build_features_by_partition
from features.catalog import load_catalog
from simulator.organisation import simulate_organisation


@pytest.fixture(scope="module")
def org():
    return simulate_organisation(150, 60, 4)


@pytest.mark.parametrize("partitions", [1, 3, 7])
@pytest.mark.parametrize("mode", ["every week with labels", "one as-of week"])
def test_any_number_of_partitions_gives_the_same_table(org, partitions: int, mode: str) -> None:
    catalog = load_catalog()
    last = org.signals["week"].max()
    request = (
        FeatureRequest(with_labels=True, horizon=12)
        if mode.startswith("every")
        else FeatureRequest(as_of=last - timedelta(weeks=2))
    )
    tables = (org.signals.lazy(), org.events.lazy(), org.people.lazy())
    whole = build_features(*tables, catalog, request).collect()
    parted = build_features_by_partition(*tables, catalog, request, partitions=partitions)
    assert whole.height > 0 and any(c.endswith("__deviation_vs_team") for c in whole.columns)
    assert_frame_equal(parted, whole)
