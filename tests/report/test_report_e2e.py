"""End to end: a three-reviewer campaign on the local backend, the report checked independently,
then opened in Chromium with no console error and no request leaving 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import random
import statistics
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.cli import app
from hitl_pipeline.scoring.outbox import drain
from hitl_pipeline.sources.demo import generate_demo, load_demo
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec
from tests.report.test_agreement import _reference_alpha

SPEC = """\
version: 1
campaign: e2e-report
title: "E2E <report> & agreement"
target: trace
source:
  filters: {trace_name: support-chat, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 12, seed: 7}
questions:
  - score: support_quality
    type: categorical
    categories:
      - {label: excellent, value: 2}
      - {label: acceptable, value: 1}
      - {label: poor, value: 0}
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
    compare_with: llm_judge_helpfulness
  - score: factually_correct
    type: boolean
review:
  reviewers_per_item: 3
"""

REVIEWERS = ("ann", "bob", "cy")
LABELS = ("excellent", "acceptable", "poor")


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the campaign once: returns paths and every answer given (item → reviewer → answers)."""
    from datetime import timedelta

    root = tmp_path_factory.mktemp("e2e")
    home = root / "home"
    home.mkdir()
    spec_path = root / "spec.yaml"
    spec_path.write_text(SPEC, encoding="utf-8")
    store = LocalSource(home / "local.db")
    data = generate_demo(seed=0, traces=120)
    load_demo(store, data)
    spec = load_spec(spec_path)
    configs = {c.name: c for c in store.list_score_configs()}
    clock = _Clock()
    svc = open_campaign(
        spec,
        store,
        home=home,
        configs={q.score: configs[q.score] for q in spec.questions},
        clock=clock,
        start=False,
        worker=False,
    )
    rng = random.Random(3)
    given: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        for reviewer in REVIEWERS:
            while (a := svc.open_next(reviewer)) is not None:
                base = given.get(a.item_key, {}).get("ann") or {}
                # Reviewers mostly agree with ann, sometimes not: a realistic spread of agreement.
                quality = base.get("support_quality") if base and rng.random() < 0.7 else rng.choice(LABELS)
                helpful = base.get("helpfulness") if base and rng.random() < 0.6 else float(rng.randint(1, 5))
                correct = base.get("factually_correct") if base and rng.random() < 0.8 else rng.random() < 0.6
                answers = {"support_quality": quality, "helpfulness": helpful, "factually_correct": correct}
                clock.now += timedelta(seconds=30 + rng.randint(0, 60))
                svc.submit(reviewer, a.item_key, answers, None)
                given.setdefault(a.item_key, {})[reviewer] = answers
        drain(svc.state, store, deadline=20, confirm_timeout=10, poll_interval=0.01)
    finally:
        svc.close()
        store.close()
    judge = {
        f"trace:{s.trace_id}": float(s.value)  # type: ignore[arg-type]
        for s in data.scores
        if s.name == "llm_judge_helpfulness" and s.observation_id is None
    }
    return {"home": home, "spec": spec_path, "given": given, "judge": judge, "root": root}


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_report_numbers_match_an_independent_computation(campaign: dict[str, Any]) -> None:
    given: dict[str, dict[str, dict[str, Any]]] = campaign["given"]
    assert len(given) == 12 and all(len(v) == 3 for v in given.values())
    out = campaign["root"] / "report.html"
    result = _cli(
        "report",
        str(campaign["spec"]),
        "--home",
        str(campaign["home"]),
        "--source",
        "local",
        "--json",
        "--output",
        str(out),
    )
    data = json.loads(result.stdout)
    assert out.exists()
    assert data["items"] == 12 and data["answers"] == 12 * 3 * 3
    q = {x["score"]: x for x in data["questions"]}
    items = sorted(given)

    def matrix(question: str, code: Any = lambda v: v) -> list[list[Any]]:
        return [[code(given[i][r][question]) for i in items] for r in REVIEWERS]

    rank = {"poor": 0, "acceptable": 1, "excellent": 2}
    assert q["support_quality"]["alpha"]["nominal"] == pytest.approx(
        _reference_alpha(matrix("support_quality", rank.get), "nominal"), abs=1e-9
    )
    assert q["support_quality"]["alpha"]["ordinal"] == pytest.approx(
        _reference_alpha(matrix("support_quality", rank.get), "ordinal"), abs=1e-9
    )
    assert q["helpfulness"]["alpha"]["interval"] == pytest.approx(
        _reference_alpha(matrix("helpfulness"), "interval"), abs=1e-9
    )
    assert q["factually_correct"]["alpha"]["nominal"] == pytest.approx(
        _reference_alpha(matrix("factually_correct", int), "nominal"), abs=1e-9
    )
    # Fleiss' κ by its textbook formula.
    n, cats = 3, LABELS
    table = [[[given[i][r]["support_quality"] for r in REVIEWERS].count(c) for c in cats] for i in items]
    p_j = [sum(row[j] for row in table) / (len(items) * n) for j in range(len(cats))]
    p_i = [(sum(x * x for x in row) - n) / (n * (n - 1)) for row in table]
    pe = sum(p * p for p in p_j)
    assert q["support_quality"]["fleiss_kappa"] == pytest.approx((statistics.fmean(p_i) - pe) / (1 - pe))
    # Distribution.
    flat = [given[i][r]["support_quality"] for i in items for r in REVIEWERS]
    assert dict(map(tuple, q["support_quality"]["distribution"])) == {c: flat.count(c) for c in cats}
    # Human (median of three) vs the LLM judge, Pearson's r computed here.
    judge: dict[str, float] = campaign["judge"]
    keys = [i for i in items if i in judge]
    human = [statistics.median(given[i][r]["helpfulness"] for r in REVIEWERS) for i in keys]
    auto = [judge[i] for i in keys]
    mh, ma = statistics.fmean(human), statistics.fmean(auto)
    r = (
        sum((h - mh) * (a - ma) for h, a in zip(human, auto, strict=True))
        / (sum((h - mh) ** 2 for h in human) * sum((a - ma) ** 2 for a in auto)) ** 0.5
    )
    cmp = q["helpfulness"]["automated"]
    assert cmp["items"] == len(keys) and cmp["pearson"] == pytest.approx(r)
    # Per reviewer: items, and the review times recorded by the campaign state (not estimated).
    reviewers = {x["reviewer"]: x for x in data["reviewers"]}
    assert set(reviewers) == set(REVIEWERS) and all(x["items"] == 12 for x in reviewers.values())
    assert data["time_estimated"] is False
    assert data["scores_not_stored"] == 0 and data["adjudications_open"] is None

    summary = _cli(
        "report",
        str(campaign["spec"]),
        "--home",
        str(campaign["home"]),
        "--source",
        "local",
        "--output",
        str(out),
    ).stdout
    assert "support_quality" in summary and f"Report written to {out}" in summary


