"""From YAML to the frozen ReviewSpec: defaults, normalisation, the spec hash, the example specs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from hitl_pipeline.errors import SpecError
from hitl_pipeline.spec import check_text, load_spec, load_spec_text, schema, validate_specs
from hitl_pipeline.spec.model import Category, Condition, Gate, Honeypots, Qualification, ScoreThreshold
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
    assert targets == {"trace", "observation", "session", "pair"}
    assert {p.name for p in EXAMPLES} >= {
        "support_qa.yaml",
        "tool_calls.yaml",
        "session_resolution.yaml",
        "pairwise_release.yaml",
    }


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
    assert quality.categories == (
        Category("excellent", 2.0),
        Category("acceptable", 1.0),
        Category("poor", 0.0),
    )
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
    text = (
        MINIMAL.replace("target: trace", "target: tracee").replace("version: 1", "version: 3")
        + "colour: red\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "x.yaml")
    assert [str(i) for i in info.value.issues] == [
        "x.yaml:1:10: version: must be 1, found 3",
        "x.yaml:4:9: target: 'tracee' is not one of trace, observation, session, pair (did you mean 'trace'?)",
        "x.yaml:9:1: colour: unknown key 'colour' (allowed here: $schema, campaign, comment, consensus, display, gates, "
        "guidelines, langfuse, pair, quality, questions, review, source, target, title, version)",
    ]
    assert str(info.value).startswith("3 problems in spec:\nx.yaml:1:10:")


MAXIMAL = """\
$schema: ../hitl_pipeline/spec/schema/v1.json
version: 1
campaign: everything.v2
title: Every field
guidelines: "Be *kind*."
target: observation
source:
  filters:
    trace_name: [support-chat, order-lookup]
    user_id: user-001
    session_id: [sess-0001]
    tags: [support]
    exclude_tags: [beta]
    environment: production
    release: 2026.10.2
    version: v2
    from: 2026-10-01T00:00:00Z
    to: -1h
    metadata: {topic: billing, language: [de, fr]}
    observation_type: [TOOL, GENERATION]
    observation_name: lookup_order
    scores:
      - {name: llm_judge_faithfulness, op: "<=", value: 0.5}
  sample: {size: 25, strategy: stratified, by: observation_name, seed: 9}
display:
  parts: [output, input, scores, metadata, tree]
  metadata_keys: [topic]
  scores: [llm_judge_faithfulness]
  reveal_scores: before
questions:
  - score: tool_call_correct
    type: categorical
    label: Correct call?
    config_id: cfg-tool-call-correct
    categories: [{label: correct, value: 2}, {label: incorrect, value: 0, text: Wrong call}]
    description: d
    required: true
    help: h
    compare_with: llm_judge_faithfulness
  - score: effort
    type: numeric
    min: 0
    max: 10
    step: 0.5
    when: {question: tool_call_correct, not_equals: correct}
    compare_with: llm_judge_effort
    compare_range: [0, 1]
    hard: true
  - score: fixed_output
    type: correction
    required: false
comment: required
review:
  reviewers_per_item: 2
  blind: false
  allow_skip: false
  lease_minutes: 12.5
  reviewers: [alice, bob, carol]
  adjudicators: [carol]
consensus: {enabled: true, numeric: mean, max_disagreement: 0.5}
langfuse: {annotation_queue: true, environment: review}
quality:
  gold_file: gold/everything.yaml
  gold_scores: {tool_call_correct: expert_tool_call}
  tolerance: {effort: 1.5}
  qualification: {items: 4, min_accuracy: 0.75, min_kappa: 0.5, retries: 2}
  honeypots: {rate: 0.05, seed: 3, min_accuracy: 0.7, stop_below: true}
  training: true
  send_gold_answers: true
gates:
  - {metric: alpha, question: tool_call_correct, min: 0.67, on: lower_bound}
  - {metric: items, min: 20}
