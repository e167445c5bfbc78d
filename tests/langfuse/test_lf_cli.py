"""``hitl doctor`` and ``hitl configs sync`` against the fake, through the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hitl_pipeline.cli import app
from tests.support.langfuse_fake import LangfuseFake

SPEC = """
version: 1
campaign: cli-test
title: CLI test
target: trace
questions:
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
  - score: tone
    type: categorical
    categories: [friendly, rude]
  - score: better_answer
    type: correction
"""


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


def _env(fake: LangfuseFake, tmp_path: Path, **override: str) -> dict[str, str]:
    return {**fake.env, "HITL_HOME": str(tmp_path / "home"), **override}


def test_doctor_reports_a_healthy_server(v4: LangfuseFake, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["doctor"], env=_env(v4, tmp_path))
    assert result.exit_code == 0, result.output
    assert "version 4.61.0" in result.output and "v2 observations reader" in result.output
    assert "JSON array" in result.output and v4.secret_key not in result.output


def test_doctor_on_a_v3_server(v3: LangfuseFake, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["doctor"], env=_env(v3, tmp_path))
    assert result.exit_code == 0, result.output
    assert "legacy /traces" in result.output and "one object per request" in result.output


def test_doctor_with_bad_keys_fails_without_showing_the_secret(v4: LangfuseFake, tmp_path: Path) -> None:
    secret = "sk-lf-WRONG-but-still-secret"
    result = CliRunner().invoke(app, ["doctor"], env=_env(v4, tmp_path, LANGFUSE_SECRET_KEY=secret))
    assert result.exit_code == 1
    assert "✗ authenticated" in result.output and "rejected the credentials" in result.output
    assert secret not in result.output and "Traceback" not in result.output


def test_doctor_without_keys_says_which_are_missing(tmp_path: Path) -> None:
    env = {"LANGFUSE_PUBLIC_KEY": "", "LANGFUSE_SECRET_KEY": "", "HITL_HOME": str(tmp_path)}
    result = CliRunner().invoke(app, ["doctor"], env=env)
    assert result.exit_code == 1 and "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY not set" in result.output


def test_doctor_checks_the_spec_configs(v4: LangfuseFake, tmp_path: Path, spec_file: Path) -> None:
    result = CliRunner().invoke(app, ["doctor", str(spec_file)], env=_env(v4, tmp_path))
    assert result.exit_code == 1
    assert "✓ config helpfulness: matched (cfg-helpfulness)" in result.output
    assert "✗ config tone: error" in result.output and "--create" in result.output


def test_configs_sync_then_create(v4: LangfuseFake, tmp_path: Path, spec_file: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["configs", "sync", str(spec_file)], env=_env(v4, tmp_path))
    assert first.exit_code == 1 and "Error:" in first.output
    created = runner.invoke(app, ["configs", "sync", str(spec_file), "--create"], env=_env(v4, tmp_path))
    assert created.exit_code == 0, created.output
    lines = {line.split()[0]: line.split()[1:] for line in created.output.splitlines()[2:] if line.strip()}
    assert lines["helpfulness"] == ["matched", "cfg-helpfulness"]
    assert lines["tone"][0] == "created" and lines["better_answer"][:2] == ["not", "needed"]
    again = runner.invoke(app, ["configs", "sync", str(spec_file)], env=_env(v4, tmp_path))
    assert again.exit_code == 0 and "matched" in again.output.split("tone")[1].splitlines()[0]
    assert len([c for c in v4.config_dicts() if c["name"] == "tone"]) == 1


def test_configs_sync_on_the_local_store(tmp_path: Path, spec_file: Path) -> None:
    env: dict[str, Any] = {
        "LANGFUSE_PUBLIC_KEY": "",
        "LANGFUSE_SECRET_KEY": "",
        "HITL_HOME": str(tmp_path / "h"),
    }
    result = CliRunner().invoke(app, ["configs", "sync", str(spec_file), "--create"], env=env)
    assert result.exit_code == 0, result.output
    assert "on the local source" in result.output and "created" in result.output


def test_run_uses_langfuse_when_its_keys_are_set(v4: LangfuseFake, tmp_path: Path) -> None:
    """With both keys in the environment, `hitl run` reads Langfuse without `--source`; no local store appears."""
    spec = Path(__file__).resolve().parents[2] / "specs" / "support_qa.yaml"
    env = _env(v4, tmp_path)
    implicit = CliRunner().invoke(app, ["run", str(spec), "--dry-run"], env=env)
    assert implicit.exit_code == 0, implicit.output
    explicit = CliRunner().invoke(app, ["run", str(spec), "--dry-run", "--source", "langfuse"], env=env)
    assert implicit.output == explicit.output
    assert "trace:" in implicit.output
    assert v4.counters.get("GET /api/public/v2/observations", 0) > 0
    assert not (tmp_path / "home" / "local.db").exists()
    local = CliRunner().invoke(app, ["run", str(spec), "--dry-run", "--source", "local"], env=env)
    assert local.exit_code == 0 and (tmp_path / "home" / "local.db").exists()


PLAN_SPEC = """
version: 1
campaign: plan-test
title: Plan test
target: trace
source:
  filters:
    from: "2026-10-01"
    to: "2026-11-01"
  sample:
    size: 20
questions:
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
"""


def test_dry_run_prints_the_request_plan(v4: LangfuseFake, tmp_path: Path) -> None:
    spec_file = tmp_path / "plan.yaml"
    spec_file.write_text(PLAN_SPEC)
    v4.reset_counters()
    args = ["run", str(spec_file), "--dry-run", "--request-budget", "30/min"]
    result = CliRunner().invoke(app, args, env=_env(v4, tmp_path))
    assert result.exit_code == 0, result.output
    sent = v4.total_requests
    assert "Request plan (Langfuse 4.61.0" in result.output
    assert (
        f"queue: {sent} request(s) to probe the server and build this queue of 20 trace(s)" in result.output
    )
    assert "per reviewed item: 0.04 read request(s)" in result.output
    assert "your budget 30/min: reviewers without waiting write-back:" in result.output
    assert "Cloud Hobby 30/min" in result.output and "Cloud Pro 1000/min" in result.output
    bad = CliRunner().invoke(app, [*args[:3], "--request-budget", "lots"], env=_env(v4, tmp_path))
    assert bad.exit_code == 1 and "request budget 'lots' is not understood" in bad.output
