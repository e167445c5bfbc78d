"""Absolute questions per side of a pair (``per_side: true``): located spec errors, each answer a
score on the trace of the arm it was asked about (whatever side that arm was shown on), the same
ids on an edit, resume from the stored scores, and the report's figures by arm."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from hitl_pipeline.campaign.lifecycle import campaign_db_path, open_campaign
from hitl_pipeline.errors import SpecError
from hitl_pipeline.model.pairs import pair_traces
from hitl_pipeline.report import make_report
from hitl_pipeline.report.html import render_html, summary_lines
from hitl_pipeline.scoring.configs import resolve_configs
from hitl_pipeline.scoring.outbox import drain
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec_text
from hitl_pipeline.spec.model import ReviewSpec
from hitl_pipeline.ui.pairwise import answers_in, widget_answers
from tests.pairwise.pair_support import NOW, PAIR_SPEC, pair_spec

SIDES = """\
  - score: clarity
    type: numeric
    label: How clear is this answer?
    min: 1
    max: 5
    per_side: true
  - score: correct
    type: boolean
    per_side: true
"""


def _spec(size: int = 8) -> ReviewSpec:
    return pair_spec(campaign="sides", size=size, questions=SIDES)


def test_a_per_side_question_is_two_halves_labelled_a_and_b() -> None:
    spec = _spec()
    assert [q.score for q in spec.questions] == [
        "answer_preference",
        "clarity@a",
        "clarity@b",
        "correct@a",
        "correct@b",
    ]
    clarity_a, clarity_b = spec.question("clarity@a"), spec.question("clarity@b")
    assert (clarity_a.label, clarity_b.label) == (
        "How clear is this answer? (A)",
        "How clear is this answer? (B)",
    )
    assert (clarity_a.arm, clarity_b.arm, clarity_a.score_name) == ("a", "b", "clarity")


def test_located_errors_of_per_side_questions() -> None:
    base = PAIR_SPEC.format(
        campaign="sides", match="metadata.question_id", size=5, seed=11, n=1, extra="", questions=""
    )
    no_flag = base.replace("review:\n", "  - {score: clarity, type: numeric, min: 1, max: 5}\nreview:\n")
    with pytest.raises(SpecError) as err:
        load_spec_text(no_flag, "bad.yaml")
    assert (
        "bad.yaml:19:28: questions[1].type: target: pair asks preference questions, or absolute ones"
        in str(err.value)
        and "add per_side: true" in str(err.value)
    )
    off = base.replace("review:\n", "  - {score: clarity, type: boolean, per_side: false}\nreview:\n")
    with pytest.raises(SpecError) as err:
        load_spec_text(off, "bad.yaml")
    assert "bad.yaml:19:47: questions[1].per_side: target: pair asks preference questions" in str(err.value)
    extra = base.replace("    both_bad: true\n", "    both_bad: true\n    per_side: true\n").replace(
        "review:\n",
        "  - {score: fix, type: correction}\n  - {score: ok, type: boolean, per_side: true, "
        "when: {question: answer_preference, equals: win}}\nreview:\n",
    )
    with pytest.raises(SpecError) as err:
        load_spec_text(extra, "bad.yaml")
    text = str(err.value)
    assert "bad.yaml:19:5: questions[0].per_side: a preference question has no 'per_side'" in text
    assert "questions[1].type: target: pair cannot ask for a correction" in text
    assert "questions[2].when: a per-side question of a pair campaign has no 'when'" in text
    gate = base.replace("review:\n", "  - {score: ok, type: boolean, per_side: true}\nreview:\n") + (
        "gates:\n  - {metric: alpha, question: ok, min: 0.5}\n"
    )
    with pytest.raises(SpecError) as err:
        load_spec_text(gate, "bad.yaml")
    assert "gates[0].question: 'ok' is a per-side question; gates do not check per-side questions yet" in str(
        err.value
    )
    trace = """\
version: 1
campaign: t
title: T
target: trace
questions:
  - {score: ok, type: boolean, per_side: true}
"""
    with pytest.raises(SpecError) as err:
        load_spec_text(trace, "bad.yaml")
    assert "bad.yaml:6:32: questions[0].per_side: 'per_side' only applies to target: pair" in str(err.value)


def _form(clarity_shown: tuple[float, float], correct_shown: tuple[bool, bool]) -> dict[str, object]:
    """The form's answers: the half labelled (A) is about the left output, (B) the right one."""
    return {
        "clarity@a": clarity_shown[0],
        "clarity@b": clarity_shown[1],
        "correct@a": correct_shown[0],
        "correct@b": correct_shown[1],
    }


