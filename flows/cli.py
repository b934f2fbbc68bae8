"""The `ewarn` command line: one entry point, thin commands that call flows and pure functions."""

from __future__ import annotations

import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.settings import Settings

if TYPE_CHECKING:
    import polars as pl

    from features.catalog import Catalog

app = typer.Typer(
    name="ewarn",
    help="Early warning for creeping demotivation: explained flags for a human conversation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_BAD_INPUT = 2

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", envvar="EWARN_HOME", help="Folder for all state (default ./.ewarn)."),
]
CatalogOption = Annotated[
    Path | None,
    typer.Option("--catalog", envvar="EWARN_CATALOG", help="Signal catalog TOML (default: built in)."),
]


def _settings(home: Path | None = None, catalog: Path | None = None) -> Settings:
    overrides: dict = {}
    if home is not None:
        overrides["home"] = home
    if catalog is not None:
        overrides["catalog"] = catalog
    return Settings(**overrides)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def validate(
    folder: Annotated[Path, typer.Argument(help="Landing folder with signals, events and people.")],
    allow_real_identifiers: Annotated[
        bool,
        typer.Option(help="Accept e-mail- or name-like person ids (only before `ewarn pseudonymise`)."),
    ] = False,
) -> None:
    """Check a landing folder against input contract v1; exit 2 and list every problem if it fails."""
    from flows.landing import validate_folder

    report = validate_folder(folder, allow_real_identifiers=allow_real_identifiers)
    typer.echo(report.render())
    if not report.ok:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def pseudonymise(
    src: Annotated[Path, typer.Argument(help="Landing folder holding real identifiers.")],
    dst: Annotated[Path, typer.Argument(help="New landing folder to write with keyed pseudonyms.")],
) -> None:
    """Replace person identifiers by keyed hashes (HMAC-SHA256, key from EWARN_PSEUDONYM_KEY)."""
    import os

    from flows.pseudonymise import PseudonymiseError, pseudonymise_folder

    settings = _settings()
    key = os.environ.get(settings.pseudonym_key_variable, "")
    if not key:
        raise _fail(
            f"Refusing to pseudonymise: the environment variable {settings.pseudonym_key_variable} is not "
            "set. It must hold your organisation's secret key (at least 16 characters), kept outside this "
            "project; the same key always gives the same pseudonyms."
        )
    try:
        result = pseudonymise_folder(src, dst, key.encode("utf-8"))
    except PseudonymiseError as exc:
        raise _fail(str(exc)) from None
    typer.echo(result.render())


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise _fail(f"{option}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2025-03-03") from None


def _check_output(out: Path) -> None:
    """Refuse an output path we cannot write before any work is done (exit 2)."""
    from flows.tables import OutputPathError, check_output_path

    try:
        check_output_path(out)
    except OutputPathError as exc:
        raise _fail(str(exc)) from None


def _contract_failure(data: Path, exc: Exception) -> typer.Exit:
    return _fail(f"{data} does not meet the input contract:\n{exc}")


def _load_catalog(settings: Settings) -> Catalog:
    from features.catalog import CatalogError, load_catalog

    try:
        return load_catalog(settings.catalog)
    except CatalogError as exc:
        raise _fail(f"Cannot use the signal catalog: {exc}") from None


@app.command()
def simulate(
    out: Annotated[
        Path, typer.Option("--out", help="Landing folder to write (ground truth goes to OUT/truth/).")
    ],
    people: Annotated[int, typer.Option("--people", min=10, help="Number of people.")] = 2000,
    weeks: Annotated[int, typer.Option("--weeks", min=8, help="Number of weeks of history.")] = 104,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")] = 7,
    csv: Annotated[bool, typer.Option("--csv", help="Write CSV instead of Parquet.")] = False,
) -> None:
    """Simulate an organisation with creeping declines and outcomes, as a landing folder."""
    from flows.simulate import write_simulation
    from simulator.organisation import simulate_organisation

    started = time.perf_counter()
    org = simulate_organisation(people, weeks, seed)
    written = write_simulation(org, out, fmt="csv" if csv else "parquet")
    typer.echo(
        f"Simulated {people} people x {weeks} weeks (seed {seed}) in {time.perf_counter() - started:.1f} s: "
        f"{org.signals.height:,} signal rows, {org.events.height:,} events -> {out}"
    )
    for name, path in written.items():
        typer.echo(f"  {name}: {path}")


