"""`ewarn catalog ...`: help a person write a catalog of their own (the command-line edge)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import fail

catalog_app = typer.Typer(
    name="catalog",
    help="Describe the signals of your own data: what they mean and which way is risk.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@catalog_app.command("suggest")
def suggest(
    data: Annotated[Path, typer.Argument(help="Landing folder (see `ewarn validate`).")],
    out: Annotated[Path, typer.Option("--out", help="TOML file to write the suggested entries to.")],
    horizon: Annotated[
        int, typer.Option("--horizon", min=1, help="Weeks ahead an outcome counts, as for training.")
    ] = 12,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", envvar="EWARN_CATALOG", help="Your catalog so far (default: built in)."),
    ] = None,
) -> None:
    """Write guessed catalog entries for the signals the catalog does not know, each marked as a guess."""
    from features.catalog import CatalogError, load_catalog
    from flows.catalog_suggest import suggest_catalog
    from flows.landing import ContractViolation
    from flows.tables import OutputPathError, check_writable_folder, write_text_atomically

    try:
        if out.suffix.lower() != ".toml":
            raise OutputPathError(f"{out}: the output must end in .toml (got {out.suffix or 'none'})")
        check_writable_folder(out.parent, out)
        known = load_catalog(catalog)
    except OutputPathError as exc:
        raise fail(str(exc)) from None
    except CatalogError as exc:
        raise fail(f"Cannot use the signal catalog: {exc}") from None
    try:
        text, count = suggest_catalog(data, known, horizon)
    except ContractViolation as exc:
        raise fail(f"{data} does not meet the input contract:\n{exc}") from None
    if count == 0:
        typer.echo(f"The catalog ({known.source}) describes every signal in {data}: nothing to suggest.")
        return
    write_text_atomically(out, text)
    typer.echo(
        f"Suggested entries for {count} signal{'s' if count != 1 else ''} -> {out}. Every field is a "
        "guess: check each one, then run with --catalog " + str(out)
    )


def register(app: typer.Typer) -> None:
    """Add the `catalog` command group to the `ewarn` application."""
    app.add_typer(catalog_app, name="catalog")
