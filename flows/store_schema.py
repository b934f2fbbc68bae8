"""The flag store's schema: its tables, their version, and the migrations that upgrade a store in place.

JSON text columns (written by the nightly flow, read by `ewarn flags` and the review app):
- `runs.details`: {"settings": {capacity, min_risk, cooldown_weeks, risk_rise, horizon_weeks,
  anonymity_threshold}, "data": the data fingerprint, "model": {"name", "version", "run_id",
  "metrics": {metric: {"ours": float, "naive": float}}, "fairness": the fairness audit dict,
  "card": the model card (markdown)}, "leading_families": {family: number of flags}}.
- `flags.families`: [{"family", "label", "contribution"}] for every family, largest first
  (summed SHAP values, log-odds; positive raises risk).
- `flags.series`: [{"signal", "label", "unit", "direction", "weeks": [ISO dates], "values":
  [float | null], "normal": float | null}] for the signals behind the reasons, last 26 weeks.
- `flags.prompts`: [str], the leading family's conversation prompts.
- `flags.outcome_risks` (version 5; null when the champion has no risk per outcome): {"weeks":
  [4, 8, 12, 26], "risks": {outcome event: [cumulative risk within each of those weeks]},
  "horizon": the champion's horizon in weeks, "leading": the outcome with the largest risk within
  it} (models.competing.risk_curves; outcome names as configured in EWARN_OUTCOME_EVENTS).
- `team_runs.leading_families`: [family], most frequent leading families of the team's flags.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

SCHEMA_VERSION = 5
OPEN = "open"
DECISIONS = ("conversation_planned", "not_a_concern", "false_alarm", "other")

metadata = sa.MetaData()

meta = sa.Table(
    "ewarn_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("as_of", sa.Date, nullable=False, unique=True),
    sa.Column("finished_at", sa.String(32), nullable=False),
    sa.Column("model_name", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("data_sha256", sa.String(64), nullable=False),
    sa.Column("data_last_week", sa.Date, nullable=False),
    sa.Column("people_scored", sa.Integer, nullable=False),
    sa.Column("flag_count", sa.Integer, nullable=False),
    # JSON text: settings of the run, fingerprint, and the champion's metrics, fairness and card.
    sa.Column("details", sa.Text, nullable=False),
)

flags = sa.Table(
    "flags",
    metadata,
    sa.Column("flag_id", sa.String(32), primary_key=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("as_of", sa.Date, nullable=False, index=True),
    sa.Column("person_id", sa.String(128), nullable=False, index=True),
    sa.Column("team_id", sa.String(128)),
    sa.Column("risk", sa.Float, nullable=False),
    sa.Column("band", sa.String(16), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("leading_family", sa.String(64)),
    # JSON text: contributions by family, the key signals' recent weeks, the conversation prompts.
    sa.Column("families", sa.Text, nullable=False),
    sa.Column("series", sa.Text, nullable=False),
    sa.Column("prompts", sa.Text, nullable=False),
    # Version 5: JSON text, each outcome's risk curve; null when the champion has none.
    sa.Column("outcome_risks", sa.Text, nullable=True),
)

reasons = sa.Table(
    "reasons",
    metadata,
    sa.Column("flag_id", sa.String(32), sa.ForeignKey("flags.flag_id"), primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("family", sa.String(64), nullable=False),
    sa.Column("family_label", sa.String(128), nullable=False),
    sa.Column("signal", sa.String(128), nullable=False),
    sa.Column("signal_label", sa.String(128), nullable=False),
    sa.Column("contribution", sa.Float, nullable=False),
    sa.Column("sentence", sa.Text, nullable=False),
)

team_runs = sa.Table(
    "team_runs",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("team_id", sa.String(128), primary_key=True),
    sa.Column("people", sa.Integer, nullable=False),
    sa.Column("flagged", sa.Integer, nullable=False),
    sa.Column("leading_families", sa.Text, nullable=False),
)

# Version 2: what the review app needs. Reviews point at flag ids, not rows, so that a re-run
# which flags the same person again keeps the decision, and history outlives any run.
reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("review_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flag_id", sa.String(32), nullable=False, index=True),
    sa.Column("person_id", sa.String(128), nullable=False, index=True),
    sa.Column("decision", sa.String(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("reviewer", sa.String(128), nullable=False),
    sa.Column("decided_at", sa.String(32), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    # Version 4: where the request came from, and the hash chain (written by `flows.audit` only).
    sa.Column("client", sa.String(64)),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("entry_hash", sa.String(64)),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("teams", sa.Text, nullable=False),
    sa.Column("password_hash", sa.String(512), nullable=False),
    # Unused since version 4 (the review app throttles log-ins instead of locking accounts).
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.String(32)),
    sa.Column("created_at", sa.String(32), nullable=False),
)

# Version 3: log-in sessions of the review app. Only a hash of the session token is kept, so a
# copy of the database cannot be used to take over a session.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(128), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.String(32), nullable=False),
)

_TABLES_OF_VERSION: dict[int, tuple[sa.Table, ...]] = {
    1: (meta, runs, flags, reasons, team_runs),
    2: (reviews, audit_log, users),
    3: (sessions,),
}


def latest_decisions() -> sa.Subquery:
    """Each reviewed flag's newest decision (flag_id, decision): a correction replaces a decision."""
    newest = sa.select(sa.func.max(reviews.c.review_id)).group_by(reviews.c.flag_id)
    return (
        sa.select(reviews.c.flag_id, reviews.c.decision)
        .where(reviews.c.review_id.in_(newest))
        .subquery("latest")
    )


class StoreError(RuntimeError):
    """The flag store cannot be opened or used; the message says what to do."""


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _create_version(version: int) -> Callable[[Connection], None]:
    def create(connection: Connection) -> None:
        for table in _TABLES_OF_VERSION[version]:
            table.create(connection, checkfirst=True)

    return create


def _chain_audit_log(connection: Connection) -> None:
    from flows import audit  # imported here: flows.audit builds on this module's tables

    audit.upgrade_log(connection)


def _add_outcome_risks(connection: Connection) -> None:
    # A store made at version 5 or later already has the column (flags is created with it); an
    # older store gains it empty, so every flag and decision it holds stays as it was.
    if "outcome_risks" not in {c["name"] for c in sa.inspect(connection).get_columns(flags.name)}:
        connection.execute(sa.text("ALTER TABLE flags ADD COLUMN outcome_risks TEXT"))


# Each step takes the schema from version n - 1 to n; a new version appends a step, never edits one.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {v: _create_version(v) for v in _TABLES_OF_VERSION}
MIGRATIONS[4] = _chain_audit_log
MIGRATIONS[5] = _add_outcome_risks


def schema_version_of(connection: Connection) -> int:
    """The schema version of the store behind `connection` (0 for an empty database)."""
    if not sa.inspect(connection).has_table(meta.name):
        return 0
    value = connection.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0


def upgrade(engine: Engine, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema to `target` in place, one migration at a time; return the version found."""
    with engine.begin() as connection:
        found = schema_version_of(connection)
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"The flag store has schema version {found}, newer than this ewarn understands "
                f"({SCHEMA_VERSION}). Upgrade ewarn, or point EWARN_STORE_URL at another store."
            )
        for version in range(found + 1, target + 1):
            MIGRATIONS[version](connection)
            connection.execute(sa.delete(meta).where(meta.c.key == "schema_version"))
            connection.execute(sa.insert(meta).values(key="schema_version", value=str(version)))
    return found


# A run's team rows. A flag's and a reason's columns are the fields of models.flag_records' records.
TEAM_COLUMNS = ("team_id", "people", "flagged", "leading_families")
