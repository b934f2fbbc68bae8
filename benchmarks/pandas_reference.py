"""A straightforward pandas implementation of the feature stage: the reference ours is measured against.

This is what a competent data scientist would write first, from the feature definitions in
features/ and docs/contract.md: a long weekly grid, `groupby(...).rolling(...)` per person and
signal, merges and pivots. It is written for clarity, not tuned and not deliberately slowed down.
It computes the same table as `features.build.build_features` (same columns, same values within
float32 rounding, nulls in the same places), for every week or for one as-of week, with or without
labels; `compare_tables` checks that, column by column.

Not used by the pipeline: only by tests/test_pandas_reference.py and benchmarks/feature_stage.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd
import polars as pl

from features.build import LABEL_COLUMNS, FeatureRequest
from features.catalog import Catalog
from features.windows import (
    ABSENCE_WEEKS,
    BASELINE_GAP_WEEKS,
    BASELINE_MIN_WEEKS,
    BASELINE_WEEKS,
    DRIFT_WEEKS,
    LEAVE_WEEK_MIN_DAYS,
    LONG_NORMAL_WEEKS,
    LOOKBACK_WEEKS,
    RECENT_WEEKS,
    SURVEY_NORMAL_WEEKS,
    SURVEY_RECENT_WEEKS,
    TREND_MIN_WEEKS,
    TREND_WEEKS,
)

PERSON, WEEK = "person_id", "week"
SERIES = [PERSON, "signal"]  # one time series per person and signal
KEYS = [PERSON, WEEK]
WEEK_DAYS = pd.Timedelta(days=7)

# The rules of features/own_normal.py, features/drift.py, features/context.py and
# features/build.py, restated here.
SCALE_FLOOR_ABSOLUTE = 0.05
SCALE_FLOOR_RELATIVE = 0.05
OFF_NORMAL_UNITS = 0.5
MIN_TEAM_MEMBERS = 3
PREVIOUS_ANSWERS_WEEKS = 12
NOT_CONTEXT = {"hired"}

OWN_NORMAL = (
    "level_4w",
    "baseline",
    "deviation",
    "trend_8w",
    "volatility_8w",
    "weeks_off_normal",
    *(f"drift_{weeks}w" for weeks in DRIFT_WEEKS),
)
SURVEY = ("answer_latest", "answer_change", "weeks_since_answer", "response_rate_12w", "response_rate_change")
ABSENCE = ("absence_days_26w", "absence_spells_26w", "bradford_factor_26w")


def _datetimes(values: pd.Series) -> pd.Series:
    # One resolution everywhere: merges refuse datetime keys of different units.
    return pd.to_datetime(values).astype("datetime64[ns]")


def monday(dates: pd.Series) -> pd.Series:
    """The Monday of the week each date falls in."""
    return dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")


def build_features_pandas(
    signals: pd.DataFrame,
    events: pd.DataFrame | None,
    people: pd.DataFrame | None,
    catalog: Catalog,
    request: FeatureRequest | None = None,
) -> pd.DataFrame:
    """The feature table of `features.build.build_features`, computed with pandas.

    Inputs are the landing tables as pandas frames (dates as dates or datetimes). Returns one row
    per person-week (or per person at `request.as_of`), sorted by person and week, with `week` as
    datetime64, features as float32 and labels as nullable Int8/Int32, object and bool columns.
    """
    request = request or FeatureRequest()
    signals = signals.assign(week=_datetimes(signals[WEEK]))
    if events is not None:
        events = events.assign(date=_datetimes(events["date"]))
    if people is not None and "hired_on" in people:
        people = people.assign(hired_on=_datetimes(people["hired_on"]))

    # Outcomes are known as far as either table reaches (before any as-of cut).
    known_until = signals[WEEK].max()
    if events is not None and request.with_labels and events["date"].notna().any():
        known_until = max(known_until, monday(events["date"]).max())
    as_of = None
    if request.as_of is not None:
        as_of = pd.Timestamp(request.as_of) - pd.Timedelta(days=request.as_of.weekday())
        start = as_of - LOOKBACK_WEEKS * WEEK_DAYS
        signals = signals[(signals[WEEK] > start) & (signals[WEEK] <= as_of)]
        if events is not None:
            events = events[events["date"] < as_of + WEEK_DAYS]

    names = sorted(signals["signal"].unique())
    infos = {name: catalog.signal(name) for name in names}
    kinds = {name: info.kind for name, info in infos.items()}
    grid = weekly_grid(signals, kinds)

    def at_as_of(frame: pd.DataFrame) -> pd.DataFrame:
        return frame if as_of is None else frame[frame[WEEK] == as_of]

    # Drift for signals with a risky way: one the catalog gives, or one a fit learns (unknown, not leave).
    learnable = {n for n, info in infos.items() if not info.known and info.kind != "leave"}
    drifting = {n for n, info in infos.items() if info.risk_sign != 0} | learnable
    own = own_normal_features(grid, drifting)
    table = widen(at_as_of(own), names, OWN_NORMAL)
    table = table.drop(columns=[f"{n}__drift_{w}w" for n in names if n not in drifting for w in DRIFT_WEEKS])
    if people is not None:
        table = table.merge(people[[PERSON, "team_id"]], on=PERSON, how="left")
    else:
        table["team_id"] = None
    team = {f"{n}__deviation_vs_team": deviation_vs_team(table, f"{n}__deviation") for n in names}
    drifts = [f"{n}__drift_{weeks}w" for n in sorted(drifting) for weeks in DRIFT_WEEKS]
    # Built apart and added at once: inserting columns one by one fragments the frame.
    table = table.assign(**{c: net_of_shared_shift(table, c) for c in drifts})
    table = pd.concat([table, pd.DataFrame(team, index=table.index)], axis=1)
    families: dict[str, list[str]] = {}
    for name, info in infos.items():
        if info.risk_sign != 0:
            families.setdefault(info.family, []).append(name)
            families.setdefault("all", []).append(name)
    for family, members in sorted(families.items()):
        directed = pd.concat(
            [table[f"{m}__deviation"] * infos[m].risk_sign for m in members], axis=1, ignore_index=True
        )
        table[f"family:{family}__risk_deviation"] = directed.mean(axis=1)

    for kind, add, outputs in (
        ("survey", survey_features, SURVEY),
        ("absence", absence_features, ABSENCE),
    ):
        of_kind = [n for n in names if kinds[n] == kind]
        if of_kind:
            part = add(grid[grid["kind"] == kind].copy())
            table = table.merge(widen(at_as_of(part), of_kind, outputs), on=KEYS, how="left")

    table = add_tenure(table, people, events)
    if events is not None:
        outcomes = set(request.outcome_events)
        context = sorted(e for e in events["event"].unique() if e not in outcomes and e not in NOT_CONTEXT)
        for name in context:
            table = add_weeks_since(table, events, name)
        if request.with_labels:
            table = add_labels(table, events, request.horizon, known_until, request.outcome_events)
    elif request.with_labels:
        raise ValueError("labels need the events table (outcomes)")

    labels = [c for c in LABEL_COLUMNS if c in table]
    features = [c for c in table if c not in {*KEYS, "team_id", *labels}]
    table[features] = table[features].astype("float32")
    return table[[*KEYS, "team_id", *features, *labels]].sort_values(KEYS).reset_index(drop=True)


def weekly_grid(signals: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """One row per person, signal and week, from the series' first observation to the person's last week.

    Values in weeks with at least LEAVE_WEEK_MIN_DAYS of planned leave are blanked for every signal
    except the leave itself. Sorted by person, signal and week.
    """
    spans = signals.groupby(SERIES)[WEEK].min().rename("first").reset_index()
    spans = spans.join(signals.groupby(PERSON)[WEEK].max().rename("last"), on=PERSON)
    n_weeks = (spans["last"] - spans["first"]).dt.days // 7 + 1
    grid = spans.loc[spans.index.repeat(n_weeks)]
    grid[WEEK] = grid["first"] + grid.groupby(level=0).cumcount() * WEEK_DAYS
    grid = grid[[*SERIES, WEEK]].merge(signals, on=[*SERIES, WEEK], how="left")
    grid["kind"] = grid["signal"].map(kinds)

    leave = signals[signals["signal"].map(kinds) == "leave"].groupby(KEYS)["value"].sum()
    leave_weeks = leave[leave >= LEAVE_WEEK_MIN_DAYS].index.to_frame(index=False).assign(on_leave=True)
    grid = grid.merge(leave_weeks, on=KEYS, how="left")
    grid["on_leave"] = grid["on_leave"].fillna(False).astype(bool)
    grid.loc[grid["on_leave"] & (grid["kind"] != "leave"), "value"] = np.nan
    return grid.sort_values([*SERIES, WEEK]).reset_index(drop=True)


def _by_series(frame: pd.DataFrame) -> pd.core.groupby.DataFrameGroupBy:
    return frame.groupby(SERIES, sort=False)


def _rolling(frame: pd.DataFrame, column: str, window: int, min_periods: int):
    # groupby().rolling() puts the group keys in front of the row index; they are dropped again
    # by `_back` so the result lines up with the frame it came from.
    return _by_series(frame)[column].rolling(window, min_periods=min_periods)


def _back(result: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    return result.droplevel(list(range(len(SERIES))))


def own_normal_features(grid: pd.DataFrame, drifting: set[str]) -> pd.DataFrame:
    """Recent level, baseline, spread, deviation, trend, volatility and runs off normal per series,
    and drift for the `drifting` signals (a risky way, from the catalog or still to be learnt)."""
    g = grid.copy()
    g["level_4w"] = _back(_rolling(g, "value", RECENT_WEEKS, 1).mean())
    normal = _rolling(g, "value", BASELINE_WEEKS, BASELINE_MIN_WEEKS)
    g["_median"] = _back(normal.median())
    g["_q25"] = _back(normal.quantile(0.25, interpolation="linear"))
    g["_q75"] = _back(normal.quantile(0.75, interpolation="linear"))
    # The normal skips the most recent weeks so that a decline does not hide in it.
    lagged = _by_series(g)[["_median", "_q25", "_q75"]].shift(BASELINE_GAP_WEEKS)
    g["baseline"] = lagged["_median"]
    iqr_sigma = (lagged["_q75"] - lagged["_q25"]) / 1.349
    floor = SCALE_FLOOR_ABSOLUTE + SCALE_FLOOR_RELATIVE * g["baseline"].abs()
    g["spread"] = np.fmax(iqr_sigma, floor)
    g["deviation"] = (g["level_4w"] - g["baseline"]) / g["spread"]

    # Least-squares slope over the observed weeks of the last 8, from rolling sums.
    observed = g["value"].notna()
    t = _by_series(g).cumcount().astype(float).where(observed)
    parts = pd.DataFrame(
        {
            PERSON: g[PERSON],
            "signal": g["signal"],
            "n": observed.astype(float),
            "t": t,
            "y": g["value"],
            "ty": t * g["value"],
            "tt": t * t,
        }
    )
    sums = _back(
        parts.groupby(SERIES, sort=False)[["n", "t", "y", "ty", "tt"]]
        .rolling(TREND_WEEKS, min_periods=1)
        .sum()
    )
    n = sums["n"]
    slope = (n * sums["ty"] - sums["t"] * sums["y"]) / (n * sums["tt"] - sums["t"] ** 2)
    g["trend_8w"] = (slope / g["spread"]).where(n >= TREND_MIN_WEEKS)
    std = _back(_rolling(g, "value", TREND_WEEKS, TREND_MIN_WEEKS).std())
    g["volatility_8w"] = std / g["spread"]

    # Runs above/below normal: the state of the last observed week carries over unobserved weeks,
    # and a run counts only its observed weeks.
    z = (g["value"] - g["baseline"]) / g["spread"]
    state = pd.Series(np.select([z > OFF_NORMAL_UNITS, z < -OFF_NORMAL_UNITS], [1.0, -1.0], 0.0), g.index)
    g["_state"] = state.where(z.notna())
    g["_state"] = _by_series(g)["_state"].ffill()
    new_series = (g[PERSON] != g[PERSON].shift()) | (g["signal"] != g["signal"].shift())
    new_run = new_series | (g["_state"] != g["_state"].shift())  # NaN != NaN: every unknown week apart
    run = new_run.cumsum()
    g["weeks_off_normal"] = observed.astype(float).groupby(run).cumsum() * g["_state"]

    # Drift: recent means against a two-year mean, activity counts on a signed log(1 + value).
    logged = np.sign(g["value"]) * np.log1p(g["value"].abs())
    g["_scaled"] = g["value"].where(g["kind"] != "activity", logged).where(g["signal"].isin(drifting))
    g["_long"] = _back(_rolling(g, "_scaled", LONG_NORMAL_WEEKS, BASELINE_MIN_WEEKS).mean())
    g["_long"] = _by_series(g)["_long"].shift(BASELINE_GAP_WEEKS)
    for weeks in DRIFT_WEEKS:
        g[f"drift_{weeks}w"] = _back(_rolling(g, "_scaled", weeks, 1).mean()) - g["_long"]
    return g.drop(columns=["_median", "_q25", "_q75", "_state", "_scaled", "_long"])


def survey_features(grid: pd.DataFrame) -> pd.DataFrame:
    """Latest answer, its change, weeks since the last answer, and response rates, per survey series."""
    g = grid
    answered_weeks = g[WEEK].where(g["value"].notna())
    g["answer_latest"] = _by_series(g)["value"].ffill()
    g["_previous"] = _back(_rolling(g, "value", PREVIOUS_ANSWERS_WEEKS, 2).mean())
    g["_previous"] = _by_series(g)["_previous"].shift(1)
    g["_change"] = g["value"] - g["_previous"]
    g["answer_change"] = _by_series(g)["_change"].ffill()
    g["_last_answer"] = answered_weeks
    g["weeks_since_answer"] = ((g[WEEK] - _by_series(g)["_last_answer"].ffill()).dt.days // 7).astype(float)
    # Leave weeks count neither as answered nor as silent.
    g["_answered"] = g["value"].notna().astype(float).where(~g["on_leave"])
    g["response_rate_12w"] = _back(
        _rolling(g, "_answered", SURVEY_RECENT_WEEKS, SURVEY_RECENT_WEEKS // 2).mean()
    )
    g["_usual"] = _back(_rolling(g, "_answered", SURVEY_NORMAL_WEEKS, SURVEY_NORMAL_WEEKS // 4).mean())
    g["response_rate_change"] = g["response_rate_12w"] - _by_series(g)["_usual"].shift(SURVEY_RECENT_WEEKS)
    return g.drop(columns=["_previous", "_change", "_last_answer", "_answered", "_usual"])


def absence_features(grid: pd.DataFrame) -> pd.DataFrame:
    """Days and spells of short absence in the last 26 weeks, and the Bradford factor."""
    g = grid
    min_observed = ABSENCE_WEEKS // 2
    g["absence_days_26w"] = _back(_rolling(g, "value", ABSENCE_WEEKS, min_observed).sum())
    absent = g["value"] > 0
    before = absent.groupby([g[PERSON], g["signal"]], sort=False).shift(1, fill_value=False)
    g["_started"] = (absent & ~before).astype(float).where(g["value"].notna())
    g["absence_spells_26w"] = _back(_rolling(g, "_started", ABSENCE_WEEKS, min_observed).sum())
    g["bradford_factor_26w"] = g["absence_spells_26w"] ** 2 * g["absence_days_26w"]
    return g.drop(columns=["_started"])


def widen(long: pd.DataFrame, signals: list[str], features: Iterable[str]) -> pd.DataFrame:
    """One row per person-week, one column `{signal}__{feature}` per signal and feature."""
    features = list(features)
    wide = long.pivot(index=KEYS, columns="signal", values=features)
    wide.columns = [f"{signal}__{feature}" for feature, signal in wide.columns]
    # A signal with no row in these weeks still gets its (empty) columns.
    order = [f"{signal}__{feature}" for signal in signals for feature in features]
    return wide.reindex(columns=order).reset_index()


def deviation_vs_team(table: pd.DataFrame, column: str) -> pd.Series:
    """The deviation minus the team's median deviation that week (teams with at least 3 values)."""
    team_week = table.groupby(["team_id", WEEK])[column]
    members = team_week.transform("count")
    median = team_week.transform("median")
    return (table[column] - median).where(table["team_id"].notna() & (members >= MIN_TEAM_MEMBERS))


