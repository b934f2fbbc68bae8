"""Explanations: exact SHAP, families, plain-language reasons, and faithfulness on the simulator."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from features.build import FeatureRequest, build_features, feature_columns
from features.catalog import load_catalog
from models.attribution import Attribution, attribute, shap_values
from models.explain import (
    CAUSE_LEAD_SHARE,
    CONTEXT,
    OVERALL,
    PLANNED_LEAVE,
    _Aspect,
    explain,
    family_contributions,
    feature_family,
    feature_signal,
)
from models.explain import _family_reason as family_reason
from models.explain import _plan as explanation_plan
from models.explain import _reason_order as reason_order
from models.explain import _sentence as sentence_of
from models.metrics import choose_weekly_flags
from models.splits import time_split
from models.train import FittedModel, HorizonEnsemble, fit_calibrated, matrix, score_rows
from simulator.organisation import simulate_organisation

pytestmark = pytest.mark.model

CATALOG = load_catalog()
PIPELINES = ("gradient_boosting", "logistic", "logistic_with_logs")
# Activity signals of the synthetic table and their typical weekly level.
ACTIVITY = {
    "questions_asked": 5.0,
    "meetings_attended": 9.0,
    "kudos_received": 2.0,
    "after_hours_messages": 4.0,
}


# --------------------------------------------------------------------------------------------------
# A small synthetic feature table with the real column names and a known risk rule


def _spread(baseline: np.ndarray) -> np.ndarray:
    return 0.25 * baseline + 0.05


def synthetic_table(n: int, seed: int) -> pl.DataFrame:
    """Feature rows named like features.build makes them; risk rises with a few known signals."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    directed = []
    for name, typical in ACTIVITY.items():
        baseline = np.round(typical * rng.lognormal(0.0, 0.4, n), 1)
        deviation = rng.normal(0.0, 1.0, n)
        level = np.maximum(0.0, baseline + deviation * _spread(baseline))
        cols[f"{name}__level_4w"] = level
        cols[f"{name}__baseline"] = baseline
        cols[f"{name}__deviation"] = (level - baseline) / _spread(baseline)
        cols[f"{name}__trend_8w"] = 0.3 * cols[f"{name}__deviation"] + rng.normal(0.0, 0.3, n)
        sign = 1.0 if CATALOG.signal(name).direction == "rises" else -1.0
        directed.append(sign * cols[f"{name}__deviation"])
    usual = rng.choice([3.0, 3.5, 4.0, 4.5], n)
    cols["pulse.recognition__baseline"] = usual
    cols["pulse.recognition__answer_latest"] = np.clip(np.rint(usual + rng.normal(0.0, 0.8, n)), 1.0, 5.0)
    cols["pulse.recognition__deviation"] = (cols["pulse.recognition__answer_latest"] - usual) / 0.5
    cols["pulse.recognition__response_rate_12w"] = rng.uniform(0.2, 0.5, n)
    cols["pulse.recognition__response_rate_change"] = rng.normal(0.0, 0.1, n)
    days = rng.poisson(2.0, n).astype(float)
    cols["short_absence_days__absence_days_26w"] = days
    cols["short_absence_days__absence_spells_26w"] = np.minimum(days, rng.poisson(1.0, n))
    cols["planned_leave_days__level_4w"] = rng.uniform(0.0, 2.0, n)
    cols["planned_leave_days__baseline"] = np.full(n, 0.4)
    cols["planned_leave_days__deviation"] = (cols["planned_leave_days__level_4w"] - 0.4) / 0.3
    cols["family:initiative__risk_deviation"] = -cols["questions_asked__deviation"]
    cols["family:all__risk_deviation"] = np.mean(directed, axis=0)
    cols["tenure_weeks"] = rng.integers(10, 500, n).astype(float)
    cols["weeks_since_manager_changed"] = np.where(rng.random(n) < 0.5, np.nan, rng.integers(0, 60, n))
    logit = (
        -3.0
        - 1.2 * cols["questions_asked__deviation"]
        - 0.8 * cols["meetings_attended__deviation"]
        - 0.8 * cols["kudos_received__deviation"]
        + 0.7 * cols["after_hours_messages__deviation"]
        + 0.4 * (days - 2.0)
        - 0.9 * (cols["pulse.recognition__answer_latest"] - usual)
        # Planned leave predicts risk here on purpose: it must still never be given as a reason.
        + 0.9 * cols["planned_leave_days__deviation"]
    )
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    # Some holes, as in real data: tools not used, questions not answered.
    for name in ("kudos_received__level_4w", "kudos_received__deviation", "pulse.recognition__answer_latest"):
        cols[name] = np.where(rng.random(n) < 0.1, np.nan, cols[name])
    monday = date(2024, 1, 1)
    frame = pl.DataFrame(
        {
            "person_id": [f"p{i:05d}" for i in range(n)],
            "week": [monday + timedelta(weeks=int(i % 50)) for i in range(n)],
            **{k: pl.Series(v, dtype=pl.Float32).fill_nan(None) for k, v in cols.items()},
            "label": label,
        }
    )
    return frame


