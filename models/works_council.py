"""The works council's report in numbers: aggregates only, small groups hidden.

Pure: frames in, one JSON-ready dict out (`flows.governance_pages` renders it). No pseudonym is
ever read here: runs, team counts, decisions without notes, and the audit trail's actions.
Teams under the anonymity threshold are hidden, and with them the next-smallest, so no hidden team
follows from the total (`models.anonymity`, as in the nightly report and the review page). Counts
of people (erasures, opt-outs) under the threshold read "fewer than N".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from models.anonymity import suppressed, total_is_safe
from models.governance import DECISION_WORDS, ERASURE, Policy
from models.reviewed import FALSE_ALARM

RETENTION_ACTION = "retention_purge"
PRUNED_ACTION = "audit_pruned"
ACCESS_WORDS = {
    "login_success": "Log-ins",
    "login_failure": "Failed log-ins",
    "login_paused": "Log-ins paused after repeated failures",
    "logout": "Log-outs",
    "view_queue": "Queue views",
    "view_flag": "Flag pages opened",
    "view_flag_refused": "Flag pages refused",
    "view_teams": "Team page views",
    "view_model": "Model page views",
    "decision": "Decisions recorded",
    "decision_failed": "Decisions not recorded",
    "subject_access": "Subject-access copies made",
    "subject_access_refused": "Subject-access requests for an unknown pseudonym",
    ERASURE: "Erasures",
    "user_added": "Users added",
    "user_removed": "Users removed",
    RETENTION_ACTION: "Retention purges",
    PRUNED_ACTION: "Audit trail prunings",
    "works_council_report": "Works-council reports made",
}
# Actions that each stand for one person's request: counted like people, small counts hidden.
PERSON_REQUESTS = frozenset({ERASURE, "subject_access", "subject_access_refused"})
_COUNT = re.compile(r"(\w+)=(\d+)")


def people_count(n: int, threshold: int) -> str:
    """A count of people fit to show: "fewer than N" between 1 and the threshold."""
    return f"fewer than {threshold}" if 0 < n < threshold else f"{n:,}"


def months_back(end: date, months: int) -> date:
    """The first day of the month `months - 1` months before `end`'s month: a period of `months` months."""
    index = end.year * 12 + end.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


def _per_100(flags: int, person_weeks: int) -> float | None:
    """Flags per 100 person-weeks scored."""
    return round(100 * flags / person_weeks, 2) if person_weeks else None


def _monthly(runs: pl.DataFrame) -> list[dict[str, Any]]:
    if runs.is_empty():
        return []
    table = (
        runs.with_columns(pl.col("as_of").dt.strftime("%Y-%m").alias("month"))
        .group_by("month")
        .agg(
            pl.len().alias("runs"),
            pl.col("flag_count").sum().alias("flags"),
            pl.col("people_scored").sum().alias("person_weeks"),
            pl.col("people_scored").mean().round(0).cast(pl.Int64).alias("people"),
        )
        .sort("month")
    )
    return [
        {**row, "per_100_people": _per_100(row["flags"], row["person_weeks"])}
        for row in table.iter_rows(named=True)
    ]


def _decisions(decisions: pl.DataFrame, threshold: int) -> dict[str, Any]:
    latest = decisions.sort("review_id").unique("flag_id", keep="last", maintain_order=True)
    reviewed = latest.height
    if reviewed < threshold:
        return {"reviewed": reviewed, "shown": False, "mix": [], "false_alarm_rate": None}
    counts = dict(latest.group_by("decision").len().iter_rows())
    mix = [
        {"decision": d, "label": words, "count": counts.get(d, 0), "share": counts.get(d, 0) / reviewed}
        for d, words in DECISION_WORDS.items()
    ]
    return {
        "reviewed": reviewed,
        "shown": True,
        "mix": mix,
        "false_alarm_rate": counts.get(FALSE_ALARM, 0) / reviewed,
    }


def _teams(runs: pl.DataFrame, team_runs: pl.DataFrame, threshold: int) -> dict[str, Any]:
    rows = team_runs.join(runs.select("run_id"), on="run_id", how="semi")
    if rows.is_empty():
        return {"rows": [], "hidden": 0, "total": None}
    per_team = rows.group_by("team_id").agg(
        pl.col("people").min().alias("smallest"),
        pl.col("people").sum().alias("person_weeks"),
        pl.col("flagged").sum().alias("flags"),
    )
    # A team is as identifiable as it was in its smallest week of the period.
    sizes = dict(per_team.select("team_id", "smallest").iter_rows())
    hidden = suppressed(sizes, threshold)
    shown = [
        {
            "team": row["team_id"],
            "smallest": row["smallest"],
            "flags": row["flags"],
            "per_100_people": _per_100(row["flags"], row["person_weeks"]),
        }
        for row in per_team.sort("team_id").iter_rows(named=True)
        if row["team_id"] not in hidden
    ]
    total = None
    if total_is_safe(sizes, hidden, threshold):
        person_weeks, flags = int(per_team["person_weeks"].sum()), int(per_team["flags"].sum())
        total = {"flags": flags, "per_100_people": _per_100(flags, person_weeks)}
    return {"rows": shown, "hidden": len(hidden), "total": total}


