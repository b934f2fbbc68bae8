"""One typed settings object for the whole pipeline; reading it has no side effects."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.fairness import DEFAULT_THRESHOLD
from models.metrics import DEFAULT_CAPACITY


class Settings(BaseSettings):
    """Where state lives and the few numbers an organisation may change (env prefix `EWARN_`)."""

    model_config = SettingsConfigDict(env_prefix="EWARN_", extra="ignore")

    home: Path = Field(default=Path(".ewarn"), description="Folder that holds all state.")
    catalog: Path | None = Field(default=None, description="Signal catalog TOML; built-in when unset.")
    landing: Path | None = Field(
        default=None, description="Landing folder the nightly job reads; default HOME/landing."
    )
    store_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the flag store; default SQLite in HOME/flags.db."
    )
    horizon_weeks: int = Field(default=12, ge=1, le=104, description="Weeks ahead a flag warns about.")
    anonymity_threshold: int = Field(
        default=DEFAULT_THRESHOLD, ge=2, description="Smallest team shown in aggregates."
    )
    outcome_events: tuple[str, ...] = ("resigned", "long_term_sick_leave")
    capacity: float = Field(
        default=DEFAULT_CAPACITY, gt=0, le=0.5, description="Share of people reviewers can look at each week."
    )
    min_risk: float = Field(default=0.10, ge=0, le=1, description="No flag below this calibrated risk.")
    cooldown_weeks: int = Field(
        default=6, ge=0, description="A person flagged this recently is not flagged again ..."
    )
    risk_rise: float = Field(default=0.10, ge=0, le=1, description="... unless their risk rose this much.")
    partitions: int = Field(
        default=0, ge=0, description="Partitions of people for features and scoring; 0 picks by data size."
    )
    nightly_cron: str = Field(default="0 2 * * *", description="When `ewarn serve` runs the nightly job.")
    retrain_cron: str = Field(default="0 3 * * 0", description="When `ewarn serve` retrains.")
    timezone: str = Field(default="UTC", description="Timezone of both schedules (IANA name).")
    retention_weeks: int = Field(
        default=52,
        ge=13,
        description="Weeks flags, reasons, signal series, decisions and notes are kept, counted back from "
        "the newest scored week; the nightly run purges older ones.",
    )
    audit_retention_weeks: int = Field(
        default=52,
        ge=26,
        description="Weeks the audit trail is kept before it is pruned (the EU AI Act asks for six months).",
    )
    exclusions: Path | None = Field(
        default=None,
        description="Opt-out list: pseudonyms no run scores, flags or trains on (HOME/exclusions.txt).",
    )
    # Not recorded with a deployment or a flow run (a server URI may carry credentials): each
    # process reads it from its own environment.
    tracking_uri: str | None = Field(
        default=None,
        exclude=True,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "EWARN_TRACKING_URI"),
        description="MLflow tracking server (MLFLOW_TRACKING_URI); default: an SQLite store in the home.",
    )
    pseudonym_key_variable: str = Field(
        default="EWARN_PSEUDONYM_KEY",
        description="Environment variable holding the organisation's secret pseudonymisation key.",
    )

    def resolved_home(self) -> Path:
        """The home folder as an absolute path (not created here)."""
        return self.home.expanduser().resolve()

    def landing_folder(self) -> Path:
        """The landing folder the nightly job reads."""
        return (self.landing or self.resolved_home() / "landing").expanduser().resolve()

    def exclusions_file(self) -> Path:
        """The opt-out list: one pseudonym a line (see flows.exclusions)."""
        return (self.exclusions or self.resolved_home() / "exclusions.txt").expanduser().resolve()

    def resolved(self) -> Settings:
        """The same settings with the home and landing folders as absolute paths (for a deployment)."""
        return self.model_copy(update={"home": self.resolved_home(), "landing": self.landing_folder()})

    def mlflow_uri(self) -> str:
        """The MLflow tracking and registry URI: the configured server, else the home's own store."""
        from models.tracking import tracking_uri

        return tracking_uri(self.resolved_home(), self.tracking_uri)

    def flag_store_url(self) -> str:
        """SQLAlchemy URL of the flag store."""
        if self.store_url:
            return self.store_url
        return f"sqlite:///{(self.resolved_home() / 'flags.db')}"
