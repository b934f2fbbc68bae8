"""Time `ewarn demo` on a fresh home and `ewarn nightly` end to end, as a user runs them.

Each command runs as its own process (imports and Prefect's start-up included), its step lines
are time-stamped as they arrive, and its peak memory is read from the operating system. The bars
of the flows issue are printed beside the figures:

    .venv/bin/python benchmarks/flows_bench.py demo
    .venv/bin/python benchmarks/flows_bench.py nightly --people 10000 --weeks 52 [--repeat 3]
    .venv/bin/python benchmarks/flows_bench.py retrain --people 10000 --weeks 104

Each step is printed with its seconds and its throughput in signal rows a second. The feature
stage alone, against a pandas reference implementation, is `benchmarks/feature_stage.py`.

For `nightly`, the champion is trained beforehand (not timed) on a separate simulated
organisation of 2,000 people x 104 weeks into the same home: scoring does not depend on who the
model was trained on, and a training at full size would only make the set-up slower.

Every figure is also written as a JSON record to benchmarks/results/ (benchmarks/record.py).
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import add_arguments, maybe_write

ROOT = Path(__file__).resolve().parents[1]
EWARN = str(Path(sys.executable).parent / "ewarn")
# The flows issue: demo under 3 minutes, nightly for 10,000 people under 30 s; the scale issue:
# nightly for 100,000 people under 60 s; the worlds issue: training 10,000 people x 104 weeks, with
# the per-outcome models, under 5 minutes.
BARS = {"demo": 180.0, "nightly": 30.0, "nightly_100k": 60.0, "retrain": 300.0}


def run_timed(args: list[str]) -> tuple[float, list[tuple[float, str]], int, str]:
    """Run a command; return wall seconds, (seconds, step) lines, peak RSS of the child in MB, output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ}
    )
    steps, lines = [], []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.startswith("- "):
            steps.append((time.perf_counter() - started, line[2:].strip().removesuffix(" ...")))
    # wait4 gives this child's own peak memory (Prefect's temporary server process is not in it).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{' '.join(args)} failed with exit code {code}:\n{''.join(lines)[-3000:]}")
    return wall, steps, usage.ru_maxrss // 1024, "".join(lines)


def print_steps(steps: list[tuple[float, str]], wall: float, rows: int | None = None) -> None:
    """Each step with the seconds until the next one (and signal rows a second, given the rows)."""
    marks = [*steps, (wall, "end")]
    if steps:
        print(f"    {steps[0][0]:6.1f} s  start-up (imports, Prefect server)")
    for (at, name), (after, _) in itertools.pairwise(marks):
        rate = f"  {rows / max(after - at, 1e-3):>14,.0f} rows/s" if rows else ""
        print(f"    {after - at:6.1f} s{rate}  {name}")


def signal_rows(landing: Path) -> int:
    """Rows of the landing folder's signals table."""
    import polars as pl

    return pl.scan_parquet(landing / "signals.parquet").select(pl.len()).collect().item()


def step_seconds(steps: list[tuple[float, str]], wall: float) -> list[dict]:
    """Each step with its seconds until the next one, for the record."""
    marks = [*steps, (wall, "end")]
    return [{"step": name, "seconds": after - at} for (at, name), (after, _) in itertools.pairwise(marks)]


def bench_demo() -> dict:
    """`ewarn demo` on a fresh home; check it leaves a champion, flags and a report; return the figures."""
    with tempfile.TemporaryDirectory(prefix="ewarn-demo-bench-") as folder:
        home = Path(folder) / "home"
        wall, steps, peak, output = run_timed([EWARN, "demo", "--home", str(home)])
        from flows.store import FlagStore, default_url

        run = FlagStore(default_url(home)).run()
        left = {
            "champion (MLflow registry)": "as champion" in output,
            "a nightly run with flags": bool(run and run["flag_count"] > 0),
            "an HTML report": (home / "reports" / "latest.html").exists(),
        }
    print(f"ewarn demo (2,000 people x 104 weeks, fresh home): {wall:.1f} s wall, peak {peak:,} MB")
    print_steps(steps, wall)
    for what, ok in left.items():
        print(f"  leaves {what}: {'yes' if ok else 'NO'}")
    verdict = "meets" if wall < BARS["demo"] and all(left.values()) else "MISSES"
    print(f"  bar: under {BARS['demo']:.0f} s -> {verdict}")
    return {
        "people": 2000,
        "weeks": 104,
        "wall_seconds": wall,
        "peak_mb": peak,
        "steps": step_seconds(steps, wall),
        "leaves": left,
        "bar_seconds": BARS["demo"],
        "meets_bar": verdict == "meets",
    }


