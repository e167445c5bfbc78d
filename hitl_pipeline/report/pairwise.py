"""The pairwise section of a report (``target: pair``): is arm B better than arm A?

Computed per preference question from the answer records (B's outcome per reviewer and pair, see
:func:`hitl_pipeline.report.compute.records_from_scores`):

* **win / tie / loss rates of arm B** over the pairs, each with its 95 % Wilson interval. A pair's
  outcome is its reviewers' majority (a split vote counts as a tie); "both bad" is a rate of its own
  and counts as a tie in B's **score** (wins + ½ ties, over all pairs; what a ``win_rate`` gate checks);
* a two-sided exact **sign test** (binomial, p = ½) of B's wins against its losses, ties left out;
* **position bias**: the share of decisive judgments that picked the output shown on the left, with
  its Wilson interval (flagged when the interval excludes ½; sides are drawn per pair from the seed,
  so a reviewer without a side preference stays near ½ whatever the arms' quality);
* **agreement** between reviewers on pairs judged by several (Krippendorff's α, nominal, over B's
  outcomes; observed agreement);
* a **breakdown by stratum** (``pair.report_by`` or ``sample.by``, e.g. metadata.topic) and the
  pairs where reviewers **disagreed most**.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

from hitl_pipeline.model.pairs import choice_of_outcome, left_arm
from hitl_pipeline.model.stats import wilson_interval
from hitl_pipeline.report.agreement import krippendorff_alpha
from hitl_pipeline.report.compute import AnswerRecord
from hitl_pipeline.report.pair_sides import PerSideQuestion, per_side_lines, per_side_report
from hitl_pipeline.report.trust import Estimate
from hitl_pipeline.spec.model import Gate, Question, ReviewSpec

#: How many of the most disputed pairs a report lists.
TOP_DISPUTED_PAIRS = 10
#: Outcomes of arm B, in the order the report shows them.
OUTCOMES = ("win", "tie", "loss", "both_bad")


def sign_test(wins: int, losses: int) -> float | None:
    """Two-sided exact binomial test of ``wins`` against ``losses`` with p = ½ (ties left out).

    The p-value sums the probabilities of every outcome no more likely than the observed one
    (as ``scipy.stats.binomtest``); computed in exact integers. None without a decisive judgment.
    """
    n = wins + losses
    if n == 0:
        return None
    observed = comb(n, wins)
    total = sum(comb(n, i) for i in range(n + 1) if comb(n, i) <= observed)
    return min(1.0, total / (1 << n))


def rate(successes: float, n: int) -> Estimate:
    """``successes / n`` with its 95 % Wilson interval (n/a for n = 0)."""
    if n == 0:
        return Estimate(None)
    interval = wilson_interval(successes, n)
    low, high = interval if interval is not None else (None, None)
    return Estimate(successes / n, low, high)


@dataclass(frozen=True)
class Outcomes:
    """Arm B's outcomes over a set of pairs: counts, rates with Wilson intervals, and B's score."""

    pairs: int
    wins: int
    ties: int
    losses: int
    both_bad: int
    win_rate: Estimate
    tie_rate: Estimate
    loss_rate: Estimate
    both_bad_rate: Estimate
    score: Estimate  # (wins + ½ (ties + both bad)) / pairs: the win_rate gate's value

    @staticmethod
    def of(outcomes: Sequence[str]) -> Outcomes:
        c = Counter(outcomes)
        n = len(outcomes)
        wins, ties, losses, both = c["win"], c["tie"], c["loss"], c["both_bad"]
        return Outcomes(
            pairs=n,
            wins=wins,
            ties=ties,
            losses=losses,
            both_bad=both,
            win_rate=rate(wins, n),
            tie_rate=rate(ties, n),
            loss_rate=rate(losses, n),
            both_bad_rate=rate(both, n),
            score=rate(wins + 0.5 * (ties + both), n),
        )


@dataclass(frozen=True)
class DisputedPair:
    item_key: str
    disagreement: float  # share of reviewers not giving the majority outcome
    answers: tuple[tuple[str, str], ...]  # (reviewer, the pick as shown: A, B, tie, both_bad)


@dataclass(frozen=True)
class PairwiseQuestion:
    """The pairwise figures of one preference question."""

    question: str
    label: str
    judgments: int  # reviewer × pair answers
    overall: Outcomes
    sign_test_p: float | None
    left_picks: int  # decisive judgments that picked the left output ("A")
    decisive: int  # judgments that picked A or B
    left_share: Estimate
    position_bias: bool  # the left share's interval excludes ½
    multi_rated_pairs: int
    alpha: float | None  # Krippendorff's α (nominal) over B's outcomes, pairs with ≥ 2 reviewers
    observed_agreement: float | None
    strata: tuple[tuple[str, Outcomes], ...]
    disputed: tuple[DisputedPair, ...]


@dataclass(frozen=True)
class PairwiseReport:
    """The pairwise section: arm names, the stratum field, one entry per preference question."""

    arm_a: str
    arm_b: str
    stratum_by: str | None
    questions: tuple[PairwiseQuestion, ...]
    sides: tuple[PerSideQuestion, ...] = ()  # per-side questions by arm (report/pair_sides.py)

    def question(self, score: str) -> PairwiseQuestion:
        for q in self.questions:
            if q.question == score:
                return q
        raise KeyError(score)


def _majority(values: Sequence[str]) -> str:
    counts = Counter(values).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return "tie"  # a split vote: neither arm was preferred
    return counts[0][0]


def _agreement(units: Mapping[str, Mapping[str, str]]) -> tuple[float | None, float | None, int]:
    multi = {k: by for k, by in units.items() if len(by) >= 2}
    if not multi:
        return None, None, 0
    reviewers = sorted({r for by in multi.values() for r in by})
    keys = sorted(multi)
    matrix = [[multi[k].get(r) for k in keys] for r in reviewers]
    alpha = krippendorff_alpha(matrix, "nominal")
    agree = total = 0
    for by in multi.values():
        vals = list(by.values())
        for i in range(len(vals)):
            for j in range(i + 1, len(vals)):
                total += 1
                agree += vals[i] == vals[j]
    return alpha, (agree / total if total else None), len(multi)


def pairwise_report(
    spec: ReviewSpec, records: Sequence[AnswerRecord], strata: Mapping[str, str | None] | None = None
) -> PairwiseReport:
    """The pairwise section of ``spec``'s report from its answer records (item key = pair key,
    value = arm B's outcome); ``strata``: pair key → stratum value."""
    pair = spec.pair
    strata = strata or {}
    out = [_pairwise_question(spec, q, records, strata) for q in spec.questions if q.preference]
    return PairwiseReport(
        arm_a=pair.a.label if pair is not None else "A",
        arm_b=pair.b.label if pair is not None else "B",
        stratum_by=(spec.sample.by or pair.report_by) if pair is not None else spec.sample.by,
        questions=tuple(out),
        sides=per_side_report(spec, records),
    )


