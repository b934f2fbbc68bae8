"""Which week the nightly scores when none is asked for: the last week most people have signals in.

A landing folder whose last week holds only a few people (one source delivered early, a clock a
week ahead) would otherwise be scored as if those few were the organisation. The default is the
latest of the recent weeks that at least half as many people have as the busiest of them. A later
week is still scored when asked for by date; the nightly says which week it chose and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from features.grid import PERSON, WEEK

# How far back the busiest week is looked for: far enough to pass over a few early deliveries,
# near enough that an organisation that shrank long ago is measured against its size today.
RECENT_WEEKS = 8
MOST_PEOPLE_SHARE = 0.5


@dataclass(frozen=True)
class LatestWeek:
    """The week to score by default, and the data's last week, with how many people each has."""

    week: date
    people: int
    last_week: date
    last_week_people: int

    @property
    def skips_later_weeks(self) -> bool:
        """Whether the data holds later weeks than the one chosen (each with few people)."""
        return self.week != self.last_week


def people_by_week(signals: pl.LazyFrame, weeks: int = RECENT_WEEKS) -> pl.DataFrame:
    """People with any signal in each of the data's last `weeks` weeks: week, people (oldest first)."""
    last = signals.select(pl.col(WEEK).max()).collect().item()
    if last is None:
        return pl.DataFrame(schema={WEEK: pl.Date, "people": pl.Int64})
    return (
        signals.filter(pl.col(WEEK) > last - timedelta(weeks=weeks))
        .group_by(WEEK)
        .agg(pl.col(PERSON).n_unique().cast(pl.Int64).alias("people"))
        .sort(WEEK)
        .collect()
    )


def latest_week(counts: pl.DataFrame, share: float = MOST_PEOPLE_SHARE) -> LatestWeek:
    """The latest week in `counts` (from people_by_week) that at least `share` of the busiest week's
    people have. Raises ValueError when `counts` is empty (no signals at all)."""
    if counts.is_empty():
        raise ValueError("the signals table holds no rows, so there is no week to score")
    busiest = int(counts["people"].max())
    chosen = counts.filter(pl.col("people") >= share * busiest).sort(WEEK).row(-1, named=True)
    last = counts.sort(WEEK).row(-1, named=True)
    return LatestWeek(chosen[WEEK], int(chosen["people"]), last[WEEK], int(last["people"]))
