"""The validated, typed review spec. Nothing past the loader sees raw dicts.

Built by :func:`hitl_pipeline.spec.load_spec` after schema and semantic validation, so the
constructors here trust their input. Every class is frozen and hashable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from hitl_pipeline.model import Target

QuestionType = Literal["categorical", "numeric", "boolean", "text", "correction"]
Scalar = str | int | float | bool

#: Langfuse score config data type for each question type (correction has no config).
LANGFUSE_DATA_TYPE: dict[str, str] = {
    "categorical": "CATEGORICAL",
    "numeric": "NUMERIC",
    "boolean": "BOOLEAN",
    "text": "TEXT",
    "correction": "CORRECTION",
}

_RELATIVE = re.compile(r"^-(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TimeOutOfRange(ValueError):
    """A spec time point that lies outside the calendar (years 1 to 9999, in UTC)."""


#: A relative time longer than this many units is out of range whatever the unit (10**7 days is
#: already 27,000 years), so the number is never converted at its full length.
_MAX_RELATIVE_DIGITS = 9


def resolve_time(point: str, now: datetime) -> datetime:
    """Turn a spec time point (``now``, ``-7d``, an ISO date or date-time) into an aware UTC datetime.

    Raises:
        TimeOutOfRange: the point (or ``now`` minus a relative time) is before year 1 or after year
            9999 in UTC.
        ValueError: the text is no calendar date (``2026-02-30``).
    """
    if point == "now":
        return now
    m = _RELATIVE.match(point)
    try:
        if m:
            if len(m.group(1)) > _MAX_RELATIVE_DIGITS:
                raise OverflowError
            return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        text = point.replace(" ", "T")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)
    except OverflowError:
        raise TimeOutOfRange(f"{point} is outside the calendar (years 1 to 9999, in UTC)") from None


@dataclass(frozen=True)
class ScoreThreshold:
    """A condition on a score the item already has, e.g. ``llm_judge_helpfulness < 0.5``."""

    name: str
    op: Literal["<", "<=", ">", ">=", "=", "!="]
    value: Scalar


@dataclass(frozen=True)
class Filters:
    """Conditions an item must meet. Tuples mean "any of"; ``tags`` means "all of"."""

    trace_name: tuple[str, ...] = ()
    user_id: tuple[str, ...] = ()
    session_id: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    environment: tuple[str, ...] = ()
    release: tuple[str, ...] = ()
    version: tuple[str, ...] = ()
    time_from: str = "-30d"
    time_to: str = "now"
    metadata: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()
    observation_type: tuple[str, ...] = ()
    observation_name: tuple[str, ...] = ()
    scores: tuple[ScoreThreshold, ...] = ()

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The time window ``[from, to)`` as aware UTC datetimes."""
        return resolve_time(self.time_from, now), resolve_time(self.time_to, now)


@dataclass(frozen=True)
class Sample:
    """How many matching items to queue and how to pick them (``source.sample``)."""

    size: int | None = None
    strategy: Literal["random", "latest", "stratified"] = "random"
    by: str | None = None
    seed: int = 0

    #: Upper bound on the queue when ``size`` is not given.
    DEFAULT_LIMIT = 1000

    @property
    def limit(self) -> int:
        """Queue size: ``size``, or :attr:`DEFAULT_LIMIT` when the spec gives none."""
        return self.size if self.size is not None else self.DEFAULT_LIMIT


@dataclass(frozen=True)
class Display:
    """What the reviewer sees of an item, in order (``display``)."""

    parts: tuple[str, ...] = ("input", "output", "metadata", "tree")
    metadata_keys: tuple[str, ...] = ()
    scores: tuple[str, ...] = ()
    #: When automated scores (``scores``, ``compare_with``) are shown: ``after`` the reviewer's own
    #: answer (no anchoring, the default) or already ``before`` it.
    reveal_scores: Literal["before", "after"] = "after"


