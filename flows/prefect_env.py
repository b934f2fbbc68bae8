"""Prefect's environment for the command line: quiet, no telemetry, and a head start on its server."""

from __future__ import annotations

import os
import threading


def quiet_prefect(debug: bool = False) -> None:
    """Set Prefect's environment before it is imported: no telemetry, console logs only when asked for."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary server Prefect starts when no PREFECT_API_URL is set needs longer than the
    # default on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not debug:
        # The console stays quiet (failures are explained in one paragraph by the command line);
        # the logs still reach the Prefect API, so the UI shows every run's full story.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def start_temporary_server() -> threading.Thread | None:
    """Start Prefect's temporary server in the background while the flow's modules import.

    Without PREFECT_API_URL, the first flow run starts a local server in a subprocess and waits
    for it (seconds). Starting it here overlaps that wait with importing Polars, scikit-learn and
    MLflow. Join the returned thread before running the flow: Prefect reuses the same server.
    Nothing is started when a server is configured.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None

    def start() -> None:
        try:
            from prefect.server.api.server import SubprocessASGIServer
            from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

            if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
                return
            SubprocessASGIServer().start()
        except Exception:  # the flow run starts (and reports on) the server itself
            return

    thread = threading.Thread(target=start, name="prefect-server-start", daemon=True)
    thread.start()
    return thread
