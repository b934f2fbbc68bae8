"""Assemble every signal family into one point-in-time feature table: a row per person and week.

Every value at week t is computed from data dated at or before week t only. Lazy end to end: the
caller collects once. Two tiny look-ups (which signals and which events exist) run first, because
they decide the columns of the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from features import as_of_week, drift, twins
from features.catalog import Catalog, SignalInfo
from features.columns import (
    family_column,
    feature_of,
    is_family_column,
    signal_column,
    signal_of,
)
from features.context import add_tenure, add_weeks_since_events, deviation_vs_team, hire_weeks
from features.contract_specs import person_partition
from features.grid import PERSON, WEEK, catalog_frame, series_grid
from features.labels import DEFAULT_OUTCOMES, add_labels
from features.manifest import last_observed_week
from features.windows import LOOKBACK_WEEKS

KEYS = (PERSON, WEEK)
LABEL_COLUMNS = ("label", "weeks_to_outcome", "outcome", "eligible")
# Context events that are not outcomes: hires give tenure instead; anything else becomes
# "weeks since the last <event>".
_NOT_CONTEXT = {"hired"}


@dataclass(frozen=True)
class FeatureRequest:
    """What to build: every week (training) or one as-of week (scoring), with or without labels."""

    as_of: date | None = None
    horizon: int = 12
    with_labels: bool = False
    outcome_events: tuple[str, ...] = DEFAULT_OUTCOMES
    # The end of observation a landing folder's manifest declares (features.manifest): labels are
    # censored against it instead of against the data's last week.
    observed_until: date | None = None


def monday_of(day: date) -> date:
    """The Monday of the ISO week a day falls in."""
    return day - timedelta(days=day.weekday())


def feature_columns(columns: list[str]) -> list[str]:
    """The model inputs among a feature table's columns: everything but keys, team and labels."""
    excluded = {*KEYS, "team_id", *LABEL_COLUMNS}
    return [c for c in columns if c not in excluded]


def _wide(long: pl.LazyFrame, signals: list[str], features: tuple[str, ...]) -> pl.LazyFrame:
    # One filtered slice per signal joined on the keys: measured faster than a lazy pivot here.
    wide = long.select(*KEYS).unique()
    for name in signals:
        part = long.filter(pl.col("signal") == name).select(
            *KEYS, *(pl.col(f).alias(signal_column(name, f)) for f in features)
        )
        wide = wide.join(part, on=list(KEYS), how="left")
    return wide


def _family_summaries(infos: dict[str, SignalInfo]) -> list[pl.Expr]:
    families: dict[str, list[pl.Expr]] = {}
    for name, info in infos.items():
        if info.risk_sign == 0:
            continue
        directed = pl.col(signal_column(name, "deviation")) * info.risk_sign
        families.setdefault(info.family, []).append(directed)
        families.setdefault("all", []).append(directed)
    return [pl.mean_horizontal(exprs).alias(family_column(f)) for f, exprs in sorted(families.items())]


def build_features(
    signals: pl.LazyFrame,
    events: pl.LazyFrame | None,
    people: pl.LazyFrame | None,
    catalog: Catalog,
    request: FeatureRequest | None = None,
) -> pl.LazyFrame:
    """Point-in-time features for every person-week (or every person at `request.as_of`).

    Inputs are the validated landing tables (see flows.landing). Output columns: `person_id`,
    `week`, `team_id`, `{signal}__{feature}` per signal, survey and absence features for those
    kinds, `family:{family}__risk_deviation`, tenure and weeks since context events, and with
    labels `label`, `weeks_to_outcome`, `outcome`, `eligible`.

    For one as-of week the person features are computed here (one row per person, small) and
    only the team-relative columns stay lazy; for every week the whole plan stays lazy.
    """
    frame = person_features(signals, events, people, catalog, request)
    if request is not None and request.as_of is not None:
        # One row per person: collected before the team windows, the one-week plan runs faster than
        # as one plan, as the nightly runs it (docs/research.md).
        frame = frame.collect().lazy()
    return add_team_features(frame)


def build_features_by_partition(
    signals: pl.LazyFrame,
    events: pl.LazyFrame | None,
    people: pl.LazyFrame | None,
    catalog: Catalog,
    request: FeatureRequest | None = None,
    partitions: int = 1,
) -> pl.DataFrame:
    """`build_features`, collected one partition of people at a time (a hash of the pseudonym).

    Everything about a person is computed within their partition, so memory follows the
    partition's size; only the team-relative columns need everyone, and they are added to the
    (much smaller) result. The table is identical for any number of partitions.
    """
    request = request or FeatureRequest()
    plan = plan_columns(signals, events, request)
    parts = [
        person_features(
            *partition_tables(signals, events, people, partitions, k), catalog, request, plan
        ).collect()
        for k in range(partitions)
    ]
    return add_team_features(pl.concat(parts, how="diagonal_relaxed").lazy()).collect()


def partition_tables(
    signals: pl.LazyFrame,
    events: pl.LazyFrame | None,
    people: pl.LazyFrame | None,
    partitions: int,
    index: int,
) -> tuple[pl.LazyFrame, pl.LazyFrame | None, pl.LazyFrame | None]:
    """The landing tables' rows of partition `index` of `partitions` (by a hash of the pseudonym)."""
    if partitions <= 1:
        return signals, events, people
    mine = person_partition(pl.col(PERSON), partitions, index)
    return (
        signals.filter(mine),
        events.filter(mine) if events is not None else None,
        people.filter(mine) if people is not None else None,
    )


@dataclass(frozen=True)
class ColumnPlan:
    """What decides the table's columns and labels, looked up once on all the data."""

    known_until: date
    signal_names: tuple[str, ...]
    context_events: tuple[str, ...]


