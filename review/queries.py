"""What the review pages show, read from the flag store and cut to what the user may see.

Every function takes the user and applies the team rule in the query itself, so a page cannot
show a flag of a team the user may not see by forgetting a check.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date
from typing import Any

import polars as pl
import sqlalchemy as sa

from features.catalog import Catalog
from flows.store import FlagStore
from flows.store_schema import DECISIONS, OPEN, flags, latest_decisions, reasons, reviews, runs, team_runs
from models.anonymity import suppressed_in_view, total_is_safe
from models.flag_records import FlagRecord
from models.reviewed import false_alarm_rate_by_family
from review.auth import User

RECENT_RUNS = 12
TREND_RUNS = 8
DECISION_LABELS = {
    "conversation_planned": "Conversation planned",
    "not_a_concern": "Not a concern",
    "false_alarm": "False alarm",
    "other": "Other",
}
STATUSES = (OPEN, *DECISIONS)
SORTS = ("risk", "age")


def _visible(user: User, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """SQL condition: the team column is one the user may see."""
    if user.is_admin:
        return sa.true()
    return column.in_(list(user.teams)) if user.teams else sa.false()


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def recent_weeks(store: FlagStore, count: int = RECENT_RUNS) -> list[date]:
    """The as-of weeks of the latest `count` runs, newest first."""
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(runs.c.as_of).order_by(runs.c.as_of.desc()).limit(count))
        return [_as_date(r[0]) for r in rows]


def queue(
    store: FlagStore,
    user: User,
    *,
    team: str | None = None,
    family: str | None = None,
    status: str = OPEN,
    sort: str = "risk",
) -> list[dict[str, Any]]:
    """One row per pseudonym the user may see: their latest flag, if it matches the filters.

    A person flagged again before anyone decided keeps one row (the latest flag); `open_since` is
    the first of their flags since their last decision, so "age" is how long they have waited.
    `weeks_flagged` counts the latest runs that flagged the pseudonym. `status` is "open", a
    decision, or "all"; `sort` is "risk" (highest first) or "age" (longest waiting first).
    """
    latest = latest_decisions()
    query = (
        sa.select(
            flags.c.flag_id,
            flags.c.person_id,
            flags.c.team_id,
            flags.c.risk,
            flags.c.band,
            flags.c.as_of,
            flags.c.leading_family,
            sa.func.coalesce(latest.c.decision, OPEN).label("status"),
        )
        .outerjoin(latest, latest.c.flag_id == flags.c.flag_id)
        .where(_visible(user, flags.c.team_id))
        .order_by(flags.c.person_id, flags.c.as_of.desc())
    )
    with store.engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(query).mappings()]
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        row["as_of"] = _as_date(row["as_of"])
        by_person[row["person_id"]].append(row)
    picked = []
    for person_flags in by_person.values():
        head = dict(person_flags[0])
        waiting = [f["as_of"] for f in _open_streak(person_flags)]
        head["open_since"] = min(waiting) if waiting else head["as_of"]
        picked.append(head)
    picked = [
        r
        for r in picked
        if (team is None or r["team_id"] == team)
        and (family is None or r["leading_family"] == family)
        and (status == "all" or r["status"] == status)
    ]
    counts = weeks_flagged(store, [r["person_id"] for r in picked])
    sentences = _reason_sentences(store, [r["flag_id"] for r in picked])
    newest = recent_weeks(store, 1)
    for row in picked:
        row["weeks_flagged"] = counts.get(row["person_id"], 0)
        row["reasons"] = sentences.get(row["flag_id"], [])
        row["age_weeks"] = ((newest[0] if newest else row["as_of"]) - row["open_since"]).days // 7
    if sort == "age":
        picked.sort(key=lambda r: (r["open_since"], -r["risk"], r["flag_id"]))
    else:
        picked.sort(key=lambda r: (-r["risk"], r["open_since"], r["flag_id"]))
    return picked


def _open_streak(person_flags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The person's flags, newest first, up to their last decided one."""
    streak = []
    for flag in person_flags:
        if flag["status"] != OPEN:
            break
        streak.append(flag)
    return streak


