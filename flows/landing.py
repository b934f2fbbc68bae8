"""The I/O edge of input contract v1: find a landing folder's tables, scan them lazily, check them.

Files are only ever scanned (`pl.scan_csv` / `pl.scan_parquet`); what is collected is aggregates
and a few example rows, so a folder larger than memory can be checked. Work that groups by a key
(duplicates, the summary's distinct people and person-weeks) runs in passes over partitions of the
persons, as many as the table's size asks for (see `table_partitions`), so its memory follows
`PARTITION_ROWS`, not the data; a CSV large enough to need several passes is first copied, in
one streaming pass, to a temporary Parquet file that the passes read. CSV is read with every
column as text, so that a word in a numeric column or a malformed date is reported with examples
instead of failing inside the reader.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from features.catalog import Catalog, coverage
from features.contract import UTF8_MESSAGE, check_table, encoding_problem, read_problem, typed_frame
from features.contract_hints import cross_table_notes
from features.contract_report import Problem, TableCheck, ValidationReport, summarise
from features.contract_specs import PARTITION_ROWS, READ_ERRORS, TABLES, TableSpec, partition_count
from features.manifest import MANIFEST_FILE, Manifest, parse_manifest

TABLE_SUFFIXES = (".csv", ".parquet")
# A CSV's row count is estimated from its size without reading it. Contract rows are rarely
# shorter than this (a pseudonymised signals row is about 40 bytes), so the estimate errs
# towards more partitions, which costs time, never memory.
CSV_BYTES_PER_ROW = 32


class ContractViolation(Exception):  # noqa: N818 (name fixed by the contract API)
    """A landing folder that does not meet the contract; str() is the rendered report."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.render())
        self.report = report


@dataclass(frozen=True)
class Landing:
    """A validated landing folder as typed LazyFrames, identical duplicates removed.

    `signals`: person_id String, week Date, signal String, value Float64.
    `events`: person_id String, date Date, event String (None when the file is absent).
    `people`: person_id String, team_id String, hired_on Date (all null when the column is
    absent), then any audit_* columns as String (None when the file is absent).
    `observed_until`: the end of observation the manifest declares (None without one).
    """

    folder: Path
    signals: pl.LazyFrame
    events: pl.LazyFrame | None
    people: pl.LazyFrame | None
    report: ValidationReport
    observed_until: date | None = None


class AsOfError(ValueError):
    """An --as-of date outside the weeks a landing folder's signals hold."""


def week_in_data(landing: Landing, requested: date) -> date:
    """The Monday of the week of `requested`, refused (AsOfError) outside the signals' weeks.

    Features or scores for a week the data does not hold would be empty, not an answer.
    """
    signals = landing.report.summary.get("signals", {})
    first, last = signals.get("first_week"), signals.get("last_week")
    if first is None or last is None:  # a landing not summarised by validation: read the weeks
        first, last = landing.signals.select(pl.col("week").min(), pl.col("week").max()).collect().row(0)
    first, last = date.fromisoformat(str(first)), date.fromisoformat(str(last))
    week = requested - timedelta(days=requested.weekday())
    file = landing.folder / landing.report.files.get("signals", "signals")
    if week > last:
        raise AsOfError(
            f"--as-of {requested} is after the last week in the data: {file} ends with the week of "
            f"{last}. Choose a date up to then, or leave --as-of out for the last week."
        )
    if week < first:
        raise AsOfError(
            f"--as-of {requested} is before the first week in the data: {file} starts with the week of "
            f"{first}. Choose a date from then on."
        )
    return week


def validate_folder(
    folder: Path,
    *,
    allow_real_identifiers: bool = False,
    require_events: bool = False,
    partitions: int | None = None,
    notes: bool = False,
    catalog: Catalog | None = None,
    anonymity_threshold: int | None = None,
) -> ValidationReport:
    """Check a landing folder against input contract v1 and report every problem found.

    `allow_real_identifiers` accepts e-mail- or name-like person ids (only for the input of the
    pseudonymise step); `require_events` makes a missing events table an error (training).
    `partitions` fixes how many person partitions every table is checked in (default: from each
    table's size, see `table_partitions`); the report is the same for any number.
    With `notes`, a valid folder's report also notes ids that do not meet across the tables
    (one more pass over the signals' ids) and, given a `catalog`, how many signals it describes.
    `anonymity_threshold` (the settings') lets the summary count the teams too small to be shown.
    """
    report, frames = _inspect(Path(folder), allow_real_identifiers, require_events, partitions)
    report = dataclasses.replace(report, anonymity_threshold=anonymity_threshold)
    if not (notes and report.ok):
        return report
    found = cross_table_notes(frames["signals"], frames.get("events"), frames.get("people"), report.files)
    if catalog is not None:
        found.insert(0, coverage(catalog, report.summary["signals"]["coverage"]).render())
    return dataclasses.replace(report, notes=tuple(found))


