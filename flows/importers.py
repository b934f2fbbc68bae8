"""The importers' I/O edge: read a source's export, convert it (pure, features/), write a landing folder.

The landing folder is written through a staging folder inside it: the new tables are validated
there and only then renamed into place, one by one, so a failed import leaves every earlier file
as it was. Only the tables the import makes are written; anything else in the folder (an events
table from the HR system, notes) is left alone. The same export gives the same bytes again.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from features.catalog import Catalog, coverage
from features.contract_report import ValidationReport
from features.contract_specs import READ_ERRORS
from features.masking import looks_like_email, looks_like_name, mask_identifiers
from features.viva import VivaConversion, VivaImportError, VivaOptions, convert_person_query
from flows.landing import validate_folder
from flows.pseudonymise import pseudonym


class ImporterError(Exception):
    """An import refused or failed; the message says why and what to do, and never names a person.

    `bad_input` is True when the export (or the options) must change, False when writing failed.
    """

    def __init__(self, message: str, bad_input: bool = True) -> None:
        super().__init__(message)
        self.bad_input = bad_input


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: counts and column names, never a person's id or attribute values."""

    source: Path
    out: Path
    conversion: VivaConversion
    written: tuple[Path, ...]
    report: ValidationReport
    catalog_known: int = 0
    catalog_unknown: tuple[str, ...] = ()
    pseudonymised: bool = False

    def render(self) -> str:
        """A few lines for the terminal: what came in, what became of every column, what was written."""
        c = self.conversion
        signals = self.report.summary.get("signals", {})
        lines = [
            f"Imported {self.source.name} (Viva Insights person query) into {self.out}:",
            f"  signals.parquet: {signals.get('people', 0):,} people x {signals.get('weeks', 0)} weeks "
            f"({signals.get('first_week')} to {signals.get('last_week')}), {len(c.metrics)} signals, "
            f"{signals.get('rows', 0):,} rows (empty cells are not observed: no row).",
            f"  Weeks: each Viva week, {c.source_weekday} to {_DAY_BEFORE[c.source_weekday]}, is dated by "
            "the Monday of the ISO week holding most of its days"
            + (" (the Monday after its Sunday)." if c.source_weekday == "Sunday" else "."),
        ]
        if c.people is not None:
            teams = c.people["team_id"].n_unique()
            audit = ", ".join(f"{src} -> {dst}" for src, dst in c.audit_columns.items())
            lines.append(
                f"  people.parquet: {c.people.height:,} people in {teams} teams (team_id from {c.team_column}"
                f"{'; ' + audit if audit else ''}), each from the person's latest week."
            )
            if c.people_without_team:
                lines.append(
                    f"  {c.people_without_team:,} people have no {c.team_column} in any week: no people row."
                )
        else:
            lines.append("  people: not written (no team column; name one with --team-column).")
        if c.dropped:
            lines.append(f"  HR attributes dropped, never features: {', '.join(c.dropped)}.")
        if c.empty:
            lines.append(f"  Empty columns, nothing imported: {', '.join(c.empty)}.")
        if c.dropped_duplicate_rows:
            lines.append(f"  {c.dropped_duplicate_rows:,} identical duplicate rows dropped.")
        if self.pseudonymised:
            lines.append("  Person ids replaced by keyed pseudonyms (EWARN_PSEUDONYM_KEY).")
        total = self.catalog_known + len(self.catalog_unknown)
        lines.append(f"  The signal catalog describes {self.catalog_known} of {total} signals.")
        if self.catalog_unknown:
            shown = ", ".join(self.catalog_unknown[:10]) + (" ..." if len(self.catalog_unknown) > 10 else "")
            lines.append(f"  Not in it (label, kind from the name; directions learnt in training): {shown}")
            lines.append(f"  Draft entries to check: ewarn catalog suggest {self.out} --out my_catalog.toml")
        lines.append(f"Other files in {self.out} were left as they were. Next: ewarn validate {self.out}")
        return "\n".join(lines)


_DAY_BEFORE = {
    "Sunday": "Saturday",
    "Monday": "Sunday",
    "Tuesday": "Monday",
    "Wednesday": "Tuesday",
    "Thursday": "Wednesday",
    "Friday": "Thursday",
    "Saturday": "Friday",
}


def read_export(path: Path) -> pl.LazyFrame:
    """Scan a CSV export with every column as text, so numbers and dates are judged by the converter."""
    try:
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a file"
            raise ImporterError(f"{path}: {what}; give the person query's CSV file.")
        frame = pl.scan_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=True)
        names = frame.collect_schema().names()
    except ImporterError:
        raise
    except READ_ERRORS as exc:
        raise ImporterError(
            f"{path}: could not be read as a UTF-8 CSV file ({type(exc).__name__})."
        ) from None
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        raise ImporterError(
            f"{path}: the header looks separated by ';' or tabs; export the query as comma-separated CSV."
        )
    return frame


