"""Real identifiers in data: recognising e-mail addresses and personal names, and masking them.

Whatever a report, a log line or an error message quotes from the data passes through here first,
so that it can be pasted anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

# Anything with a non-space character on both sides of an '@': addresses without a dot
# (Kerberos principals, "jdoe@corp") identify people just as well.
EMAIL_PATTERN = r"\S@\S"
# Two or more capitalised words, optionally "Last, First" or with short lowercase particles
# ("van der"). Deliberately narrow: a heuristic that refuses pseudonyms would be worse than
# one that misses "jane doe" (which the e-mail rule and the pseudonymise step still cover).
_NAME_WORD = r"\p{Lu}(?:[\p{L}'’-]*\p{Ll}|\.)"
PERSONAL_NAME_PATTERN = rf"^{_NAME_WORD}(?:,?\s+(?:\p{{Ll}}{{1,3}}\s+)*{_NAME_WORD})+$"


def looks_like_email(expr: pl.Expr) -> pl.Expr:
    """Expression: the string looks like an e-mail address (a real identifier)."""
    return expr.str.contains(EMAIL_PATTERN)


def looks_like_name(expr: pl.Expr) -> pl.Expr:
    """Expression: the string looks like a personal name such as "Jane Doe" (a real identifier)."""
    return expr.str.contains(PERSONAL_NAME_PATTERN)


def mask_identifiers(values: Sequence[str | None]) -> list[str | None]:
    """Mask values that look like e-mail addresses (`j***@***`) or names (`J*** D***`)."""
    if not values:
        return []
    frame = pl.DataFrame({"v": list(values)}, schema={"v": pl.String}).select(
        pl.col("v"),
        email=looks_like_email(pl.col("v")).fill_null(False),
        name=looks_like_name(pl.col("v")).fill_null(False),
    )
    masked: list[str | None] = []
    for value, email, name in frame.iter_rows():
        if value is not None and email:
            masked.append(f"{value[0]}***@***" if value[0] != "@" else "***@***")
        elif value is not None and name:
            masked.append(" ".join(f"{word[0]}***" for word in re.split(r"[\s,]+", value) if word))
        else:
            masked.append(value)
    return masked


def mask_text(text: str) -> str:
    """Mask e-mail-like tokens inside free text such as a reader's error message."""
    return re.sub(r"\S*\S@\S\S*", "***@***", text)
