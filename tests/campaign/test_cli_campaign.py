"""`hitl run --dry-run`, `hitl sync`, `hitl status`, `hitl export` through the real CLI and local store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from hitl_pipeline.campaign.lifecycle import dry_run, open_campaign
from hitl_pipeline.cli import app
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec
from tests.campaign.campaign_support import DEMO_NOW, Clock, demo_configs

runner = CliRunner()
GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}


def _home_with_demo(tmp_path: Path, demo_template: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_template, home / "local.db")
    return home


def test_dry_run_prints_the_exact_queue_deterministically(
    tmp_path: Path, demo_template: Path, repo_root: Path
) -> None:
    home = _home_with_demo(tmp_path, demo_template)
    spec = repo_root / "specs" / "support_qa.yaml"
    first = runner.invoke(app, ["run", str(spec), "--dry-run", "--home", str(home)])
    second = runner.invoke(app, ["run", str(spec), "--dry-run", "--home", str(home)])
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    lines = [line.split()[1] for line in first.output.splitlines() if line.strip()[:1].isdigit()]
    loaded = load_spec(spec)
    assert len(lines) == loaded.sample.size
    store = LocalSource(home / "local.db")
    try:
        assert lines == dry_run(loaded, store, DEMO_NOW).keys
    finally:
        store.close()
    assert not (home / "campaigns").exists()  # a dry run writes no campaign state


def test_sync_status_export(tmp_path: Path, demo_template: Path, repo_root: Path) -> None:
    home = _home_with_demo(tmp_path, demo_template)
    spec_path = repo_root / "specs" / "support_qa.yaml"
    spec = load_spec(spec_path)
    store = LocalSource(home / "local.db")
    with open_campaign(
        spec, store, home=home, now=DEMO_NOW, configs=demo_configs(store, spec), clock=Clock(), worker=False
    ) as svc:
        for who in ("ann", "bob"):
            a = svc.open_next(who)
            assert a is not None
            svc.submit(who, a.item_key, GOOD, "note")
    store.close()

    out = runner.invoke(app, ["status", str(spec_path), "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "2 answered, 48 queued" in out.output and "6 pending" in out.output
    assert "ann: 1 answered; scores 3 pending" in out.output

    out = runner.invoke(app, ["sync", str(spec_path), "--home", str(home), "--source", "local"])
    assert out.exit_code == 0, out.output
    assert "6 confirmed, 0 failed, 0 dropped" in out.output

    out = runner.invoke(app, ["status", str(spec_path), "--home", str(home)])
    assert "6 confirmed" in out.output and "0 pending" in out.output

    target = tmp_path / "answers.jsonl"
    out = runner.invoke(
        app, ["export", str(spec_path), "--home", str(home), "--format", "jsonl", "-o", str(target)]
    )
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 6 and {r["outbox_status"] for r in rows} == {"confirmed"}
    assert {r["reviewer"] for r in rows} == {"ann", "bob"}

    out = runner.invoke(app, ["export", str(spec_path), "--home", str(home), "--format", "csv"])
    assert out.exit_code == 0 and out.output.splitlines()[0].startswith("campaign,item_key,kind")
    assert len(out.output.splitlines()) == 7


def test_user_errors_exit_1_without_traceback(tmp_path: Path, repo_root: Path) -> None:
    spec = str(repo_root / "specs" / "support_qa.yaml")
    for args in (["status", spec], ["export", spec], ["export", spec, "--format", "xml"]):
        out = runner.invoke(app, [*args, "--home", str(tmp_path / "empty")])
        assert out.exit_code == 1, out.output
        assert out.output.startswith("Error: ") and "Traceback" not in out.output


def test_sync_exits_1_when_scores_are_left_failed(
    tmp_path: Path, demo_template: Path, repo_root: Path
) -> None:
    home = _home_with_demo(tmp_path, demo_template)
    spec_path = repo_root / "specs" / "support_qa.yaml"
    spec = load_spec(spec_path)
    store = LocalSource(home / "local.db")
    with open_campaign(
        spec, store, home=home, now=DEMO_NOW, configs=demo_configs(store, spec), clock=Clock(), worker=False
    ) as svc:
        a = svc.open_next("ann")
        assert a is not None
        svc.submit("ann", a.item_key, GOOD, None)
    # The config is archived in the store after the answer was given: the store refuses the score.
    store._conn().execute("UPDATE score_configs SET is_archived = 1 WHERE id = 'cfg-helpfulness'")
    store.close()
    out = runner.invoke(app, ["sync", str(spec_path), "--home", str(home), "--source", "local"])
    assert out.exit_code == 1, out.output
    assert "2 confirmed, 1 failed" in out.output and "Error: not every score is confirmed" in out.output
    out = runner.invoke(app, ["status", str(spec_path), "--home", str(home)])
    assert "1 × failed:" in out.output and "archived" in out.output
    # A second sync has nothing to send, but the failed score is still there: exit 1 with the count.
    out = runner.invoke(app, ["sync", str(spec_path), "--home", str(home), "--source", "local"])
    assert out.exit_code == 1, out.output
    assert "0 confirmed, 0 failed" in out.output
    assert "not every score is confirmed: 1 left (1 failed, 0 dropped" in out.output