def net_of_shared_shift(table: pd.DataFrame, column: str) -> pd.Series:
    """The drift minus everybody's median drift that week (weeks with at least 3 values)."""
    week = table.groupby(WEEK)[column]
    people = week.transform("count")
    return (table[column] - week.transform("median")).where(people >= MIN_TEAM_MEMBERS)


def add_tenure(table: pd.DataFrame, people: pd.DataFrame | None, events: pd.DataFrame | None) -> pd.DataFrame:
    """tenure_weeks: weeks since the hire week (people.hired_on first, else the first `hired` event)."""
    sources = []
    if people is not None and "hired_on" in people:
        sources.append(people[[PERSON, "hired_on"]].rename(columns={"hired_on": "hired"}))
    if events is not None:
        hired = events[events["event"] == "hired"]
        sources.append(hired[[PERSON, "date"]].rename(columns={"date": "hired"}))
    if not sources:
        return table.assign(tenure_weeks=np.nan)
    hires = pd.concat(sources).dropna(subset=["hired"]).groupby(PERSON)["hired"].first()
    hire_week = table[PERSON].map(monday(hires))
    tenure = (table[WEEK] - hire_week).dt.days // 7
    return table.assign(tenure_weeks=tenure.where(hire_week <= table[WEEK]).astype(float))