def bench_nightly(people: int, weeks: int, repeat: int) -> dict:
    """`ewarn nightly` end to end for `people` x `weeks`, after an untimed set-up; return the figures."""
    with tempfile.TemporaryDirectory(prefix="ewarn-nightly-bench-") as folder:
        root = Path(folder)
        landing, home = root / "landing", root / "home"
        print(f"Setting up: simulating {people:,} x {weeks} and training a champion (not timed) ...")
        for args in (
            [EWARN, "simulate", "--out", str(landing), "--people", str(people), "--weeks", str(weeks)],
            [EWARN, "simulate", "--out", str(root / "train"), "--people", "2000", "--weeks", "104"],
            [EWARN, "train", "--data", str(root / "train"), "--home", str(home)],
        ):
            subprocess.run(args, check=True, capture_output=True)
        walls, runs = [], []
        for attempt in range(1, repeat + 1):
            wall, steps, peak, output = run_timed(
                [EWARN, "nightly", "--data", str(landing), "--home", str(home)]
            )
            walls.append(wall)
            runs.append({"wall_seconds": wall, "peak_mb": peak, "steps": step_seconds(steps, wall)})
            summary = next((line for line in output.splitlines() if line.startswith("Nightly run")), "")
            print(f"ewarn nightly, run {attempt}: {wall:.1f} s wall, peak {peak:,} MB. {summary}")
            print_steps(steps, wall, signal_rows(landing))
        rows = signal_rows(landing)
    best = min(walls)
    bar = BARS["nightly_100k"] if people >= 100_000 else BARS["nightly"]
    verdict = "meets" if best < bar else "MISSES"
    median = sorted(walls)[len(walls) // 2]
    print(
        f"  {people:,} people x {weeks} weeks: best {best:.1f} s, median {median:.1f} s "
        f"({people / best:,.0f} people a second); bar: under {bar:.0f} s -> {verdict}"
    )
    return {
        "runs": runs,
        "best_seconds": best,
        "median_seconds": median,
        "signal_rows": rows,
        "bar_seconds": bar,
        "meets_bar": verdict == "meets",
    }


def bench_retrain(people: int, weeks: int) -> dict:
    """`ewarn train` (the retrain flow) on a fresh home for `people` x `weeks`; return the figures."""
    with tempfile.TemporaryDirectory(prefix="ewarn-retrain-bench-") as folder:
        root = Path(folder)
        landing = root / "landing"
        print(f"Setting up: simulating {people:,} x {weeks} (not timed) ...")
        subprocess.run(
            [EWARN, "simulate", "--out", str(landing), "--people", str(people), "--weeks", str(weeks)],
            check=True,
            capture_output=True,
        )
        wall, steps, peak, _ = run_timed(
            [EWARN, "train", "--data", str(landing), "--home", str(root / "home")]
        )
        print(f"ewarn train ({people:,} x {weeks}): {wall:.1f} s wall, peak {peak:,} MB")
        rows = signal_rows(landing)
        print_steps(steps, wall, rows)
    verdict = "meets" if wall < BARS["retrain"] else "MISSES"
    print(f"  bar: under {BARS['retrain']:.0f} s -> {verdict}")
    return {
        "wall_seconds": wall,
        "peak_mb": peak,
        "steps": step_seconds(steps, wall),
        "signal_rows": rows,
        "bar_seconds": BARS["retrain"],
        "meets_bar": verdict == "meets",
    }


def main() -> None:
    """Parse the arguments and run the chosen benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["demo", "nightly", "retrain"])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--repeat", type=int, default=2)
    add_arguments(parser)
    args = parser.parse_args()
    print(f"Machine: {os.cpu_count()} CPUs; load average now {os.getloadavg()[0]:.1f}")
    if args.what == "demo":
        figures = bench_demo()
    elif args.what == "retrain":
        figures = bench_retrain(args.people, args.weeks)
    else:
        figures = bench_nightly(args.people, args.weeks, args.repeat)
    unused = {"demo": ("people", "weeks", "repeat"), "retrain": ("repeat",)}.get(args.what, ())
    maybe_write(f"flows_{args.what}", args, figures, omit=unused)


if __name__ == "__main__":
    main()
