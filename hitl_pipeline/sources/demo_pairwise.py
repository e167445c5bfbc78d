"""Demo data for pair campaigns: the same customer questions answered by two prompt versions.

An offline evaluation run on 2026-11-02: every English opening question of the demo texts (30, over
the five topics) is answered once with prompt ``prompt-v1`` (arm A of
``specs/pairwise_release.yaml``) and once with ``prompt-v2`` (arm B). Each trace carries the
question's id (``metadata.question_id``) and dataset item id (``metadata.dataset_item_id``), so
pairs can be matched by either, or by the input itself.

By design prompt v2 is **better on billing, account and technical** questions (the v1 answer plus a
concrete next step; v1 sometimes answers off target there) and **worse on shipping and returns**
(v2 often gives a generic hand-off instead of the answer). :func:`better_arm` says which arm is
better for each question, for scripted reviewers in tests and demos. One question was not run
with v2 and one v2 trace answers a question v1 never saw, so pairing leaves one unmatched trace in
each arm. Deterministic (``random.Random(seed)``, fixed times); separate from
:func:`hitl_pipeline.sources.demo.generate_demo`, whose data and pinned hash are unchanged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hitl_pipeline.model import Observation, Score, ScoreConfig, Trace
from hitl_pipeline.model.pairs import BOTH_BAD, OUTCOME_VALUES
from hitl_pipeline.sources.demo_texts import demo_texts


@dataclass(frozen=True)
class PairwiseDemo:
    """Both arms' traces and the preference configs (shaped like ``demo.DemoData`` for ``load_demo``)."""

    traces: list[Trace] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    score_configs: list[ScoreConfig] = field(default_factory=list)


#: When the offline run happened (outside the October window of the other demo specs).
PAIRWISE_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
#: Topics where prompt v2 (arm B) is better; it is worse on the others.
B_BETTER_TOPICS = ("billing", "account", "technical")
#: Score configs of the demo pair spec's preference questions (CATEGORICAL: win, tie, loss…).
PAIRWISE_CONFIGS = (
    ScoreConfig(
        id="cfg-answer-preference",
        name="answer_preference",
        data_type="CATEGORICAL",
        categories=(*OUTCOME_VALUES, BOTH_BAD),
        description="Pairwise: this answer against the other prompt version's answer to the same question.",
    ),
    ScoreConfig(
        id="cfg-tone-preference",
        name="tone_preference",
        data_type="CATEGORICAL",
        categories=OUTCOME_VALUES,
        description="Pairwise: tone of this answer against the other one.",
    ),
)

_SLOTS = {
    "{order}": "ORD-48213",
    "{product}": "wireless headphones",
    "{amount}": "€49.90",
    "{date}": "2026-10-28",
    "{email}": "customer512@example.com",
}
_NEXT_STEP = (
    " Next step: reply with your order or account number and I will confirm the change for you right away."
)
_HANDOFF = (
    "Thanks for reaching out. I have forwarded your message to the right team; they will get back to you."
)
_SKIP_IN_B = "q-returns-en-04"  # not run with prompt v2: unmatched in arm A
_ONLY_IN_B = "q-extra-en-01"  # a v2 trace with no v1 counterpart: unmatched in arm B


def _fill(text: str) -> str:
    for key, value in _SLOTS.items():
        text = text.replace(key, value)
    return text


def _questions() -> list[tuple[str, str, str, str]]:
    """(question id, topic, question, planned answer) for every English opening question."""
    texts = demo_texts()
    out = []
    for topic in sorted(texts.questions):
        questions, answers = texts.questions[topic]["en"], texts.answers[topic]["en"]
        for i, question in enumerate(questions):
            answer = answers[i] if i < len(answers) else answers[0]
            out.append((f"q-{topic}-en-{i + 1:02d}", topic, _fill(question), _fill(answer)))
    return out