def load_landing(
    folder: Path,
    *,
    allow_real_identifiers: bool = False,
    require_events: bool = False,
    partitions: int | None = None,
) -> Landing:
    """Validate a landing folder and return its tables as typed LazyFrames.

    Raises `ContractViolation` (whose message is the rendered report) when the folder is invalid.
    `partitions` is as for `validate_folder`.
    """
    folder = Path(folder)
    report, frames = _inspect(folder, allow_real_identifiers, require_events, partitions)
    if not report.ok:
        raise ContractViolation(report)
    observed_until = report.summary.get("manifest", {}).get("observed_until")
    return Landing(
        folder,
        frames["signals"],
        frames.get("events"),
        frames.get("people"),
        report,
        date.fromisoformat(observed_until) if observed_until else None,
    )


def landing_files(folder: Path) -> list[Path]:
    """The contract table files present in a folder (any table, either format)."""
    return [
        folder / f"{spec.name}{suffix}"
        for spec in TABLES
        for suffix in TABLE_SUFFIXES
        if (folder / f"{spec.name}{suffix}").is_file()
    ]


def scan_table(path: Path) -> pl.LazyFrame:
    """Scan one table file lazily: parquet as stored, CSV with every column as text."""
    if path.suffix == ".parquet":
        return pl.scan_parquet(path)
    # A UTF-8 byte-order mark and CRLF line ends are handled by the reader itself.
    return pl.scan_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=True)


def table_partitions(path: Path, rows_per_partition: int = PARTITION_ROWS) -> int:
    """How many person partitions to check a table file in, from its size, without reading it.

    Parquet: the row count in the file's metadata. CSV: the file size over `CSV_BYTES_PER_ROW`.
    1 for small tables and for files that cannot be read (the check itself reports those).
    """
    try:
        if path.suffix == ".parquet":
            rows = int(pl.scan_parquet(path).select(pl.len()).collect().item())
        else:
            rows = path.stat().st_size // CSV_BYTES_PER_ROW
    except READ_ERRORS:
        return 1
    return partition_count(rows, rows_per_partition)


def _inspect(
    folder: Path, allow_real_identifiers: bool, require_events: bool, partitions: int | None = None
) -> tuple[ValidationReport, dict[str, pl.LazyFrame]]:
    shown = str(folder)
    try:
        problem = None if folder.is_dir() else Problem(shown, None, _folder_problem(folder))
    except OSError as exc:
        problem = Problem(shown, None, f"cannot be opened ({exc.strerror}).")
    if problem is not None:
        return ValidationReport(shown, (problem,)), {}

    problems: list[Problem] = []
    files: dict[str, str] = {}
    checks: dict[str, TableCheck] = {}
    for table in TABLES:
        # Training needs events; the same rules apply, only absence becomes an error.
        needs = table.name == "events" and require_events
        spec = dataclasses.replace(table, required=True) if needs else table
        path, found = _locate(folder, spec)
        problems += found
        if path is None:
            continue
        files[spec.name] = path.name
        parts = max(1, partitions) if partitions is not None else table_partitions(path)
        check = _check_file(spec, path, allow_real_identifiers, parts)
        checks[spec.name] = check
        problems += check.problems

    frames = {name: check.frame for name, check in checks.items() if check.frame is not None}
    manifest, found = _check_manifest(folder, frames if not problems else {}, files)
    problems += found
    dropped = {name: check.dropped_duplicates for name, check in checks.items()}
    profiles = {name: check.profile for name, check in checks.items() if check.profile is not None}
    summary: dict = {}
    if not problems:
        # The checks counted what the summary needs in their own passes: no further read.
        summary = summarise(profiles, files)
        if manifest.observed_until is not None:
            summary["manifest"] = {
                "file": MANIFEST_FILE,
                "observed_until": manifest.observed_until.isoformat(),
            }
    report = ValidationReport(shown, tuple(problems), dropped, summary, files)
    return report, frames


