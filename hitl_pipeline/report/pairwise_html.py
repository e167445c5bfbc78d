"""Render the report's pairwise section (:class:`~hitl_pipeline.report.pairwise.PairwiseReport`) as
HTML for ``render_html``. Every name, key and answer is escaped as in the rest of the report."""

from __future__ import annotations

from html import escape
from typing import Any

from hitl_pipeline.model.text import safe_text
from hitl_pipeline.report.pair_sides import per_side_html
from hitl_pipeline.report.pairwise import Outcomes, PairwiseQuestion, PairwiseReport


def _e(x: Any) -> str:
    return escape(safe_text(str(x)), quote=True)


def _row(name: str, o: Outcomes) -> str:
    return (
        f'<tr><td>{_e(name)}</td><td class="num">{o.pairs}</td>'
        f'<td class="num">{o.wins} · {_e(o.win_rate.shown())}</td>'
        f'<td class="num">{o.ties} · {_e(o.tie_rate.shown())}</td>'
        f'<td class="num">{o.losses} · {_e(o.loss_rate.shown())}</td>'
        f'<td class="num">{o.both_bad}</td>'
        f'<td class="num">{_e(o.score.shown())}</td></tr>'
    )


def _question(report: PairwiseReport, q: PairwiseQuestion) -> str:
    p = "n/a" if q.sign_test_p is None else f"{q.sign_test_p:.4f}"
    alpha = "n/a" if q.alpha is None else f"{q.alpha:.3f}"
    agree = "n/a" if q.observed_agreement is None else f"{q.observed_agreement:.3f}"
    bias = ' <strong class="warn">position bias</strong>' if q.position_bias else ""
    out = [
        f"<h3><code>{_e(q.question)}</code> — {_e(q.label)}</h3>",
        "<table><tr><th></th><th>pairs</th><th>B wins [95 %]</th><th>ties [95 %]</th>"
        "<th>B losses [95 %]</th><th>both bad</th><th>B's score, ties ½ [95 %]</th></tr>",
        _row("all pairs", q.overall),
    ]
    out.extend(_row(f"{report.stratum_by} = {name}", o) for name, o in q.strata)
    out.append("</table>")
    out.append(
        f"<p>Sign test: {q.overall.wins} wins vs {q.overall.losses} losses of {_e(report.arm_b)}, "
        f"two-sided p = {p}. Left picks: {q.left_picks} of {q.decisive} decisive judgments, "
        f"{_e(q.left_share.shown())}{bias}. Agreement on {q.multi_rated_pairs} pairs with several "
        f"reviewers: α (nominal) {alpha}, observed {agree}.</p>"
    )
    if q.disputed:
        out.append(
            "<table><tr><th>Most disputed pairs</th><th>disagreement</th><th>picks (as shown)</th></tr>"
        )
        for d in q.disputed:
            picks = ", ".join(f"{r}: {a}" for r, a in d.answers)
            out.append(
                f'<tr><td><code>{_e(d.item_key)}</code></td><td class="num">{d.disagreement:.2f}</td>'
                f"<td>{_e(picks)}</td></tr>"
            )
        out.append("</table>")
    return "\n".join(out)


def pairwise_html(report: PairwiseReport | None) -> str:
    """The section, or nothing for a campaign that is not a pair campaign."""
    if report is None:
        return ""
    head = (
        f"<h2>Pairwise: {_e(report.arm_b)} (arm B) vs {_e(report.arm_a)} (arm A)</h2>"
        '<p class="muted">Outcomes of arm B per pair (its reviewers\' majority; a split vote is a tie), '
        "rates with 95 % Wilson intervals.</p>"
    )
    sides = per_side_html(report.sides, report.arm_a, report.arm_b)
    return "<section>" + head + "".join(_question(report, q) for q in report.questions) + sides + "</section>"
