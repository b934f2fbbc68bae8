"""The signals: noisy weekly views of motivation and of its drivers, through holidays, leave, sparse
surveys and tools not everyone uses.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from simulator.constants import (
    BURN_IN,
    EXTRA_NOISE_SIGNALS,
    GOAL,
    GROWTH,
    MICRO,
    REC,
    SIGNALS,
    SURVEY_SIGNALS,
    WORK,
)
from simulator.motivation import Exits, Latent
from simulator.population import Calendar, People, Teams
from simulator.worlds import World


def _poisson(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    return rng.poisson(np.clip(lam, 0.0, 1e6)).astype(float)


def simulate_signals(
    rng: np.random.Generator,
    ppl: People,
    teams: Teams,
    latent: Latent,
    exits: Exits,
    cal: Calendar,
    world: World,
) -> pl.DataFrame:
    """The `signals` table of the data weeks: one row per person, week and signal observed."""
    n, n_weeks, b = ppl.n, cal.n_weeks, BURN_IN
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
    logit = base + cal.flu[None, b:] - 0.7 * np.minimum(gap, 0.3) + 0.9 * c[WORK] + 0.5 * in_notice
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

    values["kudos_received"] = count(2.2, 0.8, 0.25, 0.15, drivers=((REC, -1.0),))
    values["priority_changes"] = count(1.5, 0.7, 0.3, 0.0, drivers=((GOAL, 0.8),))
    values["approval_requests"] = count(2.5, 0.8, 0.3, 0.0, drivers=((MICRO, 0.85),))
    values["after_hours_messages"] = count(4.0, 1.0, 0.35, -0.05, drivers=((WORK, 0.8),))
    values["meetings_attended"] = count(9.0, 0.7, 0.15, 0.22)
    values["chat_messages_sent"] = count(55.0, 0.8, 0.25, 0.30)
    values["questions_asked"] = count(5.0, 0.8, 0.2, 0.45)
    values["ideas_proposed"] = count(1.0, 0.9, 0.25, 0.55)
    values["tickets_created"] = count(5.0, 0.7, 0.25, 0.30)
    values["commitments_missed"] = count(0.4, 0.7, 0.3, -0.5, drivers=((WORK, 0.4),))
    values["docs_viewed"] = count(15.0, 0.8, 0.3)
    values["wiki_edits"] = count(0.7, 1.0, 0.4)

    # Open tickets are a stock, not a flow: slow-moving, and they stay assigned during leave.
    level = np.log(6.0) + rng.normal(0.0, 0.7, n)
    drift = np.empty((n, n_weeks))
    state = rng.normal(0.0, 0.2, n)
    for t in range(n_weeks):
        state = 0.7 * state + rng.normal(0.0, 0.15, n)
        drift[:, t] = state
    values["open_tickets"] = _poisson(rng, np.exp(level[:, None] + drift + 0.6 * c[WORK] - 0.1 * g))

    # Learning comes in lumps: many weeks near zero, some with a course.
    level = np.log(1.5) + rng.normal(0.0, 0.8, n)[:, None]
    lump = rng.gamma(0.8, 1.0 / 0.8, (n, n_weeks))
    hours = np.exp(level + 0.2 * g - 1.2 * c[GROWTH]) * lump * avail * act
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
        "pulse.recognition": (0.15, ((REC, -1.1),)),
        "pulse.goal_clarity": (0.15, ((GOAL, -1.1),)),
        "pulse.autonomy": (0.15, ((MICRO, -1.1),)),
        "pulse.growth": (0.15, ((GROWTH, -1.1),)),
        "pulse.workload": (0.10, ((WORK, -1.2),)),
        "pulse.engagement": (0.55, ()),
        "pulse.wellbeing": (0.45, ((WORK, -0.5),)),
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
