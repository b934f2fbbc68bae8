"""Which rows a model may learn from and which it is judged on: by time, or by person, never by row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
from sklearn.model_selection import StratifiedGroupKFold

# The calibration slice: the latest weeks of the training period, held out to calibrate on. As short
# as still holds CALIBRATION_POSITIVES outcome rows (a sigmoid learns two numbers), so that the model
# itself learns from weeks as close to the cutoff as possible; never under MIN_ nor over MAX_.
# The shorter slice ranked better on the simulator (docs/research.md).
MIN_CALIBRATION_WEEKS = 4
MAX_CALIBRATION_WEEKS = 12
CALIBRATION_POSITIVES = 500


class SplitError(ValueError):
    """A cutoff or a data set that leaves nothing to learn from or to score; the message says why."""


@dataclass(frozen=True)
class TimeSplit:
    """Rows to fit on, a later slice to calibrate on, and every row from the cutoff on to score."""

    fit: pl.DataFrame
    calibrate: pl.DataFrame
    score: pl.DataFrame
    cutoff: date


def learnable(table: pl.DataFrame) -> pl.Expr:
    """Rows with a known label that are not on or after the person's first outcome."""
    return pl.col("eligible") & pl.col("label").is_not_null()


def known_before(table: pl.DataFrame, cutoff: date, horizon: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows to fit on and a later slice to calibrate on, all with their whole horizon before `cutoff`.

    week + horizon < cutoff: such a label depends only on events dated before the cutoff, so
    nothing after it leaks in. The latest of those weeks are the calibration slice (see
    calibration_weeks).
    """
    horizon_end = pl.col("week") + pl.duration(weeks=horizon)
    known = table.filter(learnable(table) & (horizon_end < cutoff))
    calibration_start = cutoff - timedelta(weeks=horizon + calibration_weeks(known, cutoff, horizon))
    fit = known.filter(pl.col("week") < calibration_start)
    calibrate = known.filter(pl.col("week") >= calibration_start)
    for name, part in (("fit", fit), ("calibrate", calibrate)):
        if part.is_empty():
            raise SplitError(f"the cutoff {cutoff} leaves no rows to {name} on; choose one inside the data")
        if part["label"].n_unique() < 2:
            raise SplitError(f"the rows to {name} on before {cutoff} hold one class only; pick a later date")
    return fit, calibrate


def calibration_weeks(known: pl.DataFrame, cutoff: date, horizon: int) -> int:
    """How many of the latest known weeks to calibrate on (see CALIBRATION_POSITIVES).

    The fewest weeks, at least MIN_CALIBRATION_WEEKS, whose rows hold CALIBRATION_POSITIVES
    outcome rows; MAX_CALIBRATION_WEEKS when even those hold fewer.
    """
    last_known = cutoff - timedelta(weeks=horizon)
    weeks_back = ((pl.lit(last_known) - pl.col("week")).dt.total_days() + 6) // 7
    enough = (
        known.filter(pl.col("label") == 1)
        .group_by(weeks_back.alias("weeks_back"))
        .agg(pl.len().alias("rows"))
        .sort("weeks_back")
        .filter(pl.col("rows").cum_sum() >= CALIBRATION_POSITIVES)
    )
    if enough.is_empty() or enough["weeks_back"].min() > MAX_CALIBRATION_WEEKS:
        return MAX_CALIBRATION_WEEKS
    return max(MIN_CALIBRATION_WEEKS, int(enough["weeks_back"].min()))


def time_split(table: pl.DataFrame, cutoff: date, horizon: int) -> TimeSplit:
    """Split a labelled feature table at `cutoff`: learn before it (see known_before), score after.

    Every eligible person-week from the cutoff to the end is scored.
    """
    fit, calibrate = known_before(table, cutoff, horizon)
    score = table.filter(pl.col("eligible") & (pl.col("week") >= cutoff))
    if score.is_empty():
        raise SplitError(f"the cutoff {cutoff} leaves no weeks to score; choose one before the data ends")
    return TimeSplit(fit=fit, calibrate=calibrate, score=score, cutoff=cutoff)


def person_folds(table: pl.DataFrame, folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Person-grouped, outcome-stratified K-fold over the learnable rows: no person in two folds."""
    rows = table.filter(learnable(table))
    ever_positive = rows.group_by("person_id").agg(pl.col("label").max().alias("person_label"))
    labels = rows.join(ever_positive, on="person_id", how="left", maintain_order="left")["person_label"]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(rows.height), labels.to_numpy(), rows["person_id"].to_numpy()))
