"""Benchmark records as MLflow runs: every attempt, side by side, in an experiment named `research`.

Each JSON record under benchmarks/results/ (benchmarks/record.py) becomes one run: named after its
file, tagged with the benchmark, label, decision, commit and date, its arguments and machine as
params, every finite number of its figures as a metric (dotted paths: `per_world.dev.101.ratio`),
and the record itself as an artifact. Importing is idempotent: a record already there (tag
`record_file`) is left alone, so the command can be run after every benchmark.

    python benchmarks/research.py [--uri URI] [--results-dir DIR]
    mlflow ui --backend-store-uri URI

The default store is benchmarks/research.db (not committed), with its artifacts beside it in
benchmarks/research-artifacts: nothing is written to the working folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import posixpath
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_URI = f"sqlite:///{ROOT / 'benchmarks' / 'research.db'}"
EXPERIMENT = "research"
RECORD_FILE = "record_file"  # the tag naming the record a run came from
TAGS = ("benchmark", "label", "decision", "commit", "uncommitted_changes", "date")
# A list of results is keyed by the first of these its elements all carry (distinct), else by position.
LIST_KEYS = ("world", "name")
# MLflow's limits (mlflow.utils.validation): key length, param value length, entries per batch.
MAX_KEY, MAX_PARAM, MAX_METRICS_PER_BATCH, MAX_PARAMS_PER_BATCH = 250, 6000, 1000, 100
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")


@dataclass(frozen=True)
class Imported:
    """What importing one record did: its run, whether it was logged now, and how many metrics it has."""

    run_id: str
    logged: bool
    metrics: int


def metric_name(path: str) -> str:
    """`path` with only the characters MLflow allows in a name (alphanumerics, `_ - . / space`)."""
    name = _UNSAFE.sub("_", path)[:MAX_KEY]
    if not name or posixpath.normpath(name) != name or name.startswith(("/", "..")):
        name = name.replace("/", "_") or "_"  # MLflow also refuses names that read as odd file paths
    return name


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, leaf) for every leaf of nested dicts and lists.

    A list of dicts that all carry a distinct `world` (or `name`) is keyed by it, and that key is
    left out of the leaves; any other list by position.
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list | tuple):
        keyed = _list_key(value)
        for position, item in enumerate(value):
            if keyed is None:
                yield from flatten(item, f"{prefix}.{position}" if prefix else str(position))
            else:
                label = f"{prefix}.{item[keyed]}" if prefix else str(item[keyed])
                yield from flatten({k: v for k, v in item.items() if k != keyed}, label)
    else:
        yield prefix, value


def _list_key(items: list | tuple) -> str | None:
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    for key in LIST_KEYS:
        labels = [item.get(key) for item in items]
        usable = all(isinstance(label, str | int) and not isinstance(label, bool) for label in labels)
        if usable and len({str(label) for label in labels}) == len(labels):
            return key
    return None


def metrics(figures: Mapping[str, Any]) -> dict[str, float]:
    """Every finite number in `figures` under its sanitised dotted path; bools, text and nulls left out."""
    found: dict[str, float] = {}
    for path, leaf in flatten(figures):
        if isinstance(leaf, bool) or not isinstance(leaf, int | float) or not math.isfinite(leaf):
            continue
        name = base = metric_name(path)
        copy = 1
        while name in found:  # two paths that sanitise alike both stay
            copy += 1
            name = metric_name(f"{base[: MAX_KEY - 8]}_{copy}")
        found[name] = float(leaf)
    return found


def params(record: Mapping[str, Any]) -> dict[str, str]:
    """The record's arguments and machine as `arguments.<key>` / `machine.<key>`, stringified and cut
    to MLflow's limit."""
    found = {}
    for section in ("arguments", "machine"):
        for key, value in (record.get(section) or {}).items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            found[metric_name(f"{section}.{key}")] = text[:MAX_PARAM]
    return found


def tags(record: Mapping[str, Any], source_name: str) -> dict[str, str]:
    """The tags of a record's run; a key the record lacks (older records have no decision) is left out."""
    found = {}
    for key in TAGS:
        value = record.get(key)
        if value is not None:
            found[key] = value if isinstance(value, str) else json.dumps(value)
    found[RECORD_FILE] = source_name
    return found


