"""Judge alignment and gates: figures checked against independent computations, the CLI's --check."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from hitl_pipeline.cli import app
from hitl_pipeline.model.stats import weighted_kappa
from hitl_pipeline.report.agreement import cohen_kappa, krippendorff_alpha
from hitl_pipeline.report.alignment import align, spearman_np
from hitl_pipeline.report.gates import alpha_estimate, evaluate_gates
from hitl_pipeline.report.trust import ReviewerAccuracy
from hitl_pipeline.spec import load_spec_text

SPEC = """\
version: 1
campaign: align
title: Alignment
target: trace
questions:
  - score: quality
    type: categorical
    categories: [{label: good, value: 2}, {label: poor, value: 0}, {label: ok, value: 1}]
    compare_with: judge_quality
  - score: topic
    type: categorical
    categories: [billing, shipping]
    compare_with: judge_topic
  - score: correct
    type: boolean
    compare_with: judge_correct
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
    compare_with: judge_help
    compare_range: [0, 1]
gates:
  - {metric: alpha, question: quality, min: 0.5}
  - {metric: judge, question: helpfulness, min: 0.3, on: lower_bound}
  - {metric: reviewer_accuracy, min: 0.8}
  - {metric: items, min: 100}
quality: {gold_scores: {quality: expert_quality}}
"""


def _spec() -> Any:
    return load_spec_text(SPEC)


def test_ordinal_alignment_is_linear_weighted_kappa_by_category_value() -> None:
    q = _spec().question("quality")
    rng = random.Random(1)
    human = {f"trace:{i}": rng.choice(["good", "ok", "poor"]) for i in range(200)}
    judge_values = {"good": 2, "ok": 1, "poor": 0}
    judge = {k: judge_values[v] if rng.random() < 0.7 else rng.choice([0, 1, 2]) for k, v in human.items()}
    a = align(q, human, judge, resamples=500)
    assert a is not None and a.kind == "ordinal" and a.headline_name == "weighted_kappa"
    labels_of = {2: "good", 1: "ok", 0: "poor"}
    keys = sorted(human)
    expected = weighted_kappa(
        [human[k] for k in keys], [labels_of[judge[k]] for k in keys], ["poor", "ok", "good"], "linear"
    )
    assert a.headline.value == pytest.approx(expected, abs=1e-12)
    assert a.kappa is not None and a.kappa.value == pytest.approx(
        cohen_kappa([human[k] for k in keys], [labels_of[judge[k]] for k in keys]), abs=1e-12
    )
    assert a.headline.low is not None and a.headline.low < a.headline.value < a.headline.high  # type: ignore[operator]
    # Confusion matrix in the spec's label order; it sums to the items compared.
    assert a.labels == ("good", "poor", "ok") and sum(map(sum, a.confusion)) == 200
    assert a.confusion[0][0] == sum(1 for k in keys if human[k] == "good" and judge[k] == 2)
    # Largest disagreements first: good vs poor (two categories apart) before neighbours.
    assert a.disagreements[0].gap == 2.0
    assert {a.disagreements[0].human, a.disagreements[0].judge} == {"good", "poor"}


def test_two_categories_are_nominal_kappa() -> None:
    q = _spec().question("topic")
    a = align(q, {"trace:1": "billing", "trace:2": "shipping"}, {"trace:1": "billing", "trace:2": "billing"})
    assert (
        a is not None and a.kind == "categorical" and a.headline_name == "kappa" and a.weighted_kappa is None
    )


def test_boolean_alignment_rates_match_a_hand_count() -> None:
    q = _spec().question("correct")
    rng = random.Random(2)
    human = {f"trace:{i}": rng.random() < 0.6 for i in range(300)}
    judge = {k: (0.9 if v else 0.1) if rng.random() < 0.8 else rng.random() for k, v in human.items()}
    a = align(q, human, judge, resamples=300, strata={k: "a" if int(k[6:]) % 2 else "b" for k in human})
    assert a is not None and a.kind == "boolean"
    pred = {k: v >= 0.5 for k, v in judge.items()}
    tp = sum(human[k] and pred[k] for k in human)
    fn = sum(human[k] and not pred[k] for k in human)
    tn = sum(not human[k] and not pred[k] for k in human)
    fp = sum(not human[k] and pred[k] for k in human)
    assert a.tpr is not None and a.tpr.value == pytest.approx(tp / (tp + fn))
    assert a.tnr is not None and a.tnr.value == pytest.approx(tn / (tn + fp))
    assert a.precision is not None and a.precision.value == pytest.approx(tp / (tp + fp))
    assert a.f1 is not None and a.f1.value == pytest.approx(2 * tp / (2 * tp + fp + fn))
    ci = sps.binomtest(tp, tp + fn).proportion_ci(method="wilson")
    assert (a.tpr.low, a.tpr.high) == pytest.approx((ci.low, ci.high))
    assert a.confusion == ((tp, fn), (fp, tn))  # rows: human true/false; columns: judge true/false
    assert [s.stratum for s in a.strata] == ["a", "b"] and sum(s.items for s in a.strata) == 300


def test_numeric_alignment_maps_the_judge_scale_and_matches_scipy() -> None:
    q = _spec().question("helpfulness")
    rng = random.Random(4)
    human = {f"trace:{i}": float(rng.randint(1, 5)) for i in range(150)}
    judge = {k: min(1.0, max(0.0, (v - 1) / 4 + rng.uniform(-0.3, 0.3))) for k, v in human.items()}
    a = align(q, human, judge, resamples=500, urls={"trace:3": "https://lf.example/t/3"})
    assert a is not None and a.headline_name == "spearman"
    keys = sorted(human)
    x = [human[k] for k in keys]
    y = [1 + 4 * judge[k] for k in keys]  # [0, 1] mapped onto 1…5
    assert a.headline.value == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-12)
    assert a.mae is not None and a.mae.value == pytest.approx(float(np.mean(np.abs(np.subtract(x, y)))))
    assert a.labels == ("1", "2", "3", "4", "5") and sum(map(sum, a.confusion)) == 150
    gaps = [d.gap for d in a.disagreements]
    assert gaps == sorted(gaps, reverse=True) and len(gaps) == 10
    ref = sps.bootstrap(
        (np.array(x), np.array(y)),
        lambda u, v: sps.spearmanr(u, v).statistic,
        paired=True,
        vectorized=False,
        method="percentile",
        n_resamples=500,
        rng=1,
    ).confidence_interval
    assert a.headline.low == pytest.approx(ref.low, abs=0.04)
    assert a.headline.high == pytest.approx(ref.high, abs=0.04)


def test_spearman_np_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, 90).astype(float), rng.integers(0, 6, 90).astype(float)
    assert spearman_np(x, y) == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-12)
    assert spearman_np(np.ones(5), np.arange(5.0)) is None


def test_alpha_estimate_matches_the_report_alpha_and_brackets_it() -> None:
    q = _spec().question("quality")
    rng = random.Random(5)
    units: dict[str, dict[str, Any]] = {}
    for i in range(80):
        truth = rng.choice(["good", "ok", "poor"])
        units[f"trace:{i}"] = {
            r: truth if rng.random() < 0.75 else rng.choice(["good", "ok", "poor"]) for r in ("a", "b", "c")
        }
    units["trace:single"] = {"a": "good"}  # one answer: not pairable, no influence
    est = alpha_estimate(q, units, resamples=300)
    matrix = [[units[k].get(r) for k in sorted(units)] for r in ("a", "b", "c")]
    expected = krippendorff_alpha(matrix, "ordinal", order=["poor", "ok", "good"])
    assert est.value == pytest.approx(expected, abs=1e-12)
    assert est.low is not None and est.high is not None and est.low < est.value < est.high


def test_gates_pass_fail_and_lower_bounds() -> None:
    spec = _spec()
    from hitl_pipeline.report.trust import Estimate, JudgeAlignment

    judge = JudgeAlignment("helpfulness", "judge_help", "numeric", 50, "spearman", Estimate(0.6, 0.25, 0.8))
    accurate = ReviewerAccuracy("ann", 20, 19, Estimate(0.95, 0.76, 0.99))
    careless = ReviewerAccuracy("cy", 20, 9, Estimate(0.45, 0.26, 0.66))
    results = evaluate_gates(
        spec,
        items=120,
        alpha={"quality": Estimate(0.7, 0.55, 0.8)},
        alignment=[judge],
        reviewers=[accurate, careless],
    )
    assert [g.passed for g in results] == [True, False, False, True]
    assert results[1].line() == (
        "FAIL judge(helpfulness) ≥ 0.3 (lower bound): 0.600 [0.250, 0.800] — spearman vs judge_help on 50 items"
    )
    assert results[2].detail == "worst: cy; below: cy" and results[2].value == 0.45
    # A reviewer stopped at qualification labelled nothing live: their accuracy does not gate the data.
    unqualified = ReviewerAccuracy("zed", 10, 1, Estimate(0.1, 0.02, 0.4), qualification="failed", live=0)
    with_zed = evaluate_gates(spec, items=120, alpha={}, alignment=[], reviewers=[accurate, unqualified])
    assert with_zed[2].passed and with_zed[2].detail == "worst: ann"
    alone = evaluate_gates(spec, items=120, alpha={}, alignment=[], reviewers=[unqualified])
    assert not alone[2].passed and alone[2].detail == "no reviewer with live answers has gold answers yet"
    ok = evaluate_gates(spec, items=99, alpha={}, alignment=[], reviewers=[accurate])
    assert [g.passed for g in ok] == [False, False, True, False]
    assert (
        ok[0].detail.startswith("α undefined")
        and ok[3].line() == "FAIL items ≥ 100: 99 — 99 items with answers"
    )


# -- through the CLI on a real campaign ----------------------------------------------------------

CAMPAIGN = """\
version: 1
campaign: gate-check
title: Gates
target: trace
source:
  filters: {trace_name: support-chat, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 30, seed: 7, strategy: stratified, by: metadata.topic}