"""


def _schema_paths(node: dict[str, Any], defs: dict[str, Any], prefix: str = "") -> set[str]:
    if "$ref" in node:
        node = {**defs[node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    out: set[str] = set()
    for name, sub in node.get("properties", {}).items():
        out.add(prefix + name)
        out |= _schema_paths(sub, defs, f"{prefix}{name}.")
        if isinstance(sub.get("items"), dict):
            out |= _schema_paths(sub["items"], defs, f"{prefix}{name}[].")
    return out


def _data_paths(data: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            out.add(prefix + key)
            out |= _data_paths(value, f"{prefix}{key}.")
    elif isinstance(data, list):
        for item in data:
            out |= _data_paths(item, prefix[:-1] + "[].")
    return out


MAXIMAL_PAIR = """\
version: 1
campaign: max-pair
title: Maximal pair spec
target: pair
pair:
  arms:
    a: {label: prompt v1, filters: {version: v1, release: "2026.10.1", tags: [a], metadata: {topic: billing}}}
    b: {label: prompt v2, filters: {version: v2, from: "2026-11-01", to: "2026-12-01"}}
  match: metadata.question_id
  reveal_arms: true
  report_by: metadata.topic
questions:
  - {score: answer_preference, type: preference, label: "Better?", both_bad: true, required: true}
  - {score: clarity, type: numeric, min: 1, max: 5, per_side: true}
gates:
  - {metric: win_rate, question: answer_preference, min: 0.5, "on": lower_bound}
