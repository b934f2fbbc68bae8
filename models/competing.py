"""Competing risks in discrete time: each outcome's risk within 4, 8, 12 and 26 weeks. Pure: frames in, out.

Resignation and long-term sick leave have different causes and call for different conversations,
so besides the combined risk (any outcome within the horizon, models.train) each outcome gets a
risk of its own. The weeks ahead are cut into intervals, (0, 4], (4, 8], (8, 12], (12, 26] (the
horizon is always one of the ends). For each interval one multinomial classifier (classes: no
outcome, then each outcome) learns, from the person-weeks still without an outcome at the
interval's start, the conditional probability that each outcome falls in the interval: its
hazard. Chained, the hazards give each outcome's cumulative incidence, the risk that this outcome
comes first within w weeks (`chain`).

An interval learns only from weeks whose whole interval ends before `known_until` (the back-test
cutoff), as the plain label does (models.splits.known_before), so no event from the cutoff on is
ever read, and the rows scored (from the cutoff on) are never among the rows learnt from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score
from sklearn.pipeline import Pipeline

from features.build import feature_columns
from models.candidates import QuantileBins, fitted_for_scoring
from models.flag_records import OutcomeRisks, encode_outcome_risks
from models.train import matrix

INTERVAL_ENDS = (4, 8, 12, 26)
# An outcome gets a model of its own only with at least this many people whose first outcome it
# is within the horizon in the rows learnt from; fewer teach nothing of its own causes.
MIN_OUTCOME_PEOPLE = 20
# Rows without an outcome in an interval are sampled down to this many per outcome row, and
# weighted back up by the inverse of their sampling rate, so that the hazards stay probabilities:
# the fit costs a fraction of the time of one on every row.
NONE_PER_EVENT = 20
# ... and never more than this many per interval, which bounds the fit on a large organisation
# (at 10,000 people, twice as many ranked no better: docs/research.md).
MAX_NONE_ROWS = 30_000


def interval_ends(horizon: int) -> tuple[int, ...]:
    """The ends of the intervals, in weeks ahead: INTERVAL_ENDS up to 26 (or the horizon), and the horizon."""
    return tuple(sorted({*(e for e in INTERVAL_ENDS if e <= max(INTERVAL_ENDS[-1], horizon)), horizon}))


def chain(hazards: np.ndarray) -> np.ndarray:
    """Cumulative incidence from interval hazards.

    `hazards[n, i, k]`: the probability that outcome k falls in interval i, given no outcome before
    it. Returns `risks[n, i, k]`: the probability that outcome k comes first by the end of interval
    i, the sum over intervals j <= i of S(j) * hazards[n, j, k], where S(j), the chance of reaching
    interval j without an outcome, is the product of (1 - the summed hazards) before it. Each
    outcome's risk never falls with the horizon, and the risks of all outcomes add up to at most 1.
    """
    hazards = np.clip(np.asarray(hazards, dtype=np.float64), 0.0, 1.0)
    total = np.minimum(hazards.sum(axis=2), 1.0)  # rounding may lift the sum a hair above 1
    survival = np.cumprod(np.concatenate([np.ones_like(total[:, :1]), 1.0 - total[:, :-1]], axis=1), axis=1)
    return np.cumsum(survival[:, :, None] * hazards, axis=1)


def interval_classes(
    rows: pl.DataFrame, start: int, end: int, outcomes: Sequence[str]
) -> tuple[pl.Series, pl.Series]:
    """Which rows are at risk at `start` weeks ahead (a mask) and their class for the interval (start, end].

    At risk: no outcome up to `start` weeks after the row's week. Class 0 when no outcome falls in
    the interval, k when the first outcome is `outcomes[k - 1]` and falls in it. An outcome not in
    `outcomes` counts as none (its own risk is not asked for).
    """
    weeks_to = pl.col("weeks_to_outcome")
    at_risk = rows.select((weeks_to.is_null() | (weeks_to > start)).alias("at_risk")).to_series()
    inside = weeks_to.is_between(start + 1, end).fill_null(False)
    label = pl.lit(0, dtype=pl.Int8)
    for k, outcome in reversed(list(enumerate(outcomes, start=1))):
        label = (
            pl.when(inside & (pl.col("outcome") == outcome)).then(pl.lit(k, dtype=pl.Int8)).otherwise(label)
        )
    classes = rows.filter(at_risk).select(label.alias("class")).to_series()
    return at_risk, classes


def hazard_model(seed: int = 0) -> Pipeline:
    """One interval's multinomial hazard model: histogram gradient boosting on quantile bins.

    Unweighted classes: the hazards are chained as probabilities, which balanced weights would
    distort. No monotone constraints: scikit-learn's boosting takes none for more than two classes.
    """
    boosting = HistGradientBoostingClassifier(
        learning_rate=0.12,
        max_iter=80,
        max_bins=63,
        max_leaf_nodes=15,
        min_samples_leaf=100,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
    return Pipeline([("bins", QuantileBins(max_bins=63, random_state=seed)), ("model", boosting)])


@dataclass(frozen=True)
class CompetingRisks:
    """Fitted hazard models, one per interval, and what they need to score rows."""

    outcomes: tuple[str, ...]
    ends: tuple[int, ...]  # the end of each fitted interval, in weeks ahead
    models: tuple[Pipeline, ...]
    features: tuple[str, ...]
    # Per model, the positions in `features` of its inputs: a feature never observed in an
    # interval's rows is left out of that interval's model (it carries nothing, and breaks binning).
    inputs: tuple[tuple[int, ...], ...]

    def hazards(self, rows: pl.DataFrame) -> np.ndarray:
        """Each outcome's hazard per interval: shape (rows, intervals, outcomes)."""
        inputs = matrix(rows, self.features)
        out = np.zeros((rows.height, len(self.models), len(self.outcomes)))
        for i, model in enumerate(self.models):
            probabilities = model.predict_proba(inputs[:, list(self.inputs[i])])
            for column, k in enumerate(model.classes_):
                if k > 0:  # an outcome absent from an interval's rows keeps a hazard of 0 there
                    out[:, i, int(k) - 1] = probabilities[:, column]
        return out

    def risks(self, rows: pl.DataFrame) -> np.ndarray:
        """Each outcome's risk within each interval end (self.ends): shape (rows, ends, outcomes)."""
        return chain(self.hazards(rows))

    def risk_within(self, rows: pl.DataFrame, weeks: int) -> np.ndarray:
        """Each outcome's risk within `weeks` (one of self.ends): shape (rows, outcomes)."""
        return self.risks(rows)[:, self.ends.index(weeks), :]


