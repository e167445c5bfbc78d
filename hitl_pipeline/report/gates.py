"""Trustworthy-label figures of a report and the spec's gates (``hitl report --check``).

:class:`Trust` gathers what the report adds on top of agreement: judge alignment
(:mod:`hitl_pipeline.report.alignment`), Krippendorff's α with a bootstrap interval, reviewer
accuracy on gold items, the overlap spent (adaptive or fixed), throughput, and the result of
every gate the spec declares. A gate passes when its estimate (or, with ``on: lower_bound``, the
lower end of its 95 % interval) is at least ``min``; an estimate that cannot be computed yet
(too few items, no gold answers) fails, saying why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import krippendorff
import numpy as np

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.model.stats import bootstrap_interval, wilson_interval
from hitl_pipeline.quality.manager import reviewer_quality
from hitl_pipeline.quality.throughput import Throughput, throughput
from hitl_pipeline.report.alignment import alignments, is_ordinal
from hitl_pipeline.report.compute import AnswerRecord
from hitl_pipeline.report.trust import (
    Estimate,
    GateResult,
    JudgeAlignment,
    OverlapSummary,
    ReviewerAccuracy,
    Trust,
)
from hitl_pipeline.spec.model import Gate, Question, ReviewSpec

#: Resamples for α intervals (each resample is one α over all items).
ALPHA_RESAMPLES = 1000


def gate_level(q: Question) -> str:
    """The α level a gate and the interval use: ordinal for ordered categories, interval for numbers."""
    if q.type == "numeric":
        return "interval"
    return "ordinal" if is_ordinal(q) else "nominal"


def _coded_matrix(q: Question, units: Mapping[str, Mapping[str, Any]]) -> np.ndarray | None:
    """Reviewers × items matrix of α codes (NaN = no answer), or None without two answers on an item."""
    reviewers = sorted({r for by in units.values() for r in by})
    items = sorted(k for k, by in units.items() if by)
    if not items or not reviewers:
        return None
    if q.type == "numeric":

        def code(v: Any) -> float:
            return float(v)
    else:
        if is_ordinal(q):
            order = [c.label for c in sorted(q.categories, key=lambda c: c.value)]
        else:
            order = list(q.labels) if q.type == "categorical" else ["false", "true"]
        extra = sorted({_text(v) for by in units.values() for v in by.values()} - set(order))
        ranks = {label: float(i) for i, label in enumerate(order + extra)}

        def code(v: Any) -> float:
            return ranks[_text(v)]

    matrix = np.full((len(reviewers), len(items)), np.nan)
    index = {r: i for i, r in enumerate(reviewers)}
    for j, item in enumerate(items):
        for r, v in units[item].items():
            if v is not None:
                matrix[index[r], j] = code(v)
    return matrix


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _alpha(matrix: np.ndarray, level: str) -> float | None:
    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    values = matrix[:, pairable]
    values = values[~np.isnan(values)]
    if values.size == 0 or np.unique(values).size < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        a = float(krippendorff.alpha(reliability_data=matrix[:, pairable], level_of_measurement=level))  # type: ignore[arg-type]
    return None if math.isnan(a) else a


def alpha_estimate(
    q: Question,
    units: Mapping[str, Mapping[str, Any]],
    *,
    level: str | None = None,
    seed: int = 0,
    resamples: int = ALPHA_RESAMPLES,
) -> Estimate:
    """Krippendorff's α of a question with a seeded bootstrap interval over items.

    ``units``: item key → reviewer → answer. Items are resampled whole (all their answers), the
    usual cluster bootstrap; items with a single answer do not enter α (they are not pairable).
    """
    level = level or gate_level(q)
    matrix = _coded_matrix(q, units)
    if matrix is None:
        return Estimate(None)
    matrix = matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2]  # only pairable items carry information
    if matrix.shape[1] == 0:
        return Estimate(None)
    value = _alpha(matrix, level)
    if value is None:
        return Estimate(None)
    interval = bootstrap_interval(
        matrix.shape[1], lambda idx: _alpha(matrix[:, idx], level), resamples=resamples, seed=seed
    )
    return Estimate(value, *(interval or (None, None)))


def units_of(records: Sequence[AnswerRecord], question: str) -> dict[str, dict[str, Any]]:
    """Item key → reviewer → their latest answer to ``question``."""
    out: dict[str, dict[str, Any]] = {}
    oldest = datetime.min.replace(tzinfo=UTC)
    for r in sorted(records, key=lambda r: r.submitted_at or oldest):
        if r.question == question and r.value is not None:
            out.setdefault(r.item_key, {})[r.reviewer] = r.value
    return out


def spot_check_units(
    spec: ReviewSpec, records: Sequence[AnswerRecord], question: str
) -> dict[str, dict[str, Any]]:
    """Under adaptive overlap, the units α can be estimated from without bias: the spot-checked
    items (a seeded random share of all items) with their first two answers only.

    Items that got a second reviewer because the first disagreed with the judge, or a third because
    two disagreed, were chosen *for* disagreeing: counting them would bias α downwards.
    """
    from hitl_pipeline.quality.overlap import is_spot_checked

    oldest = datetime.min.replace(tzinfo=UTC)
    out: dict[str, dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: r.submitted_at or oldest):
        if r.question != question or r.value is None or not is_spot_checked(spec, r.item_key):
            continue
        by = out.setdefault(r.item_key, {})
        if r.reviewer in by or len(by) < 2:
            by[r.reviewer] = r.value
    return out


def evaluate_gates(
    spec: ReviewSpec,
    *,
    items: int,
    alpha: Mapping[str, Estimate],
    alignment: Sequence[JudgeAlignment],
    reviewers: Sequence[ReviewerAccuracy],
    pairwise: Any = None,
) -> tuple[GateResult, ...]:
    """Check every gate of the spec against the report's figures (``pairwise``: the
    :class:`~hitl_pipeline.report.pairwise.PairwiseReport` of a pair campaign, for win_rate gates)."""
    judges = {a.question: a for a in alignment}
    out: list[GateResult] = []
    for g in spec.gates:
        if g.metric == "win_rate":
            out.append(_win_rate_result(g, pairwise))
        elif g.metric == "items":
            out.append(GateResult(g, items >= g.min, float(items), detail=f"{items} items with answers"))
        elif g.metric == "alpha":
            est = alpha.get(g.question or "", Estimate(None))
            detail = "" if est.value is not None else "α undefined: no item with two answers that vary"
            out.append(_check(g, est, detail))
        elif g.metric == "judge":
            out.append(_judge_result(g, judges.get(g.question or "")))
        else:
            out.append(_reviewer_accuracy_result(g, reviewers))
    return tuple(out)


def _win_rate_result(g: Gate, pairwise: Any) -> GateResult:
    from hitl_pipeline.report.pairwise import win_rate_gate

    passed, est, detail = win_rate_gate(g, pairwise)
    if est.value is not None:
        result = _check(g, est, detail)
        return GateResult(g, passed, est.value, est.low, est.high, detail=result.detail)
    return GateResult(g, False, None, detail=detail)


def _judge_result(g: Gate, a: JudgeAlignment | None) -> GateResult:
    if a is None or a.headline.value is None:
        return GateResult(g, False, None, detail="no item with both a human consensus and the score")
    return _check(g, a.headline, f"{a.headline_name} vs {a.score} on {a.items} items")


def _reviewer_accuracy_result(g: Gate, reviewers: Sequence[ReviewerAccuracy]) -> GateResult:
    # Reviewers whose labels are in the data: one stopped at qualification labelled nothing.
    graded = [r for r in reviewers if r.graded and (r.live is None or r.live > 0)]
    if not graded:
        return GateResult(g, False, None, detail="no reviewer with live answers has gold answers yet")
    results = [(r, _check(g, r.accuracy, "")) for r in graded]
    failing = [r.reviewer for r, res in results if not res.passed]
    worst_r, worst = min(results, key=lambda rr: _compared(g, rr[0].accuracy))
    detail = f"worst: {worst_r.reviewer}" + (f"; below: {', '.join(failing)}" if failing else "")
    return GateResult(g, not failing, worst.value, worst.low, worst.high, detail=detail)


def trust_section(
    spec: ReviewSpec,
    records: Sequence[AnswerRecord],
    automated: Mapping[str, Mapping[str, Any]],
    *,
    strata: Mapping[str, str | None] | None = None,
    link: Any = None,
    reviewers: Sequence[ReviewerAccuracy] = (),
    overlap: OverlapSummary | None = None,
    throughput: Throughput | None = None,
) -> Trust:
    """Judge alignment, α intervals (for gated questions, and every question under adaptive
    overlap), and the gates, from the report's answer records."""
    aligned = alignments(spec, records, automated, strata=strata, link=link)
    wanted = {g.question for g in spec.gates if g.metric == "alpha" and g.question}
    if spec.review.adaptive is not None:
        wanted |= {q.score for q in spec.questions if q.type in ("categorical", "boolean", "numeric")}
    alpha: dict[str, Estimate] = {}
    rows: list[tuple[str, str, Estimate]] = []
    for q in spec.questions:
        if q.score in wanted:
            units = units_of(records, q.score)
            if spec.review.adaptive is not None:
                units = spot_check_units(spec, records, q.score)
            alpha[q.score] = alpha_estimate(q, units)
            rows.append((q.score, gate_level(q), alpha[q.score]))
    items = len({r.item_key for r in records})
    pairwise = None
    if spec.target == "pair":
        from hitl_pipeline.report.pairwise import pairwise_report

        pairwise = pairwise_report(spec, records)
    gates = evaluate_gates(
        spec, items=items, alpha=alpha, alignment=aligned, reviewers=reviewers, pairwise=pairwise
    )
    return Trust(
        alignment=aligned,
        alpha=tuple(rows),
        reviewers=tuple(reviewers),
        overlap=overlap,
        throughput=throughput,
        gates=gates,
    )


