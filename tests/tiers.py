"""Test tiers: every test names one of them, and a test that starts Prefect is marked slow.

The tiers say what a test exercises (docs/testing.md): `code` (one module's logic on small
hand-made inputs), `data` (contracts, imports, features and the simulator on tables), `model`
(fitting and explaining models) and `integration` (the pieces together through `ewarn`, the flows,
the review server, the package). `slow` says what a test costs, whatever its tier; the quick loop
is `pytest -m "not slow"`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

TIERS = ("code", "data", "model", "integration")
# Fixtures that start something the quick loop must not wait for.
SLOW_FIXTURES = ("prefect_api",)


class Item(Protocol):
    """What the check reads of a collected test (a `pytest.Item` has it)."""

    nodeid: str
    fixturenames: list[str]

    def iter_markers(self, name: str | None = None) -> Iterable[object]: ...


def tier_problems(items: Iterable[Item]) -> list[str]:
    """One line per test without exactly one tier, or starting Prefect without the slow mark."""
    problems = []
    for item in items:
        tiers = sorted({t for t in TIERS if any(True for _ in item.iter_markers(t))})
        if len(tiers) != 1:
            found = ", ".join(tiers) or "none"
            problems.append(f"{item.nodeid}: needs exactly one tier of {', '.join(TIERS)} (has {found})")
        slow = any(True for _ in item.iter_markers("slow"))
        starts = [name for name in SLOW_FIXTURES if name in item.fixturenames]
        if starts and not slow:
            problems.append(f"{item.nodeid}: uses {', '.join(starts)}, so it must be marked slow")
    return problems
