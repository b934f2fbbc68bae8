"""The nightly Prefect flow: validate, build the as-of features, score, flag, explain, store, report.

Each task calls one pure function from features/ or models/, or does one piece of I/O; only the
I/O tasks retry. Everything a run produces goes to the flag store in one transaction at the end,
and the HTML report is written (atomically) only after that, so a run that dies anywhere leaves
the store and the previous report as they were.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, task, unmapped
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from features.build import (
    ColumnPlan,
    FeatureRequest,
    add_team_features,
    partition_tables,
    person_features,
    plan_columns,
)
from features.catalog import Catalog, load_catalog
from features.contract_specs import person_partition
from features.labels import first_outcomes
from features.latest_week import latest_week, people_by_week
from features.windows import LOOKBACK_WEEKS
from flows.exclusions import honour_exclusions
from flows.landing import Landing, load_landing, week_in_data
from flows.lock import job_lock
from flows.modelling import AS_OF_PARTITION_SIGNAL_ROWS, data_fingerprint, partition_count_for
from flows.progress import step
from flows.report import RunSummary, html_report, markdown_summary
from flows.retention import RetentionStep, old_reports, remove_reports
from flows.settings import Settings
from flows.store import FlagStore, RunRecord
from flows.tables import check_writable_folder, write_text_atomically
from flows.task_policy import IO, PURE, PermanentError
from models.attribution import attribute
from models.competing import CompetingRisks, risk_curves
from models.explain import explain, family_contributions
from models.flag_details import (
    SERIES_WEEKS,
    families_json,
    flag_rows,
    series_signals,
    signal_series,
    team_rows,
)
from models.flagging import FlagPolicy, choose_flags
from models.train import FittedModel, from_calibrated, score_rows


class NoChampionError(PermanentError):
    """The registry has no champion model yet: train one first."""


@dataclass(frozen=True)
class Champion:
    """The champion model, ready to score and explain, with what reviewers may read about it."""

    model: FittedModel
    details: dict[str, Any]
    # Each outcome's own risk over time; None for a champion trained without it.
    outcome_risks: CompetingRisks | None = None


@dataclass(frozen=True)
class NightlyResult:
    """What one nightly run did and where its outputs are."""

    run_id: str
    as_of: date
    model_version: str
    people_scored: int
    flags: pl.DataFrame
    report: Path
    summary: str
    # Reviewed flags of an earlier run of the same week, kept with their decisions.
    kept_reviewed: int = 0
    # What the run wants its reader to know (a later week passed over, say), in sentences.
    notes: tuple[str, ...] = ()


@task(name="validate-landing", **IO)
def read_landing(folder: Path) -> Landing:
    """Validate the landing folder against the input contract and open its tables lazily."""
    return load_landing(folder)


def resolve_as_of(landing: Landing, requested: date | None) -> tuple[date, tuple[str, ...]]:
    """The week to score, and a note when the default passed over later weeks.

    The one asked for; else the last week most people have signals in (features.latest_week),
    which is the data's last week unless only a few people reach into later weeks.
    """
    latest = latest_week(people_by_week(landing.signals))
    if requested is None:
        if not latest.skips_later_weeks:
            return latest.week, ()
        return latest.week, (
            f"The data's last week ({latest.last_week}) has signals for only {latest.last_week_people:,} "
            f"people against {latest.people:,} in the week of {latest.week}, so the week of {latest.week} "
            f"was scored: the last week most people have. Give --as-of {latest.last_week} to score the "
            "later week anyway.",
        )
    return week_in_data(landing, requested), ()


@task(name="partition-features", **PURE)
def partition_features(
    landing: Landing, catalog: Catalog, request: FeatureRequest, plan: ColumnPlan, partitions: int, index: int
) -> pl.DataFrame:
    """Features of one partition of people: everything that depends on a person's own data."""
    tables = partition_tables(landing.signals, landing.events, landing.people, partitions, index)
    return person_features(*tables, catalog, request, plan).collect()