"""


def test_maximal_spec_uses_every_schema_field() -> None:
    data, issues = check_text(MAXIMAL)
    assert issues == []
    pair_data, issues = check_text(MAXIMAL_PAIR)
    assert issues == []
    root = schema()
    # An arm's filters are source.filters' definition (covered by MAXIMAL).
    arm_filters = {
        p for p in _schema_paths(root, root["$defs"]) if ".filters." in p and p.startswith("pair.")
    }
    # `when` takes one of equals/not_equals/in at a time; the other two are covered elsewhere.
    unused = _schema_paths(root, root["$defs"]) - _data_paths(data) - _data_paths(pair_data) - arm_filters
    assert unused == {"questions[].when.equals", "questions[].when.in"}
    assert all(
        p.replace("pair.arms.a.", "source.").replace("pair.arms.b.", "source.") in _data_paths(data)
        for p in arm_filters
    )


def test_maximal_spec_reaches_the_model() -> None:
    spec = load_spec_text(MAXIMAL, "max.yaml")
    f = spec.filters
    assert f.trace_name == ("support-chat", "order-lookup") and f.user_id == ("user-001",)
    assert f.session_id == ("sess-0001",) and f.tags == ("support",) and f.exclude_tags == ("beta",)
    assert (f.environment, f.release, f.version) == (("production",), ("2026.10.2",), ("v2",))
    assert (f.time_from, f.time_to) == ("2026-10-01T00:00:00Z", "-1h")
    assert f.metadata == (("language", ("de", "fr")), ("topic", ("billing",)))
    assert f.observation_type == ("TOOL", "GENERATION") and f.observation_name == ("lookup_order",)
    assert f.scores == (ScoreThreshold("llm_judge_faithfulness", "<=", 0.5),)
    assert (spec.sample.size, spec.sample.strategy, spec.sample.by, spec.sample.seed) == (
        25,
        "stratified",
        "observation_name",
        9,
    )
    assert spec.display.parts == ("output", "input", "scores", "metadata", "tree")
    assert spec.display.metadata_keys == ("topic",) and spec.display.scores == ("llm_judge_faithfulness",)
    assert spec.display.reveal_scores == "before"
    first, effort, fixed = spec.questions
    assert (first.label, first.config_id, first.description, first.help, first.compare_with) == (
        "Correct call?",
        "cfg-tool-call-correct",
        "d",
        "h",
        "llm_judge_faithfulness",
    )
    assert first.labels == ("correct", "incorrect")
    assert [c.text for c in first.categories] == [None, "Wrong call"]
    assert (effort.min, effort.max, effort.step) == (0.0, 10.0, 0.5)
    assert effort.when == Condition("tool_call_correct", "not_equals", ("correct",))
    assert (
        effort.when.matches("incorrect")
        and not effort.when.matches("correct")
        and not effort.when.matches(None)
    )
    assert fixed.data_type == "CORRECTION" and fixed.required is False
    assert spec.comment == "required" and spec.guidelines == "Be *kind*."
    r = spec.review
    assert (r.reviewers_per_item, r.blind, r.allow_skip, r.lease_minutes) == (2, False, False, 12.5)
    assert r.reviewers == ("alice", "bob", "carol") and r.adjudicators == ("carol",)
    assert (spec.consensus.enabled, spec.consensus.numeric, spec.consensus.max_disagreement) == (
        True,
        "mean",
        0.5,
    )
    assert (spec.langfuse.annotation_queue, spec.langfuse.environment) == (True, "review")
    assert (effort.compare_with, effort.compare_range, effort.hard, first.hard) == (
        "llm_judge_effort",
        (0.0, 1.0),
        True,
        False,
    )
    quality = spec.quality
    assert quality is not None and quality.gold_file == "gold/everything.yaml"
    assert quality.gold_scores == (("tool_call_correct", "expert_tool_call"),)
    assert quality.tolerance_of("effort") == 1.5 and quality.tolerance_of("tool_call_correct") == 0
    assert quality.qualification == Qualification(items=4, min_accuracy=0.75, min_kappa=0.5, retries=2)
    assert quality.honeypots == Honeypots(rate=0.05, seed=3, min_accuracy=0.7, stop_below=True)
    assert quality.training and quality.send_gold_answers
    assert spec.gates == (
        Gate("alpha", 0.67, "tool_call_correct", "lower_bound"),
        Gate("items", 20.0, None, "estimate"),
    )
    assert spec.path == "max.yaml" and spec.version == 1


def test_whole_floats_in_integer_fields_become_ints() -> None:
    # JSON Schema accepts 10.0 where it says integer; the model must still hold ints.
    spec = load_spec_text(
        MINIMAL.replace("version: 1", "version: 1.0")
        + "source: {sample: {size: 10.0, seed: 3.0}}\nreview: {reviewers_per_item: 2.0}\n"
    )
    values = (spec.version, spec.sample.size, spec.sample.seed, spec.review.reviewers_per_item)
    assert values == (1, 10, 3, 2)
    assert all(type(v) is int for v in values)


def _schema_defaults(
    node: dict[str, Any], defs: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(path, default)`` of every schema property that documents a default (README's Default column)."""
    if "$ref" in node:
        node = {**defs[node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    for name, sub in node.get("properties", {}).items():
        resolved = {**defs[sub["$ref"].split("/")[-1]], **sub} if "$ref" in sub else sub
        if "default" in resolved:
            yield (*path, name), resolved["default"]
        yield from _schema_defaults(sub, defs, (*path, name))
        if isinstance(sub.get("items"), dict):
            yield from _schema_defaults(sub["items"], defs, (*path, name))


def test_the_documented_defaults_are_the_defaults_a_spec_gets() -> None:
    # README's Default column comes from the schema; what a spec gets comes from build + model.
    # Optional sections given with only their required keys, so their defaults show.
    spec = load_spec_text(
        MINIMAL
        + "quality: {gold_file: g.yaml, qualification: {items: 3}, honeypots: {rate: 0.1}}\n"
        + "gates: [{metric: items, min: 1}]\n"
    )
    attribute = {"from": "time_from", "to": "time_to"}
    root = schema()
    defaults = dict(_schema_defaults(root, root["$defs"]))
    assert len(defaults) >= 14
    pair_spec = load_spec_text(
        "version: 1\ncampaign: p\ntitle: P\ntarget: pair\n"
        "pair: {arms: {a: {filters: {version: v1}}, b: {filters: {version: v2}}}, match: input}\n"
        "questions: [{score: pref, type: preference}]\n"
    )
    for path, documented in defaults.items():
        node: Any = pair_spec if path[0] == "pair" or path[-1] == "both_bad" else spec
        for part in path:
            if part in ("source", "arms"):  # source.filters are ReviewSpec.filters; pair.arms.a is PairSpec.a
                continue
            if part in ("questions", "gates"):
                node = getattr(node, part)[0]
            else:
                node = getattr(node, attribute.get(part, part))
        actual = list(node) if isinstance(node, tuple) else node
        assert actual == documented, path
