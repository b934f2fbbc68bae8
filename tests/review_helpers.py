"""Shared set-up for the review app's tests: a store of synthetic runs, users, a logged-in client."""

from __future__ import annotations

import atexit
import copy
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # Starlette asks for httpx2 in a future release; httpx is what FastAPI's test client uses today.
    warnings.filterwarnings("ignore", message="Using `httpx` with")
    from fastapi.testclient import TestClient

from flows.store import FlagStore
from review import auth
from review.sample import SampleOrg, fill_sample_store

PASSWORD = "correct horse battery staple"
# Sample teams: t04 (4 people) and t07 (3) are under the anonymity threshold of 5.
ANALYST_TEAMS = ("t01", "t02", "t03")


def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap scrypt for tests that log in many times (the production cost has its own test)."""
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)


def _write_store(folder: Path, **sample: object) -> tuple[FlagStore, SampleOrg]:
    store = FlagStore(f"sqlite:///{folder / 'flags.db'}")
    org = fill_sample_store(store, **sample)  # type: ignore[arg-type]
    auth.add_user(store, "ana", "analyst", list(ANALYST_TEAMS), PASSWORD)
    auth.add_user(store, "root", "admin", [], PASSWORD)
    return store, org


# The default sample, written once per password cost and copied for each test that asks for it.
_TEMPLATES: dict[int, tuple[Path, SampleOrg]] = {}


def _template() -> tuple[Path, SampleOrg]:
    if auth.SCRYPT_N not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="ewarn-sample-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        store, org = _write_store(folder)
        store.dispose()
        _TEMPLATES[auth.SCRYPT_N] = (folder / "flags.db", org)
    return _TEMPLATES[auth.SCRYPT_N]


def make_store(tmp_path: Path, **sample: object) -> tuple[FlagStore, SampleOrg]:
    """A fresh store with synthetic runs, an analyst `ana` (t01-t03), an admin `root`.

    The default sample is a copy of one written earlier in the session (writing it costs far more
    than copying it); a sample with other settings is written here.
    """
    if sample:
        return _write_store(tmp_path, **sample)
    template, org = _template()
    shutil.copy2(template, tmp_path / "flags.db")
    return FlagStore(f"sqlite:///{tmp_path / 'flags.db'}"), copy.deepcopy(org)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> None:
    """Log a test client in through the log-in form."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
