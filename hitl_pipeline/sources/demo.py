"""Deterministic demo data: a customer-support chat assistant's traces, October 2026.

:func:`generate_demo` builds the same data on every machine and Python version for a given seed:
it only uses ``random.Random(seed)`` (never ``hash()`` or set order) and a fixed base date. The data
has multi-turn sessions with chat histories in five languages, classification and answer
generations with models and token usage, retrieval spans, tool calls with JSON arguments, a few
ERROR observations, a few very long answers, markdown and ``<thinking>`` tags, the automated judge
scores (``llm_judge_helpfulness`` on traces, ``llm_judge_faithfulness`` on answers) and the score
configs the example specs ask for.

The texts it picks from (questions and answers per topic and language, follow-ups, products, error
messages, prompts, the score configs…) are package data, ``demo_data/demo.json``, read by
:mod:`hitl_pipeline.sources.demo_texts`; this module is the generator.

:func:`ensure_demo_store` creates the local store with this data when it does not exist yet, so the
first ``hitl run`` works on a fresh machine. :func:`generate_large` streams cheap traces for
benchmarks.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hitl_pipeline.model import Observation, Score, ScoreConfig, Trace
from hitl_pipeline.sources.demo_texts import Followup, demo_texts

#: Every demo timestamp falls in [DEMO_START, DEMO_END): specs use from "2026-10-01", to "2026-11-01".
DEMO_START = datetime(2026, 10, 1, tzinfo=UTC)
DEMO_END = datetime(2026, 11, 1, tzinfo=UTC)

T = TypeVar("T")


@dataclass(frozen=True)
class DemoData:
    """The generated data set: traces (each with its observations), scores and score configs."""

    traces: list[Trace] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    score_configs: list[ScoreConfig] = field(default_factory=list)

    @property
    def observations(self) -> list[Observation]:
        """Every observation of every trace, in trace order."""
        return [o for t in self.traces for o in t.observations]


_TEXTS = demo_texts()
#: The score configs the example specs use. Ids are fixed so specs can name them.
SCORE_CONFIGS = _TEXTS.score_configs
TOPICS = _TEXTS.topics
LANGUAGES = _TEXTS.languages
PLANS = _TEXTS.plans
MODELS = _TEXTS.models
#: Sessions start in the month minus its last 6 hours (a session lasts at most ~50 minutes).
_WINDOW_S = int((DEMO_END - DEMO_START).total_seconds()) - 6 * 3600


def _plan_followups(rng: random.Random, language: str, count: int, escalated: bool) -> list[Followup]:
    """``count`` follow-up turns ``(kind, message, answer)`` that read as one conversation: an
    escalated one opens angrily, fresh follow-ups do not repeat, a thank-you can only close it."""
    options = _TEXTS.followups[language]
    middle = [o for o in options if o[0] == "middle"]
    angry = next(o for o in options if o[0] == "angry")
    final = next(o for o in options if o[0] == "final")
    rng.shuffle(middle)
    plan: list[Followup] = [angry] if escalated and count else []
    while len(plan) < count:
        last = len(plan) == count - 1
        if last and (not middle or rng.random() < 0.5):
            plan.append(final)
        elif middle:
            plan.append(middle.pop())
        else:
            plan.append(angry)  # out of fresh follow-ups: the customer insists, and is escalated
    return plan


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[rng.randrange(len(items))]


def _hex(rng: random.Random, chars: int) -> str:
    return f"{rng.getrandbits(chars * 4):0{chars}x}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _session_slots(rng: random.Random, topic: str, order: str) -> dict[str, str]:
    """The values a conversation is about, drawn once so question and answer agree."""
    return {
        "{order}": order,
        "{product}": _pick(rng, _TEXTS.products),
        "{amount}": f"€{rng.randrange(9, 250)}.{_pick(rng, ('00', '49', '90', '99'))}",
        "{date}": f"2026-10-{rng.randrange(1, 29):02d}",
        "{email}": f"customer{rng.randrange(100, 999)}@example.com",
        "{topic}": topic,
    }


def _fill(text: str, slots: dict[str, str]) -> str:
    for key, value in slots.items():
        text = text.replace(key, value)
    return text


def _long_answer(rng: random.Random, topic: str) -> str:
    """A very long, structured answer (troubleshooting guide), 6–12k characters."""
    parts = [f"# Complete guide: {topic}\n\nHere is everything you need, step by step.\n"]
    steps = rng.randrange(40, 70)
    for n in range(1, steps + 1):
        title = _pick(rng, _TEXTS.kb_titles[topic])
        parts.append(
            f"## Step {n}: {title}\n\nCheck the item below and note the result before moving on. "
            f"If this step does not apply (reference KB-{rng.randrange(1000, 9999)}), skip it.\n"
        )
    parts.append("\nIf none of this helps, reply to this message and a specialist will take over.")
    return "\n".join(parts)


@dataclass(frozen=True)
class _Session:
    """What every turn of one demo conversation shares."""

    id: str
    user_id: str
    plan: str
    language: str
    topic: str
    environment: str
    turns: int
    order: str
    escalated: bool
    beta: bool
    slots: dict[str, str]
    followups: list[Followup]
    start_s: int


def _users(rng: random.Random) -> list[tuple[str, str, str]]:
    """80 customers: (user id, plan, language)."""
    users = []
    for n in range(1, 81):
        users.append(
            (
                f"user-{n:03d}",
                rng.choices(PLANS, weights=_TEXTS.plan_weights)[0],
                rng.choices(LANGUAGES, weights=_TEXTS.language_weights)[0],
            )
        )
    return users


def _new_session(
    rng: random.Random, users: Sequence[tuple[str, str, str]], number: int, remaining: int
) -> _Session:
    user_id, plan, language = _pick(rng, users)
    topic = _pick(rng, TOPICS)
    environment = "staging" if rng.random() < 0.15 else "production"
    turns = min(rng.choices((1, 2, 3, 4, 5), weights=(35, 25, 20, 12, 8))[0], remaining)
    order = f"ORD-{rng.randrange(10000, 99999)}"
    escalated = rng.random() < 0.12
    beta = rng.random() < 0.12
    slots = _session_slots(rng, topic, order)
    followups = _plan_followups(rng, language, turns - 1, escalated)
    return _Session(
        id=f"sess-{number:04d}",
        user_id=user_id,
        plan=plan,
        language=language,
        topic=topic,
        environment=environment,
        turns=turns,
        order=order,
        escalated=escalated,
        beta=beta,
        slots=slots,
        followups=followups,
        start_s=rng.randrange(_WINDOW_S),
    )


def generate_demo(seed: int = 0, traces: int = 400) -> DemoData:
    """The demo data set: ``traces`` traces in 1–5-turn sessions, October 2026.

    Deterministic: the same ``seed`` and ``traces`` give equal data on every machine.
    """
    rng = random.Random(seed)
    users = _users(rng)
    out_traces: list[Trace] = []
    scores: list[Score] = []
    session_no = 0
    while len(out_traces) < traces:
        session_no += 1
        session = _new_session(rng, users, session_no, traces - len(out_traces))
        history: list[dict[str, str]] = []
        offset_s = 0
        for turn in range(session.turns):
            # The trace index as microseconds makes every timestamp unique, so newest-first order
            # has no ties and is the same in every backend.
            ts = DEMO_START + timedelta(seconds=session.start_s + offset_s, microseconds=len(out_traces))
            offset_s += rng.randrange(40, 600)
            trace, history, failed, has_tool = _turn(rng, session, turn, ts, history)
            out_traces.append(trace)
            scores.extend(_judge_scores(rng, trace, failed=failed, has_tool=has_tool))
    return DemoData(traces=out_traces, scores=scores, score_configs=list(SCORE_CONFIGS))


def _first_turn(rng: random.Random, session: _Session) -> tuple[str, str]:
    """The customer's opening question and the answer planned for it."""
    questions = _TEXTS.questions[session.topic][session.language]
    question_no = rng.randrange(len(questions))
    if rng.random() < 0.02:
        question = _fill(_pick(rng, _TEXTS.hostile), session.slots)
    else:
        question = _fill(questions[question_no], session.slots)
    # Mostly the answer written for this question; sometimes another one of the topic,
    # the kind of off-target answer reviewers are there to catch.
    answers = _TEXTS.answers[session.topic][session.language]
    on_target = question_no < len(answers) and rng.random() < 0.85
    return question, _fill(answers[question_no] if on_target else _pick(rng, answers), session.slots)


