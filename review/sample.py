"""A flag store filled with synthetic, realistic runs, for the review app's tests and screenshots.

Writes typed flags (`models.flag_records`) through `FlagStore.write_run`, so the JSON columns come
out exactly as the nightly flow writes them. Pseudonyms look like real ones ("p" + 24 hex digits);
nothing here is a real person.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from features.catalog import Catalog, load_catalog
from flows.settings import Settings
from flows.store import FlagStore, RunRecord
from models.flag_records import (
    FamilyShare,
    FlagRecord,
    ReasonRecord,
    SignalSeries,
    flag_frame,
    reason_frame,
)

# The settings' own defaults, not the environment's: the sample is the same on every machine.
DEFAULTS = Settings.model_construct()

MODEL_NAME = "ewarn-risk"
GENDERS = ("women", "men", "men", "women", "nonbinary")
# Families whose signals the sample's reasons come from: causes first, then symptoms.
_REASON_FAMILIES = (
    "recognition",
    "goal_clarity",
    "autonomy",
    "growth",
    "workload",
    "connection",
    "initiative",
)


@dataclass(frozen=True)
class SampleOrg:
    """What the sample wrote: teams with their sizes, the as-of weeks, and each run's flagged people."""

    team_sizes: dict[str, int]
    weeks: list[date]
    flagged: dict[date, list[tuple[str, str]]] = field(default_factory=dict)  # week -> (flag id, team)


def pseudonym(index: int, seed: int = 0) -> str:
    """A pseudonym in the format `ewarn pseudonymise` writes, derived from a number (not from a person)."""
    return "p" + hashlib.sha256(f"sample-{seed}-{index}".encode()).hexdigest()[:24]


def flag_id(person: str, as_of: date) -> str:
    """A flag id: stable for one person and week, and not the pseudonym itself."""
    return "f" + hashlib.sha256(f"{person}|{as_of.isoformat()}".encode()).hexdigest()[:20]


