"""One job of a kind per home folder at a time: a lock the operating system releases on any exit."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class JobAlreadyRunningError(RuntimeError):
    """Another process holds the lock for this job and home folder."""


@contextmanager
def job_lock(home: Path, job: str) -> Iterator[None]:
    """Hold `HOME/JOB.lock` for the duration, or refuse at once when another process holds it.

    flock locks die with their process, so a crashed or killed run never leaves a stale lock.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / f"{job}.lock"
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise JobAlreadyRunningError(
                f"Another `{job}` run is already working on {home} (process {holder}). Wait for it "
                f"to finish; two runs at once could mix their results. The lock is {path}."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