def one_thread() -> threadpool_limits:
    """Gradient boosting on one OpenMP thread: the same model, and on a busy machine many times
    faster than threads spinning against each other (docs/research.md)."""
    return threadpool_limits(1, user_api="openmp")


@pytest.fixture(scope="module")
def synthetic() -> pl.DataFrame:
    return synthetic_table(6000, seed=3)


@pytest.fixture(scope="module")
def models(synthetic: pl.DataFrame) -> dict[str, FittedModel]:
    features = feature_columns([c for c in synthetic.columns if c != "label"])
    fit, calibrate = synthetic[:4500], synthetic[4500:]
    with one_thread():
        return {name: fit_calibrated(name, fit, calibrate, features) for name in PIPELINES}


def hand_row(person: str = "p99999", **changes: float) -> pl.DataFrame:
    """One person-week where every signal sits at its usual level, except `changes`."""
    values: dict[str, float | None] = {}
    for name, typical in ACTIVITY.items():
        values[f"{name}__level_4w"] = typical
        values[f"{name}__baseline"] = typical
        values[f"{name}__deviation"] = 0.0
        values[f"{name}__trend_8w"] = 0.0
    values |= {
        "pulse.recognition__baseline": 4.0,
        "pulse.recognition__answer_latest": 4.0,
        "pulse.recognition__deviation": 0.0,
        "pulse.recognition__response_rate_12w": 0.4,
        "pulse.recognition__response_rate_change": 0.0,
        "short_absence_days__absence_days_26w": 0.0,
        "short_absence_days__absence_spells_26w": 0.0,
        "planned_leave_days__level_4w": 0.4,
        "planned_leave_days__baseline": 0.4,
        "planned_leave_days__deviation": 0.0,
        "family:initiative__risk_deviation": 0.0,
        "family:all__risk_deviation": 0.0,
        "tenure_weeks": 200.0,
        "weeks_since_manager_changed": None,
    }
    values |= changes
    return pl.DataFrame(
        {"person_id": [person], "week": [date(2025, 3, 3)], **{k: [v] for k, v in values.items()}},
        schema_overrides={k: pl.Float32 for k in values},
    )


def fall(name: str, level: float, baseline: float) -> dict[str, float]:
    """The columns of an activity signal that moved from `baseline` to `level`."""
    deviation = (level - baseline) / float(_spread(np.array(baseline)))
    return {
        f"{name}__level_4w": level,
        f"{name}__baseline": baseline,
        f"{name}__deviation": deviation,
        f"{name}__trend_8w": 0.3 * deviation,
    }


# --------------------------------------------------------------------------------------------------
# Exact SHAP


def raw_output(model: FittedModel, rows: pl.DataFrame) -> np.ndarray:
    return model.pipeline.decision_function(matrix(rows, model.features))


@pytest.mark.parametrize("name", PIPELINES)
def test_shap_values_add_up_to_the_raw_log_odds(models: dict[str, FittedModel], synthetic, name) -> None:
    model, rows = models[name], synthetic[:500]
    attribution = attribute(model, rows)
    assert attribution.values.shape == (500, len(model.features))
    np.testing.assert_allclose(
        attribution.values.sum(axis=1) + attribution.base_value, raw_output(model, rows), atol=1e-3
    )
    np.testing.assert_array_equal(shap_values(model, rows), attribution.values)


@pytest.mark.parametrize("name", PIPELINES)
def test_family_contributions_add_up_too(models: dict[str, FittedModel], synthetic, name) -> None:
    model, rows = models[name], synthetic[:50]
    long = family_contributions(model, rows, CATALOG)
    assert long.columns == ["person_id", "week", "family", "contribution"]
    assert {OVERALL, CONTEXT, PLANNED_LEAVE, "initiative"} <= set(long["family"])
    per_row = rows.select("person_id").join(
        long.group_by("person_id").agg(pl.col("contribution").sum()), on="person_id", how="left"
    )
    np.testing.assert_allclose(
        per_row["contribution"].to_numpy() + attribute(model, rows).base_value,
        raw_output(model, rows),
        atol=1e-3,
    )


