"""Team aggregates only where no small team can be seen or worked out: the anonymity threshold."""

from __future__ import annotations

import polars as pl


def shown_groups(groups: pl.DataFrame, size: str, threshold: int) -> pl.Series:
    """Which groups an aggregate may show (a Boolean per row of `groups`).

    Groups smaller than `threshold` are suppressed. When a total is shown beside them, a single
    suppressed group could be worked out by subtraction, so the smallest shown group is then
    suppressed too (complementary suppression).
    """
    small = groups[size] < threshold
    shown = ~small
    if int(small.sum()) == 1 and int(shown.sum()) > 0:
        smallest_shown = groups.with_row_index("_row").filter(shown).sort(size, "_row")["_row"][0]
        shown = shown.scatter(smallest_shown, False)
    return shown.alias("shown")