def artifact_location(uri: str) -> str | None:
    """Beside an SQLite store `NAME.db`, the folder `NAME-artifacts`; a server chooses its own (None)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri.removeprefix(prefix) in ("", ":memory:"):
        return None
    database = Path(uri.removeprefix(prefix))
    return str(database.with_name(f"{database.stem}-artifacts").resolve())


def connect(uri: str) -> tuple[Any, str]:
    """An MLflow client of the store at `uri` and the id of its `research` experiment (created if new)."""
    # Imported here: mlflow takes seconds to import, and a benchmark that logs nothing should not wait.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow import MlflowClient

    location = artifact_location(uri)
    if location is not None:
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # An explicit client, not mlflow.set_tracking_uri: nothing global changes in the calling process.
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return client, found.experiment_id
    return client, client.create_experiment(EXPERIMENT, artifact_location=location)


def existing_run(client: Any, experiment_id: str, source_name: str) -> str | None:
    """The run already holding the record `source_name`, if any."""
    quote = "'" if "'" not in source_name else '"'
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.{RECORD_FILE} = {quote}{source_name}{quote}", max_results=1
    )
    return runs[0].info.run_id if runs else None


def import_record(client: Any, experiment_id: str, record: Mapping[str, Any], source_name: str) -> Imported:
    """Log `record` (read from the file `source_name`) as a run, unless a run already holds it.

    The `record_file` tag is set last: a run that failed half-way is marked FAILED and lacks it,
    so the next import logs the record again in full.
    """
    from mlflow.entities import Metric, Param, RunTag

    found = existing_run(client, experiment_id, source_name)
    if found is not None:
        return Imported(found, False, len(client.get_run(found).data.metrics))
    when = _milliseconds(record.get("date"))
    run = client.create_run(experiment_id, start_time=when, run_name=Path(source_name).stem)
    run_id = run.info.run_id
    try:
        values = metrics(record.get("figures") or {})
        entries = [Metric(key, value, when, 0) for key, value in values.items()]
        for start in range(0, len(entries), MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=entries[start : start + MAX_METRICS_PER_BATCH])
        settings = [Param(key, value) for key, value in params(record).items()]
        labels = tags(record, source_name)
        settings += [RunTag(key, value) for key, value in labels.items() if key != RECORD_FILE]
        for start in range(0, len(settings), MAX_PARAMS_PER_BATCH):
            chunk = settings[start : start + MAX_PARAMS_PER_BATCH]
            client.log_batch(
                run_id,
                params=[s for s in chunk if isinstance(s, Param)],
                tags=[s for s in chunk if isinstance(s, RunTag)],
            )
        client.log_dict(run_id, dict(record), source_name)
        client.set_tag(run_id, RECORD_FILE, labels[RECORD_FILE])
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    # The run took place when the benchmark ran; its length is not known here.
    client.set_terminated(run_id, "FINISHED", end_time=when)
    return Imported(run_id, True, len(values))


def log_record(record: dict, source_name: str, uri: str) -> str:
    """Log one record as a run of the `research` experiment at `uri`; the id of its run.

    `source_name` is the record's file name (the run is named after its stem). A record already
    logged there is not logged again: the id of its run is returned.
    """
    client, experiment_id = connect(uri)
    return import_record(client, experiment_id, record, source_name).run_id


def _milliseconds(date: Any) -> int | None:
    try:
        return int(dt.datetime.fromisoformat(str(date)).timestamp() * 1000)
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    """Import every record of a folder; 1 when there was none or one could not be read."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default=DEFAULT_URI, help="MLflow tracking store (default: %(default)s)")
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="folder of JSON records (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    paths = sorted(args.results_dir.glob("*.json"))
    if not paths:
        print(f"no records in {args.results_dir}", file=sys.stderr)
        return 1
    client, experiment_id = connect(args.uri)
    logged = metric_count = failed = 0
    for path in paths:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            print(f"skipped        {path.name}: not a readable record ({exc})", file=sys.stderr)
            failed += 1
            continue
        result = import_record(client, experiment_id, record, path.name)
        logged += result.logged
        metric_count += result.metrics if result.logged else 0
        state = "logged" if result.logged else "already there"
        print(f"{state:<14} {path.name} (run {result.run_id}, {result.metrics} metrics)")
    print(
        f"{logged} of {len(paths)} records logged now ({metric_count} metrics) to experiment "
        f"'{EXPERIMENT}' at {args.uri}"
    )
    print(f"browse them: mlflow ui --backend-store-uri {args.uri}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
