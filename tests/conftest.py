"""Shared fixtures: one temporary Prefect API for the whole session, used by every flow test; one
trained world and one nightly run on it (tests/trained_world.py); and the check that every test
names its tier (tests/tiers.py, docs/testing.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tiers import tier_problems
from trained_world import NightlyRun, TrainedWorld, make_trained_world, run_nightly

# Before anything loads OpenMP or BLAS: one thread each, here and in every `ewarn` the tests start.
# Gradient boosting and the calibrations fit small tables, where threads spinning against each other
# on a shared machine cost far more than they give (docs/testing.md); the models are the same.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Before anything imports Prefect: no telemetry, and room for a slow start on a busy machine.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Prefect's console handler would keep the stream of whichever CliRunner first imported Prefect;
# the command line keeps the console quiet the same way (flows.prefect_env.quiet_prefect).
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A throw-away Prefect server and database; its URL is exported for child processes too."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    previous = os.environ.get("PREFECT_API_URL")
    with prefect_test_harness(server_startup_timeout=120):
        url = PREFECT_API_URL.value()
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = previous


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> TrainedWorld:
    """The session's simulated, pseudonymised and trained world (tests/trained_world.py)."""
    return make_trained_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="session")
def nightly_run(trained_world: TrainedWorld, tmp_path_factory: pytest.TempPathFactory) -> NightlyRun:
    """One nightly for the latest week, shared read-only: a test that writes copies it (`copy_home`)."""
    return run_nightly(trained_world, tmp_path_factory.mktemp("night"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse the run while a test has no tier, or starts Prefect without the slow mark: checked
    before `-m` deselects anything, so the quick loop catches a new file too."""
    problems = tier_problems(items)
    if problems:
        raise pytest.UsageError("Tests without their tier (see docs/testing.md):\n" + "\n".join(problems))
