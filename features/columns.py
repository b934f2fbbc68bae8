"""Feature column names: the one place that writes and reads them.

A per-signal feature is `{signal}__{feature}` (questions_asked__deviation); a family summary is
`family:{family}__risk_deviation`; anything else (tenure, weeks since an event) is context. A
signal name may itself hold `__`, a feature name never does, so a name is read from its right.
"""

from __future__ import annotations

FAMILY_PREFIX = "family:"
_SEPARATOR = "__"
_FAMILY_SUMMARY = "risk_deviation"


def signal_column(signal: str, feature: str) -> str:
    """Name of a per-signal feature column, e.g. questions_asked__deviation."""
    return f"{signal}{_SEPARATOR}{feature}"


def family_column(family: str) -> str:
    """Name of a family summary column, e.g. family:initiative__risk_deviation."""
    return f"{FAMILY_PREFIX}{family}{_SEPARATOR}{_FAMILY_SUMMARY}"


def is_family_column(column: str) -> bool:
    """Whether a column is a family summary."""
    return column.startswith(FAMILY_PREFIX)


def split_signal_column(column: str) -> tuple[str, str] | None:
    """(signal, feature) of a per-signal column; None for a family summary or a context column."""
    if is_family_column(column):
        return None
    signal, separator, feature = column.rpartition(_SEPARATOR)
    if not separator or not signal or not feature:
        return None
    return signal, feature


def signal_of(column: str) -> str | None:
    """The signal a per-signal column describes (questions_asked__deviation -> questions_asked), else None."""
    parts = split_signal_column(column)
    return parts[0] if parts else None


def feature_of(column: str) -> str | None:
    """The feature a per-signal column holds (questions_asked__deviation -> deviation), else None."""
    parts = split_signal_column(column)
    return parts[1] if parts else None


def family_of_summary(column: str) -> str | None:
    """The family a summary column stands for (family:initiative__risk_deviation -> initiative), else None."""
    if not is_family_column(column):
        return None
    return column.removeprefix(FAMILY_PREFIX).rpartition(_SEPARATOR)[0] or None
