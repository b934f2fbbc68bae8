"""`ewarn`'s pipeline commands: demo, backtest, train, nightly, flags and serve (the scheduler)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    CatalogOption,
    DataOption,
    DebugOption,
    HomeOption,
    check_output,
    contract_failure,
    fail,
    load_catalog,
    make_settings,
    parse_date,
)
from cli.flow_runs import run_flow, run_nightly, run_retrain
from cli.listing import flag_listing, print_flags, print_metrics
from flows.settings import Settings


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

    settings = make_settings(home=home)
    root = settings.resolved_home()
    landing_dir = settings.landing_folder()
    started = time.perf_counter()
    typer.echo(f"Simulating {people:,} people x {weeks} weeks into {landing_dir} ...")
    write_simulation(simulate_organisation(people, weeks, seed), landing_dir)
    summary = run_flow("train", debug, lambda: run_retrain(settings, None, False, None), total=7)
    _print_training(summary)
    result = run_flow("nightly", debug, lambda: run_nightly(settings, None), total=7)
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
        float | None,
        typer.Option(
            "--capacity",
            min=0.001,
            max=0.5,
            help="Share of people reviewers can see each week (default: EWARN_CAPACITY, else 2%).",
        ),
    ] = None,
    horizon: Annotated[int | None, typer.Option("--horizon", min=1, help="Weeks ahead (default 12).")] = None,
    catalog: CatalogOption = None,
) -> None:
    """Back-test every candidate and the naive reference; write scores and flags, print the metrics."""
    from flows import modelling
    from flows.exclusions import ExclusionListError
    from flows.landing import ContractViolation
    from flows.tables import write_frame
    from models.splits import SplitError

    settings = make_settings(catalog=catalog)
    if horizon:
        settings = settings.model_copy(update={"horizon_weeks": horizon})
    if split not in ("time", "person"):
        raise fail(f"--split must be 'time' or 'person', not {split!r}")
    check_output(out)
    cutoff_date = parse_date(cutoff, "--cutoff")
    typer.echo("Validating the landing folder and building features ...", err=True)
    signal_catalog = load_catalog(settings)
    try:
        tables = modelling.prepare_tables(data, settings, signal_catalog)
    except ContractViolation as exc:
        raise contract_failure(data, exc) from None
    except ExclusionListError as exc:
        raise fail(str(exc)) from None
    typer.echo("Back-testing every candidate and the naive reference ...", err=True)
    try:
        result = modelling.backtest(
            tables,
            settings.horizon_weeks,
            cutoff=cutoff_date,
            split=split,
            folds=folds,
            capacity=settings.capacity if capacity is None else capacity,
            catalog=signal_catalog,
        )
    except SplitError as exc:
        raise fail(f"Cannot back-test: {exc}") from None
    own = [c for c in result.scored.columns if c.startswith("score_")]
    write_frame(result.scored.select("person_id", "week", "score", *own, "flagged"), out)
    print_metrics(result.table(), f"Back-test ({result.split} split), chosen: {result.chosen}")
    if result.outcomes:
        print_metrics(
            result.outcome_table(), "Per outcome: its own score and the combined score, on its events"
        )
    else:
        typer.echo(f"Note: {result.outcome_note}.")
    typer.echo(f"{result.scored.height:,} scored person-weeks -> {out}")


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
        float | None,
        typer.Option(
            "--capacity", min=0.001, max=0.5, help="Reviewer capacity (default: EWARN_CAPACITY, else 2%)."
        ),
    ] = None,
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
    settings = make_settings(home=home, catalog=catalog, landing=data)
    if split not in (None, "time", "person"):
        raise fail(f"--split must be 'time' or 'person', not {split!r}")
    cutoff_date = parse_date(cutoff, "--cutoff")
    if split == "person" and cutoff_date is not None:
        raise fail("--cutoff splits by time; with --split person use --folds instead.")
    plan = {"split": split, "folds": folds, "horizon": horizon}
    summary = run_flow(
        "train", debug, lambda: run_retrain(settings, cutoff_date, promote, capacity, **plan), total=7
    )
    _print_training(summary)


def _print_training(summary) -> None:
    split = f"at {summary.cutoff}" if summary.split == "time" else f"on {summary.folds} person folds"
    title = f"Back-test {split}, {summary.horizon} weeks ahead, chosen: {summary.result.chosen}"
    print_metrics(summary.result.table(), title)
    for warning in summary.fairness_warnings:
        typer.echo(f"Fairness warning: {warning}")
    if summary.outcome_note:
        typer.echo(f"Note: {summary.outcome_note}.")
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
    settings = make_settings(home=home, catalog=catalog, landing=data)
    if partitions:
        settings = settings.model_copy(update={"partitions": partitions})
    if task_runner not in ("thread", "dask"):
        raise fail(f"--task-runner must be 'thread' or 'dask', not {task_runner!r}")
    if (task_runner == "dask") != bool(dask_address):
        raise fail("--task-runner dask and --dask-address go together: give both, or neither.")
    as_of_date = parse_date(as_of, "--as-of")
    result = run_flow("nightly", debug, lambda: run_nightly(settings, as_of_date, dask_address), total=7)
    _print_nightly(result, settings)


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


def flags(
    home: HomeOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The run for the week of this date (default: the latest).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Print the flags of the latest (or a given) nightly run: pseudonym, team, risk band, reasons, status."""
    from flows.store import FlagStore
    from flows.store_schema import StoreError

    if fmt not in ("table", "csv", "json"):
        raise fail(f"--format must be table, csv or json, not {fmt!r}")
    settings = make_settings(home=home)
    as_of_date = parse_date(as_of, "--as-of")
    try:
        store = FlagStore(settings.flag_store_url(), create=False)
    except StoreError as exc:
        raise fail(str(exc), code=1) from None
    run = store.run(as_of_date)
    if run is None:
        when = f"for the week of {as_of_date}" if as_of_date else "yet"
        raise fail(
            f"No nightly run {when} in {settings.flag_store_url()}. Run `ewarn nightly` first.", code=1
        )
    table = flag_listing(store.run_flags(run["run_id"]), store.run_reasons(run["run_id"]))
    if fmt == "csv":
        sys.stdout.write(table.write_csv())
    elif fmt == "json":
        sys.stdout.write(table.write_json() + "\n")
    else:
        print_flags(table, f"Flags for the week of {run['as_of']} (model version {run['model_version']})")


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
    settings = make_settings(home=home, landing=data).model_copy(update=overrides)
    from flows.schedules import ScheduleError, deployments, serve_deployments

    try:
        planned = deployments(settings)
    except ScheduleError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"Serving 'nightly' ({settings.nightly_cron}) and 'retrain' ({settings.retrain_cron}), "
        f"timezone {settings.timezone}, for {settings.resolved_home()}. Stop with Ctrl+C."
    )
    serve_deployments(planned)


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the `ewarn` command line."""
    for command in (demo, backtest, train, nightly, flags, serve):
        app.command()(command)
