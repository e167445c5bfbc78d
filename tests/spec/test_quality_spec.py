"""The spec's quality section, gates and adaptive overlap; gold files checked with located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hitl_pipeline.cli import app
from hitl_pipeline.spec import load_spec, load_spec_text, validate_spec
from hitl_pipeline.spec.gold import load_gold_file
from hitl_pipeline.spec.model import AdaptiveOverlap

BASE = """\
version: 1
campaign: gold-check
title: Gold
target: trace
questions:
  - score: quality
    type: categorical
    categories: [poor, acceptable, excellent]
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
    compare_with: llm_judge_helpfulness
    compare_range: [0, 1]
  - score: correct
    type: boolean
  - score: notes
    type: text
    required: false
"""

QUALITY = """\
quality:
  gold_file: gold.yaml
  tolerance: {helpfulness: 1}
  qualification: {items: 2, min_accuracy: 0.8, retries: 1}
  honeypots: {rate: 0.1, seed: 4}
gates:
  - {metric: alpha, question: quality, min: 0.67}
  - {metric: judge, question: helpfulness, min: 0.5, on: lower_bound}
  - {metric: reviewer_accuracy, min: 0.8}
  - {metric: items, min: 10}
"""

GOLD = """\
items:
  trace:t-1:
    answers: {quality: poor, helpfulness: 1, correct: false}
    rationale: Wrong refund window.
  trace:t-2:
    answers: {quality: excellent, helpfulness: 5}
"""


def _write(tmp_path: Path, spec: str, gold: str | None = GOLD, gold_name: str = "gold.yaml") -> Path:
    if gold is not None:
        (tmp_path / gold_name).write_text(gold, encoding="utf-8")
    path = tmp_path / "spec.yaml"
    path.write_text(spec, encoding="utf-8")
    return path


def test_a_spec_with_a_valid_gold_file_validates_and_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + QUALITY)
    assert validate_spec(path) == []
    spec = load_spec(path)
    items, issues = load_gold_file(spec)
    assert issues == []
    assert [(g.key, g.answer_map, g.rationale) for g in items] == [
        ("trace:t-1", {"quality": "poor", "helpfulness": 1.0, "correct": False}, "Wrong refund window."),
        ("trace:t-2", {"quality": "excellent", "helpfulness": 5.0}, None),
    ]


def test_gold_file_problems_are_located_in_the_gold_file(tmp_path: Path) -> None:
    gold = """\
items:
  trace:t-1:
    answers: {quality: awful, helpfulness: 9, correct: "no", colour: red, notes: hi}
  observation:o-1:
    answers: {quality: poor}
  trace:t-3:
    rationale: no answers here
