"""What every `ewarn` command shares: its options, the settings, and turning bad input into exit 2."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.settings import Settings

if TYPE_CHECKING:
    from features.catalog import Catalog

EXIT_BAD_INPUT = 2

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", envvar="EWARN_HOME", help="Folder for all state (default ./.ewarn)."),
]
DataOption = Annotated[
    Path | None,
    typer.Option("--data", envvar="EWARN_LANDING", help="Landing folder (default HOME/landing)."),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full traceback when something fails.")]
CatalogOption = Annotated[
    Path | None,
    typer.Option("--catalog", envvar="EWARN_CATALOG", help="Signal catalog TOML (default: built in)."),
]


def make_settings(
    home: Path | None = None, catalog: Path | None = None, landing: Path | None = None
) -> Settings:
    """The settings, with what the command line gave over what the environment says."""
    overrides: dict = {}
    if landing is not None:
        overrides["landing"] = landing
    if home is not None:
        overrides["home"] = home
    if catalog is not None:
        overrides["catalog"] = catalog
    return Settings(**overrides)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print `message` on standard error; the caller raises the returned exit (2 unless told)."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def parse_date(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option as a date (None when not given); anything else exits 2."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise fail(f"{option}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2025-03-03") from None


def check_output(out: Path) -> None:
    """Refuse an output path we cannot write before any work is done (exit 2)."""
    from flows.tables import OutputPathError, check_output_path

    try:
        check_output_path(out)
    except OutputPathError as exc:
        raise fail(str(exc)) from None


def contract_failure(data: Path, exc: Exception) -> typer.Exit:
    """The exit for a landing folder that does not meet the input contract."""
    return fail(f"{data} does not meet the input contract:\n{exc}")


def load_catalog(settings: Settings) -> Catalog:
    """The signal catalog the settings name; a broken one exits 2."""
    from features.catalog import CatalogError
    from features.catalog import load_catalog as read_catalog

    try:
        return read_catalog(settings.catalog)
    except CatalogError as exc:
        raise fail(f"Cannot use the signal catalog: {exc}") from None


def debugging() -> bool:
    """Whether `--debug` is anywhere on the command line (before or after the command)."""
    return "--debug" in sys.argv[1:]
