"""Benchmark records become runs of the MLflow experiment `research`, each once, figures as metrics."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.code

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def _load(name: str):
    # benchmarks/ is not an installed package: load the module from its file.
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


record = _load("record")
research = _load("research")

FIGURES = {
    "worlds": [
        {"world": 101, "ratio": 0.47, "chosen": "gradient_boosting", "kept": True},
        {"world": 9001, "ratio": 0.68, "chosen": "gradient_boosting", "kept": False},
    ],
    "seconds": 12,
    "shape": [400, 48],
}


def test_figures_flatten_to_sanitised_metric_names() -> None:
    figures = {
        "worlds": FIGURES["worlds"],
        "models": [{"name": "ours (tuned)", "ap": 0.3}, {"name": "naive", "ap": 0.1}],
        "same_world": [{"world": 1, "ap": 0.2}, {"world": 1, "ap": 0.4}],  # not distinct: by position
        "shape": (400, 48),
        "flag": True,
        "missing": None,
        "not_a_number": math.nan,
        "too_large": math.inf,
        "text": "gradient_boosting",
        "odd:key%": 1.5,
        "odd_key_": 2.5,  # sanitises like the one before it: both stay
    }
    assert research.metrics(figures) == {
        "worlds.101.ratio": 0.47,
        "worlds.9001.ratio": 0.68,
        "models.ours _tuned_.ap": 0.3,
        "models.naive.ap": 0.1,
        "same_world.0.world": 1.0,
        "same_world.0.ap": 0.2,
        "same_world.1.world": 1.0,
        "same_world.1.ap": 0.4,
        "shape.0": 400.0,
        "shape.1": 48.0,
        "odd_key_": 1.5,
        "odd_key__2": 2.5,
    }
    assert research.metric_name("a//b") == "a__b"  # MLflow refuses names that read as odd paths
    assert research.metric_name("per_world/dev 1-x.y") == "per_world/dev 1-x.y"


def test_arguments_and_machine_become_params_cut_to_the_limit() -> None:
    found = research.params(
        {
            "arguments": {"people": 400, "worlds": [101, 102], "note": "x" * 7000, "flag": None},
            "machine": {"cores": 2},
        }
    )
    assert found == {
        "arguments.people": "400",
        "arguments.worlds": "[101, 102]",
        "arguments.note": "x" * 6000,
        "arguments.flag": "null",
        "machine.cores": "2",
    }
    assert research.artifact_location("sqlite:////data/x/r.db") == "/data/x/r-artifacts"
    assert research.artifact_location("http://localhost:5000") is None


def _runs(uri: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("research")
    assert experiment is not None
    return client.search_runs([experiment.experiment_id])


@pytest.mark.slow  # creates an MLflow tracking store
def test_records_become_runs_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    kept = record.write_result(
        "model_bars",
        {"people": 400, "worlds": "both", "results_dir": results},
        FIGURES,
        results,
        label="two worlds",
        decision="kept",
    )
    empty = record.write_result(
        "viva_roundtrip", {"people": 300}, {"median_lead_weeks": math.nan, "ap": None, "rows": 7}, results
    )
    # A record written before `decision` existed is still imported.
    old = json.loads(empty.read_text(encoding="utf-8"))
    del old["decision"]
    empty.write_text(json.dumps(old), encoding="utf-8")
    uri = f"sqlite:///{tmp_path}/r.db"

    assert research.main(["--uri", uri, "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert out.count("logged  ") == 2 and f"mlflow ui --backend-store-uri {uri}" in out

    runs = {run.info.run_name: run for run in _runs(uri)}
    assert set(runs) == {kept.stem, empty.stem}
    first = runs[kept.stem]
    assert first.info.status == "FINISHED"
    assert first.data.tags["record_file"] == kept.name
    assert first.data.tags["benchmark"] == "model_bars"
    assert first.data.tags["label"] == "two worlds"
    assert first.data.tags["decision"] == "kept"
    assert first.data.tags["uncommitted_changes"] in ("true", "false")
    assert first.data.tags["commit"] == json.loads(kept.read_text(encoding="utf-8"))["commit"]
    assert first.data.metrics == {
        "worlds.101.ratio": 0.47,
        "worlds.9001.ratio": 0.68,
        "seconds": 12.0,
        "shape.0": 400.0,
        "shape.1": 48.0,
    }
    assert first.data.params["arguments.people"] == "400"
    assert first.data.params["arguments.worlds"] == "both"
    assert "arguments.results_dir" not in first.data.params
    assert first.data.params["machine.cores"] == str(json.loads(kept.read_text())["machine"]["cores"])
    artifacts = Path(first.info.artifact_uri.removeprefix("file://"))
    assert artifacts.is_relative_to(tmp_path / "r-artifacts")  # beside the store, not in the working folder
    assert json.loads((artifacts / kept.name).read_text(encoding="utf-8")) == json.loads(kept.read_text())

    second = runs[empty.stem]
    assert second.data.metrics == {"rows": 7.0}  # NaN and None leave no metric
    assert "decision" not in second.data.tags and "label" not in second.data.tags

    # Again: nothing new, and log_record gives back the run that holds the record.
    assert research.main(["--uri", uri, "--results-dir", str(results)]) == 0
    assert capsys.readouterr().out.count("already there") == 2
    assert research.log_record(json.loads(kept.read_text()), kept.name, uri) == first.info.run_id
    assert len(_runs(uri)) == 2


@pytest.mark.slow  # creates an MLflow tracking store
def test_a_benchmark_logs_its_record_with_research_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as for a benchmark script run from its file
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10)
    record.add_arguments(parser)
    uri = f"sqlite:///{tmp_path}/r.db"
    args = parser.parse_args(
        [
            "--results-dir",
            str(tmp_path / "results"),
            "--decision",
            "dropped: within noise",
            "--research-uri",
            uri,
        ]
    )
    path = record.maybe_write("flows_demo", args, {"wall_seconds": 1.5})

    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["decision"] == "dropped: within noise"
    assert data["arguments"] == {"people": 10}  # the record options are not the run's arguments
    [run] = _runs(uri)
    assert run.info.run_name == path.stem
    assert run.data.tags["decision"] == "dropped: within noise"
    assert run.data.metrics == {"wall_seconds": 1.5}
