"""One JSON record per benchmark run, under benchmarks/results/: what was measured, where and when.

Every benchmark script ends with `write_result(name, vars(args), figures)`. The record holds the
commit (and whether the work tree had uncommitted changes), the date, the machine (cores, memory,
platform), the arguments and the figures, so a figure quoted anywhere can be traced to its run.
Records are never overwritten: the file name carries the time and the commit. `--decision` keeps
what was decided from the run; `--research-uri` also logs the record as an MLflow run of the
`research` experiment (benchmarks/research.py, which imports the older records too).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# Records written before `decision` existed lack it; readers use record.get("decision").
KEYS = (
    "benchmark",
    "label",
    "decision",
    "commit",
    "uncommitted_changes",
    "date",
    "machine",
    "arguments",
    "figures",
)
_RECORD_OPTIONS = ("results_dir", "no_record", "label", "decision", "research_uri")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark shares: where the record goes, or none at all."""
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="folder for the JSON record (default: %(default)s)"
    )
    parser.add_argument("--no-record", action="store_true", help="print only; write no JSON record")
    parser.add_argument(
        "--label", default=None, help="a few words on why this run was made (kept in the record and its name)"
    )
    parser.add_argument(
        "--decision",
        default=None,
        help='what was decided from this run, e.g. "kept" or "dropped: within noise" (kept in the record)',
    )
    parser.add_argument(
        "--research-uri",
        default=None,
        metavar="URI",
        help="also log the record as a run of the MLflow experiment 'research' at URI (see research.py)",
    )


def commit(root: Path = ROOT) -> tuple[str, bool]:
    """The checked-out commit and whether tracked files differ from it; ("unknown", False) without git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return head, bool(status.strip())


def machine() -> dict[str, Any]:
    """Cores, memory, platform and load of this machine: what a timing depends on."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "cores": os.cpu_count(),
        "memory_gib": None if memory is None else round(memory, 1),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def plain(value: Any) -> Any:
    """`value` as plain JSON: numpy numbers, dates, paths, dataclasses and tuples converted; NaN as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain(value.tolist())
    return str(value)


def build_record(
    benchmark: str,
    arguments: Mapping[str, Any],
    figures: Mapping[str, Any],
    *,
    label: str | None = None,
    decision: str | None = None,
    root: Path = ROOT,
) -> dict[str, Any]:
    """The record for one run: every key of KEYS, all plain JSON."""
    head, dirty = commit(root)
    record = {
        "benchmark": benchmark,
        "label": label,
        "decision": decision,
        "commit": head,
        "uncommitted_changes": dirty,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "arguments": plain(arguments),
        "figures": plain(figures),
    }
    return record


def write_result(
    benchmark: str,
    arguments: Mapping[str, Any],
    figures: Mapping[str, Any],
    folder: Path = RESULTS,
    *,
    label: str | None = None,
    decision: str | None = None,
    root: Path = ROOT,
) -> Path:
    """Write the record of one run as `folder/<benchmark>-<UTC time>-<commit>[-<label>].json`.

    Returns its path. The record options themselves (`results_dir`, `no_record`, `label`,
    `decision`, `research_uri`) are left out of the arguments; label and decision have keys of
    their own.
    """
    arguments = {k: v for k, v in arguments.items() if k not in _RECORD_OPTIONS}
    record = build_record(benchmark, arguments, figures, label=label, decision=decision, root=root)
    stamp = dt.datetime.fromisoformat(record["date"]).strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", (label or "").lower()).strip("-")[:40]
    path = folder / f"{benchmark}-{stamp}-{record['commit'][:8]}{'-' + slug if slug else ''}.json"
    text = json.dumps(record, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return path


def maybe_write(
    benchmark: str, args: argparse.Namespace, figures: Mapping[str, Any], omit: tuple[str, ...] = ()
) -> Path | None:
    """Write the record unless `--no-record` was given, and say where it went; with `--research-uri`,
    log it as a run of the `research` experiment there too.

    `omit`: arguments this run did not use (they would misdescribe it).
    """
    if args.no_record:
        return None
    arguments = {k: v for k, v in vars(args).items() if k not in omit}
    decision = getattr(args, "decision", None)
    path = write_result(benchmark, arguments, figures, args.results_dir, label=args.label, decision=decision)
    print(f"record: {path}")
    uri = getattr(args, "research_uri", None)
    if uri:
        # Imported only now: it imports mlflow, which a benchmark that logs nothing should not wait for.
        # benchmarks/ is on the path of every benchmark script, as for `from record import ...`.
        from research import log_record

        run_id = log_record(json.loads(path.read_text(encoding="utf-8")), path.name, uri)
        print(f"research run: {run_id} (mlflow ui --backend-store-uri {uri})")
    return path
