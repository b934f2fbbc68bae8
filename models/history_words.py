"""How a reason names the stretch of history it compares with: only what the data actually holds.

The drift features measure the last weeks against the person's long normal: up to two years
before the last 4 weeks (features.windows). On a shorter history that normal starts where the
person's data starts, and a sentence that says "the two-year normal" on 35 weeks of data claims
more than there is. Pure: dates in, words out.
"""

from __future__ import annotations

from datetime import date, timedelta

from features.windows import ABSENCE_WEEKS, BASELINE_GAP_WEEKS, LONG_NORMAL_WEEKS

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# At week t the long normal averages weeks t - GAP - (LONG - 1) to t - GAP: a series that starts
# this many weeks before t or earlier fills it whole.
_FULL_LONG_NORMAL = BASELINE_GAP_WEEKS + LONG_NORMAL_WEEKS - 1
TWO_YEAR_NORMAL = "the two-year normal"


def month_year(day: date) -> str:
    """'March 2024': in words, whatever the machine's locale."""
    return f"{_MONTHS[day.month - 1]} {day.year}"


def long_normal_words(week: date, since: date | None) -> str:
    """The long normal a drift at `week` is measured against, for a series observed from `since`.

    "the two-year normal" when the series covers it whole (or its start is unknown), otherwise
    "the person's normal since March 2024".
    """
    if since is None or since <= week - timedelta(weeks=_FULL_LONG_NORMAL):
        return TWO_YEAR_NORMAL
    return f"the person's normal since {month_year(since)}"


def absence_span_words(week: date, since: date | None) -> str:
    """The span absence is counted over at `week`: 'the last 26 weeks', or fewer on a short history."""
    if since is None:
        return f"the last {ABSENCE_WEEKS} weeks"
    observed = (week - since).days // 7 + 1
    weeks = max(1, min(ABSENCE_WEEKS, observed))
    return "this week" if weeks == 1 else f"the last {weeks} weeks"
