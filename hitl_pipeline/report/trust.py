"""The report's trustworthy-labels figures as plain data: estimates with intervals, judge
alignment, reviewer accuracy, overlap, gate results (computed in :mod:`.alignment` and
:mod:`.gates`; the report's :class:`~hitl_pipeline.report.compute.Report` carries a :class:`Trust`).
Imports nothing of the report, so the report's data model can name it."""

from __future__ import annotations

from dataclasses import dataclass, field

from hitl_pipeline.quality.throughput import Throughput
from hitl_pipeline.spec.model import Gate


@dataclass(frozen=True)
class Estimate:
    """A statistic with its 95 % interval (``low``/``high`` None when it cannot be estimated)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def shown(self, digits: int = 3) -> str:
        if self.value is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class JudgeDisagreement:
    item_key: str
    url: str | None
    human: float | str
    judge: float | str
    gap: float  # |human − judge| in the question's units; rank distance or 1 for labels


@dataclass(frozen=True)
class StratumAlignment:
    stratum: str
    items: int
    headline: Estimate


@dataclass(frozen=True)
class JudgeAlignment:
    """Human consensus vs one automated score on one question."""

    question: str
    score: str
    kind: str  # categorical | ordinal | boolean | numeric
    items: int
    headline_name: str  # kappa | weighted_kappa | spearman
    headline: Estimate
    kappa: Estimate | None = None
    weighted_kappa: Estimate | None = None
    label_agreement: Estimate | None = None
    spearman: Estimate | None = None
    mae: Estimate | None = None
    tpr: Estimate | None = None
    tnr: Estimate | None = None
    precision: Estimate | None = None
    f1: Estimate | None = None
    labels: tuple[str, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = ()  # rows: human consensus, columns: judge
    strata: tuple[StratumAlignment, ...] = ()
    disagreements: tuple[JudgeDisagreement, ...] = ()


@dataclass(frozen=True)
class ReviewerAccuracy:
    """One reviewer's answers on gold items: accuracy with its Wilson interval, qualification state."""

    reviewer: str
    graded: int  # graded answers (item × question) on gold items
    correct: int
    accuracy: Estimate
    qualification: str = "none"  # none | qualifying | passed | retry | failed | stopped
    flagged: bool = False  # honeypot accuracy below the spec's threshold (drift warning)
    note: str = ""
    live: int | None = None  # live items answered (None: unknown, counted as some)


@dataclass(frozen=True)
class OverlapSummary:
    """Reviews spent on the items reviewed so far, and what fixed overlap at the maximum would cost
    on them."""

    adaptive: bool
    items: int
    reviews: int
    reviews_at_max: int  # items × max reviewers
    mean_seconds: float | None  # mean active time per review

    @property
    def saved_reviews(self) -> int:
        return max(0, self.reviews_at_max - self.reviews)

    @property
    def saved_hours(self) -> float | None:
        return None if self.mean_seconds is None else self.saved_reviews * self.mean_seconds / 3600


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    passed: bool
    value: float | None
    low: float | None = None
    high: float | None = None
    detail: str = ""

    def line(self) -> str:
        g = self.gate
        name = f"{g.metric}({g.question})" if g.question else g.metric
        bound = " (lower bound)" if g.on == "lower_bound" else ""
        if self.value is None:
            shown = "n/a"
        elif g.metric == "items":
            shown = f"{self.value:g}"
        else:
            shown = Estimate(self.value, self.low, self.high).shown()
        status = "PASS" if self.passed else "FAIL"
        extra = f" — {self.detail}" if self.detail else ""
        return f"{status} {name} ≥ {g.min:g}{bound}: {shown}{extra}"


@dataclass(frozen=True)
class Trust:
    """The report's trustworthy-labels section."""

    alignment: tuple[JudgeAlignment, ...] = ()
    alpha: tuple[tuple[str, str, Estimate], ...] = ()  # (question, level, α with interval)
    reviewers: tuple[ReviewerAccuracy, ...] = ()
    overlap: OverlapSummary | None = None
    throughput: Throughput | None = None
    gates: tuple[GateResult, ...] = field(default_factory=tuple)

    @property
    def failed_gates(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if not g.passed)


__all__ = [
    "Estimate",
    "GateResult",
    "JudgeAlignment",
    "JudgeDisagreement",
    "OverlapSummary",
    "ReviewerAccuracy",
    "StratumAlignment",
    "Trust",
]