def outcomes_to_model(
    rows: pl.DataFrame, horizon: int, outcomes: Sequence[str]
) -> tuple[tuple[str, ...], str]:
    """The outcomes with at least MIN_OUTCOME_PEOPLE people in `rows`, and a note when fewer than two are.

    Competing risks need two outcomes at least; the note says which fell short and by how much.
    """
    counts = dict(
        rows.filter(pl.col("weeks_to_outcome").is_between(1, horizon))
        .group_by("outcome")
        .agg(pl.col("person_id").n_unique())
        .iter_rows()
    )
    enough = tuple(o for o in outcomes if counts.get(o, 0) >= MIN_OUTCOME_PEOPLE)
    if len(enough) >= 2:
        return enough, ""
    said = ", ".join(f"{o}: {counts.get(o, 0)}" for o in outcomes) or "no outcome events configured"
    return enough, (
        f"no risk per outcome: it needs two outcomes with at least {MIN_OUTCOME_PEOPLE} people each "
        f"whose outcome falls within {horizon} weeks of a week learnt from ({said})"
    )


def _sampled(classes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions kept for the fit and their weights (see NONE_PER_EVENT)."""
    events = np.flatnonzero(classes > 0)
    none = np.flatnonzero(classes == 0)
    keep = min(none.size, NONE_PER_EVENT * max(events.size, 1), MAX_NONE_ROWS)
    rng = np.random.default_rng(seed)
    chosen = np.sort(np.concatenate([events, rng.choice(none, keep, replace=False)]))
    weights = np.where(classes[chosen] > 0, 1.0, none.size / max(keep, 1))
    return chosen, weights


def fit_competing(
    rows: pl.DataFrame,
    features: Sequence[str],
    outcomes: Sequence[str],
    known_until: date,
    horizon: int,
    seed: int = 0,
    past_horizon: bool = True,
) -> CompetingRisks:
    """Fit one hazard model per interval on the eligible `rows` whose interval ends before `known_until`.

    Intervals past the horizon that the history cannot fill (no outcome in them) are left out, so
    the risk curve stops earlier; one up to the horizon that cannot be fitted is a ValueError.
    `past_horizon=False` fits none past the horizon: enough for the risk within it.
    """
    rows = rows.filter(pl.col("eligible") & (pl.col("week") < known_until))
    features = tuple(features)
    models, ends, used, start = [], [], [], 0
    for end in (e for e in interval_ends(horizon) if past_horizon or e <= horizon):
        seen = rows.filter(pl.col("week") + pl.duration(weeks=end) < known_until)
        at_risk, classes = interval_classes(seen, start, end, outcomes)
        labels = classes.to_numpy()
        if np.unique(labels).size < 2:
            if end <= horizon:
                raise ValueError(f"no outcome falls {start + 1} to {end} weeks after a week learnt from")
            break
        chosen, weights = _sampled(labels, seed + end)
        inputs = matrix(seen.filter(at_risk)[chosen], features)
        observed = tuple(int(j) for j in np.flatnonzero(~np.isnan(inputs).all(axis=0)))
        model = hazard_model(seed).fit(inputs[:, observed], labels[chosen], model__sample_weight=weights)
        models.append(fitted_for_scoring(model))
        ends.append(end)
        used.append(observed)
        start = end
    return CompetingRisks(tuple(outcomes), tuple(ends), tuple(models), features, tuple(used))


def outcome_curve(
    risks: np.ndarray, ends: Sequence[int], outcomes: Sequence[str], horizon: int
) -> OutcomeRisks:
    """One row's risk curve: `risks[end, outcome]` (cumulative incidence), rounded to 4 decimals.

    The leading outcome is the one with the largest risk within the horizon (at the last end at or
    before it); a tie goes to the outcome named first.
    """
    curve = OutcomeRisks(
        weeks=tuple(int(e) for e in ends),
        risks={
            o: tuple(round(float(risks[i, k]), 4) for i in range(len(ends))) for k, o in enumerate(outcomes)
        },
        horizon=int(horizon),
        leading="",
    )
    at_horizon = [curve.within(o, horizon) for o in outcomes]
    return OutcomeRisks(curve.weeks, curve.risks, curve.horizon, outcomes[int(np.argmax(at_horizon))])


def scaled_to(risks: np.ndarray, ends: Sequence[int], horizon: int, combined: np.ndarray) -> np.ndarray:
    """Curves `risks[n, end, outcome]` scaled so that each row's outcomes add up, within the
    horizon, to its combined risk `combined[n]`.

    The combined model is the one chosen, calibrated and shown with the flag; the hazard models
    only say how that risk splits between the outcomes and over time, so a flag never shows two
    risks that disagree. One factor per row keeps every curve rising; where it would lift the
    outcomes past 1 together at the last end, it is lowered to reach exactly 1 there.
    """
    at_horizon = risks[:, list(ends).index(horizon), :].sum(axis=1)
    at_last = risks[:, -1, :].sum(axis=1)
    wanted = np.asarray(combined, dtype=np.float64) / np.maximum(at_horizon, 1e-12)
    factor = np.where(at_horizon > 0, np.minimum(wanted, 1.0 / np.maximum(at_last, 1e-12)), 0.0)
    return risks * factor[:, None, None]


def risk_curves(
    model: CompetingRisks, rows: pl.DataFrame, horizon: int, combined: np.ndarray
) -> dict[str, str]:
    """Per person of `rows` (the flagged ones): the JSON of their risk curve for `flags.outcome_risks`,
    scaled to their combined risk `combined` (aligned with `rows`; see `scaled_to`)."""
    if rows.height == 0:
        return {}
    risks = scaled_to(model.risks(rows), model.ends, horizon, combined)
    return {
        person: str(encode_outcome_risks(outcome_curve(risks[n], model.ends, model.outcomes, horizon)))
        for n, person in enumerate(rows["person_id"].to_list())
    }


def final_outcome_risks(
    table: pl.DataFrame, features: Sequence[str], last_week: date, horizon: int, seed: int = 0
) -> tuple[CompetingRisks | None, str]:
    """The hazard models on every week with a known outcome (the training's final fit), or a note.

    As the back-test does (outcome_backtest), the outcomes are those found in `table`'s `outcome`
    column, counted on the eligible weeks whose horizon ends before the data does. None and the
    note when fewer than two are common enough.
    """
    known_until = last_week + timedelta(weeks=1)
    outcomes = tuple(sorted(table["outcome"].drop_nulls().unique().to_list()))
    learnt = table.filter(pl.col("eligible") & (pl.col("week") + pl.duration(weeks=horizon) < known_until))
    modelled, note = outcomes_to_model(learnt, horizon, outcomes)
    if note:
        return None, note
    try:
        return fit_competing(table, features, modelled, known_until, horizon, seed), ""
    except ValueError as exc:  # an interval up to the horizon without any outcome: no curve, no failure
        return None, f"no risk per outcome: {exc}"


def score_column(outcome: str) -> str:
    """The back-test column of an outcome's own risk within the horizon."""
    return f"score_{outcome}"


def score_outcomes(model: CompetingRisks, rows: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """person_id, week and each outcome's risk within the horizon (`score_<outcome>`), one row per row."""
    risks = model.risk_within(rows, horizon)
    return rows.select("person_id", "week").with_columns(
        pl.Series(score_column(o), risks[:, k], dtype=pl.Float64) for k, o in enumerate(model.outcomes)
    )


def outcome_metrics(scored: pl.DataFrame, outcomes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per outcome, on rows with a known label: how its own score and the combined `score` rank its events.

    `scored` holds label, outcome, score and score_<outcome>. An outcome's events are the rows whose
    label is 1 and whose first outcome is that one; every other row with a known label (no outcome,
    or the other one) is a non-event. Returns the average precision of both scores, their ratio
    (own / combined), the event rows and people, and the events' share of rows.
    """
    known = scored.filter(pl.col("label").is_not_null())
    metrics = {}
    for outcome in outcomes:
        events = known.select(
            (pl.col("label") == 1) & (pl.col("outcome") == outcome).fill_null(False)
        ).to_series()
        y = events.to_numpy()
        both = 0 < y.sum() < y.size
        own = (
            float(average_precision_score(y, known[score_column(outcome)].to_numpy()))
            if both
            else float("nan")
        )
        combined = float(average_precision_score(y, known["score"].to_numpy())) if both else float("nan")
        metrics[outcome] = {
            "average_precision": own,
            "average_precision_combined": combined,
            "ratio": own / combined if both and combined > 0 else float("nan"),
            "event_rows": float(y.sum()),
            "event_people": float(known.filter(events)["person_id"].n_unique()),
            "positive_rate": float(y.mean()) if y.size else float("nan"),
        }
    return metrics


@dataclass(frozen=True)
class OutcomeBacktest:
    """Each outcome's own risk on a time back-test's scored rows, and how it ranks that outcome's events."""

    scores: pl.DataFrame  # person_id, week, score_<outcome> (no rows when `note` says why not)
    metrics: dict[str, dict[str, float]]
    note: str
    fit_seconds: float  # fitting the hazard models and scoring the rows: what the back-test adds


def outcome_backtest(
    table: pl.DataFrame, scored: pl.DataFrame, cutoff: date, horizon: int, seed: int = 0
) -> OutcomeBacktest:
    """Fit the hazard models on `table`'s weeks before `cutoff`; score and judge the rows of `scored`.

    `scored`: the back-test's rows from the cutoff on, with the combined `score` and `label`. The
    outcomes are those in `table`'s `outcome` column (the configured outcome events found in the
    data); with fewer than two of them common enough, nothing is fitted and `note` says why.
    """
    outcomes = tuple(sorted(table["outcome"].drop_nulls().unique().to_list()))
    learnt = table.filter(pl.col("eligible") & (pl.col("week") + pl.duration(weeks=horizon) < cutoff))
    modelled, note = outcomes_to_model(learnt, horizon, outcomes)
    if note:
        return OutcomeBacktest(scored.select("person_id", "week").clear(), {}, note, 0.0)
    started = time.perf_counter()
    model = fit_competing(
        table, feature_columns(table.columns), modelled, cutoff, horizon, seed, past_horizon=False
    )
    rows = scored.select("person_id", "week").join(table, on=["person_id", "week"], how="left")
    scores = score_outcomes(model, rows, horizon)
    seconds = time.perf_counter() - started
    judged = scored.select("person_id", "week", "score", "label").join(
        scores, on=["person_id", "week"], how="left"
    )
    judged = judged.join(rows.select("person_id", "week", "outcome"), on=["person_id", "week"], how="left")
    return OutcomeBacktest(scores, outcome_metrics(judged, modelled), "", seconds)
