"""HTML for the governance documents: a subject-access copy, the works-council report, the notice.

Pure rendering: dicts in, one self-contained page out (styles inline, no script, nothing fetched),
so each opens offline and can be mailed or printed as it is. Every value is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from flows.report import _STYLE, bar_chart_svg
from models.fairness import RATE_COLUMNS, format_value
from models.notice import Section


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><main>\n<h1>{escape(title)}</h1>\n{body}\n</main></body></html>\n"
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>"
        f"{body or f'<tr><td colspan={len(headers)}>{escape(empty)}</td></tr>'}</tbody></table>"
    )


def _paragraphs(texts: Iterable[str]) -> str:
    return "".join(f"<p>{escape(t)}</p>" for t in texts)


def _list(items: Iterable[str]) -> str:
    inner = "".join(f"<li>{escape(i)}</li>" for i in items)
    return f"<ul>{inner}</ul>" if inner else ""


def _signal_line(signal: Mapping[str, Any]) -> str:
    values = ", ".join("–" if v is None else f"{v:g}" for v in signal.get("values", []))
    normal = signal.get("normal")
    usual = f"; your usual: {normal:g}" if isinstance(normal, int | float) else ""
    return f"{signal.get('label', signal.get('signal', ''))}, last weeks: {values}{usual}"


def subject_access_html(record: Mapping[str, Any]) -> str:
    """One person's subject-access copy as a page (the JSON form holds the same, unabridged)."""
    parts = [
        f"<p class='note'>Everything ewarn holds about pseudonym <strong>{escape(record['pseudonym'])}"
        f"</strong>, made {escape(record['generated_at'])}. Teams and other people are left out.</p>",
        "<h2>How flags are made</h2>",
        _paragraphs(record["how_flags_are_made"]),
        f"<h2>Flags ({len(record['flags'])})</h2>",
    ]
    if not record["flags"]:
        parts.append("<p>ewarn holds no flag about you.</p>")
    for flag in record["flags"]:
        model = flag["model"]
        parts += [
            f"<h3>Week of {escape(flag['week'])}: {escape(flag['risk_band'])}</h3>",
            _list(
                [
                    f"Estimated risk {flag['estimated_risk']:.2f}; leading theme: "
                    f"{flag['leading_family'] or 'none'}.",
                    f"Status: {flag['status']}.",
                    f"Model {model['name']} version {model['version']}, data up to the week of "
                    f"{flag['data_up_to_week']}.",
                ]
            ),
            "<p>Reasons:</p>",
            _list(r["sentence"] for r in flag["reasons"]),
            "<p>Suggested questions for a conversation:</p>",
            _list(flag["conversation_prompts"]),
            "<p>Signals behind the reasons:</p>",
            _list(_signal_line(s) for s in flag["signals"]),
        ]
    parts += [
        f"<h2>Decisions and notes ({len(record['decisions'])})</h2>",
        _table(
            ["flag week", "decision", "note", "by", "when"],
            (
                [d["flag_week"] or "(flag no longer held)", d["decision"], d["note"], d["by"], d["at"]]
                for d in record["decisions"]
            ),
            "No decision was recorded.",
        ),
        f"<h2>Who looked at your flags ({len(record['access'])})</h2>",
        _table(
            ["when", "who", "what", "flag week"],
            ([a["at"], a["who"], a["what"], a["flag_week"] or ""] for a in record["access"]),
            "Nobody has opened a flag page about you.",
        ),
        "<h2>Data ewarn reads about you</h2>",
        _paragraphs([record["data_read"].get("note", "")]),
        _table(
            ["signal", "weeks with a value", "first week", "last week"],
            (
                [s["label"], s["weeks"], s["first_week"], s["last_week"]]
                for s in record["data_read"].get("signals", [])
            ),
            "None.",
        ),
        _list(f"Event {e['event']} on {e['date']}" for e in record["data_read"].get("events", [])),
        "<h2>Opt-out and erasure</h2>",
        _paragraphs(
            [
                "You are on the opt-out list: no run reads, scores or learns from your data."
                if record["opt_out_listed"]
                else "You are not on the opt-out list.",
                f"Your flags and decisions were erased on {record['erased_at']}."
                if record["erased_at"]
                else "Nothing was erased.",
            ]
        ),
    ]
    return _page("What ewarn holds about you", "\n".join(parts))


def _fairness_html(fairness: Mapping[str, Any] | None) -> str:
    if not fairness:
        return "<p>No fairness audit is recorded for the model in use.</p>"
    parts = [_paragraphs([fairness.get("note") or "", str(fairness.get("headline", ""))])]
    for attribute, audit in (fairness.get("attributes") or {}).items():
        rows = [
            [g["group"], "suppressed", *["—"] * len(RATE_COLUMNS)]
            if g.get("suppressed")
            else [g["group"], format_value(g.get("people")), *(format_value(g.get(c)) for c in RATE_COLUMNS)]
            for g in audit.get("groups", [])
        ]
        parts += [
            f"<h3>{escape(attribute)}</h3>",
            _table(["group", "people", *(c.replace("_", " ") for c in RATE_COLUMNS)], rows, "No group."),
            f"<p class='note'>Lowest over highest flag rate: {format_value(audit.get('flag_rate_ratio'))} "
            "(four-fifths rule: 0.8).</p>",
        ]
    parts.append(_list(fairness.get("warnings") or []))
    return "".join(parts)


