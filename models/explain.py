"""Why a person was flagged, in plain words: exact SHAP values folded into signal families.

Pure: a fitted model and feature rows in, frames out (no file I/O, no tracking).

* `models.attribution.shap_values` gives exact SHAP values in log-odds for the model family in use: the tree
  explainer (tree-path-dependent) for gradient boosting (for a horizon ensemble of boosting
  pipelines, the mean of its members' values), the linear explainer on the imputed and scaled
  matrix for the logistic pipeline. Never the kernel or permutation explainer: they are
  sampled approximations, slow, and would make the same flag read differently from run to run.
* `family_contributions` sums them per family (for charts).
* `explain` turns them into the top reasons of each flagged row: a family that raises risk, the
  signal in it that does most, and a sentence with the real numbers of that row (the sentences
  themselves: models.sentences).

Decisions, in one place:

* `family:all__risk_deviation` (the mean of every directed deviation) belongs to the family
  "overall". It says "many things moved together", which is no conversation topic, so "overall" is
  never a reason; it is kept in `family_contributions` so that charts still add up.
* Tenure and "weeks since <event>" belong to "context". Context is a reason only when nothing
  else raises risk: a new manager is a circumstance, not a cause to discuss first.
* Planned-leave signals (catalog kind "leave") belong to "planned_leave" and are never a reason,
  nor is any signal the catalog describes with direction "none" (context only, e.g. Copilot use);
  a signal the catalog does not know reads the direction its training learnt (models.directions),
  and where none was clear, the model's sign stands in for one.
* A family is a reason only when one of its signals can say so with numbers that point the way
  the catalog calls risky; otherwise the family is passed over and the next one is taken.
* Causes lead. The catalog gives every family a role: a "cause" can drive a decline and is
  something to talk about (recognition, goal clarity, autonomy, growth, workload); a "sign"
  follows any decline whatever drove it (connection, initiative, absence, ...). The outcome model
  leans on the signs, because they follow the decline most closely; ranked by contribution alone,
  the leading reason seldom named the simulator's planted cause. So the
  reasons list first the causes that raise risk *and* whose own signals drifted the risky way
  against the person's two-year normal over the last EVIDENCE_WEEKS weeks, furthest drift first;
  then every other family that raises risk, by contribution. Which cause moved most is a question
  about the person's own history, which the drift answers directly, while a cause's SHAP value
  mostly says how much the model leans on that family in general: ordered by drift, causes name
  the planted cause far more often than ordered by SHAP value (docs/research.md).
  Without any known drift (a short history) a cause leads only when it pushes at least
  CAUSE_LEAD_SHARE of the strongest family's push. The contributions themselves stay exact.
* A signal's sentence compares its last 4 weeks with the half-year normal; when that normal has
  absorbed a slow change (the numbers no longer point the risky way), the sentence gives the
  drift against the two-year normal instead, e.g. "Kudos received: over the last 13 weeks, 33%
  below the two-year normal, net of what everybody shared". Where the person's history of that
  signal is shorter than that normal, the sentence names what it stands on instead ("the
  person's normal since March 2024"; absence "over the last 9 weeks"): see models.history_words.
* A family speaks through a signal whose numbers show a clear move (counts 10% off the normal,
  answers half a point; see CLEAR_CHANGE) before one that contributes more but moved only a
  trace: "45.2 a week against a normal of 44.0" points the risky way, but gives an analyst
  nothing to see. Only when none of its signals moved clearly does the trace speak.
* The `prompts` column carries the leading family's conversation prompts on every reason row of
  that person-week, so that any single row (or the rank-1 row alone) is enough to start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from features.catalog import Catalog, SignalInfo
from features.columns import family_of_summary, feature_of, signal_of
from features.drift import drift_feature
from models.attribution import Attribution, attribution_of
from models.directions import with_learnt_directions
from models.sentences import (
    EVIDENCE_WEEKS,
    UNKNOWN_HISTORY,
    History,
    absence_sentence,
    activity_sentence,
    answer_sentence,
    context_sentence,
    drift_sentence,
    present,
    response_sentence,
)
from models.train import FittedModel

OVERALL = "overall"
CONTEXT = "context"
PLANNED_LEAVE = "planned_leave"
# Families that are never given as a reason, whatever their share (see the module doc).
NEVER_A_REASON = frozenset({OVERALL, PLANNED_LEAVE})
_ALL = "all"
# Without any drift to go by, a cause leads only when it pushes at least this share of the
# strongest family's push, so that a trace of a cause never hides a strong sign.
CAUSE_LEAD_SHARE = 0.1
_CONTEXT_LABEL = "Context"
# Survey features about answering at all, as opposed to what the answers say.
_RESPONSE_SUFFIXES = frozenset({"response_rate_12w", "response_rate_change", "weeks_since_answer"})
_REASON_COLUMNS = {
    "person_id": pl.String,
    "week": pl.Date,
    "rank": pl.Int32,
    "family": pl.String,
    "family_label": pl.String,
    "signal": pl.String,
    "signal_label": pl.String,
    "contribution": pl.Float64,
    "sentence": pl.String,
    "prompts": pl.List(pl.String),
}


# --------------------------------------------------------------------------------------------------
# Features to signals and families


def feature_signal(feature: str) -> str | None:
    """The signal a per-signal feature column describes (`questions_asked__deviation` -> questions_asked).

    Family summaries (`family:...`) and context columns (tenure, weeks since an event) describe no
    single signal: None.
    """
    # Any feature suffix counts, so a feature added later is explained without a change here.
    return signal_of(feature)


def feature_family(feature: str, catalog: Catalog) -> str:
    """The family a feature column counts towards in explanations.

    Per-signal columns: the catalog family of their signal, except planned-leave signals (kind
    "leave"), which always go to "planned_leave". `family:X__risk_deviation`: X, with
    `family:all` going to "overall" (never a reason). Tenure, `weeks_since_*` and any other column
    that names no signal: "context".
    """
    family = family_of_summary(feature)
    if family is not None:
        return OVERALL if family == _ALL else family
    signal = feature_signal(feature)
    if signal is None:
        return CONTEXT
    info = catalog.signal(signal)
    return PLANNED_LEAVE if info.kind == "leave" else info.family


# --------------------------------------------------------------------------------------------------
# Contributions per family


def _keys(rows: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in ("person_id", "week") if c not in rows.columns]
    if missing:
        raise ValueError(f"rows to explain need the columns person_id and week; missing {missing}")
    return rows.select("person_id", "week")


def _family_index(features: Sequence[str], catalog: Catalog) -> tuple[list[str], np.ndarray]:
    families = [feature_family(f, catalog) for f in features]
    names = sorted(set(families))
    position = {name: i for i, name in enumerate(names)}
    return names, np.array([position[f] for f in families], dtype=np.int64)


def _sum_columns(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    # One matrix product sums every row's SHAP values per group at once.
    membership = np.zeros((values.shape[1], n_groups))
    membership[np.arange(values.shape[1]), group] = 1.0
    return values @ membership


def family_contributions(
    model: FittedModel, rows: pl.DataFrame, catalog: Catalog, attribution: Attribution | None = None
) -> pl.DataFrame:
    """Summed SHAP value (log-odds) of every family for every row, for charts.

    Long: person_id, week, family, contribution. Every family of the model's features appears,
    "overall", "context" and "planned_leave" too, so that per row the contributions plus the
    model's expected value give its raw output (decision_function). `attribution`: the rows'
    SHAP values when already computed (`attribute(model, rows)`), so they are not computed twice.
    """
    keys = _keys(rows)
    attribution = attribution_of(model, rows, attribution)
    names, group = _family_index(attribution.features, catalog)
    sums = _sum_columns(attribution.values, group, len(names))
    return (
        keys.with_columns(pl.DataFrame(sums, schema=names, orient="row"))
        .unpivot(index=["person_id", "week"], variable_name="family", value_name="contribution")
        .sort("person_id", "week", "family")
    )


# --------------------------------------------------------------------------------------------------
# Reasons


@dataclass(frozen=True)
class _Aspect:
    """What one sentence can speak for: a signal seen from one side, or one context column."""

    name: str  # the signal, or the context column
    family: str
    side: str  # "level" (activity), "answer" or "response" (survey), "absence", "context"
    info: SignalInfo | None  # None for context columns


def _aspect_of(feature: str, family: str, catalog: Catalog) -> _Aspect | None:
    if family == CONTEXT:
        return _Aspect(feature, CONTEXT, "context", None)
    signal = feature_signal(feature)
    if signal is None:
        return None  # a family summary: it speaks through the signals it averages
    info = catalog.signal(signal)
    if info.kind == "survey":
        # What people answer and whether they answer at all are different stories.
        side = "response" if feature_of(feature) in _RESPONSE_SUFFIXES else "answer"
    else:
        side = "absence" if info.kind == "absence" else "level"
    return _Aspect(signal, family, side, info)


def _sentence(
    aspect: _Aspect,
    row: dict[str, float | None],
    contribution: float,
    clear: bool = False,
    history: History = UNKNOWN_HISTORY,
) -> str | None:
    """The aspect's sentence for this row, or None; with `clear`, only if it shows a clear move."""
    info = aspect.info
    if info is None:
        return context_sentence(aspect.name, row)
    if aspect.side == "response":
        return response_sentence(info, row, clear)
    if aspect.side == "absence":
        return absence_sentence(info, row, history)
    recent = answer_sentence if aspect.side == "answer" else activity_sentence
    # When the half-year normal has absorbed a slow change (or the last 4 weeks show only a trace
    # of it), the two-year one still shows it.
    return recent(info, row, contribution, clear) or drift_sentence(info, row, clear, history)


