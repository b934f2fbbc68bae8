"""Log-in throttling that slows guessing without locking anyone out, and a bound on password checks.

Failed log-ins are counted per client address and per (client address, name); unknown names are
counted like known ones, so the answers say nothing about which names exist. After a number of
free failures a key pauses, the pause doubling with every further failure up to a cap, and an
attempt during a pause is refused at once, without checking the password. Someone guessing from
one address thereby slows only that address: the account's owner logging in from another is not
affected (an account lock-out, by contrast, is a lock anyone can close on its owner). IPv6 clients
are counted by their /64 network, which one host usually holds whole.

Password checks (scrypt at about 128 MiB each) run at most `max_checks` at a time; a log-in that
cannot start one within `CHECK_WAIT_S` is turned away, so a burst of log-ins cannot exhaust memory.

The counts live in memory, per server process: a restart forgets them, and they are not shared
between processes (`ewarn review` runs one). At most `MAX_KEYS` keys are kept, the one whose last
failure is oldest going first.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio

ACCOUNT_FREE_FAILURES = 5
CLIENT_FREE_FAILURES = 20
FIRST_PAUSE_S = 30.0
MAX_PAUSE_S = 15 * 60.0
FORGET_AFTER_S = 60 * 60.0
MAX_KEYS = 10_000
MAX_CHECKS = 2
CHECK_WAIT_S = 1.0


def client_key(host: str | None) -> str:
    """The address a client is counted by: its IPv4 address, or its IPv6 /64 network."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    paused_until: float = 0.0


class LoginGuard:
    """Failure counts and pauses per client and per (client, name), and the password-check slots."""

    def __init__(self, max_checks: int = MAX_CHECKS, clock: Callable[[], float] = time.monotonic) -> None:
        """Start with no failures; `clock` is injectable for tests."""
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[tuple[str, ...], _Failures] = OrderedDict()
        self._checks = threading.BoundedSemaphore(max_checks)

    @staticmethod
    def _keys(client: str, name: str) -> tuple[tuple[tuple[str, ...], int], ...]:
        return (("client", client_key(client)), CLIENT_FREE_FAILURES), (
            ("account", client_key(client), name),
            ACCOUNT_FREE_FAILURES,
        )

    def _current(self, key: tuple[str, ...], now: float) -> _Failures | None:
        found = self._failures.get(key)
        if found is not None and now - found.last > FORGET_AFTER_S and now >= found.paused_until:
            del self._failures[key]
            return None
        return found

    def pause(self, client: str, name: str) -> int:
        """Whole seconds this client must still wait before trying this name; 0 when it may try now."""
        now = self._clock()
        with self._lock:
            waits = [
                f.paused_until - now for key, _ in self._keys(client, name) if (f := self._current(key, now))
            ]
        longest = max(waits, default=0.0)
        return math.ceil(longest) if longest > 0 else 0

    def failed(self, client: str, name: str) -> int:
        """Count a failed log-in; return the pause in seconds it starts (0 when none)."""
        now = self._clock()
        started = 0.0
        with self._lock:
            for key, free in self._keys(client, name):
                failures = self._current(key, now) or _Failures()
                failures.count += 1
                failures.last = now
                if failures.count >= free:
                    pause = min(MAX_PAUSE_S, FIRST_PAUSE_S * 2 ** (failures.count - free))
                    failures.paused_until = max(failures.paused_until, now + pause)
                    started = max(started, pause)
                self._failures[key] = failures
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)
        return math.ceil(started)

    def succeeded(self, client: str, name: str) -> None:
        """Forget the failures of this name from this client (the client's own count stays)."""
        with self._lock:
            self._failures.pop(self._keys(client, name)[1][0], None)

    async def acquire_check(self) -> bool:
        """Take a password-check slot, waiting at most CHECK_WAIT_S; False when none came free."""
        deadline = time.monotonic() + CHECK_WAIT_S
        # Polled, not awaited on a lock: waiting costs no thread, and the slots are shared by
        # whatever event loop serves the request.
        while not self._checks.acquire(blocking=False):
            if time.monotonic() >= deadline:
                return False
            await anyio.sleep(0.02)
        return True

    def release_check(self) -> None:
        """Give a password-check slot back."""
        self._checks.release()
