"""`ewarn import ...`: bring other systems' exports into a landing folder (the I/O edge).

Each command reads an export, converts it with a pure function (features/) and writes contract
tables into the landing folder. Tables the import does not fill are left alone, so an HR export
(events, people) and a survey export (signals) can land in the same folder one after the other.
A table it fills is replaced whole, never appended to: re-running an import gives the same folder.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import EXIT_BAD_INPUT, fail

if TYPE_CHECKING:
    import polars as pl

    from features.table_import import TableMapping

import_app = typer.Typer(
    name="import",
    help="Bring an HR-system, survey or collaboration export into a landing folder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def read_mapping(path: Path) -> TableMapping:
    """Read and check a mapping file; MappingError names the file and every key at fault."""
    from features.table_import import MappingError, parse_mapping

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError([f"{path}: mapping file not found"]) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError([f"{path}: not a readable TOML file ({exc})"]) from None
    try:
        return parse_mapping(raw)
    except MappingError as exc:
        raise MappingError([f"{path}: {problem}" for problem in exc.problems]) from None


def read_export(path: Path, mapping: TableMapping) -> pl.DataFrame:
    """An export as text cells: CSV (the mapping's delimiter, UTF-8) or Parquet (cast to text)."""
    import polars as pl

    from features.contract_specs import READ_ERRORS
    from features.table_import import MappingError

    if not path.is_file():
        raise MappingError([f"{path}: file not found"])
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path)
            return frame.select(pl.all().cast(pl.String))
        frame = pl.read_csv(
            path, separator=mapping.delimiter, infer_schema=False, encoding="utf8", raise_if_empty=True
        )
    except READ_ERRORS as exc:
        hint = _delimiter_hint(path, mapping.delimiter)
        if "utf" in str(exc).lower():
            hint += " It is not UTF-8 text: save it as UTF-8 (CSV UTF-8 in a spreadsheet)."
        raise MappingError(
            [f"{path}: cannot be read as CSV with delimiter {mapping.delimiter!r}.{hint}"]
        ) from None
    hint = _delimiter_hint(path, mapping.delimiter) if frame.width == 1 else ""
    if hint:
        raise MappingError([f"{path}: one column only with delimiter {mapping.delimiter!r}.{hint}"])
    return frame


