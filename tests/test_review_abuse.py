"""The review page under abuse, served by uvicorn on loopback: lock-out, throttling, memory, big bodies.

Every client gets its own loopback address (Linux routes all of 127.0.0.0/8 to loopback), so the
server sees an attacker and the account's owner as two clients, as it would on a network.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from review_helpers import PASSWORD, csrf_of, fast_hashing, make_store

from flows.store import FlagStore
from review.app import create_app
from review.testing import free_port, serving

pytestmark = pytest.mark.integration

MIB = 2**20


def client_at(url: str, address: str) -> httpx.Client:
    """An HTTP client whose requests leave from `address` (a loopback address of its own)."""
    return httpx.Client(
        base_url=url, transport=httpx.HTTPTransport(local_address=address), timeout=60, follow_redirects=False
    )


def attempt(client: httpx.Client, name: str, password: str) -> httpx.Response:
    """One log-in through the form, as a browser does it: fetch the page, post the form."""
    page = client.get("/login")
    return client.post("/login", data={"name": name, "password": password, "csrf": csrf_of(page.text)})


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FlagStore]]:
    fast_hashing(monkeypatch)  # memory is not the point here; the memory test hashes at full cost
    store, _ = make_store(tmp_path)
    with serving(create_app(store)) as url:
        yield url, store


def test_an_attacker_cannot_lock_the_owner_out(server: tuple[str, FlagStore]) -> None:
    url, store = server
    with client_at(url, "127.0.0.2") as attacker, client_at(url, "127.0.0.3") as owner:
        answers = [attempt(attacker, "ana", f"guess number {i}") for i in range(7)]
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 2
        assert 0 < int(answers[-1].headers["retry-after"]) <= 15 * 60
        # Even the right password waits on the attacker's address: guessing must not go on there.
        assert attempt(attacker, "ana", PASSWORD).status_code == 429
        assert attempt(owner, "ana", PASSWORD).status_code == 303, "the owner logs in from elsewhere"
    audited = store.audit_entries().filter(actor="ana").select("action", "client").rows()
    assert ("login_success", "127.0.0.3") in audited
    assert audited.count(("login_failure", "127.0.0.2")) == 5


def test_unknown_names_are_throttled_like_known_ones(server: tuple[str, FlagStore]) -> None:
    url, _ = server
    with client_at(url, "127.0.0.4") as same_name, client_at(url, "127.0.0.5") as sprayer:
        answers = [attempt(same_name, "nobody", "guess") for _ in range(6)]
        assert [a.status_code for a in answers] == [401] * 5 + [429]
        sprayed = [attempt(sprayer, f"user{i}", "guess").status_code for i in range(22)]
        assert sprayed[:20] == [401] * 20 and set(sprayed[20:]) == {429}, "one address, many names"
        # A known name from a throttled address waits too: the answer says nothing about names.
        assert attempt(sprayer, "ana", PASSWORD).status_code == 429


def _raw_post(url: str, headers: str, body_chunks: list[bytes], wait_s: float = 5.0) -> bytes:
    """Send a request's head and some body bytes, never finish it, and return what the server says."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as sock:
        sock.sendall(f"POST /login HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
        for chunk in body_chunks:
            try:
                sock.sendall(chunk)
            except OSError:  # the server answered and closed: what it said is in the buffer
                break
        try:
            return sock.recv(200)
        except TimeoutError:
            return b"(no answer)"


def test_big_bodies_are_refused_before_they_are_read(server: tuple[str, FlagStore]) -> None:
    url, _ = server
    form = "Content-Type: application/x-www-form-urlencoded\r\n"
    # 64 MB announced, nothing sent: the header alone must be enough to refuse it.
    announced = _raw_post(url, form + f"Content-Length: {64 * MIB}\r\n", [])
    assert announced.startswith(b"HTTP/1.1 413"), announced
    # Chunked, with no length: refused once the bytes read pass the cap, not at the end.
    chunk = b"2000\r\n" + b"a" * 0x2000 + b"\r\n"
    streamed = _raw_post(url, form + "Transfer-Encoding: chunked\r\n", [chunk] * 16)
    assert streamed.startswith(b"HTTP/1.1 413"), streamed


# --- memory, with the production scrypt cost -----------------------------------------------------


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


@pytest.fixture
def production_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    """`ewarn review` in its own process, hashing at the production cost."""
    with monkeypatch.context() as patch:
        fast_hashing(patch)  # the users' own hashes; unknown names are checked at full cost
        make_store(tmp_path)
    port = free_port()
    env = {**os.environ, "EWARN_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "review", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/login", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read().decode() if process.stderr else "") from None
                time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(20)


@pytest.mark.slow
def test_concurrent_log_ins_with_unknown_names_keep_memory_bounded(
    production_server: tuple[str, int],
) -> None:
    url, pid = production_server
    concurrent = 12
    clients = [client_at(url, "127.0.0.6") for _ in range(concurrent)]
    pages = [c.get("/login") for c in clients]
    before = _memory_kib(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # start the peak (VmHWM) afresh
    start = threading.Barrier(concurrent)

    def log_in(index: int) -> tuple[int, float]:
        start.wait()
        began = time.monotonic()
        response = clients[index].post(
            "/login",
            data={"name": f"stranger{index}", "password": "guess", "csrf": csrf_of(pages[index].text)},
        )
        return response.status_code, time.monotonic() - began

    with ThreadPoolExecutor(concurrent) as pool:
        answers = list(pool.map(log_in, range(concurrent)))
    peak = _memory_kib(pid, "VmHWM")
    for client in clients:
        client.close()
    growth_mib = (peak - before) / 1024
    print(f"\nserver RSS {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB: +{growth_mib:.0f} MiB")
    statuses = [status for status, _ in answers]
    print(sorted((s, round(t, 2)) for s, t in answers))
    assert set(statuses) <= {401, 503}, statuses
    assert statuses.count(401) >= 2, "some log-ins were checked"
    busy = [seconds for status, seconds in answers if status == 503]
    assert all(seconds < 3 for seconds in busy), "the excess is turned away quickly"
    # At most two password checks at a time, at about 128 MiB of scrypt each.
    assert growth_mib < 2 * 129 + 100, f"{growth_mib:.0f} MiB for {concurrent} concurrent log-ins"
