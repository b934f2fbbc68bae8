"""The `ewarn` command line: one entry point, thin commands that call flows and pure functions.

The only module that knows both the flows and the review app: each command group registers itself
here (data, pipeline, review, governance, import, catalog), in the order `ewarn --help` lists them.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import traceback
from typing import Annotated

import typer

from cli import catalog_commands, data, governance_commands, import_commands, pipeline, review_commands
from cli.common import debugging

app = typer.Typer(
    name="ewarn",
    help="Early warning for creeping demotivation: explained flags for a human conversation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _everywhere(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when any command fails.")
    ] = False,
) -> None:
    # `ewarn --debug COMMAND`: read by main() and run_flow (cli.flow_runs) from the command line itself.
    del debug


data.register(app)  # validate, pseudonymise, simulate, features
pipeline.register(app)  # demo, backtest, train, nightly, flags, serve
review_commands.register(app)  # review, users, audit
governance_commands.register(app)  # subject-access, forget, purge, report works-council, notice
import_commands.register(app)  # import table, import viva-insights
catalog_commands.register(app)  # catalog suggest


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
        if debugging():
            traceback.print_exc()
        typer.echo(unexpected_failure(_command_name(), exc), err=True)
        sys.exit(1)


def unexpected_failure(command: str, exc: BaseException) -> str:
    """One line for a failure no command explained: what failed, where, and what to do."""
    from features.masking import mask_text

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