@app.command()
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
    from flows.landing import ContractViolation, load_landing
    from flows.tables import write_frame

    settings = _settings(catalog=catalog)
    _check_output(out)
    request = FeatureRequest(
        as_of=_parse_date(as_of, "--as-of"),
        horizon=horizon or settings.horizon_weeks,
        with_labels=labels,
        outcome_events=settings.outcome_events,
    )
    try:
        landing = load_landing(data)
    except ContractViolation as exc:
        raise _contract_failure(data, exc) from None
    if labels and landing.events is None:
        raise _fail(f"--labels needs the events table (the outcomes), and {data} has none.")
    started = time.perf_counter()
    table = build_features(
        landing.signals, landing.events, landing.people, _load_catalog(settings), request
    ).collect()
    write_frame(table, out)
    typer.echo(
        f"{table.height:,} rows x {table.width} columns in {time.perf_counter() - started:.1f} s -> {out}"
    )


@app.command()
def demo(
    home: HomeOption = None,
    people: Annotated[int, typer.Option("--people", min=10, help="Simulated people.")] = 2000,
    weeks: Annotated[int, typer.Option("--weeks", min=30, help="Simulated weeks.")] = 104,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
) -> None:
    """Run the main job on embedded defaults: simulate an organisation, validate it, build features."""
    from features.build import FeatureRequest, build_features
    from flows.landing import load_landing
    from flows.simulate import write_simulation
    from flows.tables import write_frame
    from simulator.organisation import simulate_organisation

    settings = _settings(home=home)
    root = settings.resolved_home()
    landing_dir, features_path = root / "landing", root / "features" / "person_weeks.parquet"
    started = time.perf_counter()
    typer.echo(f"1/3 Simulating {people:,} people x {weeks} weeks into {landing_dir} ...")
    write_simulation(simulate_organisation(people, weeks, seed), landing_dir)
    typer.echo("2/3 Validating the landing folder against the input contract ...")
    landing = load_landing(landing_dir)
    typer.echo(landing.report.render())
    typer.echo("3/3 Building point-in-time features for every person-week, with labels ...")
    request = FeatureRequest(
        horizon=settings.horizon_weeks, with_labels=True, outcome_events=settings.outcome_events
    )
    table = build_features(
        landing.signals, landing.events, landing.people, _load_catalog(settings), request
    ).collect()
    write_frame(table, features_path)
    positives = int(table["label"].sum() or 0)
    typer.echo(
        f"\nDone in {time.perf_counter() - started:.0f} s. Features: {table.height:,} person-weeks x "
        f"{len(table.columns)} columns ({positives:,} weeks within {settings.horizon_weeks} weeks "
        f"of an outcome) -> {features_path}\nNext: `ewarn validate {landing_dir}`, "
        f"`ewarn features --data {landing_dir} --out features.csv --as-of YYYY-MM-DD`."
    )


