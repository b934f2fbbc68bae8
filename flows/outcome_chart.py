"""A flag's risk per outcome over the weeks ahead as an inline SVG line chart: no library, no script.

Shared by the nightly report (flows.report) and the review page (review.charts wraps it as markup),
in the review charts' style: a title and a description for screen readers, every text from data
escaped, and the outcomes told apart by line pattern and marker as well as by colour.
"""

from __future__ import annotations

from html import escape

from models.flag_records import OutcomeRisks
from models.outcome_words import curve_description, outcome_label

INK = "#1a1a1a"
MUTED = "#5c5c5c"
GRID = "#c8c8c8"
# Dark enough on white (4.5:1 or more) and told apart without colour by their dashes and markers.
LINES = (("#a33b00", ""), ("#1f5f8b", "6 3"), ("#3d6b21", "2 3"), ("#6a3d8f", "8 3 2 3"))


def _nice_top(high: float) -> float:
    """The y axis' top: the next 5% step above the highest risk (at least 5%)."""
    step = 0.05 if high <= 0.5 else 0.1
    return min(1.0, max(step, step * -(-high // step if high > 0 else 1)))


def outcome_curve_svg(curve: OutcomeRisks, chart_id: str, width: int = 360, height: int = 190) -> str:
    """Each outcome's cumulative risk within 4, 8, 12 and 26 weeks (x: weeks ahead, y: risk)."""
    outcomes = list(curve.risks)
    legend_h = 18 * len(outcomes)
    pad_l, pad_r, pad_t, pad_b = 40, 12, 10 + legend_h, 34
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    last = max(curve.weeks)
    top = _nice_top(max((v for values in curve.risks.values() for v in values), default=0.0))

    def x_of(week: float) -> float:
        return pad_l + plot_w * week / last

    def y_of(risk: float) -> float:
        return pad_t + plot_h * (1 - risk / top)

    body = [
        f'<line x1="{pad_l}" x2="{pad_l}" y1="{pad_t}" y2="{pad_t + plot_h}" stroke="{GRID}"/>',
        f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{pad_t + plot_h}" y2="{pad_t + plot_h}" '
        f'stroke="{GRID}"/>',
        f'<text x="{pad_l - 4}" y="{pad_t + 9}" text-anchor="end" font-size="10" fill="{MUTED}">'
        f"{top:.0%}</text>",
        f'<text x="{pad_l - 4}" y="{pad_t + plot_h}" text-anchor="end" font-size="10" fill="{MUTED}">'
        "0%</text>",
        f'<text x="{pad_l + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" font-size="10" '
        f'fill="{MUTED}">weeks ahead</text>',
    ]
    for week in curve.weeks:
        x = x_of(week)
        body.append(
            f'<text x="{x:.1f}" y="{pad_t + plot_h + 13}" text-anchor="middle" font-size="10" '
            f'fill="{MUTED}">{week}</text>'
        )
    if curve.horizon in curve.weeks:
        # The horizon the flag's risk is judged at: where the sentence beside the chart reads.
        x = x_of(curve.horizon)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{pad_t + plot_h}" stroke="{GRID}" '
            'stroke-dasharray="3 3"/>'
        )
    for k, outcome in enumerate(outcomes):
        colour, dashes = LINES[k % len(LINES)]
        points = [(x_of(0), y_of(0.0))] + [
            (x_of(w), y_of(v)) for w, v in zip(curve.weeks, curve.risks[outcome], strict=True)
        ]
        dash = f' stroke-dasharray="{dashes}"' if dashes else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        body += [_marker(k, x, y, colour) for x, y in points[1:]]
        y = 12 + 18 * k
        body += [
            f'<line x1="{pad_l}" x2="{pad_l + 26}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="2"{dash}/>',
            _marker(k, pad_l + 13, y - 4, colour),
            f'<text x="{pad_l + 32}" y="{y}" font-size="12" fill="{INK}">'
            f"{escape(outcome_label(outcome))}</text>",
        ]
    title = f"Risk per outcome over the next {last} weeks"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(curve_description(curve))}</desc>' + "".join(body) + "</svg>"
    )


def _marker(k: int, x: float, y: float, colour: str) -> str:
    """A circle, square, triangle or diamond per outcome: the lines differ without colour too."""
    shape = k % 4
    if shape == 0:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
    if shape == 1:
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{colour}"/>'
    corners = (
        [(x, y - 4), (x + 4, y + 3), (x - 4, y + 3)]
        if shape == 2
        else [(x, y - 4), (x + 4, y), (x, y + 4), (x - 4, y)]
    )
    points = " ".join(f"{px:.1f},{py:.1f}" for px, py in corners)
    return f'<polygon points="{points}" fill="{colour}"/>'
