"""The optional manifest of a landing folder: what the tables alone cannot say.

`manifest.toml` holds one setting today, `observed_until = YYYY-MM-DD`: the last day on which
every person's outcomes were observed (the export date of an HR snapshot, say). Labels are then
censored against it instead of against the last signal week or the last event, which a snapshot
of signals, or an events table that happens to end early, gets wrong. Pure: text in, values and
problems out (`flows.landing` reads the file).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from features.contract_report import Problem

MANIFEST_FILE = "manifest.toml"
_KEYS = ("observed_until",)
_DATE_HINT = "write it as observed_until = YYYY-MM-DD (a TOML date, e.g. observed_until = 2024-06-30)"


@dataclass(frozen=True)
class Manifest:
    """The settings a manifest declares; None where it says nothing."""

    observed_until: date | None = None


def parse_manifest(text: str, file: str = MANIFEST_FILE) -> tuple[Manifest, tuple[Problem, ...]]:
    """Read a manifest's text: its settings, and every problem with it (unknown keys, bad dates)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Manifest(), (Problem(file, None, f"is not valid TOML ({exc}); {_DATE_HINT}."),)
    problems = [
        Problem(file, key, f"is not a manifest setting; the manifest may hold only {', '.join(_KEYS)}.")
        for key in raw
        if key not in _KEYS
    ]
    observed_until = None
    if "observed_until" in raw:
        observed_until, problem = _date_value(raw["observed_until"], file)
        if problem is not None:
            problems.append(problem)
    return Manifest(observed_until=observed_until), tuple(problems)


def _date_value(value: object, file: str) -> tuple[date | None, Problem | None]:
    if isinstance(value, datetime):
        return None, Problem(file, "observed_until", f"is a date and time ({value}); {_DATE_HINT}.")
    if isinstance(value, date):
        return value, None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value), None
        except ValueError:
            pass
    return None, Problem(file, "observed_until", f"{value!r} is not a date; {_DATE_HINT}.")


def last_observed_week(observed_until: date) -> date:
    """The Monday of the last week observed whole: the week of `observed_until` if it is a Sunday.

    A label needs its whole horizon observed, and an outcome later in a week half seen would be
    missed, so a week counts only once its Sunday is on or before `observed_until`.
    """
    next_day = observed_until + timedelta(days=1)
    return next_day - timedelta(days=next_day.weekday()) - timedelta(weeks=1)