def test_shap_values_computed_once_serve_reasons_and_families_alike(
    models: dict[str, FittedModel], synthetic
) -> None:
    model, rows = models["gradient_boosting"], synthetic[:40]
    attribution = attribute(model, rows)
    assert explain(model, rows, CATALOG, attribution=attribution).equals(explain(model, rows, CATALOG))
    assert family_contributions(model, rows, CATALOG, attribution).equals(
        family_contributions(model, rows, CATALOG)
    )
    # Values of other rows, or of features in another order, are refused, not silently misread.
    with pytest.raises(ValueError, match="expected one row per row to explain"):
        explain(model, rows[:10], CATALOG, attribution=attribution)
    reordered = Attribution(attribution.values, attribution.base_value, attribution.features[::-1])
    with pytest.raises(ValueError, match="features in its order"):
        family_contributions(model, rows, CATALOG, reordered)


def test_a_horizon_ensemble_is_explained_by_its_members_mean(
    models: dict[str, FittedModel], synthetic
) -> None:
    single = models["gradient_boosting"]
    fit = synthetic[:4500]
    # A second member that learned a different outcome: the label of a shifted signal.
    inputs = matrix(fit, single.features)
    other_label = (fit["kudos_received__deviation"].fill_null(0.0) < -0.5).cast(pl.Int8).to_numpy()
    with one_thread():
        other = Pipeline([("model", clone(single.pipeline.named_steps["model"]))]).fit(inputs, other_label)
    ensemble = HorizonEnsemble([single.pipeline, other], [12, 16]).fit(inputs)
    model = FittedModel("gradient_boosting", ensemble, single.calibrated, single.features)
    rows = synthetic[:300]
    attribution = attribute(model, rows)
    np.testing.assert_allclose(
        attribution.values.sum(axis=1) + attribution.base_value, raw_output(model, rows), atol=1e-3
    )
    members = [
        attribute(FittedModel("m", member, single.calibrated, single.features), rows)
        for member in ensemble.members
    ]
    np.testing.assert_allclose(attribution.values, (members[0].values + members[1].values) / 2)
    assert not np.allclose(members[0].values, members[1].values)
    assert explain(model, rows[:20], CATALOG).height > 0


def test_missing_indicator_shares_go_to_the_feature_they_flag(models: dict[str, FittedModel]) -> None:
    model = models["logistic"]
    row = hand_row(**{"kudos_received__level_4w": None, "kudos_received__deviation": None})
    pipeline = model.pipeline
    indicated = list(pipeline.named_steps["impute"].indicator_.features_)
    j = model.features.index("kudos_received__deviation")
    k = len(model.features) + indicated.index(j)  # the indicator column that flags it
    scaled = pipeline[:-1].transform(matrix(row, model.features))[0]
    coef = pipeline.named_steps["model"].coef_[0]
    # Background is the scaled mean (zero): coefficient x scaled input, the indicator's share added.
    expected = coef[j] * scaled[j] + coef[k] * scaled[k]
    assert shap_values(model, row)[0, j] == pytest.approx(expected, abs=1e-6)
    assert coef[k] * scaled[k] != pytest.approx(0.0)


def test_a_signed_log_share_goes_to_the_feature_it_was_taken_of(models: dict[str, FittedModel]) -> None:
    model = models["logistic_with_logs"]
    row = hand_row(**{"kudos_received__level_4w": None, "kudos_received__deviation": None})
    pipeline = model.pipeline
    indicated = list(pipeline.named_steps["impute"].indicator_.features_)
    imputed = len(model.features) + len(indicated)  # the columns the logs step takes in
    j = model.features.index("questions_asked__deviation")
    scaled = pipeline[:-1].transform(matrix(row, model.features))[0]
    coef = pipeline.named_steps["model"].coef_[0]
    expected = coef[j] * scaled[j] + coef[imputed + j] * scaled[imputed + j]
    assert shap_values(model, row)[0, j] == pytest.approx(expected, abs=1e-6)
    assert coef[imputed + j] * scaled[imputed + j] != pytest.approx(0.0)
    # A missing feature gets its own share, its indicator's and the signed logs of both.
    k = model.features.index("kudos_received__deviation")
    flag = len(model.features) + indicated.index(k)
    shares = [coef[c] * scaled[c] for c in (k, flag, imputed + k, imputed + flag)]
    assert shap_values(model, row)[0, k] == pytest.approx(sum(shares), abs=1e-6)


