"""Latent motivation: each person's own normal, decline episodes with their drivers, team shocks and
short boosts, and the exits (outcomes and unrelated ones) that follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.constants import (
    DRIVER_SHARE,
    GOAL,
    MICRO,
    NEVER,
    RATE_BENIGN_STRESS,
    RATE_PROMOTED,
    RATE_RELOCATED,
    RATE_RESIGN_NOISE,
    RATE_ROLE_CHANGED,
    RATE_SICK_NOISE,
    REC,
    WORK,
)
from simulator.population import Calendar, People, Teams, first_week, weekday_dates
from simulator.worlds import World


@dataclass(frozen=True)
class _Episodes:
    """Up to two decline episodes per person (slot 0, slot 1); start == NEVER means none."""

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
        return np.where(self.recover, self.trough + self.recovery, NEVER)


@dataclass(frozen=True)
class Latent:
    """Everything about motivation a model never sees: per person, or per person and week."""

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
    ppl: People,
    n_total: int,
    trigger_t: np.ndarray,
    trigger_driver: np.ndarray,
    world: World,
) -> _Episodes:
    n = ppl.n
    # New hires have a honeymoon of a few weeks before a decline can begin.
    earliest = np.where(ppl.is_new_hire, ppl.hire_t + 6, 0)
    start0 = first_week(rng, earliest, world.decline_rate)
    driver0 = rng.choice(5, n, p=DRIVER_SHARE)
    # A bad manager change or reorganisation can set a decline off earlier than chance would.
    triggered = trigger_t < start0
    start0 = np.where(triggered, trigger_t, start0)
    driver0 = np.where(triggered, trigger_driver, driver0)
    slot0 = _episode_slot(rng, start0, driver0, n, world)
    _, lead0, fall0, _, recover0, recovery0, _ = slot0

    # A second episode is possible only after the first one has fully reverted.
    end0 = np.where(recover0, start0 + lead0 + fall0 + recovery0, NEVER)
    start1 = np.where(
        end0 < n_total, first_week(rng, np.minimum(end0, n_total) + 4, world.relapse_rate), NEVER
    )
    slot1 = _episode_slot(rng, start1, rng.choice(5, n, p=DRIVER_SHARE), n, world)

    stacked = [np.stack([a, b]) for a, b in zip(slot0, slot1, strict=True)]
    start = np.where(stacked[0] < n_total, stacked[0], NEVER)
    return _Episodes(start, *stacked[1:])


def simulate_motivation(
    rng: np.random.Generator, ppl: People, teams: Teams, cal: Calendar, world: World
) -> Latent:
    """Each person's weekly motivation: their normal, wobble, team shocks, boosts and declines."""
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
    trigger_t = np.full(n, NEVER)
    trigger_driver = np.zeros(n, dtype=np.int64)
    shock_members: list[np.ndarray] = []
    shock_day = weekday_dates(rng, teams.shock_t, cal)
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
                [MICRO, GOAL, REC], int(earlier.sum()), p=[0.5, 0.35, 0.15]
            )

    # A honeymoon for new hires, boosts after a promotion or a new role (they fade).
    since_hire = tt - ppl.hire_t[:, None]
    shifts += np.where(ppl.is_new_hire[:, None] & (since_hire >= 0), 0.25 * np.exp(-since_hire / 10.0), 0.0)
    context_weeks = []
    for rate, mean, spread in ((RATE_PROMOTED, 0.35, 0.1), (RATE_ROLE_CHANGED, 0.05, 0.25)):
        when = first_week(rng, ppl.obs_start + 4, rate)
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
    b_start = first_week(rng, ppl.hire_t + 1, RATE_BENIGN_STRESS)
    b_len = rng.integers(3, 13, n)
    b_strength = rng.uniform(0.4, 0.9, n)
    b_driver = rng.choice(5, n, p=DRIVER_SHARE)
    rel = tt - b_start[:, None]
    spell = np.where((rel >= 0) & (rel < b_len[:, None]), b_strength[:, None], 0.0)
    for d in range(5):
        intensity[d] = np.maximum(intensity[d], np.where(b_driver[:, None] == d, spell, 0.0))

    motivation = normal[:, None] + wobble + shifts - decline
    return Latent(
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
class Exits:
    """Who leaves, how (an index into EXIT_KINDS) and when, and from when they are on notice."""

    kind: np.ndarray  # index into EXIT_KINDS, -1 for people still employed at the end
    week: np.ndarray  # week of the exit event (NEVER if none)
    end: np.ndarray  # first week without data (the calendar length if the person stays)
    notice_from: np.ndarray  # first week of the notice period (NEVER if none)
    strain: np.ndarray  # (P, T) strain built up by a long stay far below the own normal


EXIT_KINDS = ("resigned", "long_term_sick_leave", "contract_ended", "retired", "relocated")


def _pressure(excess: np.ndarray, scale: float) -> np.ndarray:
    """0..1: little for a small excess, most of the way to 1 once it is several `scale`s."""
    return (1.0 - np.exp(-np.maximum(excess, 0.0) / scale)) ** 3


def _risk_pressure(latent: Latent, strain: np.ndarray, world: World) -> np.ndarray:
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


def simulate_exits(
    rng: np.random.Generator, ppl: People, latent: Latent, cal: Calendar, world: World
) -> Exits:
    """Resignations and sick leave, more likely the longer motivation stays low; unrelated exits."""
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
        latent.driver == WORK, world.workload_sick_share, np.where(latent.driver >= 0, 0.15, 0.3)
    )

    fine = latent.gap > -0.5  # unrelated exits happen to people whose motivation is normal
    young = ppl.age_band == 0
    contract_rate = np.where(young, 0.05, 0.006) + np.where(ppl.is_new_hire, 0.03, 0.0)
    retire_rate = np.where(ppl.age_band == 4, 0.09, 0.0)
    hazards = np.stack(
        [
            from_strain * (1.0 - sick_share) + RATE_RESIGN_NOISE / 52 * propensity[:, None],
            from_strain * sick_share + np.full((n, 1), RATE_SICK_NOISE / 52),
            np.where(fine, contract_rate[:, None] / 52, 0.0),
            np.where(fine, retire_rate[:, None] / 52, 0.0),
            np.where(fine, RATE_RELOCATED / 52, 0.0),
        ]
    )
    # Exits only in the data window, and never in a person's first observed week.
    tt = np.arange(n_total)[None, :]
    window = tt > ppl.obs_start[:, None]
    total = hazards.sum(axis=0) * window
    hit = rng.random((n, n_total)) < total
    has = hit.any(axis=1)
    week = np.where(has, hit.argmax(axis=1), NEVER)
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
    notice_from = np.where(kind == 0, week, NEVER)
    return Exits(kind, week, end, notice_from, strain)
