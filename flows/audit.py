"""The audit log as a hash chain: every entry is written here, and `verify` checks the chain.

Each entry holds the hash of the entry before it (`prev_hash`) and a hash of that link plus its own
number and content (`entry_hash`). Deleting, renumbering, reordering or editing entries with a
database tool breaks the chain at the first entry touched. The newest entry's number and hash (the
head) are kept in `ewarn_meta` as well, so entries cut off the end are found too.

Someone who can write the database could still rebuild the whole chain; the head printed by
`ewarn audit verify`, kept somewhere else, shows later whether that happened.

Retention prunes the oldest entries (`prune`): the number and hash of the last entry removed are
kept in `ewarn_meta` as the chain's base, where the walk starts, and a chained `audit_pruned` entry
records the same base, so a base moved later (entries removed by hand and the base rewritten to
match) no longer agrees with the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from flows.store_schema import audit_log, meta, utc_now

GENESIS = "0" * 64
HEAD_KEY = "audit_head"
BASE_KEY = "audit_base"
PRUNED = "audit_pruned"
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


def _pruned_record(entry_id: int, digest: str) -> str:
    return f"last_pruned={entry_id} hash={digest}"


def prune(connection: Connection, before: str, actor: str) -> int:
    """Remove the entries written before `before` (ISO time, UTC), inside the caller's transaction.

    Every entry from the first one written at or after `before` stays, so nothing younger than
    the cutoff goes even if the clock once stepped back. Returns the number removed; when entries
    went, the base moves to the last of them and a chained `audit_pruned` entry records it.
    """
    first_kept = connection.execute(
        sa.select(sa.func.min(audit_log.c.entry_id)).where(audit_log.c.at >= before)
    ).scalar()
    older = sa.select(audit_log.c.entry_id, audit_log.c.entry_hash)
    if first_kept is not None:
        older = older.where(audit_log.c.entry_id < first_kept)
    last = connection.execute(older.order_by(audit_log.c.entry_id.desc()).limit(1)).first()
    if last is None:
        return 0
    removed = connection.execute(sa.delete(audit_log).where(audit_log.c.entry_id <= last.entry_id)).rowcount
    connection.execute(sa.delete(meta).where(meta.c.key == BASE_KEY))
    connection.execute(sa.insert(meta).values(key=BASE_KEY, value=f"{last.entry_id} {last.entry_hash}"))
    detail = f"{_pruned_record(last.entry_id, last.entry_hash)} entries={removed} before={before}"
    append(connection, actor, PRUNED, "audit", detail)
    return int(removed)


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of `verify`: intact entries, the last of them and its hash, the first break (or None).

    `pruned_through` is the last entry removed by retention (0 when none was).
    """

    entries: int
    last_entry: int
    head: str
    problem: str | None
    pruned_through: int = 0


def _base(connection: Connection) -> tuple[int, str]:
    value = connection.execute(sa.select(meta.c.value).where(meta.c.key == BASE_KEY)).scalar()
    if not value:
        return 0, GENESIS
    number, digest = str(value).split(" ", 1)
    return int(number), digest


def verify(engine: Engine) -> ChainCheck:
    """Walk the chain from its base (the start, or the last entry pruned); stop at the first misfit."""
    with engine.connect() as connection:
        head = connection.execute(sa.select(meta.c.value).where(meta.c.key == HEAD_KEY)).scalar()
        base_id, base_hash = _base(connection)
        prev, prev_id, count, last_pruning = base_hash, base_id, 0, None
        rows = connection.execute(sa.select(audit_log).order_by(audit_log.c.entry_id)).mappings()
        for row in rows:
            number = row["entry_id"]
            linked = row["prev_hash"] == prev
            intact = row["entry_hash"] == entry_hash(row["prev_hash"] or "", row)
            if not linked:
                if not prev_id:
                    before = "the start"
                elif prev_id == base_id:
                    before = f"entry {base_id} (the last one pruned by retention)"
                else:
                    before = f"entry {prev_id}"
                return ChainCheck(
                    count,
                    prev_id,
                    prev,
                    f"entry {number} does not follow {before}: entries between them were removed or "
                    f"renumbered, or {before} was rewritten",
                )
            if not intact:
                return ChainCheck(count, prev_id, prev, f"entry {number} was changed after it was written")
            if row["action"] == PRUNED:
                last_pruning = str(row["detail"])
            prev, prev_id, count = row["entry_hash"], number, count + 1
    if base_id and not (last_pruning or "").startswith(_pruned_record(base_id, base_hash) + " "):
        return ChainCheck(
            count,
            prev_id,
            prev,
            f"the trail starts after entry {base_id}, but no pruning entry in the chain records that "
            "start: entries were removed and the start rewritten outside ewarn",
        )
    if head != f"{prev_id} {prev}":
        recorded = str(head).split(" ")[0] if head else "(no record)"
        return ChainCheck(
            count,
            prev_id,
            prev,
            f"the log ends at entry {prev_id}, but the last entry written was {recorded}: entries after "
            f"entry {prev_id} were removed",
        )
    return ChainCheck(count, prev_id, prev, None, base_id)
