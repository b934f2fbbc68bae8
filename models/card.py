"""The model card: what the model is for, what it must never be used for, how good and how fair it is.

Pure: everything comes in as arguments (aggregates only, never person-level rows) and one markdown
string comes out, to be logged next to the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from features.columns import family_of_summary, feature_of, is_family_column
from models.candidates import HORIZON_ENSEMBLES
from models.fairness import AUDIT_PREFIX, FairnessAudit, format_value

SUMMARY_FAMILY = "all"  # the mean over every family: a summary, not a family of its own
NAIVE_NAME = "naive reference"

# One plain line per metric; {horizon} and {capacity} are filled in.
METRIC_NOTES: dict[str, str] = {
    "average_precision": "how well the scores rank person-weeks that precede an outcome above the rest "
    "(higher is better; a random order scores about the positive rate).",
    "roc_auc": "the chance that a person-week before an outcome scores above one that is not "
    "(0.5 is a coin toss, higher is better).",
    "brier": "mean squared gap between the score, read as a probability, and what happened "
    "(lower is better; it checks calibration).",
    "precision_at_capacity": "share of each week's flags (the top {capacity} of people) followed by an "
    "outcome within {horizon} weeks, averaged over weeks (higher is better).",
    "event_recall": "share of people with an outcome who were flagged at least once in the {horizon} weeks "
    "before it (higher is better).",
    "median_lead_weeks": "for people flagged before their outcome, the median number of weeks between the "
    "earliest such flag and the outcome (more weeks, more time to talk).",
    "flag_churn": "mean share of each week's flagged people who were not flagged the week before "
    "(lower is steadier).",
    "rows_scored": "person-weeks scored in the back-test.",
    "rows_with_label": "person-weeks with a known label (the latest weeks are too recent to know).",
    "positive_rate": "share of labelled person-weeks followed by an outcome within {horizon} weeks "
    "(the base rate).",
    "outcomes": "people with an outcome in the scored period.",
}
METRIC_LABELS: dict[str, str] = {
    "average_precision": "Average precision",
    "roc_auc": "ROC-AUC",
    "brier": "Brier score",
    "precision_at_capacity": "Precision at capacity",
    "event_recall": "Event recall",
    "median_lead_weeks": "Median lead (weeks)",
    "flag_churn": "Flag churn",
    "rows_scored": "Person-weeks scored",
    "rows_with_label": "Person-weeks with a label",
    "positive_rate": "Positive rate",
    "outcomes": "Outcomes",
}
COUNT_METRICS = frozenset({"rows_scored", "rows_with_label", "outcomes"})
WEEK_METRICS = frozenset({"median_lead_weeks"})


def model_card(
    *,
    model_name: str,
    version: str | None,
    trained_at: str,
    horizon: int,
    capacity: float,
    data: Mapping[str, Any],
    metrics: Mapping[str, Mapping[str, float]],
    naive: Mapping[str, float],
    chosen: str,
    features: list[str],
    fairness: FairnessAudit,
    catalog_families: list[str] | None = None,
    learned_horizons: Sequence[int] = (),
    backtest: str = "",
    learnt_directions: Mapping[str, str] | None = None,
) -> str:
    """The model card as markdown.

    Sections: Intended use, What it must not be used for, Data (the fingerprint), Features,
    Metrics (every candidate beside the naive reference), Fairness audit, Limits. `data` is the
    data fingerprint (row counts, date range, people, hash), `metrics` maps each candidate to its
    back-test metrics, `naive` holds the naive reference's. `learned_horizons`: the horizons a
    horizon ensemble's members learned (named in the header when more than one). `backtest`: how
    the metrics were back-tested, in words (in the header when given). `learnt_directions`: for
    signals the catalog does not describe, the risky way the training learnt (by label). Raises
    ValueError when a protected attribute (`audit_*`) is among the features, because the card
    would then state a falsehood.
    """
    protected = [f for f in features if f.startswith(AUDIT_PREFIX)]
    if protected:
        raise ValueError(f"protected attributes must never be features, found {protected}")
    share = _percent(capacity)
    sections = [
        _header(model_name, version, trained_at, horizon, share, chosen, learned_horizons, backtest),
        _intended_use(horizon, share),
        _must_not(),
        _data(data),
        _features(features, catalog_families, learnt_directions or {}),
        _metrics(metrics, naive, chosen, horizon, share),
        fairness.to_markdown(heading_level=2).rstrip(),
        _limits(horizon, share, fairness.threshold, metrics.get(chosen, {})),
    ]
    return "\n\n".join(sections) + "\n"


def format_metric(name: str, value: float | int | None) -> str:
    """A metric for the table: counts whole, lead time to 1 decimal, rates to 3; NaN is n/a."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if name in COUNT_METRICS:
        return format_value(round(value))
    if name in WEEK_METRICS:
        return format_value(float(value), decimals=1)
    return format_value(float(value))


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