def _tags(rng: random.Random, session: _Session, turn: int) -> tuple[str, ...]:
    tags = []
    if rng.random() < 0.92:
        tags.append("support")
    # Escalated from the customer's first angry message on.
    if any(kind == "angry" for kind, _, _ in session.followups[:turn]):
        tags.append("escalated")
    if session.plan == "enterprise":
        tags.append("vip")
    if session.beta:
        tags.append("beta")
    return tuple(tags)


def _turn(
    rng: random.Random, session: _Session, turn: int, ts: datetime, history: list[dict[str, str]]
) -> tuple[Trace, list[dict[str, str]], bool, bool]:
    """One turn of a conversation: (trace, history after it, something failed, a tool was used)."""
    release = "2026.10.1" if ts < datetime(2026, 10, 15, tzinfo=UTC) else "2026.10.2"
    version = "v2" if release == "2026.10.2" and rng.random() < 0.5 else "v1"
    support_topic = session.topic in ("shipping", "returns")
    is_lookup = support_topic and rng.random() < 0.25
    if turn == 0:
        question, planned = _first_turn(rng, session)
    else:
        _kind, question, planned = session.followups[turn - 1]
    messages = [*history, {"role": "user", "content": question}]
    tags = _tags(rng, session, turn)
    trace_id = _hex(rng, 32)
    observations, answer, failed, has_tool = _observations(
        rng,
        trace_id,
        ts,
        messages,
        topic=session.topic,
        language=session.language,
        order=session.order,
        with_tool=is_lookup or (support_topic and rng.random() < 0.3),
        planned_answer=planned,
    )
    trace = Trace(
        id=trace_id,
        name="order-lookup" if is_lookup else "support-chat",
        timestamp=ts,
        user_id=session.user_id,
        session_id=session.id,
        tags=tags,
        environment=session.environment,
        release=release,
        version=version,
        input={"messages": messages},
        output={"role": "assistant", "content": answer},
        metadata={
            "topic": session.topic,
            "plan": session.plan,
            "language": session.language,
            "turn": turn + 1,
        },
        observations=tuple(observations),
    )
    return trace, [*messages, {"role": "assistant", "content": answer}], failed, has_tool


