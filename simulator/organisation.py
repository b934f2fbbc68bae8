"""A simulated organisation: demo data for ewarn and the test bench its models are judged on.

Everything here is pure (numpy + polars, no file I/O) and deterministic for a seed. The simulator
writes exactly input contract v1 (`signals`, `events`, `people`) and, separately, the ground truth
(`truth`, `declines`) that the pipeline never sees.

How the default world works, in short (simulator/worlds.py draws other worlds: other lead times,
decline shapes, sources of outcome risk, survey cadence, team sizes, tools, signal names and exits):

* Every person has a latent motivation per week: their own normal, small week-to-week wobble,
  modest team shocks (a new manager, a reorganisation), short boosts (promotion, a new job) and,
  for roughly a third of the people, a creeping decline with a cause (the *driver*).
* A decline starts with its driver: the driver's own signals move first (micromanagement: more
  approval requests and a lower autonomy pulse), and only weeks later motivation starts to slide,
  over 4 to 30 weeks, to a varying depth. Then the symptoms show: fewer questions and ideas,
  withdrawal from meetings and chat, slower replies, short absences, missed commitments, lower
  engagement and wellbeing answers, more unanswered pulses. Some people recover, some do not.
* The longer motivation stays far below a person's own normal, the higher the weekly hazard of
  resigning or of long-term sick leave (workload declines lean to sick leave). A few outcomes
  happen without any decline, and unrelated exits (contract ended, retired, relocated) happen to
  people whose motivation is fine.
* Signals are noisy views of this: people differ from each other far more than from their own last
  month, holidays and planned leave look like withdrawal but are not, surveys are sparse and are
  rosier in teams with low psychological safety, and not everyone uses every tool.

The stages live in their own modules: the calendar, people and teams (`simulator.population`),
motivation, declines and exits (`simulator.motivation`), the signals (`simulator.signals`), and the
names and rates they share (`simulator.constants`); this module runs them and builds the frames.

The whole simulation is vectorised over people x weeks arrays; the only Python loops run over
weeks, signals, drivers or team shocks, never over person-weeks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from simulator.constants import AGE_BANDS, BURN_IN, DEFAULT_START, DRIVERS, EVENT_NAMES, GENDERS, NEVER
from simulator.motivation import EXIT_KINDS, Exits, Latent, simulate_exits, simulate_motivation
from simulator.population import Calendar, People, Teams, calendar, draw_people, draw_teams, weekday_dates
from simulator.signals import simulate_signals
from simulator.worlds import DEFAULT_WORLD, World


@dataclass(frozen=True)
class SimulatedOrganisation:
    """A simulated organisation: the three landing tables and the ground truth kept apart.

    `signals`, `events` and `people` follow input contract v1 exactly. `truth` (one row per
    observed person-week: latent motivation, the person's normal, the decline in progress and the
    strain a long decline has built up: the inputs of an oracle in any world) and
    `declines` (one row per decline episode) are the answers a model is judged against; they must
    never be written into a landing folder.
    """

    signals: pl.DataFrame
    events: pl.DataFrame
    people: pl.DataFrame
    truth: pl.DataFrame
    declines: pl.DataFrame
    world: World = DEFAULT_WORLD


def simulate_organisation(
    n_people: int,
    n_weeks: int,
    seed: int,
    start: dt.date | None = None,
    world: World | None = None,
) -> SimulatedOrganisation:
    """Simulate `n_people` people over `n_weeks` weeks starting on the Monday `start`.

    `seed` picks the people, `world` the mechanisms they live under (`DEFAULT_WORLD` when None;
    see simulator/worlds.py). The same seed and world always give the same frames. `n_people` counts
    everyone who appears in the data, new hires included; `start` defaults to `DEFAULT_START`
    (2024-01-01) and must be a Monday.
    """
    if n_people < 1 or n_weeks < 1:
        raise ValueError(f"need at least one person and one week, got {n_people} people, {n_weeks} weeks")
    start = DEFAULT_START if start is None else start
    if isinstance(start, dt.datetime) or not isinstance(start, dt.date):
        raise ValueError(f"start must be a datetime.date, got {start!r}")
    if start.weekday() != 0:
        raise ValueError(f"start must be a Monday, {start.isoformat()} is a {start.strftime('%A')}")

    world = DEFAULT_WORLD if world is None else world
    rng = np.random.default_rng(seed)
    cal = calendar(start, n_weeks)
    ppl = draw_people(rng, n_people, n_weeks, cal)
    teams = draw_teams(rng, ppl, n_weeks, world)
    latent = simulate_motivation(rng, ppl, teams, cal, world)
    exits = simulate_exits(rng, ppl, latent, cal, world)
    signals = simulate_signals(rng, ppl, teams, latent, exits, cal, world)
    return SimulatedOrganisation(
        signals=signals,
        events=_events_frame(rng, ppl, teams, latent, exits, cal),
        people=_people_frame(ppl, teams, exits),
        truth=_truth_frame(ppl, latent, exits, cal),
        declines=_declines_frame(ppl, latent, exits, cal),
        world=world,
    )


# --------------------------------------------------------------------------------------------------
# Frames


def _events_frame(
    rng: np.random.Generator, ppl: People, teams: Teams, latent: Latent, exits: Exits, cal: Calendar
) -> pl.DataFrame:
    people_parts: list[np.ndarray] = []
    day_parts: list[np.ndarray] = []
    code_parts: list[np.ndarray] = []

    def add(who: np.ndarray, days: np.ndarray, event: str) -> None:
        people_parts.append(who.astype(np.int64))
        day_parts.append(days.astype("datetime64[D]"))
        code_parts.append(np.full(len(who), EVENT_NAMES.index(event)))

    hires = np.flatnonzero(ppl.is_new_hire)
    add(hires, ppl.hired_on[hires], "hired")

    for k, members in enumerate(latent.shock_members):
        s = teams.shock_t[k]
        still = members[exits.end[members] > s]  # only people still there get the new manager
        add(still, np.full(len(still), latent.shock_day[k]), "manager_changed")

    context = (
        (teams.moved_t, "team_changed"),
        (latent.promoted_t, "promoted"),
        (latent.role_changed_t, "role_changed"),
    )
    for when, event in context:
        who = np.flatnonzero((when < exits.end) & (when >= ppl.obs_start))
        add(who, weekday_dates(rng, when[who], cal), event)

    leavers = np.flatnonzero(exits.kind >= 0)
    for kind_idx, event in enumerate(EXIT_KINDS):
        who = leavers[exits.kind[leavers] == kind_idx]
        add(who, weekday_dates(rng, exits.week[who], cal), event)

    frame = pl.DataFrame(
        {
            "person_id": pl.Series(ppl.ids, dtype=pl.String).gather(np.concatenate(people_parts)),
            "date": pl.Series(np.concatenate(day_parts)).cast(pl.Date),
            "event": pl.Series(EVENT_NAMES, dtype=pl.String).gather(np.concatenate(code_parts)),
        }
    )
    return frame.sort("person_id", "date", "event", maintain_order=True)


def _people_frame(ppl: People, teams: Teams, exits: Exits) -> pl.DataFrame:
    # The team a person is in at the end of their time in the data.
    moved = teams.moved_t < exits.end
    team = np.where(moved, teams.second, teams.first)
    return pl.DataFrame(
        {
            "person_id": pl.Series(ppl.ids, dtype=pl.String),
            "team_id": pl.Series(teams.ids, dtype=pl.String).gather(team),
            "hired_on": pl.Series(ppl.hired_on).cast(pl.Date),
            "audit_gender": pl.Series(GENDERS, dtype=pl.String).gather(ppl.gender),
            "audit_age_band": pl.Series(AGE_BANDS, dtype=pl.String).gather(ppl.age_band),
        }
    )


def _truth_frame(ppl: People, latent: Latent, exits: Exits, cal: Calendar) -> pl.DataFrame:
    b = BURN_IN
    tt = np.arange(b, cal.n_total)[None, :]
    employed = (tt >= ppl.obs_start[:, None]) & (tt < exits.end[:, None])
    person_idx, week_idx = np.nonzero(employed)
    t = week_idx + b
    level = latent.motivation[person_idx, t]
    # The change over four weeks is only known when the person was observed four weeks earlier.
    known = t - 4 >= ppl.obs_start[person_idx]
    change = np.where(known, level - latent.motivation[person_idx, np.maximum(t - 4, 0)], np.nan)
    driver_code = latent.driver[person_idx, t].astype(np.int64)
    driver = pl.Series(DRIVERS, dtype=pl.String).gather(np.maximum(driver_code, 0))
    return pl.DataFrame(
        {
            "person_id": pl.Series(ppl.ids, dtype=pl.String).gather(person_idx),
            "week": pl.Series(cal.mondays[b:], dtype=pl.Date).gather(week_idx),
            "motivation": level,
            "motivation_normal": latent.normal[person_idx],
            "motivation_change_4w": pl.Series(change).fill_nan(None),
            "motivation_gap": latent.gap[person_idx, t],
            "driver": driver,
            "in_decline": driver_code >= 0,
            "outcome_strain": exits.strain[person_idx, t],
        }
    ).with_columns(pl.when(pl.col("in_decline")).then(pl.col("driver")).alias("driver"))


def _declines_frame(ppl: People, latent: Latent, exits: Exits, cal: Calendar) -> pl.DataFrame:
    ep = latent.episodes
    person = np.tile(np.arange(ppl.n), 2)
    start, trough, end = ep.start.ravel(), ep.trough.ravel(), ep.end.ravel()
    last = np.repeat(exits.end[None, :], 2, axis=0).ravel() - 1  # last week with data
    first = np.repeat(ppl.obs_start[None, :], 2, axis=0).ravel()
    # Keep episodes that are under way at some point while the person is in the data.
    keep = (start < NEVER) & (start <= last) & (end > first)
    person, start, trough, last = person[keep], start[keep], trough[keep], last[keep]
    # A person who leaves before the trough: report the trough and depth actually reached.
    reached = np.minimum(trough, last)
    depth = latent.decline[person, reached]
    recovered = ep.recover.ravel()[keep] & (trough < last)
    offset = np.datetime64(cal.mondays[0], "D")
    frame = pl.DataFrame(
        {
            "person_id": pl.Series(ppl.ids, dtype=pl.String).gather(person),
            "driver": pl.Series(DRIVERS, dtype=pl.String).gather(ep.driver.ravel()[keep]),
            "start_week": pl.Series(offset + 7 * start).cast(pl.Date),
            "trough_week": pl.Series(offset + 7 * reached).cast(pl.Date),
            "depth": depth,
            "recovered": recovered,
        }
    )
    return frame.sort("person_id", "start_week")