def test_unknown_pipelines_are_refused_with_a_clear_error(models: dict[str, FittedModel], synthetic) -> None:
    forest = Pipeline([("model", RandomForestClassifier(n_estimators=3, random_state=0))])
    features = models["logistic"].features
    forest.fit(np.nan_to_num(matrix(synthetic[:200], features)), synthetic[:200]["label"].to_numpy())
    model = FittedModel("forest", forest, models["logistic"].calibrated, features)
    with pytest.raises(TypeError, match="cannot explain model 'forest'"):
        shap_values(model, synthetic[:5])


# --------------------------------------------------------------------------------------------------
# Features to families


def test_features_map_to_signals_and_families() -> None:
    assert feature_signal("questions_asked__deviation") == "questions_asked"
    assert feature_signal("pulse.recognition__response_rate_12w") == "pulse.recognition"
    assert feature_signal("family:initiative__risk_deviation") is None
    assert feature_signal("tenure_weeks") is None
    assert feature_signal("weeks_since_manager_changed") is None
    assert feature_family("questions_asked__trend_8w", CATALOG) == "initiative"
    assert feature_family("pulse.recognition__answer_latest", CATALOG) == "recognition"
    assert feature_family("short_absence_days__bradford_factor_26w", CATALOG) == "absence"
    assert feature_family("planned_leave_days__deviation", CATALOG) == PLANNED_LEAVE
    assert feature_family("family:connection__risk_deviation", CATALOG) == "connection"
    assert feature_family("family:all__risk_deviation", CATALOG) == OVERALL
    assert feature_family("tenure_weeks", CATALOG) == CONTEXT
    assert feature_family("weeks_since_promoted", CATALOG) == CONTEXT
    assert feature_family("badge_swipes__deviation", CATALOG) == "other"


# --------------------------------------------------------------------------------------------------
# Reasons


@pytest.mark.parametrize("name", PIPELINES)
def test_only_questions_falling_reads_as_initiative(models: dict[str, FittedModel], name) -> None:
    row = hand_row(**fall("questions_asked", 1.2, 4.5), **{"family:initiative__risk_deviation": 2.9})
    reasons = explain(models[name], row, CATALOG)
    lead = reasons.row(0, named=True)
    assert lead["rank"] == 1
    assert lead["family"] == "initiative"
    assert lead["family_label"] == "Initiative"
    assert lead["signal"] == "questions_asked"
    assert lead["sentence"] == "Questions asked: 1.2 a week over the last 4 weeks, against a normal of 4.5"
    assert lead["prompts"] == list(CATALOG.family("initiative").prompts)
    assert lead["contribution"] > 0


@pytest.mark.parametrize("name", PIPELINES)
def test_exactly_top_reasons_when_enough_families_raise_risk(models: dict[str, FittedModel], name) -> None:
    row = hand_row(
        **fall("questions_asked", 1.0, 5.0),
        **fall("meetings_attended", 3.0, 9.0),
        **fall("kudos_received", 0.4, 2.0),
        **fall("after_hours_messages", 9.0, 4.0),
    )
    for top in (1, 2, 3):
        reasons = explain(models[name], row, CATALOG, top=top)
        assert reasons["rank"].to_list() == list(range(1, top + 1))
        # Causes first, then signs; each by contribution.
        roles = [CATALOG.family(f).role for f in reasons["family"]]
        assert roles == sorted(roles)
        for role in set(roles):
            assert reasons.filter(pl.Series(roles) == role)["contribution"].is_sorted(descending=True)
        assert reasons["family"].n_unique() == top
        assert (reasons["contribution"] > 0).all()
        # The leading family's prompts on every row of the person-week.
        prompts = reasons["prompts"].to_list()
        assert prompts == [prompts[0]] * top


@pytest.mark.parametrize("name", PIPELINES)
def test_planned_leave_is_never_a_reason(models: dict[str, FittedModel], synthetic, name) -> None:
    model = models[name]
    rows = synthetic.sort("planned_leave_days__deviation", descending=True)[:300]
    leave = family_contributions(model, rows, CATALOG).filter(pl.col("family") == PLANNED_LEAVE)
    # The test means something only if leave does raise the model's risk for these rows.
    assert (leave["contribution"] > 0).mean() > 0.9
    reasons = explain(model, rows, CATALOG, top=5)
    assert reasons.height > 0
    assert PLANNED_LEAVE not in set(reasons["family"])
    assert not reasons["signal"].str.contains("planned_leave").any()
    assert OVERALL not in set(reasons["family"])


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text.split(":", 1)[1])


