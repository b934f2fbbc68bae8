"""Measure the model bars on the simulator: ours against the naive reference and an oracle.

Not part of the test suite (minutes, not seconds). Run:

    .venv/bin/python benchmarks/model_bars.py --people 5000 --weeks 104 --cutoff-week 64

Prints, for a time split at the cutoff week with horizon 12: average precision of the chosen
model, of the naive reference (same learner, raw weekly values) and of an *oracle* logistic
regression that sees the simulator's true latent motivation (level, 4-week change, distance
from the person's own normal); weekly precision at 2% capacity; median lead time; and the time
and peak memory of the feature build and the back-test; and the spread of ours / oracle over
samples of people drawn with replacement (--resamples). Then the single-snapshot comparison:
one week of signals plus static HR attributes, person-grouped 5-fold back-test of ours against a
tuned logistic regression on the same columns, on several fold splits (--snapshot-splits).
Every figure is also written as a JSON record to benchmarks/results/ (benchmarks/record.py).

With --ceiling it also measures how much of the latent our features carry: a gradient-boosting
regressor learns the true distance from the normal (`motivation_gap`) from our features on the
training weeks, and a logistic regression on that estimate is judged like the oracle. A diagnostic
only (it learns from the simulator's truth, which no model of ours may see).

With --worlds it judges the model across a family of simulated worlds instead (simulator/worlds.py):
`dev` (DEVELOPMENT_WORLDS, where choices may be made), `reserved` (RESERVED_WORLDS, judged only),
`both`, or an explicit comma-separated list of world seeds; --max-worlds takes the first few of each
set. Per world it prints ours, the oracle, their ratio, weekly precision at 2% and the median lead;
per set the median and worst ratio, and the median precision and lead.

    .venv/bin/python benchmarks/model_bars.py --worlds both --max-worlds 3 --people 1500
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date, timedelta

import numpy as np
import polars as pl
from record import add_arguments, maybe_write
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import average_precision_score, r2_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.build import FeatureRequest, build_features, feature_columns
from features.catalog import load_catalog
from features.naive import raw_week_values
from models.backtest import naive_table, person_backtest, time_backtest
from models.splits import learnable, time_split
from models.train import matrix
from simulator.organisation import SimulatedOrganisation, simulate_organisation
from simulator.worlds import DEVELOPMENT_WORLDS, RESERVED_WORLDS, World, world_for

# The true latent state: level, 4-week change, distance from the own normal, and the strain a long
# decline has built up; in every world the outcome risk is a function of these.
ORACLE = ["motivation", "motivation_change_4w", "motivation_gap", "outcome_strain"]


def peak_gb() -> float:
    """Peak resident memory of this process so far, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def oracle_scores(table: pl.DataFrame, truth: pl.DataFrame, cutoff: date, horizon: int) -> pl.DataFrame:
    """Scores of a logistic regression on the true latent motivation, same split as ours.

    One row per scored person-week with a known label: person_id, week, label, score.
    """
    rows = table.select("person_id", "week", "label", "eligible").join(
        truth.select("person_id", "week", *ORACLE), on=["person_id", "week"], how="left"
    )
    known = rows.filter(learnable(rows))
    train = known.filter(pl.col("week") + pl.duration(weeks=horizon) < cutoff)
    test = known.filter(pl.col("week") >= cutoff)
    model = make_pipeline(
        SimpleImputer(), StandardScaler(), LogisticRegressionCV(Cs=8, scoring="average_precision")
    )
    model.fit(train.select(ORACLE).to_numpy(), train["label"].to_numpy())
    scores = model.predict_proba(test.select(ORACLE).to_numpy())[:, 1]
    return test.select("person_id", "week", "label").with_columns(score=pl.Series(scores))