def _models(runs: pl.DataFrame, versions: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    served: dict[str, dict[str, Any]] = {}
    for row in runs.sort("as_of").iter_rows(named=True):
        entry = served.setdefault(str(row["model_version"]), {"from": row["as_of"], "runs": 0})
        entry.update(until=row["as_of"], runs=entry["runs"] + 1)
    if versions is None:
        return [
            {"version": v, "reason": None, "served_from": str(use["from"]), "served_until": str(use["until"])}
            | {"runs": use["runs"]}
            for v, use in served.items()
        ]
    out = []
    for version in sorted(versions, key=lambda v: int(v["version"])):
        use = served.get(str(version["version"]), {})
        out.append(
            {
                **dict(version),
                "served_from": str(use["from"]) if use else None,
                "served_until": str(use["until"]) if use else None,
                "runs": use.get("runs", 0),
            }
        )
    return out


def _audit_counts(audit: pl.DataFrame, action: str) -> dict[str, int]:
    """How often `action` was audited ("times") and the sums of the counts its details carry."""
    totals: dict[str, int] = {"times": 0}
    for detail in audit.filter(pl.col("action") == action)["detail"].to_list():
        totals["times"] += 1
        for key, value in _COUNT.findall(detail or ""):
            totals[key] = totals.get(key, 0) + int(value)
    return totals


def works_council_summary(
    runs: pl.DataFrame,
    team_runs: pl.DataFrame,
    decisions: pl.DataFrame,
    audit: pl.DataFrame,
    *,
    policy: Policy,
    months: int,
    now: datetime,
    fairness: Mapping[str, Any] | None,
    versions: Sequence[Mapping[str, Any]] | None,
    opt_outs: int,
    catalog_families: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The report's content over the last `months` months.

    `runs`: run_id, as_of (Date), people_scored, flag_count, model_version. `team_runs`: run_id,
    team_id, people, flagged. `decisions`: review_id, flag_id, decision, decided_at (ISO text; the
    note is never needed). `audit`: at, actor, action, detail. Runs count back from the newest
    run's week, decisions and the audit trail from `now`. `versions`: every registered model
    version (version, model, created, alias, reason, trained_until) or None when the registry could
    not be read. `catalog_families`: family label, description and signal labels in use.
    """
    threshold = policy.anonymity_threshold
    newest = runs["as_of"].max() if not runs.is_empty() else None
    flags_from = months_back(newest, months) if isinstance(newest, date) else None
    period_runs = runs.filter(pl.col("as_of") >= flags_from) if flags_from else runs.clear()
    clock_from = months_back(now.date(), months).isoformat()
    period_decisions = decisions.filter(pl.col("decided_at") >= clock_from)
    period_audit = audit.filter(pl.col("at") >= clock_from)
    action_counts = dict(period_audit.group_by("action").len().iter_rows())
    retention = _audit_counts(period_audit, RETENTION_ACTION)
    pruned = _audit_counts(period_audit, PRUNED_ACTION)
    viewers = period_audit.filter(pl.col("action") == "view_flag")["actor"].n_unique()
    return {
        "generated_at": now.replace(microsecond=0).isoformat(),
        "months": months,
        "period": {
            "flags_from": str(flags_from) if flags_from else None,
            "flags_until": str(newest) if newest else None,
            "clock_from": clock_from,
            "clock_until": now.date().isoformat(),
            "audit_kept_from": str(audit["at"].min())[:10] if not audit.is_empty() else None,
        },
        "policy": policy.to_dict(),
        "monthly": _monthly(period_runs),
        "decisions": _decisions(period_decisions, threshold),
        "teams": _teams(period_runs, team_runs, threshold),
        "fairness": dict(fairness) if fairness else None,
        "models": _models(runs, versions),
        "models_note": None if versions is not None else "The model registry could not be read.",
        "signals": [dict(f) for f in catalog_families],
        "retention": {
            "purges": retention["times"],
            "flags_removed": retention.get("flags", 0),
            "decisions_removed": retention.get("decisions", 0),
            "audit_entries_pruned": pruned.get("entries", 0),
            "erasures": people_count(int(action_counts.get(ERASURE, 0)), threshold),
            "opt_outs": people_count(opt_outs, threshold),
        },
        "access": [
            {
                "action": action,
                "label": ACCESS_WORDS.get(action, action.replace("_", " ")),
                "count": people_count(n, threshold) if action in PERSON_REQUESTS else f"{n:,}",
            }
            for action, n in sorted(action_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "flag_viewers": viewers,
    }
