"""Step-by-step progress of a flow, for whoever started it (the command line shows a progress bar).

Flows call `step()`; the command line registers a listener. Scheduled runs have no listener and
rely on Prefect's own logs.
"""

from __future__ import annotations

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
