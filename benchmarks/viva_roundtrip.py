"""Back-test a simulated organisation through the contract and through a Viva Insights person query.

Not part of the test suite (minutes, not seconds). Run from the repository root:

    PYTHONPATH=. .venv/bin/python benchmarks/viva_roundtrip.py --people 1500 --weeks 104 --seed 7

The organisation is simulated once and landed twice:

* directly: the simulator's contract tables (signals, events, people), as `ewarn simulate` writes;
* through Viva: its signals and people exported as a person query (simulator/viva_export.py:
  Sunday weeks, US dates, Viva metric names where the catalog has a counterpart, other names for
  the rest, empty cells where nothing was observed), imported as `ewarn import viva-insights
  --audit-column Gender --audit-column Age_band` does, next to the events table copied as it is.

Both folders are back-tested as `ewarn backtest` does (flows.modelling: every time candidate and
the naive reference, the same cutoff, horizon and capacity). Printed and recorded per path:
average precision, ROC-AUC and weekly precision at capacity of the chosen model and of every
candidate, the naive reference, the number of feature columns and of person-weeks scored; and
whether both paths scored exactly the same person-weeks. The JSON record goes to
benchmarks/results/ (benchmarks/record.py).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl
from record import add_arguments, maybe_write

from features.build import feature_columns
from features.catalog import Catalog, load_catalog
from features.viva import VivaOptions
from flows import modelling
from flows.importers import import_viva_insights
from flows.settings import Settings
from flows.simulate import write_simulation
from models.backtest import BacktestResult
from simulator.organisation import SimulatedOrganisation, simulate_organisation
from simulator.viva_export import AUDIT_COLUMNS, TEAM_COLUMN, viva_person_query
from simulator.worlds import world_for

METRICS = ("average_precision", "roc_auc", "precision_at_capacity", "rows_scored", "rows_with_label")
KEYS = ["person_id", "week"]


def peak_gb() -> float:
    """Peak resident memory of this process so far, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def land_directly(org: SimulatedOrganisation, folder: Path) -> Path:
    """The contract tables as `ewarn simulate` writes them (the ground truth goes to a subfolder)."""
    write_simulation(org, folder)
    return folder


def land_through_viva(org: SimulatedOrganisation, folder: Path, catalog: Catalog) -> tuple[Path, dict]:
    """Export the person query as CSV, copy the events table in as is, import the query next to it."""
    export = folder / "export"
    landing = folder / "landing"
    export.mkdir(parents=True)
    landing.mkdir(parents=True)
    query = export / "person_query.csv"
    viva_person_query(org.signals, org.people).write_csv(query)
    org.events.write_parquet(landing / "events.parquet")
    options = VivaOptions(team_column=TEAM_COLUMN, audit_columns=tuple(AUDIT_COLUMNS.values()))
    result = import_viva_insights(query, landing, options, catalog)
    print(result.render(), flush=True)
    return landing, {
        "export_mb": query.stat().st_size / 1e6,
        "catalogued_signals": result.catalog_known,
        "uncatalogued_signals": list(result.catalog_unknown),
        "dropped_columns": list(result.conversion.dropped),
    }


def backtest_folder(
    folder: Path, home: Path, catalog: Catalog, horizon: int, cutoff: date | None, capacity: float
) -> tuple[modelling.TrainingTables, BacktestResult, dict]:
    """Prepare the tables and back-test them exactly as `ewarn backtest --data folder` does."""
    settings = Settings(home=home, landing=folder, horizon_weeks=horizon)
    started = time.perf_counter()
    tables = modelling.prepare_tables(folder, settings, catalog)
    built = time.perf_counter() - started
    cutoff = modelling.resolve_cutoff(tables, horizon, cutoff)
    started = time.perf_counter()
    result = modelling.backtest(tables, horizon, cutoff=cutoff, capacity=capacity, catalog=catalog)
    timing = {"features_seconds": built, "backtest_seconds": time.perf_counter() - started}
    return tables, result, {"cutoff": cutoff, **timing}


def path_figures(tables: modelling.TrainingTables, result: BacktestResult, timing: dict) -> dict:
    """What one path measured: the chosen model's metrics, every candidate's, the naive reference's."""

    def picked(values: dict[str, float]) -> dict[str, float]:
        return {m: values.get(m) for m in METRICS}

    return {
        "chosen": result.chosen,
        **picked(result.metrics[result.chosen]),
        "person_weeks_scored": result.scored.height,
        "feature_columns": len(feature_columns(tables.table.columns)),
        "feature_rows": tables.table.height,
        "candidates": {name: picked(values) for name, values in result.metrics.items()},
        "naive_reference": picked(result.naive),
        **timing,
    }


