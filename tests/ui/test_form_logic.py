"""The form's answer handling, without a server: widget values ↔ answers, `when` chains, required."""

from __future__ import annotations

from hitl_pipeline.spec import load_spec_text
from hitl_pipeline.ui.answers import active_questions, collect_answers, md_escape, to_answer, to_widget

SPEC = load_spec_text(
    """
version: 1
campaign: logic
title: Logic
target: trace
questions:
  - {score: ok, type: boolean}
  - {score: why, type: categorical, categories: [wrong, rude, other], when: {question: ok, equals: false}}
  - {score: detail, type: text, when: {question: why, equals: other}}
  - {score: stars, type: numeric, min: 1, max: 5, required: false}
  - {score: fixed, type: correction, required: false}
""",
    "<logic>",
)


def test_widget_values_round_trip() -> None:
    ok, why, _, stars, fixed = SPEC.questions
    assert to_answer(ok, "yes") is True and to_answer(ok, "no") is False and to_answer(ok, None) is None
    assert to_widget(ok, False) == "no" and to_widget(ok, True) == "yes"
    assert to_answer(stars, 4) == 4.0 and to_answer(stars, "") is None
    assert to_answer(why, "rude") == "rude" and to_answer(fixed, "   ") is None


def test_when_chains_follow_the_active_answers() -> None:
    names = lambda answers: [q.score for q in active_questions(SPEC.questions, answers)]  # noqa: E731
    assert names({"ok": True}) == ["ok", "stars", "fixed"]
    assert names({"ok": False, "why": "rude"}) == ["ok", "why", "stars", "fixed"]
    assert names({"ok": False, "why": "other"}) == ["ok", "why", "detail", "stars", "fixed"]
    # `detail` hangs on `why`, which is not asked when ok = yes: the chain stops there.
    assert names({"ok": True, "why": "other"}) == ["ok", "stars", "fixed"]


def test_collect_drops_hidden_answers_and_unchanged_corrections() -> None:
    answers, problems = collect_answers(
        SPEC, ["yes", "other", "stale text", None, "original"], {"fixed": "original"}
    )
    assert answers == {"ok": True} and problems == []
    answers, problems = collect_answers(SPEC, ["no", None, None, 3, "changed"], {"fixed": "original"})
    assert answers == {"ok": False, "stars": 3.0, "fixed": "changed"}
    assert problems == ["“why” is required: answer it before submitting."]
    _, problems = collect_answers(SPEC, [None, None, None, None, None], {})
    assert problems == ["“ok” is required: answer it before submitting."]


def test_a_required_correction_is_required_by_the_form_as_by_the_service() -> None:
    spec = load_spec_text(
        """
version: 1
campaign: logic-fix
title: Logic
target: trace
questions:
  - {score: ok, type: boolean}
  - {score: fixed, type: correction}
""",
        "<logic-fix>",
    )
    _, problems = collect_answers(spec, ["no", "original"], {"fixed": "original"})
    assert problems == ["“fixed” is required: edit the output to correct it before submitting."]
    answers, problems = collect_answers(spec, ["no", "changed"], {"fixed": "original"})
    assert answers == {"ok": False, "fixed": "changed"} and problems == []


def test_md_escape_shows_text_literally() -> None:
    assert md_escape("a <b>*x*</b> [l](u)") == "a &lt;b&gt;\\*x\\*&lt;/b&gt; \\[l\\]\\(u\\)"
