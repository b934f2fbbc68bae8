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


def weeks_needed(horizon: int) -> int:
    """Weeks of history a training needs at its default cutoff, two horizons before the last week.

    Those two horizons are scored (one with known outcomes, one too recent to know); a week before
    them is learned from only once its own horizon has passed before the cutoff; the latest
    MIN_CALIBRATION_WEEKS of those calibrate, and at least one earlier week is fitted on.
    """
    return 3 * horizon + MIN_CALIBRATION_WEEKS + 2


def history_span(table: pl.DataFrame) -> str:
    """The weeks a feature table covers, in words: "30 weeks (2024-01-01 to 2024-07-22)"."""
    if table.is_empty():
        return "no weeks at all"
    first, last = table["week"].min(), table["week"].max()
    weeks = (last - first).days // 7 + 1
    return f"{weeks} {'week' if weeks == 1 else 'weeks'} ({first} to {last})"


def too_short(table: pl.DataFrame, horizon: int) -> str:
    """Why a history is too short to train at the default cutoff, with the weeks it needs."""
    return (
        f"the history holds {history_span(table)}, too few for a {horizon}-week horizon: training "
        f"needs at least {weeks_needed(horizon)} weeks. Its back-test scores the last {2 * horizon} "
        "weeks (one horizon whose outcomes are known, one too recent to know); a week before those can "
        f"be learned from only once its own {horizon} weeks have passed; the latest "
        f"{MIN_CALIBRATION_WEEKS} to {MAX_CALIBRATION_WEEKS} of those weeks calibrate the risk and the "
        "earlier ones fit the model. "
        "Use a longer history, or a shorter horizon (EWARN_HORIZON_WEEKS)."
    )


def unlabelled(table: pl.DataFrame, horizon: int) -> str:
    """Why no row of a feature table has a known label, and how much history a label takes."""
    return (
        f"no person-week of the {history_span(table)} has a known label. A week's label says whether "
        f"an outcome follows within {horizon} weeks, so it is known only when the signals or the events "
        f"reach {horizon} weeks past that week, and here they end sooner for every week. Labels need "
        f"more than {horizon} weeks of history: use a longer history (or events recorded after the "
        "last signal week), or a shorter horizon."
    )


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
            raise SplitError(_nothing_to_learn(table, cutoff, horizon, name, calibration_start))
        if part["label"].n_unique() < 2:
            raise SplitError(
                f"the weeks to {name} on before the cutoff {cutoff} hold one class only (an outcome "
                f"within {horizon} weeks for everyone, or for no one); a later cutoff or a longer "
                "history gives both"
            )
    return fit, calibrate


def _nothing_to_learn(table: pl.DataFrame, cutoff: date, horizon: int, part: str, start: date) -> str:
    labelled = table.filter(learnable(table))
    if labelled.is_empty():
        return unlabelled(table, horizon)
    first = table["week"].min()
    if cutoff <= first:
        return f"the cutoff {cutoff} is before the data starts ({first}); choose one inside the data"
    weeks = (cutoff - start).days // 7 - horizon
    earliest = labelled["week"].min() + timedelta(weeks=horizon + weeks + 1)
    return (
        f"the cutoff {cutoff} leaves no weeks to {part} on. A week is learned from only when its whole "
        f"{horizon}-week horizon ends before the cutoff, and the latest {weeks} such weeks calibrate the "
        f"risk (fitting uses the weeks before {start}); the data holds {history_span(table)}, with "
        f"known labels from {labelled['week'].min()}. The earliest cutoff that leaves weeks to fit and to "
        f"calibrate on is {earliest}."
    )


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
    judged = score["label"].drop_nulls()
    if judged.n_unique() < 2:
        # Metrics on censored weeks only would all be "n/a", and a model would be chosen on nothing.
        last_known = table.filter(learnable(table))["week"].max()
        said = (
            "no week with a known label"
            if judged.is_empty()
            else f"weeks with known labels of one class only ({'all' if judged[0] == 1 else 'no'} outcomes)"
        )
        raise SplitError(
            f"the cutoff {cutoff} leaves {said} to judge the models on: a week's label is known only "
            f"once the {horizon} weeks after it are in the data, so the last week with a known label "
            f"is {last_known}. Choose a cutoff before it, early enough that the weeks between hold "
            "outcomes and weeks without."
        )
    return TimeSplit(fit=fit, calibrate=calibrate, score=score, cutoff=cutoff)


def person_folds(table: pl.DataFrame, folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Person-grouped, outcome-stratified K-fold over the learnable rows: no person in two folds."""
    rows = table.filter(learnable(table))
    people = rows["person_id"].n_unique()
    if people < folds:
        raise SplitError(
            f"only {people} {'person has' if people == 1 else 'people have'} weeks with a known label; "
            f"{folds} person folds need at least {folds}: use fewer --folds"
        )
    ever_positive = rows.group_by("person_id").agg(pl.col("label").max().alias("person_label"))
    labels = rows.join(ever_positive, on="person_id", how="left", maintain_order="left")["person_label"]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(rows.height), labels.to_numpy(), rows["person_id"].to_numpy()))
