"""The audit log as a hash chain: every entry is written here, and `verify` checks the chain.

Each entry holds the hash of the entry before it (`prev_hash`) and a hash of that link plus its own
number and content (`entry_hash`). Deleting, renumbering, reordering or editing entries with a
database tool breaks the chain at the first entry touched. The newest entry's number and hash (the
head) are kept in `ewarn_meta` as well, so entries cut off the end are found too.

Someone who can write the database could still rebuild the whole chain; the head printed by
`ewarn audit verify`, kept somewhere else, shows later whether that happened.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from flows.store import audit_log, meta, utc_now

GENESIS = "0" * 64
HEAD_KEY = "audit_head"
_CHAIN_COLUMNS = ("client", "prev_hash", "entry_hash")


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """SHA-256 of the link to the previous entry and this entry's number and content."""
    content = [
        prev_hash,
        int(entry["entry_id"]),
        *(str(entry[c]) for c in ("at", "actor", "action", "target", "detail")),
        entry.get("client") or "",
    ]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def append(
    connection: Connection, actor: str, action: str, target: str, detail: str = "", client: str | None = None
) -> None:
    """Add one entry at the end of the chain, inside the caller's transaction."""
    # Writing the head row first takes the database's write lock (SQLite) or the row's lock
    # (a server), so two writers cannot both extend the same entry.
    connection.execute(sa.update(meta).where(meta.c.key == HEAD_KEY).values(value=meta.c.value))
    last = connection.execute(
        sa.select(audit_log.c.entry_id, audit_log.c.entry_hash).order_by(audit_log.c.entry_id.desc()).limit(1)
    ).first()
    entry = {
        "entry_id": last.entry_id + 1 if last else 1,
        "at": utc_now(),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail,
        "client": client,
        "prev_hash": (last.entry_hash if last else None) or GENESIS,
    }
    entry["entry_hash"] = entry_hash(entry["prev_hash"], entry)
    connection.execute(sa.insert(audit_log).values(**entry))
    _set_head(connection, entry["entry_id"], entry["entry_hash"])


def _set_head(connection: Connection, entry_id: int, digest: str) -> None:
    connection.execute(sa.delete(meta).where(meta.c.key == HEAD_KEY))
    connection.execute(sa.insert(meta).values(key=HEAD_KEY, value=f"{entry_id} {digest}"))


def upgrade_log(connection: Connection) -> None:
    """Schema step 4: add the client and chain columns where missing, then chain every entry."""
    present = {c["name"] for c in sa.inspect(connection).get_columns(audit_log.name)}
    for name in _CHAIN_COLUMNS:
        if name not in present:
            kind = audit_log.c[name].type.compile(dialect=connection.dialect)
            connection.execute(sa.text(f"ALTER TABLE {audit_log.name} ADD COLUMN {name} {kind}"))
    prev, last_id = GENESIS, 0
    for row in connection.execute(sa.select(audit_log).order_by(audit_log.c.entry_id)).mappings().all():
        digest = entry_hash(prev, row)
        connection.execute(
            sa.update(audit_log)
            .where(audit_log.c.entry_id == row["entry_id"])
            .values(prev_hash=prev, entry_hash=digest)
        )
        prev, last_id = digest, row["entry_id"]
    _set_head(connection, last_id, prev)


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of `verify`: intact entries, the last of them and its hash, the first break (or None)."""

    entries: int
    last_entry: int
    head: str
    problem: str | None


def verify(engine: Engine) -> ChainCheck:
    """Walk the chain from the first entry; stop at the first entry that does not fit."""
    prev, prev_id, count = GENESIS, 0, 0
    with engine.connect() as connection:
        head = connection.execute(sa.select(meta.c.value).where(meta.c.key == HEAD_KEY)).scalar()
        rows = connection.execute(sa.select(audit_log).order_by(audit_log.c.entry_id)).mappings()
        for row in rows:
            number = row["entry_id"]
            linked = row["prev_hash"] == prev
            intact = row["entry_hash"] == entry_hash(row["prev_hash"] or "", row)
            if not linked:
                before = f"entry {prev_id}" if prev_id else "the start"
                return ChainCheck(
                    count,
                    prev_id,
                    prev,
                    f"entry {number} does not follow {before}: entries between them were removed or "
                    f"renumbered, or {before} was rewritten",
                )
            if not intact:
                return ChainCheck(count, prev_id, prev, f"entry {number} was changed after it was written")
            prev, prev_id, count = row["entry_hash"], number, count + 1
    if head != f"{prev_id} {prev}":
        recorded = str(head).split(" ")[0] if head else "(no record)"
        return ChainCheck(
            count,
            prev_id,
            prev,
            f"the log ends at entry {prev_id}, but the last entry written was {recorded}: entries after "
            f"entry {prev_id} were removed",
        )
    return ChainCheck(count, prev_id, prev, None)
