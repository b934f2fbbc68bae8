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

The whole simulation is vectorised over people x weeks arrays; the only Python loops run over
weeks, signals, drivers or team shocks, never over person-weeks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from simulator.worlds import DEFAULT_WORLD, World

DEFAULT_START = dt.date(2024, 1, 1)
"""The Monday the simulated data starts on when no start is given."""

DRIVERS: tuple[str, ...] = (
    "lack_of_recognition",
    "unclear_goals",
    "micromanagement",
    "no_growth",
    "workload",
)
"""The causes of a decline, in the order used for driver indices."""

CONTEXT_EVENTS: tuple[str, ...] = ("hired", "manager_changed", "team_changed", "promoted", "role_changed")
OUTCOME_EVENTS: tuple[str, ...] = ("resigned", "long_term_sick_leave")
UNRELATED_EXIT_EVENTS: tuple[str, ...] = ("contract_ended", "retired", "relocated")
EVENT_NAMES: tuple[str, ...] = CONTEXT_EVENTS + OUTCOME_EVENTS + UNRELATED_EXIT_EVENTS

SURVEY_SIGNALS: tuple[str, ...] = (
    "pulse.autonomy",
    "pulse.engagement",
    "pulse.goal_clarity",
    "pulse.growth",
    "pulse.recognition",
    "pulse.wellbeing",
    "pulse.workload",
)
NOISE_SIGNALS: tuple[str, ...] = ("badge_swipes", "docs_viewed", "wiki_edits")
"""Signals with no relation to motivation at all (not in the shipped catalog)."""

EXTRA_NOISE_SIGNALS: tuple[str, ...] = ("printer_jobs", "vpn_sessions", "calendar_invites_sent")
"""More unrelated signals some worlds add (World.extra_noise_signals of them, in this order)."""

SIGNALS: tuple[str, ...] = tuple(
    sorted(
        (
            *SURVEY_SIGNALS,
            *NOISE_SIGNALS,
            "after_hours_messages",
            "approval_requests",
            "chat_messages_sent",
            "commitments_missed",
            "ideas_proposed",
            "kudos_received",
            "learning_hours",
            "meetings_attended",
            "open_tickets",
            "planned_leave_days",
            "priority_changes",
            "questions_asked",
            "reply_time_hours",
            "short_absence_days",
            "tickets_created",
        )
    )
)
"""All 25 signal names, sorted (the simulated `signals` frame is sorted the same way)."""

DRIVER_SIGNALS: dict[str, tuple[str, ...]] = {
    "lack_of_recognition": ("kudos_received", "pulse.recognition"),
    "unclear_goals": ("priority_changes", "pulse.goal_clarity"),
    "micromanagement": ("approval_requests", "pulse.autonomy"),
    "no_growth": ("learning_hours", "pulse.growth"),
    "workload": ("after_hours_messages", "open_tickets", "pulse.workload"),
}
"""The signals each driver moves first, before any symptom shows."""

SYMPTOM_SIGNALS: tuple[str, ...] = (
    "chat_messages_sent",
    "commitments_missed",
    "ideas_proposed",
    "meetings_attended",
    "pulse.engagement",
    "pulse.wellbeing",
    "questions_asked",
    "reply_time_hours",
    "short_absence_days",
    "tickets_created",
)
"""Signals that follow motivation itself, whatever the cause."""

# Driver indices, used for the (driver, person, week) intensity array.
_REC, _GOAL, _MICRO, _GROWTH, _WORK = range(5)
_DRIVER_SHARE = np.array([0.22, 0.20, 0.18, 0.18, 0.22])

# Weeks simulated before the data starts, so that week one already holds declines in progress and
# the outcome rate does not start from an unrealistically healthy organisation.
_BURN_IN = 30
_NEVER = 1_000_000  # sentinel week index for "does not happen"
_WEEKDAY_OFFSET = np.array([0, 1, 2, 3, 4])

_AGE_BANDS = ("<25", "25-34", "35-44", "45-54", "55+")
_AGE_MIN = np.array([19, 25, 35, 45, 55])
_AGE_SHARE_STAFF = np.array([0.08, 0.28, 0.28, 0.22, 0.14])
_AGE_SHARE_HIRES = np.array([0.25, 0.40, 0.20, 0.10, 0.05])
_GENDERS = ("female", "male", "non_binary", "undisclosed")
_GENDER_SHARE = np.array([0.48, 0.47, 0.015, 0.035])

