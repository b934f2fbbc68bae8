"""Running a flow from the command line: a temporary Prefect server, a progress bar, one exit code."""

from __future__ import annotations

import contextlib
import sys
import traceback
from datetime import date

import typer

from cli.common import EXIT_BAD_INPUT, debugging, fail
from flows.settings import Settings

# The temporary Prefect server run_flow starts: it comes up in the background while the flow's
# modules import, and prefect_api waits for it.
prefect_starting: list = []


def prefect_api() -> contextlib.AbstractContextManager[object]:
    """Wait for the temporary Prefect server started in the background (see flows.prefect_env).

    Run the flow inside the returned context: it points Prefect's client at that server.
    """
    servers = [server for server in prefect_starting if server is not None]
    prefect_starting.clear()
    return servers[-1].api() if servers else contextlib.nullcontext()


def run_retrain(
    settings: Settings,
    cutoff: date | None,
    promote: bool,
    capacity: float | None,
    *,
    split: str | None = None,
    folds: int | None = None,
    horizon: int | None = None,
):
    """The `retrain` flow on the settings' landing folder and home, against the temporary server."""
    from flows.retrain import retrain

    with prefect_api():
        return retrain(
            settings=settings.resolved(),
            cutoff=cutoff.isoformat() if cutoff else None,
            promote=promote,
            capacity=capacity,
            split=split,
            folds=folds,
            horizon=horizon,
        )


def run_nightly(settings: Settings, as_of: date | None, dask_address: str | None = None):
    """The `nightly` flow on the settings' landing folder and home (on Dask when given an address)."""
    from flows.nightly import nightly, task_runner

    nightly_flow = nightly.with_options(task_runner=task_runner(dask_address))
    with prefect_api():
        return nightly_flow(settings=settings.resolved(), as_of=as_of.isoformat() if as_of else None)


def run_flow(name: str, debug: bool, start, total: int):
    """Run a flow with a progress bar; every failure becomes one paragraph and an exit code."""
    from flows.prefect_env import quiet_prefect, start_temporary_server
    from flows.progress import listening

    quiet_prefect(debug)
    prefect_starting.append(start_temporary_server())
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
            if debug or debugging():
                traceback.print_exc()
            raise flow_failure(name, exc) from None
        bar.update(job, completed=total + 1, description=f"{name}: done")
    return outcome


def flow_failure(name: str, exc: Exception) -> typer.Exit:
    """One paragraph that says what went wrong and what to do; exit 2 for bad input, 1 otherwise."""
    from features.catalog import CatalogError
    from flows.landing import ContractViolation
    from flows.lock import JobAlreadyRunningError
    from flows.nightly import NoChampionError
    from flows.store_schema import StoreError
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
    return fail(message, code=code)
