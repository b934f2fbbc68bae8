"""Prefect's environment for the command line: quiet, no telemetry, and a head start on its server."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request


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


# The server's own process runs this before uvicorn: on Linux it asks the kernel to stop it when
# the thread that started it ends, which is when the command ends, however it ends (a SIGKILL runs
# no exit handler). The parent's pid comes first in argv, to catch a parent that died before.
_LAUNCH = """
import ctypes, os, runpy, signal, sys
parent = int(sys.argv.pop(1))
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
except (AttributeError, OSError):
    pass  # not Linux: the parent's exit handler stops the server
if os.getppid() != parent:
    sys.exit(0)
sys.argv[0] = "uvicorn"
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""


class TemporaryServer:
    """Prefect's temporary API server in a subprocess, started before the flow's modules import.

    Prefect starts the same server itself when no PREFECT_API_URL is set, but only after
    importing its whole server package into this process (seconds of start-up on a small
    machine, competing with our own imports). Here only Prefect's settings are imported; the
    server imports in its own process, on the other core. Call `wait` before running a flow and
    run it inside `api()`; the server stops when the process exits, or is killed (see _LAUNCH:
    the thread that starts it stays alive until `stop`, as the kernel ties the server to it).
    """

    def __init__(self) -> None:
        self.api_url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._start, name="prefect-server-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._serve()
        finally:
            self._ready.set()
        if self._process is not None:
            self._stopping.wait()

    def _serve(self) -> None:
        try:
            import prefect
            from prefect.settings import (
                PREFECT_API_URL,
                PREFECT_SERVER_EPHEMERAL_ENABLED,
                get_current_settings,
            )

            if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
                return  # a profile names a server, or temporary servers are off: Prefect decides
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            # The command and environment of Prefect's own SubprocessASGIServer (prefect 3.9).
            environment = {
                **os.environ,
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
                **get_current_settings().to_environment_variables(exclude_unset=True),
            }
            command = [
                sys.executable, "-c", _LAUNCH, str(os.getpid()),
                "--app-dir", str(prefect.__module_path__.parent),
                "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "error", "--lifespan", "on",
            ]  # fmt: skip
            self._process = subprocess.Popen(command, env=environment)
            atexit.register(self.stop)
            url = f"http://127.0.0.1:{port}/api"
            deadline = time.monotonic() + float(
                os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]
            )
            while time.monotonic() < deadline and self._process.poll() is None:
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                        if response.status == 200:
                            self.api_url = url
                            self._ready.set()
                            return
                except OSError:
                    time.sleep(0.1)
            self.stop()
        except Exception:  # any trouble: Prefect starts (and reports on) its own server instead
            self.stop()

    def wait(self) -> None:
        """Block until the server answers, or until it is known that Prefect will start its own."""
        self._ready.wait()

    def api(self) -> contextlib.AbstractContextManager[object]:
        """A context in which Prefect's client talks to this server (nothing changes without one)."""
        self.wait()
        if self.api_url is None:
            return contextlib.nullcontext()
        from prefect.settings import PREFECT_API_URL, temporary_settings

        return temporary_settings(updates={PREFECT_API_URL: self.api_url})

    def stop(self) -> None:
        """Stop the server, if it runs (registered to run at exit)."""
        self._stopping.set()
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_temporary_server() -> TemporaryServer | None:
    """Start Prefect's temporary server in the background while the flow's modules import.

    Without PREFECT_API_URL, the first flow run would start a local server and wait for it
    (seconds). Starting it here overlaps that wait with importing Polars, scikit-learn and
    MLflow. Nothing is started when PREFECT_API_URL is set in the environment.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    _exit_on_sigterm()
    return TemporaryServer()


def _exit_on_sigterm() -> None:
    """Let SIGTERM end the command as an exit does: exit handlers run and stop the server cleanly.

    Only in the main thread and only when nobody else handles SIGTERM. The exit code is 143
    (128 + SIGTERM), as a shell reports a process ended by that signal.
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