def _directed_deviation(aspect: _Aspect, row: dict[str, float | None]) -> float:
    """How far the signal moved the risky way, in the person's own spread (-inf when unknown)."""
    value = row.get(f"{aspect.name}__deviation") if aspect.side in ("level", "answer") else None
    if aspect.info is None or not present(value):
        return -math.inf
    return float(value) * aspect.info.risk_sign


@dataclass(frozen=True)
class _Plan:
    """The fixed part of explaining a model: families, sentence aspects and the columns feeding them."""

    families: list[str]
    is_cause: np.ndarray  # per family: the catalog calls it a cause
    family_of_feature: np.ndarray
    aspects: list[_Aspect]
    aspect_of_feature: np.ndarray  # -1 for columns that feed no sentence (family summaries)

    def members(self, family: str) -> list[int]:
        """The aspects of one family."""
        return [a for a, aspect in enumerate(self.aspects) if aspect.family == family]


def _plan(features: Sequence[str], catalog: Catalog) -> _Plan:
    families, family_of_feature = _family_index(features, catalog)
    aspects: list[_Aspect] = []
    position: dict[_Aspect, int] = {}
    aspect_of_feature = np.full(len(features), -1, dtype=np.int64)
    for j, feature in enumerate(features):
        aspect = _aspect_of(feature, families[family_of_feature[j]], catalog)
        if aspect is None:
            continue
        if aspect not in position:
            position[aspect] = len(aspects)
            aspects.append(aspect)
        aspect_of_feature[j] = position[aspect]
    is_cause = np.array([catalog.family(f).role == "cause" for f in families], dtype=bool)
    return _Plan(families, is_cause, family_of_feature, aspects, aspect_of_feature)