def _judgments(q: Question, records: Sequence[AnswerRecord]) -> dict[str, dict[str, str]]:
    """Pair key → reviewer → arm B's outcome, of ``q``'s answers."""
    units: dict[str, dict[str, str]] = {}
    for r in records:
        if r.question == q.score and isinstance(r.value, str) and r.value in OUTCOMES:
            units.setdefault(r.item_key, {})[r.reviewer] = r.value
    return units


def _sides(seed: int, units: Mapping[str, Mapping[str, str]]) -> tuple[int, int, list[DisputedPair]]:
    """(picks of the left side, decisive picks, pairs the reviewers disagree on, most disputed first)."""
    left = decisive = 0
    disputed: list[DisputedPair] = []
    for key, by in units.items():
        side = left_arm(seed, key)
        picks = {reviewer: choice_of_outcome(v, side) for reviewer, v in by.items()}
        for pick in picks.values():
            if pick in ("A", "B"):
                decisive += 1
                left += pick == "A"
        if len(by) >= 2:
            top = Counter(by.values()).most_common(1)[0][1]
            share = 1 - top / len(by)
            if share > 0:
                disputed.append(DisputedPair(key, share, tuple(sorted(picks.items()))))
    disputed.sort(key=lambda d: (-d.disagreement, d.item_key))
    return left, decisive, disputed


