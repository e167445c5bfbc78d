"""Demo data: deterministic, matching the agreed shape, and created on first use."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from hitl_pipeline.model import Trace
from hitl_pipeline.model.score_rules import score_config_problems
from hitl_pipeline.sources.demo import (
    DEMO_END,
    DEMO_START,
    DemoData,
    ensure_demo_store,
    generate_demo,
    generate_large,
    make_demo_store,
)
from hitl_pipeline.sources.demo_pairwise import generate_pairwise_demo
from hitl_pipeline.sources.demo_texts import demo_texts, parse_demo_texts
from hitl_pipeline.sources.local import LocalSource

#: sha256 of generate_demo(seed=0, traces=400). Other teams' tests and the Langfuse fake rely on
#: this exact data: change it only on purpose, and update this value in the same commit.
PINNED_DEMO_HASH = "ab3536271cb71e4c0870136e7dde808448d5d38710c4c78394131f531ca38f3d"

_HASH_SNIPPET = """
import hashlib, json
from dataclasses import asdict, replace
from hitl_pipeline.sources.demo import generate_demo
payload = json.dumps(asdict(generate_demo()), default=str, sort_keys=True, ensure_ascii=False)
print(hashlib.sha256(payload.encode()).hexdigest())
"""


def demo_hash(data: DemoData) -> str:
    payload = json.dumps(asdict(data), default=str, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


@pytest.fixture(scope="module")
def full() -> DemoData:
    return generate_demo()


def test_demo_is_deterministic_and_pinned(full: DemoData) -> None:
    assert demo_hash(generate_demo()) == demo_hash(full) == PINNED_DEMO_HASH
    assert demo_hash(generate_demo(seed=1)) != PINNED_DEMO_HASH


@pytest.mark.slow
def test_demo_does_not_depend_on_hash_randomisation() -> None:
    # A fresh interpreter with another string-hash seed must produce the same bytes.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", _HASH_SNIPPET], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == PINNED_DEMO_HASH


def test_smaller_demo_is_a_consistent_data_set() -> None:
    small = generate_demo(seed=0, traces=120)
    assert len(small.traces) == 120
    trace_ids = {t.id for t in small.traces}
    obs_ids = {o.id for o in small.observations}
    for s in small.scores:
        assert s.trace_id in trace_ids
        assert s.observation_id is None or s.observation_id in obs_ids


def test_demo_matches_the_agreed_shape(full: DemoData) -> None:
    traces = full.traces
    assert len(traces) == 400
    names = Counter(t.name for t in traces)
    assert set(names) == {"support-chat", "order-lookup"}
    assert 0.05 < names["order-lookup"] / 400 < 0.15
    envs = Counter(t.environment for t in traces)
    assert set(envs) == {"production", "staging"} and envs["production"] > envs["staging"]
    assert {tag for t in traces for tag in t.tags} == {"support", "escalated", "vip", "beta"}
    assert all(t.user_id and t.user_id.startswith("user-") and 1 <= int(t.user_id[5:]) <= 80 for t in traces)
    sessions = Counter(t.session_id for t in traces)
    assert all(sid and sid.startswith("sess-") for sid in sessions)
    assert set(sessions.values()) == {1, 2, 3, 4, 5}
    assert {t.release for t in traces} == {"2026.10.1", "2026.10.2"}
    assert {t.version for t in traces} == {"v1", "v2"}
    assert {t.metadata["topic"] for t in traces} == {"billing", "shipping", "returns", "account", "technical"}
    assert {t.metadata["plan"] for t in traces} == {"free", "pro", "enterprise"}
    assert {t.metadata["language"] for t in traces} == {"en", "de", "fr", "es", "ja"}
    stamps = [t.timestamp for t in traces]
    assert all(DEMO_START <= ts < DEMO_END and ts.tzinfo is not None for ts in stamps)
    assert len(set(stamps)) == len(stamps)  # no ties: newest-first order is the same in every backend
    starts = [o.start_time for o in full.observations]
    assert len(set(starts)) == len(starts)


def test_demo_conversations_and_languages(full: DemoData) -> None:
    for t in full.traces:
        msgs = t.input["messages"]
        assert msgs[-1]["role"] == "user" and all(m["role"] in ("user", "assistant") for m in msgs)
        assert t.output["role"] == "assistant" and t.output["content"]
        assert len(msgs) == 2 * t.metadata["turn"] - 1  # the chat history grows turn by turn
    ja = next(t for t in full.traces if t.metadata["language"] == "ja")
    assert any(
        "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in ja.input["messages"][0]["content"]
    )
    de = [t for t in full.traces if t.metadata["language"] == "de"]
    assert any(ch in t.output["content"] for t in de for ch in "äöüß")


def test_demo_observations(full: DemoData) -> None:
    obs = full.observations
    assert Counter(o.name for o in obs)["classify-intent"] == 400
    assert {o.type for o in obs} == {"GENERATION", "RETRIEVER", "TOOL"}
    answers = [o for o in obs if o.name == "generate-answer"]
    assert {o.model for o in answers} == {"gpt-4o-mini", "claude-3-5-haiku"}
    assert all(o.usage["total"] == o.usage["input"] + o.usage["output"] for o in answers)
    tools = [o for o in obs if o.type == "TOOL"]
    assert tools and all(
        o.name == "lookup_order" and isinstance(o.input, dict) and o.parent_id for o in tools
    )
    errors = [o for o in obs if o.level == "ERROR"]
    assert 3 <= len(errors) <= 40 and all(o.status_message for o in errors)
    assert any(len(t.output["content"]) > 5000 for t in full.traces)  # a few very long answers
    raw = [o.output["content"] for o in answers if o.output]
    assert any("<thinking>" in text for text in raw)
    assert any("**" in text or "\n1. " in text for text in raw)
    for t in full.traces:
        assert [o.start_time for o in t.observations] == sorted(o.start_time for o in t.observations)
        assert all(o.trace_id == t.id for o in t.observations)


def test_demo_scores_and_configs(full: DemoData) -> None:
    names = Counter(s.name for s in full.scores)
    assert set(names) == {"llm_judge_helpfulness", "llm_judge_faithfulness"}
    assert names["llm_judge_helpfulness"] > 0.7 * 400
    assert all(
        s.source == "EVAL" and s.data_type == "NUMERIC" and 0 <= float(s.value or 0) <= 1 for s in full.scores
    )
    helpful = [s for s in full.scores if s.name == "llm_judge_helpfulness"]
    assert all(s.observation_id is None for s in helpful)
    answer_ids = {o.id for o in full.observations if o.name == "generate-answer"}
    faithful = [s for s in full.scores if s.name == "llm_judge_faithfulness"]
    assert faithful and all(s.observation_id in answer_ids for s in faithful)
    assert len({s.id for s in full.scores}) == len(full.scores)
    configs = {c.id: c for c in full.score_configs}
    assert set(configs) == {
        "cfg-support-quality",
        "cfg-helpfulness",
        "cfg-factually-correct",
        "cfg-tool-call-correct",
        "cfg-issue-resolved",
        "cfg-reviewer-notes",
    }
    assert configs["cfg-support-quality"].categories == (
        ("excellent", 2.0),
        ("acceptable", 1.0),
        ("poor", 0.0),
    )
    assert (configs["cfg-helpfulness"].min_value, configs["cfg-helpfulness"].max_value) == (1.0, 5.0)
    assert configs["cfg-factually-correct"].data_type == "BOOLEAN"
    assert [label for label, _ in configs["cfg-tool-call-correct"].categories] == [
        "correct",
        "minor_issues",
        "incorrect",
    ]
    assert configs["cfg-reviewer-notes"].data_type == "TEXT"


def test_the_packaged_demo_texts_load_and_cover_every_topic_and_language() -> None:
    texts = demo_texts()
    assert texts.topics == ("billing", "shipping", "returns", "account", "technical")
    assert len(texts.languages) == len(texts.language_weights) == 5
    assert len(texts.plans) == len(texts.plan_weights) and len(texts.models) == len(texts.model_weights)
    for topic in texts.topics:
        assert texts.kb_titles[topic]
        for language in texts.languages:
            assert texts.questions[topic][language] and texts.answers[topic][language], (topic, language)
    for language in texts.languages:
        kinds = Counter(kind for kind, _, _ in texts.followups[language])
        assert kinds["angry"] == kinds["final"] == 1 and kinds["middle"] >= 1, language
        assert texts.fallback[language]
    assert "{topics}" in texts.classify_prompt and "{topic}" in texts.thinking
    assert set(texts.errors) == {"lookup_order", "generate-answer"}
    for c in texts.score_configs:  # valid configs (BOOLEAN categories are the server's own True/False)
        categories = () if c.data_type == "BOOLEAN" else c.categories
        assert not score_config_problems(c.name, c.data_type, categories, c.min_value, c.max_value), c


def test_the_demo_texts_are_declared_package_data() -> None:
    # Found through importlib.resources above; it must also ship in the wheel.
    import tomllib

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    data = root / "hitl_pipeline" / "sources" / "demo_data" / "demo.json"
    assert any(data in (root / "hitl_pipeline").glob(p) for p in patterns["hitl_pipeline"])
    raw = json.loads(data.read_text(encoding="utf-8"))
    assert parse_demo_texts(raw) == demo_texts()


def test_ensure_demo_store_creates_once(tmp_path: Path) -> None:
    path = tmp_path / "home" / "local.db"
    assert ensure_demo_store(path) is True
    assert ensure_demo_store(path) is False
    with LocalSource(path) as store:
        counts = store.counts()
        # The store also holds the pair campaign demo (sources/demo_pairwise.py): 60 traces of two
        # prompt versions and their 2 preference configs; generate_demo's data (and hash) is unchanged.
        pairwise = generate_pairwise_demo()
        assert len(pairwise.traces) == 60 and len(pairwise.score_configs) == 2
        assert counts["traces"] == 400 + 60 and counts["score_configs"] == 6 + 2 and counts["scores"] > 0
        store.write_scores([])  # usable
    assert not list(tmp_path.glob("home/.*tmp*"))  # no temporary file left behind
    info = make_demo_store(path)
    assert not info.created and info.counts == counts
    # --force starts over: scores added in the meantime are gone.
    with LocalSource(path) as store:
        store.insert_scores([replace(generate_demo(traces=1).scores[0], id="extra")])
        assert store.counts()["scores"] == counts["scores"] + 1
    info = make_demo_store(path, force=True)
    assert info.created and info.counts == counts


def test_generate_large_streams_cheap_traces() -> None:
    gen = generate_large(5000, seed=3)
    assert iter(gen) is gen  # a generator, not a list
    traces = list(gen)
    assert len(traces) == 5000 and len({t.id for t in traces}) == 5000
    assert all(len(t.observations) == 1 for t in traces)
    assert all(DEMO_START <= t.timestamp < DEMO_END for t in traces)
    assert {t.metadata["topic"] for t in traces} == {"billing", "shipping", "returns", "account", "technical"}
    assert [t.id for t in generate_large(200, seed=3)] == [t.id for t in generate_large(200, seed=3)]


def test_demo_conversations_are_coherent(full: DemoData) -> None:
    angry = {"en": "manager", "de": "Vorgesetzten", "fr": "responsable", "es": "supervisor", "ja": "責任者"}
    by_session: dict[str, list[Trace]] = {}
    for t in full.traces:
        by_session.setdefault(t.session_id or "", []).append(t)
        users = [m["content"] for m in t.input["messages"] if m["role"] == "user"]
        was_angry = any(angry[t.metadata["language"]] in u for u in users[1:])
        assert ("escalated" in t.tags) == was_angry, t.id
    for traces in by_session.values():
        traces.sort(key=lambda t: t.timestamp)
        last = traces[-1].input["messages"]
        # One order, one amount per conversation: question and answers agree on them.
        text = " ".join(m["content"] for m in last) + traces[-1].output["content"]
        assert len(set(re.findall(r"€\d+\.\d\d", text))) <= 1, text
        assert len(set(re.findall(r"ORD-\d{5}", text))) <= 1, text
        # Each turn's history is the previous turn's history plus its answer.
        for earlier, later in zip(traces, traces[1:], strict=False):
            assert later.input["messages"][: len(earlier.input["messages"])] == earlier.input["messages"]
        thanks = [m for m in last if m["role"] == "user"][:-1]
        assert not any(
            m["content"] in ("Perfect, that solved it. Thank you!", "Super, danke!") for m in thanks
        )


def test_concurrent_first_use_creates_one_store(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "race" / "local.db"
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_demo_store(path, traces=30))) for _ in range(3)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert sorted(results) == [False, False, True]  # exactly one creator, the others see its store
    with LocalSource(path) as store:
        assert store.counts()["traces"] == 30 + 60  # + the pair campaign demo
    assert [p.name for p in path.parent.iterdir() if "tmp" in p.name] == []
