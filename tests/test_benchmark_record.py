"""Benchmark records: every run leaves valid JSON with its commit, date, machine, arguments and figures."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.code

ROOT = Path(__file__).resolve().parents[1]


def _load_record():
    # benchmarks/ is not an installed package: load the module from its file.
    spec = importlib.util.spec_from_file_location("record", ROOT / "benchmarks" / "record.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


record = _load_record()


def test_a_record_is_valid_json_with_every_key(tmp_path: Path) -> None:
    figures = {
        "average_precision": np.float64(0.25),
        "rows": np.int64(1200),
        "median_lead_weeks": math.nan,  # not computable: null, never an invalid NaN token
        "shape": (1200, 48),
        "as_of": dt.date(2025, 3, 3),
        "per_split": np.array([0.1, 0.2]),
    }
    arguments = {"people": 300, "weeks": 40, "results_dir": tmp_path, "no_record": False, "label": "x"}
    path = record.write_result("model_bars", arguments, figures, tmp_path, label="Small check: 300 people")

    assert path.parent == tmp_path
    assert re.fullmatch(r"model_bars-\d{8}T\d{6}Z-(\w{8}|unknown)-small-check-300-people\.json", path.name)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert tuple(data) == record.KEYS
    assert data["benchmark"] == "model_bars"
    assert data["label"] == "Small check: 300 people"
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", data["commit"])
    assert isinstance(data["uncommitted_changes"], bool)
    assert dt.datetime.fromisoformat(data["date"]).tzinfo is not None
    assert {"cores", "memory_gib", "platform", "python"} <= set(data["machine"])
    assert data["machine"]["cores"] >= 1
    # The record options describe where it went, not the run.
    assert data["arguments"] == {"people": 300, "weeks": 40}
    assert data["figures"] == {
        "average_precision": 0.25,
        "rows": 1200,
        "median_lead_weeks": None,
        "shape": [1200, 48],
        "as_of": "2025-03-03",
        "per_split": [0.1, 0.2],
    }
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_no_record_writes_nothing_and_omitted_arguments_stay_out(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    record.add_arguments(parser)

    quiet = parser.parse_args(["--results-dir", str(tmp_path), "--no-record"])
    assert record.maybe_write("flows_demo", quiet, {"wall_seconds": 1.0}) is None
    assert not list(tmp_path.iterdir())

    written = parser.parse_args(["--results-dir", str(tmp_path)])
    path = record.maybe_write("flows_demo", written, {"wall_seconds": 1.0}, omit=("repeat",))
    assert path is not None
    assert path.name.endswith(f"-{record.commit()[0][:8]}.json")  # no label, no suffix
    assert json.loads(path.read_text(encoding="utf-8"))["arguments"] == {"people": 10}


def test_the_commit_is_unknown_outside_a_repository(tmp_path: Path) -> None:
    assert record.commit(tmp_path) == ("unknown", False)
    assert re.fullmatch(r"[0-9a-f]{40}", record.commit(ROOT)[0])
