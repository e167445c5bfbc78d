"""Report numbers against independent computations, score → record adaptation, rendering safety."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from hitl_pipeline.model import Score
from hitl_pipeline.report.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, pearson
from hitl_pipeline.report.compute import (
    AnswerRecord,
    automated_from_scores,
    build_report,
    langfuse_linker,
    records_from_scores,
)
from hitl_pipeline.report.html import render_html, render_json, summary_lines
from hitl_pipeline.spec.model import Category, Consensus, Question, Review, ReviewSpec

T0 = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)

SPEC = ReviewSpec(
    campaign="support-qa",
    title="Support QA <b>review</b>",
    target="trace",
    questions=(
        Question(
            score="support_quality",
            type="categorical",
            label="Overall quality",
            categories=(Category("excellent", 2), Category("acceptable", 1), Category("poor", 0)),
        ),
        Question(score="factually_correct", type="boolean", label="Factually correct?"),
        Question(
            score="helpfulness",
            type="numeric",
            label="Helpfulness",
            min=1,
            max=5,
            compare_with="llm_judge_helpfulness",
        ),
        Question(score="reviewer_notes", type="text", label="Notes", required=False),
    ),
    review=Review(reviewers_per_item=3),
    consensus=Consensus(enabled=True, numeric="mean"),
    spec_hash="abc123def4567890",
)

# item → reviewer → (quality, correct, helpfulness)
ANSWERS = {
    "t1": {"ann": ("excellent", True, 5.0), "bob": ("excellent", True, 4.0), "cy": ("excellent", True, 5.0)},
    "t2": {"ann": ("poor", False, 1.0), "bob": ("acceptable", False, 2.0), "cy": ("poor", False, 1.0)},
    "t3": {
        "ann": ("acceptable", True, 3.0),
        "bob": ("acceptable", True, 3.0),
        "cy": ("excellent", False, 4.0),
    },
    "t4": {"ann": ("poor", False, 2.0), "bob": ("poor", True, 1.0), "cy": ("poor", False, 2.0)},
    "t5": {"ann": ("excellent", True, 4.0), "bob": ("acceptable", True, 4.0), "cy": ("poor", True, 2.0)},
}
JUDGE = {"t1": 0.9, "t2": 0.2, "t3": 0.6, "t4": 0.3, "t5": 0.5}


def _scores() -> list[Score]:
    out: list[Score] = []
    n = 0
    for i, (item, by) in enumerate(sorted(ANSWERS.items())):
        for j, (reviewer, (quality, correct, helpful)) in enumerate(sorted(by.items())):
            at = T0 + timedelta(minutes=2 * i, seconds=10 * j)
            md = {
                "hitl_campaign": "support-qa",
                "hitl_reviewer": reviewer,
                "hitl_spec_version": "1",
                "hitl_spec_hash": "abc",
            }
            for name, value, dt, sv in (
                ("support_quality", quality, "CATEGORICAL", quality),
                ("factually_correct", 1.0 if correct else 0.0, "BOOLEAN", "True" if correct else "False"),
                ("helpfulness", helpful, "NUMERIC", None),
            ):
                n += 1
                out.append(
                    Score(
                        id=f"s{n}",
                        name=name,
                        value=value,
                        data_type=dt,  # type: ignore[arg-type]
                        timestamp=at,
                        trace_id=item,
                        string_value=sv,
                        metadata=md,
                        source="ANNOTATION",
                    )
                )
        out.append(
            Score(
                id=f"j{i}",
                name="llm_judge_helpfulness",
                value=JUDGE[item],
                data_type="NUMERIC",
                timestamp=T0,
                trace_id=item,
                source="EVAL",
            )
        )
    hostile = "<script>alert(1)</script><img src=http://evil.example/x>"
    md = {"hitl_campaign": "support-qa", "hitl_reviewer": "ann", "hitl_spec_version": "1"}
    out.append(
        Score(
            id="txt",
            name="reviewer_notes",
            value=hostile,
            string_value=hostile,
            data_type="TEXT",
            timestamp=T0,
            trace_id="t1",
            metadata=md,
        )
    )
    # Noise that must be ignored: another campaign, a consensus score, an old version, an observation score.
    out.append(
        Score(
            id="x1",
            name="support_quality",
            value="poor",
            string_value="poor",
            data_type="CATEGORICAL",
            timestamp=T0,
            trace_id="t1",
            metadata={**md, "hitl_campaign": "other"},
        )
    )
    out.append(
        Score(
            id="x2",
            name="support_quality",
            value="poor",
            string_value="poor",
            data_type="CATEGORICAL",
            timestamp=T0,
            trace_id="t1",
            metadata={**md, "hitl_consensus": True, "hitl_reviewer": "hitl:consensus"},
        )
    )
    out.append(
        Score(
            id="x3",
            name="support_quality",
            value="poor",
            string_value="poor",
            data_type="CATEGORICAL",
            timestamp=T0,
            trace_id="t9",
            metadata={**md, "hitl_spec_version": "0"},
        )
    )
    out.append(
        Score(
            id="x4",
            name="support_quality",
            value="poor",
            string_value="poor",
            data_type="CATEGORICAL",
            timestamp=T0,
            trace_id="t1",
            observation_id="o1",
            metadata=md,
        )
    )
    return out


def _report():  # type: ignore[no-untyped-def]
    scores = _scores()
    records = records_from_scores(SPEC, scores)
    return build_report(
        SPEC,
        records,
        automated=automated_from_scores(SPEC, scores),
        link=langfuse_linker("https://lf.example.com", "proj-1"),
        now=T0,
    )


def test_records_from_scores_keeps_only_this_campaign_version_and_target() -> None:
    records = records_from_scores(SPEC, _scores())
    assert len(records) == 5 * 3 * 3 + 1
    assert {r.item_key for r in records} == {f"trace:t{i}" for i in range(1, 6)}
    assert {r.reviewer for r in records} == {"ann", "bob", "cy"}
    assert {type(r.value) for r in records if r.question == "factually_correct"} == {bool}
    old = records_from_scores(SPEC, _scores(), spec_version=0)
    assert [(r.item_key, r.value) for r in old] == [("trace:t9", "poor")]


def test_categorical_statistics_match_independent_computation() -> None:
    report = _report()
    q = next(q for q in report.questions if q.score == "support_quality")
    assert q.answers == 15 and q.items == 5 and q.multi_rated_items == 5
    flat = [ANSWERS[t][r][0] for t in ANSWERS for r in ANSWERS[t]]
    assert dict(q.distribution) == {lab: flat.count(lab) for lab in ("excellent", "acceptable", "poor")}
    assert [label for label, _ in q.distribution] == ["excellent", "acceptable", "poor"]  # spec order
    matrix = [[ANSWERS[t][r][0] for t in sorted(ANSWERS)] for r in ("ann", "bob", "cy")]
    assert q.alpha["nominal"] == pytest.approx(krippendorff_alpha(matrix, "nominal"))
    numeric = [[{"poor": 0, "acceptable": 1, "excellent": 2}[v] for v in row] for row in matrix]
    assert q.alpha["ordinal"] == pytest.approx(krippendorff_alpha(numeric, "ordinal"))
    cats = ["excellent", "acceptable", "poor"]
    table = [[[ANSWERS[t][r][0] for r in ANSWERS[t]].count(c) for c in cats] for t in sorted(ANSWERS)]
    assert q.fleiss_kappa == pytest.approx(fleiss_kappa(table))
    ab = next(p for p in q.pairwise_kappa if (p.rater_a, p.rater_b) == ("ann", "bob"))
    assert ab.kappa == pytest.approx(cohen_kappa(matrix[0], matrix[1])) and ab.units == 5
    # Observed agreement: agreeing pairs / all pairs (3 pairs per item).
    agree = sum(
        (a == b) + (a == c) + (b == c)
        for a, b, c in ([ANSWERS[t][r][0] for r in ("ann", "bob", "cy")] for t in ANSWERS)
    )
    assert q.observed_agreement == pytest.approx(agree / 15)


def test_numeric_and_automated_comparison() -> None:
    report = _report()
    q = next(q for q in report.questions if q.score == "helpfulness")
    assert set(q.alpha) == {"interval", "ordinal"}
    matrix = [[ANSWERS[t][r][2] for t in sorted(ANSWERS)] for r in ("ann", "bob", "cy")]
    assert q.alpha["interval"] == pytest.approx(krippendorff_alpha(matrix, "interval"))
    assert q.numeric is not None and q.numeric["median"] == statistics.median(
        v for row in matrix for v in row
    )
    assert q.automated is not None and q.automated.items == 5
    means = [statistics.fmean(ANSWERS[t][r][2] for r in ANSWERS[t]) for t in sorted(ANSWERS)]
    assert q.automated.pearson == pytest.approx(pearson(means, [JUDGE[t] for t in sorted(ANSWERS)]))


def test_reviewers_and_disputes() -> None:
    report = _report()
    assert [s.reviewer for s in report.reviewers] == ["ann", "bob", "cy"]
    ann = report.reviewers[0]
    assert ann.items == 5 and ann.answers == 16
    # Submissions are 2 minutes apart per reviewer: estimated time per item is 120 s.
    assert ann.median_seconds == pytest.approx(120) and report.time_estimated
    top = report.disputed[0]
    # t5 quality: excellent / acceptable / poor → 2 of 3 disagree with any majority.
    assert (top.item_key, top.question) == ("trace:t5", "support_quality")
    assert top.disagreement == pytest.approx(2 / 3)
    assert top.url == "https://lf.example.com/project/proj-1/traces/t5"


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(_report())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" not in page  # text answers are not listed…
    assert "Support QA &lt;b&gt;review&lt;/b&gt;" in page  # …but titles are escaped
    assert "http://evil" not in page
    assert "Content-Security-Policy" in page and "<svg" in page
    for needle in ('src="http', 'href="//', "@import", "url("):
        assert needle not in page


def test_html_words_yes_no_answers_as_the_form_does() -> None:
    page = render_html(_report())
    chart = page.split("Factually correct?", 1)[1].split("</svg>", 1)[0]
    assert ">yes</text>" in chart and ">no</text>" in chart
    assert ">true</text>" not in chart and ">false</text>" not in chart


def test_hostile_answers_in_disputes_are_escaped() -> None:
    spec = ReviewSpec(
        campaign="c",
        title="t",
        target="trace",
        questions=(
            Question(
                score="q",
                type="categorical",
                label="q",
                categories=(Category("<b>x</b>", 0), Category("\"y'", 1)),
            ),
        ),
    )
    recs = [
        AnswerRecord("trace:<i>1", "<script>a</script>", "q", "<b>x</b>"),
        AnswerRecord("trace:<i>1", "z", "q", "\"y'"),
    ]
    page = render_html(build_report(spec, recs, now=T0))
    assert "<script>a" not in page and "<b>x</b>" not in page and "<i>1" not in page
    assert "&lt;script&gt;a&lt;/script&gt;" in page


def test_direction_overrides_cannot_disguise_names_in_the_html() -> None:
    spec = ReviewSpec(
        campaign="c",
        title="t",
        target="trace",
        questions=(Question(score="q", type="categorical", label="q", categories=(Category("a", 0),)),),
    )
    recs = [AnswerRecord("trace:1", "eve\u202eexe.txt", "q", "a"), AnswerRecord("trace:1", "z", "q", "b")]
    page = render_html(build_report(spec, recs, now=T0))
    assert "\u202e" not in page and "eve[U+202E RLO]exe.txt" in page


def test_json_and_summary() -> None:
    report = _report()
    data = json.loads(render_json(report))
    assert data["campaign"] == "support-qa" and data["items"] == 5
    q = {x["score"]: x for x in data["questions"]}
    assert q["support_quality"]["alpha"]["nominal"] == pytest.approx(report.questions[0].alpha["nominal"])
    lines = summary_lines(report)
    assert lines[0].startswith("Support QA") and any("helpfulness" in line for line in lines)


def test_empty_report() -> None:
    report = build_report(SPEC, [], now=T0)
    assert report.items == 0 and all(q.alpha.get("nominal") is None for q in report.questions)
    assert "<html" in render_html(report)
    assert "no stored answers" in summary_lines(report)[1]


def test_unsent_scores_are_called_out() -> None:
    from dataclasses import replace

    report = replace(_report(), scores_not_stored=3)
    assert "3 score(s) are not stored yet" in render_html(report)
    assert any("3 score(s) not stored yet" in line for line in summary_lines(report))


def test_answers_outside_the_categories_do_not_break_the_report() -> None:
    """A stored label the spec no longer has (its config changed) counts for nominal α and is
    missing for ordinal α, which has no place for it; the report is still built."""
    spec = ReviewSpec(
        campaign="c",
        title="t",
        target="trace",
        questions=(
            Question(
                score="q",
                type="categorical",
                label="q",
                categories=(Category("low", 0), Category("mid", 1), Category("high", 2)),
            ),
        ),
    )
    ann = ["low", "high", "retired", "mid"]
    bob = ["low", "mid", "high", "mid"]
    recs = [
        AnswerRecord(f"trace:{i}", r, "q", v)
        for r, row in (("ann", ann), ("bob", bob))
        for i, v in enumerate(row)
    ]
    q = build_report(spec, recs, now=T0).questions[0]
    assert q.alpha["nominal"] == pytest.approx(krippendorff_alpha([ann, bob], "nominal"))
    ordinal = krippendorff_alpha([["low", "high", None, "mid"], bob], "ordinal", order=["low", "mid", "high"])
    assert ordinal is not None and q.alpha["ordinal"] == pytest.approx(ordinal)
