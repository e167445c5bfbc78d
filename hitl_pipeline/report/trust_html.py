"""Render the report's trustworthy-labels section (:class:`~hitl_pipeline.report.gates.Trust`):
HTML for ``render_html`` and lines for the terminal summary. Escaping as in the rest of the report."""

from __future__ import annotations

from html import escape
from typing import Any

from hitl_pipeline.model.text import safe_text
from hitl_pipeline.report.trust import Estimate, JudgeAlignment, Trust

_NAMES = {
    "kappa": "Cohen's κ",
    "weighted_kappa": "weighted κ (linear)",
    "spearman": "Spearman ρ",
}


def _e(x: Any) -> str:
    return escape(safe_text(str(x)), quote=True)


def _est(e: Estimate | None) -> str:
    if e is None:
        return "n/a"
    return _e(e.shown())


def _link(key: str, url: str | None) -> str:
    if url and url.startswith(("http://", "https://")):
        return f'<a href="{_e(url)}" rel="noreferrer noopener">{_e(key)}</a>'
    return _e(key)


def _alignment_html(a: JudgeAlignment) -> str:
    out = [
        f"<h3><code>{_e(a.question)}</code> vs <code>{_e(a.score)}</code> "
        f'<span class="muted">({_e(a.kind)}, {a.items} items)</span></h3>'
    ]
    rows: list[tuple[str, Estimate | None]] = [(_NAMES[a.headline_name], a.headline)]
    for name, est in (
        ("Cohen's κ", a.kappa if a.headline_name != "kappa" else None),
        ("label agreement", a.label_agreement),
        ("mean absolute error", a.mae),
        ("TPR (recall)", a.tpr),
        ("TNR (specificity)", a.tnr),
        ("precision", a.precision),
        ("F1", a.f1),
    ):
        if est is not None:
            rows.append((name, est))
    out.append("<table><tr><th>Statistic</th><th>Estimate [95 % interval]</th></tr>")
    out.extend(f'<tr><td>{_e(n)}</td><td class="num">{_est(v)}</td></tr>' for n, v in rows)
    out.append("</table>")
    if a.confusion:
        out.append("<table><tr><th>human ↓ / judge →</th>")
        out.extend(f"<th>{_e(label)}</th>" for label in a.labels)
        out.append("</tr>")
        for label, row in zip(a.labels, a.confusion, strict=True):
            cells = "".join(f'<td class="num">{c}</td>' for c in row)
            out.append(f"<tr><th>{_e(label)}</th>{cells}</tr>")
        out.append("</table>")
    if a.strata:
        out.append(f"<table><tr><th>Stratum</th><th>Items</th><th>{_e(_NAMES[a.headline_name])}</th></tr>")
        out.extend(
            f'<tr><td>{_e(s.stratum)}</td><td class="num">{s.items}</td><td class="num">{_est(s.headline)}</td></tr>'
            for s in a.strata
        )
        out.append("</table>")
    if a.disagreements:
        out.append("<table><tr><th>Largest disagreements</th><th>Human</th><th>Judge</th><th>Gap</th></tr>")
        out.extend(
            f"<tr><td>{_link(d.item_key, d.url)}</td><td>{_e(_plain(d.human))}</td>"
            f'<td>{_e(_plain(d.judge))}</td><td class="num">{d.gap:.2f}</td></tr>'
            for d in a.disagreements
        )
        out.append("</table>")
    return "".join(out)


def _plain(v: float | str) -> str:
    return f"{v:.3g}" if isinstance(v, float) else v


def trust_html(trust: Trust | None) -> str:
    """The section's HTML (empty when there is nothing to show)."""
    if trust is None:
        return ""
    out: list[str] = []
    for section in (
        _gates_html,
        _alignments_html,
        _alpha_html,
        _overlap_html,
        _reviewers_html,
        _throughput_html,
    ):
        out.extend(section(trust))
    return "\n".join(out)


def _gates_html(trust: Trust) -> list[str]:
    if not trust.gates:
        return []
    out = ["<h2>Gates</h2><table><tr><th>Gate</th><th>Result</th></tr>"]
    for g in trust.gates:
        status = "✅ pass" if g.passed else "❌ FAIL"
        out.append(f"<tr><td>{_e(status)}</td><td>{_e(g.line())}</td></tr>")
    out.append("</table>")
    return out


def _alignments_html(trust: Trust) -> list[str]:
    if not trust.alignment:
        return []
    out = [
        '<h2>Judge alignment</h2><p class="muted">Human consensus per item vs the automated score; '
        "95 % intervals: seeded bootstrap over items (Wilson for rates).</p>"
    ]
    out.extend(_alignment_html(a) for a in trust.alignment)
    return out