def _print_metrics(table: pl.DataFrame, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = Table(title=title)
    for column in table.columns:
        shown.add_column(column, justify="left" if column == "metric" else "right")
    for row in table.iter_rows():
        shown.add_row(row[0], *("n/a" if v is None or v != v else f"{v:,.3f}" for v in row[1:]))
    Console().print(shown)


@app.command()
def backtest(
    data: Annotated[Path, typer.Option("--data", help="Landing folder with signals and events.")],
    out: Annotated[Path, typer.Option("--out", help="Scores per person-week: .parquet or .csv.")],
    cutoff: Annotated[
        str | None,
        typer.Option(
            "--cutoff", help="Train before this date, score from it (default: two horizons before the end)."
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option("--split", help="'time' (default) or 'person' (grouped K-fold, for short histories)."),
    ] = "time",
    folds: Annotated[int, typer.Option("--folds", min=2, max=20, help="Folds for --split person.")] = 5,
    capacity: Annotated[
        float,
        typer.Option("--capacity", min=0.001, max=0.5, help="Share of people reviewers can see each week."),
    ] = 0.02,
    horizon: Annotated[int | None, typer.Option("--horizon", min=1, help="Weeks ahead (default 12).")] = None,
    catalog: CatalogOption = None,
) -> None:
    """Back-test every candidate and the naive reference; write scores and flags, print the metrics."""
    from flows import modelling
    from flows.landing import ContractViolation
    from flows.tables import write_frame
    from models.splits import SplitError

    settings = _settings(catalog=catalog)
    if horizon:
        settings = settings.model_copy(update={"horizon_weeks": horizon})
    if split not in ("time", "person"):
        raise _fail(f"--split must be 'time' or 'person', not {split!r}")
    _check_output(out)
    cutoff_date = _parse_date(cutoff, "--cutoff")
    typer.echo("Validating the landing folder and building features ...", err=True)
    signal_catalog = _load_catalog(settings)
    try:
        tables = modelling.prepare_tables(data, settings, signal_catalog)
    except ContractViolation as exc:
        raise _contract_failure(data, exc) from None
    typer.echo("Back-testing every candidate and the naive reference ...", err=True)
    try:
        result = modelling.backtest(
            tables,
            settings.horizon_weeks,
            cutoff=cutoff_date,
            split=split,
            folds=folds,
            capacity=capacity,
            catalog=signal_catalog,
        )
    except SplitError as exc:
        raise _fail(f"Cannot back-test: {exc}") from None
    write_frame(result.scored.select("person_id", "week", "score", "flagged"), out)
    _print_metrics(result.table(), f"Back-test ({result.split} split), chosen: {result.chosen}")
    typer.echo(f"{result.scored.height:,} scored person-weeks -> {out}")


@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", help="Landing folder with signals and events.")],
    home: HomeOption = None,
    cutoff: Annotated[
        str | None, typer.Option("--cutoff", help="Back-test cutoff (default: two horizons before the end).")
    ] = None,
    promote: Annotated[
        bool, typer.Option("--promote", help="Make this version the champion whatever the comparison says.")
    ] = False,
    capacity: Annotated[
        float, typer.Option("--capacity", min=0.001, max=0.5, help="Reviewer capacity.")
    ] = 0.02,
    catalog: CatalogOption = None,
) -> None:
    """Back-test, train the chosen model, log it to MLflow and register it (champion or challenger)."""
    from flows import modelling
    from flows.landing import ContractViolation
    from models.splits import SplitError
    from models.tracking import TrackingUnavailableError

    settings = _settings(home=home, catalog=catalog)
    cutoff_date = _parse_date(cutoff, "--cutoff")
    try:
        summary = modelling.train(
            data,
            settings,
            _load_catalog(settings),
            cutoff=cutoff_date,
            promote=promote,
            capacity=capacity,
            progress=lambda step: typer.echo(f"- {step} ...", err=True),
        )
    except ContractViolation as exc:
        raise _contract_failure(data, exc) from None
    except SplitError as exc:
        raise _fail(f"Cannot train: {exc}") from None
    except TrackingUnavailableError as exc:
        raise _fail(str(exc), code=1) from None
    _print_metrics(summary.result.table(), f"Back-test at {summary.cutoff}, chosen: {summary.result.chosen}")
    for warning in summary.fairness_warnings:
        typer.echo(f"Fairness warning: {warning}")
    typer.echo(
        f"Registered {summary.record.version} of model 'ewarn-risk' as {summary.decision.alias}: "
        f"{summary.decision.reason}.\nRun {summary.record.run_id} in {summary.uri}\n"
        f"See it with: mlflow ui --backend-store-uri {summary.uri}"
    )


def main() -> None:
    """Run the command line; bad input never ends in a Python traceback."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
