"""Passwords, users, sessions and lock-out of the review app, and the store's schema upgrade."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from review_helpers import PASSWORD, fast_hashing

from flows import store_schema as store_module
from flows.store import FlagStore
from flows.store_schema import sessions
from review import auth

pytestmark = pytest.mark.code


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FlagStore:
    fast_hashing(monkeypatch)
    return FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")


def test_production_hash_is_scrypt_at_owasp_cost_salted_and_verifies() -> None:
    assert auth.SCRYPT_N >= 2**17 and auth.SCRYPT_R >= 8
    started = time.perf_counter()
    first = auth.hash_password(PASSWORD)
    assert time.perf_counter() - started < 5
    assert first.startswith(f"scrypt${2**17}$8$1$")
    assert auth.verify_password(PASSWORD, first)
    assert not auth.verify_password(PASSWORD + "x", first)


def test_same_password_gets_a_different_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_hashing(monkeypatch)
    assert auth.hash_password(PASSWORD) != auth.hash_password(PASSWORD)
    assert not auth.verify_password(PASSWORD, "not a hash")
    assert not auth.verify_password(PASSWORD, "bcrypt$1$2$3$4$5")


def test_users_are_added_listed_and_removed_without_their_hash(store: FlagStore) -> None:
    auth.add_user(store, "ana", "analyst", ["t02", "t01", "t01"], PASSWORD)
    auth.add_user(store, "root", "admin", ["ignored"], PASSWORD)
    listed = auth.list_users(store)
    assert [(u["name"], u["role"], u["teams"]) for u in listed] == [
        ("ana", "analyst", ["t01", "t02"]),
        ("root", "admin", []),
    ]
    assert all("hash" not in key for row in listed for key in row)
    with pytest.raises(auth.UserError, match="exists"):
        auth.add_user(store, "ana", "analyst", ["t01"], PASSWORD)
    auth.remove_user(store, "ana")
    with pytest.raises(auth.UserError, match="no user"):
        auth.remove_user(store, "ana")


@pytest.mark.parametrize(
    ("name", "role", "teams", "password", "message"),
    [
        ("a b", "analyst", ["t01"], PASSWORD, "valid user name"),
        ("ana", "boss", ["t01"], PASSWORD, "--role"),
        ("ana", "analyst", [], PASSWORD, "--teams"),
        ("ana", "analyst", ["t01"], "short", "at least 12"),
    ],
)
def test_bad_users_are_refused(
    store: FlagStore, name: str, role: str, teams: list[str], password: str, message: str
) -> None:
    with pytest.raises(auth.UserError, match=message):
        auth.add_user(store, name, role, teams, password)


def test_log_in_gives_a_session_whose_token_is_stored_only_as_a_hash(store: FlagStore) -> None:
    auth.add_user(store, "ana", "analyst", ["t01"], PASSWORD)
    result = auth.log_in(store, "ana", PASSWORD)
    assert result.token
    session = auth.session_of(store, result.token)
    assert session is not None and session.user.name == "ana" and session.user.teams == ("t01",)
    with store.engine.connect() as connection:
        stored = connection.execute(sa.select(sessions.c.token_hash)).scalars().all()
    assert stored and result.token not in stored
    auth.log_out(store, result.token)
    assert auth.session_of(store, result.token) is None
    actions = store.audit_entries()["action"].to_list()
    assert actions == ["login_success", "logout"]


def test_expired_sessions_and_sessions_of_removed_users_are_dead(store: FlagStore) -> None:
    auth.add_user(store, "ana", "analyst", ["t01"], PASSWORD)
    token = auth.log_in(store, "ana", PASSWORD).token
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    with store.engine.begin() as connection:
        connection.execute(sa.update(sessions).values(expires_at=past))
    assert auth.session_of(store, token) is None
    token = auth.log_in(store, "ana", PASSWORD).token
    auth.remove_user(store, "ana")
    assert auth.session_of(store, token) is None
    assert auth.session_of(store, None) is None and auth.session_of(store, "x" * 500) is None


def test_failures_never_lock_the_account(store: FlagStore) -> None:
    # Throttling is per client, in the app (review.throttle); the account itself is never locked.
    auth.add_user(store, "ana", "analyst", ["t01"], PASSWORD)
    for _ in range(12):
        assert auth.log_in(store, "ana", "wrong password!", client="192.0.2.9").token is None
    assert auth.log_in(store, "ana", PASSWORD, client="198.51.100.7").token
    details = store.audit_entries().select("actor", "action", "detail", "client").rows()
    assert details[0] == ("ana", "login_failure", "wrong password", "192.0.2.9")
    assert details[-1] == ("ana", "login_success", "", "198.51.100.7")


def test_unknown_user_fails_like_a_wrong_password_and_is_audited_without_the_name(store: FlagStore) -> None:
    result = auth.log_in(store, "mallory@example.org", PASSWORD)
    assert result.token is None
    entry = store.audit_entries().row(0, named=True)
    assert entry["actor"] == auth.UNKNOWN_ACTOR and "mallory" not in str(entry)


def test_a_version_2_store_is_upgraded_in_place_to_add_sessions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    store_module.upgrade(engine, target=2)
    assert not sa.inspect(engine).has_table("sessions")
    engine.dispose()
    store = FlagStore(url)
    assert store.schema_version() == store_module.SCHEMA_VERSION >= 3
    assert sa.inspect(store.engine).has_table("sessions")