"""
    path = _write(tmp_path, BASE + QUALITY, gold)
    shown = [str(i).replace(str(tmp_path) + "/", "") for i in validate_spec(path)]
    assert shown == [
        "gold.yaml:3:24: items[\"trace:t-1\"].answers.quality: 'awful' is not a category of this question "
        "(poor, acceptable, excellent)",
        'gold.yaml:3:44: items["trace:t-1"].answers.helpfulness: 9 is outside the question\'s range 1…5',
        "gold.yaml:3:56: items[\"trace:t-1\"].answers.correct: must be true or false, found 'no'",
        "gold.yaml:3:62: items[\"trace:t-1\"].answers.colour: no question writes score 'colour' "
        "(quality, helpfulness, correct, notes)",
        'gold.yaml:3:82: items["trace:t-1"].answers.notes: text questions have no single right answer to grade',
        "gold.yaml:4:3: items[\"observation:o-1\"]: 'observation:o-1' is not a trace key: write trace:<id> "
        "(the spec's target is trace)",
        'gold.yaml:7:5: items["trace:t-3"].answers: needs answers: {question score name: expected answer, …}',
    ]


def test_a_jsonl_gold_file_reports_line_numbers(tmp_path: Path) -> None:
    gold = (
        '{"item": "trace:t-1", "answers": {"quality": "poor"}, "rationale": "r"}\n'
        "not json\n"
        '{"item": "trace:t-1", "answers": {"quality": "poor"}}\n'
        '{"item": "trace:t-4", "answers": {"correct": 1}}\n'
    )
    spec_text = (BASE + QUALITY).replace("gold.yaml", "gold.jsonl")
    path = _write(tmp_path, spec_text, gold, "gold.jsonl")
    shown = [str(i).replace(str(tmp_path) + "/", "") for i in validate_spec(path)]
    assert shown == [
        "gold.jsonl:2:1: not valid JSON: Expecting value",
        "gold.jsonl:3:1: item: 'trace:t-1' is listed twice (also line 1)",
        "gold.jsonl:4:1: answers.correct: must be true or false, found 1",
    ]
    items, _ = load_gold_file(load_spec(path))
    assert [g.key for g in items] == ["trace:t-1"]


def test_a_missing_gold_file_is_reported_against_the_spec(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + QUALITY, gold=None)
    (issue,) = validate_spec(path)
    assert issue.path == "quality.gold_file" and "gold file gold.yaml not found" in issue.message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "gates: [{metric: alpha, question: qualty, min: 0.6}]\n",
            "gates[0].question: no question writes score 'qualty' (did you mean 'quality'?)",
        ),
        (
            "gates: [{metric: judge, question: quality, min: 0.6}]\n",
            "gates[0].question: question 'quality' has no compare_with: there is no automated score to gate",
        ),
        (
            "gates: [{metric: alpha, min: 0.6}]\n",
            "gates[0]: a alpha gate needs the question it applies to (question: …)",
        ),
        (
            "gates: [{metric: alpha, question: notes, min: 0.6}]\n",
            "gates[0].question: text questions have no agreement statistics",
        ),
        (
            "gates: [{metric: reviewer_accuracy, min: 0.8}]\n",
            "gates[0].metric: reviewer accuracy needs gold answers: set quality.gold_file or gold_scores",
        ),
        (
            "quality: {qualification: {items: 3}}\n",
            "quality.qualification: qualification needs gold answers: set quality.gold_file or "
            "quality.gold_scores",
        ),
        (
            "quality: {gold_file: g.yaml, tolerance: {quality: 1}}\n",
            "quality.tolerance.quality: a tolerance only applies to numeric questions",
        ),
        (
            "quality: {gold_scores: {helpfulnes: expert}}\n",
            "quality.gold_scores.helpfulnes: no question writes score 'helpfulnes' (did you mean 'helpfulness'?)",
        ),
        (
            "review: {reviewers_per_item: {min: 3, max: 2}}\n",
            "review.reviewers_per_item.max: 2 is less than min 3",
        ),
        (
            "review: {reviewers_per_item: {min: 1, max: 3}}\nconsensus: {enabled: true}\n",
            "review.reviewers_per_item: consensus scores need a fixed number of reviews per item",
        ),
        (
            "review: {reviewers_per_item: {min: 1, max: 3}, reviewers: [ann, bob]}\n",
            "review.reviewers_per_item: 3 reviewers per item, but only 2 reviewers are listed",
        ),
    ],
)
def test_quality_gates_and_overlap_rules_are_located(extra: str, expected: str) -> None:
    from hitl_pipeline.errors import SpecError

    with pytest.raises(SpecError) as info:
        load_spec_text(BASE + extra, "s.yaml")
    assert any(expected in str(i) for i in info.value.issues), [str(i) for i in info.value.issues]


def test_compare_range_needs_a_numeric_question_with_compare_with() -> None:
    from hitl_pipeline.errors import SpecError

    text = BASE.replace(
        "  - score: correct\n    type: boolean\n",
        "  - score: correct\n    type: boolean\n    compare_range: [0, 1]\n",
    )
    with pytest.raises(
        SpecError, match="questions\\[2\\].compare_range: only numeric questions with compare_with"
    ):
        load_spec_text(text, "s.yaml")


def test_reviewers_per_item_as_a_range_is_adaptive_overlap() -> None:
    spec = load_spec_text(BASE + "review: {reviewers_per_item: {min: 1, max: 3, spot_check: 0.2, seed: 7}}\n")
    assert spec.review.reviewers_per_item == 3
    assert spec.review.adaptive == AdaptiveOverlap(min=1, max=3, spot_check=0.2, seed=7)
    assert load_spec_text(BASE).review.adaptive is None


def test_hitl_validate_prints_gold_file_errors_and_exits_1(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + QUALITY, "items:\n  trace:t-1:\n    answers: {quality: great}\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "gold.yaml:3:24: items[\"trace:t-1\"].answers.quality: 'great' is not a category" in result.output
    assert "Traceback" not in result.output


def test_a_jsonl_gold_file_with_what_strict_json_cannot_hold_is_located(tmp_path: Path) -> None:
    gold = (
        '{"item": "trace:t-1", "answers": {"helpfulness": NaN}}\n'
        '{"item": "trace:t-2", "answers": {"quality": "\\ud800"}}\n'
        '{"item": "trace:t-3", "answers": ' + "[" * 1200 + "]" * 1200 + "}\n"
        '{"item": "trace:t-4", "answers": {"helpfulness": 1' + "0" * 5000 + "}}\n"
    )
    spec_text = (BASE + QUALITY).replace("gold.yaml", "gold.jsonl")
    path = _write(tmp_path, spec_text, gold, "gold.jsonl")
    shown = [str(i).replace(str(tmp_path) + "/", "") for i in validate_spec(path)]
    # 1,200 levels: measured on the text, so worded alike whatever the stack depth or recursion limit.
    assert shown == [
        "gold.jsonl:1:1: answers.helpfulness: NaN is not JSON (a reviewer would see null); "
        "write null or a string instead",
        "gold.jsonl:2:1: answers.quality contains a lone UTF-16 surrogate (\\ud800–\\udfff), which is not "
        "text; fix the exporter",
        "gold.jsonl:3:1: the JSON is nested more than 100 levels deep (at answers[0][0]…)",
        "gold.jsonl:4:1: answers.helpfulness: 10000000000000000… has more than 4,300 digits",
    ]
