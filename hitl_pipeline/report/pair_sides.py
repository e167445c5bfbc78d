"""Per-side questions of a pair campaign in the report: each absolute question by arm, A vs B.

A per-side question (``per_side: true``) is answered once for each output of a pair; the answers
are stored by arm (``<name>@a`` / ``<name>@b``, whatever side each arm was shown on). Each
reviewer's answer on a pair is one unit. Per arm: a numeric question's mean with its 95 % interval
(normal, t-free: mean ± 1.96 · sd / √n), a boolean question's share of "yes" and each category's
share with 95 % Wilson intervals, and a text question's count of answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from hitl_pipeline.model.stats import wilson_interval, z_value
from hitl_pipeline.report.compute import AnswerRecord
from hitl_pipeline.report.trust import Estimate
from hitl_pipeline.spec.model import Question, ReviewSpec


@dataclass(frozen=True)
class ArmFigures:
    """One arm's answers to a per-side question."""

    answers: int
    mean: Estimate | None = None  # numeric
    shares: tuple[tuple[str, int, Estimate], ...] = ()  # boolean (yes) and categorical: label, count, share


@dataclass(frozen=True)
class PerSideQuestion:
    """A per-side question: its score name, label, type and the figures of arm A and arm B."""

    question: str
    label: str
    type: str
    a: ArmFigures
    b: ArmFigures


def _rate(successes: int, n: int) -> Estimate:
    interval = wilson_interval(successes, n)
    if interval is None:
        return Estimate(None)
    return Estimate(successes / n, *interval)


def _mean(values: Sequence[float]) -> Estimate:
    if not values:
        return Estimate(None)
    m = sum(values) / len(values)
    if len(values) < 2:
        return Estimate(m)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
    half = z_value() * sd / math.sqrt(len(values))
    return Estimate(m, m - half, m + half)


def _figures(q: Question, values: Sequence[Any]) -> ArmFigures:
    n = len(values)
    if q.type == "numeric":
        return ArmFigures(n, mean=_mean([float(v) for v in values]))
    if q.type == "boolean":
        yes = sum(1 for v in values if v is True)
        return ArmFigures(n, shares=(("yes", yes, _rate(yes, n)),))
    if q.type == "categorical":
        shares = []
        for label in q.labels:
            count = sum(1 for v in values if v == label)
            shares.append((label, count, _rate(count, n)))
        return ArmFigures(n, shares=tuple(shares))
    return ArmFigures(n)


def per_side_report(spec: ReviewSpec, records: Sequence[AnswerRecord]) -> tuple[PerSideQuestion, ...]:
    """Each per-side question of ``spec`` by arm, from the answer records (in spec order)."""
    out: list[PerSideQuestion] = []
    for q in spec.questions:
        if q.arm != "a":
            continue
        other = spec.question(f"{q.score_name}@b")
        by_arm = {
            half.score: [r.value for r in records if r.question == half.score and r.value is not None]
            for half in (q, other)
        }
        out.append(
            PerSideQuestion(
                question=q.score_name,
                label=q.label.removesuffix(" (A)"),
                type=q.type,
                a=_figures(q, by_arm[q.score]),
                b=_figures(other, by_arm[other.score]),
            )
        )
    return tuple(out)


def _arm_text(f: ArmFigures) -> str:
    if f.mean is not None:
        return f"mean {f.mean.shown()} ({f.answers} answers)"
    if f.shares:
        parts = ", ".join(f"{label} {count} = {est.shown()}" for label, count, est in f.shares)
        return f"{parts} ({f.answers} answers)"
    return f"{f.answers} answers"


def per_side_lines(questions: Sequence[PerSideQuestion], arm_a: str, arm_b: str) -> list[str]:
    """The per-side questions as summary lines."""
    lines: list[str] = []
    for q in questions:
        lines.append(f"  {q.question} (per side):")
        lines.append(f"    A {arm_a}: {_arm_text(q.a)}")
        lines.append(f"    B {arm_b}: {_arm_text(q.b)}")
    return lines


def per_side_html(questions: Sequence[PerSideQuestion], arm_a: str, arm_b: str) -> str:
    """The per-side questions as an HTML table per question (empty without one)."""
    out: list[str] = []
    for q in questions:
        out.append(
            f"<h3>{escape(q.label)} <span class='muted'>({escape(q.question)}, per side)</span></h3>"
            "<table><tr><th>arm</th><th>figures (95 % intervals)</th></tr>"
        )
        for name, f in ((f"A · {arm_a}", q.a), (f"B · {arm_b}", q.b)):
            out.append(f"<tr><td>{escape(name)}</td><td>{escape(_arm_text(f))}</td></tr>")
        out.append("</table>")
    return "".join(out)


__all__ = ["ArmFigures", "PerSideQuestion", "per_side_html", "per_side_lines", "per_side_report"]
