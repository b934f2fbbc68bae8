"""The naive reference: each week's raw signal values, no history, no own normal.

Back-tests train the same learner on these, so the worth of the real features shows in every run.
"""

from __future__ import annotations

import polars as pl

from features.grid import PERSON, WEEK


def raw_value_column(signal: str) -> str:
    """Name of a raw weekly value column, e.g. questions_asked__value."""
    return f"{signal}__value"


def raw_week_values(signals: pl.LazyFrame, signal_names: list[str]) -> pl.LazyFrame:
    """One row per person-week with that week's raw value of every signal (null if not observed)."""
    return signals.pivot(
        on="signal",
        on_columns=signal_names,
        index=[PERSON, WEEK],
        values="value",
    ).rename({name: raw_value_column(name) for name in signal_names}, strict=False)