def _family_reason(
    plan: _Plan,
    family: str,
    aspect_sums: np.ndarray,
    row: dict[str, float | None],
    history: History = UNKNOWN_HISTORY,
) -> tuple[_Aspect, str] | None:
    """The sentence of one family for one row: its most contributing signal whose numbers agree.

    A signal whose numbers show a clear move (see CLEAR_CHANGE) is preferred to one that
    contributes more but moved only a trace.
    """
    members = plan.members(family)
    raising = sorted((a for a in members if aspect_sums[a] > 0), key=lambda a: -aspect_sums[a])
    # The family's weight can come through its summary column (the mean of its signals' directed
    # deviations) rather than through any one signal: the signals that moved furthest the risky
    # way are then the ones behind it.
    rest = sorted(
        (a for a in members if a not in raising and _directed_deviation(plan.aspects[a], row) > 0),
        key=lambda a: -_directed_deviation(plan.aspects[a], row),
    )
    speakers = [(a, float(aspect_sums[a])) for a in raising] + [(a, 0.0) for a in rest]
    for clear in (True, False):
        for a, contribution in speakers:
            text = _sentence(plan.aspects[a], row, contribution, clear, history)
            if text:
                return plan.aspects[a], text
    return None


def _cause_evidence(plan: _Plan, family: str, row: dict[str, float | None]) -> float:
    """How far a family's signals drifted the risky way from the two-year normal (mean; -inf if none)."""
    column = drift_feature(EVIDENCE_WEEKS)
    # One value per signal: a survey question has two aspects (its answers, answering at all).
    signals = {a.name: a.info for a in (plan.aspects[i] for i in plan.members(family)) if a.info is not None}
    directed = [
        float(row[f"{name}__{column}"]) * info.risk_sign
        for name, info in signals.items()
        if info.risk_sign != 0 and present(row.get(f"{name}__{column}"))
    ]
    return float(np.mean(directed)) if directed else -math.inf


