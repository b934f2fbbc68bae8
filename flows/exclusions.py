"""The opt-out list: pseudonyms no run scores, flags, explains or trains on.

A plain text file the organisation keeps (`EWARN_EXCLUSIONS`, default HOME/exclusions.txt): one
pseudonym a line, `#` starts a comment. People who objected, people on a leave that must not be
read, and everyone erased with `ewarn forget` (which adds the line itself). The people are taken
out of the landing folder's tables as they are read, before anything is computed, so they count
in no feature, team comparison, team size, score or training row.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl

from features.masking import looks_like_email, looks_like_name
from flows.landing import Landing
from flows.settings import Settings
from flows.tables import write_text_atomically

HEADER = (
    "# ewarn opt-out list: one pseudonym a line; '#' starts a comment.\n"
    "# No run scores, flags or trains on the people listed here (see docs/governance.md).\n"
)


class ExclusionListError(ValueError):
    """The opt-out list holds something other than pseudonyms; the message never repeats it."""


def parse_exclusions(text: str, source: str = "the opt-out list") -> frozenset[str]:
    """The pseudonyms of an opt-out list's text; refuses lines that look like a name or an e-mail."""
    values = [(n, line.split("#", 1)[0].strip()) for n, line in enumerate(text.splitlines(), start=1)]
    values = [(n, v) for n, v in values if v]
    if not values:
        return frozenset()
    frame = pl.DataFrame({"line": [n for n, _ in values], "value": [v for _, v in values]})
    value = pl.col("value")
    bad = frame.filter(looks_like_email(value) | looks_like_name(value) | value.str.contains(r"\s"))
    bad = bad["line"].to_list()
    if bad:
        lines = ", ".join(str(n) for n in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise ExclusionListError(
            f"{source}: {len(bad)} line{'s' if len(bad) != 1 else ''} ({lines}) hold an e-mail address, a "
            "name or several words, not a pseudonym. The list takes pseudonyms only, one a line, as "
            "`ewarn pseudonymise` writes them: compute them with the organisation's key, never write "
            "names here."
        )
    return frozenset(frame["value"].to_list())


def read_exclusions(path: Path) -> frozenset[str]:
    """The pseudonyms on the opt-out list at `path` (none when the file does not exist)."""
    if not path.exists():
        return frozenset()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExclusionListError(f"Cannot read the opt-out list {path} ({type(exc).__name__}).") from None
    return parse_exclusions(text, str(path))


def excluded_people(settings: Settings) -> frozenset[str]:
    """The pseudonyms on the opt-out list the settings point at."""
    return read_exclusions(settings.exclusions_file())


def add_exclusion(path: Path, pseudonym: str, why: str) -> bool:
    """Add a pseudonym to the opt-out list (written atomically); False when it was listed already."""
    if pseudonym in read_exclusions(path):
        return False
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if text and not text.endswith("\n"):
        text += "\n"
    write_text_atomically(path, f"{text}{pseudonym}  # {why}\n")
    return True


def without_people(landing: Landing, people: frozenset[str]) -> Landing:
    """The landing folder's tables without the rows of `people` (lazily: nothing is read here)."""
    if not people:
        return landing
    keep = ~pl.col("person_id").is_in(sorted(people))
    return dataclasses.replace(
        landing,
        signals=landing.signals.filter(keep),
        events=landing.events.filter(keep) if landing.events is not None else None,
        people=landing.people.filter(keep) if landing.people is not None else None,
    )


def honour_exclusions(landing: Landing, settings: Settings) -> Landing:
    """The landing folder as every run must see it: without the people on the opt-out list."""
    return without_people(landing, excluded_people(settings))