def fill_sample_store(
    store: FlagStore,
    *,
    team_sizes: dict[str, int] | None = None,
    runs: int = 6,
    last_week: date = date(2025, 3, 3),
    flag_share: float = 0.08,
    seed: int = 7,
    catalog: Catalog | None = None,
) -> SampleOrg:
    """Write `runs` weekly runs ending at `last_week`; return what was written.

    Each run flags about `flag_share` of the people (at least one), with per-family SHAP
    contributions, three reasons in words, 26 weeks of the reason signals against the person's own
    normal, the leading family's prompts, team counts, and the champion's metrics, fairness audit
    and model card in the run details.
    """
    catalog = catalog or load_catalog()
    rng = random.Random(seed)
    sizes = team_sizes or {"t01": 9, "t02": 7, "t03": 12, "t04": 4, "t05": 6, "t06": 8, "t07": 3, "t08": 10}
    people: list[tuple[str, str]] = []
    for team, size in sizes.items():
        start = len(people)
        people += [(pseudonym(start + i, seed), team) for i in range(size)]
    # A few people drift for weeks: they are flagged again and again, as in real data.
    drifting = set(rng.sample(range(len(people)), k=max(1, len(people) // 12)))
    weeks = [last_week - timedelta(weeks=runs - 1 - i) for i in range(runs)]
    org = SampleOrg(team_sizes=dict(sizes), weeks=weeks)
    fairness, card, metrics = _model_documents(rng)
    for number, as_of in enumerate(weeks):
        n_flags = max(1, round(flag_share * len(people)))
        pool = list(range(len(people)))
        chosen = [i for i in drifting if rng.random() < 0.75][:n_flags]
        chosen += rng.sample([i for i in pool if i not in chosen], k=n_flags - len(chosen))
        flag_rows: list[FlagRecord] = []
        reason_rows: list[ReasonRecord] = []
        for rank, index in enumerate(sorted(chosen, key=lambda i: -_risk(seed, i, as_of)), start=1):
            person, team = people[index]
            flag, reasons = _flag(rng, catalog, person, team, as_of, rank, _risk(seed, index, as_of))
            flag_rows.append(flag)
            reason_rows += reasons
        org.flagged[as_of] = [(f.flag_id, str(f.team_id)) for f in flag_rows]
        team_rows = []
        for team, size in sizes.items():
            theirs = [f for f in flag_rows if f.team_id == team]
            leading = Counter(str(f.leading_family) for f in theirs).most_common(3)
            team_rows.append(
                {
                    "team_id": team,
                    "people": size,
                    "flagged": len(theirs),
                    "leading_families": [family for family, _ in leading],
                }
            )
        leading_all = {f: sum(1 for r in flag_rows if r.leading_family == f) for f in _REASON_FAMILIES}
        record = RunRecord(
            run_id=f"sample-{as_of.isoformat()}",
            as_of=as_of,
            model_name=MODEL_NAME,
            model_version="3",
            data_sha256=hashlib.sha256(f"data-{number}".encode()).hexdigest(),
            data_last_week=as_of - timedelta(weeks=1),
            people_scored=len(people),
            details={
                "settings": {
                    name: getattr(DEFAULTS, name)
                    for name in (
                        "capacity",
                        "min_risk",
                        "cooldown_weeks",
                        "risk_rise",
                        "horizon_weeks",
                        "anonymity_threshold",
                    )
                },
                "data": {"people": len(people), "weeks": 104, "last_week": str(as_of - timedelta(weeks=1))},
                "model": {
                    "name": MODEL_NAME,
                    "version": "3",
                    "run_id": "0f3c2a9d5b7e4c1a8d6e2f4b9a7c5e31",
                    "metrics": metrics,
                    "fairness": fairness,
                    "card": card,
                },
                "leading_families": {f: n for f, n in leading_all.items() if n},
            },
        )
        store.write_run(
            record,
            flag_frame(flag_rows),
            reason_frame(reason_rows),
            pl.DataFrame(
                [{**t, "leading_families": _json(t["leading_families"])} for t in team_rows],
                schema={
                    "team_id": pl.String,
                    "people": pl.Int64,
                    "flagged": pl.Int64,
                    "leading_families": pl.String,
                },
            ),
        )
    return org


def _json(value: object) -> str:
    return json.dumps(value)


def _risk(seed: int, index: int, as_of: date) -> float:
    digest = hashlib.sha256(f"{seed}|{index}|{as_of}".encode()).digest()
    return round(0.12 + 0.6 * digest[0] / 255, 3)


def _band(risk: float) -> str:
    # The nightly flow's bands: very high from 0.5, high from 0.25, elevated below.
    return "very high" if risk >= 0.5 else "high" if risk >= 0.25 else "elevated"


def _flag(
    rng: random.Random, catalog: Catalog, person: str, team: str, as_of: date, rank: int, risk: float
) -> tuple[FlagRecord, list[ReasonRecord]]:
    families = rng.sample(_REASON_FAMILIES, k=3)
    contributions = {f: 0.0 for f in catalog.families if f not in ("planned_leave",)}
    for weight, family in zip((0.9, 0.5, 0.3), families, strict=True):
        contributions[family] = round(weight * rng.uniform(0.6, 1.3), 3)
    for family in contributions:
        if contributions[family] == 0.0:
            contributions[family] = round(rng.uniform(-0.25, 0.12), 3)
    family_list = tuple(
        FamilyShare(f, catalog.family(f).label, c)
        for f, c in sorted(contributions.items(), key=lambda kv: -kv[1])
    )
    fid = flag_id(person, as_of)
    reasons: list[ReasonRecord] = []
    series: list[SignalSeries] = []
    for reason_rank, family in enumerate(families, start=1):
        signals = [s for s in catalog.signals.values() if s.family == family and s.kind == "activity"]
        info = rng.choice(signals or [s for s in catalog.signals.values() if s.family == family])
        normal = round(rng.uniform(3, 20), 1) if info.kind == "activity" else round(rng.uniform(3.2, 4.4), 1)
        values = _series_values(rng, normal, info.direction, info.kind == "survey")
        recent = [v for v in values[-4:] if v is not None]
        level = sum(recent) / len(recent) if recent else normal
        unit = f" {info.unit}" if info.unit else ""
        reasons.append(
            ReasonRecord(
                flag_id=fid,
                rank=reason_rank,
                family=family,
                family_label=catalog.family(family).label,
                signal=info.name,
                signal_label=info.label,
                contribution=contributions[family],
                sentence=(
                    f"{info.label}: {level:.1f}{unit} over the last 4 weeks, against a normal of {normal:.1f}"
                ),
            )
        )
        series.append(
            SignalSeries(
                signal=info.name,
                label=info.label,
                unit=info.unit,
                direction=info.direction,
                weeks=tuple((as_of - timedelta(weeks=26 - i)).isoformat() for i in range(26)),
                values=tuple(values),
                normal=normal,
            )
        )
    flag = FlagRecord(
        flag_id=fid,
        person_id=person,
        team_id=team,
        risk=risk,
        band=_band(risk),
        rank=rank,
        leading_family=families[0],
        families=family_list,
        series=tuple(series),
        prompts=tuple(catalog.family(families[0]).prompts),
    )
    return flag, reasons


def _series_values(rng: random.Random, normal: float, direction: str, survey: bool) -> list[float | None]:
    sign = 1 if direction == "rises" else -1
    start = rng.randint(12, 20)
    values: list[float | None] = []
    for week in range(26):
        drift = sign * max(0, week - start) * normal * 0.06
        value = normal + drift + rng.gauss(0, normal * 0.08)
        if survey:
            values.append(round(min(5, max(1, value)), 1) if week % 2 == 0 else None)
        else:
            values.append(None if rng.random() < 0.04 else round(max(0.0, value), 1))
    return values


def _model_documents(rng: random.Random) -> tuple[dict[str, object], str, dict[str, dict[str, float]]]:
    from models.card import model_card
    from models.fairness import fairness_audit

    n = 240
    people = pl.DataFrame(
        {
            "person_id": [pseudonym(i, 99) for i in range(n)],
            "audit_gender": [GENDERS[i % 5] if i % 41 else None for i in range(n)],
            "audit_age_band": [("under 30", "30-49", "50 and over")[i % 3] for i in range(n)],
        }
    )
    weeks = [date(2024, 9, 2) + timedelta(weeks=w) for w in range(20)]
    scored = pl.DataFrame(
        {
            "person_id": [p for p in people["person_id"] for _ in weeks],
            "week": weeks * n,
            "flagged": [rng.random() < 0.03 for _ in range(n * len(weeks))],
            "label": [int(rng.random() < 0.05) for _ in range(n * len(weeks))],
        }
    )
    audit = fairness_audit(
        scored, people, threshold=DEFAULTS.anonymity_threshold, horizon=DEFAULTS.horizon_weeks
    )
    ours = {
        "average_precision": 0.272,
        "roc_auc": 0.781,
        "brier": 0.041,
        "precision_at_capacity": 0.573,
        "event_recall": 0.61,
        "median_lead_weeks": 7.0,
        "flag_churn": 0.38,
    }
    naive = {
        "average_precision": 0.134,
        "roc_auc": 0.702,
        "brier": 0.046,
        "precision_at_capacity": 0.435,
        "event_recall": 0.52,
        "median_lead_weeks": 8.0,
        "flag_churn": 0.55,
    }
    card = model_card(
        model_name=MODEL_NAME,
        version="3",
        trained_at="2025-03-02T03:00:00+00:00",
        horizon=12,
        capacity=DEFAULTS.capacity,
        data={"people": 2000, "first_week": "2023-03-06", "last_week": "2025-02-24"},
        metrics={"boosting": ours},
        naive=naive,
        chosen="boosting",
        features=["questions_asked__deviation", "family:recognition__risk_deviation"],
        fairness=audit,
    )
    metrics = {name: {"ours": ours[name], "naive": naive[name]} for name in ours}
    return audit.to_dict(), card, metrics