def _judge_scores(rng: random.Random, trace: Trace, *, failed: bool, has_tool: bool) -> list[Score]:
    """Automated judges (source EVAL), as an LLM-as-a-judge pipeline would leave them."""
    scores = []
    if rng.random() < 0.85:
        value = rng.uniform(0.02, 0.3) if failed else rng.uniform(0.35, 0.99)
        scores.append(
            Score(
                id=_uuid(rng),
                name="llm_judge_helpfulness",
                value=round(value, 2),
                data_type="NUMERIC",
                timestamp=trace.timestamp + timedelta(minutes=2),
                trace_id=trace.id,
                comment=_pick(rng, _TEXTS.judge_comments),
                source="EVAL",
                environment=trace.environment,
            )
        )
    answer_obs = next(o for o in trace.observations if o.name == "generate-answer")
    if answer_obs.level != "ERROR" and rng.random() < 0.65:
        scores.append(
            Score(
                id=_uuid(rng),
                name="llm_judge_faithfulness",
                value=round(rng.uniform(0.2, 1.0) if has_tool else rng.uniform(0.5, 1.0), 2),
                data_type="NUMERIC",
                timestamp=trace.timestamp + timedelta(minutes=3),
                trace_id=trace.id,
                observation_id=answer_obs.id,
                source="EVAL",
                environment=trace.environment,
            )
        )
    return scores


