"""Write a simulated organisation to disk: a landing folder plus its ground truth kept apart.

The landing tables (`signals`, `events`, `people`) go straight into `out/`, exactly as a real
organisation would deliver them. The ground truth goes into `out/truth/`, a folder the pipeline never
reads; it exists only so that models can be judged against what really happened.

Every file is written to a temporary name in its own folder and then renamed over the final name, so
a crash (or a full disk) never leaves a half-written table behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import polars as pl

from flows.tables import write_text_atomically
from simulator.organisation import SimulatedOrganisation

FORMATS = ("parquet", "csv")
TRUTH_FOLDER = "truth"


def write_simulation(org: SimulatedOrganisation, out: Path, fmt: str = "parquet") -> dict[str, Path]:
    """Write the landing tables into `out` and the ground truth into `out/truth/`.

    `fmt` is "parquet" (default) or "csv" (dates as ISO YYYY-MM-DD). Returns the path of every file
    written, keyed "signals", "events", "people", "truth_motivation", "truth_declines" and
    "truth_world" (the world's mechanisms as JSON, simulator/worlds.py).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    out = Path(out)
    truth = out / TRUTH_FOLDER
    truth.mkdir(parents=True, exist_ok=True)
    tables = {
        "signals": (org.signals, out / f"signals.{fmt}"),
        "events": (org.events, out / f"events.{fmt}"),
        "people": (org.people, out / f"people.{fmt}"),
        "truth_motivation": (org.truth, truth / f"motivation.{fmt}"),
        "truth_declines": (org.declines, truth / f"declines.{fmt}"),
    }
    written: dict[str, Path] = {}
    for key, (frame, path) in tables.items():
        _write_atomically(frame, path, fmt)
        written[key] = path
    world = truth / "world.json"
    write_text_atomically(world, json.dumps(dataclasses.asdict(org.world), indent=2) + "\n")
    written["truth_world"] = world
    return written


def _write_atomically(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    # The temporary file lives in the target folder so that os.replace is a same-filesystem rename,
    # which is atomic: readers see either the old table or the complete new one.
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as fh:
            if fmt == "parquet":
                frame.write_parquet(fh)
            else:
                frame.write_csv(fh, date_format="%Y-%m-%d")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
