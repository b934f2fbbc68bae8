"""A family of simulated worlds: the mechanisms of an organisation, drawn per world seed.

`simulate_organisation` draws its *people* from a people seed; a `World` fixes the *mechanisms* they
live under: whether and how far a cause's own signals lead the symptoms, the shapes declines take,
where the outcome risk comes from, how surveys go out and are answered, team sizes and shocks, which
tools exist and who uses them, the signal names, notice periods and the gap before a long-term sick
leave is registered. `DEFAULT_WORLD` is the world the project was developed on; `draw_world(seed)`
draws another one.

Models are judged on two fixed sets of world seeds. Features, learners and settings may be chosen
on `DEVELOPMENT_WORLDS` only; `RESERVED_WORLDS` are for judging, never for choosing, so that their
figures say how the model does on an organisation nobody tuned it to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEVELOPMENT_WORLDS: tuple[int, ...] = (101, 102, 103, 104, 105, 106, 107, 108)
"""World seeds on which features, learners and settings may be chosen."""

RESERVED_WORLDS: tuple[int, ...] = (9001, 9002, 9003, 9004, 9005, 9006, 9007, 9008)
"""World seeds that judge only: no choice may be made on them."""

TOOL_USE: tuple[tuple[str, float], ...] = (
    ("chat", 0.85),
    ("tickets", 0.80),
    ("kudos", 0.75),
    ("calendar", 0.97),
    ("learning", 0.70),
    ("approvals", 0.80),
    ("forum", 0.85),
    ("wiki", 0.90),
    ("badge", 0.70),
)
"""Share of people using each tool in the default world (0 means the tool does not exist)."""

VENDOR_NAMES: tuple[tuple[str, str], ...] = (
    ("chat_messages_sent", "messages_posted"),
    ("tickets_created", "issues_opened"),
    ("questions_asked", "forum_questions"),
    ("meetings_attended", "calendar_events_accepted"),
    ("kudos_received", "appreciations_received"),
    ("docs_viewed", "pages_read"),
)
"""Names another vendor's export might use for a signal; a world may rename some of them."""

RISK_SOURCES: tuple[str, ...] = ("long", "dip", "level", "change")
"""Where outcome risk comes from: a long decline (strain built up over months), a short dip below
the person's own normal, the motivation level itself, or its fall over the last four weeks."""


@dataclass(frozen=True)
class World:
    """The mechanisms of one simulated organisation. The defaults are the development world.

    Week ranges are half-open (low, high) as numpy draws them: (3, 9) means 3 to 8 weeks.
    """

    seed: int | None = None
    # Causes: how many weeks a driver's own signals move before motivation slides, and how strongly.
    driver_lead_weeks: tuple[int, int] = (3, 9)
    driver_visibility: float = 1.0
    # Decline shapes: creeping slides, a share of sudden drops, recovery and recurrence.
    decline_rate: float = 0.155
    fall_weeks: tuple[int, int] = (4, 31)
    slide_power: float = 1.3
    depth: tuple[float, float] = (0.6, 2.3)
    sudden_share: float = 0.0
    recover_share: float = 0.45
    recovery_weeks: tuple[int, int] = (4, 17)
    relapse_rate: float = 0.155
    # Outcome risk: weights of RISK_SOURCES, and the share of decline outcomes that are sick leave.
    risk_weights: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    workload_sick_share: float = 0.6
    # Surveys: a pulse every `survey_every` weeks per team, some people never answer.
    survey_every: int = 2
    survey_never_share: float = 0.07
    survey_response: float = 1.0
    # Teams: the most common size and the spread around it; shocks per team-year.
    team_size_centre: float = 7.5
    team_size_width: float = 4.0
    team_shock_rate: float = 0.35
    shock_negative_share: float = 0.55
    # Tools and signals.
    tool_use: tuple[tuple[str, float], ...] = TOOL_USE
    extra_noise_signals: int = 0
    renamed: tuple[tuple[str, str], ...] = ()
    # Exits: weeks of notice after a resignation; weeks without data before sick leave is registered.
    notice_weeks: tuple[int, int] = (4, 9)
    sick_gap_weeks: tuple[int, int] = (0, 1)

    @property
    def label(self) -> str:
        """A short name for reports: "default" or "world <seed>"."""
        return "default" if self.seed is None else f"world {self.seed}"

    def tool_share(self, tool: str) -> float:
        """Share of people who use `tool` (0 when the tool does not exist in this world)."""
        return dict(self.tool_use)[tool]


DEFAULT_WORLD = World()
"""The world the project was developed on: `simulate_organisation` without a world uses it."""


def draw_world(seed: int) -> World:
    """Draw the mechanisms of a world from its seed; the same seed always gives the same world."""
    rng = np.random.default_rng([seed, 30])
    lead_low = int(rng.choice([1, 1, 2, 3, 5]))  # 1: the cause shows no earlier than the symptoms
    lead = (lead_low, lead_low + int(rng.integers(1, 9)))
    fall_high = int(rng.choice([12, 20, 31, 45]))
    risk = rng.dirichlet([2.0, 1.0, 1.0, 1.0])
    survey_every = int(rng.choice([1, 2, 2, 4]))
    tools = []
    for tool, share in TOOL_USE:
        exists = tool == "calendar" or rng.random() > 0.12
        tools.append((tool, float(np.clip(share * rng.uniform(0.6, 1.15), 0.0, 1.0)) if exists else 0.0))
    renames = [pair for pair in VENDOR_NAMES if rng.random() < 0.2]
    notice_low = int(rng.choice([1, 2, 4]))
    return World(
        seed=seed,
        driver_lead_weeks=lead,
        driver_visibility=float(rng.uniform(0.35, 1.2)),
        decline_rate=float(rng.uniform(0.1, 0.25)),
        fall_weeks=(4, fall_high),
        slide_power=float(rng.uniform(0.7, 2.0)),
        depth=(float(rng.uniform(0.4, 0.8)), float(rng.uniform(1.5, 2.6))),
        sudden_share=float(rng.choice([0.0, rng.uniform(0.1, 0.5)])),
        recover_share=float(rng.uniform(0.2, 0.7)),
        recovery_weeks=(2, int(rng.integers(8, 25))),
        relapse_rate=float(rng.uniform(0.1, 0.6)),
        risk_weights=tuple(float(w) for w in risk),  # type: ignore[arg-type]
        workload_sick_share=float(rng.uniform(0.4, 0.8)),
        survey_every=survey_every,
        survey_never_share=float(rng.uniform(0.02, 0.25)),
        survey_response=float(rng.uniform(0.2, 1.6)),
        team_size_centre=float(rng.uniform(5.0, 11.0)),
        team_size_width=float(rng.uniform(2.5, 6.0)),
        team_shock_rate=float(rng.uniform(0.1, 0.8)),
        shock_negative_share=float(rng.uniform(0.4, 0.75)),
        tool_use=tuple(tools),
        extra_noise_signals=int(rng.integers(0, 4)),
        renamed=tuple(renames),
        notice_weeks=(notice_low, notice_low + int(rng.integers(3, 10))),
        sick_gap_weeks=(0, int(rng.choice([1, 3, 7]))),
    )


def world_for(seed: int | None) -> World:
    """`DEFAULT_WORLD` for None, else the world drawn from `seed`."""
    return DEFAULT_WORLD if seed is None else draw_world(seed)
