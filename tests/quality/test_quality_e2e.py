"""End to end on the Langfuse fake (real SDK): a gold file, three scripted reviewers (one careless),
a qualification round, honeypots, adaptive overlap against the demo judge scores, `hitl status`,
and `hitl report --check` failing on one set of gates and holding on another. Gold answers never
reach Langfuse and never enter α."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hitl_pipeline.campaign.lifecycle import open_campaign, sync
from hitl_pipeline.cli import app
from hitl_pipeline.report import make_report
from hitl_pipeline.report.compute import records_from_scores
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.sources.langfuse import LangfuseSource
from hitl_pipeline.spec import load_spec
from tests.campaign.campaign_support import DEMO_NOW, Clock
from tests.report.langfuse_extras import InteropFake
from tests.support.langfuse_fake import LangfuseFake

SPEC = """\
version: 1
campaign: trust-e2e
title: Trustworthy labels
target: trace
guidelines: |
  Rate how helpful the answer is (1-5) and whether everything it states is correct. GUIDELINES-MARK
source:
  filters: {trace_name: support-chat, environment: production, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 40, seed: 3}
questions:
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
    step: 1
    compare_with: llm_judge_helpfulness
    compare_range: [0, 1]
  - score: factually_correct
    type: boolean
review:
  reviewers_per_item: {min: 1, max: 3, spot_check: 0.2, seed: 5}
quality:
  gold_file: gold.yaml
  tolerance: {helpfulness: 1}
  qualification: {items: 4, min_accuracy: 0.75}
  honeypots: {rate: 0.2, seed: 2, min_accuracy: 0.8, stop_below: true}
  training: true
GATES
"""

FAILING_GATES = """\
gates:
  - {metric: reviewer_accuracy, min: 0.6}
  - {metric: items, min: 41}
"""
HOLDING_GATES = """\
gates:
  - {metric: judge, question: helpfulness, min: 0.3}
  - {metric: reviewer_accuracy, min: 0.6}
  - {metric: items, min: 30}
