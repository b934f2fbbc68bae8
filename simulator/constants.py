"""The simulated organisation's names and numbers: drivers, events, signals, shares and base rates.

Shared by every stage of the simulation; `simulator.organisation` runs the stages in order.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

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
REC, GOAL, MICRO, GROWTH, WORK = range(5)
DRIVER_SHARE = np.array([0.22, 0.20, 0.18, 0.18, 0.22])

# Weeks simulated before the data starts, so that week one already holds declines in progress and
# the outcome rate does not start from an unrealistically healthy organisation.
BURN_IN = 30
NEVER = 1_000_000  # sentinel week index for "does not happen"
WEEKDAY_OFFSET = np.array([0, 1, 2, 3, 4])

AGE_BANDS = ("<25", "25-34", "35-44", "45-54", "55+")
AGE_MIN = np.array([19, 25, 35, 45, 55])
AGE_SHARE_STAFF = np.array([0.08, 0.28, 0.28, 0.22, 0.14])
AGE_SHARE_HIRES = np.array([0.25, 0.40, 0.20, 0.10, 0.05])
GENDERS = ("female", "male", "non_binary", "undisclosed")
GENDER_SHARE = np.array([0.48, 0.47, 0.015, 0.035])

# Yearly base rates (converted to weekly hazards below).
RATE_BENIGN_STRESS = 0.08  # busy spells that move driver signals without hurting motivation
RATE_RESIGN_NOISE = 0.030  # resignations without any decline (a better offer, a partner's move)
RATE_SICK_NOISE = 0.009  # long-term sick leave without any decline (illness, accident)
RATE_RELOCATED = 0.008
RATE_PROMOTED = 0.06
RATE_ROLE_CHANGED = 0.04
RATE_TEAM_CHANGED = 0.05