def weeks_flagged(store: FlagStore, people: list[str], count: int = RECENT_RUNS) -> dict[str, int]:
    """How many of the latest `count` runs flagged each pseudonym."""
    weeks = recent_weeks(store, count)
    if not people or not weeks:
        return {}
    query = (
        sa.select(flags.c.person_id, sa.func.count(sa.distinct(flags.c.as_of)))
        .where(flags.c.as_of.in_(weeks), flags.c.person_id.in_(sorted(set(people))))
        .group_by(flags.c.person_id)
    )
    with store.engine.connect() as connection:
        return {person: int(n) for person, n in connection.execute(query)}


def _reason_sentences(store: FlagStore, flag_ids: list[str]) -> dict[str, list[str]]:
    if not flag_ids:
        return {}
    query = (
        sa.select(reasons.c.flag_id, reasons.c.sentence)
        .where(reasons.c.flag_id.in_(flag_ids))
        .order_by(reasons.c.flag_id, reasons.c.rank)
    )
    found: dict[str, list[str]] = defaultdict(list)
    with store.engine.connect() as connection:
        for flag, sentence in connection.execute(query):
            found[flag].append(sentence)
    return dict(found)


def queue_options(store: FlagStore, user: User) -> dict[str, list[str]]:
    """The teams and leading families the user's queue filters can offer."""
    with store.engine.connect() as connection:
        teams = connection.execute(
            sa.select(flags.c.team_id)
            .distinct()
            .where(_visible(user, flags.c.team_id), flags.c.team_id.is_not(None))
            .order_by(flags.c.team_id)
        ).scalars()
        families = connection.execute(
            sa.select(flags.c.leading_family)
            .distinct()
            .where(_visible(user, flags.c.team_id), flags.c.leading_family.is_not(None))
            .order_by(flags.c.leading_family)
        ).scalars()
        return {"teams": list(teams), "families": list(families)}


def flag_detail(store: FlagStore, user: User, flag_id: str) -> dict[str, Any] | None:
    """Everything the flag page shows, or None when the flag does not exist or the user may not see it.

    Both cases give None on purpose: the page must not tell them apart.
    """
    latest = latest_decisions()
    query = (
        sa.select(
            flags,
            sa.func.coalesce(latest.c.decision, OPEN).label("status"),
            runs.c.model_name,
            runs.c.model_version,
            runs.c.data_last_week,
        )
        .join(runs, runs.c.run_id == flags.c.run_id)
        .outerjoin(latest, latest.c.flag_id == flags.c.flag_id)
        .where(flags.c.flag_id == flag_id, _visible(user, flags.c.team_id))
    )
    with store.engine.connect() as connection:
        row = connection.execute(query).mappings().first()
        if row is None:
            return None
        flag = dict(row)
        record = FlagRecord.from_row(flag)
        # The page's charts and template read plain mappings.
        flag["families"] = [asdict(family) for family in record.families]
        flag["series"] = [asdict(series) for series in record.series]
        flag["prompts"] = list(record.prompts)
        flag["outcome_risks"] = record.outcome_risks  # typed: the page's chart and sentence read it
        flag["as_of"] = _as_date(flag["as_of"])
        flag["reasons"] = [
            dict(r)
            for r in connection.execute(
                sa.select(reasons).where(reasons.c.flag_id == flag_id).order_by(reasons.c.rank)
            ).mappings()
        ]
        flag["history"] = [
            {**r, "as_of": _as_date(r["as_of"])}
            for r in connection.execute(
                sa.select(
                    flags.c.flag_id,
                    flags.c.as_of,
                    flags.c.band,
                    flags.c.leading_family,
                    sa.func.coalesce(latest.c.decision, OPEN).label("status"),
                )
                .outerjoin(latest, latest.c.flag_id == flags.c.flag_id)
                .where(
                    flags.c.person_id == flag["person_id"],
                    flags.c.flag_id != flag_id,
                    _visible(user, flags.c.team_id),
                )
                .order_by(flags.c.as_of.desc())
            ).mappings()
        ]
        visible_flags = sa.select(flags.c.flag_id).where(
            flags.c.person_id == flag["person_id"], _visible(user, flags.c.team_id)
        )
        flag["decisions"] = [
            dict(r)
            for r in connection.execute(
                sa.select(reviews, flags.c.as_of)
                .join(flags, flags.c.flag_id == reviews.c.flag_id)
                .where(reviews.c.person_id == flag["person_id"], reviews.c.flag_id.in_(visible_flags))
                .order_by(reviews.c.review_id.desc())
            ).mappings()
        ]
    flag["weeks_flagged"] = weeks_flagged(store, [flag["person_id"]]).get(flag["person_id"], 0)
    return flag