# Yearly base rates (converted to weekly hazards below).
_RATE_BENIGN_STRESS = 0.08  # busy spells that move driver signals without hurting motivation
_RATE_RESIGN_NOISE = 0.030  # resignations without any decline (a better offer, a partner's move)
_RATE_SICK_NOISE = 0.009  # long-term sick leave without any decline (illness, accident)
_RATE_RELOCATED = 0.008
_RATE_PROMOTED = 0.06
_RATE_ROLE_CHANGED = 0.04
_RATE_TEAM_CHANGED = 0.05


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
    cal = _calendar(start, n_weeks)
    ppl = _draw_people(rng, n_people, n_weeks, cal)
    teams = _draw_teams(rng, ppl, n_weeks, world)
    latent = _simulate_motivation(rng, ppl, teams, cal, world)
    exits = _simulate_exits(rng, ppl, latent, cal, world)
    signals = _simulate_signals(rng, ppl, teams, latent, exits, cal, world)
    return SimulatedOrganisation(
        signals=signals,
        events=_events_frame(rng, ppl, teams, latent, exits, cal),
        people=_people_frame(ppl, teams, exits),
        truth=_truth_frame(ppl, latent, exits, cal),
        declines=_declines_frame(ppl, latent, exits, cal),
        world=world,
    )


# --------------------------------------------------------------------------------------------------
# Calendar


@dataclass(frozen=True)
class _Calendar:
    mondays: np.ndarray  # datetime64[D], one per simulated week, burn-in included
    n_weeks: int  # weeks in the data (the last n_weeks of `mondays`)
    activity: np.ndarray  # team-wide activity multiplier: holiday weeks are quiet for everyone
    leave_rate: np.ndarray  # base weekly probability of taking planned leave
    holiday: np.ndarray  # weeks when leave is usually a whole week
    flu: np.ndarray  # logit shift of short absences (winter colds)

    @property
    def n_total(self) -> int:
        return len(self.mondays)


def _calendar(start: dt.date, n_weeks: int) -> _Calendar:
    total = _BURN_IN + n_weeks
    mondays = np.datetime64(start, "D") + 7 * (np.arange(total) - _BURN_IN)
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
    return _Calendar(mondays, n_weeks, activity, leave_rate, holiday, flu)


def _weekday_dates(rng: np.random.Generator, week_idx: np.ndarray, cal: _Calendar) -> np.ndarray:
    """A working day (Monday to Friday) inside each given week."""
    return cal.mondays[week_idx] + rng.integers(0, 5, len(week_idx))


def _first_week(
    rng: np.random.Generator, earliest: np.ndarray, yearly_rate: float | np.ndarray
) -> np.ndarray:
    """Week of the first event of a weekly Bernoulli process that starts at `earliest`."""
    weekly = np.clip(np.asarray(yearly_rate, dtype=float) / 52.0, 1e-9, 1.0)
    return earliest + rng.geometric(np.broadcast_to(weekly, earliest.shape)) - 1


# --------------------------------------------------------------------------------------------------
# People and teams


@dataclass(frozen=True)
class _People:
    n: int
    ids: list[str]
    hire_t: np.ndarray  # first simulated week employed (0 for staff employed before the data)
    obs_start: np.ndarray  # first data week (index into the calendar)
    is_new_hire: np.ndarray
    hired_on: np.ndarray  # datetime64[D]
    age_band: np.ndarray  # index into _AGE_BANDS
    gender: np.ndarray  # index into _GENDERS


def _draw_people(rng: np.random.Generator, n: int, n_weeks: int, cal: _Calendar) -> _People:
    years = n_weeks / 52.0
    # Hires replace leavers: about 17% of the headcount a year, as a share of everyone ever seen.
    hire_share = 0.17 * years / (1.0 + 0.17 * years)
    is_new = (rng.random(n) < hire_share) & (n_weeks >= 2)
    hire_t = np.where(is_new, _BURN_IN + rng.integers(1, max(n_weeks, 2), n), 0)
    obs_start = np.maximum(hire_t, _BURN_IN)

    age_staff = rng.choice(5, n, p=_AGE_SHARE_STAFF)
    age_hire = rng.choice(5, n, p=_AGE_SHARE_HIRES)
    age_band = np.where(is_new, age_hire, age_staff)
    gender = rng.choice(len(_GENDERS), n, p=_GENDER_SHARE)

    # Tenure of staff employed before the data: mostly a few years, a few decades (long-tenured).
    max_tenure = _AGE_MIN[age_band] - 18 + 4.0
    tenure_years = np.minimum(rng.exponential(2.0 + 0.22 * (_AGE_MIN[age_band] - 18)), max_tenure)
    tenure_days = (tenure_years * 365.25).astype(np.int64) + 1
    staff_day = cal.mondays[_BURN_IN] - tenure_days
    # Move weekend hiring dates back to the Friday before (1970-01-01 was a Thursday).
    weekday = (staff_day.astype(np.int64) + 3) % 7
    staff_day = staff_day - np.maximum(weekday - 4, 0)
    # New hires mostly start on a Monday.
    hire_offset = np.where(rng.random(n) < 0.7, 0, rng.integers(1, 5, n))
    hire_day = cal.mondays[np.minimum(hire_t, cal.n_total - 1)] + hire_offset
    hired_on = np.where(is_new, hire_day, staff_day)

    width = max(6, len(str(n - 1)))
    ids = [f"p{i:0{width}d}" for i in range(n)]
    return _People(n, ids, hire_t, obs_start, is_new, hired_on, age_band, gender)


@dataclass(frozen=True)
class _Teams:
    n_teams: int
    ids: list[str]
    first: np.ndarray  # team each person starts in
    moved_t: np.ndarray  # week of a team change (_NEVER if none)
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


