"""Charts as SVG strings made on the server: no chart library, no script, readable without colour.

Each chart carries a title and a description for screen readers; the pages put the same numbers in
a table beside it. Every text that comes from data is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from flows.outcome_chart import outcome_curve_svg
from models.flag_records import OutcomeRisks

RAISES = "#a33b00"  # dark orange, 6.4:1 on white
LOWERS = "#1f5f8b"  # dark blue, 6.8:1 on white
INK = "#1a1a1a"
MUTED = "#5c5c5c"
GRID = "#c8c8c8"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if math.isfinite(value) else "0"


def _signed(value: float) -> str:
    text = f"{value:+.2f}"
    return "0.00" if text in ("+0.00", "-0.00") else text


def _svg(width: int, height: int, chart_id: str, title: str, desc: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def family_bars(
    families: Sequence[Mapping[str, Any]], chart_id: str = "families", width: int = 560
) -> Markup:
    """Horizontal bars of SHAP contributions by family around a zero line (right: raises risk).

    `families` is `flags.families`: [{"family", "label", "contribution"}]. Bars are drawn largest
    first; each carries its signed value as text, so the direction does not rest on colour alone.
    """
    rows = sorted(families, key=lambda f: -float(f.get("contribution") or 0.0))
    if not rows:
        return _svg(width, 30, chart_id, "No contributions", "", [])
    label_w, value_w, row_h, top = 170, 56, 22, 24
    height = top + row_h * len(rows) + 8
    plot_w = width - label_w - 2 * value_w
    largest = max(abs(float(f.get("contribution") or 0.0)) for f in rows) or 1.0
    low = min(0.0, min(float(f.get("contribution") or 0.0) for f in rows))
    # Zero sits where the negative share of the range ends, so positive bars get most of the room.
    negative_share = -low / (largest - low) if largest > low else 0.0
    zero_x = label_w + value_w + plot_w * negative_share
    scale = plot_w / (largest - low if largest > low else 1.0)
    body = [
        f'<text x="{zero_x:.1f}" y="14" text-anchor="middle" font-size="12" fill="{MUTED}">'
        "← lowers risk · raises risk →</text>",
        f'<line x1="{zero_x:.1f}" x2="{zero_x:.1f}" y1="{top - 4}" y2="{height - 4}" stroke="{INK}"/>',
    ]
    for i, family in enumerate(rows):
        value = float(family.get("contribution") or 0.0)
        y = top + i * row_h
        bar_w = abs(value) * scale
        x = zero_x if value >= 0 else zero_x - bar_w
        colour = RAISES if value >= 0 else LOWERS
        label = escape(family.get("label") or family.get("family") or "")
        text_x = zero_x + bar_w + 4 if value >= 0 else zero_x - bar_w - 4
        anchor = "start" if value >= 0 else "end"
        body += [
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="13" fill="{INK}">'
            f"{label}</text>",
            f'<rect x="{x:.1f}" y="{y + 4}" width="{max(bar_w, 1):.1f}" height="{row_h - 8}" '
            f'fill="{colour}"/>',
            f'<text x="{text_x:.1f}" y="{y + 15}" text-anchor="{anchor}" font-size="12" fill="{INK}">'
            f"{_signed(value)}</text>",
        ]
    leading = ", ".join(str(f.get("label") or f.get("family")) for f in rows[:3])
    return _svg(
        width,
        height,
        chart_id,
        "What drives the risk estimate, by family",
        f"Contributions to the risk estimate (SHAP, log-odds) by family; the largest are {leading}.",
        body,
    )


def signal_line(series: Mapping[str, Any], chart_id: str, width: int = 300, height: int = 120) -> Markup:
    """A small line chart of one signal's last weeks against the person's own normal (dashed).

    `series` is one entry of `flags.series`. Missing weeks break the line rather than being drawn
    through; a survey answered every other week shows as dots.
    """
    values: list[float | None] = [None if v is None else float(v) for v in series.get("values") or []]
    weeks: list[str] = list(series.get("weeks") or [])
    normal = series.get("normal")
    label = str(series.get("label") or series.get("signal") or "")
    unit = str(series.get("unit") or "")
    known = [v for v in values if v is not None and math.isfinite(v)]
    pad_l, pad_r, pad_t, pad_b = 36, 8, 8, 20
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    if not known:
        return _svg(width, height, chart_id, f"{label}: no values", "No values in these weeks.", [])
    span = [*known, float(normal)] if normal is not None else known
    low, high = min(span), max(span)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    margin = (high - low) * 0.1
    low, high = low - margin, high + margin
    n = max(len(values), 2)

    def x_of(i: int) -> float:
        return pad_l + plot_w * i / (n - 1)

    def y_of(v: float) -> float:
        return pad_t + plot_h * (1 - (v - low) / (high - low))

    body = [
        f'<line x1="{pad_l}" x2="{pad_l}" y1="{pad_t}" y2="{pad_t + plot_h}" stroke="{GRID}"/>',
        f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{pad_t + plot_h}" y2="{pad_t + plot_h}" '
        f'stroke="{GRID}"/>',
        f'<text x="{pad_l - 4}" y="{pad_t + 9}" text-anchor="end" font-size="10" fill="{MUTED}">'
        f"{_num(high)}</text>",
        f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" text-anchor="end" font-size="10" fill="{MUTED}">'
        f"{_num(low)}</text>",
    ]
    if weeks:
        body += [
            f'<text x="{pad_l}" y="{height - 5}" font-size="10" fill="{MUTED}">{escape(weeks[0])}</text>',
            f'<text x="{width - pad_r}" y="{height - 5}" text-anchor="end" font-size="10" fill="{MUTED}">'
            f"{escape(weeks[-1])}</text>",
        ]
    if normal is not None:
        y = y_of(float(normal))
        body.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" stroke="{MUTED}" '
            'stroke-width="1.5" stroke-dasharray="5 4"/>'
        )
    segments: list[list[tuple[float, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((x_of(i), y_of(v)))
    for points in segments:
        if len(points) >= 2:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{LOWERS}" stroke-width="2"/>')
    for points in segments:
        if len(points) == 1:
            x, y = points[0]
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{LOWERS}"/>')
    last = known[-1]
    normal_text = f", own normal {_num(float(normal))}" if normal is not None else ""
    desc = (
        f"{label} ({unit}) over {len(values)} weeks: lowest {_num(min(known))}, highest {_num(max(known))}, "
        f"latest {_num(last)}{normal_text}. Dashed line: own normal."
    )
    return _svg(width, height, chart_id, f"{label}, last {len(values)} weeks", desc, body)


def trend_line(shares: Sequence[float | None], chart_id: str, width: int = 120, height: int = 28) -> Markup:
    """A tiny line of a team's share flagged over recent runs (missing where the team was hidden)."""
    known = [s for s in shares if s is not None]
    if not known:
        return _svg(width, height, chart_id, "No trend", "No runs with numbers to show.", [])
    high = max(max(known), 0.01)
    n = max(len(shares), 2)
    points = [
        (2 + (width - 4) * i / (n - 1), height - 3 - (height - 6) * s / high)
        for i, s in enumerate(shares)
        if s is not None
    ]
    body = [f'<line x1="2" x2="{width - 2}" y1="{height - 3}" y2="{height - 3}" stroke="{GRID}"/>']
    if len(points) >= 2:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{LOWERS}" stroke-width="2"/>')
    body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{LOWERS}"/>' for x, y in points[-1:]]
    text = ", ".join("hidden" if s is None else f"{s:.0%}" for s in shares)
    return _svg(width, height, chart_id, "Share flagged over recent runs", f"Oldest to newest: {text}.", body)


def outcome_lines(curve: OutcomeRisks, chart_id: str = "outcomes") -> Markup:
    """Each outcome's cumulative risk over the weeks ahead (flows.outcome_chart: shared with the report)."""
    # The SVG escapes every text from data itself; it is made on the server, as the charts above.
    return Markup(outcome_curve_svg(curve, chart_id))
