"""What retention removes: flags and everything hanging off them past the retention period.

Pure: frames and dates in, a plan out; `flows.retention` reads the store and carries the plan
out in one transaction.

Flags are dated by the week they were scored for, so their period counts back from the newest
scored week (the nightly run scores last week, so in use that is today's calendar less a week,
and a re-run of an old week does not drag the window back). Decisions and the audit trail are
dated by the clock, so theirs counts back from now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl


@dataclass(frozen=True)
class PurgePlan:
    """Rows retention removes: flags (their reasons and series go with them), decisions, team rows.

    `flags_before`: flags of weeks before this go (None: no run yet). `decided_before`: a decision
    whose flag is no longer in the store goes when it is older than this (ISO time).
    `audit_before`: audit entries written before this go (ISO time).
    """

    flags_before: date | None
    decided_before: str
    audit_before: str
    flag_ids: list[str] = field(default_factory=list)
    review_ids: list[int] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether no flag, decision or team row would go (the audit is planned apart)."""
        return not (self.flag_ids or self.review_ids or self.run_ids)


def clock_cutoff(now: datetime, weeks: int) -> str:
    """The ISO time (UTC, to the second) `weeks` weeks before `now`: older stamps go."""
    moment = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    return (moment - timedelta(weeks=weeks)).replace(microsecond=0).isoformat()


def purge_plan(
    runs: pl.DataFrame,
    flags: pl.DataFrame,
    reviews: pl.DataFrame,
    *,
    weeks: int,
    audit_weeks: int,
    now: datetime,
) -> PurgePlan:
    """The rows past their retention period.

    `runs`: run_id, as_of. `flags`: flag_id, as_of. `reviews`: review_id, flag_id, decided_at
    (ISO text). A flag goes when its week is more than `weeks` weeks before the newest run's week;
    a decision goes with its flag, or, when its flag is already gone (a re-run replaced it),
    once it is `weeks` weeks old; the team counts of runs before the cutoff go too (a run's own
    organisation-wide totals stay: they name nobody).
    """
    decided_before = clock_cutoff(now, weeks)
    audit_before = clock_cutoff(now, audit_weeks)
    if runs.is_empty():
        return PurgePlan(None, decided_before, audit_before)
    newest = runs["as_of"].cast(pl.Date).max()
    assert isinstance(newest, date)
    cutoff = newest - timedelta(weeks=weeks)
    old_flags = flags.filter(pl.col("as_of").cast(pl.Date) < cutoff)["flag_id"].to_list()
    gone = set(old_flags)
    present = set(flags["flag_id"].to_list()) - gone
    review_ids = [
        int(review_id)
        for review_id, flag_id, decided_at in reviews.select("review_id", "flag_id", "decided_at").iter_rows()
        if flag_id in gone or (flag_id not in present and str(decided_at) < decided_before)
    ]
    old_runs = runs.filter(pl.col("as_of").cast(pl.Date) < cutoff)["run_id"].to_list()
    return PurgePlan(cutoff, decided_before, audit_before, sorted(old_flags), sorted(review_ids), old_runs)
