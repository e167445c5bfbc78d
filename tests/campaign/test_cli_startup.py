"""`hitl run` / `--dry-run` / `hitl init` from the command line, on a real SQLite demo store: an empty
queue says which filter emptied it, and the starter spec selects demo items."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from hitl_pipeline.cli import app

runner = CliRunner()

SPEC = """\
version: 1
campaign: cli-startup
title: Start-up messages
target: trace
source:
  filters:
    trace_name: {name}
    from: "{start}"
    to: "{end}"
  sample: {{size: 5}}
questions:
  - {{score: factually_correct, type: boolean}}
"""


def _setup(tmp_path: Path, demo_template: Path, *, name: str, start: str, end: str) -> tuple[Path, Path]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_template, home / "local.db")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(name=name, start=start, end=end), encoding="utf-8")
    return spec, home


def test_dry_run_of_an_empty_queue_names_the_window_that_emptied_it(
    tmp_path: Path, demo_template: Path
) -> None:
    spec, home = _setup(tmp_path, demo_template, name="support-chat", start="2025-01-01", end="2025-02-01")
    r = runner.invoke(app, ["run", str(spec), "--dry-run", "--home", str(home), "--source", "local"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[1].startswith("Queue: 0 of 0 matching traces")
    assert lines[2] == "No trace matches the spec's filters. Traces left after each filter:"
    assert lines[3].split() == ["every", "trace", "(any", "time)", "400"]
    assert "time window from 2025-01-01 to 2025-02-01" in lines[4] and lines[4].endswith(
        "0   ← emptied the queue"
    )
    assert lines[5].startswith(
        f"Change source.filters.from / to in {spec}: the newest trace is from 2026-10-"
    )
    assert len(lines) == 6


def test_dry_run_of_an_empty_queue_names_the_filter_that_emptied_it(
    tmp_path: Path, demo_template: Path
) -> None:
    spec, home = _setup(tmp_path, demo_template, name="no-such-trace", start="2026-10-01", end="2026-11-01")
    r = runner.invoke(app, ["run", str(spec), "--dry-run", "--home", str(home), "--source", "local"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[5].split()[:2] == ["trace_name:", "no-such-trace"] and lines[5].endswith(
        "← emptied the queue"
    )
    assert lines[6] == f"Change or remove source.filters.trace_name in {spec}."


def test_run_refuses_an_empty_queue_with_the_counts_and_creates_no_campaign(
    tmp_path: Path, demo_template: Path
) -> None:
    spec, home = _setup(tmp_path, demo_template, name="no-such-trace", start="2026-10-01", end="2026-11-01")
    r = runner.invoke(app, ["run", str(spec), "--home", str(home), "--source", "local", "--reviewer", "ann"])
    assert r.exit_code == 1, r.output
    assert "Error: No trace matches the spec's filters." in r.output and "← emptied the queue" in r.output
    assert "Traceback" not in r.output
    assert not (home / "campaigns" / "cli-startup.db").exists()


def test_the_starter_spec_selects_demo_items(tmp_path: Path, demo_template: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_template, home / "local.db")
    starter = tmp_path / "review.yaml"
    assert runner.invoke(app, ["init", str(starter)]).exit_code == 0
    r = runner.invoke(app, ["run", str(starter), "--dry-run", "--home", str(home), "--source", "local"])
    assert r.exit_code == 0, r.output
    queue = r.output.splitlines()[1]
    assert queue.startswith("Queue: 50 of ") and "matching traces" in queue
    assert int(queue.split()[3]) > 50