def _header(
    model_name: str,
    version: str | None,
    trained_at: str,
    horizon: int,
    share: str,
    chosen: str,
    learned_horizons: Sequence[int],
    backtest: str = "",
) -> str:
    lines = [
        f"# Model card: {model_name}",
        "",
        f"- Version: {version or 'not registered'}",
        f"- Trained at: {trained_at}",
        f"- Chosen candidate: {chosen}",
        f"- Horizon: an outcome 1 to {horizon} weeks after the scored week",
    ]
    if len(learned_horizons) > 1:
        weeks = ", ".join(str(h) for h in learned_horizons)
        plan = HORIZON_ENSEMBLES.get(chosen)
        per_positive = plan.negatives_per_positive if plan is not None else None
        sample = (
            f", from every such week followed by the outcome and a sample of {per_positive} weeks "
            "without it for each"
            if per_positive
            else ""
        )
        lines.append(
            f"- Learned as: the mean log-odds of {len(learned_horizons)} models that learned an outcome "
            f"within {weeks} weeks, each only from weeks whose whole horizon ends within the data{sample}"
        )
    if backtest:
        lines.append(f"- Back-test: {backtest}")
    lines.append(f"- Capacity: the top {share} of people are flagged each week (at least one)")
    return "\n".join(lines)


def _intended_use(horizon: int, share: str) -> str:
    return "\n".join(
        [
            "## Intended use",
            "",
            "An early warning for creeping demotivation. Each week the model estimates, for every person "
            f"judged against their own normal, the chance of resigning or of long-term sick leave within "
            f"{horizon} weeks, and flags the top {share} with the reasons in plain words.",
            "",
            "- A flag is an invitation for a human to look, not a finding about a person. It may lead to a "
            "feedforward conversation: forward-looking, about the work and what would help, never blaming, "
            "never mentioning the model or the data.",
            "- Human oversight: a trained HR analyst reviews every flag and decides whether and how anyone "
            "reaches out; nothing happens automatically, and doing nothing is always an option.",
            "- Who uses it: HR analysts trained in its limits. What reaches anyone else (a manager, say) is "
            "the suggestion of a conversation, never a score. Workers' representatives and the people "
            "concerned are told before the system is put to use (EU AI Act art. 26(7); GDPR art. 13 and 14).",
            "- People are known by pseudonym; groups smaller than the anonymity threshold are never shown.",
        ]
    )


def _must_not() -> str:
    return "\n".join(
        [
            "## What it must not be used for",
            "",
            "- Performance evaluation, appraisal or any disciplinary step.",
            "- Decisions on dismissal, promotion, pay, bonus or the allocation of work.",
            "- Any automated decision about a person: a flag never leads to a decision with legal or "
            "similarly significant effect by itself (GDPR art. 22).",
            "- Monitoring individuals beyond this purpose: tracking activity, presence or productivity, or "
            "reusing the signals for anything else (purpose limitation, GDPR art. 5(1)(b)).",
            "- Inferring emotions: the model estimates the risk of an outcome from work patterns; it must "
            "not be presented or used as reading anyone's feelings (emotion recognition at work is "
            "prohibited, EU AI Act art. 5(1)(f)).",
            "- Ranking or comparing managers, teams or groups of people, or showing anything by protected "
            "attribute outside the fairness audit.",
            "",
            "AI used to monitor and evaluate people in work relationships, or to inform decisions about "
            "them, is high-risk under the EU AI Act (Annex III, point 4(b)): human oversight, logging, data "
            "governance and transparency duties apply to its use.",
        ]
    )


def _data(data: Mapping[str, Any]) -> str:
    lines = ["## Data", ""]
    if data:
        lines += [f"- {_readable(key)}: {_render_value(value)}" for key, value in data.items()]
    else:
        lines.append("- No fingerprint was recorded.")
    lines += [
        "",
        "The fingerprint identifies the training data by aggregates and a hash; this card holds no "
        "person-level data.",
    ]
    return "\n".join(lines)


def _readable(key: str) -> str:
    return {"sha256": "SHA-256"}.get(key, key.replace("_", " ").capitalize())


