"""A question withdrawn by an edit (its ``when`` no longer holds): the score it already sent is
deleted from the source, through the outbox, and no longer counted as an answer. On real SQLite,
with the local store and the Langfuse fake over HTTP."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.campaign.export import export
from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.campaign.status import status
from hitl_pipeline.scoring.outbox import Backoff, drain
from hitl_pipeline.scoring.scores import score_id
from hitl_pipeline.sources.base import Source
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.sources.langfuse import LangfuseSource
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec.model import ReviewSpec
from tests.campaign.campaign_support import DEMO_NOW, Clock, demo_configs, make_spec
from tests.campaign.legacy_state import make_legacy_state
from tests.support.langfuse_fake import LangfuseFake

# Every test here runs on both state engines (SQLite files; a real PostgreSQL through HITL_STATE_URL).
pytestmark = pytest.mark.usefixtures("state_url")

GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}
POOR = {"support_quality": "poor", "helpfulness": 1, "factually_correct": False, "reviewer_notes": "wrong"}
FAST = Backoff(base=0.001, cap=0.01)


@pytest.fixture(params=["local", "langfuse-v4", "langfuse-v3"])
def backend(
    request: pytest.FixtureRequest, store: LocalSource
) -> Iterator[tuple[Source, LangfuseFake | None]]:
    """The source the campaign writes to, and the fake behind it (None for the local store)."""
    if request.param == "local":
        yield store, None
        return
    with LangfuseFake(mode=request.param.split("-")[1]) as fake:
        fake.load_demo(generate_demo(seed=0, traces=120))
        src = LangfuseSource(
            base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key, timeout=10
        )
        try:
            yield src, fake
        finally:
            src.close()


def _open(spec: ReviewSpec, src: Source, home: Path, clock: Clock) -> CampaignService:
    configs = demo_configs(src, spec) if isinstance(src, LocalSource) else None
    return open_campaign(spec, src, home=home, now=DEMO_NOW, configs=configs, clock=clock, worker=False)


def _drain(state: CampaignState, src: Source, **kw: Any) -> None:
    report = drain(state, src, deadline=20, confirm_timeout=10, poll_interval=0.01, backoff=FAST, **kw)
    assert report.done, report


def _export(spec: ReviewSpec, home: Path) -> list[dict[str, Any]]:
    buf = io.StringIO()
    export(spec, home=home, fmt="jsonl", out=buf)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_a_withdrawn_answer_is_deleted_from_the_source(
    backend: tuple[Source, LangfuseFake | None], home: Path, clock: Clock
) -> None:
    src, fake = backend
    spec = make_spec(size=2, campaign="withdraw")
    with _open(spec, src, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
        key = a.item_key
        notes = score_id(spec.campaign, 1, key, "reviewer_notes", "ann")
        svc.submit("ann", key, POOR, "first")
        _drain(svc.state, src)
        assert src.read_scores([notes])[notes].value == "wrong"

        # The edit makes `when` false: the notes question is no longer asked.
        assert svc.previous("ann", None) is not None
        svc.submit("ann", key, GOOD, "changed my mind")
        row = next(r for r in svc.state.outbox(item_key=key) if r.question == "reviewer_notes")
        assert row.is_delete and row.status == "pending" and row.revision == 2
        assert status(spec, home=home).outbox["pending"] == 4  # three new values and one delete
        if fake is not None:
            fake.reset_counters()
        _drain(svc.state, src)
        if fake is not None:
            assert fake.counters["DELETE /api/public/scores/{id}"] == 1
        assert notes not in src.read_scores([notes])
        rows = {r.question: r for r in svc.state.outbox(item_key=key)}
        assert rows["reviewer_notes"].status == "confirmed" and rows["reviewer_notes"].is_delete
        assert all(
            r.status == "confirmed" and not r.is_delete for q, r in rows.items() if q != "reviewer_notes"
        )
        stored = src.read_scores([r.score_id for r in rows.values()])
        assert stored[rows["support_quality"].score_id].value in ("excellent", 2.0)
        # Reports and resume read the source: the withdrawn answer is gone from it.
        assert not [s for s in src.iter_scores(names=["reviewer_notes"]) if s.id == notes]

        st = status(spec, home=home)
        assert st.outbox["confirmed"] == 3 and st.outbox["pending"] == 0
        assert {r.reviewer: (r.answered, r.confirmed) for r in st.reviewers} == {"ann": (1, 3)}
        exported = _export(spec, home)
        assert sorted(r["question"] for r in exported) == [
            "factually_correct",
            "helpfulness",
            "support_quality",
        ]

        # Answered again: the same id is a normal upsert again.
        svc.submit("ann", key, {**POOR, "reviewer_notes": "still wrong"}, None)
        row = next(r for r in svc.state.outbox(item_key=key) if r.question == "reviewer_notes")
        assert not row.is_delete and row.status == "pending" and row.score_id == notes
        _drain(svc.state, src)
        assert src.read_scores([notes])[notes].value == "still wrong"
        assert status(spec, home=home).outbox["confirmed"] == 4
        notes_rows = [r for r in _export(spec, home) if r["question"] == "reviewer_notes"]
        assert len(notes_rows) == 1 and notes_rows[0]["value"] == "still wrong"
        assert notes_rows[0]["outbox_status"] == "confirmed"


def test_a_withdrawn_answer_never_sent_is_just_forgotten(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    spec = make_spec(size=2, campaign="forget")
    with _open(spec, store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
        svc.submit("ann", a.item_key, POOR, None)
        svc.submit("ann", a.item_key, GOOD, None)  # before any drain
        assert sorted(r.question for r in svc.state.outbox()) == [
            "factually_correct",
            "helpfulness",
            "support_quality",
        ]
        assert all(not r.is_delete for r in svc.state.outbox())
        report = drain(svc.state, store, deadline=10, poll_interval=0.01)
        assert report.done and report.confirmed == 3


def test_a_delete_refused_once_with_503_is_retried(home: Path, clock: Clock) -> None:
    with LangfuseFake(mode="v4") as fake:
        fake.load_demo(generate_demo(seed=0, traces=120))
        src = LangfuseSource(
            base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key, timeout=10
        )
        try:
            spec = make_spec(size=2, campaign="withdraw-retry")
            with _open(spec, src, home, clock) as svc:
                a = svc.open_next("ann")
                assert a is not None
                notes = score_id(spec.campaign, 1, a.item_key, "reviewer_notes", "ann")
                svc.submit("ann", a.item_key, POOR, None)
                _drain(svc.state, src)
                assert notes in {s.id for s in fake.stored_scores()}
                svc.submit("ann", a.item_key, GOOD, None)
                fake.reset_counters()
                fake.fail_next(1, 503, route="/api/public/scores/")
                report = drain(
                    svc.state, src, deadline=20, confirm_timeout=10, poll_interval=0.01, backoff=FAST
                )
                assert report.done and report.retried == 1, report
                assert fake.counters["DELETE /api/public/scores/{id}"] == 2
                assert notes not in {s.id for s in fake.stored_scores()}
                row = next(r for r in svc.state.outbox() if r.question == "reviewer_notes")
                assert row.is_delete and row.status == "confirmed" and row.attempts == 2
                assert status(spec, home=home).outbox == {
                    "pending": 0,
                    "sent": 0,
                    "confirmed": 3,
                    "failed": 0,
                    "dropped": 0,
                }
        finally:
            src.close()


def test_a_state_from_before_the_migration_knows_what_reached_the_source(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    # A file as the release before the `0002_outbox_delete` migration left it, one row per status.
    conn = make_legacy_state(path, with_0002=False, extras=False)
    stamp = "2026-11-05T00:00:00.000000Z"
    for sid, st, attempts in [
        ("p0", "pending", 0),
        ("p1", "pending", 1),
        ("c", "confirmed", 1),
        ("f", "failed", 1),
    ]:
        conn.execute(
            """INSERT INTO outbox (score_id, item_key, reviewer, question, payload_json, status, revision, attempts,
                                   next_attempt_at, created_at, updated_at) VALUES (?, 'k', 'ann', ?, '{}', ?, 1, ?, ?, ?, ?)""",
            (sid, sid, st, attempts, stamp, stamp, stamp),
        )
    conn.commit()
    conn.close()
    state = CampaignState(path)
    try:
        assert state.migrations()[:2] == ["0001_initial", "0002_outbox_delete"]
        reached = {
            r["score_id"]: r["reached"] for r in state.db.query("SELECT score_id, reached FROM outbox")
        }
        assert reached == {"p0": 0, "p1": 1, "c": 1, "f": 1}
        assert all(r.action == "upsert" for r in state.outbox())
    finally:
        state.close()
