"""Settings (env vars, paths, masked secret), the source registry, and the import/demo commands."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hitl_pipeline.cli import app
from hitl_pipeline.errors import ConfigError
from hitl_pipeline.settings import DEFAULT_LANGFUSE_BASE_URL, Secret, Settings
from hitl_pipeline.sources import default_source_name, get_source
from hitl_pipeline.sources.local import LocalSource

SECRET = "sk-lf-very-secret-value"


def test_defaults_live_under_dot_hitl_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env(environ={})
    assert s.home == tmp_path / ".hitl"
    assert s.local_db_path == tmp_path / ".hitl" / "local.db"
    assert s.campaigns_dir == tmp_path / ".hitl" / "campaigns"
    assert s.reviewers_file == tmp_path / ".hitl" / "reviewers.json"
    assert not s.langfuse_configured and s.langfuse_base_url == DEFAULT_LANGFUSE_BASE_URL


def test_home_option_wins_over_env(tmp_path: Path) -> None:
    env = {"HITL_HOME": str(tmp_path / "from-env")}
    assert Settings.from_env(environ=env).home == tmp_path / "from-env"
    assert Settings.from_env(tmp_path / "opt", environ=env).home == tmp_path / "opt"


def test_langfuse_settings_and_secret_masking() -> None:
    env = {
        "LANGFUSE_PUBLIC_KEY": "pk-lf-1",
        "LANGFUSE_SECRET_KEY": SECRET,
        "LANGFUSE_HOST": "http://old-host:3000/",
    }
    s = Settings.from_env(environ=env)
    assert s.langfuse_configured
    assert s.langfuse_base_url == "http://old-host:3000"
    assert s.langfuse_secret_key is not None and s.langfuse_secret_key.get_secret_value() == SECRET
    assert (
        Settings.from_env(environ={**env, "LANGFUSE_BASE_URL": "http://new:3000"}).langfuse_base_url
        == "http://new:3000"
    )
    for text in (
        repr(s),
        str(s),
        repr(s.langfuse_secret_key),
        str(s.langfuse_secret_key),
        f"{s.langfuse_secret_key}",
    ):
        assert SECRET not in text
    try:
        raise ValueError(f"boom {s!r} {s.langfuse_secret_key}")
    except ValueError as exc:
        assert SECRET not in "".join(traceback.format_exception(exc))
    assert not Settings.from_env(environ={"LANGFUSE_PUBLIC_KEY": "pk"}).langfuse_configured
    assert not Settings.from_env(
        environ={"LANGFUSE_SECRET_KEY": SECRET, "LANGFUSE_PUBLIC_KEY": "  "}
    ).langfuse_configured
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b") and not Secret("")


def test_default_source_name(tmp_path: Path) -> None:
    assert default_source_name(Settings.from_env(tmp_path, environ={})) == "local"
    configured = {"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": SECRET}
    assert default_source_name(Settings.from_env(tmp_path, environ=configured)) == "langfuse"


def test_local_source_is_created_with_demo_data_on_first_use(tmp_path: Path) -> None:
    settings = Settings.from_env(tmp_path / "home", environ={})
    first = get_source(None, settings)
    assert isinstance(first, LocalSource)
    assert first.demo_created and first.path == settings.local_db_path
    assert first.counts()["traces"] == 400 + 60  # the demo and the pair campaign demo (demo_pairwise.py)
    first.close()
    second = get_source("local", settings)
    assert isinstance(second, LocalSource) and not second.demo_created
    second.close()
    empty = get_source("local", Settings.from_env(tmp_path / "empty", environ={}), create_demo=False)
    assert isinstance(empty, LocalSource) and empty.counts()["traces"] == 0
    empty.close()


def test_unknown_source_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="local, langfuse"):
        get_source("mysql", Settings.from_env(tmp_path, environ={}))


# ---------------------------------------------------------------------------- CLI


def test_cli_demo_creates_then_keeps_then_forces(tmp_path: Path) -> None:
    runner = CliRunner()
    home = tmp_path / "home"
    r = runner.invoke(app, ["demo", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert (
        "Created the demo store" in r.output and "460 traces" in r.output
    )  # 400 + the pair campaign demo's 60
    assert (home / "local.db").exists()
    r = runner.invoke(app, ["demo", "--home", str(home)])
    assert r.exit_code == 0 and "already exists" in r.output and "--force" in r.output
    r = runner.invoke(app, ["demo", "--db", str(tmp_path / "other.db"), "--force"])
    assert r.exit_code == 0 and (tmp_path / "other.db").exists()


def test_cli_import_good_and_bad(tmp_path: Path) -> None:
    runner = CliRunner()
    db = tmp_path / "x.db"
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"type": "trace", "id": "t1", "name": "n", "timestamp": "2026-10-02T09:00:00Z"})
        + "\n"
        + json.dumps({"type": "score", "id": "s1", "traceId": "t1", "name": "judge", "value": 0.5})
        + "\n"
    )
    r = runner.invoke(app, ["import", str(good), "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "Imported 1 trace(s), 0 observation(s), 1 score(s)" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "trace"}\n{oops\n')
    r = runner.invoke(app, ["import", str(bad), "--db", str(db)])
    assert r.exit_code == 1
    assert "Error: 2 bad line(s)" in r.output and f"{bad}:1:" in r.output and f"{bad}:2:" in r.output
    assert "Traceback" not in r.output
    with LocalSource(db) as store:
        assert store.counts()["traces"] == 1
    r = runner.invoke(app, ["import", str(tmp_path / "missing.jsonl"), "--db", str(db)])
    assert r.exit_code == 1 and "no such file" in r.output


def test_cli_import_defaults_to_the_home_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITL_HOME", str(tmp_path / "envhome"))
    f = tmp_path / "one.jsonl"
    f.write_text(
        json.dumps({"type": "trace", "id": "t1", "name": "n", "timestamp": "2026-10-02T09:00:00Z"}) + "\n"
    )
    r = CliRunner().invoke(app, ["import", str(f)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "envhome" / "local.db").exists()


def test_first_run_creates_the_demo_store_and_says_so(tmp_path: Path, repo_root: Path) -> None:
    runner = CliRunner()
    home = tmp_path / "fresh"
    args = [
        "run",
        str(repo_root / "specs" / "support_qa.yaml"),
        "--dry-run",
        "--source",
        "local",
        "--home",
        str(home),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert (
        "created" in first.stderr and "demo data" in first.stderr and str(home / "local.db") in first.stderr
    )
    assert "trace:" in first.stdout  # the queue is built from the demo data
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "demo data" not in second.stderr
    assert second.stdout == first.stdout  # same data, same queue