@task(name="team-features", **PURE)
def team_features(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The partitions together, with each signal's deviation against the team's."""
    return add_team_features(pl.concat(parts, how="diagonal_relaxed").lazy()).collect()


def as_of_features(landing: Landing, catalog: Catalog, as_of: date, settings: Settings) -> pl.DataFrame:
    """One row per person present in the as-of week, built partition by partition on the task runner.

    Only the history the features need is read (see features.build).
    """
    request = FeatureRequest(as_of=as_of, outcome_events=settings.outcome_events)
    plan = plan_columns(landing.signals, landing.events, request)
    partitions = partition_count_for(landing, settings.partitions, AS_OF_PARTITION_SIGNAL_ROWS)
    futures = partition_features.map(
        unmapped(landing),
        unmapped(catalog),
        unmapped(request),
        unmapped(plan),
        unmapped(partitions),
        range(partitions),
    )
    return team_features([future.result() for future in futures])


def people_after_outcome(landing: Landing, as_of: date, outcomes: tuple[str, ...]) -> pl.DataFrame:
    """People whose first outcome event falls on or before the as-of week: never flagged."""
    if landing.events is None:
        return pl.DataFrame(schema={"person_id": pl.String})
    known = landing.events.filter(pl.col("date") < as_of + timedelta(weeks=1))
    return (
        first_outcomes(known, outcomes).filter(pl.col("outcome_week") <= as_of).select("person_id").collect()
    )


@task(name="load-champion", **IO)
def load_champion(uri: str) -> Champion:
    """The model holding the `champion` alias in the MLflow registry, and its card and metrics."""
    from models.tracking import (
        champion_details,
        check_reachable,
        current_champion,
        load_learnt_directions,
        load_model,
        load_outcome_risks,
    )

    check_reachable(uri, must_exist=True)
    info = current_champion(uri)
    if info is None:
        raise NoChampionError(
            f"The model registry at {uri} has no champion yet. Train one first with "
            "`ewarn train --data DIR` (or run `ewarn demo` to see the whole pipeline on simulated data)."
        )
    calibrated, features = load_model(uri, info.version)
    learnt = load_learnt_directions(uri, info.run_id)
    model = from_calibrated(info.params.get("model", "unknown"), calibrated, features, learnt)
    return Champion(model, champion_details(uri, info), load_outcome_risks(uri, info.run_id))


@task(name="read-flag-history", **IO)
def read_history(store: FlagStore, as_of: date) -> pl.DataFrame:
    """Earlier flags and their review status, for the cooldown and the one-review-at-a-time rules."""
    return store.flag_history(before=as_of)


@task(name="score", **PURE)
def score_partition(model: FittedModel, rows: pl.DataFrame) -> pl.DataFrame:
    """Calibrated risk for every person of one partition."""
    return score_rows(model, rows)


def score(model: FittedModel, rows: pl.DataFrame, partitions: int) -> pl.DataFrame:
    """Calibrated risk for every person in the as-of week, partition by partition on the task runner."""
    parts = [rows.filter(person_partition(pl.col("person_id"), partitions, k)) for k in range(partitions)]
    futures = score_partition.map(unmapped(model), parts)
    return pl.concat([f.result() for f in futures]).sort("person_id")


@task(name="choose-flags", **PURE)
def choose(
    scored: pl.DataFrame, history: pl.DataFrame, as_of: date, policy: FlagPolicy, after: pl.DataFrame
) -> pl.DataFrame:
    """Tonight's flags under reviewer capacity, minimum risk, cooldown and open reviews."""
    return choose_flags(scored, history, as_of, policy, after_outcome=after)


@task(name="history-starts", **PURE)
def history_starts(landing: Landing, rows: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """The first week each signal of each flagged person is observed, within what features read.

    The reasons then name the normal that history supports (models.history_words).
    """
    return (
        landing.signals.filter(
            pl.col("week").is_between(as_of - timedelta(weeks=LOOKBACK_WEEKS), as_of, closed="right")
            & pl.col("person_id").is_in(rows["person_id"].to_list())
        )
        .group_by("person_id", "signal")
        .agg(pl.col("week").min().alias("since"))
        .collect()
    )


@task(name="explain-flags", **PURE)
def explain_flags(
    model: FittedModel, rows: pl.DataFrame, catalog: Catalog, starts: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Reasons in words and family contributions for the flagged rows only (exact SHAP)."""
    attribution = attribute(model, rows)  # once for both: the exact SHAP values are the costly part
    reasons = explain(model, rows, catalog, attribution=attribution, history_start=starts)
    return reasons, families_json(family_contributions(model, rows, catalog, attribution), catalog)


@task(name="outcome-risk-curves", **PURE)
def outcome_curves(
    model: CompetingRisks | None, rows: pl.DataFrame, chosen: pl.DataFrame, horizon: int
) -> dict[str, str]:
    """Each flagged person's risk per outcome at 4, 8, 12 and 26 weeks, adding up to their flag's
    risk within the horizon (none without the model)."""
    if model is None:
        return {}
    combined = rows.select("person_id").join(chosen.select("person_id", "risk"), on="person_id", how="left")
    return risk_curves(model, rows, horizon, combined["risk"].to_numpy())


@task(name="recent-signal-weeks", **PURE)
def recent_series(
    landing: Landing, rows: pl.DataFrame, reasons: pl.DataFrame, as_of: date, catalog: Catalog
) -> dict[str, str]:
    """The last weeks of the signals behind each flag's reasons, against the person's normal."""
    wanted = series_signals(reasons, catalog)
    if not wanted:
        return {}
    signals = landing.signals.filter(
        pl.col("week").is_between(as_of - timedelta(weeks=SERIES_WEEKS - 1), as_of)
        & pl.col("person_id").is_in(list(wanted))
        & pl.col("signal").is_in(sorted({s for v in wanted.values() for s in v}))
    ).collect()
    return signal_series(signals, rows, wanted, as_of, catalog)


@task(name="store-run", **IO)
def store_run(
    store: FlagStore,
    record: RunRecord,
    flags: pl.DataFrame,
    reasons: pl.DataFrame,
    teams: pl.DataFrame,
    retention: RetentionStep | None = None,
) -> int:
    """Write the run, its flags, reasons and team counts in one transaction (replacing a re-run's
    undecided flags), with the retention purge inside it; return how many reviewed flags of an
    earlier run of the week were kept."""
    return store.write_run(record, flags, reasons, teams, then=retention)


@task(name="write-report", **IO)
def write_report(home: Path, as_of: date, html: str) -> Path:
    """This week's static HTML report in the home folder, and `latest.html` unless a later week's is there.

    Re-running an earlier week (--as-of) must never put it in place of the newest.
    """
    folder = home / "reports"
    path = folder / f"nightly-{as_of.isoformat()}.html"
    write_text_atomically(path, html)
    if as_of >= max(_report_weeks(folder), default=as_of):
        write_text_atomically(folder / "latest.html", html)
    return path


def _report_weeks(folder: Path) -> list[date]:
    weeks = []
    for report in folder.glob("nightly-*.html"):
        try:
            weeks.append(date.fromisoformat(report.stem.removeprefix("nightly-")))
        except ValueError:  # a file someone else put there
            continue
    return weeks


def task_runner(dask_address: str | None = None) -> Any:
    """Threads in this process by default; an existing Dask cluster when given its scheduler address.

    On a cluster, every worker must see the landing folder at the same path (a shared file system).
    """
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    # One partition at a time: Polars already uses every core, and memory stays one partition's.
    return ThreadPoolTaskRunner(max_workers=1)


@flow(name="nightly", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=1))
def nightly(settings: Settings | None = None, as_of: str | None = None) -> NightlyResult:
    """Score the as-of week with the champion and publish explained flags to the flag store.

    `settings` are typed and recorded with every flow run and deployment (home, landing folder,
    catalog, capacity, thresholds, ...); None reads them from the EWARN_* environment. `as_of`
    (YYYY-MM-DD, as the Prefect UI sets it) defaults to the last week most people have data for.
    """
    return run_nightly(settings or Settings(), date.fromisoformat(as_of) if as_of else None)


def run_nightly(settings: Settings, requested_as_of: date | None = None) -> NightlyResult:
    """The body of the nightly flow (call it inside a flow run, or through `nightly`)."""

    home = settings.resolved_home()
    with job_lock(home, "nightly"):
        catalog = load_catalog(settings.catalog)
        # Stores and the report folder first: an hour of features is no use if they refuse.
        check_writable_folder(home / "reports")
        store = FlagStore(settings.flag_store_url())
        step("Validating the landing folder")
        landing = honour_exclusions(read_landing(settings.landing_folder()), settings)
        as_of, notes = resolve_as_of(landing, requested_as_of)
        step(f"Building features for the week of {as_of}")
        rows = as_of_features(landing, catalog, as_of, settings)
        step("Loading the champion model")
        champion = load_champion(settings.mlflow_uri())
        history = read_history(store, as_of)
        step(f"Scoring {rows.height:,} people")
        scored = score(
            champion.model,
            rows,
            partition_count_for(landing, settings.partitions, AS_OF_PARTITION_SIGNAL_ROWS),
        )
        policy = FlagPolicy(settings.capacity, settings.min_risk, settings.cooldown_weeks, settings.risk_rise)
        after = people_after_outcome(landing, as_of, settings.outcome_events)
        chosen = choose(scored, history, as_of, policy, after)
        step(f"Explaining {chosen.height} flags")
        flagged_rows = rows.join(chosen.select("person_id"), on="person_id", how="semi")
        starts = history_starts(landing, flagged_rows, as_of)
        reasons, families = explain_flags(champion.model, flagged_rows, catalog, starts)
        series = recent_series(landing, flagged_rows, reasons, as_of, catalog)
        horizon = int(champion.details.get("horizon_weeks", settings.horizon_weeks))
        curves = outcome_curves(champion.outcome_risks, flagged_rows, chosen, horizon)
        flags, reason_rows = flag_rows(chosen, reasons, families, series, as_of, curves)
        teams = team_rows(scored, flags)
        fingerprint = data_fingerprint(landing)
        record = RunRecord(
            run_id=uuid.uuid4().hex,
            as_of=as_of,
            model_name=champion.model.name,
            model_version=champion.details["version"],
            data_sha256=fingerprint["sha256"],
            data_last_week=date.fromisoformat(fingerprint["last_week"]),
            people_scored=scored.height,
            details={
                "settings": {
                    "capacity": settings.capacity,
                    "min_risk": settings.min_risk,
                    "cooldown_weeks": settings.cooldown_weeks,
                    "risk_rise": settings.risk_rise,
                    # The champion's: the horizon its scores are a risk over.
                    "horizon_weeks": horizon,
                    "anonymity_threshold": settings.anonymity_threshold,
                },
                "data": fingerprint,
                "model": champion.details,
                "leading_families": {
                    f: n for f, n in flags.group_by("leading_family").len().iter_rows() if f
                },
            },
        )
        step("Storing the run in the flag store")
        retention = RetentionStep(settings)
        kept = store_run(store, record, flags, reason_rows, teams, retention)
        if kept:
            notes += (
                f"{kept} reviewed {'flag' if kept == 1 else 'flags'} of an earlier run for this week "
                "kept with their decisions; only undecided flags were replaced.",
            )
        summary_facts = RunSummary(
            as_of=as_of,
            data_last_week=record.data_last_week,
            model_name=record.model_name,
            model_version=record.model_version,
            people_scored=record.people_scored,
            capacity=settings.capacity,
            min_risk=settings.min_risk,
            threshold=settings.anonymity_threshold,
            notes=notes,
        )
        step("Writing the report")
        report = write_report(home, as_of, html_report(summary_facts, flags, reason_rows, teams, catalog))
        if retention.counts is not None:
            remove_reports(old_reports(home, retention.counts.plan.flags_before))
        summary = markdown_summary(summary_facts, flags, teams, catalog)
        create_markdown_artifact(summary, key="ewarn-nightly-summary", description=f"Flags for {as_of}")
        create_link_artifact(
            report.as_uri(),
            link_text=report.name,
            key="ewarn-nightly-report",
            description="Static HTML report",
        )
        store.dispose()
        return NightlyResult(
            record.run_id, as_of, record.model_version, scored.height, flags, report, summary, kept, notes
        )
