"""The `ewarn` command line: one entry point, thin commands that call flows and pure functions."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import sys
import time
import traceback
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
DataOption = Annotated[
    Path | None,
    typer.Option("--data", envvar="EWARN_LANDING", help="Landing folder (default HOME/landing)."),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full traceback when something fails.")]
CatalogOption = Annotated[
    Path | None,
    typer.Option("--catalog", envvar="EWARN_CATALOG", help="Signal catalog TOML (default: built in)."),
]


@app.callback()
def _everywhere(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when any command fails.")
    ] = False,
) -> None:
    # `ewarn --debug COMMAND`: read by main() and _run_flow from the command line itself.
    del debug


def _settings(home: Path | None = None, catalog: Path | None = None, landing: Path | None = None) -> Settings:
    overrides: dict = {}
    if landing is not None:
        overrides["landing"] = landing
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
    catalog: CatalogOption = None,
) -> None:
    """Check a landing folder against input contract v1; exit 2 and list every problem if it fails.

    A valid folder also gets notes: how many signals the catalog describes (and near-misses),
    people without a `people` row, events for ids without signals.
    """
    from flows.landing import validate_folder

    signal_catalog = _load_catalog(_settings(catalog=catalog))
    report = validate_folder(
        folder, allow_real_identifiers=allow_real_identifiers, notes=True, catalog=signal_catalog
    )
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
    from flows.exclusions import ExclusionListError, honour_exclusions
    from flows.landing import AsOfError, ContractViolation, load_landing, week_in_data
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
        landing = honour_exclusions(load_landing(data), settings)
        if request.as_of is not None:
            week_in_data(landing, request.as_of)
    except ContractViolation as exc:
        raise _contract_failure(data, exc) from None
    except (AsOfError, ExclusionListError) as exc:
        raise _fail(str(exc)) from None
    if labels and landing.events is None:
        raise _fail(f"--labels needs the events table (the outcomes), and {data} has none.")
    request = dataclasses.replace(request, observed_until=landing.observed_until)
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
    weeks: Annotated[int, typer.Option("--weeks", min=60, help="Simulated weeks.")] = 104,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    debug: DebugOption = False,
) -> None:
    """The whole pipeline on a simulated organisation: simulate, train a champion, run the nightly job."""
    from flows.simulate import write_simulation
    from simulator.organisation import simulate_organisation

    settings = _settings(home=home)
    root = settings.resolved_home()
    landing_dir = settings.landing_folder()
    started = time.perf_counter()
    typer.echo(f"Simulating {people:,} people x {weeks} weeks into {landing_dir} ...")
    write_simulation(simulate_organisation(people, weeks, seed), landing_dir)
    summary = _run_flow("train", debug, lambda: _retrain(settings, None, False, 0.02), total=6)
    _print_training(summary)
    result = _run_flow("nightly", debug, lambda: _nightly(settings, None), total=7)
    _print_nightly(result, settings)
    uri = summary.uri
    typer.echo(
        f"\nDemo done in {time.perf_counter() - started:.0f} s. Everything is in {root}:\n"
        f"  landing folder  {landing_dir}\n"
        f"  report          {result.report}\n"
        f"  flags           ewarn flags --home {root}\n"
        f"  review page     ewarn users add NAME --role admin --home {root}; ewarn review --home {root}\n"
        f"  models          mlflow ui --backend-store-uri {uri}\n"
        f"  nightly again   ewarn nightly --home {root}"
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
    from flows.exclusions import ExclusionListError
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
    except ExclusionListError as exc:
        raise _fail(str(exc)) from None
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
    data: DataOption = None,
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
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="'time' or 'person' (grouped K-fold, for a short history or a one-week snapshot); "
            "default: the champion's, else 'time'.",
        ),
    ] = None,
    folds: Annotated[
        int | None, typer.Option("--folds", min=2, max=20, help="Folds for --split person (default 5).")
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option("--horizon", min=1, max=104, help="Weeks ahead; default: the champion's, else 12."),
    ] = None,
    catalog: CatalogOption = None,
    debug: DebugOption = False,
) -> None:
    """Back-test, train the chosen model, log it to MLflow and register it (champion or challenger).

    This is the `retrain` flow that `ewarn serve` runs on its schedule. The horizon and split are
    logged with the model; a retraining without --horizon or --split keeps the champion's.
    """
    settings = _settings(home=home, catalog=catalog, landing=data)
    if split not in (None, "time", "person"):
        raise _fail(f"--split must be 'time' or 'person', not {split!r}")
    cutoff_date = _parse_date(cutoff, "--cutoff")
    if split == "person" and cutoff_date is not None:
        raise _fail("--cutoff splits by time; with --split person use --folds instead.")
    plan = {"split": split, "folds": folds, "horizon": horizon}
    summary = _run_flow(
        "train", debug, lambda: _retrain(settings, cutoff_date, promote, capacity, **plan), total=6
    )
    _print_training(summary)


_prefect_starting: list = []


def _prefect_api() -> contextlib.AbstractContextManager[object]:
    """Wait for the temporary Prefect server started in the background (see flows.prefect_env).

    Run the flow inside the returned context: it points Prefect's client at that server.
    """
    servers = [server for server in _prefect_starting if server is not None]
    _prefect_starting.clear()
    return servers[-1].api() if servers else contextlib.nullcontext()


def _retrain(
    settings: Settings,
    cutoff: date | None,
    promote: bool,
    capacity: float,
    *,
    split: str | None = None,
    folds: int | None = None,
    horizon: int | None = None,
):
    from flows.retrain import retrain

    with _prefect_api():
        return retrain(
            data=str(settings.landing_folder()),
            home=str(settings.resolved_home()),
            cutoff=cutoff.isoformat() if cutoff else None,
            promote=promote,
            capacity=capacity,
            catalog_path=str(settings.catalog) if settings.catalog else None,
            split=split,
            folds=folds,
            horizon=horizon,
        )


def _print_training(summary) -> None:
    split = f"at {summary.cutoff}" if summary.split == "time" else f"on {summary.folds} person folds"
    title = f"Back-test {split}, {summary.horizon} weeks ahead, chosen: {summary.result.chosen}"
    _print_metrics(summary.result.table(), title)
    for warning in summary.fairness_warnings:
        typer.echo(f"Fairness warning: {warning}")
    if summary.reviewed:
        typer.echo(
            f"Reviewed flags so far: {summary.reviewed['flags']:.0f}, of which "
            f"{summary.reviewed['precision']:.0%} led to a planned conversation "
            f"and {summary.reviewed['false_alarm_rate']:.0%} were false alarms."
        )
    typer.echo(
        f"Registered version {summary.record.version} of model 'ewarn-risk' as {summary.decision.alias}: "
        f"{summary.decision.reason}.\nRun {summary.record.run_id} in {summary.uri}\n"
        f"See it with: mlflow ui --backend-store-uri {summary.uri}"
    )


@app.command()
def nightly(
    data: DataOption = None,
    home: HomeOption = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Score the week of this date (default: the last week in the data)."),
    ] = None,
    catalog: CatalogOption = None,
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", min=1, help="Partitions of people (default: by data size)."),
    ] = None,
    task_runner: Annotated[
        str, typer.Option("--task-runner", help="'thread' (default) or 'dask' (with --dask-address).")
    ] = "thread",
    dask_address: Annotated[
        str | None,
        typer.Option(
            "--dask-address", help="Scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786."
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Score the latest week with the champion and publish explained flags to the flag store and a report."""
    settings = _settings(home=home, catalog=catalog, landing=data)
    if partitions:
        settings = settings.model_copy(update={"partitions": partitions})
    if task_runner not in ("thread", "dask"):
        raise _fail(f"--task-runner must be 'thread' or 'dask', not {task_runner!r}")
    if (task_runner == "dask") != bool(dask_address):
        raise _fail("--task-runner dask and --dask-address go together: give both, or neither.")
    as_of_date = _parse_date(as_of, "--as-of")
    result = _run_flow("nightly", debug, lambda: _nightly(settings, as_of_date, dask_address), total=7)
    _print_nightly(result, settings)