def _alpha_html(trust: Trust) -> list[str]:
    if not trust.alpha:
        return []
    sample = (
        '<p class="muted">Adaptive overlap: α on the spot-checked items\' first two answers (a random '
        "sample; items reviewed again because of a disagreement would bias it).</p>"
        if trust.overlap is not None and trust.overlap.adaptive
        else ""
    )
    out = [
        f"<h2>Agreement with intervals</h2>{sample}<table><tr><th>Question</th><th>Level</th>",
        "<th>Krippendorff's α [95 % interval]</th></tr>",
    ]
    out.extend(
        f'<tr><td><code>{_e(q)}</code></td><td>{_e(level)}</td><td class="num">{_est(est)}</td></tr>'
        for q, level, est in trust.alpha
    )
    out.append("</table>")
    return out


def _overlap_html(trust: Trust) -> list[str]:
    o = trust.overlap
    if o is None:
        return []
    hours = "n/a" if o.saved_hours is None else f"{o.saved_hours:.1f} h"
    kind = "adaptive" if o.adaptive else "fixed"
    return [
        f"<h2>Overlap</h2><p>{_e(kind)} overlap: <b>{o.reviews}</b> reviews on {o.items} items; fixed "
        f"overlap at the maximum would take {o.reviews_at_max}: <b>{o.saved_reviews}</b> reviews "
        f"({_e(hours)} of reviewer time) saved.</p>"
    ]


def _reviewers_html(trust: Trust) -> list[str]:
    if not trust.reviewers:
        return []
    out = [
        "<h2>Reviewer accuracy on gold items</h2><table><tr><th>Reviewer</th><th>Graded answers</th>"
        "<th>Accuracy [95 % Wilson]</th><th>Qualification</th><th>Warning</th></tr>"
    ]
    for r in trust.reviewers:
        warn = "⚠ below threshold" if r.flagged else ""
        out.append(
            f'<tr><td>{_e(r.reviewer)}</td><td class="num">{r.graded}</td>'
            f'<td class="num">{_est(r.accuracy)}</td><td>{_e(r.qualification)}</td><td>{_e(warn)}</td></tr>'
        )
    out.append("</table>")
    return out


def _throughput_html(trust: Trust) -> list[str]:
    t = trust.throughput
    if t is None:
        return []
    out = [
        "<h2>Throughput</h2><table><tr><th>Reviewer</th><th>Reviews</th><th>Active time</th>"
        "<th>Items per hour</th></tr>"
    ]
    for s in t.reviewers:
        rate = "n/a" if s.items_per_hour is None else f"{s.items_per_hour:.1f}"
        out.append(
            f'<tr><td>{_e(s.reviewer)}</td><td class="num">{s.reviews}</td>'
            f'<td class="num">{s.active_seconds / 60:.1f} min</td><td class="num">{rate}</td></tr>'
        )
    out.append("</table>")
    if t.eta_hours is not None and t.remaining_reviews:
        out.append(f"<p>{t.remaining_reviews} reviews to go: about <b>{t.eta_hours:.1f} h</b> of review.</p>")
    return out


def trust_lines(trust: Trust | None) -> list[str]:
    """Terminal lines: judge alignment headlines, α intervals, flagged reviewers, gates."""
    if trust is None:
        return []
    lines: list[str] = []
    for a in trust.alignment:
        lines.append(
            f"  judge {a.score} vs {a.question}: {_NAMES[a.headline_name]} {a.headline.shown()} on {a.items} items"
        )
    for q, level, est in trust.alpha:
        lines.append(f"  α {level} {q}: {est.shown()}")
    if trust.overlap is not None and trust.overlap.adaptive:
        o = trust.overlap
        lines.append(
            f"  overlap: {o.reviews} reviews, {o.saved_reviews} saved vs {o.reviews_at_max} at the maximum"
        )
    for r in trust.reviewers:
        if r.flagged or r.qualification == "failed":
            lines.append(
                f"  reviewer {r.reviewer}: gold accuracy {r.accuracy.shown()} ({r.qualification}){' ⚠' if r.flagged else ''}"
            )
    if (
        trust.throughput is not None
        and trust.throughput.eta_hours is not None
        and trust.throughput.remaining_reviews
    ):
        lines.append(
            f"  ETA: {trust.throughput.remaining_reviews} reviews, about {trust.throughput.eta_hours:.1f} h"
        )
    for g in trust.gates:
        lines.append(f"  gate {g.line()}")
    return lines
