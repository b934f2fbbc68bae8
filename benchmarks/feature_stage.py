"""Time the feature stage: ours (Polars, features.build) against the pandas reference, same data, same run.

Not part of the test suite (minutes at scale). Run from the repository root:

    .venv/bin/python benchmarks/feature_stage.py --people 10000 --weeks 52 --seed 7 --mode both

What is measured
- Data: the simulator's organisation (simulator.organisation), written as Parquet into a temporary
  landing folder with flows.simulate.write_simulation and checked once with flows.landing.load_landing,
  as the pipeline does (untimed). Simulation runs in its own process so this one stays small.
- Stage: from the landing folder's Parquet files to the feature table in memory. Ours scans the files
  lazily (what load_landing hands on for a folder without duplicate rows) and collects
  build_features; the reference reads them with pandas.read_parquet and runs build_features_pandas.
- nightly = one as-of week, the last week of the data; training = every week, with labels.
- Each implementation runs in a fresh child process (multiprocessing, spawn) per repetition, so its
  peak RSS (getrusage in the child) is its own: imports and input included, the parent excluded.
  "RSS before" is the child's resident memory after imports, before the stage starts.
  Wall time is the best of --repeat runs.
- Equality: the two output tables are compared with pandas_reference.compare_tables (every column,
  float32 tolerance), on all rows, or for outputs over --check-rows rows on a random sample of whole
  people of about that many rows (the notes under the table say which).
- --pandas-people M: when the reference would be too slow or too large, it runs on the first M people
  only (their rows of all three tables, a second landing folder); ours is then timed on that subset as
  well, so the ratio is always like for like, and on the full data for its own figures.

Polars uses every core; pandas one. The ratio is what a user of this machine would see.
Every figure is also written as a JSON record to benchmarks/results/ (benchmarks/record.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

MODES = ("nightly", "training")
IMPLEMENTATIONS = ("ours", "pandas")
MIN_FREE_GIB = 2.0  # set from --min-free-gib


@dataclass(frozen=True)
class Measurement:
    """One implementation, one mode, one landing folder: best wall time and worst peak memory."""

    implementation: str
    mode: str
    people: int
    input_rows: int
    output_rows: int
    output_columns: int
    seconds: float
    rss_before_gib: float
    peak_gib: float

    @property
    def rows_per_second(self) -> float:
        """Input signal rows processed per second of wall time."""
        return self.input_rows / self.seconds


def _rss_gib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def simulate_landing(people: int, weeks: int, seed: int, folder: str) -> dict:
    """Child process: simulate and write a landing folder; report its size and last week."""
    from flows.simulate import write_simulation
    from simulator.organisation import simulate_organisation

    started = time.perf_counter()
    org = simulate_organisation(people, weeks, seed)
    write_simulation(org, Path(folder))
    return {
        "seconds": time.perf_counter() - started,
        "signal_rows": org.signals.height,
        "last_week": org.signals["week"].max(),
        "peak_gib": _peak_gib(),
    }


def subset_landing(source: str, target: str, people: int) -> int:
    """Child process: copy the first `people` people (by id) of a landing folder; return signal rows."""
    import polars as pl

    Path(target).mkdir(parents=True, exist_ok=True)
    keep = pl.scan_parquet(Path(source) / "people.parquet").select("person_id").sort("person_id").head(people)
    rows = 0
    for table in ("signals", "events", "people"):
        part = pl.scan_parquet(Path(source) / f"{table}.parquet").join(keep, on="person_id", how="semi")
        frame = part.collect()
        frame.write_parquet(Path(target) / f"{table}.parquet")
        rows = frame.height if table == "signals" else rows
    return rows


def run_stage(implementation: str, mode: str, folder: str, as_of: date, output: str | None) -> dict:
    """Child process: time one feature stage from the landing files; optionally write its table."""
    from features.build import FeatureRequest
    from features.catalog import load_catalog

    catalog = load_catalog(None)
    request = FeatureRequest(as_of=as_of) if mode == "nightly" else FeatureRequest(with_labels=True)
    paths = {t: Path(folder) / f"{t}.parquet" for t in ("signals", "events", "people")}
    if implementation == "ours":
        import polars as pl

        from features.build import build_features

        before = _rss_gib()
        started = time.perf_counter()
        scans = {t: pl.scan_parquet(p) for t, p in paths.items()}
        table = build_features(scans["signals"], scans["events"], scans["people"], catalog, request).collect()
        seconds = time.perf_counter() - started
        shape = table.shape
        if output:
            table.write_parquet(output)
    else:
        import pandas as pd
        from pandas_reference import build_features_pandas

        before = _rss_gib()
        started = time.perf_counter()
        frames = {t: pd.read_parquet(p) for t, p in paths.items()}
        table = build_features_pandas(frames["signals"], frames["events"], frames["people"], catalog, request)
        seconds = time.perf_counter() - started
        shape = table.shape
        if output:
            table.to_parquet(output)
    return {"seconds": seconds, "rows": shape[0], "columns": shape[1], "before": before, "peak": _peak_gib()}


def _available_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024**2
    return float("inf")


class MemoryStopError(RuntimeError):
    """A child was stopped because the machine ran short of memory (others share it)."""


def _child(connection, function, args) -> None:
    connection.send(function(*args))
    connection.close()


def in_child(function, *args):
    """Run `function(*args)` in a fresh spawned process and return its result.

    The machine is shared: the child is killed when available memory falls below MIN_FREE_GIB,
    rather than letting the kernel's OOM killer pick a victim.
    """
    context = mp.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, function, args))
    process.start()
    send.close()
    started = time.perf_counter()
    while not receive.poll(0.2):
        if not process.is_alive():
            raise RuntimeError(f"{function.__name__} died with exit code {process.exitcode}")
        if _available_gib() < MIN_FREE_GIB:
            process.kill()
            process.join()
            raise MemoryStopError(
                f"{function.__name__}{args[:2]} stopped after {time.perf_counter() - started:.0f} s: "
                f"machine memory available fell below {MIN_FREE_GIB} GiB"
            )
    result = receive.recv()
    process.join()
    return result


def measure(
    implementation: str,
    mode: str,
    folder: str,
    as_of: date,
    people: int,
    input_rows: int,
    repeat: int,
    output: str,
) -> Measurement:
    """Best-of-`repeat` wall time and largest peak RSS of one implementation, each run in its own process."""
    runs = [
        in_child(run_stage, implementation, mode, folder, as_of, output if i == 0 else None)
        for i in range(repeat)
    ]
    return Measurement(
        implementation,
        mode,
        people,
        input_rows,
        runs[0]["rows"],
        runs[0]["columns"],
        min(r["seconds"] for r in runs),
        min(r["before"] for r in runs),
        max(r["peak"] for r in runs),
    )


def check_equal(ours_path: str, pandas_path: str, max_rows: int, seed: int) -> tuple[list[str], str]:
    """Compare the two written tables: all rows, or a random sample of people if there are over `max_rows`."""
    import numpy as np
    import pandas as pd
    import polars as pl
    from pandas_reference import compare_tables

    ours = pl.read_parquet(ours_path)
    people = ours["person_id"].unique().sort()
    scope = f"all {len(people):,} people"
    if ours.height > max_rows:
        # Keep about max_rows rows: whole people, so every week of each is compared.
        keep = max(1, len(people) * max_rows // ours.height)
        sample = np.random.default_rng(seed).choice(people.to_numpy(), keep, replace=False)
        scope = f"a random sample of {keep:,} of {len(people):,} people"
        ours = ours.filter(pl.col("person_id").is_in(sample.tolist()))
        theirs = pd.read_parquet(pandas_path, filters=[("person_id", "in", sample.tolist())])
    else:
        theirs = pd.read_parquet(pandas_path)
    theirs = theirs.sort_values(["person_id", "week"]).reset_index(drop=True)
    return compare_tables(ours, theirs), scope


def render(rows: list[Measurement]) -> str:
    """The measurements as an aligned text table, with the pandas/ours ratio per mode and size."""
    header = (
        f"{'stage':<9} {'impl':<7} {'people':>8} {'input rows':>12} {'output':>16} "
        f"{'wall s':>8} {'rows/s':>11} {'RSS before':>10} {'peak RSS':>9} {'pandas/ours':>11}"
    )
    lines = [header, "-" * len(header)]
    for m in rows:
        ratio = ""
        if m.implementation == "pandas":
            ours = next(
                (o for o in rows if o.implementation == "ours" and (o.mode, o.people) == (m.mode, m.people)),
                None,
            )
            ratio = f"{m.seconds / ours.seconds:10.1f}x" if ours else ""
        lines.append(
            f"{m.mode:<9} {m.implementation:<7} {m.people:>8,} {m.input_rows:>12,} "
            f"{f'{m.output_rows:,} x {m.output_columns}':>16} {m.seconds:>8.2f} {m.rows_per_second:>11,.0f} "
            f"{m.rss_before_gib:>8.2f} G {m.peak_gib:>7.2f} G {ratio:>11}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Simulate, time both implementations per mode, check equality, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both")
    parser.add_argument("--repeat", type=int, default=1, help="runs per implementation (best time is shown)")
    parser.add_argument(
        "--pandas-people", type=int, default=None, help="run the pandas reference on the first N people only"
    )
    parser.add_argument(
        "--check-rows",
        type=int,
        default=1_000_000,
        help="compare outputs on all rows up to this many, else on a random sample of whole people",
    )
    parser.add_argument("--skip-pandas", action="store_true", help="time ours only")
    parser.add_argument(
        "--min-free-gib",
        type=float,
        default=2.0,
        help="stop a run when the machine has less memory available",
    )
    from record import add_arguments, maybe_write

    add_arguments(parser)
    args = parser.parse_args(argv)
    global MIN_FREE_GIB
    MIN_FREE_GIB = args.min_free_gib
    modes = MODES if args.mode == "both" else (args.mode,)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)

    with tempfile.TemporaryDirectory(prefix="ewarn-bench-") as tmp:
        landing = str(Path(tmp) / "landing")
        sim = in_child(simulate_landing, args.people, args.weeks, args.seed, landing)
        print(
            f"simulated {args.people:,} people x {args.weeks} weeks: {sim['signal_rows']:,} signal rows "
            f"in {sim['seconds']:.1f} s (peak {sim['peak_gib']:.2f} GiB); as-of week {sim['last_week']}",
            flush=True,
        )
        from flows.landing import load_landing

        started = time.perf_counter()
        load_landing(Path(landing))  # the contract holds, as in the pipeline (raises otherwise)
        print(
            f"landing folder valid ({time.perf_counter() - started:.1f} s, not part of the stage)", flush=True
        )

        sizes = [(landing, args.people, sim["signal_rows"])]
        pandas_size = sizes[0]
        if args.pandas_people and args.pandas_people < args.people:
            small = str(Path(tmp) / "landing-subset")
            rows = in_child(subset_landing, landing, small, args.pandas_people)
            pandas_size = (small, args.pandas_people, rows)
            sizes.append(pandas_size)

        results: list[Measurement] = []
        notes: list[str] = []
        for mode in modes:
            for folder, people, rows in sizes:
                outputs = {
                    impl: str(Path(tmp) / f"{mode}-{people}-{impl}.parquet") for impl in IMPLEMENTATIONS
                }
                wanted = ["ours"]
                if not args.skip_pandas and folder == pandas_size[0]:
                    wanted.append("pandas")
                for impl in wanted:
                    try:
                        m = measure(
                            impl, mode, folder, sim["last_week"], people, rows, args.repeat, outputs[impl]
                        )
                    except MemoryStopError as exc:
                        notes.append(f"{mode}, {people:,} people, {impl}: {exc}")
                        print(f"  {exc}", flush=True)
                        continue
                    results.append(m)
                    print(
                        f"  {mode} {impl} {people:,} people: {m.seconds:.2f} s, peak {m.peak_gib:.2f} GiB",
                        flush=True,
                    )
                if "pandas" in wanted and all(Path(p).exists() for p in outputs.values()):
                    problems, scope = check_equal(
                        outputs["ours"], outputs["pandas"], args.check_rows, args.seed
                    )
                    verdict = "EQUAL" if not problems else "DIFFERENT: " + "; ".join(problems[:5])
                    notes.append(f"{mode}, {people:,} people: outputs compared on {scope}: {verdict}")
                for path in outputs.values():
                    Path(path).unlink(missing_ok=True)

    print()
    print(render(results))
    print()
    for note in notes:
        print(note)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    figures = {
        "signal_rows": sim["signal_rows"],
        "as_of_week": sim["last_week"],
        "measurements": [{**dataclasses.asdict(m), "rows_per_second": m.rows_per_second} for m in results],
        "notes": notes,
    }
    maybe_write("feature_stage", args, figures)
    return 0 if not any("DIFFERENT" in n for n in notes) else 1


if __name__ == "__main__":
    sys.exit(main())
