"""Users, passwords and log-in sessions of the review app, stored in the flag store.

Passwords are kept as salted scrypt hashes (stdlib `hashlib.scrypt`) and compared in constant
time; sessions are random tokens of which only a SHA-256 hash is stored. Every log-in attempt is
written to the audit log. Repeated failures are throttled by the app (`review.throttle`), per
client, never by locking an account: a lock-out anyone can trigger locks the owner out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from flows import audit
from flows.store import FlagStore
from flows.store_schema import sessions, users, utc_now

ROLES = ("analyst", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 12
# OWASP's minimum for scrypt (N=2^17, r=8, p=1): about 128 MiB and a few tenths of a second a hash,
# which makes guessing slow. The parameters travel with each hash, so they can be raised later.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
SESSION_HOURS = 8
UNKNOWN_ACTOR = "(unknown user)"


class UserError(ValueError):
    """A user cannot be added or removed; the message says why."""


@dataclass(frozen=True)
class User:
    """Who is logged in and which teams they may see (`teams` is ignored for admins)."""

    name: str
    role: str
    teams: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        """Admins see every team."""
        return self.role == "admin"

    def may_see(self, team_id: str | None) -> bool:
        """Whether this user may see people and flags of a team."""
        return self.is_admin or (team_id is not None and team_id in self.teams)


@dataclass(frozen=True)
class Session:
    """A logged-in user with the session's CSRF token."""

    user: User
    csrf_token: str


def hash_password(password: str, *, n: int | None = None) -> str:
    """A salted scrypt hash of a password, with its parameters: `scrypt$n$r$p$salt$hash` (base64)."""
    n = n or SCRYPT_N
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(n), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Whether a password matches a stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL refuses more than 32 MiB unless told; scrypt needs 128 * n * r bytes plus a little.
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=129 * n * r + 2**20
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# A hash to check against when the user does not exist, so that the answer takes as long either way.
_DUMMY_HASH: dict[int, str] = {}


def _dummy_hash() -> str:
    if SCRYPT_N not in _DUMMY_HASH:
        _DUMMY_HASH[SCRYPT_N] = hash_password(secrets.token_hex(16))
    return _DUMMY_HASH[SCRYPT_N]


def check_new_user(name: str, role: str, teams: Sequence[str], password: str) -> None:
    """Raise UserError naming what is wrong with a new user's name, role, teams or password."""
    if not NAME_PATTERN.match(name):
        raise UserError(
            f"{name!r} is not a valid user name: use 1 to 64 letters, digits, dots, dashes or underscores."
        )
    if role not in ROLES:
        raise UserError(f"--role must be one of {', '.join(ROLES)}, not {role!r}.")
    if role == "analyst" and not teams:
        raise UserError("An analyst needs --teams: the comma-separated team ids they may see.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")


def add_user(store: FlagStore, name: str, role: str, teams: Sequence[str], password: str) -> User:
    """Create a user (admins see all teams, so their team list is stored empty)."""
    teams = [t.strip() for t in teams if t.strip()]
    check_new_user(name, role, teams, password)
    kept = [] if role == "admin" else sorted(set(teams))
    with store.engine.begin() as connection:
        if connection.execute(sa.select(users.c.name).where(users.c.name == name)).first():
            raise UserError(f"User {name!r} exists already; remove it first to change it.")
        connection.execute(
            sa.insert(users).values(
                name=name,
                role=role,
                teams=json.dumps(kept),
                password_hash=hash_password(password),
                failed_logins=0,
                locked_until=None,
                created_at=utc_now(),
            )
        )
    return User(name, role, tuple(kept))


def remove_user(store: FlagStore, name: str) -> None:
    """Delete a user and end their sessions (their decisions and audit entries stay)."""
    with store.engine.begin() as connection:
        deleted = connection.execute(sa.delete(users).where(users.c.name == name)).rowcount
        if not deleted:
            raise UserError(f"There is no user {name!r}.")
        connection.execute(sa.delete(sessions).where(sessions.c.user_name == name))


def list_users(store: FlagStore) -> list[dict[str, object]]:
    """Every user: name, role, teams, created (never the password hash)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(users.c.name, users.c.role, users.c.teams, users.c.created_at).order_by(users.c.name)
        ).mappings()
        return [
            {
                "name": row["name"],
                "role": row["role"],
                "teams": json.loads(row["teams"]),
                "created_at": row["created_at"],
            }
            for row in rows
        ]


def _user(row: sa.RowMapping) -> User:
    return User(row["name"], row["role"], tuple(json.loads(row["teams"])))


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a log-in attempt: a session token on success, else a reason for the log.

    `actor` is how the audit log names who tried: the user, or UNKNOWN_ACTOR for an unknown name.
    """

    token: str | None
    reason: str
    actor: str


def log_in(store: FlagStore, name: str, password: str, client: str | None = None) -> LoginResult:
    """Check a name and password and audit the attempt (with the client's address, when known).

    The same message goes back to the browser whatever failed (see the app), so it cannot tell an
    unknown name from a wrong password: an unknown name is checked against a dummy hash, which
    takes as long. Only the audit log says which; it never holds an unknown name, which may be a
    password typed in the wrong field.
    """
    now = datetime.now(UTC)
    with store.engine.begin() as connection:
        row = connection.execute(sa.select(users).where(users.c.name == name)).mappings().first()
        if row is None:
            verify_password(password, _dummy_hash())
            audit.append(connection, UNKNOWN_ACTOR, "login_failure", "login", "unknown user name", client)
            return LoginResult(None, "unknown user", UNKNOWN_ACTOR)
        if not verify_password(password, row["password_hash"]):
            audit.append(connection, name, "login_failure", "login", "wrong password", client)
            return LoginResult(None, "wrong password", name)
        token = secrets.token_urlsafe(32)
        connection.execute(
            sa.insert(sessions).values(
                token_hash=_token_hash(token),
                user_name=name,
                csrf_token=secrets.token_urlsafe(32),
                created_at=utc_now(),
                expires_at=(now + timedelta(hours=SESSION_HOURS)).replace(microsecond=0).isoformat(),
            )
        )
        audit.append(connection, name, "login_success", "login", "", client)
    return LoginResult(token, "ok", name)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_of(store: FlagStore, token: str | None) -> Session | None:
    """The live session of a cookie token, or None (unknown, expired, or its user removed)."""
    if not token or len(token) > 128:
        return None
    query = (
        sa.select(sessions.c.csrf_token, sessions.c.expires_at, users.c.name, users.c.role, users.c.teams)
        .join(users, users.c.name == sessions.c.user_name)
        .where(sessions.c.token_hash == _token_hash(token))
    )
    with store.engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    if row is None or datetime.fromisoformat(row["expires_at"]) <= datetime.now(UTC):
        return None
    return Session(_user(row), row["csrf_token"])


def log_out(store: FlagStore, token: str | None, client: str | None = None) -> None:
    """End a session and write the log-out to the audit log."""
    if not token:
        return
    with store.engine.begin() as connection:
        name = connection.execute(
            sa.select(sessions.c.user_name).where(sessions.c.token_hash == _token_hash(token))
        ).scalar_one_or_none()
        connection.execute(sa.delete(sessions).where(sessions.c.token_hash == _token_hash(token)))
        if name is not None:
            audit.append(connection, name, "logout", "login", "", client)
        # Expired sessions are of no use to anyone; clearing them here keeps the table small.
        connection.execute(sa.delete(sessions).where(sessions.c.expires_at < utc_now()))