def _render_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_render_value(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return " to ".join(_render_value(v) for v in value) if len(value) == 2 else ", ".join(map(str, value))
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return format_value(value)
    if isinstance(value, float):
        return format_value(value) if not value.is_integer() else format_value(int(value))
    return str(value)


def _feature_kind(name: str) -> str:
    if is_family_column(name):
        return "family summary"
    feature = feature_of(name)
    if feature is not None:
        return feature.replace("_", " ")
    if name.startswith("weeks_since_"):
        return "weeks since an event"
    return name.replace("_", " ")


_LEARNT_WORDS = {"rises": "risk rises as it rises", "falls": "risk rises as it falls"}


def _features(
    features: list[str], catalog_families: list[str] | None, learnt_directions: Mapping[str, str]
) -> str:
    if catalog_families is None:
        # Without the catalog, the family summary columns name the families the model saw.
        families = sorted({family_of_summary(f) for f in features if is_family_column(f)} - {SUMMARY_FAMILY})
    else:
        families = sorted(set(catalog_families) - {SUMMARY_FAMILY})
    kinds: dict[str, int] = {}
    for name in features:
        kind = _feature_kind(name)
        kinds[kind] = kinds.get(kind, 0) + 1
    lines = [
        "## Features",
        "",
        f"- {len(features)} features, each a person-week compared with the person's own normal, their team "
        "or their recent context, computed from data dated at or before that week only.",
        f"- Families: {', '.join(families) if families else 'none named'}.",
        "- Kinds: " + (", ".join(f"{k} ({n})" for k, n in sorted(kinds.items())) or "none") + ".",
        "- Protected attributes (the audit_* columns: gender, age band and the like) are excluded from the "
        "features; they are read only by the fairness audit below.",
    ]
    if learnt_directions:
        learnt = "; ".join(f"{label}: {_LEARNT_WORDS.get(d, d)}" for label, d in learnt_directions.items())
        lines.append(
            "- Directions learnt from the training data, for signals the catalog does not describe "
            f"(a guess to check, then describe them in a catalog of your own): {learnt}."
        )
    return "\n".join(lines)


def _metrics(
    metrics: Mapping[str, Mapping[str, float]],
    naive: Mapping[str, float],
    chosen: str,
    horizon: int,
    share: str,
) -> str:
    columns = {**{name: values for name, values in metrics.items()}, NAIVE_NAME: naive}
    # Every metric any column has, in the order first seen (the naive reference's order leads).
    names = list(dict.fromkeys([*naive, *(m for values in metrics.values() for m in values)]))
    header = [f"{name} (chosen)" if name == chosen else name for name in columns]
    lines = [
        "## Metrics",
        "",
        "Back-test on rows the models never saw. The naive reference is the chosen model type trained on "
        "each week's raw values only (no own normal, no context): the candidates have to beat it.",
        "",
        "| Metric | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for metric in names:
        cells = [format_metric(metric, values.get(metric)) for values in columns.values()]
        lines.append(f"| {METRIC_LABELS.get(metric, metric)} | " + " | ".join(cells) + " |")
    lines.append("")
    for metric in names:
        note = METRIC_NOTES.get(metric)
        if note:
            lines.append(f"- {METRIC_LABELS[metric]}: {note.format(horizon=horizon, capacity=share)}")
    lines += ["", "n/a: not computable on these rows (for example, no outcomes in the scored period)."]
    return "\n".join(lines)


def _share_or_unmeasured(values: Mapping[str, float], metric: str) -> str | None:
    value = values.get(metric)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return f"{value * 100:.0f}%"


def _flag_outcomes(horizon: int, chosen: Mapping[str, float]) -> str:
    """What this model's own back-test says about its flags: never a figure from another model."""
    precision = _share_or_unmeasured(chosen, "precision_at_capacity")
    recall = _share_or_unmeasured(chosen, "event_recall")
    flags = (
        f"on average {precision} of each week's flags were followed by resignation or long-term sick leave "
        f"within {horizon} weeks"
        if precision
        else "the share of flags followed by an outcome was not measured"
    )
    people = (
        f"{recall} of the people with an outcome were flagged before it"
        if recall
        else "the share of people with an outcome flagged before it was not measured"
    )
    return (
        f"- How often flags were right, and how many outcomes were missed: in this model's back-test "
        f"{flags}, and {people}. That holds for the data and period of that back-test only."
    )


def _limits(horizon: int, share: str, threshold: int, chosen: Mapping[str, float]) -> str:
    return "\n".join(
        [
            "## Limits",
            "",
            "- Simulated or real data: on the built-in simulator the numbers describe the simulator's world, "
            "not any organisation. On real data they hold for the organisation and period measured; a "
            "reorganisation, a new tool or a new policy changes what the signals mean.",
            "- Calibration drifts: scores are calibrated on past data. As the organisation "
            "changes, a score of 0.1 may stop meaning a one-in-ten chance; rerun the back-test regularly.",
            _flag_outcomes(horizon, chosen),
            f"- Capacity, not risk, sets the number of flags: each week the top {share} are flagged, even in "
            "a calm week, and someone just outside the quota may be just as worth a conversation.",
            "- Small teams: comparisons with the team are noisy in small teams, and groups under "
            f"{threshold} people are never shown.",
            "- The label is a proxy: resignation or long-term sick leave only. Demotivated people who stay "
            "are never positive, sick leave has many causes beyond work, and unrelated exits (contract end, "
            "retirement, relocation) are not outcomes.",
            f"- The latest {horizon} weeks have no known label yet (censored): scored, but not judged.",
            "- Weeks with planned leave are masked: they are left out of a person's normal and never read as "
            "withdrawal, so people with much leave have fewer weeks to compare.",
            "- Reasons shown with a flag describe what the model reacted to, not a diagnosis. They "
            "lead with a family the catalog calls a cause (by default recognition, goal clarity, "
            "autonomy, growth, workload) when it raises the risk and its signals drifted that way "
            "against the person's two-year normal. How often that names what is really going on cannot be "
            "measured from the data; only a conversation can tell.",
            "- The fairness audit covers the protected attributes in the people table one at a time, not "
            "their combinations, and small groups are hidden from it.",
        ]
    )
