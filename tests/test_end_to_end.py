"""A whole small campaign per target level, through the real `hitl run` process and the form's HTTP API.

Each campaign is answered half-way, the server is stopped (Ctrl+C) and started again, the rest is
answered, then `hitl sync` confirms every score and `hitl export` must show every answer exactly once
with the values given, the right target ids and the score metadata; the local store must hold
exactly one score per item × question with that metadata.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hitl_pipeline.cli import app
from hitl_pipeline.sources.demo import ensure_demo_store
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec
from hitl_pipeline.ui.client import FormClient, Screen

pytestmark = pytest.mark.slow

COMMON = """
version: 1
title: End to end
comment: optional
review: {reviewers_per_item: 1}
"""

SPECS = {
    "trace": """
campaign: e2e-trace
target: trace
source:
  filters: {trace_name: support-chat, environment: production, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 4, strategy: random, seed: 3}
questions:
  - {score: support_quality, type: categorical, categories: [{label: excellent, value: 2}, {label: acceptable, value: 1}, {label: poor, value: 0}]}
  - {score: helpfulness, type: numeric, min: 1, max: 5, step: 1}
  - {score: factually_correct, type: boolean}
""",
    "observation": """
campaign: e2e-observation
target: observation
source:
  filters: {observation_type: TOOL, observation_name: lookup_order, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 4, strategy: latest}
questions:
  - {score: tool_call_correct, type: categorical, config_id: cfg-tool-call-correct}
  - {score: corrected_output, type: correction, required: false}
""",
    "session": """
campaign: e2e-session
target: session
source:
  filters: {from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 4, strategy: stratified, by: metadata.topic, seed: 1}
questions:
  - {score: issue_resolved, type: boolean}
  - {score: reviewer_notes, type: text, required: false}
""",
}


def answers_for(target: str, n: int) -> dict[str, Any]:
    """Distinct, valid answers for the n-th item (so a mix-up between items shows in the export)."""
    if target == "trace":
        return {
            "support_quality": ["excellent", "acceptable", "poor"][n % 3],
            "helpfulness": 1 + n % 5,
            "factually_correct": n % 2 == 0,
        }
    if target == "observation":
        return {
            "tool_call_correct": ["correct", "minor_issues", "incorrect"][n % 3],
            "corrected_output": f"fixed #{n}",
        }
    return {"issue_resolved": n % 2 == 1, "reviewer_notes": f"note for item {n} — ok"}


@contextmanager
def hitl_run(spec: Path, home: Path, stop: signal.Signals = signal.SIGINT) -> Iterator[str]:
    env = dict(
        os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_DISABLE_TELEMETRY="1", PYTHONUNBUFFERED="1"
    )
    env.pop("LANGFUSE_PUBLIC_KEY", None)
    env.pop("LANGFUSE_SECRET_KEY", None)
    # No --port: hitl takes the first free port from 7860 and prints the URL (no race with other processes).
    cmd = [sys.executable, "-m", "hitl_pipeline", "run", str(spec), "--home", str(home)]
    cmd += ["--reviewer", "alice"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    url = None
    deadline = time.monotonic() + 90
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"Review form: (http://127\.0\.0\.1:\d+/)", line)
        if m:
            url = m.group(1)
            break
    assert url, "hitl run did not print its URL:\n" + "".join(lines)
    try:
        yield url
    finally:
        proc.send_signal(stop)  # Ctrl+C, or a service manager's SIGTERM: both stop cleanly
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, "".join(lines) + rest
        assert "Stopped." in rest


@pytest.mark.parametrize("target", ["trace", "observation", "session"])
def test_campaign_survives_a_restart_and_every_answer_is_stored_once(target: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    ensure_demo_store(home / "local.db")
    spec_path = tmp_path / f"{target}.yaml"
    spec_path.write_text(COMMON + SPECS[target])
    spec = load_spec(spec_path)
    runner = CliRunner()
    dry = runner.invoke(app, ["run", str(spec_path), "--dry-run", "--home", str(home)])
    assert dry.exit_code == 0, dry.output
    planned = re.findall(rf"^\s*\d+\s+({target}:\S+)", dry.output, re.M) or re.findall(
        rf"({target}:\S+)", dry.output
    )
    assert len(planned) == 4, dry.output

    given: dict[str, dict[str, Any]] = {}
    seen: list[str] = []

    def answer(form: FormClient, screen: Screen, count: int) -> Screen:
        for _ in range(count):
            assert screen.item_key, screen.notice
            assert screen.item_key not in seen, "an answered item came back"
            seen.append(screen.item_key)
            given[screen.item_key] = answers_for(target, len(seen))
            screen = form.submit(given[screen.item_key], comment=f"comment {len(seen)}")
        return screen

    with hitl_run(spec_path, home, stop=signal.SIGTERM) as url, FormClient(url, spec) as form:
        answer(form, form.load(), 2)
    # Restarted server (perhaps on another port), new browser tab: the form resumes at the first unanswered item.
    with hitl_run(spec_path, home) as url, FormClient(url, spec) as form:
        screen = answer(form, form.load(), 2)
        assert screen.item_key is None  # end of the queue
    assert sorted(seen) == sorted(planned)

    sync = runner.invoke(app, ["sync", str(spec_path), "--home", str(home)])
    assert sync.exit_code == 0, sync.output
    out = tmp_path / "export.jsonl"
    exported = runner.invoke(
        app, ["export", str(spec_path), "--format", "jsonl", "--output", str(out), "--home", str(home)]
    )
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_key = {(r["item_key"], r["question"]): r for r in rows}
    assert len(by_key) == len(rows), "a row appears twice"
    expected_pairs = {(k, q) for k, answers in given.items() for q in answers}
    assert set(by_key) == expected_pairs
    for (key, question), row in by_key.items():
        assert row["reviewer"] == "alice"
        assert row["value"] == given[key][question]
        assert row["outbox_status"] == "confirmed"
        kind, _, item_id = key.partition(":")
        assert row["kind"] == kind and row["item_id"] == item_id
        assert row[f"{kind}_id"] == item_id

    with LocalSource(home / "local.db") as store:
        scores = [s for s in store.iter_scores() if s.metadata.get("hitl_campaign") == spec.campaign]
    assert len(scores) == len(rows)
    assert len({s.id for s in scores}) == len(scores)
    for s in scores:
        row = next(r for r in rows if r["score_id"] == s.id)
        kind, _, item_id = row["item_key"].partition(":")
        assert s.metadata["hitl_reviewer"] == "alice"
        assert s.metadata["hitl_spec_hash"] == spec.spec_hash
        assert s.source == "ANNOTATION" or s.data_type == "CORRECTION"
        assert s.comment and s.comment.startswith("comment ")
        if kind == "trace":
            assert (s.trace_id, s.observation_id) == (item_id, None)
        elif kind == "observation":
            assert s.observation_id == item_id and s.trace_id
        else:
            assert s.session_id == item_id and s.trace_id is None
    # A new machine (campaign state lost): the campaign is rebuilt from the stored scores, nothing is queued again.
    shutil.rmtree(home / "campaigns")
    with hitl_run(spec_path, home) as url, FormClient(url, spec) as form:
        assert form.load().item_key is None