def _pairwise_question(
    spec: ReviewSpec, q: Question, records: Sequence[AnswerRecord], strata: Mapping[str, str | None]
) -> PairwiseQuestion:
    units = _judgments(q, records)
    per_pair = {key: _majority(list(by.values())) for key, by in units.items() if by}
    overall = Outcomes.of(list(per_pair.values()))
    left, decisive, disputed = _sides(spec.sample.seed, units)
    left_share = rate(left, decisive)
    bias = (
        left_share.low is not None
        and left_share.high is not None
        and (left_share.low > 0.5 or left_share.high < 0.5)
    )
    grouped: dict[str, list[str]] = {}
    for key, outcome in per_pair.items():
        grouped.setdefault(strata.get(key) or "(none)", []).append(outcome)
    alpha, observed, multi = _agreement(units)
    return PairwiseQuestion(
        question=q.score,
        label=q.label,
        judgments=sum(len(by) for by in units.values()),
        overall=overall,
        sign_test_p=sign_test(overall.wins, overall.losses),
        left_picks=left,
        decisive=decisive,
        left_share=left_share,
        position_bias=bias,
        multi_rated_pairs=multi,
        alpha=alpha,
        observed_agreement=observed,
        strata=tuple((name, Outcomes.of(v)) for name, v in sorted(grouped.items())) if strata else (),
        disputed=tuple(disputed[:TOP_DISPUTED_PAIRS]),
    )


def strata_of_scores(scores: Sequence[Any]) -> dict[str, str | None]:
    """Pair key → stratum, from the ``hitl_pair`` / ``hitl_stratum`` metadata of stored scores."""
    out: dict[str, str | None] = {}
    for s in scores:
        md = getattr(s, "metadata", None) or {}
        key = md.get("hitl_pair")
        if isinstance(key, str) and key:
            stratum = md.get("hitl_stratum")
            if stratum is not None or key not in out:
                out[key] = None if stratum is None else str(stratum)
    return out


def win_rate_gate(gate: Gate, report: PairwiseReport | None) -> tuple[bool, Estimate, str]:
    """(passed, B's score with its interval, detail) of a ``win_rate`` gate."""
    if report is None or not report.questions:
        return False, Estimate(None), "no preference question answered yet"
    try:
        q = report.question(gate.question) if gate.question else report.questions[0]
    except KeyError:
        return False, Estimate(None), f"no preference question {gate.question!r}"
    est = q.overall.score
    if est.value is None:
        return False, est, "no pair judged yet"
    compared = est.low if gate.on == "lower_bound" else est.value
    passed = compared is not None and compared >= gate.min
    detail = f"{report.arm_b} over {report.arm_a} on {q.question}: {q.overall.pairs} pairs (ties count ½)"
    return passed, est, detail


def pairwise_lines(report: PairwiseReport | None) -> list[str]:
    """The pairwise section as summary lines (``hitl report``'s terminal output)."""
    if report is None:
        return []
    lines = [f"Pairwise: {report.arm_b} (B) vs {report.arm_a} (A)"]
    for q in report.questions:
        o = q.overall
        p = "n/a" if q.sign_test_p is None else f"{q.sign_test_p:.4f}"
        lines.append(
            f"  {q.question}: {o.pairs} pairs, {q.judgments} judgments; B win rate {o.win_rate.shown()}, "
            f"tie {o.tie_rate.shown()}, loss {o.loss_rate.shown()}"
            + (f", both bad {o.both_bad_rate.shown()}" if o.both_bad else "")
        )
        lines.append(
            f"    B's score (ties ½) {o.score.shown()}; sign test {o.wins} wins vs {o.losses} losses, p = {p}"
        )
        bias = "  ⚠ position bias" if q.position_bias else ""
        lines.append(
            f"    left picks {q.left_picks}/{q.decisive} = {q.left_share.shown()}{bias}; "
            f"agreement α {('n/a' if q.alpha is None else f'{q.alpha:.3f}')} on {q.multi_rated_pairs} multi-rated pairs"
        )
        for name, s in q.strata:
            lines.append(
                f"    {report.stratum_by}={name}: {s.pairs} pairs, B wins {s.win_rate.shown()}, "
                f"ties {s.ties}, losses {s.losses}"
            )
    lines.extend(per_side_lines(report.sides, report.arm_a, report.arm_b))
    return lines


__all__ = [
    "DisputedPair",
    "Outcomes",
    "PairwiseQuestion",
    "PairwiseReport",
    "pairwise_lines",
    "pairwise_report",
    "rate",
    "sign_test",
    "strata_of_scores",
    "win_rate_gate",
]