def _nightly(settings: Settings, as_of: date | None, dask_address: str | None = None):
    from flows.nightly import nightly, task_runner

    nightly_flow = nightly.with_options(task_runner=task_runner(dask_address))
    with _prefect_api():
        return nightly_flow(
            data=str(settings.landing_folder()),
            home=str(settings.resolved_home()),
            as_of=as_of.isoformat() if as_of else None,
            catalog_path=str(settings.catalog) if settings.catalog else None,
        )


def _print_nightly(result, settings: Settings) -> None:
    from collections import Counter

    bands = Counter(result.flags["band"].to_list())
    said = ", ".join(f"{n} {band}" for band, n in sorted(bands.items())) or "no one was flagged"
    typer.echo(
        f"Nightly run for the week of {result.as_of}: {result.flags.height} flags ({said}) among "
        f"{result.people_scored:,} people, model version {result.model_version}.\n"
        + "".join(f"{note}\n" for note in result.notes)
        + f"Report: {result.report}\nFlags: ewarn flags --home {settings.resolved_home()}"
    )


def _run_flow(name: str, debug: bool, start, total: int):
    """Run a flow with a progress bar; every failure becomes one paragraph and an exit code."""
    from flows.prefect_env import quiet_prefect, start_temporary_server
    from flows.progress import listening

    quiet_prefect(debug)
    _prefect_starting.append(start_temporary_server())
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False, disable=not sys.stderr.isatty()) as bar:
        job = bar.add_task(f"{name}: starting Prefect", total=total + 1)

        def advance(description: str) -> None:
            bar.update(job, advance=1, description=f"{name}: {description}")
            if not sys.stderr.isatty():
                typer.echo(f"- {description} ...", err=True)

        try:
            with listening(advance):
                outcome = start()
        except Exception as exc:
            if debug or _debugging():
                traceback.print_exc()
            raise _flow_failure(name, exc) from None
        bar.update(job, completed=total + 1, description=f"{name}: done")
    return outcome