def import_viva_insights(
    source: Path,
    out: Path,
    options: VivaOptions,
    catalog: Catalog,
    key: bytes | None = None,
) -> ImportResult:
    """Import a Viva Insights person query into landing folder `out` (signals, and people with a team).

    Person ids that look like e-mail addresses or names are refused unless `key` is given, in
    which case every id is replaced by its keyed pseudonym. Raises `ImporterError`.
    """
    source, out = Path(source), Path(out)
    _check_destination(out, with_people=True)
    frame = read_export(source)
    try:
        conversion = convert_person_query(frame, source.name, options)
    except VivaImportError as exc:
        raise ImporterError(str(exc)) from None
    except READ_ERRORS as exc:
        raise ImporterError(f"{source}: could not be read as a CSV file ({type(exc).__name__}).") from None
    conversion = _identifiers(conversion, source.name, key)
    tables = {"signals": conversion.signals}
    if conversion.people is not None:
        tables["people"] = conversion.people
    written, report = _write(out, tables)
    known = coverage(catalog, conversion.metrics.values())
    return ImportResult(
        source,
        out,
        conversion,
        written,
        report,
        len(known.known),
        known.unknown,
        pseudonymised=key is not None,
    )


def _identifiers(conversion: VivaConversion, file: str, key: bytes | None) -> VivaConversion:
    ids = conversion.signals.select(pl.col("person_id").unique())
    if conversion.people is not None:
        ids = pl.concat([ids, conversion.people.select("person_id")]).unique()
    if key is None:
        real = ids.filter(looks_like_email(pl.col("person_id")) | looks_like_name(pl.col("person_id")))
        if real.height:
            example = mask_identifiers(real["person_id"].sort().head(1).to_list())[0]
            raise ImporterError(
                f"{file}, column PersonId: {real.height:,} ids look like e-mail addresses or names (real "
                f"identifiers, e.g. {example}). Import with --pseudonymise and your organisation's secret "
                "key in EWARN_PSEUDONYM_KEY, so that only keyed pseudonyms reach the landing folder."
            )
        return conversion
    old = ids["person_id"].sort()
    new = pl.Series([pseudonym(raw, key) for raw in old.to_list()], dtype=pl.String)
    if new.n_unique() != len(new):
        raise ImporterError(
            "Two identifiers received the same pseudonym; nothing was written.", bad_input=False
        )

    def replaced(table: pl.DataFrame) -> pl.DataFrame:
        return table.with_columns(pl.col("person_id").replace_strict(old, new, return_dtype=pl.String))

    signals = replaced(conversion.signals).sort("person_id", "week", "signal")
    people = None if conversion.people is None else replaced(conversion.people).sort("person_id")
    return _with_tables(conversion, signals, people)


def _with_tables(
    conversion: VivaConversion, signals: pl.DataFrame, people: pl.DataFrame | None
) -> VivaConversion:
    return dataclasses.replace(conversion, signals=signals, people=people)


def _check_destination(out: Path, with_people: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ImporterError(f"{out} exists and is not a folder; give the landing folder to write into.")
    names = ("signals", "people") if with_people else ("signals",)
    clashes = [out / f"{name}.csv" for name in names if (out / f"{name}.csv").is_file()]
    if clashes:
        listed = ", ".join(path.name for path in clashes)
        raise ImporterError(
            f"{out} already holds {listed}; the import writes Parquet tables of the same name, and a "
            "landing folder may hold only one of each. Move that file away, or import into another folder."
        )


def _write(out: Path, tables: dict[str, pl.DataFrame]) -> tuple[tuple[Path, ...], ValidationReport]:
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".ewarn-import-", dir=out))
    except OSError as exc:
        raise ImporterError(f"Cannot write to {out}: {exc.strerror}.", bad_input=False) from None
    try:
        for name, table in tables.items():
            table.write_parquet(staging / f"{name}.parquet", statistics=False)
        report = validate_folder(staging)
        if not report.ok:
            raise ImporterError(
                "The converted tables do not meet the input contract, so nothing was written:\n\n"
                + report.render()
            )
        written = []
        for name in tables:
            # Same file system as `out`: each table appears whole or not at all.
            os.replace(staging / f"{name}.parquet", out / f"{name}.parquet")
            written.append(out / f"{name}.parquet")
    except OSError as exc:
        raise ImporterError(f"Cannot write to {out}: {exc.strerror}.", bad_input=False) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tuple(written), report