"""


def _truth(judge: float | None) -> dict[str, Any]:
    """The simulated right answer of an item: what the (here reliable) judge says, on 1–5."""
    j = 0.6 if judge is None else judge
    return {"helpfulness": float(min(5, max(1, round(1 + 4 * j)))), "factually_correct": j >= 0.5}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = generate_demo(seed=0, traces=200)
    judge = {
        s.trace_id: float(s.value)  # type: ignore[arg-type]
        for s in data.scores
        if s.name == "llm_judge_helpfulness" and s.observation_id is None
    }
    # Gold items: staging traces (outside the campaign's production filter), answered with the truth.
    gold_traces = sorted(t.id for t in data.traces if t.environment == "staging" and t.id in judge)
    assert len(gold_traces) >= 12
    gold = {
        "items": {
            f"trace:{tid}": {"answers": _truth(judge[tid]), "rationale": f"Judge-backed answer for {tid}."}
            for tid in gold_traces
        }
    }
    root = tmp_path_factory.mktemp("trust")
    (root / "gold.yaml").write_text(yaml.safe_dump(gold, sort_keys=True), encoding="utf-8")
    spec_path = root / "spec.yaml"
    spec_path.write_text(SPEC.replace("GATES", FAILING_GATES), encoding="utf-8")
    with InteropFake(mode="v4", seed=1) as fake:  # the fake plus GET /projects (trace links)
        fake.load_demo(data)
        yield {
            "fake": fake,
            "judge": judge,
            "gold_traces": set(gold_traces),
            "root": root,
            "spec_path": spec_path,
            "home": root / "home",
        }


def _source(fake: LangfuseFake) -> LangfuseSource:
    return LangfuseSource(
        base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key, timeout=10
    )


def _answer(reviewer: str, truth: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    if reviewer == "cy":  # careless: clicks anything
        return {"helpfulness": float(rng.randint(1, 5)), "factually_correct": rng.random() < 0.5}
    error = {"ann": 0.05, "bob": 0.1}[reviewer]
    helpful = truth["helpfulness"]
    if rng.random() < error:
        helpful = float(rng.choice([v for v in range(1, 6) if abs(v - helpful) > 1]))
    correct = truth["factually_correct"] if rng.random() >= error else not truth["factually_correct"]
    return {"helpfulness": helpful, "factually_correct": correct}


@pytest.fixture(scope="module")
def campaign(world: dict[str, Any]) -> dict[str, Any]:
    spec = load_spec(world["spec_path"])
    src = _source(world["fake"])
    clock = Clock()
    rng = random.Random(11)
    log: list[tuple[str, str, bool, str]] = []  # (reviewer, item key, gold?, notice)
    blocked_note = ""
    try:
        with open_campaign(spec, src, home=world["home"], now=DEMO_NOW, clock=clock, worker=False) as svc:
            live = {r.key for r in svc.state.items()}
            active = ["ann", "bob", "cy"]
            while active:
                for reviewer in list(active):
                    a = svc.open_next(reviewer)
                    if a is None:
                        active.remove(reviewer)
                        if reviewer == "cy":
                            blocked_note = svc.progress("cy").note
                        continue
                    trace_id = a.item_key.split(":", 1)[1]
                    assert a.item.trace is not None and a.item.trace.id == trace_id  # a real item, fetched
                    clock.advance(seconds=30 + rng.randint(0, 40))
                    svc.submit(
                        reviewer,
                        a.item_key,
                        _answer(reviewer, _truth(world["judge"].get(trace_id)), rng),
                        None,
                    )
                    log.append((reviewer, a.item_key, a.item_key not in live, a.notice))
            needed = {r.key: len(svc.state.reviews(item_key=r.key)) for r in svc.state.items()}
            progress = svc.progress("ann")
            first = {}
            for r in sorted(svc.state.reviews(), key=lambda r: r.created_at):
                first.setdefault(r.item_key, r.answers)
        report = sync(spec, src, home=world["home"], deadline=30, poll_interval=0.05)
        assert report.done, report
    finally:
        src.close()
    return {
        "spec": spec,
        "log": log,
        "reviews": needed,
        "first": first,
        "blocked_note": blocked_note,
        "progress": progress,
    }


def test_qualification_round_then_live_work_with_honeypots(campaign: dict[str, Any]) -> None:
    log = campaign["log"]
    for reviewer in ("ann", "bob"):
        mine = [(key, gold) for r, key, gold, _ in log if r == reviewer]
        assert all(gold for _, gold in mine[:4]), "the first 4 items are the qualification round"
        later = mine[4:]
        honeypots = sum(gold for _, gold in later)
        assert later and 0 < honeypots < len(later) * 0.45  # mixed in at ~20 %
        notices = [n for r, _, _, n in log if r == reviewer and n]
        assert any("Qualification passed" in n for n in notices)
        assert any("Training feedback" in n and "Judge-backed answer" in n for n in notices)


def test_the_careless_reviewer_is_stopped_or_flagged(campaign: dict[str, Any], world: dict[str, Any]) -> None:
    spec = campaign["spec"]
    cy_items = [key for r, key, _, _ in campaign["log"] if r == "cy"]
    result = CliRunner().invoke(app, ["status", str(world["spec_path"]), "--home", str(world["home"])])
    assert result.exit_code == 0, result.output
    cy_line = next(
        line for line in result.output.splitlines() if line.strip().startswith("cy:") and "accuracy" in line
    )
    if len(cy_items) == spec.quality.qualification.items:  # stopped by the qualification round
        assert cy_line.strip().startswith("cy: failed;") and "— failed qualification: helpfulness:" in cy_line
        assert "did not pass the qualification" in campaign["blocked_note"]
        assert "GUIDELINES-MARK" in campaign["blocked_note"]  # shown the guidelines
    else:  # passed by luck: the honeypots catch them
        assert "⚠" in cy_line or "stopped" in cy_line
    for name in ("ann", "bob"):
        line = next(x for x in result.output.splitlines() if x.strip().startswith(f"{name}: passed"))
        assert "accuracy" in line and "⚠" not in line
    assert "adaptive overlap: items by reviewers needed so far" in result.output
    assert "throughput (items per active hour): ann" in result.output
    # Items whose two reviewers disagree wait for a third, but only ann and bob may still review.
    assert "× 1–3 (adaptive) reviewer(s)" in result.output and "ETA: " in result.output


def test_adaptive_overlap_spends_reviews_where_the_judge_disagrees(
    campaign: dict[str, Any], world: dict[str, Any]
) -> None:
    from hitl_pipeline.quality.overlap import disagrees_with_judge

    spec = campaign["spec"]
    reviews: dict[str, int] = campaign["reviews"]
    assert len(reviews) == 40 and all(1 <= n <= 3 for n in reviews.values())
    assert sum(reviews.values()) < 0.75 * 3 * 40  # far fewer than fixed overlap at 3
    assert any(n == 1 for n in reviews.values()) and any(n >= 2 for n in reviews.values())
    # The form's progress counts the review slots decided so far, not 40 × 3 (a few wait for a
    # third reviewer only ann and bob could be: cy was stopped).
    progress = campaign["progress"]
    assert progress.campaign_done == sum(reviews.values()) <= progress.campaign_total < 120
    q = spec.question("helpfulness")
    for key, answers in campaign["first"].items():
        j = world["judge"].get(key.split(":", 1)[1])
        if disagrees_with_judge(spec, q, answers["helpfulness"], j):
            assert reviews[key] >= 2, key  # a first answer against the judge always got a second look


def test_gold_answers_stay_out_of_langfuse_and_out_of_alpha(
    campaign: dict[str, Any], world: dict[str, Any]
) -> None:
    fake: LangfuseFake = world["fake"]
    ours = [s for s in fake.stored_scores() if (s.metadata or {}).get("hitl_campaign") == "trust-e2e"]
    assert ours and not any(s.trace_id in world["gold_traces"] for s in ours)
    live_answers = sum(campaign["reviews"].values()) * 2
    assert len(ours) == live_answers  # exactly the live answers, nothing else
    src = _source(fake)
    try:
        spec = campaign["spec"]
        records = records_from_scores(spec, src.iter_scores(names=["helpfulness", "factually_correct"]))
        assert records and not any(r.item_key.split(":", 1)[1] in world["gold_traces"] for r in records)
        rep = make_report(spec, src, home=world["home"])
    finally:
        src.close()
    assert rep.items == 40
    assert rep.trust is not None and rep.trust.overlap is not None
    assert (
        rep.trust.overlap.reviews == sum(campaign["reviews"].values())
        and rep.trust.overlap.reviews_at_max == 120
    )
    (aligned,) = rep.trust.alignment
    assert aligned.question == "helpfulness" and aligned.headline.value is not None
    assert aligned.disagreements and all(
        (d.url or "").startswith(f"{world['fake'].url}/project/") and d.item_key.split(":", 1)[1] in d.url
        for d in aligned.disagreements
    )  # the largest disagreements link to their Langfuse traces
    alpha = dict((q, est) for q, _, est in rep.trust.alpha)
    assert set(alpha) == {"helpfulness", "factually_correct"}  # adaptive overlap: α with its interval


def _report_check(world: dict[str, Any], gates: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    fake: LangfuseFake = world["fake"]
    monkeypatch.setenv("LANGFUSE_BASE_URL", fake.url)
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", fake.public_key)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", fake.secret_key)
    world["spec_path"].write_text(SPEC.replace("GATES", gates), encoding="utf-8")
    out = world["root"] / "report.html"
    args = ["report", str(world["spec_path"]), "--home", str(world["home"]), "--source", "langfuse"]
    return CliRunner().invoke(app, [*args, "--output", str(out), "--check"])


def test_report_check_exits_1_on_a_failing_gate_and_0_when_the_gates_hold(
    campaign: dict[str, Any], world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = _report_check(world, FAILING_GATES, monkeypatch)
    assert failed.exit_code == 1, failed.output
    assert "1 of 2 gate(s) fail:" in failed.output
    assert "FAIL items ≥ 41: 40 — 40 items with answers" in failed.output
    # The careless reviewer labelled nothing live (stopped at qualification): not held against the data.
    assert "PASS reviewer_accuracy ≥ 0.6" in failed.output and "worst: cy" not in failed.output
    held = _report_check(world, HOLDING_GATES, monkeypatch)
    assert held.exit_code == 0, held.output
    assert "all 3 gate(s) hold" in held.output
    html = (world["root"] / "report.html").read_text(encoding="utf-8")
    assert "Reviewer accuracy on gold items" in html and "Judge alignment" in html and "Overlap" in html