def _reason_order(
    plan: _Plan, family_sums: np.ndarray, row: dict[str, float | None] | None = None
) -> list[int]:
    """Families that may be reasons: the causes that lead first, then the rest by contribution.

    A cause leads when it raises risk and its signals drifted the risky way against the two-year
    normal (EVIDENCE_WEEKS); the leading causes go by that drift, largest first. Where no cause's
    drift is known (a short history, or no `row`), the causes that push at least CAUSE_LEAD_SHARE
    of the strongest family's push lead instead, by contribution.
    """
    raising = [
        int(f)
        for f in np.argsort(-family_sums, kind="stable")
        if family_sums[f] > 0 and plan.families[f] not in NEVER_A_REASON and plan.families[f] != CONTEXT
    ]
    if not raising:
        return []
    causes = [f for f in raising if plan.is_cause[f]]
    evidence = {f: _cause_evidence(plan, plan.families[f], row) if row else -math.inf for f in causes}
    if any(math.isfinite(e) for e in evidence.values()):
        leading = sorted((f for f in causes if evidence[f] > 0), key=lambda f: -evidence[f])
    else:
        floor = CAUSE_LEAD_SHARE * family_sums[raising[0]]
        leading = [f for f in causes if family_sums[f] >= floor]
    return leading + [f for f in raising if f not in leading]


def _reasons_of_row(
    plan: _Plan,
    family_sums: np.ndarray,
    aspect_sums: np.ndarray,
    row: dict[str, float | None],
    top: int,
    history: History = UNKNOWN_HISTORY,
) -> list[tuple[str, float, _Aspect, str]]:
    """Up to `top` (family, contribution, aspect, sentence) for one row, leading reason first."""
    reasons = []
    for f in _reason_order(plan, family_sums, row):
        family = plan.families[f]
        found = _family_reason(plan, family, aspect_sums, row, history)
        if found:
            reasons.append((family, float(family_sums[f]), *found))
            if len(reasons) == top:
                return reasons
    if not reasons and CONTEXT in plan.families:
        # Only when nothing else raises risk: circumstances are then all there is to talk about.
        context = plan.families.index(CONTEXT)
        found = _family_reason(plan, CONTEXT, aspect_sums, row, history) if family_sums[context] > 0 else None
        if found:
            reasons.append((CONTEXT, float(family_sums[context]), *found))
    return reasons