@pytest.mark.parametrize("name", PIPELINES)
def test_sentences_carry_the_real_numbers_of_the_row(models: dict[str, FittedModel], synthetic, name) -> None:
    rows = synthetic[:400]
    reasons = explain(models[name], rows, CATALOG)
    assert reasons.height > 0
    by_key = {(r["person_id"], r["week"]): r for r in rows.iter_rows(named=True)}
    seen_kinds = set()
    for reason in reasons.iter_rows(named=True):
        row, signal, sentence = (
            by_key[(reason["person_id"], reason["week"])],
            reason["signal"],
            reason["sentence"],
        )
        assert reason["person_id"] not in sentence
        assert "model" not in sentence.lower()
        assert sentence.startswith(reason["signal_label"] + ":")
        numbers = _numbers(sentence)
        if reason["family"] == CONTEXT:
            seen_kinds.add("context")
            assert numbers == [f"{row[signal]:.0f}"]
            continue
        assert reason["signal_label"] == CATALOG.signal(signal).label
        if "latest answer" in sentence:
            seen_kinds.add("answer")
            expected = [row[f"{signal}__answer_latest"], row[f"{signal}__baseline"]]
            assert numbers == [f"{v:.1f}" for v in expected]
            assert expected[0] < expected[1]  # a "falls" signal: only a lower answer is a reason
        elif "answered in" in sentence:
            seen_kinds.add("response")
            rate, change = row[f"{signal}__response_rate_12w"], row[f"{signal}__response_rate_change"]
            assert numbers == [f"{100 * rate:.0f}", "12", f"{100 * (rate - change):.0f}"]
        elif "last 26 weeks" in sentence:
            seen_kinds.add("absence")
            assert numbers[0] == f"{row[f'{signal}__absence_days_26w']:.0f}"
        else:
            seen_kinds.add("activity")
            level, usual = row[f"{signal}__level_4w"], row[f"{signal}__baseline"]
            assert numbers == [f"{level:.1f}", "4", f"{usual:.1f}"]
            falls = CATALOG.signal(signal).direction == "falls"
            assert (level < usual) if falls else (level > usual)
    assert {"activity", "absence"} <= seen_kinds


@pytest.mark.parametrize("name", PIPELINES)
def test_a_cause_that_raises_risk_leads_over_a_stronger_sign(models: dict[str, FittedModel], name) -> None:
    # Questions collapsed (initiative: a sign of any decline); kudos halved (recognition: a cause).
    row = hand_row(**fall("questions_asked", 0.5, 5.0), **fall("kudos_received", 1.0, 2.0))
    pushes = dict(
        family_contributions(models[name], row, CATALOG).select("family", "contribution").iter_rows()
    )
    assert pushes["initiative"] > pushes["recognition"] >= CAUSE_LEAD_SHARE * pushes["initiative"]
    reasons = explain(models[name], row, CATALOG)
    assert reasons["family"].to_list()[:2] == ["recognition", "initiative"]
    assert reasons["sentence"][0].startswith("Kudos received: 1.0 a week")
    assert reasons["prompts"].to_list()[0] == list(CATALOG.family("recognition").prompts)


def test_causes_lead_only_when_they_push_enough() -> None:
    features = [f"{s}__deviation" for s in ("questions_asked", "meetings_attended", "kudos_received")]
    plan = explanation_plan(
        [*features, "after_hours_messages__deviation", "family:all__risk_deviation"], CATALOG
    )
    push = {"initiative": 1.0, "connection": 0.5, "recognition": 0.05, "workload": 0.3, "overall": 2.0}
    sums = np.array([push[f] for f in plan.families])
    order = [plan.families[f] for f in reason_order(plan, sums)]
    # Workload (a cause, 0.3 of the strongest) leads; recognition (a trace: 0.05) waits its turn.
    assert order == ["workload", "initiative", "connection", "recognition"]
    sums[plan.families.index("workload")] = -0.3
    assert [plan.families[f] for f in reason_order(plan, sums)] == ["initiative", "connection", "recognition"]


