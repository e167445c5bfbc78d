"""The same pair campaign against the Langfuse fake (real SDK, real HTTP) in v4 and v3 modes:
pairing through the server's filters, both traces fetched per pair, scores on both traces sent,
read back and reported, and a resume from Langfuse after the campaign state is lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hitl_pipeline.campaign.lifecycle import campaign_db_path, dry_run, open_campaign, sync
from hitl_pipeline.model.pairs import pair_traces
from hitl_pipeline.report import make_report
from hitl_pipeline.sources.demo_pairwise import generate_pairwise_demo
from hitl_pipeline.sources.langfuse import LangfuseSource
from tests.pairwise.pair_support import NOW, answer_for, pair_spec, truthful_pick
from tests.support.langfuse_fake import LangfuseFake


@pytest.fixture(params=["v4", "v3"])
def fake(request: pytest.FixtureRequest) -> Iterator[LangfuseFake]:
    with LangfuseFake(mode=request.param, seed=1) as server:
        demo = generate_pairwise_demo()
        for cfg in demo.score_configs:
            server.add_config(cfg)
        for trace in demo.traces:
            server.add_trace(trace)
        yield server


def _source(fake: LangfuseFake) -> LangfuseSource:
    return LangfuseSource(
        base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key, timeout=10
    )


@pytest.mark.parametrize("match", ["metadata.question_id", "input"])
def test_pair_campaign_on_langfuse(fake: LangfuseFake, tmp_path: Path, match: str) -> None:
    spec = pair_spec(campaign=f"lf-pair-{fake.mode}", match=match, size=6)
    home = tmp_path / "home"
    src = _source(fake)
    try:
        plan = dry_run(spec, src, NOW)
        assert plan.pairing.counts() == {("a", "no partner"): 1, ("b", "no partner"): 1}
        assert len(plan) == 6
        with open_campaign(spec, src, home=home, now=NOW, worker=False) as svc:
            assert svc.configs["answer_preference"].id == "cfg-answer-preference"
            picks = {}
            for _ in range(5):
                a = svc.open_next("ann")
                assert a is not None and a.item.pair is not None
                view = a.item.pair
                (a_id, _), (b_id, _) = pair_traces(a.ref.id)
                assert view.a.trace.id == a_id and view.b.trace.id == b_id  # type: ignore[union-attr]
                assert view.a.trace.output and view.b.trace.output  # type: ignore[union-attr]
                pick = truthful_pick(a)
                svc.submit("ann", a.item_key, answer_for(a, pick), None)
                picks[a.item_key] = answer_for(a, pick)["answer_preference"]
        report = sync(spec, src, home=home, deadline=30, poll_interval=0.05)
        assert report.done and report.confirmed == 10, report
        stored = [s for s in fake.stored_scores() if (s.metadata or {}).get("hitl_campaign") == spec.campaign]
        assert len(stored) == 10
        for s in stored:
            md = s.metadata
            outcome = picks[md["hitl_pair"]]
            expected = (
                outcome if md["hitl_arm"] == "b" else {"win": "loss", "loss": "win"}.get(outcome, outcome)
            )
            assert s.string_value == expected and s.config_id == "cfg-answer-preference"
            assert s.trace_id in {
                t for pair in [pair_traces(md["hitl_pair"].removeprefix("pair:"))] for t, _ in pair
            }
        rep = make_report(spec, src, home=home)
        q = rep.pairwise.question("answer_preference")
        assert q.overall.pairs == 5 and q.overall.win_rate.low is not None
        # State lost: the campaign resumes from the scores in Langfuse.
        path = campaign_db_path(home, spec.campaign)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with open_campaign(spec, src, home=home, now=NOW, worker=False) as svc:
            answered = {r.item_key for r in svc.state.reviews()}
            assert answered == set(picks)
            assert {r.item_key: r.answers["answer_preference"] for r in svc.state.reviews()} == picks
    finally:
        src.close()


@pytest.mark.parametrize("mode", ["v4", "v3"])
def test_configs_sync_creates_the_preference_configs(mode: str, tmp_path: Path) -> None:
    from hitl_pipeline.scoring.configs import resolve_configs
    from hitl_pipeline.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[2] / "specs" / "pairwise_release.yaml")
    with LangfuseFake(mode=mode) as server:
        src = _source(server)
        try:
            created = resolve_configs(spec, src, create=True)
            assert created["answer_preference"].data_type == "CATEGORICAL"
            assert created["answer_preference"].categories == (
                ("win", 2.0),
                ("tie", 1.0),
                ("loss", 0.0),
                ("both_bad", -1.0),
            )
            assert created["tone_preference"].categories == (("win", 2.0), ("tie", 1.0), ("loss", 0.0))
            again = resolve_configs(spec, src, create=False)  # matched, not created twice
            assert {k: c.id for k, c in again.items()} == {k: c.id for k, c in created.items()}
            assert len(server.config_dicts()) == 2
        finally:
            src.close()
