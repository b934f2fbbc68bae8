"""Do explanations stay put? Leading-family flips week to week against flips of the signals themselves.

Not part of the test suite (minutes, not seconds). Run:

    .venv/bin/python benchmarks/explanation_stability.py --people 2000 --weeks 104 --world 101

Simulates an organisation (the default world, or `--world N` from simulator/worlds.py), splits it
by time at the cutoff week, fits the product's model (gradient boosting as a horizon ensemble,
calibrated, as the retraining does) and scores every back-test week. People flagged (top 2% a
week, models.metrics.choose_weekly_flags) in two consecutive weeks form the pairs judged:

* explanation flips: the leading family (rank 1 of models.explain.explain) differs between the
  two weeks, among pairs where both weeks have one;
* signal flips: the family that leads on the signal side differs, that is the family with the
  largest `family:{f}__risk_deviation` among the families that may be reasons and raise risk
  (positive summed SHAP value); also without the risk condition ("ungated"), and among the
  causes only (what the explanation's leader is drawn from first);
* explanation flips where the signals stayed: the explanation flips again, among the pairs whose
  signal-side leader stayed the same (flips the signals do not justify) and among those where it
  moved;
* planted cause: for each person's first correctly flagged week while a planted decline ran,
  whether the leading reason names the planted cause's family (as tests/test_explain.py judges).

With `--steady 2,3,4` it also measures explanations of each person's last k scored weeks together
(their SHAP values averaged; the drift that orders the causes stays the week's own): the leader's
flips and the planted cause again. Spreads are the standard deviation over samples of people drawn
with replacement (a person's pairs together). Explanations flip less often than the signals'
leading family, and explaining recent weeks together moved the flips by less than their spread
(docs/research.md), so the product explains each week on its own.
The figures go to a JSON record under benchmarks/results/ (benchmarks/record.py).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import numpy as np
import polars as pl
from record import add_arguments, maybe_write
from threadpoolctl import threadpool_limits

from features.build import FeatureRequest, build_features, feature_columns
from features.catalog import Catalog, load_catalog
from features.columns import family_column
from models.attribution import Attribution, attribute
from models.explain import CONTEXT, NEVER_A_REASON, explain, family_contributions
from models.metrics import choose_weekly_flags
from models.splits import time_split
from models.train import FittedModel, fit_calibrated, score_rows
from simulator.organisation import simulate_organisation
from simulator.worlds import world_for

# The simulator's planted causes and the catalog family that carries each (as tests/test_explain.py).
DRIVER_FAMILY = {
    "lack_of_recognition": "recognition",
    "unclear_goals": "goal_clarity",
    "micromanagement": "autonomy",
    "no_growth": "growth",
    "workload": "workload",
}


def fitted(people: int, weeks: int, seed: int, world: int | None, cutoff_week: int, horizon: int) -> dict:
    """Simulate, build features, split by time, fit the product's model and score the back-test weeks."""
    org = simulate_organisation(people, weeks, seed, world=world_for(world) if world is not None else None)
    catalog = load_catalog()
    table = build_features(
        org.signals.lazy(),
        org.events.lazy(),
        org.people.lazy(),
        catalog,
        FeatureRequest(with_labels=True, horizon=horizon),
    ).collect()
    cutoff = table["week"].min() + timedelta(weeks=cutoff_week)
    split = time_split(table, cutoff, horizon)
    model = fit_calibrated(
        "gradient_boosting",
        split.fit,
        split.calibrate,
        feature_columns(table.columns),
        catalog=catalog,
        horizon=horizon,
        known_until=split.cutoff,
    )
    flags = choose_weekly_flags(score_rows(model, split.score))
    return {"model": model, "score": split.score, "flags": flags, "truth": org.truth, "catalog": catalog}