def same_person_weeks(direct: pl.DataFrame, viva: pl.DataFrame) -> dict[str, int]:
    """How many scored person-weeks one path has that the other lacks (both 0: the same rows)."""
    a, b = direct.select(KEYS), viva.select(KEYS)
    return {
        "scored_directly_not_through_viva": a.join(b, on=KEYS, how="anti").height,
        "scored_through_viva_not_directly": b.join(a, on=KEYS, how="anti").height,
    }


def main() -> None:
    """Simulate, land both ways, back-test both, print and record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1500)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--world", type=int, default=None, help="world seed (default: the default world)")
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument(
        "--cutoff", type=date.fromisoformat, default=None, help="default: two horizons before the end"
    )
    parser.add_argument("--capacity", type=float, default=0.02)
    parser.add_argument("--keep", type=Path, default=None, help="keep both landing folders under this folder")
    add_arguments(parser)
    args = parser.parse_args()

    catalog = load_catalog()
    world = None if args.world is None else world_for(args.world)
    started = time.perf_counter()
    org = simulate_organisation(args.people, args.weeks, args.seed, world=world)
    figures: dict = {"simulate_seconds": time.perf_counter() - started}
    work = Path(tempfile.mkdtemp(prefix="ewarn-viva-roundtrip-")) if args.keep is None else args.keep
    try:
        direct_folder = land_directly(org, work / "direct")
        started = time.perf_counter()
        viva_folder, figures["import"] = land_through_viva(org, work / "viva", catalog)
        figures["import"]["seconds"] = time.perf_counter() - started
        home = work / "home"
        direct_tables, direct, timing = backtest_folder(
            direct_folder, home, catalog, args.horizon, args.cutoff, args.capacity
        )
        # The same cutoff for both paths, whatever the default would make of the imported weeks.
        cutoff = timing["cutoff"]
        figures["direct"] = path_figures(direct_tables, direct, timing)
        print(f"direct: back-tested in {timing['backtest_seconds']:.0f} s", flush=True)
        viva_tables, viva, timing = backtest_folder(
            viva_folder, home, catalog, args.horizon, cutoff, args.capacity
        )
        figures["viva"] = path_figures(viva_tables, viva, timing)
        print(f"through Viva: back-tested in {timing['backtest_seconds']:.0f} s", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    figures["cutoff"] = cutoff
    figures["same_person_weeks"] = same_person_weeks(direct.scored, viva.scored)
    figures["every_person_week_scored"] = figures["direct"]["person_weeks_scored"] == figures["viva"][
        "person_weeks_scored"
    ] and not any(figures["same_person_weeks"].values())
    figures["average_precision_viva_minus_direct"] = (
        figures["viva"]["average_precision"] - figures["direct"]["average_precision"]
    )
    figures["peak_gb"] = peak_gb()
    d, v = figures["direct"], figures["viva"]
    print(
        f"\ncutoff {cutoff}, horizon {args.horizon}, capacity {args.capacity:.0%}\n"
        f"{'':14}{'direct':>10}{'via Viva':>10}\n"
        f"{'chosen':14}{d['chosen']:>10.10}{v['chosen']:>10.10}\n"
        + "".join(
            f"{m:14.14}{d[m]:>10.3f}{v[m]:>10.3f}\n"
            for m in ("average_precision", "roc_auc", "precision_at_capacity")
        )
        + f"{'naive AP':14}{d['naive_reference']['average_precision']:>10.3f}"
        f"{v['naive_reference']['average_precision']:>10.3f}\n"
        f"{'features':14}{d['feature_columns']:>10}{v['feature_columns']:>10}\n"
        f"{'scored':14}{d['person_weeks_scored']:>10,}{v['person_weeks_scored']:>10,}\n"
        f"every person-week scored on both paths: {figures['every_person_week_scored']}; "
        f"peak memory {figures['peak_gb']:.2f} GB",
        flush=True,
    )
    maybe_write("viva_roundtrip", args, figures, omit=("keep",))


if __name__ == "__main__":
    main()
