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

With --describe-others a third path back-tests the same imported folder with a catalog that
describes the other names as the simulator's own (the entries of the signals they stand for): a
diagnostic of how much of a gap between the first two is the catalog's knowledge, and how much the
import itself (what a person query cannot carry, such as the hire date).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
import tomllib
from datetime import date
from pathlib import Path

import polars as pl
from record import add_arguments, maybe_write

from features.build import feature_columns
from features.catalog import DEFAULT_CATALOG_PATHS, Catalog, load_catalog, parse_catalog
from features.names import normalise_signal_name
from features.viva import VivaOptions
from flows import modelling
from flows.importers import import_viva_insights
from flows.settings import Settings
from flows.simulate import write_simulation
from models.backtest import BacktestResult
from simulator.organisation import SimulatedOrganisation, simulate_organisation
from simulator.viva_export import AUDIT_COLUMNS, TEAM_COLUMN, VIVA_NAMES, export_columns, viva_person_query
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


def described_catalog(signals: list[str]) -> Catalog:
    """The built-in catalog, with each other name described as the signal it was exported from."""
    raw: dict = {"families": {}, "signals": {}}
    for source in DEFAULT_CATALOG_PATHS:
        part = tomllib.loads(source.read_text(encoding="utf-8"))
        for table in raw:
            raw[table].update(part.get(table) or {})
    for signal, column in export_columns(signals).items():
        if signal not in VIVA_NAMES and signal in raw["signals"]:
            raw["signals"][normalise_signal_name(column)] = raw["signals"][signal]
    return parse_catalog(raw, source="built-in, other names described as the simulator's")


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


def summary(figures: dict, cutoff: date, horizon: int, capacity: float) -> str:
    """The paths side by side, one line per figure."""
    paths = {"direct": "direct", "viva": "via Viva", "viva_described": "described"}
    columns = [(title, figures[key]) for key, title in paths.items() if key in figures]
    rows = [
        ("chosen", lambda p: f"{p['chosen'][:18]:>20}"),
        *(
            (metric, lambda p, m=metric: f"{p[m]:>20.3f}")
            for metric in ("average_precision", "roc_auc", "precision_at_capacity")
        ),
        ("naive AP", lambda p: f"{p['naive_reference']['average_precision']:>20.3f}"),
        ("feature columns", lambda p: f"{p['feature_columns']:>20}"),
        ("person-weeks scored", lambda p: f"{p['person_weeks_scored']:>20,}"),
    ]
    lines = [
        f"\ncutoff {cutoff}, horizon {horizon}, capacity {capacity:.0%}",
        f"{'':22}" + "".join(f"{title:>20}" for title, _ in columns),
        *(f"{name:22}" + "".join(cell(p) for _, p in columns) for name, cell in rows),
        f"every person-week scored on both paths: {figures['every_person_week_scored']}; "
        f"peak memory {figures['peak_gb']:.2f} GB",
    ]
    return "\n".join(lines)


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
    parser.add_argument(
        "--describe-others",
        action="store_true",
        help="also back-test the import with the other names described",
    )
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
        if args.describe_others:
            described = described_catalog(org.signals["signal"].unique().to_list())
            described_tables, described_result, timing = backtest_folder(
                viva_folder, home, described, args.horizon, cutoff, args.capacity
            )
            figures["viva_described"] = path_figures(described_tables, described_result, timing)
            print(f"through Viva, described: back-tested in {timing['backtest_seconds']:.0f} s", flush=True)
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
    print(summary(figures, cutoff, args.horizon, args.capacity), flush=True)
    maybe_write("viva_roundtrip", args, figures, omit=("keep",))


if __name__ == "__main__":
    main()
