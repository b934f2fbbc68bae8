"""Server-made SVG charts and the model card's markdown: well-formed, escaped, honest about gaps."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from review.app import render_markdown
from review.charts import family_bars, signal_line, trend_line

pytestmark = pytest.mark.code

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def test_family_bars_draw_one_bar_per_family_with_signed_values() -> None:
    families = [
        {"family": "recognition", "label": "Recognition", "contribution": 0.8},
        {"family": "workload", "label": "Workload", "contribution": -0.3},
        {"family": "growth", "label": "Growth", "contribution": 0.1},
    ]
    root = parse(family_bars(families))
    assert root.get("role") == "img" and root.find(f"{SVG}title") is not None
    assert len(root.findall(f"{SVG}rect")) == 3
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "+0.80" in texts and "-0.30" in texts
    # Largest first, whatever the input order.
    labels = [t for t in texts if t in ("Recognition", "Workload", "Growth")]
    assert labels == ["Recognition", "Growth", "Workload"]


def test_labels_from_data_are_escaped() -> None:
    svg = family_bars([{"family": "x", "label": "<script>alert(1)</script>", "contribution": 0.5}])
    assert "<script>" not in str(svg)
    parse(svg)


def test_signal_line_breaks_at_missing_weeks_and_draws_the_own_normal_dashed() -> None:
    series = {
        "signal": "questions_asked",
        "label": "Questions asked",
        "unit": "a week",
        "weeks": [f"2025-01-{d:02d}" for d in range(1, 8)],
        "values": [5.0, 5.5, None, 4.0, 3.0, None, 2.0],
        "normal": 5.2,
    }
    root = parse(signal_line(series, "s0"))
    assert len(root.findall(f"{SVG}polyline")) == 2  # two runs of known weeks
    assert len(root.findall(f"{SVG}circle")) == 1  # a lone week as a dot
    dashed = [line for line in root.findall(f"{SVG}line") if line.get("stroke-dasharray")]
    assert len(dashed) == 1
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "own normal 5.2" in (desc.text or "")


def test_signal_line_without_values_says_so() -> None:
    root = parse(signal_line({"label": "Kudos", "values": [None, None], "normal": None}, "s1"))
    assert "no values" in (root.find(f"{SVG}title").text or "")  # type: ignore[union-attr]


def test_trend_line_leaves_hidden_runs_out() -> None:
    root = parse(trend_line([0.1, None, 0.2, 0.15], "t0"))
    assert "hidden" in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


def test_markdown_card_escapes_html_and_moves_headings_down() -> None:
    html = render_markdown("# Model card\n\n<script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<h3>Model card</h3>" in html and "<h1>" not in html
    assert "<table>" in html