def explain(
    model: FittedModel,
    rows: pl.DataFrame,
    catalog: Catalog,
    top: int = 3,
    attribution: Attribution | None = None,
    history_start: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The top `top` reasons per row (usually the flagged ones), one row per (person_id, week, rank).

    Columns: person_id, week, rank (1 = leading), family, family_label, signal, signal_label,
    contribution (summed SHAP value of the family, log-odds), sentence, prompts.

    Only families that raise risk (summed SHAP value > 0) can be a reason. Those the catalog calls
    causes come first when their signals drifted the risky way (furthest first; see the module
    doc), then the rest by summed SHAP value. "overall" and "planned_leave" never are
    reasons, and "context" only when no other family can be one. In a family, the signal with the
    largest positive SHAP value whose numbers point the risky way (per the catalog direction)
    gives the sentence, built from the catalog and that row's real numbers, without any person
    identifier; a family without such a signal is passed over for the next. `prompts` holds the
    leading family's conversation prompts, repeated on every reason of that person-week. A row
    where no family raises risk gets no reasons (no rows). `attribution`: the rows' SHAP values
    when already computed (`attribute(model, rows)`). `history_start` (person_id, signal, since:
    the first week each signal of each person is observed) lets the sentences name the normal the
    history supports ("the person's normal since March 2024" rather than "the two-year normal"
    on a short history; see models.history_words); without it they assume a full history.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    catalog = with_learnt_directions(catalog, model.learnt_directions)
    keys = _keys(rows)
    attribution = attribution_of(model, rows, attribution)
    plan = _plan(attribution.features, catalog)
    family_sums = _sum_columns(attribution.values, plan.family_of_feature, len(plan.families))
    feeds = plan.aspect_of_feature >= 0
    aspect_sums = _sum_columns(attribution.values[:, feeds], plan.aspect_of_feature[feeds], len(plan.aspects))
    # Sentences read the per-signal and context columns, as plain Python numbers, one dict a row.
    readable = [
        c
        for c, dtype in rows.schema.items()
        if dtype.is_numeric() and (feature_signal(c) is not None or c in attribution.features)
    ]
    values = rows.select(pl.col(readable).cast(pl.Float64)).to_dicts()

    starts: dict[str, dict[str, date]] = {}
    if history_start is not None:
        for person, signal, since in history_start.select("person_id", "signal", "since").iter_rows():
            starts.setdefault(person, {})[signal] = since
    out: dict[str, list] = {name: [] for name in _REASON_COLUMNS}
    for i, (person, week) in enumerate(keys.iter_rows()):
        history = History(week, starts.get(person, {})) if history_start is not None else UNKNOWN_HISTORY
        reasons = _reasons_of_row(plan, family_sums[i], aspect_sums[i], values[i], top, history)
        prompts = list(catalog.family(reasons[0][0]).prompts) if reasons else []
        for rank, (family, contribution, aspect, text) in enumerate(reasons, start=1):
            out["person_id"].append(person)
            out["week"].append(week)
            out["rank"].append(rank)
            out["family"].append(family)
            out["family_label"].append(_CONTEXT_LABEL if family == CONTEXT else catalog.family(family).label)
            out["signal"].append(aspect.name)
            out["signal_label"].append(aspect.info.label if aspect.info else text.partition(":")[0])
            out["contribution"].append(contribution)
            out["sentence"].append(text)
            out["prompts"].append(prompts)
    schema = {**_REASON_COLUMNS, "person_id": keys.schema["person_id"], "week": keys.schema["week"]}
    return pl.DataFrame(out, schema=schema)