def teams_overview(store: FlagStore, user: User, threshold: int, catalog: Catalog) -> dict[str, Any]:
    """Teams of the latest run the user may see, each at or above the anonymity threshold.

    Suppression runs per run over the whole organisation and then over the user's own teams
    (see `review.anonymity`), so neither the organisation's totals nor this page's total give a
    hidden team away. The trend is the share flagged over the latest runs, hidden in runs where
    the team was suppressed.
    """
    weeks = sorted(recent_weeks(store, TREND_RUNS))
    if not weeks:
        return {"run": None, "rows": [], "hidden": 0, "total": None}
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(runs.c.as_of, team_runs)
            .join(runs, runs.c.run_id == team_runs.c.run_id)
            .where(runs.c.as_of.in_(weeks))
        ).mappings()
        per_run: dict[date, dict[str, Mapping[str, Any]]] = defaultdict(dict)
        for row in rows:
            per_run[_as_date(row["as_of"])][row["team_id"]] = row
    shown_share: dict[date, dict[str, float]] = {}
    for week, teams in per_run.items():
        sizes = {t: int(r["people"]) for t, r in teams.items()}
        visible = [t for t in sizes if user.may_see(t)]
        hidden = suppressed_in_view(sizes, visible, threshold)
        shown_share[week] = {
            t: int(teams[t]["flagged"]) / sizes[t] for t in visible if t not in hidden and sizes[t] > 0
        }
    latest = weeks[-1]
    teams = per_run.get(latest, {})
    sizes = {t: int(r["people"]) for t, r in teams.items()}
    visible = sorted(t for t in sizes if user.may_see(t))
    hidden = suppressed_in_view(sizes, visible, threshold)
    out_rows = []
    for team in visible:
        if team in hidden:
            continue
        record = teams[team]
        out_rows.append(
            {
                "team_id": team,
                "people": sizes[team],
                "flagged": int(record["flagged"]),
                "share": shown_share[latest].get(team),
                "leading": [catalog.family(f).label for f in json.loads(record["leading_families"] or "[]")],
                "trend": [shown_share[w].get(team) if w in shown_share else None for w in weeks],
            }
        )
    visible_sizes = {t: sizes[t] for t in visible}
    total = None
    if visible and total_is_safe(visible_sizes, hidden & set(visible), threshold):
        people = sum(visible_sizes.values())
        flagged = sum(int(teams[t]["flagged"]) for t in visible)
        total = {"people": people, "flagged": flagged, "share": flagged / people if people else None}
    return {
        "run": latest,
        "weeks": weeks,
        "rows": out_rows,
        "hidden": len(hidden & set(visible)),
        "total": total,
        "threshold": threshold,
    }


def model_overview(store: FlagStore, user: User, threshold: int, catalog: Catalog) -> dict[str, Any] | None:
    """The champion of the latest run (metrics, fairness audit, card) and false alarms by family.

    The false-alarm rate counts each reviewed flag once, by its latest decision, under the flag's
    leading family, and only flags of teams the user may see (an admin sees decisions on flags a
    re-run has since removed, too). A family with fewer than `threshold` reviewed flags is not
    shown, as a team under it is not: a rate over a handful is a judgement about a few people.
    """
    run = store.run()
    if run is None:
        return None
    query = (
        sa.select(reviews.c.review_id, reviews.c.flag_id, reviews.c.decision, flags.c.leading_family)
        .outerjoin(flags, flags.c.flag_id == reviews.c.flag_id)
        .where(_visible(user, flags.c.team_id))
    )
    with store.engine.connect() as connection:
        decided = pl.DataFrame(
            [tuple(r) for r in connection.execute(query)],
            schema={
                "review_id": pl.Int64,
                "flag_id": pl.String,
                "decision": pl.String,
                "leading_family": pl.String,
            },
            orient="row",
        )
    by_family = [
        {
            "family": family,
            "label": catalog.family(family).label,
            "reviewed": reviewed,
            "false_alarms": false_alarms,
            "rate": rate,
        }
        for family, reviewed, false_alarms, rate in false_alarm_rate_by_family(decided).iter_rows()
    ]
    model = dict(run["details"].get("model") or {})
    return {
        "run": run,
        "model": model,
        "false_alarms": [r for r in by_family if r["reviewed"] >= threshold],
        "false_alarms_hidden": sum(1 for r in by_family if r["reviewed"] < threshold),
        "threshold": threshold,
    }