@dataclass(frozen=True)
class Category:
    """One category of a categorical question: the label is sent, Langfuse stores the value; the
    form shows ``text`` (default: the label humanised, ``minor_issues`` → "Minor issues")."""

    label: str
    value: float
    text: str | None = None


@dataclass(frozen=True)
class Condition:
    """``when`` on a question: ask it only if an earlier answer matches."""

    question: str
    op: Literal["equals", "not_equals", "in"]
    values: tuple[Scalar, ...]

    def matches(self, answer: Any) -> bool:
        """Whether the earlier question's ``answer`` makes this question apply (no answer: never)."""
        if answer is None:
            return False
        hit = any(_same(answer, v) for v in self.values)
        return not hit if self.op == "not_equals" else hit


def _same(answer: Any, value: Scalar) -> bool:
    if isinstance(value, bool) or isinstance(answer, bool):
        return (
            bool(answer) == bool(value) and isinstance(answer, bool | int) and isinstance(value, bool | int)
        )
    if isinstance(value, int | float) and isinstance(answer, int | float):
        return float(answer) == float(value)
    return str(answer) == str(value)


@dataclass(frozen=True)
class Question:
    """One question = one Langfuse score (``questions[]``); ``label`` defaults to the score name."""

    score: str
    type: QuestionType
    label: str
    config_id: str | None = None
    categories: tuple[Category, ...] = ()
    min: float | None = None
    max: float | None = None
    step: float | None = None
    description: str | None = None
    required: bool = True
    help: str | None = None
    when: Condition | None = None
    compare_with: str | None = None
    hard: bool = False  # adaptive overlap: every item gets a second reviewer for this question
    compare_range: tuple[float, float] | None = None  # the compared score's scale, when not the question's
    #: A comparative question of a pair campaign (spec ``type: preference``): a categorical question
    #: whose categories are arm B's outcomes (win, tie, loss, both_bad); the form offers A / B / tie.
    preference: bool = False
    both_bad: bool = False  # preference only: "both bad" is offered (and is a category)
    #: An absolute question asked once per side of a pair (spec ``per_side: true``): the spec's
    #: question becomes two, one per arm (``score`` ``<name>@a`` / ``<name>@b``, labelled "(A)" /
    #: "(B)" as shown in the form); each answer is a score named ``score_name`` on that arm's trace.
    arm: Literal["a", "b"] | None = None

    @property
    def per_side(self) -> bool:
        """Half of a per-side question (spec ``per_side: true``)."""
        return self.arm is not None

    @property
    def score_name(self) -> str:
        """The Langfuse score (and config) name: ``score`` without a per-side question's ``@a`` / ``@b``."""
        return self.score.rsplit("@", 1)[0] if self.arm is not None else self.score

    @property
    def data_type(self) -> str:
        """Langfuse data type: CATEGORICAL, NUMERIC, BOOLEAN, TEXT or CORRECTION."""
        return LANGFUSE_DATA_TYPE[self.type]

    @property
    def labels(self) -> tuple[str, ...]:
        """Category labels in order (empty unless categorical with inline categories)."""
        return tuple(c.label for c in self.categories)


@dataclass(frozen=True)
class AdaptiveOverlap:
    """``review.reviewers_per_item: {min, max, spot_check, seed}``: reviewers added only where needed."""

    min: int = 1
    max: int = 3
    spot_check: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class Review:
    """How reviewers share the work (``review``).

    ``reviewers_per_item`` is the most reviewers an item gets; with ``adaptive`` (a range in the
    spec) items start with ``adaptive.min`` and get more only where answers disagree.
    """

    reviewers_per_item: int = 1
    blind: bool = True
    allow_skip: bool = True
    lease_minutes: float = 30
    reviewers: tuple[str, ...] = ()
    adjudicators: tuple[str, ...] = ()
    adaptive: AdaptiveOverlap | None = None


