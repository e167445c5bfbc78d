"""`hitl state check | migrate | copy` through the real CLI: a campaign made on SQLite files moves to a
real PostgreSQL with every row (counts) and the same export, accounts included; the copy then runs
there (`hitl --state URL …`)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.cli import app
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec
from tests.campaign.campaign_support import DEMO_NOW, Clock, demo_configs
from tests.campaign.legacy_state import make_legacy_state

runner = CliRunner()
GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}


def _campaign(tmp_path: Path, demo_template: Path, repo_root: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_template, home / "local.db")
    spec_path = repo_root / "specs" / "support_qa.yaml"
    spec = load_spec(spec_path)
    store = LocalSource(home / "local.db")
    clock = Clock()
    with open_campaign(
        spec, store, home=home, now=DEMO_NOW, configs=demo_configs(store, spec), clock=clock, worker=False
    ) as svc:
        for who in ("ann", "bob", "ann", "cy"):
            a = svc.open_next(who)
            assert a is not None
            svc.submit(who, a.item_key, GOOD, f"note by {who}")
        a = svc.open_next("bob")
        assert a is not None
        svc.skip("bob", a.item_key)
        svc.state.close()
    store.close()
    result = runner.invoke(
        app,
        ["reviewers", "add", "alice", "--home", str(home)],
        input="correct horse battery\ncorrect horse battery\n",
    )
    assert result.exit_code == 0, result.output
    return home, spec_path


def test_copy_from_sqlite_to_postgresql_keeps_everything(
    tmp_path: Path, demo_template: Path, repo_root: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HITL_STATE_URL", "")  # unset, and restored after (the CLI sets it for --state)
    home, spec_path = _campaign(tmp_path, demo_template, repo_root)
    before = runner.invoke(app, ["export", str(spec_path), "--home", str(home), "--format", "jsonl"])
    assert before.exit_code == 0, before.output

    check = runner.invoke(app, ["state", "check", "--home", str(home)])
    assert check.exit_code == 0 and "up to date" in check.output, check.output

    copied = runner.invoke(app, ["state", "copy", "--from", str(home), "--to", postgres_url])
    assert copied.exit_code == 0, copied.output
    assert "counts and export identical" in copied.output and "4 reviews" in copied.output
    assert "reviewer accounts: 1 copied" in copied.output
    # A second copy refuses to overwrite.
    again = runner.invoke(app, ["state", "copy", "--from", str(home), "--to", postgres_url])
    assert again.exit_code == 1 and "already has state" in again.output

    after = runner.invoke(
        app, ["--state", postgres_url, "export", str(spec_path), "--home", str(home), "--format", "jsonl"]
    )
    assert after.exit_code == 0, after.output
    assert after.output == before.output and after.output.count("\n") == 4 * 3
    on_pg = runner.invoke(app, ["--state", postgres_url, "state", "check"])
    assert on_pg.exit_code == 0 and "support-qa" in on_pg.output or "up to date" in on_pg.output, on_pg.output
    status = runner.invoke(app, ["--state", postgres_url, "status", str(spec_path)])
    assert status.exit_code == 0, status.output
    names = runner.invoke(app, ["--state", postgres_url, "reviewers", "list"])
    assert names.exit_code == 0 and "alice" in names.output, names.output
    # And back: PostgreSQL to a new home's SQLite files, the same export again.
    monkeypatch.setenv("HITL_STATE_URL", "")
    back = tmp_path / "back"
    returned = runner.invoke(app, ["state", "copy", "--from", postgres_url, "--to", str(back)])
    assert returned.exit_code == 0 and "counts and export identical" in returned.output, returned.output
    again_export = runner.invoke(app, ["export", str(spec_path), "--home", str(back), "--format", "jsonl"])
    assert again_export.exit_code == 0 and again_export.output == before.output
    assert (back / "reviewers.json").exists()


def test_check_names_what_migrate_would_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITL_STATE_URL", "")  # unset, and restored after (the CLI sets it for --state)
    home = tmp_path / "home"
    (home / "campaigns").mkdir(parents=True)
    make_legacy_state(home / "campaigns" / "old.db").close()
    check = runner.invoke(app, ["state", "check", "--home", str(home)])
    assert check.exit_code == 1 and "to apply" in check.output and "hitl state migrate" in check.output
    migrate = runner.invoke(app, ["state", "migrate", "--home", str(home)])
    assert migrate.exit_code == 0 and "applied 0003_consensus_and_queue_tables" in migrate.output
    assert runner.invoke(app, ["state", "check", "--home", str(home)]).exit_code == 0
    conn = sqlite3.connect(home / "campaigns" / "old.db")
    conn.execute("INSERT INTO schema_migrations VALUES ('0999_future', 1)")
    conn.commit()
    conn.close()
    too_new = runner.invoke(app, ["state", "check", "--home", str(home)])
    assert too_new.exit_code == 1 and "newer release of hitl" in too_new.output
