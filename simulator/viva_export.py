"""A simulated organisation as a Microsoft Viva Insights person query: the export an import starts from.

Pure: the simulator's contract tables in, one wide text-free frame out (the caller writes it as
CSV, which is what Viva Insights downloads). The frame is shaped as a real person query is:

* one row per person and Viva week, `PersonId` and `MetricDate`; a Viva week runs Sunday to
  Saturday and is dated by its Sunday, written month-first without leading zeros (`1/7/2024`).
  The Sunday chosen is the one before the contract week's Monday, so that the importer's rule
  (the Monday of the ISO week holding most of the Viva week's days, `features.viva.viva_week`)
  gives the contract week back;
* one column per signal: the Viva metric or Glint item the catalog knows (`VIVA_NAMES`) where the
  simulator has a signal that means much the same thing, and a name the catalog does not know
  (`OTHER_NAMES`, e.g. "Ideas Proposed (count)") for the rest, as an organisation's own columns
  appended to the query would be; an empty cell where nothing was observed (surveys are sparse);
* the HR attributes a query carries: `Organization` (the team) and the audit attributes.

The events table is not part of a person query: it comes from the HR system as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

from features.names import normalise_signal_name

TEAM_COLUMN = "Organization"
"""The HR attribute a person query names the team by (the importer's default team column)."""

AUDIT_COLUMNS: dict[str, str] = {"audit_gender": "Gender", "audit_age_band": "Age_band"}
"""The people table's audit attributes and the HR attribute columns they are exported as."""

VIVA_NAMES: dict[str, str] = {
    "after_hours_messages": "After_hours_collaboration_hours",
    "chat_messages_sent": "Chat_hours",
    "meetings_attended": "Meetings",
    "pulse.engagement": "eSat",
    "pulse.wellbeing": "Wellbeing",
    "pulse.workload": "Workload",
}
"""Simulator signals with a Viva-like counterpart in features/viva_catalog.toml: the same family and
the same direction, so that the catalog reads the renamed column as it read the original."""

OTHER_NAMES: dict[str, str] = {
    "approval_requests": "Approval Requests (count)",
    "commitments_missed": "Deadlines Missed (count)",
    "ideas_proposed": "Ideas Proposed (count)",
    "kudos_received": "Praise Received (count)",
    "learning_hours": "Learning Time (hours)",
    "open_tickets": "Open Tickets (count)",
    "planned_leave_days": "Leave Taken (days)",
    "priority_changes": "Priority Changes (count)",
    "pulse.autonomy": "Pulse: Autonomy (1-5)",
    "pulse.goal_clarity": "Pulse: Goal Clarity (1-5)",
    "pulse.growth": "Pulse: Growth (1-5)",
    "pulse.recognition": "Pulse: Recognition (1-5)",
    "questions_asked": "Questions Asked (count)",
    "reply_time_hours": "Reply Delay (hours)",
    "short_absence_days": "Unplanned Absence (days)",
    "tickets_created": "Work Items Started (count)",
}
"""Names no catalog knows for the signals Viva has no counterpart for; any other signal (a world's
vendor names, noise signals) is named by `export_column`'s rule."""


def export_column(signal: str) -> str:
    """The person-query column a contract signal is exported as: Viva's name, or another one."""
    if signal in VIVA_NAMES:
        return VIVA_NAMES[signal]
    if signal in OTHER_NAMES:
        return OTHER_NAMES[signal]
    words = [word.capitalize() for word in re.split(r"[^A-Za-z0-9]+", signal) if word]
    return " ".join(words) + " (count)"


def export_columns(signals: Iterable[str]) -> dict[str, str]:
    """Each signal's column, Viva's metrics first; ValueError if two would import as one signal."""
    names = sorted(set(signals), key=lambda s: (s not in VIVA_NAMES, s))
    columns = {signal: export_column(signal) for signal in names}
    imported: dict[str, str] = {}
    for signal, column in columns.items():
        name = normalise_signal_name(column)
        if name in imported:
            raise ValueError(f"signals {imported[name]!r} and {signal!r} would both import as {name!r}")
        imported[name] = signal
    return columns


def viva_sunday(week: pl.Expr) -> pl.Expr:
    """The Sunday that dates the Viva week the importer maps to contract week `week` (a Monday)."""
    return week - pl.duration(days=1)


def viva_person_query(signals: pl.DataFrame, people: pl.DataFrame | None = None) -> pl.DataFrame:
    """The contract's signals (and people's team and audit attributes) as a wide Viva person query.

    Columns: PersonId, MetricDate (text, M/D/YYYY), one Float64 column per signal named by
    `export_columns` (null where the signal was not observed that week), then Organization and the
    audit attributes when `people` is given. One row per person and week that has any signal,
    sorted by person and week. Raises ValueError when a week is not a Monday.
    """
    not_monday = signals.filter(pl.col("week").dt.weekday() != 1)
    if not_monday.height:
        raise ValueError(f"{not_monday.height:,} signal rows have a week that is not a Monday")
    columns = export_columns(signals["signal"].unique().to_list())
    wide = signals.pivot(on="signal", index=["person_id", "week"], values="value").sort("person_id", "week")
    selected = [
        pl.col("person_id").alias("PersonId"),
        viva_sunday(pl.col("week")).dt.strftime("%-m/%-d/%Y").alias("MetricDate"),
        *(pl.col(signal).cast(pl.Float64).alias(column) for signal, column in columns.items()),
    ]
    if people is None:
        return wide.select(selected)
    attributes = {"team_id": TEAM_COLUMN, **{k: v for k, v in AUDIT_COLUMNS.items() if k in people.columns}}
    hr = people.select("person_id", *(pl.col(k).alias(v) for k, v in attributes.items()))
    joined = wide.join(hr, on="person_id", how="left", maintain_order="left")
    return joined.select(*selected, *attributes.values())