def better_arm(question_id: str, seed: int = 0) -> str:
    """Which arm answers ``question_id`` better: ``"a"``, ``"b"`` or ``"tie"`` (same answer)."""
    answers = {qid: (a, b) for qid, a, b, _ in _answers(seed)}
    a, b = answers[question_id]
    if a == b:
        return "tie"
    topic = question_id.split("-")[1]
    return "b" if topic in B_BETTER_TOPICS else "a"


def _answers(seed: int) -> list[tuple[str, str, str, str]]:
    """(question id, A's answer, B's answer, topic) per question, drawn deterministically."""
    rng = random.Random(seed)
    texts = demo_texts()
    out = []
    for qid, topic, _question, planned in _questions():
        others = [_fill(a) for a in texts.answers[topic]["en"] if _fill(a) != planned]
        roll = rng.random()
        if topic in B_BETTER_TOPICS:
            a = rng.choice(others) if roll < 0.3 and others else planned
            b = planned + _NEXT_STEP if roll < 0.9 else a
        else:
            a = planned
            b = _HANDOFF if roll < 0.8 else planned
        out.append((qid, a, b, topic))
    return out


def _trace(
    rng: random.Random, *, qid: str, topic: str, question: str, answer: str, arm: str, at: datetime
) -> Trace:
    trace_id = f"{rng.getrandbits(128):032x}"
    version = "prompt-v1" if arm == "a" else "prompt-v2"
    messages = [{"role": "user", "content": question}]
    gen = Observation(
        id=f"{rng.getrandbits(64):016x}",
        trace_id=trace_id,
        type="GENERATION",
        name="generate-answer",
        start_time=at + timedelta(milliseconds=4),
        end_time=at + timedelta(milliseconds=700 + len(answer)),
        model="gpt-4o-mini",
        input=[{"role": "system", "content": demo_texts().answer_prompt}, *messages],
        output={"role": "assistant", "content": answer},
        usage={
            "input": 420 + len(question) // 3,
            "output": len(answer) // 3,
            "total": 420 + len(question + answer) // 3,
        },
        metadata={"prompt_version": version},
    )
    return Trace(
        id=trace_id,
        name="support-answer",
        timestamp=at,
        tags=("offline-eval",),
        environment="evaluation",
        release="2026.11.0",
        version=version,
        input={"messages": messages},
        output={"role": "assistant", "content": answer},
        metadata={
            "topic": topic,
            "language": "en",
            "question_id": qid,
            "dataset_item_id": f"support-questions-{qid}",
            "prompt_version": version,
        },
        observations=(gen,),
    )


def generate_pairwise_demo(seed: int = 0) -> PairwiseDemo:
    """Both arms' traces (v1 first, then v2) and the preference score configs."""
    rng = random.Random(seed + 1_000_003)
    questions = {qid: (topic, question) for qid, topic, question, _ in _questions()}
    traces: list[Trace] = []
    for n, (qid, a_answer, b_answer, topic) in enumerate(_answers(seed)):
        question = questions[qid][1]
        at = PAIRWISE_START + timedelta(minutes=n, microseconds=n)
        traces.append(_trace(rng, qid=qid, topic=topic, question=question, answer=a_answer, arm="a", at=at))
        if qid != _SKIP_IN_B:
            at_b = at + timedelta(hours=6)
            traces.append(
                _trace(rng, qid=qid, topic=topic, question=question, answer=b_answer, arm="b", at=at_b)
            )
    extra = "Can I change the language of my invoices to German?"
    traces.append(
        _trace(
            rng,
            qid=_ONLY_IN_B,
            topic="billing",
            question=extra,
            answer="Yes: open Billing → Invoice settings and pick German." + _NEXT_STEP,
            arm="b",
            at=PAIRWISE_START + timedelta(hours=8),
        )
    )
    return PairwiseDemo(traces=traces, scores=[], score_configs=list(PAIRWISE_CONFIGS))


__all__ = [
    "B_BETTER_TOPICS",
    "PAIRWISE_CONFIGS",
    "PAIRWISE_START",
    "PairwiseDemo",
    "better_arm",
    "generate_pairwise_demo",
]