def ratio_by_resampled_people(
    ours: pl.DataFrame, oracle: pl.DataFrame, draws: int, seed: int = 0
) -> np.ndarray:
    """Our AP over the oracle's on `draws` samples of people drawn with replacement.

    Both frames hold person_id, week, label and score for the same scored weeks. A person's weeks
    stay together (they share one outcome), so the spread shows how much the ratio owes to which
    few hundred outcomes happened to fall after the cutoff.
    """
    both = (
        ours.filter(pl.col("label").is_not_null())
        .select("person_id", "week", "label", ours_score="score")
        .join(oracle.select("person_id", "week", oracle_score="score"), on=["person_id", "week"])
        .sort("person_id", "week")
    )
    label = both["label"].to_numpy()
    ours_score, oracle_score = both["ours_score"].to_numpy(), both["oracle_score"].to_numpy()
    person = both["person_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]])
    ends = np.r_[starts[1:], len(person)]
    rng = np.random.default_rng(seed)
    ratios = np.empty(draws)
    for draw in range(draws):
        picked = rng.integers(0, len(starts), len(starts))
        rows = np.concatenate([np.arange(starts[p], ends[p]) for p in picked])
        ratios[draw] = average_precision_score(label[rows], ours_score[rows]) / average_precision_score(
            label[rows], oracle_score[rows]
        )
    return ratios


def feature_ceiling(
    table: pl.DataFrame, truth: pl.DataFrame, cutoff: date, horizon: int
) -> tuple[float, float]:
    """R² of the true gap estimated from our features, and the AP of a logistic regression on it.

    The regressor learns on the fit weeks, the logistic regression on its estimates for the
    calibration weeks (which the regressor did not see), and both are judged on the scored weeks.
    """
    gap = truth.select("person_id", "week", "motivation_gap")
    split = time_split(table.join(gap, on=["person_id", "week"], how="left"), cutoff, horizon)
    features = feature_columns(table.columns)
    known = pl.col("motivation_gap").is_not_null()
    fit, calibrate, score = split.fit.filter(known), split.calibrate.filter(known), split.score.filter(known)
    regressor = HistGradientBoostingRegressor(max_iter=200, max_leaf_nodes=31, random_state=0)
    regressor.fit(matrix(fit, features), fit["motivation_gap"].to_numpy())
    r2 = r2_score(score["motivation_gap"].to_numpy(), regressor.predict(matrix(score, features)))
    judge = LogisticRegression().fit(
        regressor.predict(matrix(calibrate, features))[:, None], calibrate["label"].to_numpy()
    )
    score = score.filter(pl.col("label").is_not_null())
    estimate = regressor.predict(matrix(score, features))[:, None]
    ap = average_precision_score(score["label"].to_numpy(), judge.predict_proba(estimate)[:, 1])
    return float(r2), float(ap)


def snapshot(
    org: SimulatedOrganisation, week: date, horizon: int, splits: int
) -> list[tuple[str, float, float]]:
    """Person-grouped back-test on one week of data against a tuned LR on the same raw columns.

    Once per fold split (seeds 0 to splits - 1 for both): with one week of data few outcome rows
    decide, so the fold split alone moves either average precision (docs/research.md).
    Returns (our chosen candidate, its AP, the tuned LR's AP) per split.
    """
    signals = org.signals.filter(pl.col("week") == week)
    features = build_features(
        signals.lazy(),
        org.events.lazy(),
        org.people.lazy(),
        load_catalog(),
        FeatureRequest(with_labels=True, horizon=horizon),
    ).collect()
    names = sorted(signals["signal"].unique().to_list())
    raw = naive_table(features, raw_week_values(signals.lazy(), names).collect())
    static = org.people.select(
        "person_id", ((pl.lit(week) - pl.col("hired_on")).dt.total_days() / 7).alias("tenure")
    )
    raw = raw.join(static, on="person_id", how="left")
    rows = raw.filter(learnable(raw))
    columns = feature_columns(rows.columns)
    x, y, groups = rows.select(columns).to_numpy(), rows["label"].to_numpy(), rows["person_id"].to_numpy()
    results = []
    for split in range(splits):
        ours = person_backtest(features, raw, folds=5, horizon=horizon, seed=split, catalog=load_catalog())
        scores = np.zeros(len(y))
        folds = StratifiedGroupKFold(5, shuffle=True, random_state=split)
        for train_index, test_index in folds.split(x, y, groups):
            tuned = make_pipeline(
                SimpleImputer(add_indicator=True),
                StandardScaler(),
                LogisticRegressionCV(Cs=10, scoring="average_precision", max_iter=3000),
            )
            tuned.fit(x[train_index], y[train_index])
            scores[test_index] = tuned.predict_proba(x[test_index])[:, 1]
        tuned_ap = float(average_precision_score(y, scores))
        results.append((ours.chosen, ours.metrics[ours.chosen]["average_precision"], tuned_ap))
    return results


def world_sets(spec: str, most: int | None) -> dict[str, list[int]]:
    """The world seeds `--worlds` names, per set: dev, reserved, both, or a comma-separated list."""
    named = {"dev": list(DEVELOPMENT_WORLDS), "reserved": list(RESERVED_WORLDS)}
    if spec == "both":
        sets = named
    elif spec in named:
        sets = {spec: named[spec]}
    else:
        sets = {"listed": [int(part) for part in spec.split(",") if part.strip()]}
    return {name: seeds[:most] if most else seeds for name, seeds in sets.items()}


def measure_world(people: int, weeks: int, seed: int, world: World, cutoff_week: int, horizon: int) -> dict:
    """Ours and the oracle on one world: AP, their ratio, precision at 2%, lead time, seconds."""
    started = time.perf_counter()
    org = simulate_organisation(people, weeks, seed, world=world)
    request = FeatureRequest(with_labels=True, horizon=horizon)
    table = build_features(
        org.signals.lazy(), org.events.lazy(), org.people.lazy(), load_catalog(), request
    ).collect()
    names = sorted(org.signals["signal"].unique().to_list())
    naive = naive_table(table, raw_week_values(org.signals.lazy(), names).collect())
    cutoff = table["week"].min() + timedelta(weeks=cutoff_week)
    result = time_backtest(table, naive, cutoff, horizon, catalog=load_catalog())
    ours = result.metrics[result.chosen]
    scored = oracle_scores(table, org.truth, cutoff, horizon)
    oracle = float(average_precision_score(scored["label"].to_numpy(), scored["score"].to_numpy()))
    return {
        "world": world.seed,
        "chosen": result.chosen,
        "average_precision": ours["average_precision"],
        "oracle_average_precision": oracle,
        "ours_over_oracle": ours["average_precision"] / oracle,
        "naive_average_precision": result.naive["average_precision"],
        "precision_at_capacity": ours["precision_at_capacity"],
        "median_lead_weeks": ours["median_lead_weeks"],
        "seconds": time.perf_counter() - started,
    }


def summarise(rows: list[dict]) -> dict:
    """Per set of worlds: median and worst ours / oracle, median precision at 2% and lead time."""
    ratios = [row["ours_over_oracle"] for row in rows]
    return {
        "worlds": [row["world"] for row in rows],
        "median_ours_over_oracle": float(np.median(ratios)),
        "worst_ours_over_oracle": float(np.min(ratios)),
        "median_precision_at_capacity": float(np.median([row["precision_at_capacity"] for row in rows])),
        "median_lead_weeks": float(np.nanmedian([row["median_lead_weeks"] for row in rows])),
    }


def run_worlds(args: argparse.Namespace) -> None:
    """Judge the model on each world of each requested set, print the tables, write the record."""
    figures: dict = {"sets": {}, "per_world": {}}
    started = time.perf_counter()
    for name, seeds in world_sets(args.worlds, args.max_worlds).items():
        rows = []
        for world_seed in seeds:
            row = measure_world(
                args.people, args.weeks, args.seed, world_for(world_seed), args.cutoff_week, args.horizon
            )
            rows.append(row)
            print(
                f"{name} world {world_seed}: AP ours {row['average_precision']:.3f} / oracle "
                f"{row['oracle_average_precision']:.3f} = {row['ours_over_oracle']:.3f}x; precision at 2% "
                f"{row['precision_at_capacity']:.3f}; lead {row['median_lead_weeks']:.1f} weeks "
                f"({row['seconds']:.0f} s)",
                flush=True,
            )
        summary = summarise(rows)
        figures["sets"][name] = summary
        figures["per_world"][name] = rows
        print(
            f"{name} ({len(rows)} worlds): ours / oracle median {summary['median_ours_over_oracle']:.3f}x, "
            f"worst {summary['worst_ours_over_oracle']:.3f}x (bars 0.8x, 0.7x); median precision at 2% "
            f"{summary['median_precision_at_capacity']:.3f} (bar 0.4); median lead "
            f"{summary['median_lead_weeks']:.1f} weeks"
        )
    figures["seconds"] = time.perf_counter() - started
    figures["peak_gb"] = peak_gb()
    print(f"all worlds: {figures['seconds']:.0f} s, peak memory {peak_gb():.2f} GB")
    maybe_write("model_bars", args, figures, omit=("snapshot_splits", "resamples", "ceiling"))


def main() -> None:
    """Run the measurement and print every figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--cutoff-week", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--snapshot-splits",
        type=int,
        default=4,
        help="person fold splits the snapshot comparison averages; 0 skips the snapshot",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=200,
        help="samples of people (with replacement) for the spread of ours / oracle; 0 skips it",
    )
    parser.add_argument(
        "--ceiling", action="store_true", help="also measure how much of the latent our features carry"
    )
    parser.add_argument(
        "--worlds",
        default=None,
        help="judge across worlds: dev, reserved, both, or comma-separated world seeds (see module doc)",
    )
    parser.add_argument("--max-worlds", type=int, default=None, help="only the first N worlds of each set")
    add_arguments(parser)
    args = parser.parse_args()
    if args.worlds:
        run_worlds(args)
        return
    figures: dict = {}

    started = time.perf_counter()
    org = simulate_organisation(args.people, args.weeks, args.seed)
    figures["simulate_seconds"] = time.perf_counter() - started
    print(f"simulate: {figures['simulate_seconds']:.1f} s")
    started = time.perf_counter()
    request = FeatureRequest(with_labels=True, horizon=args.horizon)
    table = build_features(
        org.signals.lazy(), org.events.lazy(), org.people.lazy(), load_catalog(), request
    ).collect()
    names = sorted(org.signals["signal"].unique().to_list())
    naive = naive_table(table, raw_week_values(org.signals.lazy(), names).collect())
    figures["features"] = {
        "seconds": time.perf_counter() - started,
        "shape": table.shape,
        "peak_gb": peak_gb(),
    }
    print(f"features: {figures['features']['seconds']:.1f} s, {table.shape}, peak {peak_gb():.2f} GB")
    cutoff = table["week"].min() + timedelta(weeks=args.cutoff_week)
    started = time.perf_counter()
    result = time_backtest(table, naive, cutoff, args.horizon, catalog=load_catalog())
    figures["backtest"] = {"seconds": time.perf_counter() - started, "peak_gb": peak_gb()}
    print(
        f"back-test (2 candidates + naive): {figures['backtest']['seconds']:.1f} s, peak {peak_gb():.2f} GB"
    )
    with pl.Config(tbl_rows=20):
        print(result.table())
    ours = result.metrics[result.chosen]
    oracle_scored = oracle_scores(table, org.truth, cutoff, args.horizon)
    oracle = float(
        average_precision_score(oracle_scored["label"].to_numpy(), oracle_scored["score"].to_numpy())
    )
    figures |= {
        "chosen": result.chosen,
        "candidates": result.metrics,
        "naive": result.naive,
        "oracle_average_precision": oracle,
        "ours_over_naive": ours["average_precision"] / result.naive["average_precision"],
        "ours_over_oracle": ours["average_precision"] / oracle,
    }
    print(f"chosen: {result.chosen}")
    print(
        f"AP ours {ours['average_precision']:.3f} / naive {result.naive['average_precision']:.3f} = "
        f"{ours['average_precision'] / result.naive['average_precision']:.2f}x (bar 1.5x)"
    )
    print(f"AP ours / oracle {oracle:.4f} = {ours['average_precision'] / oracle:.3f}x (bar 0.8x)")
    if args.resamples:
        started = time.perf_counter()
        ratios = ratio_by_resampled_people(result.scored, oracle_scored, args.resamples)
        low, high = np.quantile(ratios, [0.05, 0.95])
        figures["ours_over_oracle_resampled"] = {"std": ratios.std(), "p05": low, "p95": high}
        print(
            f"ours / oracle over {args.resamples} samples of people: standard deviation {ratios.std():.3f}, "
            f"90% of them in {low:.3f}–{high:.3f}x ({time.perf_counter() - started:.1f} s)"
        )
    print(
        f"precision at 2%: {ours['precision_at_capacity']:.3f} (bar 0.4); "
        f"median lead: {ours['median_lead_weeks']:.1f} weeks (bar 6)"
    )
    if args.ceiling:
        started = time.perf_counter()
        r2, ceiling = feature_ceiling(table, org.truth, cutoff, args.horizon)
        figures["ceiling"] = {"r2": r2, "average_precision": ceiling, "over_oracle": ceiling / oracle}
        print(
            f"features carry R² {r2:.2f} of the true gap; a logistic regression on that estimate: AP "
            f"{ceiling:.3f} = {ceiling / oracle:.2f}x the oracle ({time.perf_counter() - started:.1f} s)"
        )
    if args.snapshot_splits < 1:
        print(f"peak memory overall: {peak_gb():.2f} GB")
        maybe_write("model_bars", args, figures | {"peak_gb": peak_gb()})
        return
    started = time.perf_counter()
    splits = snapshot(org, cutoff, args.horizon, args.snapshot_splits)
    for split, (chosen, snap_ours, snap_lr) in enumerate(splits):
        print(f"snapshot split {split}: ours ({chosen}) AP {snap_ours:.4f} vs tuned LR {snap_lr:.4f}")
    ours_mean = float(np.mean([s[1] for s in splits]))
    tuned_mean = float(np.mean([s[2] for s in splits]))
    ahead = sum(s[1] > s[2] for s in splits)
    figures["snapshot"] = {
        "splits": [{"chosen": c, "ours": o, "tuned_logistic": lr} for c, o, lr in splits],
        "ours_mean": ours_mean,
        "tuned_logistic_mean": tuned_mean,
        "ours_ahead": ahead,
    }
    print(
        f"snapshot (one week, person 5-fold, {len(splits)} fold splits): ours AP {ours_mean:.4f} vs tuned "
        f"LR {tuned_mean:.4f} on average, ours ahead on {ahead} of {len(splits)} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    print(f"peak memory overall: {peak_gb():.2f} GB")
    maybe_write("model_bars", args, figures | {"peak_gb": peak_gb()})


if __name__ == "__main__":
    main()
