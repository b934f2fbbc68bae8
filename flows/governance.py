"""The I/O of governance: read one person's rows, erase them, gather the works council's figures.

What to include is decided in `models.governance`, `models.works_council` and `models.notice`
(pure); here the store, the landing folder, the opt-out list, the reports and the model registry
are read and written. Erasure runs in one transaction with its audit tombstone, while no nightly
or retrain run is working on the home folder.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from features.catalog import Catalog
from flows import audit
from flows.exclusions import add_exclusion, excluded_people
from flows.landing import ContractViolation, load_landing
from flows.lock import job_lock
from flows.report import RunSummary, html_report
from flows.settings import Settings
from flows.store import FlagStore
from flows.store_schema import audit_log, flags, latest_decisions, reasons, reviews, runs, team_runs
from flows.tables import write_text_atomically
from models.fairness import DEFAULT_THRESHOLD
from models.governance import ERASURE, PERSON_ACTIONS, Policy, subject_access_record
from models.notice import catalog_families
from models.works_council import works_council_summary

SUBJECT_ACCESS = "subject_access"


def _frame(connection: Connection, query: sa.Select, schema: dict[str, Any] | None = None) -> pl.DataFrame:
    """Rows of a query as a frame; with `schema`, typed even when there are none."""
    result = connection.execute(query)
    rows = [tuple(r) for r in result]
    if schema is None:
        return pl.DataFrame(rows, schema=list(result.keys()), orient="row", infer_schema_length=None)
    return pl.DataFrame(rows, schema=schema, orient="row")


def person_rows(store: FlagStore, pseudonym: str) -> dict[str, pl.DataFrame]:
    """One person's flags (with their run's model and data week), reasons, decisions and audit entries."""
    latest = latest_decisions()
    flag_query = (
        sa.select(
            flags.c.flag_id,
            flags.c.as_of,
            flags.c.band,
            flags.c.risk,
            flags.c.leading_family,
            flags.c.families,
            flags.c.series,
            flags.c.prompts,
            sa.func.coalesce(latest.c.decision, "open").label("status"),
            runs.c.model_name,
            runs.c.model_version,
            runs.c.data_last_week,
        )
        .join(runs, runs.c.run_id == flags.c.run_id)
        .outerjoin(latest, latest.c.flag_id == flags.c.flag_id)
        .where(flags.c.person_id == pseudonym)
    )
    with store.engine.connect() as connection:
        flag_rows = _frame(connection, flag_query)
        flag_ids = flag_rows["flag_id"].to_list() if flag_rows.height else []
        decision_rows = _frame(
            connection,
            sa.select(
                reviews.c.flag_id,
                reviews.c.decision,
                reviews.c.note,
                reviews.c.reviewer,
                reviews.c.decided_at,
            )
            .where(reviews.c.person_id == pseudonym)
            .order_by(reviews.c.review_id),
        )
        reason_rows = _frame(connection, sa.select(reasons).where(reasons.c.flag_id.in_(flag_ids)))
        targets = {
            f"flag:{f}"
            for f in [*flag_ids, *decision_rows.get_column("flag_id", default=pl.Series()).to_list()]
        }
        about = (
            (audit_log.c.target == f"person:{pseudonym}")
            | (audit_log.c.detail == f"pseudonym:{pseudonym}")
            | audit_log.c.target.in_(sorted(targets))
        )
        audit_rows = _frame(
            connection,
            sa.select(audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.target)
            .where(about & audit_log.c.action.in_(sorted(PERSON_ACTIONS)))
            .order_by(audit_log.c.entry_id),
        )
    return {"flags": flag_rows, "reasons": reason_rows, "decisions": decision_rows, "audit": audit_rows}


def landing_summary(settings: Settings, catalog: Catalog, pseudonym: str) -> dict[str, Any]:
    """What the landing folder holds about one person: signals by week range, events; or why not known."""
    folder = settings.landing_folder()
    note = (
        "ewarn reads these weekly signals about you from the landing folder, which the source systems "
        "fill and keep under their own rules."
    )
    try:
        landing = load_landing(folder)
    except (ContractViolation, OSError):
        return {
            "present": False,
            "note": "The landing folder could not be read, so it is not summarised here.",
        }
    mine = pl.col("person_id") == pseudonym
    signals = (
        landing.signals.filter(mine & pl.col("value").is_not_null())
        .group_by("signal")
        .agg(pl.len().alias("weeks"), pl.col("week").min().alias("first"), pl.col("week").max().alias("last"))
        .sort("signal")
        .collect()
    )
    events = (
        landing.events.filter(mine).select("event", "date").sort("date").collect()
        if landing.events is not None
        else pl.DataFrame(schema={"event": pl.String, "date": pl.Date})
    )
    listed_in_people = (
        landing.people is not None and landing.people.filter(mine).select(pl.len()).collect().item() > 0
    )
    return {
        "present": signals.height > 0 or events.height > 0 or bool(listed_in_people),
        "note": note,
        "signals": [
            {
                "signal": s,
                "label": catalog.signal(s).label,
                "weeks": n,
                "first_week": str(a),
                "last_week": str(b),
            }
            for s, n, a, b in signals.iter_rows()
        ],
        "events": [{"event": e, "date": str(d)} for e, d in events.iter_rows()],
    }


def subject_access(
    settings: Settings, store: FlagStore, catalog: Catalog, pseudonym: str, now: datetime | None = None
) -> dict[str, Any] | None:
    """Everything ewarn holds about `pseudonym`, or None when ewarn knows no such person."""
    rows = person_rows(store, pseudonym)
    listed = pseudonym in excluded_people(settings)
    data_read = landing_summary(settings, catalog, pseudonym)
    known = listed or data_read["present"] or any(frame.height for frame in rows.values())
    if not known:
        return None
    generated = (now or datetime.now(UTC)).replace(microsecond=0).isoformat()
    return subject_access_record(
        pseudonym,
        rows["flags"],
        rows["reasons"],
        rows["decisions"],
        rows["audit"],
        policy=Policy.from_settings(settings),
        catalog=catalog,
        data_read={k: v for k, v in data_read.items() if k != "present"},
        listed=listed,
        generated_at=generated,
    )


@dataclass
class Erasure:
    """What `forget` removed and rewrote."""

    flags: int = 0
    reasons: int = 0
    decisions: int = 0
    newly_listed: bool = False
    reports_rewritten: list[Path] = field(default_factory=list)
    reports_removed: list[Path] = field(default_factory=list)


def forget(settings: Settings, store: FlagStore, catalog: Catalog, pseudonym: str) -> Erasure:
    """Erase one person: opt-out list first, then flags, reasons, decisions and notes with a tombstone.

    The opt-out entry comes first so that, should the store fail, no later run reads the person
    again (running `forget` again finishes the erasure). The nightly reports that name the person
    are written again from the store without them, or removed when their run is gone.
    """
    home = settings.resolved_home()
    erased = Erasure()
    with ExitStack() as locks:
        for job in ("nightly", "retrain"):
            locks.enter_context(job_lock(home, job))
        today = date.today().isoformat()
        erased.newly_listed = add_exclusion(
            settings.exclusions_file(), pseudonym, f"erased {today} (ewarn forget)"
        )
        with store.engine.begin() as connection:
            ids = (
                connection.execute(sa.select(flags.c.flag_id).where(flags.c.person_id == pseudonym))
                .scalars()
                .all()
            )
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                erased.reasons += connection.execute(
                    sa.delete(reasons).where(reasons.c.flag_id.in_(part))
                ).rowcount
            erased.flags = connection.execute(sa.delete(flags).where(flags.c.person_id == pseudonym)).rowcount
            erased.decisions = connection.execute(
                sa.delete(reviews).where(reviews.c.person_id == pseudonym)
            ).rowcount
            detail = (
                f"flags={erased.flags} reasons={erased.reasons} decisions={erased.decisions}; "
                "on the opt-out list"
            )
            audit.append(connection, "cli", ERASURE, f"person:{pseudonym}", detail)
        _rewrite_reports(home, store, catalog, pseudonym, erased)
    return erased


def _rewrite_reports(home: Path, store: FlagStore, catalog: Catalog, pseudonym: str, erased: Erasure) -> None:
    folder = home / "reports"
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.html")):
        if pseudonym not in path.read_text(encoding="utf-8", errors="replace"):
            continue
        week = path.stem.removeprefix("nightly-")
        try:
            run = store.run() if path.name == "latest.html" else store.run(date.fromisoformat(week))
        except ValueError:
            run = None
        if run is None:
            path.unlink()
            erased.reports_removed.append(path)
            continue
        write_text_atomically(path, _report_html(store, run, catalog))
        erased.reports_rewritten.append(path)


def _report_html(store: FlagStore, run: dict[str, Any], catalog: Catalog) -> str:
    chosen = run["details"].get("settings", {})
    summary = RunSummary(
        as_of=run["as_of"],
        data_last_week=run["data_last_week"],
        model_name=run["model_name"],
        model_version=run["model_version"],
        people_scored=run["people_scored"],
        capacity=chosen.get("capacity", 0.0),
        min_risk=chosen.get("min_risk", 0.0),
        threshold=chosen.get("anonymity_threshold", DEFAULT_THRESHOLD),
    )
    run_id = run["run_id"]
    return html_report(
        summary, store.run_flags(run_id), store.run_reasons(run_id), store.run_teams(run_id), catalog
    )


def model_versions(settings: Settings) -> list[dict[str, Any]] | None:
    """Every registered model version and why it got its role; [] before any training, None if unreadable."""
    from models.tracking import model_versions as registered

    if not settings.tracking_uri and not (settings.resolved_home() / "mlflow.db").exists():
        return []
    try:
        return registered(settings.mlflow_uri())
    except Exception:  # a tracking server that is down must not stop a report that can say so
        return None


def works_council(
    settings: Settings, store: FlagStore, catalog: Catalog, months: int, now: datetime | None = None
) -> dict[str, Any]:
    """The works council's figures over the last `months` months (see `models.works_council`)."""
    now = now or datetime.now(UTC)
    text, number = pl.String, pl.Int64
    with store.engine.connect() as connection:
        run_rows = _frame(
            connection,
            sa.select(
                runs.c.run_id, runs.c.as_of, runs.c.people_scored, runs.c.flag_count, runs.c.model_version
            ),
            {
                "run_id": text,
                "as_of": pl.Date,
                "people_scored": number,
                "flag_count": number,
                "model_version": text,
            },
        )
        team_rows = _frame(
            connection,
            sa.select(team_runs.c.run_id, team_runs.c.team_id, team_runs.c.people, team_runs.c.flagged),
            {"run_id": text, "team_id": text, "people": number, "flagged": number},
        )
        decision_rows = _frame(
            connection,
            sa.select(reviews.c.review_id, reviews.c.flag_id, reviews.c.decision, reviews.c.decided_at),
            {"review_id": number, "flag_id": text, "decision": text, "decided_at": text},
        )
        audit_rows = _frame(
            connection,
            sa.select(audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.detail),
            {"at": text, "actor": text, "action": text, "detail": text},
        )
    latest = store.run()
    fairness = (latest["details"].get("model") or {}).get("fairness") if latest else None
    return works_council_summary(
        run_rows,
        team_rows,
        decision_rows,
        audit_rows,
        policy=Policy.from_settings(settings),
        months=months,
        now=now,
        fairness=fairness,
        versions=model_versions(settings),
        opt_outs=len(excluded_people(settings)),
        catalog_families=catalog_families(catalog),
    )


def champion_in_force(store: FlagStore) -> dict[str, Any] | None:
    """The model of the latest nightly run (name, version), or None before the first run."""
    run = store.run()
    return {"name": run["model_name"], "version": run["model_version"]} if run else None


def record_json(record: dict[str, Any]) -> str:
    """A subject-access record as pretty JSON."""
    return json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n"