def _restrict(
    signals: pl.LazyFrame, events: pl.LazyFrame | None, request: FeatureRequest
) -> tuple[pl.LazyFrame, pl.LazyFrame | None]:
    """For one as-of week: only the history its features need, and only events known by then."""
    if request.as_of is None:
        return signals, events
    as_of = monday_of(request.as_of)
    start = as_of - timedelta(weeks=LOOKBACK_WEEKS)
    signals = signals.filter(pl.col(WEEK).is_between(start, as_of, closed="right"))
    if events is not None:
        events = events.filter(pl.col("date") < as_of + timedelta(weeks=1))
    return signals, events


def plan_columns(signals: pl.LazyFrame, events: pl.LazyFrame | None, request: FeatureRequest) -> ColumnPlan:
    """The two tiny look-ups that fix the columns (which signals, which events) and the label horizon."""
    # Outcomes are known as far as either table reaches: a snapshot of signals with later events
    # still has observed horizons. A declared end of observation says it better than either.
    known_until = signals.select(pl.col(WEEK).max()).collect().item()
    if request.observed_until is not None:
        known_until = last_observed_week(request.observed_until)
    elif events is not None and request.with_labels:
        last_event = events.select(pl.col("date").max()).collect().item()
        if last_event is not None:
            known_until = max(known_until, monday_of(last_event))
    signals, events = _restrict(signals, events, request)
    names = sorted(signals.select(pl.col("signal").unique()).collect().to_series().to_list())
    context: list[str] = []
    if events is not None:
        outcome_set = set(request.outcome_events)
        found = events.select(pl.col("event").unique()).collect().to_series().to_list()
        context = sorted(n for n in found if n not in outcome_set and n not in _NOT_CONTEXT)
    return ColumnPlan(known_until, tuple(names), tuple(context))


def person_features(
    signals: pl.LazyFrame,
    events: pl.LazyFrame | None,
    people: pl.LazyFrame | None,
    catalog: Catalog,
    request: FeatureRequest | None = None,
    plan: ColumnPlan | None = None,
) -> pl.LazyFrame:
    """Every feature that depends on one person's own data only (all but the team-relative ones).

    `plan` fixes the columns; give the plan of all the data when this runs on one partition.
    """
    request = request or FeatureRequest()
    plan = plan or plan_columns(signals, events, request)
    signals, events = _restrict(signals, events, request)
    as_of = monday_of(request.as_of) if request.as_of is not None else None
    known_until, signal_names = plan.known_until, list(plan.signal_names)
    infos = {name: catalog.signal(name) for name in signal_names}
    cat = catalog_frame(catalog, signal_names)
    if as_of is not None:
        # One week needs only the windows that reach it (features.as_of_week), not every week.
        series, values = as_of_week.series_values(signals, cat, as_of, signal_names)
        series, values = series.cache(), values.cache()
        # _wide reads it once per signal: computed once.
        long = as_of_week.features_at(series, values, twins.EVERY_SIGNAL, as_of).cache()
    else:
        # Read by several branches below; cache() computes it once per collect.
        grid = series_grid(signals, cat).cache()
        long = twins.every_week(grid, twins.EVERY_SIGNAL)
    frame = _wide(long, signal_names, twins.outputs(twins.EVERY_SIGNAL))
    without_drift = [name for name, info in infos.items() if not drift.has_drift(info)]
    frame = frame.drop(signal_column(name, f) for name in without_drift for f in drift.OUTPUTS)
    if people is not None:
        frame = frame.join(people.select(PERSON, "team_id"), on=PERSON, how="left")
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("team_id"))
    frame = frame.with_columns(*_family_summaries(infos))

    for family in twins.BY_KIND:
        names = [n for n, i in infos.items() if i.kind == family.kind]
        if not names:
            continue
        if as_of is not None:
            part = as_of_week.features_at(series, values, (family,), as_of).cache()
        else:
            part = twins.every_week(grid, (family,))
        frame = frame.join(_wide(part, names, family.outputs), on=list(KEYS), how="left")

    frame = add_tenure(frame, hire_weeks(people, events))
    if events is not None:
        frame = add_weeks_since_events(frame, events, list(plan.context_events))
        if request.with_labels:
            frame = add_labels(
                frame,
                events,
                horizon=request.horizon,
                known_until=pl.lit(known_until),
                outcome_events=request.outcome_events,
            )
    elif request.with_labels:
        raise ValueError("labels need the events table (outcomes); the landing folder has none")

    return frame


def add_team_features(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Each signal's deviation against the team's that week, drift net of the shift everybody
    shared that week, then the columns in their final order.

    Needs every member of a team (and every person, for the shared shift) in `frame`: run it on all
    partitions together.
    """
    names = frame.collect_schema().names()
    drifts = [c for c in names if feature_of(c) in drift.OUTPUTS]
    frame = frame.with_columns(drift.net_of_shared_shift(c) for c in drifts)
    deviations = [(c, signal) for c in names if feature_of(c) == "deviation" and (signal := signal_of(c))]
    added = [signal_column(signal, "deviation_vs_team") for _, signal in deviations]
    frame = frame.with_columns(
        deviation_vs_team(c, new) for (c, _), new in zip(deviations, added, strict=True)
    )
    # Team-relative columns sit after the own-normal block, before the family summaries.
    first_family = next((i for i, c in enumerate(names) if is_family_column(c)), len(names))
    ordered = [*names[:first_family], *added, *names[first_family:]]
    keys_first = [*KEYS, "team_id"]
    features = [pl.col(c).cast(pl.Float32) for c in feature_columns(ordered)]
    labels = [c for c in LABEL_COLUMNS if c in ordered]
    return frame.select(*keys_first, *features, *labels).sort(*KEYS)