def _draw_teams(rng: np.random.Generator, ppl: _People, n_weeks: int, world: World) -> _Teams:
    sizes = _team_sizes(rng, ppl.n, world)
    n_teams = len(sizes)
    first = rng.permutation(np.repeat(np.arange(n_teams), sizes))

    # Team changes go from teams of 6 or more to teams of 12 or fewer, so that the team sizes in the
    # people table stay (almost always) within 3 to 15.
    moved_t = _first_week(rng, ppl.obs_start + 8, _RATE_TEAM_CHANGED)
    destinations = np.flatnonzero(sizes <= 12)
    if len(destinations) == 0:
        destinations = np.arange(n_teams)
    second = destinations[rng.integers(0, len(destinations), ppl.n)]
    can_move = (sizes[first] >= 6) & (second != first) & (moved_t < _BURN_IN + n_weeks)
    moved_t = np.where(can_move, moved_t, _NEVER)

    safety = rng.beta(5.0, 2.0, n_teams)
    survey_phase = rng.integers(0, world.survey_every, n_teams)

    years = n_weeks / 52.0
    n_shocks = rng.poisson(world.team_shock_rate * years, n_teams)
    shock_team = np.repeat(np.arange(n_teams), n_shocks)
    k = len(shock_team)
    shock_t = _BURN_IN + rng.integers(0, n_weeks, k)
    negative = rng.random(k) < world.shock_negative_share
    shock_delta = np.where(negative, rng.normal(-0.45, 0.18, k), rng.normal(0.30, 0.12, k))
    width = max(3, len(str(n_teams - 1)))
    return _Teams(
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


# --------------------------------------------------------------------------------------------------
# Latent motivation and decline episodes


@dataclass(frozen=True)
class _Episodes:
    """Up to two decline episodes per person (slot 0, slot 1); start == _NEVER means none."""

    start: np.ndarray  # (2, P) week the driver appears
    lead: np.ndarray  # (2, P) weeks between the driver appearing and motivation starting to slide
    fall: np.ndarray  # (2, P) weeks the slide takes (speed)
    depth: np.ndarray  # (2, P) how far motivation falls below normal
    recover: np.ndarray  # (2, P) whether it would revert (if the person stays)
    recovery: np.ndarray  # (2, P) weeks the reversal takes
    driver: np.ndarray  # (2, P) index into DRIVERS

    @property
    def trough(self) -> np.ndarray:
        return self.start + self.lead + self.fall

    @property
    def end(self) -> np.ndarray:
        """First week after the episode (never for episodes that do not recover)."""
        return np.where(self.recover, self.trough + self.recovery, _NEVER)


@dataclass(frozen=True)
class _Latent:
    normal: np.ndarray  # (P,) own normal
    motivation: np.ndarray  # (P, T)
    gap: np.ndarray  # (P, T) motivation minus normal
    decline: np.ndarray  # (P, T) how far the episode in progress has pushed motivation down (>= 0)
    intensity: np.ndarray  # (5, P, T) how strongly each driver is present, 0..1
    driver: np.ndarray  # (P, T) driver of the episode in progress, -1 when none
    episodes: _Episodes
    shock_members: list[np.ndarray]  # per team shock: the people in the team that week
    shock_day: np.ndarray  # per team shock: its date (datetime64[D]), the same for the whole team
    promoted_t: np.ndarray  # week of a promotion (may lie beyond the person's exit)
    role_changed_t: np.ndarray  # week of a role change (may lie beyond the person's exit)


def _episode_slot(
    rng: np.random.Generator, start: np.ndarray, driver: np.ndarray, n: int, world: World
) -> tuple[np.ndarray, ...]:
    # By default the driver is visible 3-8 weeks before motivation slides, which then creeps down
    # over 4 to 30 weeks.
    lead = rng.integers(*world.driver_lead_weeks, n)
    fall = rng.integers(*world.fall_weeks, n)
    depth = rng.uniform(*world.depth, n)
    recover = rng.random(n) < world.recover_share
    recovery = rng.integers(*world.recovery_weeks, n)
    if world.sudden_share > 0:  # drawn only then, so the default world's draws stay as they were
        fall = np.where(rng.random(n) < world.sudden_share, rng.integers(1, 3, n), fall)
    return start, lead, fall, depth, recover, recovery, driver


def _draw_episodes(
    rng: np.random.Generator,
    ppl: _People,
    n_total: int,
    trigger_t: np.ndarray,
    trigger_driver: np.ndarray,
    world: World,
) -> _Episodes:
    n = ppl.n
    # New hires have a honeymoon of a few weeks before a decline can begin.
    earliest = np.where(ppl.is_new_hire, ppl.hire_t + 6, 0)
    start0 = _first_week(rng, earliest, world.decline_rate)
    driver0 = rng.choice(5, n, p=_DRIVER_SHARE)
    # A bad manager change or reorganisation can set a decline off earlier than chance would.
    triggered = trigger_t < start0
    start0 = np.where(triggered, trigger_t, start0)
    driver0 = np.where(triggered, trigger_driver, driver0)
    slot0 = _episode_slot(rng, start0, driver0, n, world)
    _, lead0, fall0, _, recover0, recovery0, _ = slot0

    # A second episode is possible only after the first one has fully reverted.
    end0 = np.where(recover0, start0 + lead0 + fall0 + recovery0, _NEVER)
    start1 = np.where(
        end0 < n_total, _first_week(rng, np.minimum(end0, n_total) + 4, world.relapse_rate), _NEVER
    )
    slot1 = _episode_slot(rng, start1, rng.choice(5, n, p=_DRIVER_SHARE), n, world)

    stacked = [np.stack([a, b]) for a, b in zip(slot0, slot1, strict=True)]
    start = np.where(stacked[0] < n_total, stacked[0], _NEVER)
    return _Episodes(start, *stacked[1:])


def _simulate_motivation(
    rng: np.random.Generator, ppl: _People, teams: _Teams, cal: _Calendar, world: World
) -> _Latent:
    n, n_total = ppl.n, cal.n_total
    tt = np.arange(n_total)[None, :]
    normal = rng.normal(0.0, 0.35, n)

    # Week-to-week wobble: a slow AR(1) around the normal, small next to a real decline.
    wobble = np.empty((n, n_total))
    state = rng.normal(0.0, 0.2, n)
    for t in range(n_total):
        state = 0.75 * state + rng.normal(0.0, 0.13, n)
        wobble[:, t] = state
    shifts = np.zeros((n, n_total))

    # Team shocks: everybody in the team shifts together, each by their own sensitivity.
    sensitivity = rng.lognormal(0.0, 0.35, n)
    trigger_t = np.full(n, _NEVER)
    trigger_driver = np.zeros(n, dtype=np.int64)
    shock_members: list[np.ndarray] = []
    shock_day = _weekday_dates(rng, teams.shock_t, cal)
    for k in range(len(teams.shock_t)):  # one loop per shock (a few per team), not per person-week
        s, team, delta = int(teams.shock_t[k]), teams.shock_team[k], teams.shock_delta[k]
        members = np.flatnonzero((teams.team_at(s) == team) & (ppl.hire_t <= s))
        shock_members.append(members)
        after = (tt - s).astype(float)
        profile = np.where(
            after >= 0, np.minimum(1.0, (after + 1) / 3) * np.exp(-np.maximum(after, 0) / 38), 0.0
        )
        shifts[members] += (delta * sensitivity[members])[:, None] * profile
        if delta < -0.25:
            hit = members[rng.random(len(members)) < 0.2]
            when = s + rng.integers(0, 6, len(hit))
            earlier = when < trigger_t[hit]
            trigger_t[hit[earlier]] = when[earlier]
            # Mostly the new manager's style or the reorganisation's shifting priorities.
            trigger_driver[hit[earlier]] = rng.choice(
                [_MICRO, _GOAL, _REC], int(earlier.sum()), p=[0.5, 0.35, 0.15]
            )

    # A honeymoon for new hires, boosts after a promotion or a new role (they fade).
    since_hire = tt - ppl.hire_t[:, None]
    shifts += np.where(ppl.is_new_hire[:, None] & (since_hire >= 0), 0.25 * np.exp(-since_hire / 10.0), 0.0)
    context_weeks = []
    for rate, mean, spread in ((_RATE_PROMOTED, 0.35, 0.1), (_RATE_ROLE_CHANGED, 0.05, 0.25)):
        when = _first_week(rng, ppl.obs_start + 4, rate)
        size = rng.normal(mean, spread, n)
        after = tt - when[:, None]
        shifts += np.where(after >= 0, size[:, None] * np.exp(-np.maximum(after, 0) / 14.0), 0.0)
        context_weeks.append(when)
    after = tt - teams.moved_t[:, None]
    shifts += np.where(
        after >= 0, rng.normal(0.05, 0.2, n)[:, None] * np.exp(-np.maximum(after, 0) / 14.0), 0.0
    )

    episodes = _draw_episodes(rng, ppl, n_total, trigger_t, trigger_driver, world)
    decline = np.zeros((n, n_total))
    intensity = np.zeros((5, n, n_total))
    driver = np.full((n, n_total), -1, dtype=np.int8)
    for slot in range(2):
        s = episodes.start[slot][:, None]
        lead = episodes.lead[slot][:, None]
        rel = tt - s
        build = np.clip((rel + 1) / lead, 0.0, 1.0)  # the cause builds up over the lead weeks
        slide = np.clip((rel - lead) / episodes.fall[slot][:, None], 0.0, 1.0) ** world.slide_power
        after_trough = tt - episodes.trough[slot][:, None]
        revert = np.where(
            episodes.recover[slot][:, None],
            np.clip(after_trough / episodes.recovery[slot][:, None], 0.0, 1.0),
            0.0,
        )
        active = (rel >= 0) & (tt < episodes.end[slot][:, None])
        decline += np.where(active, episodes.depth[slot][:, None] * slide * (1.0 - revert), 0.0)
        strength = np.where(active, build * (1.0 - revert), 0.0)
        for d in range(5):
            intensity[d] += np.where(episodes.driver[slot][:, None] == d, strength, 0.0)
        driver = np.where(active, episodes.driver[slot][:, None].astype(np.int8), driver)

    # Benign stress: a busy spell or a pushy stakeholder moves driver signals without demotivating.
    b_start = _first_week(rng, ppl.hire_t + 1, _RATE_BENIGN_STRESS)
    b_len = rng.integers(3, 13, n)
    b_strength = rng.uniform(0.4, 0.9, n)
    b_driver = rng.choice(5, n, p=_DRIVER_SHARE)
    rel = tt - b_start[:, None]
    spell = np.where((rel >= 0) & (rel < b_len[:, None]), b_strength[:, None], 0.0)
    for d in range(5):
        intensity[d] = np.maximum(intensity[d], np.where(b_driver[:, None] == d, spell, 0.0))

    motivation = normal[:, None] + wobble + shifts - decline
    return _Latent(
        normal=normal,
        motivation=motivation,
        gap=motivation - normal[:, None],
        decline=decline,
        intensity=intensity,
        driver=driver,
        episodes=episodes,
        shock_members=shock_members,
        shock_day=shock_day,
        promoted_t=context_weeks[0],
        role_changed_t=context_weeks[1],
    )


# --------------------------------------------------------------------------------------------------
# Exits


@dataclass(frozen=True)
class _Exits:
    kind: np.ndarray  # index into _EXIT_KINDS, -1 for people still employed at the end
    week: np.ndarray  # week of the exit event (_NEVER if none)
    end: np.ndarray  # first week without data (the calendar length if the person stays)
    notice_from: np.ndarray  # first week of the notice period (_NEVER if none)
    strain: np.ndarray  # (P, T) strain built up by a long stay far below the own normal


_EXIT_KINDS = ("resigned", "long_term_sick_leave", "contract_ended", "retired", "relocated")


def _pressure(excess: np.ndarray, scale: float) -> np.ndarray:
    """0..1: little for a small excess, most of the way to 1 once it is several `scale`s."""
    return (1.0 - np.exp(-np.maximum(excess, 0.0) / scale)) ** 3


def _risk_pressure(latent: _Latent, strain: np.ndarray, world: World) -> np.ndarray:
    """Outcome pressure 0..1 per person-week, mixed from the world's sources of risk (RISK_SOURCES)."""
    long_w, dip_w, level_w, change_w = world.risk_weights
    pressure = long_w * _pressure(strain, 3.0)
    if dip_w:  # only the default world's source is computed when the others weigh nothing
        pressure = pressure + dip_w * _pressure(-latent.gap - 0.45, 0.45)
    if level_w:
        pressure = pressure + level_w * _pressure(-latent.motivation - 0.6, 0.45)
    if change_w:
        drop = np.zeros_like(latent.motivation)
        drop[:, 4:] = latent.motivation[:, :-4] - latent.motivation[:, 4:]
        pressure = pressure + change_w * _pressure(drop - 0.3, 0.3)
    return pressure


def _simulate_exits(
    rng: np.random.Generator, ppl: _People, latent: _Latent, cal: _Calendar, world: World
) -> _Exits:
    n, n_total = ppl.n, cal.n_total
    # Strain builds up while motivation stays far below the person's own normal and drains away
    # slowly once it is back; a few weeks of a dip do little, months of it a lot.
    strain = np.empty((n, n_total))
    acc = np.zeros(n)
    for t in range(n_total):
        acc = 0.85 * acc + np.maximum(0.0, -latent.gap[:, t] - 0.45)
        strain[:, t] = acc
    propensity = rng.lognormal(-0.08, 0.4, n)  # some people leave sooner than others
    from_strain = 0.12 * propensity[:, None] * _risk_pressure(latent, strain, world)
    # Workload declines lean to long-term sick leave, the others to resignation.
    sick_share = np.where(
        latent.driver == _WORK, world.workload_sick_share, np.where(latent.driver >= 0, 0.15, 0.3)
    )

    fine = latent.gap > -0.5  # unrelated exits happen to people whose motivation is normal
    young = ppl.age_band == 0
    contract_rate = np.where(young, 0.05, 0.006) + np.where(ppl.is_new_hire, 0.03, 0.0)
    retire_rate = np.where(ppl.age_band == 4, 0.09, 0.0)
    hazards = np.stack(
        [
            from_strain * (1.0 - sick_share) + _RATE_RESIGN_NOISE / 52 * propensity[:, None],
            from_strain * sick_share + np.full((n, 1), _RATE_SICK_NOISE / 52),
            np.where(fine, contract_rate[:, None] / 52, 0.0),
            np.where(fine, retire_rate[:, None] / 52, 0.0),
            np.where(fine, _RATE_RELOCATED / 52, 0.0),
        ]
    )
    # Exits only in the data window, and never in a person's first observed week.
    tt = np.arange(n_total)[None, :]
    window = tt > ppl.obs_start[:, None]
    total = hazards.sum(axis=0) * window
    hit = rng.random((n, n_total)) < total
    has = hit.any(axis=1)
    week = np.where(has, hit.argmax(axis=1), _NEVER)
    rows = np.flatnonzero(has)
    at = hazards[:, rows, week[rows]]
    cum = np.cumsum(at, axis=0) / at.sum(axis=0)
    kind = np.full(n, -1)
    kind[rows] = (rng.random(len(rows))[None, :] > cum).sum(axis=0)

    # Notice period (by default 4 to 8 weeks) after the week the notice is handed in; data continues
    # through it.
    notice = rng.integers(*world.notice_weeks, n)
    end = np.full(n, n_total)
    end = np.where(kind == 0, np.minimum(week + notice + 1, n_total), end)
    # Long-term sick leave: no data from that week on, or in some worlds from a few weeks before it is
    # registered (the person is off sick before the leave becomes long-term).
    sick_end = week
    if world.sick_gap_weeks[1] > 1:
        sick_end = np.maximum(week - rng.integers(*world.sick_gap_weeks, n), ppl.obs_start + 1)
    end = np.where(kind == 1, sick_end, end)
    end = np.where(kind >= 2, np.minimum(week + 1, n_total), end)  # the last working week is observed
    notice_from = np.where(kind == 0, week, _NEVER)
    return _Exits(kind, week, end, notice_from, strain)


# --------------------------------------------------------------------------------------------------
# Signals


def _poisson(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    return rng.poisson(np.clip(lam, 0.0, 1e6)).astype(float)


def _simulate_signals(
    rng: np.random.Generator,
    ppl: _People,
    teams: _Teams,
    latent: _Latent,
    exits: _Exits,
    cal: _Calendar,
    world: World,
) -> pl.DataFrame:
    n, n_weeks, b = ppl.n, cal.n_weeks, _BURN_IN
    tt = np.arange(b, cal.n_total)[None, :]
    employed = (tt >= ppl.obs_start[:, None]) & (tt < exits.end[:, None])
    gap = latent.gap[:, b:]
    c = latent.intensity[:, :, b:]
    if world.driver_visibility != 1.0:  # a copy only when needed: the array is large
        c = c * world.driver_visibility
    in_notice = tt >= exits.notice_from[:, None]
    # Symptoms read the gap; after handing in notice people also wind down on top of it.
    g = gap - 0.8 * in_notice
    act = cal.activity[None, b:]

    # Planned leave: mostly in summer and around Christmas, sometimes single days.
    leave_propensity = rng.lognormal(-0.05, 0.3, n)[:, None]
    takes_leave = rng.random((n, n_weeks)) < np.minimum(0.95, cal.leave_rate[None, b:] * leave_propensity)
    whole_week = rng.random((n, n_weeks)) < np.where(cal.holiday[None, b:], 0.65, 0.3)
    leave = np.where(takes_leave, np.where(whole_week, 5, rng.integers(1, 5, (n, n_weeks))), 0)

    # Short unplanned absence: rare, more in winter, more when strained or overloaded.
    base = rng.normal(-3.3, 0.6, n)[:, None]
    logit = base + cal.flu[None, b:] - 0.7 * np.minimum(gap, 0.3) + 0.9 * c[_WORK] + 0.5 * in_notice
    absent = rng.random((n, n_weeks)) < 1.0 / (1.0 + np.exp(-logit))
    absence = np.where(absent, 1 + rng.binomial(4, 0.15, (n, n_weeks)), 0)
    absence = np.minimum(absence, 5 - leave)
    avail = (5 - leave - absence) / 5.0  # share of the week actually at work

    # A shared weekly "busy" factor makes activity signals move together a little.
    busy = rng.normal(0.0, 0.1, (n, n_weeks))
    # New hires find their feet: activity ramps up over the first weeks (not a sign of anything).
    since_hire = tt - ppl.hire_t[:, None]
    onboarding = np.where(ppl.is_new_hire[:, None], 1.0 - 0.6 * np.exp(-np.maximum(since_hire, 0) / 4.0), 1.0)

    values: dict[str, np.ndarray] = {}

    def count(
        median: float,
        spread: float,
        noise: float,
        g_load: float = 0.0,
        drivers: tuple[tuple[int, float], ...] = (),
    ) -> np.ndarray:
        # Own level per person (people differ a lot), then week noise, the gap and the drivers.
        level = np.log(median) + rng.normal(0.0, spread, n)[:, None]
        log_rate = level + busy + rng.normal(0.0, noise, (n, n_weeks)) + g_load * g
        for d, load in drivers:
            log_rate = log_rate + load * c[d]
        scale = avail * onboarding * act
        return _poisson(rng, np.exp(log_rate) * scale)

    values["kudos_received"] = count(2.2, 0.8, 0.25, 0.15, drivers=((_REC, -1.0),))
    values["priority_changes"] = count(1.5, 0.7, 0.3, 0.0, drivers=((_GOAL, 0.8),))
    values["approval_requests"] = count(2.5, 0.8, 0.3, 0.0, drivers=((_MICRO, 0.85),))
    values["after_hours_messages"] = count(4.0, 1.0, 0.35, -0.05, drivers=((_WORK, 0.8),))
    values["meetings_attended"] = count(9.0, 0.7, 0.15, 0.22)
    values["chat_messages_sent"] = count(55.0, 0.8, 0.25, 0.30)
    values["questions_asked"] = count(5.0, 0.8, 0.2, 0.45)
    values["ideas_proposed"] = count(1.0, 0.9, 0.25, 0.55)
    values["tickets_created"] = count(5.0, 0.7, 0.25, 0.30)
    values["commitments_missed"] = count(0.4, 0.7, 0.3, -0.5, drivers=((_WORK, 0.4),))
    values["docs_viewed"] = count(15.0, 0.8, 0.3)
    values["wiki_edits"] = count(0.7, 1.0, 0.4)

    # Open tickets are a stock, not a flow: slow-moving, and they stay assigned during leave.
    level = np.log(6.0) + rng.normal(0.0, 0.7, n)
    drift = np.empty((n, n_weeks))
    state = rng.normal(0.0, 0.2, n)
    for t in range(n_weeks):
        state = 0.7 * state + rng.normal(0.0, 0.15, n)
        drift[:, t] = state
    values["open_tickets"] = _poisson(rng, np.exp(level[:, None] + drift + 0.6 * c[_WORK] - 0.1 * g))

    # Learning comes in lumps: many weeks near zero, some with a course.
    level = np.log(1.5) + rng.normal(0.0, 0.8, n)[:, None]
    lump = rng.gamma(0.8, 1.0 / 0.8, (n, n_weeks))
    hours = np.exp(level + 0.2 * g - 1.2 * c[_GROWTH]) * lump * avail * act
    values["learning_hours"] = np.round(hours * 2.0) / 2.0

    # Median reply time: slower when withdrawn, and a little slower around days off.
    level = np.log(2.5) + rng.normal(0.0, 0.6, n)[:, None]
    reply = np.exp(level + rng.normal(0.0, 0.35, (n, n_weeks)) - 0.3 * g) * (1.0 + 0.15 * leave)
    values["reply_time_hours"] = np.maximum(0.1, np.round(reply, 1))

    # Badge swipes: office days, a habit that has nothing to do with motivation.
    office = rng.beta(2.0, 2.0, n)[:, None]
    days_at_work = 5 - leave - absence
    values["badge_swipes"] = rng.binomial(days_at_work, np.broadcast_to(office, (n, n_weeks))).astype(float)

    values["planned_leave_days"] = leave.astype(float)
    values["short_absence_days"] = absence.astype(float)

    # Pulse surveys every second week (per team), answered less often when disengaged or away.
    team_now = np.where(tt >= teams.moved_t[:, None], teams.second[:, None], teams.first[:, None])
    survey_week = (tt + teams.survey_phase[team_now]) % world.survey_every == 0
    responsive = rng.normal(world.survey_response, 0.8, n)[:, None]
    never = rng.random(n) < world.survey_never_share  # some people never answer pulses
    answer_logit = responsive + 1.2 * np.minimum(gap, 0.5) - 2.5 * in_notice - 0.5 * (leave > 0)
    answers = (
        survey_week
        & (leave < 3)
        & (absence < 3)
        & ~never[:, None]
        & (rng.random((n, n_weeks)) < 1.0 / (1.0 + np.exp(-answer_logit)))
    )
    # Low psychological safety: answers shrink toward "fine" (4), so they look rosier than the truth.
    shrink = 0.3 + 0.7 * teams.safety[team_now]
    pulse_loads = {
        "pulse.recognition": (0.15, ((_REC, -1.1),)),
        "pulse.goal_clarity": (0.15, ((_GOAL, -1.1),)),
        "pulse.autonomy": (0.15, ((_MICRO, -1.1),)),
        "pulse.growth": (0.15, ((_GROWTH, -1.1),)),
        "pulse.workload": (0.10, ((_WORK, -1.2),)),
        "pulse.engagement": (0.55, ()),
        "pulse.wellbeing": (0.45, ((_WORK, -0.5),)),
    }
    pulse_masks: dict[str, np.ndarray] = {}
    for name in SURVEY_SIGNALS:
        g_load, drivers = pulse_loads[name]
        own = np.clip(rng.normal(3.75, 0.6, n) + 0.3 * latent.normal, 1.6, 4.9)[:, None]
        honest = own + g_load * gap + rng.normal(0.0, 0.38, (n, n_weeks))
        for d, load in drivers:
            honest = honest + load * c[d]
        reported = 4.0 + (honest - 4.0) * shrink
        values[name] = np.clip(np.rint(reported), 1.0, 5.0)
        pulse_masks[name] = answers & (rng.random((n, n_weeks)) > 0.03)  # an item skipped now and then

    # Tools not everybody uses: a whole signal is missing for such a person.
    # A tool used by nobody does not exist in that world: its signals are absent altogether.
    tool_users = {tool: rng.random(n) < share for tool, share in world.tool_use}
    tool_of = {
        "chat_messages_sent": "chat",
        "after_hours_messages": "chat",
        "reply_time_hours": "chat",
        "open_tickets": "tickets",
        "tickets_created": "tickets",
        "priority_changes": "tickets",
        "commitments_missed": "tickets",
        "kudos_received": "kudos",
        "meetings_attended": "calendar",
        "learning_hours": "learning",
        "approval_requests": "approvals",
        "questions_asked": "forum",
        "ideas_proposed": "forum",
        "docs_viewed": "wiki",
        "wiki_edits": "wiki",
        "badge_swipes": "badge",
    }

    extras = EXTRA_NOISE_SIGNALS[: world.extra_noise_signals]
    for name in extras:
        values[name] = count(float(rng.uniform(0.5, 20.0)), 0.8, 0.3)

    has_messages = values["chat_messages_sent"] > 0
    # Signals come out sorted by the name this world's export gives them.
    renamed = dict(world.renamed)
    internal = sorted((*SIGNALS, *extras), key=lambda name: renamed.get(name, name))
    names = [renamed.get(name, name) for name in internal]
    n_signals = len(internal)
    cube = np.empty((n, n_weeks, n_signals))
    observed = np.empty((n, n_weeks, n_signals), dtype=bool)
    for j, name in enumerate(internal):
        mask = employed.copy()
        if name in pulse_masks:
            mask &= pulse_masks[name]
        elif name in tool_of:
            mask &= tool_users[tool_of[name]][:, None]
        if name == "reply_time_hours":
            mask &= has_messages  # no messages, no replies to time
        cube[:, :, j] = values[name]
        observed[:, :, j] = mask
        del values[name]

    # People, weeks and signals come out sorted because the cube is laid out in that order.
    flat = np.flatnonzero(observed.ravel())
    del observed
    value = cube.ravel()[flat]
    del cube
    per_person = n_weeks * n_signals
    person_idx = flat // per_person
    week_idx = (flat % per_person) // n_signals
    signal_idx = flat % n_signals
    del flat
    return pl.DataFrame(
        {
            "person_id": pl.Series(ppl.ids, dtype=pl.String).gather(person_idx),
            "week": pl.Series(cal.mondays[b:], dtype=pl.Date).gather(week_idx),
            "signal": pl.Series(names, dtype=pl.String).gather(signal_idx),
            "value": pl.Series(value, dtype=pl.Float64),
        }
    )


# --------------------------------------------------------------------------------------------------
# Frames


def _events_frame(
    rng: np.random.Generator, ppl: _People, teams: _Teams, latent: _Latent, exits: _Exits, cal: _Calendar
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
        add(who, _weekday_dates(rng, when[who], cal), event)

    leavers = np.flatnonzero(exits.kind >= 0)
    for kind_idx, event in enumerate(_EXIT_KINDS):
        who = leavers[exits.kind[leavers] == kind_idx]
        add(who, _weekday_dates(rng, exits.week[who], cal), event)

    frame = pl.DataFrame(
        {
            "person_id": pl.Series(ppl.ids, dtype=pl.String).gather(np.concatenate(people_parts)),
            "date": pl.Series(np.concatenate(day_parts)).cast(pl.Date),
            "event": pl.Series(EVENT_NAMES, dtype=pl.String).gather(np.concatenate(code_parts)),
        }
    )
    return frame.sort("person_id", "date", "event", maintain_order=True)


def _people_frame(ppl: _People, teams: _Teams, exits: _Exits) -> pl.DataFrame:
    # The team a person is in at the end of their time in the data.
    moved = teams.moved_t < exits.end
    team = np.where(moved, teams.second, teams.first)
    return pl.DataFrame(
        {
            "person_id": pl.Series(ppl.ids, dtype=pl.String),
            "team_id": pl.Series(teams.ids, dtype=pl.String).gather(team),
            "hired_on": pl.Series(ppl.hired_on).cast(pl.Date),
            "audit_gender": pl.Series(_GENDERS, dtype=pl.String).gather(ppl.gender),
            "audit_age_band": pl.Series(_AGE_BANDS, dtype=pl.String).gather(ppl.age_band),
        }
    )


def _truth_frame(ppl: _People, latent: _Latent, exits: _Exits, cal: _Calendar) -> pl.DataFrame:
    b = _BURN_IN
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


def _declines_frame(ppl: _People, latent: _Latent, exits: _Exits, cal: _Calendar) -> pl.DataFrame:
    ep = latent.episodes
    person = np.tile(np.arange(ppl.n), 2)
    start, trough, end = ep.start.ravel(), ep.trough.ravel(), ep.end.ravel()
    last = np.repeat(exits.end[None, :], 2, axis=0).ravel() - 1  # last week with data
    first = np.repeat(ppl.obs_start[None, :], 2, axis=0).ravel()
    # Keep episodes that are under way at some point while the person is in the data.
    keep = (start < _NEVER) & (start <= last) & (end > first)
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