def _check_manifest(
    folder: Path, frames: dict[str, pl.LazyFrame], files: dict[str, str]
) -> tuple[Manifest, list[Problem]]:
    """The folder's manifest (see features.manifest) and its problems; no manifest is fine.

    With valid tables in `frames`, data dated after `observed_until` is a problem too: the
    folder would claim to end before its own rows.
    """
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return Manifest(), []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Manifest(), [Problem(MANIFEST_FILE, None, "is not UTF-8 text; save it as UTF-8.")]
    except OSError as exc:
        return Manifest(), [Problem(MANIFEST_FILE, None, f"cannot be read ({exc.strerror}).")]
    manifest, problems = parse_manifest(text)
    end = manifest.observed_until
    if end is None or problems:
        return manifest, list(problems)
    found = []
    for table, column in (("signals", "week"), ("events", "date")):
        if table not in frames:
            continue
        rows, first = (
            frames[table].filter(pl.col(column) > end).select(pl.len(), pl.col(column).min()).collect().row(0)
        )
        if rows:
            found.append(
                Problem(
                    files.get(table, table),
                    column,
                    f"dated after observed_until {end} in {MANIFEST_FILE}, the earliest {first}: "
                    "either observation went on longer (set observed_until to the last day observed) "
                    "or these rows do not belong in this folder.",
                    rows=rows,
                )
            )
    return manifest, found


def _folder_problem(folder: Path) -> str:
    if not folder.exists():
        return "folder does not exist."
    return "is not a folder; give the landing folder that holds signals.csv or signals.parquet."


def _locate(folder: Path, spec: TableSpec) -> tuple[Path | None, list[Problem]]:
    present = [folder / f"{spec.name}{suffix}" for suffix in TABLE_SUFFIXES]
    present = [path for path in present if path.is_file()]
    if len(present) > 1:
        names = " and ".join(path.name for path in present)
        return None, [Problem(names, None, f"both {names} are present; keep exactly one of them.")]
    if present:
        return present[0], []
    if not spec.required:
        return None, []
    message = f"is missing: the folder needs {spec.name}.csv or {spec.name}.parquet."
    try:
        near = sorted(
            path.name
            for path in folder.iterdir()
            if path.is_file() and path.name.lower().startswith(spec.name)
        )
    except OSError:
        near = []
    if near:
        message += f" Found {', '.join(near[:5])}; the name must be exactly {spec.name}.csv or .parquet."
    return None, [Problem(spec.name, None, message)]


def _check_file(spec: TableSpec, path: Path, allow_real_identifiers: bool, partitions: int) -> TableCheck:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return TableCheck(spec.name, path.name, 0, (read_problem(path.name, exc),))
    if size == 0:
        advice = (
            f"{spec.name} is required and must hold data." if spec.required else "leave the file out instead."
        )
        return TableCheck(
            spec.name, path.name, 0, (Problem(path.name, None, f"is empty (0 bytes): {advice}"),)
        )
    if path.suffix == ".csv" and partitions > 1:
        staged = _check_staged_csv(spec, path, allow_real_identifiers, partitions)
        if staged is not None:
            return staged
    try:
        frame = scan_table(path)
    except READ_ERRORS as exc:
        return TableCheck(spec.name, path.name, 0, (read_problem(path.name, exc),))
    check = check_table(
        spec,
        frame,
        path.name,
        allow_real_identifiers=allow_real_identifiers,
        skip_blank_rows=path.suffix == ".csv",
        partitions=partitions,
    )
    if path.suffix == ".csv" and any(problem.message == UTF8_MESSAGE for problem in check.problems):
        # Only now, to say which rows: re-read replacing invalid bytes so they can be found.
        located = encoding_problem(path.name, pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy"))
        problems = tuple(
            located if problem.message == UTF8_MESSAGE else problem for problem in check.problems
        )
        check = dataclasses.replace(check, problems=problems)
    return check


def _check_staged_csv(
    spec: TableSpec, path: Path, allow_real_identifiers: bool, partitions: int
) -> TableCheck | None:
    """Check a large CSV through a temporary Parquet copy of it; None if no copy could be made.

    Checking in partitions reads the table once per partition, and parsing a large CSV each time
    costs far more than copying it to Parquet once (a streaming copy: the same rows in the same
    order, every column still text) and reading row groups of that. A CSV that the copy fails on
    (invalid bytes, a ragged row) or no room for the copy: None, and the CSV is checked directly,
    so its problems are reported exactly as for a small file.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="ewarn-validate-") as folder:
            staged = Path(folder) / f"{spec.name}.parquet"
            scan_table(path).sink_parquet(staged)
            check = check_table(
                spec,
                pl.scan_parquet(staged),
                path.name,
                allow_real_identifiers=allow_real_identifiers,
                skip_blank_rows=True,
                partitions=partitions,
            )
    except READ_ERRORS:
        return None
    if check.frame is not None:
        # The copy goes with its temporary folder: the frame handed on reads the CSV itself.
        frame = typed_frame(spec, scan_table(path), skip_blank_rows=True, dropped=check.dropped_duplicates)
        check = dataclasses.replace(check, frame=frame)
    return check
