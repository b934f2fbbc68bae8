"""Everything a flag carries for its reviewer, as rows for the flag store. Pure: frames in and out.

A flag holds its risk band, its reasons in words, the contributions of every family, the recent
weeks of the signals behind the reasons against the person's own normal, and the conversation
prompts. Team counts go with each run so that the review app can show teams over time (it
applies the anonymity threshold when it shows them).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date, timedelta

import polars as pl

from features.catalog import Catalog
from features.windows import BASELINE_WEEKS
from models.flag_records import FamilyShare, SignalSeries, encode_families, encode_prompts, encode_series

SERIES_WEEKS = BASELINE_WEEKS


def flag_id(as_of: date, person_id: str) -> str:
    """An opaque, stable id for a person's flag in one week (the same on a re-run of that week)."""
    return hashlib.sha256(f"{as_of.isoformat()}|{person_id}".encode()).hexdigest()[:20]


def families_json(contributions: pl.DataFrame, catalog: Catalog) -> dict[str, str]:
    """Per person: JSON list of {family, label, contribution}, largest contribution first."""
    out: dict[str, str] = {}
    ordered = contributions.sort(["person_id", "contribution", "family"], descending=[False, True, False])
    for (person,), part in ordered.group_by("person_id", maintain_order=True):
        out[person] = encode_families(
            FamilyShare(f, catalog.family(f).label, round(float(c), 5))
            for f, c in part.select("family", "contribution").iter_rows()
        )
    return out


def signal_series(
    signals: pl.DataFrame,
    features: pl.DataFrame,
    wanted: dict[str, list[str]],
    as_of: date,
    catalog: Catalog,
    weeks: int = SERIES_WEEKS,
) -> dict[str, str]:
    """Per person: JSON list of the wanted signals' last `weeks` weekly values and own normal.

    `signals` are landing rows (person_id, week, signal, value); `features` the as-of feature
    rows (for `{signal}__baseline`, the person's normal). Weeks without a value are null.
    """
    start = as_of - timedelta(weeks=weeks - 1)
    calendar = [start + timedelta(weeks=i) for i in range(weeks)]
    people = list(wanted)
    recent = signals.filter(
        pl.col("person_id").is_in(people) & pl.col("week").is_between(start, as_of)
    ).select("person_id", "week", "signal", "value")
    by_key = {
        (p, s, w): v for p, w, s, v in recent.select("person_id", "week", "signal", "value").iter_rows()
    }
    baselines = sorted(
        {f"{name}__baseline" for names in wanted.values() for name in names} & set(features.columns)
    )
    # Only the normals the charts show: a whole feature row per person is hundreds of values.
    normals = features.filter(pl.col("person_id").is_in(people)).select("person_id", *baselines).to_dicts()
    normal_of = {row["person_id"]: row for row in normals}
    out: dict[str, str] = {}
    for person, names in wanted.items():
        items = []
        for name in names:
            info = catalog.signal(name)
            normal = normal_of.get(person, {}).get(f"{name}__baseline")
            items.append(
                SignalSeries(
                    signal=name,
                    label=info.label,
                    unit=info.unit,
                    direction=info.direction,
                    weeks=tuple(w.isoformat() for w in calendar),
                    values=tuple(_round(by_key.get((person, name, w))) for w in calendar),
                    normal=_round(normal),
                )
            )
        out[person] = encode_series(items)
    return out


def _round(value: float | None) -> float | None:
    if value is None or value != value:
        return None
    return round(float(value), 3)


def series_signals(reasons: pl.DataFrame, catalog: Catalog) -> dict[str, list[str]]:
    """Per person, the catalogued signals their reasons name, in reason order."""
    wanted: dict[str, list[str]] = {}
    for person, signal in reasons.sort("person_id", "rank").select("person_id", "signal").iter_rows():
        if signal in catalog.signals and signal not in wanted.setdefault(person, []):
            wanted[person].append(signal)
    return wanted


def flag_rows(
    chosen: pl.DataFrame,
    reasons: pl.DataFrame,
    families: dict[str, str],
    series: dict[str, str],
    as_of: date,
    outcome_risks: dict[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The store's flag rows and reason rows for tonight's chosen flags.

    `outcome_risks`: per person, the JSON of their risk per outcome (models.competing.risk_curves);
    a person without one (or None: a champion without outcome risks) gets null.
    """
    outcome_risks = outcome_risks or {}
    leading = reasons.filter(pl.col("rank") == 1).select("person_id", "family", "prompts")
    lead_of = {p: (f, list(pr)) for p, f, pr in leading.iter_rows()}
    people = chosen["person_id"].to_list()
    flags = chosen.select("person_id", "team_id", "risk", "band", "rank").with_columns(
        pl.Series("flag_id", [flag_id(as_of, p) for p in people], dtype=pl.String),
        pl.Series("leading_family", [lead_of.get(p, (None, []))[0] for p in people], dtype=pl.String),
        pl.Series("families", [families.get(p, "[]") for p in people], dtype=pl.String),
        pl.Series("series", [series.get(p, "[]") for p in people], dtype=pl.String),
        pl.Series(
            "prompts", [encode_prompts(lead_of.get(p, (None, []))[1]) for p in people], dtype=pl.String
        ),
        pl.Series("outcome_risks", [outcome_risks.get(p) for p in people], dtype=pl.String),
    )
    ids = flags.select("person_id", "flag_id")
    reason_rows = reasons.join(ids, on="person_id", how="inner").select(
        "flag_id", "rank", "family", "family_label", "signal", "signal_label", "contribution", "sentence"
    )
    return flags, reason_rows


def team_rows(scored: pl.DataFrame, flags: pl.DataFrame) -> pl.DataFrame:
    """People scored and flagged per team, with the team's most frequent leading families.

    People without a team are in no team's count: they are not a team to show.
    """
    scored, flags = (
        scored.filter(pl.col("team_id").is_not_null()),
        flags.filter(pl.col("team_id").is_not_null()),
    )
    teams = scored.group_by("team_id").agg(pl.len().cast(pl.Int64).alias("people"))
    flagged = flags
    leading: dict[str, list[str]] = {}
    for (team,), part in flagged.group_by("team_id"):
        counts = Counter(f for f in part["leading_family"].to_list() if f)
        leading[team] = [f for f, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
    counts = flagged.group_by("team_id").agg(pl.len().cast(pl.Int64).alias("flagged"))
    return (
        teams.join(counts, on="team_id", how="left")
        .with_columns(
            pl.col("flagged").fill_null(0),
        )
        .sort("team_id")
        .with_columns(
            pl.col("team_id")
            .replace_strict(
                {t: json.dumps(v) for t, v in leading.items()}, default="[]", return_dtype=pl.String
            )
            .alias("leading_families")
        )
    )
