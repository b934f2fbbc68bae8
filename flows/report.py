"""The nightly run in words: a markdown summary (Prefect artifact) and a static HTML report.

Pure rendering: frames in, text out; the flow writes the files. Pseudonyms only; team counts only
for teams at or above the anonymity threshold (and complementary suppression, see
models.anonymity). The HTML has no external resources: styles and SVG charts are inline, so it
opens offline from the home folder.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from html import escape

import polars as pl

from features.catalog import Catalog
from flows.outcome_chart import outcome_curve_svg
from models.anonymity import suppressed
from models.flag_records import FlagRecord
from models.outcome_words import outcome_label, risk_sentence


@dataclass(frozen=True)
class RunSummary:
    """The facts of one nightly run that every rendering shows."""

    as_of: date
    data_last_week: date
    model_name: str
    model_version: str
    people_scored: int
    capacity: float
    min_risk: float
    threshold: int
    # Sentences the reader must see: a later week passed over, reviewed flags kept on a re-run.
    notes: tuple[str, ...] = ()


def nobody_flagged(run: RunSummary) -> str:
    """The sentence for a night without flags (it is a result, not a failure)."""
    return (
        f"No one was flagged this week: of the {run.people_scored:,} people scored, nobody at or above "
        f"the minimum risk of {run.min_risk:.0%} was free to be flagged (not already under review, in "
        "the cooldown, or past an outcome)."
    )


def visible_teams(teams: pl.DataFrame, threshold: int) -> pl.DataFrame:
    """Team rows that may be shown: at or above the threshold, after complementary suppression."""
    if teams.height == 0:
        return teams
    hidden = suppressed(dict(teams.select("team_id", "people").iter_rows()), threshold)
    return teams.filter(~pl.col("team_id").is_in(sorted(hidden))).sort(
        ["flagged", "team_id"], descending=[True, False]
    )


def leading_family_counts(flags: pl.DataFrame, catalog: Catalog) -> list[tuple[str, int]]:
    """How many flags each family leads, most first, as (family label, count)."""
    counts = Counter(f for f in flags["leading_family"].to_list() if f)
    return [(catalog.family(f).label, n) for f, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def leading_outcome_counts(flags: pl.DataFrame) -> list[tuple[str, int]]:
    """How many flags each outcome leads, most first, as (outcome label, count); none without curves."""
    records = map(FlagRecord.from_row, flags.iter_rows(named=True))
    counts = Counter(r.outcome_risks.leading for r in records if r.outcome_risks is not None)
    return [(outcome_label(o), n) for o, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def markdown_summary(run: RunSummary, flags: pl.DataFrame, teams: pl.DataFrame, catalog: Catalog) -> str:
    """A short markdown summary for the Prefect UI: counts, leading families, teams, model, data."""
    lines = [
        f"# ewarn nightly run for the week of {run.as_of}",
        "",
        f"- **Flags:** {flags.height} of {run.people_scored:,} people scored "
        f"(capacity {run.capacity:.0%}, minimum risk {run.min_risk:.0%})",
        f"- **Model:** ewarn-risk version {run.model_version} ({run.model_name})",
        f"- **Data up to:** the week of {run.data_last_week}",
        *(f"- {note}" for note in (*run.notes, *([nobody_flagged(run)] if flags.height == 0 else []))),
        "",
        "## Leading families",
        "",
    ]
    families = leading_family_counts(flags, catalog)
    lines += [f"- {label}: {n}" for label, n in families] or ["- none"]
    leading = leading_outcome_counts(flags)
    if leading:
        lines += ["", "## Which outcome most of the risk points to", ""]
        lines += [f"- {label}: {n}" for label, n in leading]
    shown = visible_teams(teams, run.threshold)
    lines += [
        "",
        f"## Flags by team (teams of {run.threshold} or more people)",
        "",
        "| team | people | flags |",
        "|---|---:|---:|",
        *(f"| {t} | {p} | {f} |" for t, p, f in shown.select("team_id", "people", "flagged").iter_rows()),
        "",
        f"{teams.height - shown.height} smaller or complementary teams are not shown.",
        "",
        "A flag invites a conversation by a person; it decides nothing.",
    ]
    return "\n".join(lines)


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;
color:#1b1b1b;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{border-bottom:1px solid #d0d0d0;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f1f1}td.num{text-align:right}
.band{font-weight:600}.facts{display:flex;gap:2rem;flex-wrap:wrap}.facts div{min-width:10rem}
.note{color:#444;font-size:.9rem}svg text{font-size:12px;fill:#1b1b1b}
"""


def bar_chart_svg(items: list[tuple[str, int]], title: str, width: int = 560) -> str:
    """A horizontal bar chart as inline SVG, with a text alternative."""
    if not items:
        return f"<p class='note'>{escape(title)}: nothing to show.</p>"
    bar_h, label_w, pad = 22, 190, 6
    top = max(n for _, n in items) or 1
    height = len(items) * (bar_h + pad) + pad
    rows = []
    for i, (label, n) in enumerate(items):
        y = pad + i * (bar_h + pad)
        w = (width - label_w - 50) * n / top
        rows.append(
            f"<text x='{label_w - 8}' y='{y + bar_h * 0.7:.0f}' text-anchor='end'>{escape(label)}</text>"
            f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar_h}' fill='#2f5d8a'/>"
            f"<text x='{label_w + w + 6:.1f}' y='{y + bar_h * 0.7:.0f}'>{n}</text>"
        )
    alt = "; ".join(f"{label}: {n}" for label, n in items)
    return (
        f"<figure><svg role='img' aria-label='{escape(title)}: {escape(alt)}' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>"
        f"{''.join(rows)}</svg><figcaption>{escape(title)}</figcaption></figure>"
    )


