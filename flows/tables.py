"""Writing result tables: Parquet or CSV by extension, atomically, so a crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

SUPPORTED_SUFFIXES = (".parquet", ".csv")


class OutputPathError(ValueError):
    """An output path that cannot be written: an extension neither Parquet nor CSV, or its folder."""


def check_output_path(path: Path) -> Path:
    """Refuse an output path we cannot write before any work is done."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise OutputPathError(
            f"{path}: the output must end in .parquet or .csv (got {path.suffix or 'none'})"
        )
    check_writable_folder(path.parent, path)
    return path


def check_writable_folder(folder: Path, output: Path | None = None) -> Path:
    """Refuse a folder (for `output`) that cannot be created or written in, before any work is done.

    Tried with a temporary file rather than read from the modes: a read-only mount or an
    administrator's account makes the modes say nothing. A missing folder is judged by its
    nearest existing parent, where it would be created.
    """
    what = output or folder
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(
            f"Cannot write {what}: {existing} is a file, not a folder. Choose a folder you can write to."
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise OutputPathError(
            f"Cannot write {what}: the folder {existing} refuses new files ({exc.strerror}). "
            "Choose a folder you can write to."
        ) from None
    return folder


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
