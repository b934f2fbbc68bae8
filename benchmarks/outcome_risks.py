"""A risk per outcome: does each outcome's own score rank its events at least as well as the combined one?

Not part of the test suite (minutes, not seconds). Run:

    .venv/bin/python benchmarks/outcome_risks.py --people 3000 --weeks 104 --worlds default,101,102

Per world (the default world, or seeds of simulator/worlds.py): simulates an organisation, builds
its features, runs the time back-test (models.backtest.time_backtest, cutoff two horizons before the
last week) and reads, per outcome, the average precision of the outcome's own score
(`score_<outcome>`, models.competing) and of the combined score on that outcome's events, their
ratio, and the seconds the per-outcome models add to the back-test (their fit and scoring) against
the seconds of the whole back-test. The issue's bar: each own score at least as good as the
combined one, sick leave's at least 1.1 times. The figures go to a JSON record under
benchmarks/results/ (benchmarks/record.py).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from record import add_arguments, maybe_write

from features.build import FeatureRequest, build_features
from features.catalog import load_catalog
from features.naive import raw_week_values
from models.backtest import naive_table, time_backtest
from simulator.organisation import simulate_organisation
from simulator.worlds import world_for


def measure_world(people: int, weeks: int, seed: int, world_seed: int | None, horizon: int) -> dict:
    """The time back-test of one world: per-outcome average precision, own against combined, and seconds."""
    world = world_for(world_seed)
    org = simulate_organisation(people, weeks, seed, world=world)
    catalog = load_catalog()
    request = FeatureRequest(with_labels=True, horizon=horizon)
    table = build_features(
        org.signals.lazy(), org.events.lazy(), org.people.lazy(), catalog, request
    ).collect()
    names = sorted(org.signals["signal"].unique().to_list())
    naive = naive_table(table, raw_week_values(org.signals.lazy(), names).collect())
    cutoff = table["week"].max() - timedelta(weeks=2 * horizon)
    started = time.perf_counter()
    result = time_backtest(table, naive, cutoff, horizon, catalog=catalog)
    seconds = time.perf_counter() - started
    return {
        "world": world.label,
        "chosen": result.chosen,
        "combined_average_precision": result.metrics[result.chosen]["average_precision"],
        "outcomes": result.outcomes,
        "note": result.outcome_note,
        "outcome_seconds": result.outcome_fit_seconds,
        "backtest_seconds": seconds,
    }


def main() -> None:
    """Measure every world asked for, print a line per outcome, write the record."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument(
        "--worlds", default="default,101,102", help="'default' or world seeds, comma-separated"
    )
    add_arguments(parser)
    args = parser.parse_args()
    rows = []
    for spec in args.worlds.split(","):
        row = measure_world(
            args.people, args.weeks, args.seed, None if spec == "default" else int(spec), args.horizon
        )
        rows.append(row)
        print(
            f"{row['world']}: chosen {row['chosen']}, per-outcome models {row['outcome_seconds']:.0f} s "
            f"of a {row['backtest_seconds']:.0f} s back-test{'; ' + row['note'] if row['note'] else ''}"
        )
        for outcome, m in row["outcomes"].items():
            print(
                f"  {outcome}: own AP {m['average_precision']:.4f}, "
                f"combined {m['average_precision_combined']:.4f}, ratio {m['ratio']:.2f} "
                f"({m['event_people']:.0f} people with the outcome)"
            )
    maybe_write("outcome_risks", args, {"worlds": rows})


if __name__ == "__main__":
    main()