OUTCOME_NOTE = """<p class="note">Which outcome: the estimated risk that each outcome comes first within
4, 8, 12 and 26 weeks; within the horizon they add up to the flag's risk. It can help choose what a
supportive conversation is about; it is no certainty about anyone, and it decides nothing.</p>"""


def outcome_cell(flag: FlagRecord, chart_id: str) -> str:
    """The flag's risk per outcome in a sentence and a small chart; empty when the model has none."""
    if flag.outcome_risks is None:
        return ""
    return (
        f"<p>{escape(risk_sentence(flag.outcome_risks))}</p>"
        f"{outcome_curve_svg(flag.outcome_risks, chart_id, width=300, height=170)}"
    )


def html_report(
    run: RunSummary,
    flags: pl.DataFrame,
    reasons: pl.DataFrame,
    teams: pl.DataFrame,
    catalog: Catalog,
) -> str:
    """A self-contained HTML page of the run: facts, charts, flags with reasons, teams."""
    sentences: dict[str, list[str]] = {}
    for flag, sentence in reasons.sort("flag_id", "rank").select("flag_id", "sentence").iter_rows():
        sentences.setdefault(flag, []).append(sentence)
    flag_rows = []
    for flag in map(FlagRecord.from_row, flags.sort("rank").iter_rows(named=True)):
        said = "".join(f"<li>{escape(s)}</li>" for s in sentences.get(flag.flag_id, []))
        family = catalog.family(flag.leading_family).label if flag.leading_family else "none"
        flag_rows.append(
            f"<tr><td class='num'>{flag.rank}</td><td>{escape(flag.person_id)}</td>"
            f"<td>{escape(flag.team_id or '')}</td><td class='band'>{escape(flag.band)}</td>"
            f"<td>{escape(family)}</td><td><ul>{said}</ul></td>"
            f"<td>{escape(flag.prompts[0]) if flag.prompts else ''}</td>"
            f"<td>{outcome_cell(flag, f'outcomes-{flag.rank}')}</td></tr>"
        )
    shown = visible_teams(teams, run.threshold)
    team_rows = "".join(
        f"<tr><td>{escape(t)}</td><td class='num'>{p}</td><td class='num'>{f}</td>"
        f"<td>{escape(', '.join(catalog.family(x).label for x in json.loads(lf)))}</td></tr>"
        for t, p, f, lf in shown.select("team_id", "people", "flagged", "leading_families").iter_rows()
    )
    bands = Counter(flags["band"].to_list())
    band_items = [(b, bands[b]) for b in ("very high", "high", "elevated") if bands.get(b)]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>ewarn nightly report, week of {run.as_of}</title><style>{_STYLE}</style></head>
<body><main>
<h1>ewarn nightly report: week of {run.as_of}</h1>
<p class="note">Each flag invites a supportive conversation by a person; nothing is decided
automatically. Pseudonyms only. Team figures only for teams of {run.threshold} or more people.</p>
<div class="facts">
<div><strong>{flags.height}</strong> flags</div>
<div><strong>{run.people_scored:,}</strong> people scored</div>
<div>model <strong>ewarn-risk v{escape(run.model_version)}</strong> ({escape(run.model_name)})</div>
<div>data up to the week of <strong>{run.data_last_week}</strong></div>
</div>
{"".join(f"<p>{escape(note)}</p>" for note in run.notes)}
{f"<p><strong>{escape(nobody_flagged(run))}</strong></p>" if flags.height == 0 else ""}
<h2>What leads the flags</h2>
{bar_chart_svg(leading_family_counts(flags, catalog), "Flags by leading family")}
{bar_chart_svg(band_items, "Flags by risk band")}
<h2>Flags</h2>
<table><thead><tr><th>#</th><th>pseudonym</th><th>team</th><th>risk band</th><th>leading family</th>
<th>reasons</th><th>a conversation could start with</th><th>which outcome</th></tr></thead>
<tbody>{"".join(flag_rows) or "<tr><td colspan='8'>No flags tonight.</td></tr>"}</tbody></table>
{OUTCOME_NOTE if leading_outcome_counts(flags) else ""}
<h2>Teams</h2>
<table><thead><tr><th>team</th><th>people</th><th>flags</th><th>leading families</th></tr></thead>
<tbody>{team_rows or "<tr><td colspan='4'>No team is large enough to show.</td></tr>"}</tbody></table>
<p class="note">{teams.height - shown.height} smaller or complementary teams are not shown.
Capacity {run.capacity:.0%} of people, minimum risk {run.min_risk:.0%}.</p>
</main></body></html>
"""
