"""Machine names for signals and events: the one rule that turns a source's column name into one.

Used by the importers (`Collaboration_hours` becomes `collaboration_hours`) and by validation,
which suggests the name a refused one would get, so both always agree.
"""

from __future__ import annotations

import re
import unicodedata

# Letters with accents keep their base letter ("Stimmung_ä" -> "stimmung_a"), so two columns
# that differ only by an accent still collide loudly instead of being told apart silently.
_OUTSIDE_SIGNAL = re.compile(r"[^a-z0-9.]+")
_OUTSIDE_EVENT = re.compile(r"[^a-z0-9]+")
_DOTS = re.compile(r"\.{2,}")


def _ascii_lower(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def normalise_signal_name(name: str) -> str:
    """The contract's signal name for a source's name: lowercase, runs of other characters as one '_'.

    Dots are kept (they group signals, as in `pulse.recognition`); leading and trailing '_' and
    '.' are dropped. `After hours collaboration (hours)` -> `after_hours_collaboration_hours`.
    Empty when the name holds no letter or digit at all.
    """
    text = _OUTSIDE_SIGNAL.sub("_", _ascii_lower(name))
    text = _DOTS.sub(".", text.replace("_.", ".").replace("._", "."))
    return text.strip("_.")


def normalise_event_name(name: str) -> str:
    """The contract's event name for a source's name: as for signals, but dots become '_' too.

    `Voluntary Resignation` -> `voluntary_resignation`, `Resigned` -> `resigned`.
    """
    return _OUTSIDE_EVENT.sub("_", _ascii_lower(name)).strip("_")
