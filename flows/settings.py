"""One typed settings object for the whole pipeline; reading it has no side effects."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where state lives and the few numbers an organisation may change (env prefix `EWARN_`)."""

    model_config = SettingsConfigDict(env_prefix="EWARN_", extra="ignore")

    home: Path = Field(default=Path(".ewarn"), description="Folder that holds all state.")
    catalog: Path | None = Field(default=None, description="Signal catalog TOML; built-in when unset.")
    horizon_weeks: int = Field(default=12, ge=1, le=104, description="Weeks ahead a flag warns about.")
    anonymity_threshold: int = Field(default=5, ge=2, description="Smallest team shown in aggregates.")
    outcome_events: tuple[str, ...] = ("resigned", "long_term_sick_leave")
    pseudonym_key_variable: str = Field(
        default="EWARN_PSEUDONYM_KEY",
        description="Environment variable holding the organisation's secret pseudonymisation key.",
    )

    def resolved_home(self) -> Path:
        """The home folder as an absolute path (not created here)."""
        return self.home.expanduser().resolve()