@pytest.fixture
def served(campaign: dict[str, Any]) -> Iterator[str]:
    out: Path = campaign["root"] / "report.html"
    if not out.exists():
        _cli(
            "report",
            str(campaign["spec"]),
            "--home",
            str(campaign["home"]),
            "--source",
            "local",
            "--output",
            str(out),
        )
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(out.parent))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/report.html"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
def test_report_opens_in_chromium_without_errors_or_outside_requests(
    served: str, chromium_browser: Any
) -> None:
    errors: list[str] = []
    requests: list[str] = []
    context = chromium_browser.new_context()
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(served, wait_until="load")
        assert page.title().startswith("E2E <report> & agreement")
        assert page.locator("h1").inner_text() == "E2E <report> & agreement"  # escaped, shown as text
        assert page.locator("svg").count() >= 3  # one chart per non-text question
        assert page.locator("text=Krippendorff").count() >= 3
    finally:
        context.close()
    assert errors == []
    origin = served.rsplit("/", 1)[0]
    assert requests and all(u.startswith(origin + "/") for u in requests), requests


def test_export_to_dataset_on_the_local_backend(campaign: dict[str, Any]) -> None:
    from hitl_pipeline.report.dataset import read_jsonl

    given: dict[str, dict[str, dict[str, Any]]] = campaign["given"]
    result = _cli(
        "export",
        str(campaign["spec"]),
        "--home",
        str(campaign["home"]),
        "--source",
        "local",
        "--to-dataset",
        "golden",
        "--where",
        "support_quality=excellent",
    )
    path = campaign["home"] / "datasets" / "golden.jsonl"
    assert f"to dataset {path}" in result.stdout
    # Independently: consensus exists when no question needs adjudication (2 of 3 agree on the
    # labels, helpfulness spread ≤ 0.34 × 4), and the majority label is excellent.
    expected = set()
    for key, by in given.items():
        labels = [a["support_quality"] for a in by.values()]
        top = max(set(labels), key=labels.count)
        helpful = [a["helpfulness"] for a in by.values()]
        if labels.count(top) >= 2 and max(helpful) - min(helpful) <= 0.34 * 4 and top == "excellent":
            expected.add(key)
    rows = read_jsonl(path)
    assert {r["metadata"]["hitl_item"] for r in rows} == expected
    assert all(r["sourceTraceId"] and r["input"] is not None for r in rows)


def test_records_from_state_match_the_stored_scores(campaign: dict[str, Any]) -> None:
    from hitl_pipeline.campaign.lifecycle import campaign_db_path
    from hitl_pipeline.campaign.state import CampaignState
    from hitl_pipeline.report import records_from_scores, records_from_state

    spec = load_spec(campaign["spec"])
    state = CampaignState(campaign_db_path(campaign["home"], spec.campaign))
    store = LocalSource(campaign["home"] / "local.db")
    try:
        local = records_from_state(spec, state)
        stored = records_from_scores(spec, store.iter_scores(names=[q.score for q in spec.questions]))
    finally:
        state.close()
        store.close()

    def key(r: Any) -> tuple[Any, ...]:
        return (r.item_key, r.reviewer, r.question, r.value, r.trace_id, r.spec_version)

    assert sorted(map(key, local)) == sorted(map(key, stored))
    assert len(local) == 12 * 3 * 3 and all(r.seconds is not None and r.seconds > 0 for r in local)
