"""Retention in the store: the nightly run's purge, `ewarn purge` and `ewarn purge --dry-run`.

The rows to remove are chosen by `models.retention.purge_plan`; here they are read, counted and
removed inside one transaction, with an audit entry saying how many went. The nightly run passes
`RetentionStep` to the store so the purge commits, or fails, with the night's own writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flows import audit
from flows.settings import Settings
from flows.store import FlagStore
from flows.store_schema import audit_log, flags, reasons, reviews, runs, team_runs
from models.retention import PurgePlan, purge_plan

RETENTION_ACTION = "retention_purge"
_REPORT_NAME = re.compile(r"^nightly-(\d{4}-\d{2}-\d{2})\.html$")


@dataclass
class PurgeCounts:
    """What a purge removed (or, in a dry run, would remove)."""

    plan: PurgePlan
    flags: int = 0
    reasons: int = 0
    decisions: int = 0
    team_rows: int = 0
    audit_entries: int = 0
    reports: list[Path] = field(default_factory=list)

    def render(self, weeks: int, audit_weeks: int, dry_run: bool) -> str:
        """A few lines for the terminal: the cutoffs and the counts, no pseudonym."""
        plan = self.plan
        verb = "Would remove" if dry_run else "Removed"
        flags_rule = (
            f"flags of weeks before {plan.flags_before} ({weeks} weeks before the newest run)"
            if plan.flags_before
            else "no flags (no nightly run yet)"
        )
        lines = [
            f"Retention: {flags_rule}; decisions on flags no longer stored, made before "
            f"{plan.decided_before[:10]}; audit entries written before {plan.audit_before[:10]} "
            f"({audit_weeks} weeks).",
            f"{verb} {self.flags:,} flags (with {self.reasons:,} reasons and their signal series), "
            f"{self.decisions:,} decisions and notes, {self.team_rows:,} team counts, "
            f"{self.audit_entries:,} audit entries and {len(self.reports):,} nightly report files.",
        ]
        if dry_run:
            lines.append("Nothing was removed. `ewarn purge` removes them now; the nightly run does anyway.")
        return "\n".join(lines)


def plan_in(connection: Connection, settings: Settings, now: datetime | None = None) -> PurgePlan:
    """The purge plan for the store as it is inside `connection`'s transaction."""

    def frame(query: sa.Select, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        return pl.DataFrame([tuple(r) for r in connection.execute(query)], schema=schema, orient="row")

    return purge_plan(
        frame(sa.select(runs.c.run_id, runs.c.as_of), {"run_id": pl.String, "as_of": pl.Date}),
        frame(sa.select(flags.c.flag_id, flags.c.as_of), {"flag_id": pl.String, "as_of": pl.Date}),
        frame(
            sa.select(reviews.c.review_id, reviews.c.flag_id, reviews.c.decided_at),
            {"review_id": pl.Int64, "flag_id": pl.String, "decided_at": pl.String},
        ),
        weeks=settings.retention_weeks,
        audit_weeks=settings.audit_retention_weeks,
        now=now or datetime.now(UTC),
    )


def _chunks(ids: list, size: int = 500) -> list[list]:
    # SQLite caps the parameters of one statement; a year of flags can exceed it.
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def count_in(connection: Connection, plan: PurgePlan) -> PurgeCounts:
    """What `plan` would remove, counted without removing anything."""
    counts = PurgeCounts(plan, flags=len(plan.flag_ids), decisions=len(plan.review_ids))
    for part in _chunks(plan.flag_ids):
        counts.reasons += connection.execute(
            sa.select(sa.func.count()).select_from(reasons).where(reasons.c.flag_id.in_(part))
        ).scalar_one()
    for part in _chunks(plan.run_ids):
        counts.team_rows += connection.execute(
            sa.select(sa.func.count()).select_from(team_runs).where(team_runs.c.run_id.in_(part))
        ).scalar_one()
    first_kept = connection.execute(
        sa.select(sa.func.min(audit_log.c.entry_id)).where(audit_log.c.at >= plan.audit_before)
    ).scalar()
    older = sa.select(sa.func.count()).select_from(audit_log)
    if first_kept is not None:
        older = older.where(audit_log.c.entry_id < first_kept)
    counts.audit_entries = connection.execute(older).scalar_one()
    return counts


def apply_in(connection: Connection, plan: PurgePlan, actor: str) -> PurgeCounts:
    """Remove what `plan` names inside `connection`'s transaction, audit it, and prune the audit trail."""
    counts = PurgeCounts(plan)
    for part in _chunks(plan.flag_ids):
        counts.reasons += connection.execute(sa.delete(reasons).where(reasons.c.flag_id.in_(part))).rowcount
        counts.flags += connection.execute(sa.delete(flags).where(flags.c.flag_id.in_(part))).rowcount
    for part in _chunks(plan.review_ids):
        counts.decisions += connection.execute(
            sa.delete(reviews).where(reviews.c.review_id.in_(part))
        ).rowcount
    for part in _chunks(plan.run_ids):
        counts.team_rows += connection.execute(
            sa.delete(team_runs).where(team_runs.c.run_id.in_(part))
        ).rowcount
    if counts.flags or counts.decisions or counts.team_rows:
        detail = (
            f"flags={counts.flags} reasons={counts.reasons} decisions={counts.decisions} "
            f"team_rows={counts.team_rows} flags_before={plan.flags_before}"
        )
        audit.append(connection, actor, RETENTION_ACTION, "store", detail)
    counts.audit_entries = audit.prune(connection, plan.audit_before, actor)
    return counts


class RetentionStep:
    """The nightly run's purge, run by the store inside the transaction that writes the run."""

    def __init__(self, settings: Settings, actor: str = "nightly") -> None:
        """Purge by `settings`' retention periods, auditing as `actor`."""
        self.settings = settings
        self.actor = actor
        self.counts: PurgeCounts | None = None

    def __call__(self, connection: Connection) -> None:
        """Plan and purge against the store as the run's writes left it."""
        self.counts = apply_in(connection, plan_in(connection, self.settings), self.actor)


def old_reports(home: Path, before: date | None) -> list[Path]:
    """The nightly report files of weeks before `before` (they name flagged pseudonyms)."""
    folder = home / "reports"
    if before is None or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("nightly-*.html")):
        match = _REPORT_NAME.match(path.name)
        if match and date.fromisoformat(match.group(1)) < before:
            found.append(path)
    return found


def remove_reports(paths: list[Path]) -> None:
    """Delete report files (already gone is fine)."""
    for path in paths:
        path.unlink(missing_ok=True)


def purge(settings: Settings, store: FlagStore, *, dry_run: bool, now: datetime | None = None) -> PurgeCounts:
    """`ewarn purge`: count, or remove in one transaction, everything past its retention period."""
    with store.engine.begin() as connection:
        plan = plan_in(connection, settings, now)
        counts = count_in(connection, plan) if dry_run else apply_in(connection, plan, "cli")
    counts.reports = old_reports(settings.resolved_home(), plan.flags_before)
    if not dry_run:
        remove_reports(counts.reports)
    return counts