questions:
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
    compare_with: llm_judge_helpfulness
    compare_range: [0, 1]
  - score: factually_correct
    type: boolean
review:
  reviewers_per_item: 2
gates:
  - {metric: alpha, question: factually_correct, min: MIN_ALPHA}
  - {metric: judge, question: helpfulness, min: 0.5}
  - {metric: items, min: 30}
"""


@pytest.fixture(scope="module")
def gate_campaign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from hitl_pipeline.campaign.lifecycle import open_campaign
    from hitl_pipeline.scoring.outbox import drain
    from hitl_pipeline.sources.demo import generate_demo, load_demo
    from hitl_pipeline.sources.local import LocalSource
    from hitl_pipeline.spec import load_spec

    root = tmp_path_factory.mktemp("gates")
    home = root / "home"
    home.mkdir()
    spec_path = root / "spec.yaml"
    spec_path.write_text(CAMPAIGN.replace("MIN_ALPHA", "0.4"), encoding="utf-8")
    store = LocalSource(home / "local.db")
    data = generate_demo(seed=0, traces=200)
    load_demo(store, data)
    spec = load_spec(spec_path)
    configs = {c.name: c for c in store.list_score_configs()}
    now = [datetime(2026, 11, 5, 9, 0, tzinfo=UTC)]
    svc = open_campaign(
        spec,
        store,
        home=home,
        configs={q.score: configs[q.score] for q in spec.questions},
        clock=lambda: now[0],
        start=False,
        worker=False,
    )
    judge = {
        f"trace:{s.trace_id}": float(s.value)  # type: ignore[arg-type]
        for s in data.scores
        if s.name == "llm_judge_helpfulness" and s.observation_id is None
    }
    rng = random.Random(9)
    try:
        for reviewer in ("ann", "bob"):
            while (a := svc.open_next(reviewer)) is not None:
                j = judge.get(a.item_key, 0.5)
                helpful = float(min(5, max(1, round(1 + 4 * j + rng.choice([-1, 0, 0, 0, 1])))))
                correct = j >= 0.5 if rng.random() < 0.9 else j < 0.5
                now[0] += timedelta(seconds=40)
                svc.submit(reviewer, a.item_key, {"helpfulness": helpful, "factually_correct": correct}, None)
        drain(svc.state, store, deadline=20, confirm_timeout=10, poll_interval=0.01)
    finally:
        svc.close()
        store.close()
    return {"home": home, "spec": spec_path, "root": root}


def _report(c: dict[str, Any], *extra: str) -> Any:
    out = c["root"] / "r.html"
    args = ["report", str(c["spec"]), "--home", str(c["home"]), "--source", "local", "--output", str(out)]
    return CliRunner().invoke(app, [*args, *extra])


def test_report_check_exits_0_when_the_gates_hold_and_1_listing_failures(
    gate_campaign: dict[str, Any],
) -> None:
    held = _report(gate_campaign, "--check")
    assert held.exit_code == 0, held.output
    assert "all 3 gate(s) hold" in held.output
    assert "gate PASS judge(helpfulness) ≥ 0.5: " in held.output
    spec: Path = gate_campaign["spec"]
    spec.write_text(CAMPAIGN.replace("MIN_ALPHA", "0.99"), encoding="utf-8")
    try:
        failed = _report(gate_campaign, "--check")
    finally:
        spec.write_text(CAMPAIGN.replace("MIN_ALPHA", "0.4"), encoding="utf-8")
    assert failed.exit_code == 1
    assert "1 of 3 gate(s) fail:" in failed.output
    assert "FAIL alpha(factually_correct) ≥ 0.99: 0." in failed.output and " [" in failed.output
    assert "Traceback" not in failed.output


def test_report_json_and_html_carry_the_alignment(gate_campaign: dict[str, Any]) -> None:
    result = _report(gate_campaign, "--json")
    assert result.exit_code == 0, result.output
    trust = json.loads(result.stdout)["trust"]
    (a,) = trust["alignment"]
    assert a["question"] == "helpfulness" and a["score"] == "llm_judge_helpfulness" and a["items"] > 10
    assert a["headline"]["low"] < a["headline"]["value"] < a["headline"]["high"]
    assert len(a["strata"]) >= 2  # per topic (the sample's stratification)
    html = (gate_campaign["root"] / "r.html").read_text(encoding="utf-8")
    assert "<h2>Judge alignment</h2>" in html and "<h2>Gates</h2>" in html
    assert "Largest disagreements" in html


def test_the_trust_section_escapes_what_comes_from_data() -> None:
    from hitl_pipeline.report.trust import Estimate, GateResult, JudgeAlignment, JudgeDisagreement, Trust
    from hitl_pipeline.report.trust_html import trust_html, trust_lines
    from hitl_pipeline.spec.model import Gate

    evil = '<script>alert("x")</script>'
    trust = Trust(
        alignment=(
            JudgeAlignment(
                "q",
                evil,
                "categorical",
                3,
                "kappa",
                Estimate(0.5, 0.1, 0.9),
                labels=(evil, "b"),
                confusion=((1, 0), (0, 2)),
                disagreements=(JudgeDisagreement("trace:1", "javascript:alert(1)", evil, "b", 1.0),),
            ),
        ),
        reviewers=(ReviewerAccuracy(evil, 4, 1, Estimate(0.25, 0.05, 0.7), flagged=True),),
        gates=(GateResult(Gate("items", 10.0), False, 3.0, detail=evil),),
    )
    html = trust_html(trust)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html  # only http(s) links
    assert any("FAIL items ≥ 10: 3" in line for line in trust_lines(trust))
