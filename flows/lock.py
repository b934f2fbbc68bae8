"""One job of a kind per home folder at a time: a lock the operating system releases on any exit."""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class JobAlreadyRunningError(RuntimeError):
    """Another process holds the lock for this job and home folder."""


def private_home(home: Path) -> Path:
    """The home folder, created if need be, open to its owner only (0700).

    It holds people's flags, reviewers' decisions and password hashes; a home made by an older
    ewarn (or by hand) with group or world access is closed when a job opens it.
    """
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(home.stat().st_mode) & 0o077:
        home.chmod(0o700)
    return home


@contextmanager
def job_lock(home: Path, job: str) -> Iterator[None]:
    """Hold `HOME/JOB.lock` for the duration, or refuse at once when another process holds it.

    flock locks die with their process, so a crashed or killed run never leaves a stale lock.
    """
    private_home(home)
    path = home / f"{job}.lock"
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+")
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
