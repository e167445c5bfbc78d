"""Scores built from answers: deterministic ids, metadata, targets, Langfuse's rules."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from hitl_pipeline.errors import ScoreValidationError
from hitl_pipeline.model import Item, ItemRef, Observation, ScoreConfig, Session, Trace
from hitl_pipeline.scoring.answers import output_text, validate_answers
from hitl_pipeline.scoring.scores import (
    SCORE_NAMESPACE,
    build_scores,
    item_environment,
    score_from_json,
    score_id,
    score_to_json,
)
from hitl_pipeline.sources.local import LocalSource
from tests.campaign.campaign_support import demo_configs, make_spec

T = datetime(2026, 10, 5, tzinfo=UTC)
ANSWERS = {"support_quality": "acceptable", "helpfulness": 3.0, "factually_correct": False}


def test_score_id_is_uuid5_over_the_agreed_fields() -> None:
    sid = score_id("camp", 1, "trace:t1", "helpfulness", "ann")
    assert sid == str(uuid.uuid5(SCORE_NAMESPACE, "camp\x1f1\x1ftrace:t1\x1fhelpfulness\x1fann"))
    assert sid == score_id("camp", 1, "trace:t1", "helpfulness", "ann")
    others = {
        score_id("camp2", 1, "trace:t1", "helpfulness", "ann"),
        score_id("camp", 2, "trace:t1", "helpfulness", "ann"),
        score_id("camp", 1, "trace:t2", "helpfulness", "ann"),
        score_id("camp", 1, "trace:t1", "support_quality", "ann"),
        score_id("camp", 1, "trace:t1", "helpfulness", "bob"),
    }
    assert sid not in others and len(others) == 5


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("trace", {"trace_id": "t1", "observation_id": None, "session_id": None}),
        ("observation", {"trace_id": "t1", "observation_id": "o1", "session_id": None}),
        ("session", {"trace_id": None, "observation_id": None, "session_id": "s1"}),
    ],
)
def test_targets_metadata_and_values(store: LocalSource, kind: str, target: dict[str, str | None]) -> None:
    spec = make_spec()
    ref = ItemRef(
        kind=kind, id={"trace": "t1", "observation": "o1", "session": "s1"}[kind], timestamp=T, trace_id="t1"
    )  # type: ignore[arg-type]
    built = dict(
        build_scores(
            spec, ref, "ann", ANSWERS, "note", demo_configs(store, spec), timestamp=T, git_commit="c" * 40
        )
    )
    assert set(built) == {"support_quality", "helpfulness", "factually_correct"}
    for q, s in built.items():
        assert (s.trace_id, s.observation_id, s.session_id) == (
            target["trace_id"],
            target["observation_id"],
            target["session_id"],
        )
        assert s.source == "ANNOTATION" and s.config_id and s.comment == "note" and s.timestamp == T
        assert s.metadata == {
            "hitl_campaign": spec.campaign,
            "hitl_reviewer": "ann",
            "hitl_spec_hash": spec.spec_hash,
            "hitl_spec_version": 1,
            "hitl_git_commit": "c" * 40,
        }
        assert s.id == score_id(spec.campaign, 1, ref.key, q, "ann")
        assert score_from_json(score_to_json(s)) == s
    assert (
        built["support_quality"].value == "acceptable" and built["support_quality"].data_type == "CATEGORICAL"
    )
    assert built["helpfulness"].value == 3.0 and built["helpfulness"].data_type == "NUMERIC"
    assert built["factually_correct"].value == 0.0 and built["factually_correct"].data_type == "BOOLEAN"


def test_no_git_commit_means_no_git_commit_key(store: LocalSource) -> None:
    # Outside git the key is left out (Langfuse stores metadata as text: a null became "null").
    spec = make_spec()
    ref = ItemRef(kind="trace", id="t1", timestamp=T)
    built = build_scores(spec, ref, "ann", ANSWERS, None, demo_configs(store, spec), git_commit=None)
    for _, s in built:
        assert "hitl_git_commit" not in s.metadata
        assert s.metadata["hitl_campaign"] == spec.campaign


def test_environment_is_the_items_unless_the_spec_sets_one(store: LocalSource) -> None:
    spec = make_spec()
    configs = demo_configs(store, spec)
    ref = ItemRef(kind="trace", id="t1", timestamp=T)
    built = build_scores(spec, ref, "ann", ANSWERS, None, configs, environment="staging")
    assert {s.environment for _, s in built} == {"staging"}
    pinned = replace(spec, langfuse=replace(spec.langfuse, environment="human-review"))
    built = build_scores(pinned, ref, "ann", ANSWERS, None, configs, environment="staging")
    assert {s.environment for _, s in built} == {"human-review"}
    trace = Trace(id="t1", name="n", timestamp=T, environment="production")
    assert item_environment(Item(ref=ref, trace=trace)) == "production"
    session = Session(id="s1", traces=(trace,))
    assert item_environment(Item(ref=ItemRef("session", "s1", T), session=session)) == "production"


def test_rules_are_checked_before_anything_is_stored(store: LocalSource) -> None:
    spec = make_spec()
    configs = demo_configs(store, spec)
    archived = {
        **configs,
        "helpfulness": ScoreConfig(**{**configs["helpfulness"].__dict__, "is_archived": True}),
    }
    ref = ItemRef(kind="trace", id="t1", timestamp=T)
    with pytest.raises(ScoreValidationError, match="archived"):
        build_scores(spec, ref, "ann", ANSWERS, None, archived)
    missing = {k: v for k, v in configs.items() if k != "helpfulness"}
    with pytest.raises(ScoreValidationError, match="no score config resolved"):
        build_scores(spec, ref, "ann", ANSWERS, None, missing)


def test_config_range_wins_over_the_question(store: LocalSource) -> None:
    spec = make_spec()
    configs = demo_configs(store, spec)
    narrow = {
        **configs,
        "helpfulness": ScoreConfig(id="c", name="helpfulness", data_type="NUMERIC", min_value=1, max_value=3),
    }
    with pytest.raises(ScoreValidationError, match="above the maximum 3"):
        validate_answers(spec, narrow, {**ANSWERS, "helpfulness": 4}, None)


def test_boolean_answers_accept_form_values(store: LocalSource) -> None:
    spec = make_spec()
    configs = demo_configs(store, spec)
    for raw, want in ((True, True), ("yes", True), ("No", False), (0, False), (1.0, True)):
        got, _ = validate_answers(spec, configs, {**ANSWERS, "factually_correct": raw}, None)
        assert got["factually_correct"] is want


def test_output_text() -> None:
    obs = Observation(id="o", trace_id="t", type="GENERATION", name="g", start_time=T, output={"answer": 1})
    trace = Trace(id="t", name="n", timestamp=T, output={"role": "assistant", "content": "Hi"})
    assert output_text(Item(ref=ItemRef("trace", "t", T), trace=trace)) == "Hi"
    assert (
        output_text(Item(ref=ItemRef("observation", "o", T), trace=trace, observation=obs))
        == '{\n  "answer": 1\n}'
    )
    assert output_text(None) is None