def add_weeks_since(table: pd.DataFrame, events: pd.DataFrame, name: str) -> pd.DataFrame:
    """weeks_since_{name}: weeks since the last such event at or before the week (NaN if none yet)."""
    last = events.loc[events["event"] == name, [PERSON]].assign(_last=monday(events["date"]))
    last = last.drop_duplicates().sort_values("_last")
    merged = pd.merge_asof(
        table.sort_values(WEEK), last, left_on=WEEK, right_on="_last", by=PERSON, direction="backward"
    )
    merged[f"weeks_since_{name}"] = ((merged[WEEK] - merged["_last"]).dt.days // 7).astype(float)
    return merged.drop(columns="_last")


def add_labels(
    table: pd.DataFrame,
    events: pd.DataFrame,
    horizon: int,
    known_until: pd.Timestamp,
    outcome_events: tuple[str, ...],
) -> pd.DataFrame:
    """label (1 within `horizon` weeks before the first outcome, else 0; null unless the horizon is seen)."""
    outcomes = events[events["event"].isin(outcome_events)].sort_values([PERSON, "date", "event"])
    first = outcomes.groupby(PERSON).first()
    table = table.merge(
        pd.DataFrame({"_outcome_week": monday(first["date"]), "outcome": first["event"]}),
        left_on=PERSON,
        right_index=True,
        how="left",
    )
    weeks_to = (table["_outcome_week"] - table[WEEK]).dt.days // 7
    eligible = table["_outcome_week"].isna() | (weeks_to >= 1)
    horizon_seen = table[WEEK] + horizon * WEEK_DAYS <= known_until
    label = np.select([~eligible | ~horizon_seen, weeks_to <= horizon], [np.nan, 1.0], 0.0)
    table["label"] = pd.array(label, dtype="Float64").astype("Int8")
    table["weeks_to_outcome"] = weeks_to.astype("Int32")
    table["eligible"] = eligible
    return table.drop(columns="_outcome_week")


def to_pandas_inputs(
    signals: pl.DataFrame, events: pl.DataFrame | None, people: pl.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Landing tables held as Polars frames, as the pandas frames `build_features_pandas` takes."""
    return (
        signals.to_pandas(),
        None if events is None else events.to_pandas(),
        None if people is None else people.to_pandas(),
    )


def compare_tables(
    ours: pl.DataFrame, reference: pd.DataFrame, rtol: float = 1e-5, atol: float = 1e-6
) -> list[str]:
    """Every difference between our feature table and the pandas one, in words (empty when equal).

    Same columns in the same order, same keys row by row, then per column: nulls in the same
    places and values equal (floats within `rtol`/`atol`: both sides are float32). Each differing
    column is named with how many rows differ and one example.
    """
    problems: list[str] = []
    if list(ours.columns) != list(reference.columns):
        missing = [c for c in ours.columns if c not in reference.columns]
        extra = [c for c in reference.columns if c not in ours.columns]
        problems.append(f"columns differ: missing in pandas {missing}, extra in pandas {extra}")
        if missing or extra:
            return problems
    if ours.height != len(reference):
        return [*problems, f"row counts differ: ours {ours.height:,}, pandas {len(reference):,}"]
    theirs = reference[list(ours.columns)]
    mine = ours.to_pandas()
    for column in ours.columns:
        a, b = mine[column], theirs[column]
        a_null, b_null = a.isna().to_numpy(), b.isna().to_numpy()
        if pd.api.types.is_float_dtype(a.dtype) or pd.api.types.is_float_dtype(b.dtype):
            both = ~a_null & ~b_null
            av = a.to_numpy(dtype=float, na_value=np.nan)
            bv = b.to_numpy(dtype=float, na_value=np.nan)
            wrong = a_null != b_null
            wrong[both] |= ~np.isclose(av[both], bv[both], rtol=rtol, atol=atol)
        else:
            av = a.astype(object).to_numpy()
            bv = b.astype(object).to_numpy()
            if pd.api.types.is_datetime64_any_dtype(a.dtype):
                av = pd.to_datetime(a).to_numpy()
                bv = pd.to_datetime(b).to_numpy()
            wrong = (a_null != b_null) | (~a_null & ~b_null & (av != bv))
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            problems.append(
                f"{column}: {int(wrong.sum()):,} of {len(wrong):,} rows differ, e.g. "
                f"{mine[PERSON].iloc[i]} {mine[WEEK].iloc[i]}: ours {a.iloc[i]!r}, pandas {b.iloc[i]!r}"
            )
    return problems


def last_week(signals: pl.DataFrame) -> date:
    """The last week in a signals table (the as-of week of a nightly run on it)."""
    return signals[WEEK].max()
