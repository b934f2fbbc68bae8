"""How flow tasks behave: pure steps never retry or cache; I/O steps retry transient failures only."""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

from features.catalog import CatalogError
from flows.landing import ContractViolation
from flows.lock import JobAlreadyRunningError
from models.tracking import TrackingStoreFileError


class PermanentError(RuntimeError):
    """A failure that no retry can fix (no champion yet, say): fail at once, say what to do."""


# Bad input stays bad however often it is read again.
_PERMANENT = (
    ContractViolation,
    CatalogError,
    JobAlreadyRunningError,
    PermanentError,
    TrackingStoreFileError,
    ValueError,
    KeyError,
)


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only failures that may pass: a busy database or a tracking server that is restarting."""
    try:
        state.result()
    except _PERMANENT:
        return False
    except Exception:
        return True
    return True


IO = {"retries": 2, "retry_delay_seconds": 3, "retry_condition_fn": transient, "cache_policy": NO_CACHE}
PURE = {"cache_policy": NO_CACHE}