def _flow_failure(name: str, exc: Exception) -> typer.Exit:
    """One paragraph that says what went wrong and what to do; exit 2 for bad input, 1 otherwise."""
    from features.catalog import CatalogError
    from flows.landing import ContractViolation
    from flows.lock import JobAlreadyRunningError
    from flows.nightly import NoChampionError
    from flows.store import StoreError
    from models.splits import SplitError
    from models.tracking import TrackingUnavailableError

    bad_input = (ContractViolation, CatalogError, SplitError, ValueError)
    if isinstance(exc, ContractViolation):
        message = f"The landing folder does not meet the input contract:\n{exc}"
    elif isinstance(exc, (NoChampionError, TrackingUnavailableError, StoreError, JobAlreadyRunningError)):
        message = str(exc)
    elif isinstance(exc, bad_input):
        message = f"Cannot run {name}: {exc}"
    else:
        message = (
            f"The {name} run failed: {type(exc).__name__}: {exc}. Nothing was stored: the flag store and "
            "the previous report are as they were. Run again with --debug to see the traceback."
        )
    code = EXIT_BAD_INPUT if isinstance(exc, bad_input) else 1
    return _fail(message, code=code)


@app.command()
def flags(
    home: HomeOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The run for the week of this date (default: the latest).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Print the flags of the latest (or a given) nightly run: pseudonym, team, risk band, reasons, status."""
    from flows.store import FlagStore, StoreError

    if fmt not in ("table", "csv", "json"):
        raise _fail(f"--format must be table, csv or json, not {fmt!r}")
    settings = _settings(home=home)
    as_of_date = _parse_date(as_of, "--as-of")
    try:
        store = FlagStore(settings.flag_store_url(), create=False)
    except StoreError as exc:
        raise _fail(str(exc), code=1) from None
    run = store.run(as_of_date)
    if run is None:
        when = f"for the week of {as_of_date}" if as_of_date else "yet"
        raise _fail(
            f"No nightly run {when} in {settings.flag_store_url()}. Run `ewarn nightly` first.", code=1
        )
    table = flag_listing(store.run_flags(run["run_id"]), store.run_reasons(run["run_id"]))
    if fmt == "csv":
        sys.stdout.write(table.write_csv())
    elif fmt == "json":
        sys.stdout.write(table.write_json() + "\n")
    else:
        _print_flags(table, f"Flags for the week of {run['as_of']} (model version {run['model_version']})")


def flag_listing(flag_rows: pl.DataFrame, reason_rows: pl.DataFrame) -> pl.DataFrame:
    """One row per flag: pseudonym, team, risk band, top reasons joined, status."""
    import polars as pl

    if flag_rows.height == 0:
        return pl.DataFrame(
            schema={c: pl.String for c in ("pseudonym", "team", "risk_band", "reasons", "status")}
        )
    if reason_rows.height == 0:
        # Flags whose families gave no sentence; the store's empty frame has no column types.
        reason_rows = pl.DataFrame(schema={"flag_id": pl.String, "rank": pl.Int64, "sentence": pl.String})
    joined = (
        reason_rows.sort("flag_id", "rank")
        .group_by("flag_id", maintain_order=True)
        .agg(pl.col("sentence").str.join(" | ").alias("reasons"))
    )
    return (
        flag_rows.join(joined, on="flag_id", how="left")
        .sort("rank")
        .select(
            pl.col("person_id").alias("pseudonym"),
            pl.col("team_id").alias("team"),
            pl.col("band").alias("risk_band"),
            pl.col("reasons").fill_null(""),
            "status",
        )
    )


def _print_flags(table: pl.DataFrame, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = Table(title=title, show_lines=True)
    for column in table.columns:
        # Pseudonyms must stay whole to be found again; the reasons may wrap.
        shown.add_column(
            column, overflow="fold", no_wrap=column != "reasons", ratio=3 if column == "reasons" else None
        )
    for row in table.iter_rows():
        shown.add_row(*("" if v is None else str(v).replace(" | ", "\n") for v in row))
    Console().print(shown)


@app.command()
def serve(
    home: HomeOption = None,
    data: DataOption = None,
    nightly_cron: Annotated[
        str | None, typer.Option("--nightly-cron", help="Cron of the nightly job (default 0 2 * * *).")
    ] = None,
    retrain_cron: Annotated[
        str | None, typer.Option("--retrain-cron", help="Cron of retraining (default 0 3 * * 0, weekly).")
    ] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA timezone of both crons.")] = None,
) -> None:
    """Serve the nightly and retrain deployments on their schedules through Prefect (runs until stopped)."""
    from flows.prefect_env import quiet_prefect

    quiet_prefect(debug=True)
    overrides = {
        k: v
        for k, v in {"nightly_cron": nightly_cron, "retrain_cron": retrain_cron, "timezone": timezone}.items()
        if v
    }
    settings = _settings(home=home, landing=data).model_copy(update=overrides)
    from flows.schedules import ScheduleError, deployments, serve_deployments

    try:
        planned = deployments(settings)
    except ScheduleError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"Serving 'nightly' ({settings.nightly_cron}) and 'retrain' ({settings.retrain_cron}), "
        f"timezone {settings.timezone}, for {settings.resolved_home()}. Stop with Ctrl+C."
    )
    serve_deployments(planned)


# The review page's commands (`review`, `users`, `audit`) live with the app in review/cli.py.
from review.cli import register as _register_review  # noqa: E402

_register_review(app)
from flows.governance_cli import register as _register_governance  # noqa: E402

_register_governance(app)  # subject-access, forget, purge, report works-council, notice

# `ewarn import <source>` (a source's export into a landing folder) lives in flows/import_cli.py.
from flows.import_cli import register as _register_import  # noqa: E402

_register_import(app)
from flows.catalog_cli import register as _register_catalog  # noqa: E402

_register_catalog(app)  # catalog suggest


def main() -> None:
    """Run the command line: exit 0 only on success, 2 for bad input, 1 for any other failure.

    Commands turn what they expect into a message and an exit code themselves; anything else
    ends here in one line that says what to do (the traceback only with --debug), never in 0.
    Ctrl+C ends in 130, as a shell expects.
    """
    # Everything ewarn writes (stores, reports, MLflow artifacts, landing folders) is its owner's alone.
    os.umask(0o077)
    atexit.register(_end_without_teardown)
    try:
        app()
    except SystemExit as exc:
        _exit_code.append(exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1)
        raise
    except KeyboardInterrupt:
        _exit_code.append(130)
        sys.exit(130)
    except Exception as exc:
        _exit_code.append(1)
        if _debugging():
            traceback.print_exc()
        typer.echo(unexpected_failure(_command_name(), exc), err=True)
        sys.exit(1)


def unexpected_failure(command: str, exc: BaseException) -> str:
    """One line for a failure no command explained: what failed, where, and what to do."""
    from features.contract import mask_text

    # A reader's error may quote a cell of the data: an e-mail address in it is masked.
    detail = mask_text((str(exc).strip().splitlines() or [""])[0][:300])
    if isinstance(exc, OSError) and exc.filename:
        return (
            f"ewarn {command}: cannot use {exc.filename} ({exc.strerror or detail}). Check that the path "
            "exists and that you may read and write it, then run the command again."
        )
    return (
        f"ewarn {command} failed: {type(exc).__name__}: {detail or 'no message'}. Run it again with "
        f"--debug (`ewarn --debug {command} ...`) to see the traceback, and report it with that output."
    )


def _debugging() -> bool:
    return "--debug" in sys.argv[1:]


def _command_name() -> str:
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    return " ".join(words[:2]) if words[:1] in (["audit"], ["users"]) else (words[:1] or ["command"])[0]


_exit_code: list[int] = []


def _end_without_teardown() -> None:
    """End the process once every other exit handler ran, skipping the interpreter's teardown.

    Registered first, so it runs last: Prefect has stopped its temporary server and drained its
    logs, and every file and store is closed. Freeing the loaded libraries and data one object at
    a time would then take seconds and changes nothing (docs/research.md).
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing to save
            stream.flush()
    os._exit(_exit_code[-1] if _exit_code else 0)


if __name__ == "__main__":
    main()