def consecutive_pairs(flags: pl.DataFrame) -> pl.DataFrame:
    """person_id, week, next_week: a person flagged in `week` and again the week after."""
    flagged = flags.filter(pl.col("flagged")).select("person_id", "week")
    following = flagged.with_columns(pl.col("week") - pl.duration(weeks=1))
    return (
        flagged.join(following, on=["person_id", "week"])
        .with_columns(next_week=pl.col("week") + pl.duration(weeks=1))
        .sort("person_id", "week")
    )


def first_correct_flags(flags: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Each person's first correctly flagged week while a decline with a planted driver ran, and its cause."""
    return (
        flags.filter(pl.col("flagged") & (pl.col("label") == 1))
        .join(truth.select("person_id", "week", "driver"), on=["person_id", "week"])
        .filter(pl.col("driver").is_not_null())
        .sort("person_id", "week")
        .group_by("person_id", maintain_order=True)
        .first()
        .select("person_id", "week", pl.col("driver").replace_strict(DRIVER_FAMILY).alias("cause"))
    )


def signal_leaders(model: FittedModel, rows: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """Per row, the family that leads on the signal side: gated, ungated and among causes.

    person_id, week, gated (largest family risk deviation among families that may be reasons and
    raise risk), ungated (among all families that may be reasons), cause (among cause families
    that raise risk). Null where no family qualifies.
    """
    contributions = family_contributions(model, rows, catalog)
    families = sorted(
        f
        for f in contributions["family"].unique().to_list()
        if f not in NEVER_A_REASON and f != CONTEXT and family_column(f) in rows.columns
    )
    deviation = rows.select(
        "person_id",
        "week",
        *[pl.col(family_column(f)).alias(f) for f in families],
    ).unpivot(index=["person_id", "week"], variable_name="family", value_name="deviation")
    joined = deviation.join(contributions, on=["person_id", "week", "family"]).filter(
        pl.col("deviation").is_not_null()
    )
    causes = [f for f in families if catalog.family(f).role == "cause"]

    def leader(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return (
            frame.sort("deviation", descending=True)
            .group_by("person_id", "week")
            .first()
            .select("person_id", "week", pl.col("family").alias(name))
        )

    raising = joined.filter(pl.col("contribution") > 0)
    keys = rows.select("person_id", "week")
    for name, frame in (
        ("gated", raising),
        ("ungated", joined),
        ("cause", raising.filter(pl.col("family").is_in(causes))),
    ):
        keys = keys.join(leader(frame, name), on=["person_id", "week"], how="left")
    return keys


def flip_rate(pairs: pl.DataFrame, leaders: pl.DataFrame, column: str, draws: int, seed: int) -> dict:
    """Share of pairs whose leader in `column` differs between the two weeks, with its spread over people."""
    this = leaders.select("person_id", "week", pl.col(column).alias("now"))
    then = leaders.select("person_id", pl.col("week").alias("next_week"), pl.col(column).alias("next"))
    judged = (
        pairs.join(this, on=["person_id", "week"])
        .join(then, on=["person_id", "next_week"])
        .filter(pl.col("now").is_not_null() & pl.col("next").is_not_null())
        .with_columns(flip=pl.col("now") != pl.col("next"))
    )
    return {"rate": float(judged["flip"].mean()) if judged.height else None, "pairs": judged.height} | spread(
        judged, "flip", draws, seed
    )


def spread(judged: pl.DataFrame, column: str, draws: int, seed: int) -> dict:
    """Standard deviation of the mean of `column` over samples of people drawn with replacement."""
    if judged.is_empty() or draws < 1:
        return {"std": None}
    per_person = judged.group_by("person_id").agg(pl.col(column).sum().alias("hits"), pl.len().alias("n"))
    hits, n = per_person["hits"].to_numpy(), per_person["n"].to_numpy()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(n), (draws, len(n)))
    return {"std": float((hits[picks].sum(axis=1) / n[picks].sum(axis=1)).std())}


def steadied_attribution(
    model: FittedModel, score: pl.DataFrame, rows: pl.DataFrame, weeks: int
) -> Attribution:
    """SHAP values of each row averaged with the person's scored rows of the `weeks - 1` weeks before.

    The ordering of causes by their drift still reads each row's own values: only the contributions
    (which families raise risk, and by how much) are explained together.
    """
    rows = rows.select("person_id", "week").with_row_index("row")
    back = pl.concat([rows.with_columns(pl.col("week") - pl.duration(weeks=k)) for k in range(weeks)])
    earlier = score.join(back.select("person_id", "week").unique(), on=["person_id", "week"]).sort(
        "person_id", "week"
    )
    values = attribute(model, earlier)
    link = back.join(earlier.select("person_id", "week").with_row_index("earlier"), on=["person_id", "week"])
    sums = np.zeros((rows.height, len(values.features)))
    np.add.at(sums, link["row"].to_numpy(), values.values[link["earlier"].to_numpy()])
    counts = np.bincount(link["row"].to_numpy(), minlength=rows.height)[:, None]
    return Attribution(values=sums / counts, base_value=values.base_value, features=values.features)


def explanation_leaders(
    model: FittedModel, score: pl.DataFrame, rows: pl.DataFrame, catalog: Catalog, steady_weeks: int = 1
) -> pl.DataFrame:
    """person_id, week, family: the leading reason of each row (null where it has none).

    With `steady_weeks` above 1, the SHAP values of the person's last `steady_weeks` scored weeks
    are explained together (steadied_attribution).
    """
    attribution = steadied_attribution(model, score, rows, steady_weeks) if steady_weeks > 1 else None
    reasons = explain(model, rows, catalog, top=1, attribution=attribution)
    return rows.select("person_id", "week").join(
        reasons.select("person_id", "week", "family"), on=["person_id", "week"], how="left"
    )


def flips_where_signals_stayed(pairs: pl.DataFrame, leaders: pl.DataFrame, signals: pl.DataFrame) -> dict:
    """Explanation flips among the pairs whose signal-side leader stayed, and among those where it moved.

    Per signal-side variant (gated, ungated, cause): {"stayed": {rate, pairs}, "moved": {rate, pairs}}.
    A flip where the signals' leader stayed is a flip the signals do not justify.
    """
    both = leaders.join(signals, on=["person_id", "week"])
    now = both.rename({c: f"{c}_now" for c in both.columns if c not in ("person_id", "week")})
    then = both.rename({c: f"{c}_next" for c in both.columns if c not in ("person_id", "week")}).rename(
        {"week": "next_week"}
    )
    judged = pairs.join(now, on=["person_id", "week"]).join(then, on=["person_id", "next_week"])
    judged = judged.filter(pl.col("family_now").is_not_null() & pl.col("family_next").is_not_null())
    out = {}
    for name in ("gated", "ungated", "cause"):
        known = judged.filter(pl.col(f"{name}_now").is_not_null() & pl.col(f"{name}_next").is_not_null())
        flips = known["family_now"] != known["family_next"]
        stayed = known[f"{name}_now"] == known[f"{name}_next"]
        out[name] = {
            side: {
                "rate": float(flips.filter(mask).mean()) if mask.sum() else None,
                "pairs": int(mask.sum()),
            }
            for side, mask in (("stayed", stayed), ("moved", ~stayed))
        }
    return out


def planted_share(leaders: pl.DataFrame, first: pl.DataFrame, draws: int, seed: int) -> dict:
    """Share of first correct flags whose leading reason names the planted cause, with its spread."""
    judged = first.join(leaders, on=["person_id", "week"], how="left").with_columns(
        named=(pl.col("family") == pl.col("cause")).fill_null(False)
    )
    return {"share": float(judged["named"].mean()), "people": judged.height} | spread(
        judged, "named", draws, seed
    )


def main() -> None:
    """Fit, score, explain the flagged pairs, print every figure and write the record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--cutoff-week", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--world", type=int, default=None, help="a world seed (simulator/worlds.py)")
    parser.add_argument("--resamples", type=int, default=200, help="samples of people for the spreads")
    parser.add_argument(
        "--steady",
        default="",
        help="comma-separated numbers of recent weeks whose SHAP values to explain together (an attempt)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads for fitting and SHAP")
    add_arguments(parser)
    args = parser.parse_args()
    started = time.perf_counter()
    with threadpool_limits(args.threads):
        ready = fitted(args.people, args.weeks, args.seed, args.world, args.cutoff_week, args.horizon)
        model, score, flags, catalog = ready["model"], ready["score"], ready["flags"], ready["catalog"]
        print(f"fit and score: {time.perf_counter() - started:.0f} s", flush=True)
        pairs = consecutive_pairs(flags)
        first = first_correct_flags(flags, ready["truth"])
        wanted = pl.concat(
            [
                pairs.select("person_id", "week"),
                pairs.select("person_id", pl.col("next_week").alias("week")),
                first.select("person_id", "week"),
            ]
        ).unique()
        flagged = flags.filter(pl.col("flagged"))
        figures: dict = {
            "flagged_rows": flagged.height,
            "people_flagged": flagged["person_id"].n_unique(),
            "pairs": pairs.height,
            "people_in_pairs": pairs["person_id"].n_unique(),
            "first_correct_flags": first.height,
        }
        rows = score.join(wanted, on=["person_id", "week"])
        signals = signal_leaders(model, rows, catalog)
        figures["signal_flips"] = {
            name: flip_rate(pairs, signals, name, args.resamples, args.seed)
            for name in ("gated", "ungated", "cause")
        }
        print(
            f"{pairs.height} pairs of consecutive flagged weeks ({figures['people_in_pairs']} people); "
            + "; ".join(
                f"signal-side leader ({name}) flips {f['rate']:.3f} ± {f['std']:.3f} of {f['pairs']}"
                for name, f in figures["signal_flips"].items()
            ),
            flush=True,
        )
        leaders = explanation_leaders(model, score, rows, catalog)
        figures["explanation_flips"] = flip_rate(pairs, leaders, "family", args.resamples, args.seed)
        figures["explanation_flips_by_signal_side"] = flips_where_signals_stayed(pairs, leaders, signals)
        figures["planted_cause"] = planted_share(leaders, first, args.resamples, args.seed)
        flips, planted = figures["explanation_flips"], figures["planted_cause"]
        stayed = figures["explanation_flips_by_signal_side"]["cause"]["stayed"]
        print(
            f"explanation leader flips {flips['rate']:.3f} ± {flips['std']:.3f} of {flips['pairs']}; "
            f"where the causes' signal leader stayed {stayed['rate']:.3f} of {stayed['pairs']}; "
            f"planted cause named {planted['share']:.3f} ± {planted['std']:.3f} of {planted['people']} "
            "(bar 0.6)",
            flush=True,
        )
        figures["steady"] = {}
        for k in [int(part) for part in args.steady.split(",") if part.strip()]:
            steadied = explanation_leaders(model, score, rows, catalog, k)
            attempt = {
                "flips": flip_rate(pairs, steadied, "family", args.resamples, args.seed),
                "planted_cause": planted_share(steadied, first, args.resamples, args.seed),
            }
            figures["steady"][k] = attempt
            flips, planted = attempt["flips"], attempt["planted_cause"]
            print(
                f"SHAP of {k} weeks together: leader flips {flips['rate']:.3f} ± {flips['std']:.3f}; "
                f"planted cause named {planted['share']:.3f} ± {planted['std']:.3f}",
                flush=True,
            )
    figures["seconds"] = time.perf_counter() - started
    maybe_write("explanation_stability", args, figures)


if __name__ == "__main__":
    main()
