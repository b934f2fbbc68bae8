"""`ewarn users`, `ewarn audit export` and `ewarn review` from the command line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from review_helpers import PASSWORD, fast_hashing
from typer.testing import CliRunner

from cli.review_commands import register
from flows.store import FlagStore
from review import auth

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    fast_hashing(monkeypatch)
    cli = typer.Typer()
    register(cli)
    return cli


def test_ewarn_has_the_review_commands() -> None:
    from cli.main import app as ewarn

    for command in (
        ["review"],
        ["users", "add"],
        ["users", "list"],
        ["users", "remove"],
        ["audit", "export"],
        ["audit", "verify"],
    ):
        result = runner.invoke(ewarn, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_users_add_list_remove(app: typer.Typer, tmp_path: Path) -> None:
    home = ["--home", str(tmp_path)]
    added = runner.invoke(
        app, ["users", "add", "ana", "--role", "analyst", "--teams", "t01,t02", *home], input=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    assert "teams t01, t02" in added.output
    admin = runner.invoke(app, ["users", "add", "root", "--role", "admin", *home], input=PASSWORD + "\n")
    assert admin.exit_code == 0, admin.output
    listed = runner.invoke(app, ["users", "list", *home])
    assert listed.exit_code == 0
    assert "ana\tanalyst\tt01,t02" in listed.output and "root\tadmin\tall teams" in listed.output
    assert "scrypt" not in listed.output
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    assert auth.log_in(store, "ana", PASSWORD).token
    removed = runner.invoke(app, ["users", "remove", "ana", *home])
    assert removed.exit_code == 0
    assert "ana" not in runner.invoke(app, ["users", "list", *home]).output


@pytest.mark.parametrize(
    ("arguments", "password", "message"),
    [
        (["users", "add", "ana", "--role", "boss", "--teams", "t01"], PASSWORD, "--role"),
        (["users", "add", "ana", "--role", "analyst"], PASSWORD, "--teams"),
        (["users", "add", "a b", "--teams", "t01"], PASSWORD, "valid user name"),
        (["users", "add", "ana", "--teams", "t01"], "short", "at least 12"),
        (["users", "remove", "nobody"], "", "no user"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    app: typer.Typer, tmp_path: Path, arguments: list[str], password: str, message: str
) -> None:
    result = runner.invoke(app, [*arguments, "--home", str(tmp_path)], input=password + "\n")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_adding_a_user_twice_is_refused(app: typer.Typer, tmp_path: Path) -> None:
    arguments = ["users", "add", "ana", "--teams", "t01", "--home", str(tmp_path)]
    assert runner.invoke(app, arguments, input=PASSWORD + "\n").exit_code == 0
    again = runner.invoke(app, arguments, input=PASSWORD + "\n")
    assert again.exit_code == 2 and "exists already" in again.output


def test_audit_export_writes_every_entry_as_csv(app: typer.Typer, tmp_path: Path) -> None:
    home = ["--home", str(tmp_path)]
    runner.invoke(app, ["users", "add", "ana", "--teams", "t01", *home], input=PASSWORD + "\n")
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    auth.log_in(store, "ana", "wrong password!")
    auth.log_in(store, "ana", PASSWORD)
    store.audit("ana", "view_flag", "flag:f1", "=HYPERLINK(1)")
    out = tmp_path / "audit.csv"
    result = runner.invoke(app, ["audit", "export", "--out", str(out), *home])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["action"] for r in rows] == ["user_added", "login_failure", "login_success", "view_flag"]
    assert set(rows[0]) == {"entry_id", "at", "actor", "action", "target", "detail"} | {
        "client",
        "prev_hash",
        "entry_hash",
    }
    assert all(len(r["entry_hash"]) == 64 for r in rows) and rows[1]["prev_hash"] == rows[0]["entry_hash"]
    assert rows[-1]["detail"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, never runs it
    bad = runner.invoke(app, ["audit", "export", "--out", str(tmp_path / "missing" / "a.csv"), *home])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_review_starts_uvicorn_on_the_given_address(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: started.update(app=application, **kw))
    FlagStore(f"sqlite:///{tmp_path / 'flags.db'}").dispose()  # a store without users yet
    result = runner.invoke(app, ["review", "--home", str(tmp_path), "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert started["host"] == "127.0.0.1" and started["port"] == 8123
    assert "No users yet" in result.output
    exposed = runner.invoke(app, ["review", "--home", str(tmp_path), "--host", "0.0.0.0"])
    assert "--secure-cookies" in exposed.output
