"""The flag store's SQLite file: what is wrong with it, in words that name the file and the fix.

SQLite takes a missing or empty file for a new database. For the flag store that would mean a
store emptied by a failed copy or a full disk comes back empty, every decision gone without a
word; so an empty file is refused, and a missing one is created only by the commands that write.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL; None for other databases and in-memory SQLite."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def file_problem(path: Path, *, create: bool = True) -> str | None:
    """What makes the store file unusable before SQLite opens it (None: nothing), and what to do.

    A missing file is a problem only when not `create` (a command that only reads the store was
    most likely given the wrong home).
    """
    if not path.exists():
        if create:
            return None
        return (
            f"There is no flag store at {path}. Check --home (or EWARN_HOME): the store is created by "
            "the first `ewarn nightly` (or `ewarn users add`) in a home."
        )
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"Cannot read the flag store {path} ({exc.strerror}). Check the file's owner and permissions."
    if not header:
        return (
            f"The flag store {path} is empty (0 bytes): its runs, decisions and users are gone. Restore "
            "it from a backup; to start again with an empty store instead, delete the file."
        )
    if header != SQLITE_HEADER:
        return _damaged(path, "it does not start as an SQLite file does")
    return None


def open_problem(path: Path, exc: Exception) -> str:
    """What to say when SQLite could not open or read the store file (`exc` as SQLAlchemy raised it)."""
    driver = getattr(exc, "orig", None)
    first = (str(driver or exc).strip().splitlines() or [""])[0]
    why = f"{type(driver or exc).__name__}: {first}"
    # sqlite3 says "not a database" or "malformed" for a damaged file; its OperationalError
    # (locked, cannot open) is about access, which a backup would not mend.
    if isinstance(driver, sqlite3.DatabaseError) and not isinstance(driver, sqlite3.OperationalError):
        return _damaged(path, why)
    return (
        f"Cannot open the flag store {path} ({why}). Check that its folder exists and that you may "
        "read and write both; if another program holds the file, wait for it and run again."
    )


def _damaged(path: Path, why: str) -> str:
    return (
        f"The flag store {path} is not a readable SQLite database ({why}). Restore it from a backup; "
        "to start again with an empty store instead, move the file away."
    )
