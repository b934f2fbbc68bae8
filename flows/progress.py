"""Step-by-step progress of a flow, for whoever started it (the command line shows a progress bar).

Flows call `step()`; the command line registers a listener. Scheduled runs have no listener and
rely on Prefect's own logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str], None]
_listeners: list[Listener] = []


def step(description: str) -> None:
    """Announce the step a flow is starting."""
    for listener in list(_listeners):
        listener(description)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every step to `listener` while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def quiet_prefect(debug: bool = False) -> None:
    """Set Prefect's environment before it is imported: no telemetry, logs only when asked for."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary server Prefect starts when no PREFECT_API_URL is set needs longer than the
    # default on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not debug:
        # The console stays quiet (failures are explained in one paragraph by the command line);
        # the logs still reach the Prefect API, so the UI shows every run's full story.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