@dataclass(frozen=True)
class Consensus:
    """How the reviews of one item become a consensus score (``consensus``)."""

    enabled: bool = False
    numeric: Literal["mean", "median"] = "median"
    max_disagreement: float = 0.34


@dataclass(frozen=True)
class Qualification:
    """``quality.qualification``: a reviewer's first ``items`` items are gold; live work once they pass."""

    items: int
    min_accuracy: float = 0.8
    min_kappa: float | None = None
    retries: int = 0


@dataclass(frozen=True)
class Honeypots:
    """``quality.honeypots``: gold items mixed into live work at a seeded ``rate``."""

    rate: float
    seed: int = 0
    min_accuracy: float = 0.8
    stop_below: bool = False


@dataclass(frozen=True)
class Quality:
    """``quality``: gold answers (a file next to the spec and/or existing scores) and how they are used.

    ``gold_file`` is as written in the spec (relative to the spec file); ``gold_scores`` and
    ``tolerance`` are (question, score name / tolerance) pairs.
    """

    gold_file: str | None = None
    gold_scores: tuple[tuple[str, str], ...] = ()
    tolerance: tuple[tuple[str, float], ...] = ()
    qualification: Qualification | None = None
    honeypots: Honeypots | None = None
    training: bool = False
    send_gold_answers: bool = False

    def tolerance_of(self, question: str) -> float:
        """Largest |answer − gold| still counted correct for a numeric question (0: exact)."""
        return dict(self.tolerance).get(question, 0.0)


@dataclass(frozen=True)
class Gate:
    """One of ``gates``: ``metric`` (alpha, judge, reviewer_accuracy, items, win_rate) must be at least ``min``."""

    metric: Literal["alpha", "judge", "reviewer_accuracy", "items", "win_rate"]
    min: float
    question: str | None = None
    on: Literal["estimate", "lower_bound"] = "estimate"


@dataclass(frozen=True)
class PairArm:
    """One arm of a pair campaign: its own filters (``source.filters`` with the arm's keys on top)."""

    filters: Filters
    label: str


@dataclass(frozen=True)
class PairSpec:
    """``pair``: the two arms compared and the key pairing one trace of each.

    ``match`` is ``metadata.<key>``, ``dataset_item`` or ``input``; ``report_by`` the field the
    report breaks win rates down by (None: ``sample.by``).
    """

    a: PairArm
    b: PairArm
    match: str
    reveal_arms: bool = False
    report_by: str | None = None


@dataclass(frozen=True)
class LangfuseOptions:
    """Langfuse-specific options (``langfuse``)."""

    annotation_queue: bool = False
    environment: str | None = None


@dataclass(frozen=True)
class ReviewSpec:
    """A validated review spec. ``spec_hash`` identifies this exact content (sha256 of canonical JSON)."""

    campaign: str
    title: str
    target: Target
    questions: tuple[Question, ...]
    guidelines: str = ""
    filters: Filters = field(default_factory=Filters)
    sample: Sample = field(default_factory=Sample)
    display: Display = field(default_factory=Display)
    comment: Literal["off", "optional", "required"] = "optional"
    review: Review = field(default_factory=Review)
    consensus: Consensus = field(default_factory=Consensus)
    langfuse: LangfuseOptions = field(default_factory=LangfuseOptions)
    quality: Quality | None = None
    gates: tuple[Gate, ...] = ()
    pair: PairSpec | None = None  # target pair only
    version: int = 1
    path: str = "<string>"
    spec_hash: str = ""
    #: The validated spec data this model was built from, as canonical JSON (what the campaign
    #: state stores; :mod:`hitl_pipeline.spec.codec`). Empty for a spec built by hand.
    data_json: str = field(default="", compare=False, repr=False)

    def question(self, score: str) -> Question:
        """The question writing score ``score`` (KeyError if there is none)."""
        for q in self.questions:
            if q.score == score:
                return q
        raise KeyError(score)