def test_causes_that_drifted_the_risky_way_lead_furthest_first() -> None:
    signals = ("questions_asked", "meetings_attended", "kudos_received", "after_hours_messages")
    plan = explanation_plan([f"{s}__drift_13w" for s in signals], CATALOG)
    push = {"initiative": 1.0, "connection": 0.5, "recognition": 0.02, "workload": 0.3}
    sums = np.array([push[f] for f in plan.families])
    # Kudos fell by a third against the two-year normal (risky), after-hours messages rose a little.
    row = {"kudos_received__drift_13w": -0.4, "after_hours_messages__drift_13w": 0.1}
    order = [plan.families[f] for f in reason_order(plan, sums, row)]
    # Even a small push leads when the cause's own signals moved that way most; signs follow by push.
    assert order == ["recognition", "workload", "initiative", "connection"]
    # A cause whose signals moved the safe way does not lead, however hard it pushes: it takes its
    # turn among the rest, by push.
    row["after_hours_messages__drift_13w"] = -0.2
    sums[plan.families.index("workload")] = 0.8
    order = [plan.families[f] for f in reason_order(plan, sums, row)]
    assert order == ["recognition", "initiative", "workload", "connection"]
    # No drift known for any cause (a short history): the push share decides, as without a row.
    unknown = {"kudos_received__drift_13w": None, "after_hours_messages__drift_13w": None}
    order = [plan.families[f] for f in reason_order(plan, sums, unknown)]
    assert order == ["workload", "initiative", "connection", "recognition"]
    assert order == [plan.families[f] for f in reason_order(plan, sums)]


def test_a_slow_change_is_told_against_the_two_year_normal() -> None:
    kudos, pulse = CATALOG.signal("kudos_received"), CATALOG.signal("pulse.recognition")
    # The half-year normal has followed kudos down (the last 4 weeks equal it): no risky numbers there.
    row = {
        **fall("kudos_received", 1.0, 1.0),
        "kudos_received__drift_13w": float(np.log(2 / 3)),  # log(1 + value) fell by a third
        "pulse.recognition__answer_latest": 4.0,
        "pulse.recognition__baseline": 4.0,
        "pulse.recognition__drift_13w": -0.8,
    }
    versus = "the two-year normal, net of what everybody shared"
    assert sentence_of(_Aspect("kudos_received", "recognition", "level", kudos), row, 0.2) == (
        f"Kudos received: over the last 13 weeks, 33% below {versus}"
    )
    assert sentence_of(_Aspect("pulse.recognition", "recognition", "answer", pulse), row, 0.2) == (
        f"Feeling recognised (pulse survey): answers over the last 13 weeks, 0.8 below {versus}"
    )
    # A drift the safe way (more kudos than in the two years before) says nothing.
    row["kudos_received__drift_13w"] = 0.3
    assert sentence_of(_Aspect("kudos_received", "recognition", "level", kudos), row, 0.2) is None
    # Numbers that point the risky way against the half-year normal still come first.
    row |= fall("kudos_received", 1.0, 2.0)
    assert sentence_of(_Aspect("kudos_received", "recognition", "level", kudos), row, 0.2).startswith(
        "Kudos received: 1.0 a week over the last 4 weeks"
    )


def test_a_family_speaks_through_a_signal_that_moved_clearly() -> None:
    plan = explanation_plan(
        ["kudos_received__deviation", "kudos_received__drift_13w", "pulse.recognition__answer_latest"],
        CATALOG,
    )
    kudos = next(a for a, aspect in enumerate(plan.aspects) if aspect.name == "kudos_received")
    pulse = next(a for a, aspect in enumerate(plan.aspects) if aspect.name == "pulse.recognition")
    sums = np.zeros(len(plan.aspects))
    sums[kudos], sums[pulse] = 0.6, 0.1  # kudos pushes six times harder than the answers
    # Kudos moved only a trace (1.9 against 2.0, 5%); the latest answer fell a whole point.
    row = {
        **fall("kudos_received", 1.9, 2.0),
        "pulse.recognition__answer_latest": 3.0,
        "pulse.recognition__baseline": 4.0,
    }
    aspect, sentence = family_reason(plan, "recognition", sums, row)
    assert (aspect.name, sentence) == (
        "pulse.recognition",
        "Feeling recognised (pulse survey): latest answer 3.0, against a usual 4.0",
    )
    # Kudos' two-year drift shows the move its last 4 weeks hide: kudos speaks, through that drift.
    row["kudos_received__drift_13w"] = float(np.log(0.6))
    aspect, sentence = family_reason(plan, "recognition", sums, row)
    assert sentence == (
        "Kudos received: over the last 13 weeks, 40% below the two-year normal, net of what everybody shared"
    )
    # When every signal moved only a trace, the one that pushes most still speaks, with its numbers.
    row |= {"kudos_received__drift_13w": float(np.log(0.95)), "pulse.recognition__answer_latest": 4.0}
    row["pulse.recognition__baseline"] = 4.3
    aspect, sentence = family_reason(plan, "recognition", sums, row)
    assert sentence == "Kudos received: 1.9 a week over the last 4 weeks, against a normal of 2.0"
    # And a move the safe way is never told, however clear.
    row |= {**fall("kudos_received", 3.0, 2.0), "kudos_received__drift_13w": float(np.log(1.5))}
    aspect, sentence = family_reason(plan, "recognition", sums, row)
    assert aspect.name == "pulse.recognition" and "4.0, against a usual 4.3" in sentence


