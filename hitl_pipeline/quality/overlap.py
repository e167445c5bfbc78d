"""Adaptive overlap: spend a second and third reviewer only where the first answers leave doubt.

With ``review.reviewers_per_item: {min: 1, max: 3}`` every item starts needing ``min`` reviewers
(``items.needed`` in the campaign state; the queue leases an item while it has fewer answers than
it needs). After each answer, :func:`wants_another` decides whether the item needs one more:

- after **one** answer: when it disagrees with the question's ``compare_with`` score (an LLM
  judge; see :mod:`hitl_pipeline.quality.judge`) or the item has no such score to check it
  against, when a question marked ``hard`` was answered, or
  on a seeded spot-check (``spot_check`` share of items, by a hash of the seed and the item key:
  reproducible, and enough doubly-reviewed items to estimate agreement);
- after **two or more**: when the reviewers disagree on any categorical, boolean or numeric question;
- never beyond ``max``.

Numeric answers "disagree" when they differ by more than the question's ``quality.tolerance``,
or, without one, by more than a quarter of its min–max range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.model import Score
from hitl_pipeline.quality.judge import answer_text, as_float, judge_label, judge_number
from hitl_pipeline.quality.manager import unit
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.model import Question, ReviewSpec

GRADED = ("categorical", "boolean", "numeric")


def numeric_tolerance(spec: ReviewSpec, q: Question) -> float:
    """How far two numeric answers (or an answer and the judge) may be apart and still agree."""
    if spec.quality is not None and spec.quality.tolerance_of(q.score) > 0:
        return spec.quality.tolerance_of(q.score)
    if q.min is not None and q.max is not None:
        return (q.max - q.min) / 4
    return 0.0


def disagrees_with_judge(spec: ReviewSpec, q: Question, answer: Any, judge: Any) -> bool:
    """Whether a reviewer's answer disagrees with the judge's score (False when either is missing)."""
    if answer is None or judge is None:
        return False
    if q.type == "numeric":
        j, a = judge_number(q, judge), as_float(answer)
        return j is not None and a is not None and abs(a - j) > numeric_tolerance(spec, q) + 1e-9
    label = judge_label(q, judge)
    return label is not None and label != answer_text(answer)


def reviewers_disagree(spec: ReviewSpec, q: Question, values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return False
    if q.type == "numeric":
        nums = [x for x in (as_float(v) for v in present) if x is not None]
        return bool(nums) and max(nums) - min(nums) > numeric_tolerance(spec, q) + 1e-9
    return len({answer_text(v) for v in present}) > 1


def wants_another(
    spec: ReviewSpec,
    item_key: str,
    answers: Sequence[Mapping[str, Any]],
    judge: Mapping[str, Any],
) -> str | None:
    """Why the item needs one more reviewer (``judge``, ``no judge``, ``hard``, ``spot-check``,
    ``disagreement``),
    or None. ``answers``: one mapping per reviewer so far; ``judge``: judge score name → value."""
    adaptive = spec.review.adaptive
    if adaptive is None or len(answers) >= adaptive.max or not answers:
        return None
    questions = [q for q in spec.questions if q.type in GRADED]
    if len(answers) >= 2:
        for q in questions:
            if reviewers_disagree(spec, q, [a.get(q.score) for a in answers]):
                return "disagreement"
        return None
    first = answers[0]
    for q in questions:
        if q.hard and first.get(q.score) is not None:
            return "hard"
    for q in questions:
        if not q.compare_with or first.get(q.score) is None:
            continue
        if q.compare_with not in judge:
            return "no judge"  # nothing to check the first answer against
        if disagrees_with_judge(spec, q, first.get(q.score), judge[q.compare_with]):
            return "judge"
    if is_spot_checked(spec, item_key):
        return "spot-check"
    return None


def is_spot_checked(spec: ReviewSpec, item_key: str) -> bool:
    """Whether the item is in the seeded spot-check sample (a second reviewer whatever the first
    said): a random sample of items, so agreement estimated on it is unbiased."""
    adaptive = spec.review.adaptive
    return adaptive is not None and unit(adaptive.seed, "spot-check", item_key) < adaptive.spot_check


class AdaptiveOverlapPolicy:
    """Keeps ``items.needed`` up to date in a running campaign (the service calls
    :meth:`on_submitted` inside the transaction that stores each answer)."""

    def __init__(self, spec: ReviewSpec, state: CampaignState, source: Source) -> None:
        assert spec.review.adaptive is not None
        self.spec = spec
        self.state = state
        self.adaptive = spec.review.adaptive
        with state.transaction() as c:  # items queued since the last start (or ever) need min first
            c.execute("UPDATE items SET needed = ? WHERE needed IS NULL", (self.adaptive.min,))
        self.judge = judge_scores(spec, source)

    def total_slots(self) -> int:
        """Review slots of the campaign as decided so far (each item's ``needed``)."""
        row = self.state.db.one(
            "SELECT COALESCE(SUM(COALESCE(needed, ?)), 0) FROM items", (self.adaptive.min,)
        )
        return int(row[0]) if row is not None else 0

    def on_submitted(self, item_key: str) -> None:
        with self.state.transaction() as c:
            row = c.execute("SELECT done, needed FROM items WHERE key = ?", (item_key,)).fetchone()
            if row is None:
                return
            done, needed = int(row[0]), int(row[1] if row[1] is not None else self.adaptive.min)
            if done < needed or needed >= self.adaptive.max:
                return
            answers = [r.answers for r in self.state.reviews(item_key=item_key)]
            if wants_another(self.spec, item_key, answers, self.judge.get(item_key, {})):
                c.execute("UPDATE items SET needed = ? WHERE key = ?", (needed + 1, item_key))


def judge_scores(spec: ReviewSpec, source: Source) -> dict[str, dict[str, Any]]:
    """Item key → judge score name → value, for the spec's ``compare_with`` scores (newest wins;
    scores written by hitl itself are left out)."""
    names = sorted({q.compare_with for q in spec.questions if q.compare_with})
    if not names:
        return {}
    newest: dict[tuple[str, str], Any] = {}
    for s in source.iter_scores(names=names):
        if (s.metadata or {}).get("hitl_campaign"):
            continue
        key = _judged_item(spec.target, s)
        if key is None:
            continue
        old = newest.get((key, s.name))
        if old is None or s.timestamp > old.timestamp:
            newest[(key, s.name)] = s
    out: dict[str, dict[str, Any]] = {}
    for (key, name), s in newest.items():
        value = s.string_value if s.data_type == "CATEGORICAL" and s.string_value else s.value
        if value is not None:
            out.setdefault(key, {})[name] = value
    return out


def _judged_item(target: str, s: Score) -> str | None:
    """The key of the item a judge score is about (None when it is not about an item of ``target``)."""
    if target == "trace":
        return f"trace:{s.trace_id}" if s.trace_id and not s.observation_id and not s.session_id else None
    if target == "observation":
        return f"observation:{s.observation_id}" if s.observation_id else None
    return f"session:{s.session_id}" if s.session_id else None


__all__ = [
    "AdaptiveOverlapPolicy",
    "is_spot_checked",
    "disagrees_with_judge",
    "judge_scores",
    "numeric_tolerance",
    "reviewers_disagree",
    "wants_another",
]