class _Clock:
    """Consecutive spans of one turn."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def span(self, ms: int) -> tuple[datetime, datetime]:
        start = self.t
        self.t = self.t + timedelta(milliseconds=ms)
        return start, self.t


def _classify(
    rng: random.Random, trace_id: str, clock: _Clock, question: str, topic: str, language: str
) -> Observation:
    s, e = clock.span(rng.randrange(250, 900))
    prompt_tokens = 180 + len(question) // 3
    return Observation(
        id=_hex(rng, 16),
        trace_id=trace_id,
        type="GENERATION",
        name="classify-intent",
        start_time=s,
        end_time=e,
        model="gpt-4o-mini",
        input=[
            {"role": "system", "content": _TEXTS.classify_prompt.replace("{topics}", ", ".join(TOPICS))},
            {"role": "user", "content": question},
        ],
        output={"intent": topic, "confidence": round(rng.uniform(0.62, 0.99), 2), "language": language},
        usage={"input": prompt_tokens, "output": 12, "total": prompt_tokens + 12},
        metadata={"temperature": 0},
    )


def _retrieve(
    rng: random.Random, trace_id: str, clock: _Clock, question: str, topic: str, language: str
) -> tuple[Observation, list[dict[str, Any]]]:
    s, e = clock.span(rng.randrange(40, 220))
    docs = [
        {
            "id": f"kb-{topic}-{rng.randrange(1, 60):03d}",
            "title": _pick(rng, _TEXTS.kb_titles[topic]),
            "score": round(rng.uniform(0.55, 0.95), 3),
        }
        for _ in range(rng.randrange(2, 5))
    ]
    obs = Observation(
        id=_hex(rng, 16),
        trace_id=trace_id,
        type="RETRIEVER",
        name="retrieve-docs",
        start_time=s,
        end_time=e,
        input={"query": question[:200], "top_k": len(docs), "index": f"support-kb-{language}"},
        output={"documents": docs},
        metadata={"index_version": "2026-09-28"},
    )
    return obs, docs


def _tool_call(
    rng: random.Random, trace_id: str, parent_id: str, gen_start: datetime, order: str
) -> Observation:
    """The ``lookup_order`` tool call of the answering generation (ERROR in ~6 % of calls)."""
    tool_start = gen_start + timedelta(milliseconds=rng.randrange(300, 700))
    tool_end = tool_start + timedelta(milliseconds=rng.randrange(80, 1500))
    tool_failed = rng.random() < 0.06
    status = rng.choice(("in_transit", "delivered", "processing", "returned"))
    msg, _kind = _TEXTS.errors["lookup_order"]
    return Observation(
        id=_hex(rng, 16),
        trace_id=trace_id,
        parent_id=parent_id,
        type="TOOL",
        name="lookup_order",
        start_time=tool_start,
        end_time=tool_end if not tool_failed else tool_start + timedelta(seconds=10),
        input={"order_id": order, "include": ["status", "tracking", "items"]},
        output=None
        if tool_failed
        else {
            "order_id": order,
            "status": status,
            "carrier": rng.choice(_TEXTS.carriers),
            "tracking": f"1Z{rng.randrange(10**9, 10**10)}",
            "items": [{"sku": f"SKU-{rng.randrange(100, 999)}", "qty": 1}],
            "estimated_delivery": f"2026-11-{rng.randrange(1, 9):02d}",
        },
        level="ERROR" if tool_failed else "DEFAULT",
        status_message=msg.replace("{order}", order) if tool_failed else None,
    )


def _answer(
    rng: random.Random, *, model: str, topic: str, language: str, planned: str, tool_failed: bool
) -> tuple[str, str, bool]:
    """(answer, raw model output, the generation failed): the planned answer, or a fallback, or
    a very long one; some answers of one model carry a ``<thinking>`` preamble."""
    gen_failed = rng.random() < 0.025
    answer_len_roll = rng.random()
    if gen_failed:
        answer = _TEXTS.fallback[language]
    elif answer_len_roll < 0.02:
        answer = _long_answer(rng, topic)
    else:
        answer = planned
    if tool_failed and not gen_failed:
        answer = _TEXTS.fallback[language]
    raw_output = answer
    if model == "claude-3-5-haiku" and not gen_failed and rng.random() < 0.3:
        raw_output = _TEXTS.thinking.replace("{topic}", topic) + answer
    return answer, raw_output, gen_failed


def _observations(
    rng: random.Random,
    trace_id: str,
    ts: datetime,
    messages: list[dict[str, str]],
    *,
    topic: str,
    language: str,
    order: str,
    with_tool: bool,
    planned_answer: str,
) -> tuple[list[Observation], str, bool, bool]:
    """One turn's observations; returns (observations, final answer, failed, used a tool)."""
    question = messages[-1]["content"]
    clock = _Clock(ts + timedelta(milliseconds=3))
    obs = [_classify(rng, trace_id, clock, question, topic, language)]
    retrieval, docs = _retrieve(rng, trace_id, clock, question, topic, language)
    obs.append(retrieval)
    model = rng.choices(MODELS, weights=_TEXTS.model_weights)[0]
    gen_start = clock.t + timedelta(milliseconds=2)
    gen_id = _hex(rng, 16)
    tool_obs = _tool_call(rng, trace_id, gen_id, gen_start, order) if with_tool else None
    tool_failed = tool_obs is not None and tool_obs.level == "ERROR"
    answer, raw_output, gen_failed = _answer(
        rng, model=model, topic=topic, language=language, planned=planned_answer, tool_failed=tool_failed
    )
    gen_ms = 400 + len(answer) // 2 + rng.randrange(0, 900)
    gen_end = gen_start + timedelta(milliseconds=gen_ms)
    if tool_obs is not None and tool_obs.end_time is not None and tool_obs.end_time > gen_end:
        gen_end = tool_obs.end_time + timedelta(milliseconds=300)
    in_tokens = 450 + sum(len(m["content"]) for m in messages) // 3
    out_tokens = 0 if gen_failed else max(8, len(raw_output) // 3)
    msg, _kind = _TEXTS.errors["generate-answer"]
    obs.append(
        Observation(
            id=gen_id,
            trace_id=trace_id,
            type="GENERATION",
            name="generate-answer",
            start_time=gen_start,
            end_time=gen_end,
            model=model,
            input=[{"role": "system", "content": _TEXTS.answer_prompt}, *messages],
            output=None if gen_failed else {"role": "assistant", "content": raw_output},
            level="ERROR" if gen_failed else "DEFAULT",
            status_message=msg if gen_failed else None,
            usage={"input": in_tokens, "output": out_tokens, "total": in_tokens + out_tokens},
            metadata={"temperature": 0.3, "max_tokens": 1024, "documents": [d["id"] for d in docs]},
        )
    )
    if tool_obs is not None:
        obs.append(tool_obs)
    obs.sort(key=lambda o: (o.start_time, o.id))
    return obs, answer, gen_failed or tool_failed, tool_obs is not None


def generate_large(n_traces: int, seed: int = 0) -> Iterator[Trace]:
    """Stream ``n_traces`` cheap traces (one generation each) across October 2026, for benchmarks.

    Same vocabulary as the demo (names, tags, environments, metadata topic/plan/language), so the
    same filters apply; nothing is held in memory.
    """
    rng = random.Random(seed)
    span_us = int((DEMO_END - DEMO_START).total_seconds() * 1_000_000)
    step = max(1, span_us // max(1, n_traces))
    for i in range(n_traces):
        ts = DEMO_START + timedelta(microseconds=i * step + rng.randrange(step))
        topic = _pick(rng, TOPICS)
        language = rng.choices(LANGUAGES, weights=_TEXTS.language_weights)[0]
        plan = rng.choices(PLANS, weights=_TEXTS.plan_weights)[0]
        tags = ["support"] if rng.random() < 0.92 else []
        if rng.random() < 0.1:
            tags.append("escalated")
        if plan == "enterprise":
            tags.append("vip")
        trace_id = f"{i:08x}{_hex(rng, 24)}"
        question = _pick(rng, _TEXTS.questions[topic][language])
        answer = _pick(rng, _TEXTS.answers[topic][language])
        yield Trace(
            id=trace_id,
            name="order-lookup" if rng.random() < 0.1 else "support-chat",
            timestamp=ts,
            user_id=f"user-{rng.randrange(1, 5001):04d}",
            session_id=f"sess-{i // 3:07d}",
            tags=tuple(tags),
            environment="staging" if rng.random() < 0.15 else "production",
            release="2026.10.1" if ts < datetime(2026, 10, 15, tzinfo=UTC) else "2026.10.2",
            version=rng.choice(("v1", "v2")),
            input={"messages": [{"role": "user", "content": question}]},
            output={"role": "assistant", "content": answer},
            metadata={"topic": topic, "plan": plan, "language": language},
            observations=(
                Observation(
                    id=f"{i:08x}{_hex(rng, 8)}",
                    trace_id=trace_id,
                    type="GENERATION",
                    name="generate-answer",
                    start_time=ts + timedelta(milliseconds=5),
                    end_time=ts + timedelta(milliseconds=900),
                    model=rng.choice(MODELS),
                    input=question,
                    output=answer,
                    usage={"input": 500, "output": 60, "total": 560},
                ),
            ),
        )


def load_demo(source: Any, data: DemoData) -> None:
    """Insert ``data`` into a :class:`~hitl_pipeline.sources.local.LocalSource` (configs, traces, scores)."""
    source.insert_score_configs(data.score_configs)
    source.insert_traces(data.traces)
    source.insert_scores(data.scores)


def ensure_demo_store(
    path: str | os.PathLike[str], *, seed: int = 0, traces: int = 400, force: bool = False
) -> bool:
    """Create the local store at ``path`` filled with the demo data, unless it exists already.

    Returns True when it created the store. The file is built under a temporary name and renamed
    into place, so an interrupted run never leaves a half-filled store behind. ``force`` replaces
    an existing store (``hitl demo --force``).
    """
    from hitl_pipeline.sources.local import LocalSource

    target = Path(path)
    if target.exists() and not force:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unique per caller (process and thread), so concurrent first uses never share a build file.
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    _remove_db(tmp)
    store = LocalSource(tmp)
    try:
        load_demo(store, generate_demo(seed=seed, traces=traces))
        # The pair campaign demo (specs/pairwise_release.yaml): two prompt versions' answers.
        from hitl_pipeline.sources.demo_pairwise import generate_pairwise_demo

        pairwise = generate_pairwise_demo(seed=seed)
        store.insert_score_configs(pairwise.score_configs)
        store.insert_traces(pairwise.traces)
        # Fold the WAL into the main file so the rename moves one complete database.
        store.checkpoint()
    except BaseException:
        store.close()
        _remove_db(tmp)
        raise
    store.close()
    if force:
        _remove_db(target)
        os.replace(tmp, target)
        return True
    try:
        # A hard link creates the name only if it is still free: when two processes build the demo
        # store at once, the first one wins and nobody replaces a file another process has open.
        os.link(tmp, target)
    except FileExistsError:
        _remove_db(tmp)
        return False
    except OSError:
        # No hard links on this file system: fall back to a plain rename.
        if target.exists():
            _remove_db(tmp)
            return False
        os.replace(tmp, target)
        return True
    _remove_db(tmp)
    return True


@dataclass(frozen=True)
class DemoStoreInfo:
    """Result of :func:`make_demo_store`: whether the store was (re)created, and what it holds."""

    path: Path
    created: bool
    counts: dict[str, int]


def make_demo_store(path: str | os.PathLike[str], *, force: bool = False) -> DemoStoreInfo:
    """Create the demo store at ``path`` (replace it with ``force``) and report its row counts.

    This is what ``hitl demo`` calls. An existing store is left alone unless ``force`` is set.
    """
    from hitl_pipeline.sources.local import LocalSource

    created = ensure_demo_store(path, force=force)
    with LocalSource(path) as store:
        counts = store.counts()
    return DemoStoreInfo(path=Path(path).resolve(), created=created, counts=counts)


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass
