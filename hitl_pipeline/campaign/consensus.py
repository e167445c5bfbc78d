"""Consensus of an item's reviews, and when it needs an adjudicator.

Pure functions first (:func:`decide`, :func:`disagreement`): the report uses the same
definition of "disagreement" as the campaign, so the items it lists as most disputed are the
ones that went to adjudication. Consensus *scores* (deterministic ids, ``hitl_consensus``
metadata) are built by :func:`consensus_scores`.

Definitions (spec ``consensus``):

- categorical / boolean: the majority answer. Disagreement = share of reviewers who did not
  give the majority answer. A tie for the top answer always goes to adjudication.
- numeric: mean or median (``consensus.numeric``). Disagreement = spread (max − min) divided by
  the question's range (``max − min``); without a range, by the largest absolute answer.
- text / correction: no consensus.

An item goes to adjudication when a question ties or its disagreement is above
``consensus.max_disagreement``.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hitl_pipeline.spec.model import Question

#: Question types that get a consensus value.
CONSENSUS_TYPES = ("categorical", "boolean", "numeric")

#: Namespace of consensus score ids (uuid5), distinct from the per-reviewer score ids.
CONSENSUS_NAMESPACE = uuid.UUID("6f1c1f62-56f5-4b8e-9d0e-2a4c6d0c5e11")

#: ``hitl_reviewer`` recorded on consensus scores decided by the rule (not by an adjudicator).
CONSENSUS_REVIEWER = "hitl:consensus"


@dataclass(frozen=True)
class Decision:
    """The consensus of one question on one item.

    ``value`` is None when the item needs an adjudicator (``needs_adjudication``).
    ``votes`` counts each answer (categorical labels, ``"true"``/``"false"``; empty for numeric).
    """

    question: str
    value: Any
    votes: dict[str, int] = field(default_factory=dict)
    disagreement: float = 0.0
    tie: bool = False
    needs_adjudication: bool = False
    answers: int = 0


def _vote_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def disagreement(question: Question, values: Sequence[Any]) -> float:
    """How much the answers to one question on one item disagree, from 0 (all equal) to 1."""
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return 0.0
    if question.type == "numeric":
        nums = [float(v) for v in present]
        spread = max(nums) - min(nums)
        if spread == 0:
            return 0.0
        if question.min is not None and question.max is not None and question.max > question.min:
            scale = question.max - question.min
        else:
            scale = max(abs(n) for n in nums)
        return min(1.0, spread / scale)
    counts = Counter(_vote_key(v) for v in present)
    return 1 - max(counts.values()) / len(present)


def decide(
    question: Question,
    values: Sequence[Any],
    *,
    numeric: Literal["mean", "median"] = "median",
    max_disagreement: float = 0.34,
) -> Decision:
    """The consensus of ``values`` (one per reviewer) for ``question``.

    Raises:
        ValueError: for text / correction questions, which have no consensus.
    """
    if question.type not in CONSENSUS_TYPES:
        raise ValueError(f"question {question.score!r} ({question.type}) has no consensus")
    present = [v for v in values if v is not None]
    spread = disagreement(question, present)
    if not present:
        return Decision(question.score, None, needs_adjudication=True)
    if question.type == "numeric":
        nums = [float(v) for v in present]
        value: Any = statistics.fmean(nums) if numeric == "mean" else statistics.median(nums)
        too_far = spread > max_disagreement
        return Decision(
            question.score,
            None if too_far else value,
            disagreement=spread,
            needs_adjudication=too_far,
            answers=len(present),
        )
    counts = Counter(_vote_key(v) for v in present)
    top = max(counts.values())
    leaders = [k for k, c in counts.items() if c == top]
    tie = len(leaders) > 1
    adjudicate = tie or spread > max_disagreement
    winner: Any = None
    if not adjudicate:
        winner = next(v for v in present if _vote_key(v) == leaders[0])
    return Decision(
        question.score,
        winner,
        votes=dict(sorted(counts.items())),
        disagreement=spread,
        tie=tie,
        needs_adjudication=adjudicate,
        answers=len(present),
    )


def decide_item(
    questions: Sequence[Question],
    answers_by_reviewer: Mapping[str, Mapping[str, Any]],
    *,
    numeric: Literal["mean", "median"] = "median",
    max_disagreement: float = 0.34,
) -> list[Decision]:
    """One :class:`Decision` per consensus-capable question that at least one reviewer answered."""
    out: list[Decision] = []
    for q in questions:
        if q.type not in CONSENSUS_TYPES:
            continue
        values = [a.get(q.score) for a in answers_by_reviewer.values()]
        if all(v is None for v in values):
            continue  # e.g. a `when` question nobody was asked
        out.append(decide(q, values, numeric=numeric, max_disagreement=max_disagreement))
    return out


def consensus_score_id(campaign: str, spec_version: int | str, item_key: str, score_name: str) -> str:
    """Deterministic id of the consensus score of one question on one item."""
    return str(uuid.uuid5(CONSENSUS_NAMESPACE, f"{campaign}\x1f{spec_version}\x1f{item_key}\x1f{score_name}"))