def test_reasons_point_the_risky_way_or_are_skipped(models: dict[str, FittedModel]) -> None:
    # Questions rose a lot: that can never be the reason (the catalog says risk is when they fall).
    row = hand_row(**fall("questions_asked", 9.0, 4.5), **fall("meetings_attended", 3.0, 9.0))
    for model in models.values():
        reasons = explain(model, row, CATALOG)
        assert "questions_asked" not in set(reasons["signal"])
        assert reasons["family"][0] == "connection"


def test_a_row_with_nothing_raising_risk_gets_no_reasons(models: dict[str, FittedModel]) -> None:
    good = hand_row(
        **fall("questions_asked", 8.0, 5.0),
        **fall("meetings_attended", 12.0, 9.0),
        **fall("kudos_received", 4.0, 2.0),
        **fall("after_hours_messages", 1.0, 4.0),
        **{"pulse.recognition__answer_latest": 5.0, "planned_leave_days__deviation": -1.0},
    )
    model = models["logistic"]
    assert (family_contributions(model, good, CATALOG)["contribution"] <= 0).all()
    reasons = explain(model, good, CATALOG)
    assert reasons.is_empty()
    assert reasons.columns[:4] == ["person_id", "week", "rank", "family"]


@pytest.mark.parametrize("name", [*PIPELINES, "ensemble"])
def test_no_rows_to_explain_gives_no_reasons_and_no_contributions(
    models: dict[str, FittedModel], synthetic, name
) -> None:
    # A night without flags explains an empty frame: that is no reasons, not an error.
    if name == "ensemble":
        single = models["gradient_boosting"]
        ensemble = HorizonEnsemble([single.pipeline, single.pipeline], [12, 16]).fit(
            matrix(synthetic[:1], single.features)
        )
        model = FittedModel("ensemble", ensemble, single.calibrated, single.features)
    else:
        model = models[name]
    empty = synthetic.clear()
    attribution = attribute(model, empty)
    assert attribution.values.shape == (0, len(model.features))
    assert attribution.base_value == pytest.approx(attribute(model, synthetic[:5]).base_value)
    reasons = explain(model, empty, CATALOG)
    assert reasons.is_empty() and reasons.columns[:4] == ["person_id", "week", "rank", "family"]
    assert family_contributions(model, empty, CATALOG).is_empty()


# --------------------------------------------------------------------------------------------------
# Faithfulness on the simulator: does the leading reason name the cause the simulator planted?

DRIVER_FAMILY = {
    "lack_of_recognition": "recognition",
    "unclear_goals": "goal_clarity",
    "micromanagement": "autonomy",
    "no_growth": "growth",
    "workload": "workload",
}


