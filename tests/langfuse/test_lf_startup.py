"""`hitl run --dry-run` against the Langfuse fake (real SDK): an empty queue is explained with the
counts the Langfuse API itself returns after each filter step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from hitl_pipeline.campaign.startup import destination, filter_steps
from hitl_pipeline.cli import app
from hitl_pipeline.sources.demo import DemoData
from hitl_pipeline.sources.langfuse import LangfuseSource
from hitl_pipeline.spec import load_spec_text
from tests.support.langfuse_fake import LangfuseFake

SPEC = """\
version: 1
campaign: lf-startup
title: Start-up on Langfuse
target: trace
source:
  filters:
    trace_name: support-chat
    tags: [no-such-tag]
    from: "2026-10-01"
    to: "2026-11-01"
  sample: {size: 5}
questions:
  - {score: factually_correct, type: boolean}
"""
NOW = datetime(2026, 11, 5, tzinfo=UTC)


def test_filter_steps_are_counted_by_the_langfuse_api(
    v4: LangfuseFake, source_for: Callable[..., LangfuseSource], small_demo: DemoData
) -> None:
    src = source_for(v4)
    spec = load_spec_text(SPEC, "lf.yaml")
    steps = filter_steps(spec, src, NOW)
    support = [t for t in small_demo.traces if t.name == "support-chat"]
    assert [s.count for s in steps] == [len(small_demo.traces), len(small_demo.traces), len(support), 0]
    assert steps[-1].label == "tags: no-such-tag"
    assert destination(src).startswith(f"Langfuse at {src.host}")


def test_dry_run_explains_an_empty_langfuse_queue(v4: LangfuseFake, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    env = {**v4.env, "HITL_HOME": str(tmp_path / "home")}
    r = CliRunner().invoke(app, ["run", str(spec), "--dry-run", "--source", "langfuse"], env=env)
    assert r.exit_code == 0, r.output
    assert "No trace matches the spec's filters." in r.output
    assert "tags: no-such-tag" in r.output and "← emptied the queue" in r.output
    assert f"Change or remove source.filters.tags in {spec}." in r.output
