"""The review app's commands for `ewarn`: `review`, `users add|list|remove`, `audit export|verify`.

`cli.main` calls `register(app)`. FastAPI and uvicorn are imported inside the commands so that
`ewarn --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import HomeOption, fail
from flows.settings import Settings

if TYPE_CHECKING:
    from flows.store import FlagStore

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _settings(home: Path | None) -> Settings:
    return Settings(home=home) if home is not None else Settings()


def _store(settings: Settings, *, create: bool = True) -> FlagStore:
    """The flag store; `create=False` for commands that only read it (a missing one: a wrong home)."""
    from flows.store import FlagStore
    from flows.store_schema import StoreError

    try:
        return FlagStore(settings.flag_store_url(), create=create)
    except StoreError as exc:
        raise fail(str(exc), code=1) from None


def read_password(stdin_is_tty: bool | None = None) -> str:
    """The new password: typed twice at a terminal, else the first line of standard input."""
    import getpass

    if stdin_is_tty if stdin_is_tty is not None else sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise fail("The two passwords differ; nothing was changed.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


users_app = typer.Typer(
    help="Users of the review page: analysts see the teams they are given, admins see all.",
    no_args_is_help=True,
)
audit_app = typer.Typer(
    help="The audit trail of the review page (log-ins, page views, decisions).", no_args_is_help=True
)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, dots, dashes, underscores).")],
    role: Annotated[str, typer.Option("--role", help="analyst or admin.")] = "analyst",
    teams: Annotated[
        str, typer.Option("--teams", help="Comma-separated team ids an analyst may see (e.g. t01,t02).")
    ] = "",
    home: HomeOption = None,
) -> None:
    """Add a user; the password comes from standard input (asked twice at a terminal)."""
    from review.auth import UserError, add_user, check_new_user

    team_list = [t.strip() for t in teams.split(",") if t.strip()]
    try:
        # Check what the command line says before asking for a password that would be wasted.
        check_new_user(name, role, team_list, "x" * 64)
    except UserError as exc:
        raise fail(str(exc)) from None
    password = read_password()
    store = _store(_settings(home))
    try:
        user = add_user(store, name, role, team_list, password)
    except UserError as exc:
        raise fail(str(exc)) from None
    store.audit("cli", "user_added", f"user:{name}", f"role={role} teams={','.join(user.teams) or 'all'}")
    sees = "every team" if user.is_admin else "teams " + ", ".join(user.teams)
    typer.echo(f"Added {role} {name!r}, who sees {sees}. Start the page with `ewarn review`.")


@users_app.command("list")
def users_list(home: HomeOption = None) -> None:
    """List users: name, role, teams, since when (never a password hash)."""
    from review.auth import list_users

    rows = list_users(_store(_settings(home)))
    if not rows:
        typer.echo("No users yet. Add one with `ewarn users add NAME --role admin`.")
        return
    for row in rows:
        teams = "all teams" if row["role"] == "admin" else ",".join(row["teams"])  # type: ignore[arg-type]
        typer.echo(f"{row['name']}\t{row['role']}\t{teams}\tsince {row['created_at']}")


@users_app.command("remove")
def users_remove(
    name: Annotated[str, typer.Argument(help="User to remove.")],
    home: HomeOption = None,
) -> None:
    """Remove a user and end their sessions; their decisions and audit entries stay."""
    from review.auth import UserError, remove_user

    store = _store(_settings(home))
    try:
        remove_user(store, name)
    except UserError as exc:
        raise fail(str(exc)) from None
    store.audit("cli", "user_removed", f"user:{name}", "")
    typer.echo(f"Removed {name!r}.")


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    home: HomeOption = None,
) -> None:
    """Write the whole audit log, oldest first, as CSV, with each entry's client and chain hashes."""
    import csv
    import os
    import tempfile

    from flows.tables import OutputPathError, check_writable_folder

    if not out.parent.is_dir():
        raise fail(f"{out}: the folder {out.parent} does not exist.")
    if out.is_dir():
        raise fail(f"{out} is a folder; give a file name such as {out / 'audit.csv'}.")
    try:
        check_writable_folder(out.parent, out)
    except OutputPathError as exc:
        raise fail(str(exc)) from None
    entries = _store(_settings(home), create=False).audit_entries()
    columns = ["entry_id", "at", "actor", "action", "target", "detail", "client", "prev_hash", "entry_hash"]
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        try:
            with os.fdopen(handle, "w", newline="", encoding="utf-8") as file:
                writer = csv.writer(file)
                writer.writerow(columns)
                for row in entries.iter_rows(named=True) if entries.height else []:
                    writer.writerow([_csv_safe(row.get(c)) for c in columns])
            os.replace(temporary, out)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:  # a full disk, say: the earlier export (if any) is as it was
        raise fail(
            f"Could not write {out} ({exc.strerror or exc}); it is as it was. Free some space or "
            "choose another folder, then export again.",
            code=1,
        ) from None
    typer.echo(f"{entries.height:,} audit entries -> {out}")


@audit_app.command("verify")
def audit_verify(home: HomeOption = None) -> None:
    """Check the audit trail's hash chain: exit 0 when intact, 1 naming the first broken entry."""
    from sqlalchemy.engine import make_url

    from flows.audit import verify

    settings = _settings(home)
    check = verify(_store(settings, create=False).engine)
    where = make_url(settings.flag_store_url()).render_as_string(hide_password=True)
    entries = f"{check.entries:,} {'entry' if check.entries == 1 else 'entries'}"
    if check.problem:
        trust = "Do not trust the entries from there on"
        if check.entries:
            verb = "is" if check.entries == 1 else "are"
            trust = f"The {entries} before it {verb} intact; do not trust the entries from there on"
        raise fail(
            f"The audit trail in {where} is broken: {check.problem}. {trust}. Compare with an "
            "earlier `ewarn audit export` or a backup of the store to see what changed.",
            code=1,
        )
    pruned = f", after entries 1-{check.pruned_through} pruned by retention" if check.pruned_through else ""
    typer.echo(
        f"The audit trail is intact: {entries}{pruned}; entry {check.last_entry} has hash {check.head}.\n"
        "Keep that line somewhere else (a ticket, an e-mail): should anyone rebuild the trail, that "
        "entry's hash in `ewarn audit export` will differ."
    )


def _csv_safe(value: object) -> str:
    """A cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def review(
    home: HomeOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark cookies Secure (when served over HTTPS).")
    ] = False,
) -> None:
    """Start the review page for HR analysts (log in with a user from `ewarn users add`)."""
    import uvicorn

    from features.catalog import CatalogError, load_catalog
    from review.app import create_app
    from review.auth import list_users

    settings = _settings(home)
    store = _store(settings, create=False)
    try:
        catalog = load_catalog(settings.catalog)
    except CatalogError as exc:
        raise fail(f"Cannot use the signal catalog: {exc}") from None
    if not list_users(store):
        typer.echo(
            "No users yet: add one first, e.g. `ewarn users add alice --role admin` "
            "(the password is read from standard input).",
            err=True,
        )
    if host not in LOOPBACK and not secure_cookies:
        typer.echo(
            f"Listening on {host}: serve it behind HTTPS and pass --secure-cookies, so that session "
            "cookies never travel in clear text.",
            err=True,
        )
    app = create_app(
        store,
        anonymity_threshold=settings.anonymity_threshold,
        catalog=catalog,
        secure_cookies=secure_cookies,
    )
    typer.echo(f"ewarn review on http://{host}:{port}/ ; Ctrl+C stops it.")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add `review`, `users` and `audit` to the `ewarn` command line."""
    app.command("review")(review)
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
