"""A campaign on the Langfuse backend (real SDK → local Langfuse fake): configs resolved from the
server, items prefetched in batches, scores drained and read back, resume from Langfuse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitl_pipeline.campaign.lifecycle import campaign_db_path, open_campaign, sync
from hitl_pipeline.campaign.status import status
from hitl_pipeline.report.compute import records_from_scores
from hitl_pipeline.scoring.scores import stored_names
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.sources.langfuse import LangfuseSource
from tests.campaign.campaign_support import DEMO_NOW, Clock, make_spec
from tests.support.langfuse_fake import LangfuseFake

GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}


@pytest.fixture(scope="module")
def fake() -> Iterator[LangfuseFake]:
    with LangfuseFake(mode="v4", seed=1) as server:
        server.load_demo(generate_demo(seed=0, traces=120))
        yield server


def _source(fake: LangfuseFake) -> LangfuseSource:
    return LangfuseSource(
        base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key, timeout=10
    )


@pytest.mark.parametrize("target", ["trace", "observation", "session"])
def test_review_sync_and_resume_on_langfuse(fake: LangfuseFake, tmp_path: Path, target: str) -> None:
    filters = {
        "trace": "    trace_name: support-chat\n",
        "observation": "    observation_name: generate-answer\n",
    }.get(target, "    environment: production\n")
    spec = make_spec(target=target, filters=filters, size=4, n=1, campaign=f"lf-{target}")
    home = tmp_path / "home"
    src = _source(fake)
    try:
        with open_campaign(spec, src, home=home, now=DEMO_NOW, clock=Clock(), worker=False) as svc:
            assert svc.configs["support_quality"].id == "cfg-support-quality"  # resolved from Langfuse
            keys = [r.key for r in svc.state.items()]
            assert len(keys) == 4
            for _ in range(3):
                a = svc.open_next("ann")
                assert a is not None
                subject = {
                    "trace": a.item.trace,
                    "observation": a.item.observation,
                    "session": a.item.session,
                }[target]
                assert subject is not None and subject.id == a.ref.id
                svc.submit("ann", a.item_key, GOOD, "ok")
        report = sync(spec, src, home=home, deadline=20, poll_interval=0.05)
        assert report.done and report.confirmed == 9, report
        stored = [s for s in fake.stored_scores() if (s.metadata or {}).get("hitl_campaign") == spec.campaign]
        assert len(stored) == 9
        traces = {t.id: t for t in generate_demo(seed=0, traces=120).traces}
        by_session = {
            t.session_id: t for t in sorted(traces.values(), key=lambda t: t.timestamp, reverse=True)
        }
        for s in stored:
            assert s.source == "ANNOTATION"
            # Every score carries its item's environment (Langfuse's environment views show it).
            trace = traces[s.trace_id] if s.trace_id else by_session[s.session_id]
            assert s.environment == trace.environment != "default"
            if target == "session":
                assert s.session_id and not s.trace_id
            elif target == "observation":
                assert s.observation_id and s.trace_id
            else:
                assert s.trace_id and not s.observation_id

        for suffix in ("", "-wal", "-shm"):  # a new machine
            p = Path(f"{campaign_db_path(home, spec.campaign)}{suffix}")
            if p.exists():
                os.remove(p)
        with open_campaign(spec, src, home=home, now=DEMO_NOW, clock=Clock(), worker=False) as svc:
            assert len(svc.state.reviews()) == 3
            a = svc.open_next("ann")
            assert a is not None and a.item_key == keys[3]  # only the unanswered item is left
        assert status(spec, home=home).outbox["confirmed"] == 9
    finally:
        src.close()


def test_corrections_are_filed_as_output_read_back_reported_and_resumed(
    fake: LangfuseFake, tmp_path: Path
) -> None:
    # Langfuse stores every CORRECTION under the name "output" (and the fake renames likewise):
    # hitl sends it so, keeps the question in metadata, confirms it, reports it, resumes it.
    spec = make_spec(size=2, n=1, campaign="lf-corrections", correction=True)
    home = tmp_path / "home"
    src = _source(fake)
    try:
        with open_campaign(spec, src, home=home, now=DEMO_NOW, clock=Clock(), worker=False) as svc:
            keys = []
            while (a := svc.open_next("ann")) is not None:
                svc.submit("ann", a.item_key, {**GOOD, "corrected_answer": f"Better {a.item_key}"}, None)
                keys.append(a.item_key)
        report = sync(spec, src, home=home, deadline=20, poll_interval=0.05)
        assert report.done and report.confirmed == 8 and report.left_over == 0, report
        stored = [s for s in fake.stored_scores() if (s.metadata or {}).get("hitl_campaign") == spec.campaign]
        corrections = [s for s in stored if s.data_type == "CORRECTION"]
        assert len(corrections) == 2
        assert {s.name for s in corrections} == {"output"}
        assert {(s.metadata or {}).get("hitl_question") for s in corrections} == {"corrected_answer"}

        records = records_from_scores(spec, src.iter_scores(names=stored_names(spec)))
        got = {(r.item_key, r.question): r.value for r in records}
        assert {got[(k, "corrected_answer")] for k in keys} == {f"Better {k}" for k in keys}

        for suffix in ("", "-wal", "-shm"):  # a new machine: the answers come back from Langfuse
            p = Path(f"{campaign_db_path(home, spec.campaign)}{suffix}")
            if p.exists():
                os.remove(p)
        with open_campaign(spec, src, home=home, now=DEMO_NOW, clock=Clock(), worker=False) as svc:
            restored = {r.item_key: r.answers for r in svc.state.reviews()}
            assert {restored[k]["corrected_answer"] for k in keys} == {f"Better {k}" for k in keys}
    finally:
        src.close()
