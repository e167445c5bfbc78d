"""Scores of a pair judgment: one on each trace of the pair (``target: pair``).

A comparative answer is stored as arm B's outcome (``win``, ``tie``, ``loss``, ``both_bad``).
:func:`pair_scores` turns the score built for the pair into two: B's trace gets B's outcome under
the score's own deterministic id, A's trace the mirrored outcome under an id derived from it. Both
carry metadata naming the pair (``hitl_pair``), the arm (``hitl_arm``), the opponent trace
(``hitl_opponent``), the side the trace was shown on (``hitl_side``: left = "A" in the form) and the
pair's stratum when it has one (``hitl_stratum``), next to the usual reviewer and campaign keys.

A per-side question (``per_side: true``: the spec's question asked once per arm, ``<name>@a`` and
``<name>@b``) is one score on its own arm's trace only, named like the question, with the same
pair metadata and ``hitl_question`` naming the arm's question (how read-back and resume find it).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from hitl_pipeline.model import ItemRef, ScoreWrite
from hitl_pipeline.model.pairs import Arm, left_arm, mirror, pair_traces, side_of
from hitl_pipeline.spec.model import Question, ReviewSpec

#: Namespace of the id of A's score, derived from B's (fixed forever).
PAIR_NAMESPACE = uuid.UUID("0b7e5d1c-3f2a-5c49-8e61-7a2d9c4b1f30")


def mirrored_id(score_id: str) -> str:
    """The id of the score on A's trace, from the id of the same judgment's score on B's trace."""
    return str(uuid.uuid5(PAIR_NAMESPACE, score_id))


def answers_pair(metadata: dict[str, object]) -> bool:
    """Whether a score with this metadata holds a pair answer: B's score of a judgment on both
    traces, or either arm's score of a per-side question (``hitl_question`` ends in ``@a`` / ``@b``)."""
    asked = metadata.get("hitl_question")
    return metadata.get("hitl_arm") == "b" or (isinstance(asked, str) and asked.endswith(("@a", "@b")))


def pair_scores(
    spec: ReviewSpec, ref: ItemRef, score: ScoreWrite, q: Question | None = None
) -> list[ScoreWrite]:
    """[score on B's trace, score on A's trace] for a score built on the pair ``ref``; for a
    per-side question ``q``, [the score on that arm's trace]."""
    (a_id, _), (b_id, _) = pair_traces(ref.id)
    left = left_arm(spec.sample.seed, ref.key)
    labels = {"a": spec.pair.a.label, "b": spec.pair.b.label} if spec.pair is not None else {}

    def on(arm: Arm, trace_id: str, opponent: str, value: float | str, score_id: str) -> ScoreWrite:
        metadata = dict(score.metadata)
        metadata.update(
            hitl_pair=ref.key,
            hitl_arm=arm,
            hitl_opponent=opponent,
            hitl_side=side_of(arm, left),
        )
        if arm in labels:
            metadata["hitl_arm_label"] = labels[arm]
        if ref.stratum is not None:
            metadata["hitl_stratum"] = ref.stratum
        return replace(
            score,
            id=score_id,
            trace_id=trace_id,
            observation_id=None,
            session_id=None,
            value=value,
            metadata=metadata,
        )

    if q is not None and q.arm is not None:
        mine, theirs = (a_id, b_id) if q.arm == "a" else (b_id, a_id)
        one = on(q.arm, mine, theirs, score.value, score.id)
        return [replace(one, metadata={**one.metadata, "hitl_question": q.score})]
    value_a = mirror(str(score.value)) if isinstance(score.value, str) else score.value
    return [
        on("b", b_id, a_id, score.value, score.id),
        on("a", a_id, b_id, value_a, mirrored_id(score.id)),
    ]
