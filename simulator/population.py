"""The simulation's calendar (holidays, summer, flu season), its people and their teams."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from simulator.constants import (
    AGE_MIN,
    AGE_SHARE_HIRES,
    AGE_SHARE_STAFF,
    BURN_IN,
    GENDER_SHARE,
    GENDERS,
    NEVER,
    RATE_TEAM_CHANGED,
)
from simulator.worlds import World


@dataclass(frozen=True)
class Calendar:
    """The simulated weeks, burn-in included, and what each week is like for everybody."""

    mondays: np.ndarray  # datetime64[D], one per simulated week, burn-in included
    n_weeks: int  # weeks in the data (the last n_weeks of `mondays`)
    activity: np.ndarray  # team-wide activity multiplier: holiday weeks are quiet for everyone
    leave_rate: np.ndarray  # base weekly probability of taking planned leave
    holiday: np.ndarray  # weeks when leave is usually a whole week
    flu: np.ndarray  # logit shift of short absences (winter colds)

    @property
    def n_total(self) -> int:
        """Simulated weeks, burn-in included."""
        return len(self.mondays)


def calendar(start: dt.date, n_weeks: int) -> Calendar:
    """The burn-in weeks and `n_weeks` data weeks from the Monday `start`, holidays and flu season marked."""
    total = BURN_IN + n_weeks
    mondays = np.datetime64(start, "D") + 7 * (np.arange(total) - BURN_IN)
    activity = np.ones(total)
    leave_rate = np.full(total, 0.06)
    holiday = np.zeros(total, dtype=bool)
    flu = np.zeros(total)
    for k, monday in enumerate(mondays.astype(dt.date)):  # one loop per week is cheap
        iso_week = monday.isocalendar().week
        if monday.month == 12 and 19 <= monday.day <= 25:  # the week holding Christmas
            activity[k], leave_rate[k], holiday[k] = 0.55, 0.65, True
        elif (monday.month == 12 and monday.day >= 26) or (monday.month == 1 and monday.day == 1):
            activity[k], leave_rate[k], holiday[k] = 0.70, 0.55, True  # the week holding New Year
        elif 27 <= iso_week <= 32:  # summer holidays
            activity[k], leave_rate[k], holiday[k] = 0.85, 0.30, True
        elif iso_week in (26, 33):  # shoulders of the summer
            activity[k], leave_rate[k] = 0.93, 0.15
        if monday.month in (12, 1, 2):
            flu[k] = 0.45
    return Calendar(mondays, n_weeks, activity, leave_rate, holiday, flu)


def weekday_dates(rng: np.random.Generator, week_idx: np.ndarray, cal: Calendar) -> np.ndarray:
    """A working day (Monday to Friday) inside each given week."""
    return cal.mondays[week_idx] + rng.integers(0, 5, len(week_idx))


def first_week(rng: np.random.Generator, earliest: np.ndarray, yearly_rate: float | np.ndarray) -> np.ndarray:
    """Week of the first event of a weekly Bernoulli process that starts at `earliest`."""
    weekly = np.clip(np.asarray(yearly_rate, dtype=float) / 52.0, 1e-9, 1.0)
    return earliest + rng.geometric(np.broadcast_to(weekly, earliest.shape)) - 1


# --------------------------------------------------------------------------------------------------
# People and teams


@dataclass(frozen=True)
class People:
    """Everyone who appears in the data: when they were hired, when their data starts, age band and gender."""

    n: int
    ids: list[str]
    hire_t: np.ndarray  # first simulated week employed (0 for staff employed before the data)
    obs_start: np.ndarray  # first data week (index into the calendar)
    is_new_hire: np.ndarray
    hired_on: np.ndarray  # datetime64[D]
    age_band: np.ndarray  # index into AGE_BANDS
    gender: np.ndarray  # index into GENDERS


def draw_people(rng: np.random.Generator, n: int, n_weeks: int, cal: Calendar) -> People:
    """Draw `n` people: staff employed before the data starts, and new hires along the way."""
    years = n_weeks / 52.0
    # Hires replace leavers: about 17% of the headcount a year, as a share of everyone ever seen.
    hire_share = 0.17 * years / (1.0 + 0.17 * years)
    is_new = (rng.random(n) < hire_share) & (n_weeks >= 2)
    hire_t = np.where(is_new, BURN_IN + rng.integers(1, max(n_weeks, 2), n), 0)
    obs_start = np.maximum(hire_t, BURN_IN)

    age_staff = rng.choice(5, n, p=AGE_SHARE_STAFF)
    age_hire = rng.choice(5, n, p=AGE_SHARE_HIRES)
    age_band = np.where(is_new, age_hire, age_staff)
    gender = rng.choice(len(GENDERS), n, p=GENDER_SHARE)

    # Tenure of staff employed before the data: mostly a few years, a few decades (long-tenured).
    max_tenure = AGE_MIN[age_band] - 18 + 4.0
    tenure_years = np.minimum(rng.exponential(2.0 + 0.22 * (AGE_MIN[age_band] - 18)), max_tenure)
    tenure_days = (tenure_years * 365.25).astype(np.int64) + 1
    staff_day = cal.mondays[BURN_IN] - tenure_days
    # Move weekend hiring dates back to the Friday before (1970-01-01 was a Thursday).
    weekday = (staff_day.astype(np.int64) + 3) % 7
    staff_day = staff_day - np.maximum(weekday - 4, 0)
    # New hires mostly start on a Monday.
    hire_offset = np.where(rng.random(n) < 0.7, 0, rng.integers(1, 5, n))
    hire_day = cal.mondays[np.minimum(hire_t, cal.n_total - 1)] + hire_offset
    hired_on = np.where(is_new, hire_day, staff_day)

    width = max(6, len(str(n - 1)))
    ids = [f"p{i:0{width}d}" for i in range(n)]
    return People(n, ids, hire_t, obs_start, is_new, hired_on, age_band, gender)


@dataclass(frozen=True)
class Teams:
    """Who is in which team (before and after a move), each team's safety, survey phase and shocks."""

    n_teams: int
    ids: list[str]
    first: np.ndarray  # team each person starts in
    moved_t: np.ndarray  # week of a team change (NEVER if none)
    second: np.ndarray  # team after the change
    safety: np.ndarray  # per team psychological safety, 0..1 (low: rosier survey answers)
    survey_phase: np.ndarray  # per team: pulses go out in weeks where (week + phase) % survey_every == 0
    shock_team: np.ndarray
    shock_t: np.ndarray
    shock_delta: np.ndarray

    def team_at(self, t: int) -> np.ndarray:
        """The team of every person in week t."""
        return np.where(self.moved_t <= t, self.second, self.first)