def works_council_html(summary: Mapping[str, Any]) -> str:
    """The works council's report: aggregates only, as a page."""
    policy, period = summary["policy"], summary["period"]
    months = summary["monthly"]
    decisions, teams, retention = summary["decisions"], summary["teams"], summary["retention"]
    threshold = policy["anonymity_threshold"]
    parts = [
        f"<p class='note'>Made {escape(summary['generated_at'])} for the works council and the "
        "data-protection officer. Aggregates only: no pseudonym, no note; teams of fewer than "
        f"{threshold} people are hidden, and so is the next-smallest wherever a hidden team could be "
        "worked out from the total.</p>",
        "<div class='facts'>"
        f"<div>flags: weeks <strong>{escape(str(period['flags_from']))}</strong> to "
        f"<strong>{escape(str(period['flags_until']))}</strong></div>"
        f"<div>decisions and access: <strong>{escape(period['clock_from'])}</strong> to "
        f"<strong>{escape(period['clock_until'])}</strong></div></div>",
        "<h2>Flags per month</h2>",
        bar_chart_svg([(m["month"], int(m["flags"])) for m in months], "Flags per month"),
        _table(
            ["month", "nightly runs", "people scored (mean)", "flags", "flags per 100 person-weeks"],
            ([m["month"], m["runs"], m["people"], m["flags"], m["per_100_people"]] for m in months),
            "No nightly run in the period.",
        ),
        "<h2>What reviewers decided</h2>",
    ]
    if decisions["shown"]:
        parts += [
            _table(
                ["decision", "flags", "share"],
                ([d["label"], d["count"], f"{d['share']:.0%}"] for d in decisions["mix"]),
                "No decision.",
            ),
            f"<p>False-alarm rate: <strong>{decisions['false_alarm_rate']:.0%}</strong> of "
            f"{decisions['reviewed']:,} reviewed flags.</p>",
        ]
    else:
        parts.append(f"<p>Fewer than {threshold} flags were reviewed in the period: not shown.</p>")
    parts += [
        "<h2>Flags by team</h2>",
        _table(
            ["team", "smallest size in the period", "flags", "flags per 100 person-weeks"],
            ([t["team"], t["smallest"], t["flags"], t["per_100_people"]] for t in teams["rows"]),
            "No team is large enough to show.",
        ),
        f"<p class='note'>{teams['hidden']} teams hidden."
        + (
            f" All teams together: {teams['total']['flags']} flags, "
            f"{teams['total']['per_100_people']} per 100 person-weeks."
            if teams["total"]
            else ""
        )
        + "</p>",
        "<h2>Fairness audit of the model in use</h2>",
        _fairness_html(summary["fairness"]),
        "<h2>Every model change</h2>",
        _paragraphs([summary["models_note"]] if summary["models_note"] else []),
        _table(
            [
                "version",
                "model",
                "registered",
                "role given",
                "why",
                "trained until",
                "used from",
                "used until",
            ],
            (
                [m.get(k) for k in ("version", "model", "created", "alias", "reason")]
                + [m.get(k) for k in ("trained_until", "served_from", "served_until")]
                for m in summary["models"]
            ),
            "No model yet.",
        ),
        "<h2>Signals in use</h2>",
        _list(f"{f['label']}: {'; '.join(f['signals'])}" for f in summary["signals"]),
        "<h2>Retention and erasure</h2>",
        _list(
            [
                f"Flags, reasons, decisions and notes are kept {policy['retention_weeks']} weeks, the audit "
                f"trail {policy['audit_retention_weeks']} weeks (kept from {period['audit_kept_from']}).",
                f"Retention purges in the period: {retention['purges']} (removing "
                f"{retention['flags_removed']} flags and {retention['decisions_removed']} decisions); "
                f"audit entries pruned: {retention['audit_entries_pruned']}.",
                f"People erased on request: {retention['erasures']}. People on the opt-out list now: "
                f"{retention['opt_outs']}.",
            ]
        ),
        "<h2>Access to the review page</h2>",
        _table(
            ["what", "times"],
            ([a["label"], a["count"]] for a in summary["access"]),
            "No access recorded in the period.",
        ),
        f"<p>Users who opened flag pages: {summary['flag_viewers']}.</p>",
    ]
    return _page("ewarn: report for the works council", "\n".join(parts))


def notice_html(sections: list[Section], generated_at: str) -> str:
    """The notice for workers as a page (the markdown form is easier to edit)."""
    parts = [f"<p class='note'>Generated {escape(generated_at)}.</p>"]
    for section in sections:
        parts += [
            f"<h2>{escape(section.title)}</h2>",
            _paragraphs(section.paragraphs),
            _list(section.bullets),
        ]
    return _page("How ewarn works: information for employees", "\n".join(parts))
