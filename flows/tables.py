"""Writing result tables: Parquet or CSV by extension, atomically, so a crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

SUPPORTED_SUFFIXES = (".parquet", ".csv")


class OutputPathError(ValueError):
    """An output path whose extension says neither Parquet nor CSV."""


def check_output_path(path: Path) -> Path:
    """Refuse an output path we cannot write before any work is done."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise OutputPathError(
            f"{path}: the output must end in .parquet or .csv (got {path.suffix or 'none'})"
        )
    return path


def write_frame(frame: pl.DataFrame, path: Path) -> Path:
    """Write `frame` to `path` (Parquet or CSV by extension) via a temporary file and a rename.

    The rename is atomic on one file system, so readers see the old file or the new one, never a
    mix; an earlier output survives any failure before the rename.
    """
    check_output_path(path)
    if path.suffix.lower() == ".parquet":
        return _replace_atomically(path, frame.write_parquet)
    return _replace_atomically(path, lambda target: frame.write_csv(target, date_format="%Y-%m-%d"))


def write_text_atomically(path: Path, text: str) -> Path:
    """Write UTF-8 text to `path` via a temporary file and a rename (see `write_frame`)."""
    return _replace_atomically(path, lambda target: Path(target).write_text(text, encoding="utf-8"))


def _replace_atomically(path: Path, write: Callable[[str], object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
