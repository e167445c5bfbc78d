"""Consensus rules: majority, mean/median, ties and disagreement going to adjudication."""

from __future__ import annotations

import pytest

from hitl_pipeline.campaign.consensus import consensus_score_id, decide, decide_item, disagreement
from hitl_pipeline.spec.model import Category, Question

QUALITY = Question(
    score="support_quality",
    type="categorical",
    label="Quality",
    categories=(Category("excellent", 2), Category("acceptable", 1), Category("poor", 0)),
)
CORRECT = Question(score="factually_correct", type="boolean", label="Correct?")
HELPFUL = Question(score="helpfulness", type="numeric", label="Helpful", min=1, max=5)
NOTES = Question(score="reviewer_notes", type="text", label="Notes", required=False)


def test_majority_categorical() -> None:
    d = decide(QUALITY, ["excellent", "excellent", "acceptable"], max_disagreement=0.34)
    assert d.value == "excellent" and not d.needs_adjudication and not d.tie
    assert d.votes == {"acceptable": 1, "excellent": 2} and d.answers == 3
    assert d.disagreement == pytest.approx(1 / 3)


def test_unanimous_boolean_keeps_the_bool() -> None:
    d = decide(CORRECT, [True, True, True])
    assert d.value is True and d.votes == {"true": 3} and d.disagreement == 0


def test_tie_goes_to_adjudication_whatever_the_threshold() -> None:
    d = decide(CORRECT, [True, False], max_disagreement=1.0)
    assert d.tie and d.needs_adjudication and d.value is None and d.votes == {"false": 1, "true": 1}
    d3 = decide(QUALITY, ["poor", "acceptable", "excellent"], max_disagreement=1.0)
    assert d3.tie and d3.needs_adjudication


def test_disagreement_above_threshold_goes_to_adjudication() -> None:
    values = ["poor", "poor", "poor", "acceptable", "excellent"]  # 2 of 5 disagree = 0.4
    assert decide(QUALITY, values, max_disagreement=0.5).value == "poor"
    d = decide(QUALITY, values, max_disagreement=0.34)
    assert d.needs_adjudication and not d.tie and d.value is None


def test_numeric_mean_and_median() -> None:
    assert decide(HELPFUL, [4, 5, 5], numeric="median").value == 5
    assert decide(HELPFUL, [4, 5, 5], numeric="mean").value == pytest.approx(14 / 3)
    # Spread 1 on a 1–5 range = 0.25: below the default 0.34.
    assert not decide(HELPFUL, [4, 5, 5]).needs_adjudication
    d = decide(HELPFUL, [1, 5, 3])  # spread 4 / range 4 = 1.0
    assert d.needs_adjudication and d.value is None and d.disagreement == 1.0


def test_numeric_without_range_uses_largest_answer() -> None:
    q = Question(score="latency_ok", type="numeric", label="x")
    assert disagreement(q, [8, 10]) == pytest.approx(0.2)
    assert disagreement(q, [3]) == 0


def test_text_has_no_consensus() -> None:
    with pytest.raises(ValueError):
        decide(NOTES, ["a", "b"])


def test_decide_item_skips_text_and_unasked_questions() -> None:
    answers = {
        "ann": {"support_quality": "poor", "helpfulness": 2.0, "reviewer_notes": "meh"},
        "bob": {"support_quality": "poor", "helpfulness": 1.0},
    }
    out = decide_item((QUALITY, CORRECT, HELPFUL, NOTES), answers, numeric="mean")
    assert [(d.question, d.value) for d in out] == [("support_quality", "poor"), ("helpfulness", 1.5)]


def test_consensus_ids_are_deterministic_and_versioned() -> None:
    a = consensus_score_id("c", 1, "trace:t1", "q")
    assert a == consensus_score_id("c", 1, "trace:t1", "q")
    assert len({a, consensus_score_id("c", 2, "trace:t1", "q"), consensus_score_id("c", 1, "trace:t2", "q")}) == 3
