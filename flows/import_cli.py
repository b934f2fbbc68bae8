"""The `ewarn import` commands: a source's export into a landing folder (input contract v1).

Kept apart from `flows/cli.py`, which calls `register(app)`; each source gets one subcommand
here, its conversion in `features/` and its file handling in `flows/importers.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

EXIT_BAD_INPUT = 2

import_app = typer.Typer(
    help="Bring a source's export into a landing folder (input contract v1).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


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
            raise _fail(
                f"--pseudonymise needs your organisation's secret key in {settings.pseudonym_key_variable} "
                "(at least 16 characters, kept outside this project); nothing was written."
            )
        key = secret.encode("utf-8")
    try:
        signal_catalog = load_catalog(catalog)
    except CatalogError as exc:
        raise _fail(f"Cannot use the signal catalog: {exc}") from None
    options = VivaOptions(
        team_column=team_column,
        audit_columns=tuple(audit_column or ()),
        drop_columns=tuple(drop_column or ()),
    )
    try:
        result = import_viva_insights(file, out, options, signal_catalog, key)
    except ImporterError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT if exc.bad_input else 1) from None
    except Exception as exc:
        if debug:
            raise
        raise _fail(
            f"The import failed: {type(exc).__name__}. Earlier files in {out} are as they were. "
            "Run again with --debug to see the traceback.",
            1,
        ) from None
    typer.echo(result.render())


def register(app: typer.Typer) -> None:
    """Add the `import` command group to the `ewarn` application."""
    app.add_typer(import_app, name="import")