@dataclass(frozen=True)
class StateFigures:
    """What only the campaign state knows: gold accuracy, overlap spent, throughput."""

    reviewers: tuple[ReviewerAccuracy, ...] = ()
    overlap: OverlapSummary | None = None
    throughput: Throughput | None = None


def state_figures(spec: ReviewSpec, state: CampaignState) -> StateFigures:
    """Reviewer accuracy on gold items (Wilson intervals), overlap and throughput from the state."""
    reviewers = []
    live: dict[str, int] = {}
    for review in state.reviews():
        live[review.reviewer] = live.get(review.reviewer, 0) + 1
    for r in reviewer_quality(spec, state):
        interval = wilson_interval(r.correct, r.graded) if r.graded else None
        reviewers.append(
            ReviewerAccuracy(
                reviewer=r.reviewer,
                graded=r.graded,
                correct=r.correct,
                accuracy=Estimate(r.accuracy, *(interval or (None, None))),
                qualification=r.status if spec.quality and spec.quality.qualification else "none",
                flagged=r.flagged,
                note=r.note,
                live=live.get(r.reviewer, 0),
            )
        )
    tp = throughput(spec, state)
    answered = state.reviews()
    items = len({r.item_key for r in answered})  # items reviewed so far (a campaign may be midway)
    reviews = len(answered)
    overlap = OverlapSummary(
        adaptive=spec.review.adaptive is not None,
        items=items,
        reviews=reviews,
        reviews_at_max=items * spec.review.reviewers_per_item,
        mean_seconds=tp.mean_seconds,
    )
    return StateFigures(tuple(reviewers), overlap, tp)


def _compared(g: Gate, est: Estimate) -> float:
    value = est.low if g.on == "lower_bound" else est.value
    return -math.inf if value is None else value


def _check(g: Gate, est: Estimate, detail: str) -> GateResult:
    value = _compared(g, est)
    if g.on == "lower_bound" and est.value is not None and est.low is None:
        detail = (detail + "; " if detail else "") + "no interval (too few items)"
    return GateResult(g, value >= g.min, est.value, est.low, est.high, detail=detail)


__all__ = [
    "ALPHA_RESAMPLES",
    "alpha_estimate",
    "evaluate_gates",
    "StateFigures",
    "gate_level",
    "spot_check_units",
    "state_figures",
    "trust_section",
    "units_of",
]
