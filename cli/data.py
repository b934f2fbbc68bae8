"""`ewarn`'s data commands: validate, pseudonymise, simulate and build features (no model, no store)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    EXIT_BAD_INPUT,
    CatalogOption,
    check_output,
    contract_failure,
    fail,
    load_catalog,
    make_settings,
    parse_date,
)


def validate(
    folder: Annotated[Path, typer.Argument(help="Landing folder with signals, events and people.")],
    allow_real_identifiers: Annotated[
        bool,
        typer.Option(help="Accept e-mail- or name-like person ids (only before `ewarn pseudonymise`)."),
    ] = False,
    catalog: CatalogOption = None,
) -> None:
    """Check a landing folder against input contract v1; exit 2 and list every problem if it fails.

    A valid folder also gets notes: how many signals the catalog describes (and near-misses),
    people without a `people` row, events for ids without signals.
    """
    from flows.landing import validate_folder

    settings = make_settings(catalog=catalog)
    report = validate_folder(
        folder,
        allow_real_identifiers=allow_real_identifiers,
        notes=True,
        catalog=load_catalog(settings),
        anonymity_threshold=settings.anonymity_threshold,
    )
    typer.echo(report.render())
    if not report.ok:
        raise typer.Exit(EXIT_BAD_INPUT)


def pseudonymise(
    src: Annotated[Path, typer.Argument(help="Landing folder holding real identifiers.")],
    dst: Annotated[Path, typer.Argument(help="New landing folder to write with keyed pseudonyms.")],
) -> None:
    """Replace person identifiers by keyed hashes (HMAC-SHA256, key from EWARN_PSEUDONYM_KEY)."""
    import os

    from flows.pseudonymise import PseudonymiseError, pseudonymise_folder

    settings = make_settings()
    key = os.environ.get(settings.pseudonym_key_variable, "")
    if not key:
        raise fail(
            f"Refusing to pseudonymise: the environment variable {settings.pseudonym_key_variable} is not "
            "set. It must hold your organisation's secret key (at least 16 characters), kept outside this "
            "project; the same key always gives the same pseudonyms."
        )
    try:
        result = pseudonymise_folder(src, dst, key.encode("utf-8"))
    except PseudonymiseError as exc:
        raise fail(str(exc)) from None
    typer.echo(result.render())


def simulate(
    out: Annotated[
        Path, typer.Option("--out", help="Landing folder to write (ground truth goes to OUT/truth/).")
    ],
    people: Annotated[int, typer.Option("--people", min=10, help="Number of people.")] = 2000,
    weeks: Annotated[int, typer.Option("--weeks", min=8, help="Number of weeks of history.")] = 104,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")] = 7,
    csv: Annotated[bool, typer.Option("--csv", help="Write CSV instead of Parquet.")] = False,
    world: Annotated[
        int | None,
        typer.Option(
            "--world",
            help="World seed: draws the mechanisms (simulator/worlds.py); default: the default world.",
        ),
    ] = None,
) -> None:
    """Simulate an organisation with creeping declines and outcomes, as a landing folder."""
    from flows.simulate import write_simulation
    from simulator.organisation import simulate_organisation
    from simulator.worlds import world_for

    started = time.perf_counter()
    org = simulate_organisation(people, weeks, seed, world=world_for(world))
    written = write_simulation(org, out, fmt="csv" if csv else "parquet")
    typer.echo(
        f"Simulated {people} people x {weeks} weeks (seed {seed}, {org.world.label}) in "
        f"{time.perf_counter() - started:.1f} s: "
        f"{org.signals.height:,} signal rows, {org.events.height:,} events -> {out}"
    )
    for name, path in written.items():
        typer.echo(f"  {name}: {path}")


def features(
    data: Annotated[Path, typer.Option("--data", help="Landing folder (see `ewarn validate`).")],
    out: Annotated[Path, typer.Option("--out", help="Output table: .parquet or .csv.")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Build one row per person for the week of this date (YYYY-MM-DD)."),
    ] = None,
    labels: Annotated[bool, typer.Option("--labels", help="Add the outcome label for the horizon.")] = False,
    horizon: Annotated[
        int | None, typer.Option("--horizon", min=1, help="Label horizon in weeks (default 12).")
    ] = None,
    catalog: CatalogOption = None,
) -> None:
    """Build point-in-time features: one row per person-week (or per person with --as-of)."""
    from features.build import FeatureRequest, build_features
    from flows.exclusions import ExclusionListError, honour_exclusions
    from flows.landing import AsOfError, ContractViolation, load_landing, week_in_data
    from flows.tables import write_frame

    settings = make_settings(catalog=catalog)
    check_output(out)
    request = FeatureRequest(
        as_of=parse_date(as_of, "--as-of"),
        horizon=horizon or settings.horizon_weeks,
        with_labels=labels,
        outcome_events=settings.outcome_events,
    )
    try:
        landing = honour_exclusions(load_landing(data), settings)
        if request.as_of is not None:
            week_in_data(landing, request.as_of)
    except ContractViolation as exc:
        raise contract_failure(data, exc) from None
    except (AsOfError, ExclusionListError) as exc:
        raise fail(str(exc)) from None
    if labels and landing.events is None:
        raise fail(f"--labels needs the events table (the outcomes), and {data} has none.")
    request = dataclasses.replace(request, observed_until=landing.observed_until)
    started = time.perf_counter()
    table = build_features(
        landing.signals, landing.events, landing.people, load_catalog(settings), request
    ).collect()
    write_frame(table, out)
    typer.echo(
        f"{table.height:,} rows x {table.width} columns in {time.perf_counter() - started:.1f} s -> {out}"
    )


def register(app: typer.Typer) -> None:
    """Add the data commands to the `ewarn` command line."""
    for command in (validate, pseudonymise, simulate, features):
        app.command()(command)
