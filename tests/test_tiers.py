"""The tier check refuses a test without exactly one tier, or starting Prefect outside the slow mark."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from tiers import tier_problems

pytestmark = pytest.mark.code


@dataclass
class FakeItem:
    nodeid: str
    marks: tuple[str, ...]
    fixturenames: list[str] = field(default_factory=list)

    def iter_markers(self, name: str | None = None) -> Iterator[str]:
        return (mark for mark in self.marks if name is None or mark == name)


def test_one_tier_passes_and_none_or_two_are_refused() -> None:
    assert tier_problems([FakeItem("t.py::ok", ("code",)), FakeItem("t.py::slow", ("model", "slow"))]) == []
    problems = tier_problems([FakeItem("t.py::none", ("slow",)), FakeItem("t.py::two", ("code", "data"))])
    assert problems == [
        "t.py::none: needs exactly one tier of code, data, model, integration (has none)",
        "t.py::two: needs exactly one tier of code, data, model, integration (has code, data)",
    ]


def test_prefect_outside_the_slow_mark_is_refused() -> None:
    quick = FakeItem("t.py::flow", ("integration",), ["prefect_api", "tmp_path"])
    assert tier_problems([quick]) == ["t.py::flow: uses prefect_api, so it must be marked slow"]
    assert tier_problems([FakeItem("t.py::flow", ("integration", "slow"), ["prefect_api"])]) == []


def test_every_collected_test_of_this_session_has_its_tier(request: pytest.FixtureRequest) -> None:
    assert tier_problems(request.session.items) == []
