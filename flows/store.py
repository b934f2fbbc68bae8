"""The flag store: nightly runs, their flags and reasons, and the review app's tables (SQLAlchemy).

An embedded SQLite database in the home folder by default; any SQLAlchemy URL (PostgreSQL, say)
by setting. The schema (`flows.store_schema`: tables, JSON columns, version) is upgraded in place
when a store is opened. A nightly run is written in one transaction that first removes any earlier
run for the same as-of week, so a re-run replaces flags instead of doubling them, and a run that
dies half way leaves the store exactly as it was. Replacing a run never deletes reviews or audit
entries, nor a flag that has a review: a re-run keeps it (see FlagStore.write_run). Reviews go only
past their retention period (flows/retention.py, applied in the nightly run's transaction) or by
`ewarn forget`, audit entries only by retention's pruning.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flows.store_files import file_problem, open_problem, sqlite_file
from flows.store_schema import (
    DECISIONS,
    OPEN,
    TEAM_COLUMNS,
    StoreError,
    audit_log,
    flags,
    latest_decisions,
    reasons,
    reviews,
    runs,
    schema_version_of,
    team_runs,
    upgrade,
    utc_now,
)
from models.flag_records import FLAG_COLUMNS, OPTIONAL_FLAG_COLUMNS, REASON_COLUMNS


def default_url(home: Path) -> str:
    """The embedded SQLite store in the home folder."""
    return f"sqlite:///{(home / 'flags.db').resolve()}"


@dataclass(frozen=True)
class RunRecord:
    """One nightly run: when, which model, which data, what it scored."""

    run_id: str
    as_of: date
    model_name: str
    model_version: str
    data_sha256: str
    data_last_week: date
    people_scored: int
    details: Mapping[str, Any]


def _rows(frame: pl.DataFrame, columns: Iterable[str]) -> list[dict[str, Any]]:
    columns = list(columns)
    # A nullable column added by a later schema version may be left out: it is stored empty.
    frame = frame.with_columns(
        pl.lit(None, dtype=pl.String).alias(c) for c in OPTIONAL_FLAG_COLUMNS if c not in frame.columns
    )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"missing columns {missing}")
    return frame.select(columns).to_dicts()


class FlagStore:
    """Runs, flags, reasons and team counts of the nightly job, plus reviews, users and audit log."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        """Open (and create or upgrade in place) the store at an SQLAlchemy URL.

        `create=False` refuses to create a missing SQLite store: a command that only reads it was
        most likely given the wrong home.
        """
        self.url = url
        path = sqlite_file(url)
        problem = file_problem(path, create=create) if path is not None else None
        if problem is not None:
            raise StoreError(problem)
        try:
            if path is not None:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.engine = sa.create_engine(url)
            upgrade(self.engine)
            if path is not None and path.is_file():
                # Password hashes and decision notes: the owner's alone (SQLite gives its journal
                # files the database file's mode).
                path.chmod(0o600)
        except StoreError:
            raise
        except Exception as exc:  # driver missing, server down, bad URL: one message for the user
            if path is not None:
                raise StoreError(open_problem(path, exc)) from exc
            raise StoreError(
                f"Cannot open the flag store at {_safe(url)} ({type(exc).__name__}: {exc}). Check "
                "EWARN_STORE_URL, or unset it to use the SQLite store in the home folder."
            ) from exc

    def schema_version(self) -> int:
        """The schema version the store is at."""
        with self.engine.connect() as connection:
            return schema_version_of(connection)

    def write_run(
        self,
        record: RunRecord,
        flag_rows: pl.DataFrame,
        reason_rows: pl.DataFrame,
        team_rows: pl.DataFrame,
        then: Callable[[Connection], None] | None = None,
    ) -> int:
        """Store a run, replacing any earlier run for the same as-of week, all in one transaction.

        A decision is never lost: every flag of the earlier run that has a review moves to the new
        run with its reasons, and only the undecided ones are replaced. A person the new run flags
        again keeps the reviewed flag (the decision was made on what it showed). Ranks follow risk
        across both, and the team counts count both. `then` runs last inside that transaction (the
        nightly run's retention purge), so it commits or fails together with the run. Returns how
        many reviewed flags were kept.
        """
        flag_dicts = _rows(flag_rows, FLAG_COLUMNS)
        reason_dicts = _rows(reason_rows, REASON_COLUMNS)
        team_dicts = _rows(team_rows, TEAM_COLUMNS)
        with self.engine.begin() as connection:
            kept_flags, kept_reasons = self._retire_run(connection, record.as_of)
            kept_ids = {row["flag_id"] for row in kept_flags}
            every_flag = kept_flags + [row for row in flag_dicts if row["flag_id"] not in kept_ids]
            every_flag.sort(key=lambda row: (-row["risk"], row["person_id"]))
            for rank, row in enumerate(every_flag, start=1):
                row.update(rank=rank, run_id=record.run_id, as_of=record.as_of)
            every_reason = kept_reasons + [row for row in reason_dicts if row["flag_id"] not in kept_ids]
            flagged = Counter(row["team_id"] for row in every_flag if row["team_id"] is not None)
            for row in team_dicts:
                row.update(run_id=record.run_id, flagged=flagged.get(row["team_id"], 0))
            connection.execute(
                sa.insert(runs).values(
                    run_id=record.run_id,
                    as_of=record.as_of,
                    finished_at=utc_now(),
                    model_name=record.model_name,
                    model_version=record.model_version,
                    data_sha256=record.data_sha256,
                    data_last_week=record.data_last_week,
                    people_scored=record.people_scored,
                    flag_count=len(every_flag),
                    details=json.dumps(record.details, default=str, sort_keys=True),
                )
            )
            for table, rows in ((flags, every_flag), (reasons, every_reason), (team_runs, team_dicts)):
                if rows:
                    connection.execute(sa.insert(table), rows)
            if then is not None:
                then(connection)
        return len(kept_flags)

    @staticmethod
    def _retire_run(connection: Connection, as_of: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Delete the earlier run of a week; return its reviewed flags and their reasons, to keep.

        Everything is deleted before the new run is written (the as-of week is unique, and the
        flags point at their run), and the reviewed flags are written again with the new run.
        """
        earlier = connection.execute(sa.select(runs.c.run_id).where(runs.c.as_of == as_of)).scalars().all()
        if not earlier:
            return [], []
        flag_ids = sa.select(flags.c.flag_id).where(flags.c.run_id.in_(earlier))
        reviewed = sa.select(reviews.c.flag_id).where(reviews.c.flag_id.in_(flag_ids))
        kept_flags = [
            dict(row)
            for row in connection.execute(
                sa.select(*(flags.c[c] for c in FLAG_COLUMNS)).where(flags.c.flag_id.in_(reviewed))
            ).mappings()
        ]
        kept_reasons = [
            dict(row)
            for row in connection.execute(
                sa.select(reasons).where(reasons.c.flag_id.in_([row["flag_id"] for row in kept_flags]))
            ).mappings()
        ]
        connection.execute(sa.delete(reasons).where(reasons.c.flag_id.in_(flag_ids)))
        connection.execute(sa.delete(flags).where(flags.c.run_id.in_(earlier)))
        connection.execute(sa.delete(team_runs).where(team_runs.c.run_id.in_(earlier)))
        connection.execute(sa.delete(runs).where(runs.c.run_id.in_(earlier)))
        return kept_flags, kept_reasons

    def run(self, as_of: date | None = None) -> dict[str, Any] | None:
        """The run for an as-of week (the latest run when None), or None when there is none."""
        query = sa.select(runs)
        query = query.where(runs.c.as_of == as_of) if as_of else query.order_by(runs.c.as_of.desc())
        with self.engine.connect() as connection:
            row = connection.execute(query.limit(1)).mappings().first()
        if row is None:
            return None
        return {**row, "details": json.loads(row["details"])}

    def list_runs(self) -> pl.DataFrame:
        """Every run, newest first (no details)."""
        query = sa.select(*(c for c in runs.c if c.name != "details")).order_by(runs.c.as_of.desc())
        return self._frame(query)

    def run_flags(self, run_id: str) -> pl.DataFrame:
        """The flags of one run with their review status ("open" until decided), by rank."""
        latest = latest_decisions()
        query = (
            sa.select(flags, sa.func.coalesce(latest.c.decision, OPEN).label("status"))
            .outerjoin(latest, latest.c.flag_id == flags.c.flag_id)
            .where(flags.c.run_id == run_id)
            .order_by(flags.c.rank)
        )
        return self._frame(query)

    def run_reasons(self, run_id: str) -> pl.DataFrame:
        """The reasons of one run's flags, by flag and rank."""
        query = (
            sa.select(reasons)
            .join(flags, flags.c.flag_id == reasons.c.flag_id)
            .where(flags.c.run_id == run_id)
            .order_by(reasons.c.flag_id, reasons.c.rank)
        )
        return self._frame(query)

    def run_teams(self, run_id: str) -> pl.DataFrame:
        """People and flags per team in one run (every team: callers apply the anonymity rules)."""
        return self._frame(
            sa.select(team_runs).where(team_runs.c.run_id == run_id).order_by(team_runs.c.team_id)
        )

    def flag_history(self, before: date) -> pl.DataFrame:
        """Every flag of runs before a week: person_id, as_of, risk, status (for cooldown rules)."""
        latest = latest_decisions()
        query = (
            sa.select(
                flags.c.person_id,
                flags.c.as_of,
                flags.c.risk,
                sa.func.coalesce(latest.c.decision, OPEN).label("status"),
            )
            .outerjoin(latest, latest.c.flag_id == flags.c.flag_id)
            .where(flags.c.as_of < before)
        )
        frame = self._frame(query)
        return (
            frame.cast({"as_of": pl.Date})
            if frame.height
            else pl.DataFrame(
                schema={"person_id": pl.String, "as_of": pl.Date, "risk": pl.Float64, "status": pl.String}
            )
        )

    def add_review(
        self, flag_id: str, decision: str, note: str, reviewer: str, client: str | None = None
    ) -> None:
        """Record a decision on a flag, with its audit entry, in one transaction."""
        from flows import audit

        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
        if not note.strip():
            raise ValueError("a decision needs a note")
        with self.engine.begin() as connection:
            person = connection.execute(
                sa.select(flags.c.person_id).where(flags.c.flag_id == flag_id)
            ).scalar_one_or_none()
            if person is None:
                raise KeyError(flag_id)
            at = utc_now()
            connection.execute(
                sa.insert(reviews).values(
                    flag_id=flag_id,
                    person_id=person,
                    decision=decision,
                    note=note,
                    reviewer=reviewer,
                    decided_at=at,
                )
            )
            audit.append(connection, reviewer, "decision", f"flag:{flag_id}", decision, client)

    def review_history(self) -> pl.DataFrame:
        """Every decision with its flag's leading family and risk (decisions are data)."""
        query = (
            sa.select(reviews, flags.c.leading_family, flags.c.risk, flags.c.as_of)
            .outerjoin(flags, flags.c.flag_id == reviews.c.flag_id)
            .order_by(reviews.c.review_id)
        )
        return self._frame(query)

    def audit(
        self, actor: str, action: str, target: str, detail: str = "", client: str | None = None
    ) -> None:
        """Append one entry to the audit log's hash chain (nothing ever edits or deletes it)."""
        from flows import audit

        with self.engine.begin() as connection:
            audit.append(connection, actor, action, target, detail, client)

    def audit_entries(self) -> pl.DataFrame:
        """The audit log, oldest first."""
        return self._frame(sa.select(audit_log).order_by(audit_log.c.entry_id))

    def _frame(self, query: sa.Select) -> pl.DataFrame:
        # Typed from the columns, not from the rows: an empty result (a run whose flags have no
        # reasons) or an all-null column must still join and concatenate with the others.
        with self.engine.connect() as connection:
            result = connection.execute(query)
            columns = list(result.keys())
            rows = result.fetchall()
        schema = {
            name: _POLARS_TYPES.get(type(column.type))
            for name, column in zip(columns, query.selected_columns, strict=True)
        }
        return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row", infer_schema_length=None)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


# SQLAlchemy column types and the polars types their values are read as.
_POLARS_TYPES: dict[type, pl.DataType] = {
    sa.String: pl.String(),
    sa.Text: pl.String(),
    sa.Integer: pl.Int64(),
    sa.Float: pl.Float64(),
    sa.Date: pl.Date(),
}


def _safe(url: str) -> str:
    """A URL fit for messages: any password replaced by ***."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
