"""From YAML to the frozen ReviewSpec: defaults, normalisation, the spec hash, the example specs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from hitl_pipeline.errors import SpecError
from hitl_pipeline.spec import check_text, load_spec, load_spec_text, schema, validate_specs
from hitl_pipeline.spec.model import Category, Condition, ScoreThreshold
from hitl_pipeline.spec.starter import starter_text

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "specs").glob("*.yaml"))

MINIMAL = """\
version: 1
campaign: mini
title: Minimal
target: trace
questions:
  - score: good
    type: categorical
    categories: [no, maybe, yes]
"""


def test_there_are_example_specs_for_every_target() -> None:
    targets = {load_spec(p).target for p in EXAMPLES}
    assert targets == {"trace", "observation", "session"}
    assert {p.name for p in EXAMPLES} >= {"support_qa.yaml", "tool_calls.yaml", "session_resolution.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_specs_are_valid_for_a_stock_validator(path: Path) -> None:
    # What an editor or another tool sees: the shipped schema and plain PyYAML data.
    Draft202012Validator.check_schema(schema())
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # Stock PyYAML turns unquoted dates into date objects; the examples quote theirs on purpose.
    assert list(Draft202012Validator(schema()).iter_errors(data)) == []
    assert validate_specs([path]) == [(str(path), [])]


def test_support_qa_model() -> None:
    spec = load_spec(REPO / "specs" / "support_qa.yaml")
    assert spec.campaign == "support-qa-2026-10"
    assert spec.target == "trace"
    assert spec.path.endswith("support_qa.yaml")
    quality = spec.question("support_quality")
    assert quality.type == "categorical" and quality.data_type == "CATEGORICAL"
    assert quality.categories == (Category("excellent", 2.0), Category("acceptable", 1.0), Category("poor", 0.0))
    assert spec.question("helpfulness").min == 1.0 and spec.question("helpfulness").max == 5.0
    assert spec.question("helpfulness").compare_with == "llm_judge_helpfulness"
    notes = spec.question("reviewer_notes")
    assert notes.required is False
    assert notes.when == Condition("support_quality", "equals", ("poor",))
    assert spec.filters.trace_name == ("support-chat",)
    assert spec.filters.time_from == "2026-10-01" and spec.filters.time_to == "2026-11-01"
    assert spec.sample.size == 50 and spec.sample.seed == 42
    assert spec.display.parts == ("input", "output", "metadata", "tree", "scores")
    assert spec.display.scores == ("llm_judge_helpfulness",)


def test_defaults_and_normalisation() -> None:
    spec = load_spec_text(
        MINIMAL
        + """\
  - score: ok
    type: boolean
    when: {question: good, in: ["yes", maybe]}
source:
  filters:
    tags: [vip]
    environment: production
    metadata: {topic: billing, plan: [pro, enterprise]}
    scores: [{name: judge, op: "<", value: 0.5}]
"""
    )
    good, ok = spec.questions
    assert good.label == "good"  # the label defaults to the score name
    assert good.categories == (Category("no", 0.0), Category("maybe", 1.0), Category("yes", 2.0))
    assert good.required is True
    assert ok.when == Condition("good", "in", ("yes", "maybe"))
    assert spec.filters.environment == ("production",)
    assert spec.filters.tags == ("vip",)
    assert spec.filters.metadata == (("plan", ("pro", "enterprise")), ("topic", ("billing",)))
    assert spec.filters.scores == (ScoreThreshold("judge", "<", 0.5),)
    assert (spec.filters.time_from, spec.filters.time_to) == ("-30d", "now")
    assert spec.sample.strategy == "random" and spec.sample.size is None and spec.sample.seed == 0
    assert spec.comment == "optional"
    assert spec.review.reviewers_per_item == 1 and spec.review.blind is True
    assert spec.path == "<string>"
    hash(spec)  # frozen and hashable all the way down


def test_comment_off_is_the_string_off() -> None:
    assert load_spec_text(MINIMAL + "comment: off\n").comment == "off"


def test_spec_hash_is_sha256_of_canonical_json() -> None:
    data, issues = check_text(MINIMAL)
    assert issues == []
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    spec = load_spec_text(MINIMAL)
    assert spec.spec_hash == hashlib.sha256(canonical.encode()).hexdigest()
    # Key order and formatting do not matter; content does.
    reordered = "title: Minimal\ncampaign: mini\nversion: 1\ntarget: trace\nquestions: [{type: categorical, score: good, categories: [no, maybe, yes]}]\n"
    assert load_spec_text(reordered).spec_hash == spec.spec_hash
    assert load_spec_text(MINIMAL.replace("Minimal", "Minimal!")).spec_hash != spec.spec_hash


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_canonical_json_reloads_to_the_same_spec(path: Path) -> None:
    # Campaign state stores the spec as JSON and reloads it with the same loader.
    spec = load_spec(path)
    data, _ = check_text(path.read_text(encoding="utf-8"), str(path))
    again = load_spec_text(json.dumps(data, sort_keys=True), str(path))
    assert again == spec


def test_starter_spec_validates() -> None:
    spec = load_spec_text(starter_text("review.yaml"))
    assert [q.score for q in spec.questions] == ["answer_quality", "answer_correct", "answer_fix"]


def test_schema_is_a_fresh_copy() -> None:
    first = schema()
    first["properties"].clear()
    assert "questions" in schema()["properties"]


def test_all_problems_at_once_sorted_by_position() -> None:
    text = MINIMAL.replace("target: trace", "target: tracee").replace("version: 1", "version: 3") + "colour: red\n"
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "x.yaml")
    assert [str(i) for i in info.value.issues] == [
        "x.yaml:1:10: version: must be 1, found 3",
        "x.yaml:4:9: target: 'tracee' is not one of trace, observation, session (did you mean 'trace'?)",
        "x.yaml:9:1: colour: unknown key 'colour' (allowed here: $schema, campaign, comment, consensus, display, "
        "guidelines, langfuse, questions, review, source, target, title, version)",
    ]
    assert str(info.value).startswith("3 problems in spec:\nx.yaml:1:10:")
