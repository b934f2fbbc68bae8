"""Replace real person identifiers by keyed pseudonyms before anything else touches the data.

A pseudonym is an HMAC-SHA256 of the identifier under the organisation's secret key, so the same
key always gives the same pseudonym (new exports join old ones) while nobody without the key can
recompute or reverse it. The key never leaves the caller and nothing here prints an identifier.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from features.contract_report import ValidationReport
from features.contract_specs import READ_ERRORS
from features.manifest import MANIFEST_FILE
from flows.landing import ContractViolation, landing_files, load_landing, validate_folder

MIN_KEY_BYTES = 16
PSEUDONYM_PREFIX = "p"
# 24 hex characters are 96 bits: collisions are negligible for any workforce, and the ids stay
# short enough to read aloud when two analysts compare notes.
PSEUDONYM_HEX_CHARS = 24


class PseudonymiseError(Exception):
    """Pseudonymisation refused or failed; the message says why and never names a person."""


@dataclass(frozen=True)
class PseudonymiseResult:
    """What pseudonymisation wrote: counts only, never an identifier."""

    src: Path
    dst: Path
    people: int
    rows: dict[str, int] = field(default_factory=dict)
    dropped_duplicates: dict[str, int] = field(default_factory=dict)
    report: ValidationReport | None = None

    def render(self) -> str:
        """A few lines of counts for the terminal."""
        ids = f"{self.people:,} distinct person id{'' if self.people == 1 else 's'}"
        lines = [f"Pseudonymised {ids} into {self.dst}."]
        for table, count in self.rows.items():
            lines.append(f"  {table}.parquet: {count:,} row{'s' if count != 1 else ''}")
        for table, count in self.dropped_duplicates.items():
            if count:
                lines.append(
                    f"  {table}: {count:,} identical duplicate row{'s' if count != 1 else ''} dropped"
                )
        lines += [
            "Only the contract tables (and manifest.toml) were written; other files and subfolders were "
            "not copied.",
            "Keep the key secret and unchanged: the same key gives the same pseudonyms next time.",
        ]
        return "\n".join(lines)


def pseudonym(raw_id: str, key: bytes) -> str:
    """The keyed pseudonym of one identifier: "p" + the first 24 hex digits of HMAC-SHA256."""
    _check_key(key)
    digest = hmac.new(bytes(key), raw_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_CHARS]


def pseudonymise_folder(src: Path, dst: Path, key: bytes) -> PseudonymiseResult:
    """Write a copy of landing folder `src` into `dst` with every person_id replaced by its pseudonym.

    `src` is validated with real identifiers allowed, `dst` must not already hold landing tables,
    and the output is validated normally before it appears in `dst`, so `dst` never holds a
    half-written or invalid landing. Raises `PseudonymiseError` when anything is wrong.
    """
    _check_key(key)
    src, dst = Path(src), Path(dst)
    _check_destination(src, dst)
    try:
        landing = load_landing(src, allow_real_identifiers=True)
    except ContractViolation as exc:
        raise PseudonymiseError(
            f"The source folder does not meet input contract v1, so nothing was written.\n\n{exc}"
        ) from None
    tables = {
        name: frame
        for name, frame in (
            ("signals", landing.signals),
            ("events", landing.events),
            ("people", landing.people),
        )
        if frame is not None
    }

    try:
        old = _unique_ids(tables)
    except READ_ERRORS as exc:
        raise PseudonymiseError(f"Could not read the source tables: {type(exc).__name__}.") from None
    new = [pseudonym(raw, key) for raw in old]
    if len(set(new)) != len(new):
        raise PseudonymiseError("Two identifiers received the same pseudonym; nothing was written.")
    mapping_old = pl.Series("old", old, dtype=pl.String)
    mapping_new = pl.Series("new", new, dtype=pl.String)

    try:
        dst.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".ewarn-pseudonymise-", dir=dst))
    except OSError as exc:
        raise PseudonymiseError(f"Cannot write to {dst}: {exc.strerror}.") from None
    try:
        for name, frame in tables.items():
            replaced = frame.with_columns(
                pl.col("person_id").replace_strict(mapping_old, mapping_new, return_dtype=pl.String)
            )
            replaced.sink_parquet(staging / f"{name}.parquet")
        report = validate_folder(staging)
        if not report.ok:
            raise PseudonymiseError(
                "The pseudonymised tables failed validation, so nothing was written:\n\n" + report.render()
            )
        for name in tables:
            # Same filesystem as dst, so each table appears whole or not at all.
            os.replace(staging / f"{name}.parquet", dst / f"{name}.parquet")
        if (src / MANIFEST_FILE).is_file():
            # It names no person, and without it the labels would end at another date.
            shutil.copyfile(src / MANIFEST_FILE, dst / MANIFEST_FILE)
    except PseudonymiseError:
        raise
    except READ_ERRORS as exc:
        raise PseudonymiseError(f"Could not write the pseudonymised tables: {type(exc).__name__}.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    report = dataclasses.replace(report, folder=str(dst))
    rows = {name: int(report.summary.get(name, {}).get("rows", 0)) for name in tables}
    dropped = dict(landing.report.dropped_duplicates)
    return PseudonymiseResult(src, dst, len(old), rows, dropped, report)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray):
        raise PseudonymiseError("The pseudonymisation key must be bytes.")
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymiseError(
            f"The pseudonymisation key is too short ({len(key)} bytes); use at least {MIN_KEY_BYTES}."
        )


def _check_destination(src: Path, dst: Path) -> None:
    try:
        same = dst.resolve() == src.resolve()
        if same:
            raise PseudonymiseError("The destination is the source folder; give a new, separate folder.")
        if dst.exists() and not dst.is_dir():
            raise PseudonymiseError(f"The destination {dst} exists and is not a folder.")
        present = landing_files(dst) if dst.is_dir() else []
    except OSError as exc:
        raise PseudonymiseError(f"Cannot inspect the destination {dst}: {exc.strerror}.") from None
    if present:
        names = ", ".join(path.name for path in present)
        raise PseudonymiseError(
            f"The destination {dst} already holds landing tables ({names}); refusing to overwrite them."
        )


def _unique_ids(tables: dict[str, pl.LazyFrame]) -> list[str]:
    # Only the distinct ids are collected: the mapping is computed once per person, then joined.
    ids = pl.concat([frame.select("person_id") for frame in tables.values()]).unique()
    return ids.collect(engine="streaming").get_column("person_id").sort().to_list()
