"""Render a :class:`~hitl_pipeline.report.compute.Report`: one self-contained HTML file, JSON, a terminal summary.

The HTML has inline CSS and inline SVG charts, no script and no remote resource (a
Content-Security-Policy forbids any), so it can be mailed or attached to a ticket. Every
piece of text that comes from data (answers, reviewer names, item ids, the spec title) is
escaped, with direction overrides made visible: reviewers' answers are untrusted.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from html import escape
from typing import Any

from hitl_pipeline.model.text import safe_text
from hitl_pipeline.report.compute import QuestionReport, Report
from hitl_pipeline.report.pairwise import pairwise_lines
from hitl_pipeline.report.pairwise_html import pairwise_html
from hitl_pipeline.report.trust_html import trust_html, trust_lines

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
h3{margin-top:1.6rem}.muted{color:#59636e}table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;min-width:9rem}.card b{display:block;font-size:1.4rem}
.q{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1.5rem}.answer{white-space:pre-wrap;word-break:break-word;max-width:28rem}
svg text{font-size:12px;fill:#1f2328}code{background:#f6f8fa;padding:0 .25rem;border-radius:3px}
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _e(x: Any) -> str:
    # Escaped, and direction overrides made visible as in the form: they cannot disguise a name or answer.
    return escape(safe_text(str(x)), quote=True)


def bar_chart(rows: tuple[tuple[str, int], ...] | list[tuple[str, int]], *, width: int = 460) -> str:
    """A horizontal bar chart as inline SVG (labels escaped)."""
    if not rows:
        return '<p class="muted">No answers.</p>'
    bar_h, gap, label_w, pad = 20, 6, 150, 90  # pad: room for the "count (share)" text after the bar
    height = len(rows) * (bar_h + gap) + gap
    top = max(c for _, c in rows) or 1
    total = sum(c for _, c in rows) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for i, (label, count) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = (width - label_w - pad) * count / top
        shown = label if len(label) <= 22 else label[:21] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{_e(shown)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#4c78a8"><title>{_e(label)}: '
            f"{count}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h * 0.7:.1f}">{count} ({100 * count / total:.0f}%)</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


#: A yes/no question's answers as the form words them (the scores store true/false).
_YES_NO = {"true": "yes", "false": "no"}


def _worded(rows: tuple[tuple[str, int], ...], boolean: bool) -> tuple[tuple[str, int], ...]:
    return tuple((_YES_NO.get(label, label), n) for label, n in rows) if boolean else rows


def _question_html(q: QuestionReport) -> str:
    name = "" if q.label == q.score else f"<code>{_e(q.score)}</code>, "
    out = [f'<h3>{_e(q.label)} <span class="muted">({name}{_e(q.type)})</span></h3>']
    out.append(
        f'<p class="muted">{q.answers} answers on {q.items} items, {q.multi_rated_items} items with two or more.</p>'
    )
    left = (
        [bar_chart(_worded(q.distribution, q.type == "boolean"))]
        if q.distribution
        else ['<p class="muted">Free text: no distribution.</p>']
    )
    if q.numeric:
        left.append("<p>" + ", ".join(f"{k} <b>{v:.3g}</b>" for k, v in q.numeric.items()) + "</p>")
    right: list[str] = []
    if q.alpha or q.fleiss_kappa is not None or q.observed_agreement is not None:
        right.append("<table><tr><th>Statistic</th><th>Value</th></tr>")
        for level, value in q.alpha.items():
            right.append(
                f'<tr><td>Krippendorff\'s α ({_e(level)})</td><td class="num">{_fmt(value)}</td></tr>'
            )
        if q.type in ("categorical", "boolean"):
            right.append(f'<tr><td>Fleiss\' κ</td><td class="num">{_fmt(q.fleiss_kappa)}</td></tr>')
            right.append(
                f'<tr><td>Observed agreement</td><td class="num">{_fmt(q.observed_agreement)}</td></tr>'
            )
        right.append("</table>")
    if q.pairwise_kappa:
        right.append("<table><tr><th>Reviewers</th><th>Cohen's κ</th><th>Shared items</th></tr>")
        for p in q.pairwise_kappa:
            right.append(
                f'<tr><td>{_e(p.rater_a)} – {_e(p.rater_b)}</td><td class="num">{_fmt(p.kappa)}</td>'
                f'<td class="num">{p.units}</td></tr>'
            )
        right.append("</table>")
    if q.reviewers:
        metric = "Mean |difference|" if q.type == "numeric" else "Agreement with others"
        right.append(f"<table><tr><th>Reviewer</th><th>Answers</th><th>{metric}</th></tr>")
        for r in q.reviewers:
            val = r.mean_abs_diff if q.type == "numeric" else r.agreement
            right.append(
                f'<tr><td>{_e(r.reviewer)}</td><td class="num">{r.answers}</td><td class="num">{_fmt(val)}</td></tr>'
            )
        right.append("</table>")
    if q.automated:
        a = q.automated
        right.append(
            f"<p><b>Human consensus vs <code>{_e(a.score)}</code></b> on {a.items} items: "
            f"Pearson r {_fmt(a.pearson)}, Spearman ρ {_fmt(a.spearman)}"
            + (
                f", label agreement {_fmt(a.agreement)}, Cohen's κ {_fmt(a.kappa)}"
                if a.agreement is not None
                else ""
            )
            + "</p>"
        )
    out.append(f'<div class="q"><div>{"".join(left)}</div><div>{"".join(right)}</div></div>')
    return "".join(out)


def render_html(report: Report) -> str:
    """The whole report as one self-contained HTML document."""
    r = report
    yes_no = {q.score for q in r.questions if q.type == "boolean"}
    body = [*_header_html(r), *_reviewers_html(r)]
    body.append("<h2>Questions</h2>")
    body.extend(_question_html(q) for q in r.questions)
    body.extend(_consensus_html(r, yes_no))
    body.append(pairwise_html(r.pairwise))  # arm B vs arm A (report/pairwise_html.py)
    body.append(trust_html(r.trust))  # judge alignment, α intervals, gold accuracy, gates (trust_html.py)
    body.extend(_disputed_html(r, yes_no))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(r.title)} — hitl report</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _header_html(r: Report) -> list[str]:
    """Title, campaign line, the scores not stored yet, the summary cards."""
    cards = [
        ("Items reviewed", str(r.items)),
        ("Answers", str(r.answers)),
        ("Reviewers", str(len(r.reviewers))),
        ("Questions", str(len(r.questions))),
    ]
    return [
        f"<h1>{_e(r.title)}</h1>",
        f'<p class="muted">Campaign <code>{_e(r.campaign)}</code> · target {_e(r.target)} · campaign version '
        f"{_e(r.spec_version or 'n/a')} · spec <code>{_e(r.spec_hash[:12] or 'n/a')}</code> · generated "
        f"{_e(r.generated_at.isoformat(timespec='seconds'))}</p>",
        (
            f"<p><b>{r.scores_not_stored} score(s) are not stored yet</b> (still in the local outbox, "
            "or refused): they are not in this report. <code>hitl sync SPEC</code> sends them.</p>"
            if r.scores_not_stored
            else ""
        ),
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards)
        + "</div>",
    ]


def _reviewers_html(r: Report) -> list[str]:
    """The reviewers table, with the note on estimated times."""
    body = [
        "<h2>Reviewers</h2>",
        "<table><tr><th>Reviewer</th><th>Items</th><th>Answers</th><th>Median time per item</th>"
        "<th>Agreement with others</th></tr>",
    ]
    for s in r.reviewers:
        t = "n/a" if s.median_seconds is None else f"{s.median_seconds:.0f} s"
        body.append(
            f'<tr><td>{_e(s.reviewer)}</td><td class="num">{s.items}</td><td class="num">{s.answers}</td>'
            f'<td class="num">{t}</td><td class="num">{_fmt(s.agreement)}</td></tr>'
        )
    body.append("</table>")
    if r.time_estimated:
        body.append(
            '<p class="muted">Times are estimated from the gaps between a reviewer\'s submissions '
            "(gaps over 30 minutes are breaks and are left out).</p>"
        )
    return body


def _consensus_html(r: Report, yes_no: set[str]) -> list[str]:
    """The consensus section (nothing when there is no consensus score and no open adjudication)."""
    if not (r.consensus or r.adjudications_open):
        return []
    body = ["<h2>Consensus</h2>"]
    if r.adjudications_open:
        body.append(f"<p><b>{r.adjudications_open}</b> item(s) wait for an adjudicator.</p>")
    for c in r.consensus:
        rows = _worded(c.distribution, c.question in yes_no)
        body.append(
            f'<h3><code>{_e(c.question)}</code></h3><p class="muted">{c.items} consensus score(s), '
            f"{c.adjudicated} decided by an adjudicator.</p>{bar_chart(rows)}"
        )
    return body


def _disputed_html(r: Report, yes_no: set[str]) -> list[str]:
    """The most disputed items: each with its answers, linked when it has an http(s) address."""
    body = ["<h2>Most disputed items</h2>"]
    if not r.disputed:
        body.append('<p class="muted">No item has disagreeing answers.</p>')
        return body
    body.append("<table><tr><th>Item</th><th>Question</th><th>Disagreement</th><th>Answers</th></tr>")
    for d in r.disputed:
        item = _e(d.item_key)
        if d.url and d.url.startswith(("http://", "https://")):
            item = f'<a href="{_e(d.url)}" rel="noreferrer noopener">{item}</a>'
        answers = "<br>".join(
            f'<b>{_e(rv)}</b>: <span class="answer">{_e(_YES_NO.get(str(v), v) if d.question in yes_no else v)}</span>'
            for rv, v in d.answers
        )
        body.append(
            f"<tr><td>{item}</td><td><code>{_e(d.question)}</code></td>"
            f'<td class="num">{d.disagreement:.2f}</td><td>{answers}</td></tr>'
        )
    body.append("</table>")
    return body


def _jsonable(x: Any) -> Any:
    if isinstance(x, datetime):
        return x.isoformat()
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON-compatible data (for ``hitl report --json``)."""
    data = _jsonable(report)
    assert isinstance(data, dict)
    return data


