"""The audit trail is a hash chain: `ewarn audit verify` finds entries removed, renumbered or changed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from review_helpers import PASSWORD, fast_hashing
from typer.testing import CliRunner

from cli.review_commands import register
from flows import store_schema as store_module
from flows.store import FlagStore
from flows.store_schema import audit_log
from review import auth

pytestmark = pytest.mark.code

runner = CliRunner()


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    fast_hashing(monkeypatch)
    cli = typer.Typer()
    register(cli)
    return cli


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fast_hashing(monkeypatch)
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    auth.add_user(store, "ana", "analyst", ["t01"], PASSWORD)
    for i in range(30):
        store.audit("ana", "view_flag", f"flag:f{i:03d}", f"pseudonym:p{i:024d}", client="127.0.0.1")
    store.dispose()
    return tmp_path


def verify(app: typer.Typer, home: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", "--home", str(home)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def sql(home: Path, *statements: str) -> None:
    engine = sa.create_engine(f"sqlite:///{home / 'flags.db'}")
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    engine.dispose()


def test_an_intact_trail_verifies(app: typer.Typer, home: Path) -> None:
    code, output = verify(app, home)
    assert code == 0, output
    assert "intact" in output and "30 entries" in output


def test_deleting_entries_and_renumbering_the_rest_is_found(app: typer.Typer, home: Path) -> None:
    # What the issue did: delete entries, then close the gap in the numbering.
    sql(
        home,
        "DELETE FROM audit_log WHERE entry_id BETWEEN 5 AND 9",
        "UPDATE audit_log SET entry_id = entry_id - 5 WHERE entry_id > 9",
    )
    code, output = verify(app, home)
    assert code == 1
    assert "entry 5" in output and "removed" in output


def test_an_edited_entry_is_found(app: typer.Typer, home: Path) -> None:
    sql(home, "UPDATE audit_log SET detail = 'nothing to see' WHERE entry_id = 12")
    code, output = verify(app, home)
    assert code == 1 and "entry 12" in output and "changed" in output


def test_entries_cut_off_the_end_are_found(app: typer.Typer, home: Path) -> None:
    sql(home, "DELETE FROM audit_log WHERE entry_id > 25")
    code, output = verify(app, home)
    assert code == 1 and "after entry 25" in output


def test_an_older_store_is_upgraded_and_its_entries_chained(tmp_path: Path, app: typer.Typer) -> None:
    url = f"sqlite:///{tmp_path / 'flags.db'}"
    engine = sa.create_engine(url)
    store_module.upgrade(engine, target=3)
    with engine.begin() as connection:
        for action in ("login_success", "view_flag", "decision"):
            connection.execute(
                sa.text(
                    "INSERT INTO audit_log (at, actor, action, target, detail) "
                    "VALUES ('2025-03-03T10:00:00+00:00', 'ana', :action, 'flag:f1', '')"
                ),
                {"action": action},
            )
    engine.dispose()
    store = FlagStore(url)
    assert store.schema_version() == store_module.SCHEMA_VERSION >= 4
    store.audit("ana", "view_queue", "queue", "")
    entries = store.audit_entries()
    assert entries["action"].to_list() == ["login_success", "view_flag", "decision", "view_queue"]
    assert entries["entry_hash"].null_count() == 0 and entries["entry_hash"].n_unique() == 4
    code, output = verify(app, tmp_path)
    assert code == 0, output


def test_concurrent_writers_keep_one_chain(tmp_path: Path, app: typer.Typer) -> None:
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")

    def write(worker: int) -> None:
        for i in range(40):
            store.audit(f"w{worker}", "view_queue", "queue", str(i))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar() == 120
    code, output = verify(app, tmp_path)
    assert code == 0, output
