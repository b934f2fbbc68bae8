"""The temporary Prefect server that the command line starts while the flows' modules import."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flows.prefect_env import start_temporary_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHILD = textwrap.dedent(
    """
    import urllib.request
    from flows.prefect_env import quiet_prefect, start_temporary_server

    quiet_prefect()
    server = start_temporary_server()
    server.wait()
    assert server.api_url, "no server"
    with urllib.request.urlopen(server.api_url + "/health") as response:
        assert response.status == 200
    with server.api():
        from prefect.settings import PREFECT_API_URL

        assert PREFECT_API_URL.value() == server.api_url
    process = server._process
    server.stop()
    assert process.poll() is not None, "still running"
    print("ok", server.api_url)
    """
)


def test_the_temporary_server_answers_is_used_and_stops(tmp_path: Path) -> None:
    # A clean process: the test session's own Prefect API must not be in the environment.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_API")}
    environment["PREFECT_HOME"] = str(tmp_path / "prefect")
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=environment,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok http://127.0.0.1:")


def test_no_temporary_server_when_a_server_is_configured(monkeypatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert start_temporary_server() is None