def render_json(report: Report) -> str:
    """The report as indented JSON."""
    return json.dumps(report_to_dict(report), indent=2, ensure_ascii=False)


def summary_lines(report: Report) -> list[str]:
    """A short plain-text summary for the terminal."""
    r = report
    lines = [f"{r.title} ({r.campaign}): {r.items} items, {r.answers} answers, {len(r.reviewers)} reviewers"]
    if not r.answers:
        lines.append(
            "  no stored answers for this campaign in this source yet (review with `hitl run`, send with `hitl sync`)"
        )
    for q in r.questions:
        if not q.alpha:
            lines.append(f"  {q.score}: {q.answers} answers (free text)")
            continue
        alphas = ", ".join(f"α {lvl} {_fmt(a)}" for lvl, a in q.alpha.items())
        extra = f", Fleiss κ {_fmt(q.fleiss_kappa)}" if q.type in ("categorical", "boolean") else ""
        auto = ""
        if q.automated and q.automated.items:
            auto = f"; vs {q.automated.score}: r {_fmt(q.automated.pearson)} on {q.automated.items} items"
        lines.append(
            f"  {q.score}: {q.answers} answers on {q.multi_rated_items} multi-rated items, {alphas}{extra}{auto}"
        )
    for c in r.consensus:
        lines.append(f"  consensus {c.question}: {c.items} items ({c.adjudicated} adjudicated)")
    if r.adjudications_open:
        lines.append(f"  {r.adjudications_open} item(s) wait for an adjudicator")
    if r.scores_not_stored:
        lines.append(f"  {r.scores_not_stored} score(s) not stored yet (not in this report): run `hitl sync`")
    if r.disputed:
        lines.append(f"  most disputed: {r.disputed[0].item_key} ({r.disputed[0].question})")
    lines.extend(pairwise_lines(r.pairwise))
    lines.extend(trust_lines(r.trust))
    return lines
