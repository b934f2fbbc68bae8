"""Assemble every signal family into one point-in-time feature table: a row per person and week.

Every value at week t is computed from data dated at or before week t only. Lazy end to end: the
caller collects once. Two tiny look-ups (which signals and which events exist) run first, because
they decide the columns of the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from features import absence, own_normal, surveys
from features.catalog import Catalog
from features.context import add_tenure, add_weeks_since_events, deviation_vs_team, hire_weeks
from features.grid import PERSON, WEEK, catalog_frame, series_grid
from features.labels import DEFAULT_OUTCOMES, add_labels
from features.windows import LOOKBACK_WEEKS

KEYS = (PERSON, WEEK)
LABEL_COLUMNS = ("label", "weeks_to_outcome", "outcome", "eligible")
FAMILY_PREFIX = "family:"
# Context events that are not outcomes: hires give tenure instead; anything else becomes
# "weeks since the last <event>".
_NOT_CONTEXT = {"hired"}
_SIGNAL_FEATURES = (*own_normal.OUTPUTS, "deviation_vs_team")


@dataclass(frozen=True)
class FeatureRequest:
    """What to build: every week (training) or one as-of week (scoring), with or without labels."""

    as_of: date | None = None
    horizon: int = 12
    with_labels: bool = False
    outcome_events: tuple[str, ...] = DEFAULT_OUTCOMES


def monday_of(day: date) -> date:
    """The Monday of the ISO week a day falls in."""
    return day - timedelta(days=day.weekday())


def signal_column(signal: str, feature: str) -> str:
    """Name of a per-signal feature column, e.g. questions_asked__deviation."""
    return f"{signal}__{feature}"


def family_column(family: str) -> str:
    """Name of a family summary column, e.g. family:initiative__risk_deviation."""
    return f"{FAMILY_PREFIX}{family}__risk_deviation"


def feature_columns(columns: list[str]) -> list[str]:
    """The model inputs among a feature table's columns: everything but keys, team and labels."""
    excluded = {*KEYS, "team_id", *LABEL_COLUMNS}
    return [c for c in columns if c not in excluded]


def _wide(long: pl.LazyFrame, signals: list[str], features: tuple[str, ...]) -> pl.LazyFrame:
    wide = long.pivot(
        on="signal",
        on_columns=signals,
        index=list(KEYS),
        values=list(features),
        aggregate_function="first",
        separator="|",
        column_naming="combine",
    )
    renames = {f"{f}|{s}": signal_column(s, f) for f in features for s in signals}
    return wide.rename(renames, strict=False)


def _family_summaries(long: pl.LazyFrame, families: list[str]) -> pl.LazyFrame:
    directed = long.filter(pl.col("risk_sign") != 0).with_columns(
        (pl.col("deviation") * pl.col("risk_sign")).alias("risk_deviation")
    )
    per_family = directed.group_by(*KEYS, "family").agg(pl.col("risk_deviation").mean())
    wide = per_family.pivot(
        on="family",
        on_columns=families,
        index=list(KEYS),
        values="risk_deviation",
        aggregate_function="first",
    )
    overall = directed.group_by(*KEYS).agg(pl.col("risk_deviation").mean().alias(family_column("all")))
    return wide.rename({f: family_column(f) for f in families}, strict=False).join(
        overall, on=list(KEYS), how="left"
    )


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
    """
    request = request or FeatureRequest()
    known_until = signals.select(pl.col(WEEK).max()).collect().item()
    if request.as_of is not None:
        as_of = monday_of(request.as_of)
        start = as_of - timedelta(weeks=LOOKBACK_WEEKS)
        signals = signals.filter(pl.col(WEEK).is_between(start, as_of, closed="right"))
        if events is not None:
            events = events.filter(pl.col("date") < as_of + timedelta(weeks=1))
    signal_names = sorted(signals.select(pl.col("signal").unique()).collect().to_series().to_list())
    infos = {name: catalog.signal(name) for name in signal_names}
    cat = catalog_frame(catalog, signal_names)
    grid = series_grid(signals, cat)

    long = own_normal.add_own_normal_features(grid)
    if people is not None:
        long = long.join(people.select(PERSON, "team_id"), on=PERSON, how="left")
    else:
        long = long.with_columns(pl.lit(None, dtype=pl.String).alias("team_id"))
    long = long.with_columns(deviation_vs_team())
    if request.as_of is not None:
        long = long.filter(pl.col(WEEK) == as_of)

    frame = _wide(long, signal_names, _SIGNAL_FEATURES)
    families = sorted({i.family for i in infos.values() if i.risk_sign != 0})
    frame = frame.join(_family_summaries(long, families), on=list(KEYS), how="left")

    for kind, add, outputs in (
        ("survey", surveys.add_survey_features, surveys.OUTPUTS),
        ("absence", absence.add_absence_features, absence.OUTPUTS),
    ):
        names = [n for n, i in infos.items() if i.kind == kind]
        if not names:
            continue
        part = add(grid.filter(pl.col("kind") == kind))
        if request.as_of is not None:
            part = part.filter(pl.col(WEEK) == as_of)
        frame = frame.join(_wide(part, names, outputs), on=list(KEYS), how="left")

    if people is not None:
        frame = frame.join(people.select(PERSON, "team_id"), on=PERSON, how="left")
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("team_id"))
    frame = add_tenure(frame, hire_weeks(people, events))
    if events is not None:
        outcome_set = set(request.outcome_events)
        names = events.select(pl.col("event").unique()).collect().to_series().to_list()
        context = sorted(n for n in names if n not in outcome_set and n not in _NOT_CONTEXT)
        frame = add_weeks_since_events(frame, events, context)
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

    keys_first = [*KEYS, "team_id"]
    features = [pl.col(c).cast(pl.Float32) for c in feature_columns(frame.collect_schema().names())]
    labels = [c for c in LABEL_COLUMNS if c in frame.collect_schema().names()]
    return frame.select(*keys_first, *features, *labels).sort(*KEYS)