def first_correct_flags(model: FittedModel, score: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Each person's first correctly flagged week (top 2% a week) while a decline with a driver ran."""
    flags = choose_weekly_flags(score_rows(model, score)).filter(pl.col("flagged") & (pl.col("label") == 1))
    return (
        flags.join(truth.select("person_id", "week", "driver"), on=["person_id", "week"])
        .filter(pl.col("driver").is_not_null())
        .sort("person_id", "week")
        .group_by("person_id", maintain_order=True)
        .first()
        .select("person_id", "week", pl.col("driver").replace_strict(DRIVER_FAMILY).alias("cause"))
    )


@pytest.fixture(scope="module")
def simulated() -> dict[str, object]:
    """A simulated organisation, a time split after 60% of the weeks, and the gradient-boosting model."""
    org = simulate_organisation(1200, 90, seed=5)
    table = build_features(
        org.signals.lazy(), org.events.lazy(), org.people.lazy(), CATALOG, FeatureRequest(with_labels=True)
    ).collect()
    weeks = table["week"].unique().sort()
    split = time_split(table, weeks[int(0.6 * len(weeks))], horizon=12)
    features = feature_columns(table.columns)
    with one_thread():
        # As the product trains it: a horizon ensemble (the time split leaves the time for it).
        model = fit_calibrated(
            "gradient_boosting", split.fit, split.calibrate, features, horizon=12, known_until=split.cutoff
        )
    assert isinstance(model.pipeline, HorizonEnsemble)
    flags = first_correct_flags(model, split.score, org.truth)
    rows = split.score.join(flags, on=["person_id", "week"])
    return {"model": model, "rows": rows}


@pytest.mark.slow
def test_simulated_model_explanations_add_up(simulated) -> None:
    model, rows = simulated["model"], simulated["rows"]
    attribution = attribute(model, rows)
    np.testing.assert_allclose(
        attribution.values.sum(axis=1) + attribution.base_value, raw_output(model, rows), atol=1e-3
    )


@pytest.mark.slow
def test_the_planted_cause_raises_risk_in_the_explanation(simulated) -> None:
    """Per person, the family of the planted cause adds to the risk (positive summed SHAP value)."""
    model, rows = simulated["model"], simulated["rows"]
    assert rows.height >= 15, "too few correctly flagged declines to judge"
    contributions = family_contributions(model, rows, CATALOG).join(
        rows.select("person_id", "week", pl.col("cause").alias("family")), on=["person_id", "week", "family"]
    )
    share = (contributions["contribution"] > 0).mean()
    print(f"\nplanted cause raises risk for {share:.0%} of {rows.height} people")
    # The shares measured here and on larger organisations: docs/research.md.
    assert share >= 0.6


@pytest.mark.slow
def test_the_leading_reason_names_the_planted_cause(simulated) -> None:
    model, rows = simulated["model"], simulated["rows"]
    reasons = explain(model, rows, CATALOG).filter(pl.col("rank") == 1)
    judged = rows.select("person_id", "week", "cause").join(reasons, on=["person_id", "week"], how="left")
    share = (judged["family"] == judged["cause"]).fill_null(False).mean()
    print(f"\nleading reason names the planted cause for {share:.0%} of {judged.height} people")
    # The bar. Causes are ordered by their 13-week drift against the two-year normal; the
    # shares measured here, on larger organisations and with other orderings: docs/research.md.
    assert share >= 0.6, f"leading reason names the planted cause for {share:.0%} of {judged.height} people"


def test_reasons_name_the_history_they_stand_on(models: dict[str, FittedModel]) -> None:
    row = hand_row(short_absence_days__absence_days_26w=6.0, short_absence_days__absence_spells_26w=3.0)
    week = row["week"][0]

    def absence(history_start: pl.DataFrame | None) -> str:
        reasons = explain(models["logistic"], row, CATALOG, history_start=history_start)
        return reasons.filter(pl.col("signal") == "short_absence_days")["sentence"][0]

    assert absence(None) == "Days of short unplanned absence: 6 days in 3 spells over the last 26 weeks"
    # Nine weeks of history: the 26-week window holds nine.
    since = pl.DataFrame(
        {"person_id": ["p99999"], "signal": ["short_absence_days"], "since": [week - timedelta(weeks=8)]}
    )
    assert absence(since) == "Days of short unplanned absence: 6 days in 3 spells over the last 9 weeks"


def test_a_slow_change_on_a_short_history_is_told_against_the_normal_since_it_began() -> None:
    from models.sentences import History as _History

    kudos = CATALOG.signal("kudos_received")
    row = {**fall("kudos_received", 1.0, 1.0), "kudos_received__drift_13w": float(np.log(2 / 3))}
    aspect = _Aspect("kudos_received", "recognition", "level", kudos)
    short = _History(date(2024, 11, 4), {"kudos_received": date(2024, 3, 4)})
    assert sentence_of(aspect, row, 0.2, history=short) == (
        "Kudos received: over the last 13 weeks, 33% below the person's normal since March 2024, "
        "net of what everybody shared"
    )
    long = _History(date(2024, 11, 4), {"kudos_received": date(2022, 3, 7)})
    assert "33% below the two-year normal" in sentence_of(aspect, row, 0.2, history=long)


@pytest.mark.parametrize("name", PIPELINES)
def test_a_signal_the_catalog_gives_no_direction_is_never_a_reason(
    models: dict[str, FittedModel], synthetic, name, tmp_path: Path
) -> None:
    # The catalog's "none" means context only (Copilot use, emails read); the model's sign is for
    # signals the catalog does not know, not for those it describes as having no direction.
    path = tmp_path / "catalog.toml"
    path.write_text(
        '[signals.meetings_attended]\nfamily = "connection"\ndirection = "none"\n',
        encoding="utf-8",
    )
    undirected = load_catalog(path)
    model = models[name]
    rows = synthetic.sort("meetings_attended__deviation")[:300]
    # The test means something only if the signal's family does raise risk for these rows.
    pushed = family_contributions(model, rows, undirected).filter(pl.col("family") == "connection")
    assert (pushed["contribution"] > 0).mean() > 0.8
    reasons = explain(model, rows, undirected, top=5)
    assert reasons.height > 0
    assert "meetings_attended" not in set(reasons["signal"])
