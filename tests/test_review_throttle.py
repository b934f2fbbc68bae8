"""Log-in throttling: pauses per client and per (client, name) that grow, cap, fade, and stay bounded."""

from __future__ import annotations

import pytest

from review import throttle
from review.throttle import LoginGuard, client_key

pytestmark = pytest.mark.code


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(guard: LoginGuard, client: str, name: str, times: int) -> list[int]:
    return [guard.failed(client, name) for _ in range(times)]


def test_pauses_start_after_the_free_failures_double_and_stop_at_the_cap() -> None:
    clock = Clock()
    guard = LoginGuard(clock=clock)
    assert fail(guard, "192.0.2.1", "ana", 5) == [0, 0, 0, 0, 30]
    assert guard.pause("192.0.2.1", "ana") == 30
    assert guard.pause("192.0.2.2", "ana") == 0, "another client is not held up"
    assert guard.pause("192.0.2.1", "bob") == 0, "nor another name from the same client"
    pauses = []
    for _ in range(8):
        clock.now += guard.pause("192.0.2.1", "ana")
        pauses.append(guard.failed("192.0.2.1", "ana"))
    assert pauses == [60, 120, 240, 480, 900, 900, 900, 900]


def test_a_client_trying_many_names_pauses_for_all_of_them() -> None:
    guard = LoginGuard(clock=Clock())
    for i in range(throttle.CLIENT_FREE_FAILURES):
        guard.failed("192.0.2.1", f"name{i}")
    assert guard.pause("192.0.2.1", "somebody-new") == 30
    assert guard.pause("192.0.2.3", "somebody-new") == 0


def test_a_success_forgets_that_names_failures_and_quiet_clients_are_forgotten() -> None:
    clock = Clock()
    guard = LoginGuard(clock=clock)
    fail(guard, "192.0.2.1", "ana", 4)
    guard.succeeded("192.0.2.1", "ana")
    assert fail(guard, "192.0.2.1", "ana", 4) == [0, 0, 0, 0]
    guard.failed("192.0.2.1", "ana")
    clock.now += throttle.FORGET_AFTER_S + 1
    assert guard.pause("192.0.2.1", "ana") == 0
    assert guard.failed("192.0.2.1", "ana") == 0, "counting starts afresh after a quiet hour"


def test_memory_is_bounded_however_many_names_and_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "MAX_KEYS", 50)
    guard = LoginGuard(clock=Clock())
    for i in range(500):
        guard.failed(f"10.0.{i // 250}.{i % 250}", f"name{i}")
    assert len(guard._failures) <= 50


def test_ipv6_clients_are_counted_by_their_64_network() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1" and client_key(None) == "unknown"