def _delimiter_hint(path: Path, delimiter: str) -> str:
    """Which delimiter the header line seems to use, when not the one the mapping names."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            header = handle.readline()
    except OSError:
        return ""
    counts = {d: header.count(d) for d in (",", ";", "\t", "|") if d != delimiter}
    best = max(counts, key=counts.__getitem__)
    if counts[best] > header.count(delimiter):
        return f" Its header line is split by {best!r}: set delimiter = {best!r} in the mapping."
    return ""


def _target(folder: Path, table: str) -> Path:
    """Where a table goes: over the file already there (either format), else a new Parquet file."""
    csv = folder / f"{table}.csv"
    return csv if csv.is_file() else folder / f"{table}.parquet"


@import_app.command("table")
def table(
    file: Annotated[Path, typer.Argument(help="The export: CSV (any delimiter) or Parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Landing folder to write the tables into.")],
    mapping_file: Annotated[
        Path,
        typer.Option("--mapping", help="TOML mapping: which columns become which tables (docs/import.md)."),
    ],
) -> None:
    """Convert an HR-system or survey export into contract tables by a mapping file."""
    # Here, not at the top: every `ewarn` command imports this module to list its commands.
    from features.contract import check_table
    from features.contract_specs import TABLE_SPECS
    from features.table_convert import convert, summary_lines
    from features.table_import import MappingError
    from flows.tables import write_frame

    try:
        mapping = read_mapping(mapping_file)
        export = read_export(file, mapping)
        converted = convert(export, mapping, file.name)
    except MappingError as exc:
        raise fail(f"Cannot import {file} with {mapping_file}:\n{exc}") from None
    problems = []
    for name, frame in converted.tables.items():
        check = check_table(
            TABLE_SPECS[name], frame.lazy(), f"{name} (from {file.name})", allow_real_identifiers=True
        )
        # Without example rows: they would show the export's person ids, which may be real ones.
        problems += [dataclasses.replace(problem, examples=()).render() for problem in check.problems]
        if not frame.height:
            problems.append(f"{name}: the mapping gives no rows from {file.name}")
    if problems:
        raise fail(f"Cannot import {file}: the tables made do not meet the contract:\n" + "\n".join(problems))
    out.mkdir(parents=True, exist_ok=True)
    written = [write_frame(frame, _target(out, name)) for name, frame in converted.tables.items()]
    typer.echo(f"Imported {file.name} into {out}:")
    for path, line in zip(written, summary_lines(converted.tables), strict=True):
        typer.echo(f"  {path.name}: {line.partition(': ')[2]}")
    for note in converted.notes:
        typer.echo(f"  note: {note}")
    typer.echo(
        "Person ids are as in the export: if they are real identifiers, run "
        "`ewarn pseudonymise` on this folder before anything else."
    )


@import_app.command("viva-insights")
def viva_insights(
    file: Annotated[Path, typer.Argument(help="The person query as Viva Insights exports it (CSV).")],
    out: Annotated[Path, typer.Option("--out", help="Landing folder to write signals and people into.")],
    team_column: Annotated[
        str | None,
        typer.Option("--team-column", help="HR attribute that becomes team_id (default: Organization)."),
    ] = None,
    audit_column: Annotated[
        list[str] | None,
        typer.Option(
            "--audit-column", help="HR attribute kept as audit_<name> for the fairness audit (repeatable)."
        ),
    ] = None,
    drop_column: Annotated[
        list[str] | None,
        typer.Option("--drop-column", help="A numeric HR attribute to leave out (repeatable)."),
    ] = None,
    pseudonymise: Annotated[
        bool,
        typer.Option(
            "--pseudonymise", help="Replace PersonId by keyed pseudonyms (key in EWARN_PSEUDONYM_KEY)."
        ),
    ] = False,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", envvar="EWARN_CATALOG", help="Signal catalog TOML extending the built-in."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when something fails.")
    ] = False,
) -> None:
    """Import a Viva Insights person query: metrics become signals, Organization the team.

    Each Viva week (Sunday to Saturday) is dated by the Monday after its Sunday, the Monday of
    the ISO week holding six of its seven days. HR attributes are never features: the team
    column becomes team_id, --audit-column ones audit_*, the rest are dropped and listed.
    """
    from features.catalog import CatalogError, load_catalog
    from features.viva import VivaOptions
    from flows.importers import ImporterError, import_viva_insights
    from flows.settings import Settings

    settings = Settings()
    key = None
    if pseudonymise:
        secret = os.environ.get(settings.pseudonym_key_variable, "")
        if not secret:
            raise fail(
                f"--pseudonymise needs your organisation's secret key in {settings.pseudonym_key_variable} "
                "(at least 16 characters, kept outside this project); nothing was written."
            )
        key = secret.encode("utf-8")
    try:
        signal_catalog = load_catalog(catalog)
    except CatalogError as exc:
        raise fail(f"Cannot use the signal catalog: {exc}") from None
    options = VivaOptions(
        team_column=team_column,
        audit_columns=tuple(audit_column or ()),
        drop_columns=tuple(drop_column or ()),
    )
    try:
        result = import_viva_insights(file, out, options, signal_catalog, key)
    except ImporterError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT if exc.bad_input else 1) from None
    except Exception as exc:
        if debug:
            raise
        raise fail(
            f"The import failed: {type(exc).__name__}. Earlier files in {out} are as they were. "
            "Run again with --debug to see the traceback.",
            1,
        ) from None
    typer.echo(result.render())


def register(app: typer.Typer) -> None:
    """Add the `import` command group to the `ewarn` application."""
    app.add_typer(import_app, name="import")