def test_answers_land_on_the_shown_arms_trace_and_resume(pair_store: LocalSource, home: Path) -> None:
    spec = _spec(size=8)
    expected: dict[str, dict[str, float | bool]] = {}  # trace id → score name → value
    by_pair: dict[str, dict[str, object]] = {}
    lefts: set[str] = set()
    configs = resolve_configs(spec, pair_store, create=True)  # hitl configs sync --create
    assert configs["clarity@a"] == configs["clarity@b"] == configs["clarity"]
    assert [c.name for c in pair_store.list_score_configs()].count("clarity") == 1
    with open_campaign(spec, pair_store, home=home, now=NOW, start=False, worker=False) as svc:
        i = 0
        while (a := svc.open_next("ann")) is not None:
            assert a.item.pair is not None
            left, right = a.item.pair.shown
            lefts.add(a.item.pair.left)
            shown = (1.0 + i % 5, 5.0 - i % 4)
            form = {"answer_preference": "A", **_form(shown, (True, False))}
            sent = answers_in(spec, a.item_key, form)
            svc.submit("ann", a.item_key, sent, None)
            assert left.trace is not None and right.trace is not None
            expected[left.trace.id] = {"clarity": shown[0], "correct": True}
            expected[right.trace.id] = {"clarity": shown[1], "correct": False}
            # Back shows the answers as they were given (by side).
            row = svc.state.review(a.item_key, "ann")
            assert row is not None
            back = widget_answers(spec, a.item_key, row.answers)
            assert {k: back[k] for k in form} == form
            by_pair[a.item_key] = sent
            i += 1
        assert lefts == {"a", "b"}  # both side orders occurred
        ids = {r.score_id for r in svc.state.outbox()}
        assert len(ids) == 8 * (2 + 2 + 2)  # preference on both traces, two per-side questions × 2 arms
        key = next(iter(by_pair))
        svc.submit("ann", key, by_pair[key], None)  # an edit keeps the same ids
        assert {r.score_id for r in svc.state.outbox()} == ids
        assert drain(svc.state, pair_store, deadline=30).confirmed == len(ids)
    stored = list(pair_store.read_scores(ids).values())
    per_side = [s for s in stored if s.name in ("clarity", "correct")]
    assert len(per_side) == 32
    for s in per_side:
        md = s.metadata
        want = expected[s.trace_id][s.name]
        value = s.value if s.name == "clarity" else s.value in (1, 1.0, True, "True", "true")
        assert value == want, (s.trace_id, s.name, s.value)
        (a_id, _), (b_id, _) = pair_traces(md["hitl_pair"].removeprefix("pair:"))
        assert s.trace_id == (a_id if md["hitl_arm"] == "a" else b_id)
        assert md["hitl_opponent"] == (b_id if md["hitl_arm"] == "a" else a_id)
        assert md["hitl_question"] == f"{s.name}@{md['hitl_arm']}" and md["hitl_reviewer"] == "ann"
    # State lost: the campaign resumes from the stored scores, the answers by arm as given.
    path = campaign_db_path(home, spec.campaign)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with open_campaign(spec, pair_store, home=home, now=NOW, start=False, worker=False) as svc:
        resumed = {r.item_key: r.answers for r in svc.state.reviews()}
    assert set(resumed) == set(by_pair)
    for key, sent in by_pair.items():
        for name in ("clarity@a", "clarity@b", "correct@a", "correct@b"):
            assert resumed[key][name] == sent[name], (key, name)

    # The report: each per-side question by arm, against independently computed figures.
    report = make_report(spec, pair_store, home=home)
    sides = {q.question: q for q in report.pairwise.sides}
    assert set(sides) == {"clarity", "correct"}
    for arm, fig in (("a", sides["clarity"].a), ("b", sides["clarity"].b)):
        values = [float(s[f"clarity@{arm}"]) for s in by_pair.values()]  # type: ignore[arg-type]
        m = statistics.fmean(values)
        half = 1.959963984540054 * statistics.stdev(values) / math.sqrt(len(values))
        assert fig.answers == 8 and fig.mean is not None
        assert abs(fig.mean.value - m) < 1e-9 and abs(fig.mean.low - (m - half)) < 1e-6  # type: ignore[operator]
    for arm, fig in (("a", sides["correct"].a), ("b", sides["correct"].b)):
        yes = sum(1 for s in by_pair.values() if s[f"correct@{arm}"] is True)
        (label, count, est) = fig.shares[0]
        assert (label, count, fig.answers) == ("yes", yes, 8) and est.value == yes / 8
    text = "\n".join(summary_lines(report))
    assert "clarity (per side):" in text and f"A prompt v1: mean {sides['clarity'].a.mean.shown()}" in text  # type: ignore[union-attr]
    assert "How clear is this answer?" in render_html(report)


def test_a_pair_spec_without_per_side_questions_has_no_side_figures(
    pair_store: LocalSource, home: Path
) -> None:
    spec = pair_spec(size=3)
    report = make_report(spec, pair_store, home=home)
    assert report.pairwise.sides == ()
