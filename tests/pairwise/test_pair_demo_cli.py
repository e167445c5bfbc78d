"""The demo pair campaign end to end through the CLI: `hitl run --dry-run`, reviews (a scripted
reviewer who sees which answer is better), `hitl sync`, then `hitl report` shows prompt v2's win
rate with its interval and `hitl report --check` applies the win_rate gate."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.cli import app
from hitl_pipeline.settings import Settings
from hitl_pipeline.sources import get_source
from hitl_pipeline.spec import load_spec
from tests.pairwise.pair_support import NOW, answer_for, truthful_pick

SPEC = Path(__file__).resolve().parents[2] / "specs" / "pairwise_release.yaml"


def test_demo_pair_campaign_report(tmp_path: Path) -> None:
    runner = CliRunner()
    home = tmp_path / "home"
    out = runner.invoke(app, ["run", str(SPEC), "--dry-run", "--source", "local", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "Queue: 29 of 29 matching pairs" in out.output and "Unmatched: 2" in out.output
    spec = load_spec(SPEC)
    source = get_source("local", Settings.from_env(home, environ={}))
    try:
        with open_campaign(spec, source, home=home, now=NOW, worker=False, start=False) as svc:
            while (a := svc.open_next("ann")) is not None:
                answers = answer_for(a, truthful_pick(a))
                answers["tone_preference"] = answers["answer_preference"]
                svc.submit("ann", a.item_key, answers, None)
    finally:
        source.close()
    synced = runner.invoke(app, ["sync", str(SPEC), "--source", "local", "--home", str(home)])
    assert synced.exit_code == 0, synced.output
    report = runner.invoke(app, ["report", str(SPEC), "--source", "local", "--home", str(home), "--check"])
    assert "Pairwise: prompt v2 (B) vs prompt v1 (A)" in report.output
    assert "answer_preference: 29 pairs, 29 judgments; B win rate 0." in report.output
    line = next(x for x in report.output.splitlines() if "B win rate" in x and "answer_preference" in x)
    assert "[" in line and "]" in line  # the 95 % interval
    assert "metadata.topic=shipping" in report.output
    gate = next(x for x in report.output.splitlines() if "win_rate(answer_preference)" in x)
    assert ("FAIL" in gate) == (report.exit_code == 1)


def test_export_of_a_pair_campaign(tmp_path: Path) -> None:
    runner = CliRunner()
    home = tmp_path / "home"
    spec = load_spec(SPEC)
    source = get_source("local", Settings.from_env(home, environ={}))
    try:
        with open_campaign(spec, source, home=home, now=NOW, worker=False, start=False) as svc:
            a = svc.open_next("ann")
            assert a is not None
            svc.submit("ann", a.item_key, answer_for(a, "tie"), "same")
    finally:
        source.close()
    out = runner.invoke(app, ["export", str(SPEC), "--format", "jsonl", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert a.item_key in out.output and '"tie"' in out.output
    ds = runner.invoke(
        app, ["export", str(SPEC), "--to-dataset", "x", "--source", "local", "--home", str(home)]
    )
    assert ds.exit_code == 1 and "a pair campaign has no single output per item" in ds.output
    status = runner.invoke(app, ["status", str(SPEC), "--home", str(home)])
    assert status.exit_code == 0 and "1 answered" in status.output, status.output