def _team_sizes(rng: np.random.Generator, n: int, world: World) -> np.ndarray:
    sizes_allowed = np.arange(3, 16)
    # By default most teams have 5 to 10 people; teams of 3 or 4 (below the anonymity threshold) are
    # common. A world moves the most common size and the spread, never the 3-15 range.
    weights = np.exp(-(((sizes_allowed - world.team_size_centre) / world.team_size_width) ** 2))
    draws = rng.choice(sizes_allowed, n // 3 + 2, p=weights / weights.sum())
    cut = int(np.searchsorted(np.cumsum(draws), n)) + 1
    sizes = draws[:cut].copy()
    sizes[-1] -= int(sizes.sum()) - n
    if sizes[-1] < 3 and len(sizes) > 1:
        # Too few left for a team of their own: they join existing teams that still have room.
        leftover = int(sizes[-1])
        sizes = sizes[:-1]
        room = np.flatnonzero(sizes < 15)
        sizes[rng.choice(room, leftover, replace=False)] += 1
    return sizes


def draw_teams(rng: np.random.Generator, ppl: People, n_weeks: int, world: World) -> Teams:
    """Draw the teams of the world's sizes, team moves, and the shocks (a new manager, a reorganisation)."""
    sizes = _team_sizes(rng, ppl.n, world)
    n_teams = len(sizes)
    first = rng.permutation(np.repeat(np.arange(n_teams), sizes))

    # Team changes go from teams of 6 or more to teams of 12 or fewer, so that the team sizes in the
    # people table stay (almost always) within 3 to 15.
    moved_t = first_week(rng, ppl.obs_start + 8, RATE_TEAM_CHANGED)
    destinations = np.flatnonzero(sizes <= 12)
    if len(destinations) == 0:
        destinations = np.arange(n_teams)
    second = destinations[rng.integers(0, len(destinations), ppl.n)]
    can_move = (sizes[first] >= 6) & (second != first) & (moved_t < BURN_IN + n_weeks)
    moved_t = np.where(can_move, moved_t, NEVER)

    safety = rng.beta(5.0, 2.0, n_teams)
    survey_phase = rng.integers(0, world.survey_every, n_teams)

    years = n_weeks / 52.0
    n_shocks = rng.poisson(world.team_shock_rate * years, n_teams)
    shock_team = np.repeat(np.arange(n_teams), n_shocks)
    k = len(shock_team)
    shock_t = BURN_IN + rng.integers(0, n_weeks, k)
    negative = rng.random(k) < world.shock_negative_share
    shock_delta = np.where(negative, rng.normal(-0.45, 0.18, k), rng.normal(0.30, 0.12, k))
    width = max(3, len(str(n_teams - 1)))
    return Teams(
        n_teams=n_teams,
        ids=[f"t{j:0{width}d}" for j in range(n_teams)],
        first=first,
        moved_t=moved_t,
        second=second,
        safety=safety,
        survey_phase=survey_phase,
        shock_team=shock_team,
        shock_t=shock_t,
        shock_delta=shock_delta,
    )
