"""The outbox drain against the real local store: retries, refusals, read-back, drops, restarts."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.campaign.status import status
from hitl_pipeline.errors import SourceError
from hitl_pipeline.model import Score, ScoreWrite, WriteResult
from hitl_pipeline.scoring.outbox import Backoff, Drainer, OutboxWorker, drain
from hitl_pipeline.sources.local import LocalSource
from tests.campaign.campaign_support import DEMO_NOW, Clock, demo_configs, make_spec

# Every test here runs on both state engines (SQLite files; a real PostgreSQL through HITL_STATE_URL).
pytestmark = pytest.mark.usefixtures("state_url")

GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}
FAST = Backoff(base=0.001, cap=0.01)


class Wrapped:
    """The real local store with injectable faults on write/read."""

    def __init__(self, inner: LocalSource) -> None:
        self.inner = inner
        self.name = "wrapped"
        self.write_requests = 0
        self.written_ids: list[str] = []

    def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
        self.write_requests += 1
        results = self.inner.write_scores(scores)
        self.written_ids.extend(r.id for r in results if r.ok)
        return results

    def read_scores(self, ids: Iterable[str]) -> dict[str, Score]:
        return self.inner.read_scores(ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Flaky(Wrapped):
    """30 % of write requests fail whole (transport), 30 % of the rest fail per score (429/503)."""

    def __init__(self, inner: LocalSource, seed: int = 1) -> None:
        super().__init__(inner)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
        with self.lock:
            roll = self.rng.random()
            picks = [self.rng.random() for _ in scores]
        if roll < 0.3:
            self.write_requests += 1
            raise SourceError("connection reset by peer")
        ok = [s for s, p in zip(scores, picks, strict=True) if p >= 0.3]
        results = {r.id: r for r in super().write_scores(ok)} if ok else {}
        out = []
        for s, p in zip(scores, picks, strict=True):
            if p < 0.15:
                out.append(
                    WriteResult(
                        id=s.id, ok=False, error="429 Too Many Requests", retryable=True, retry_after=0.01
                    )
                )
            elif p < 0.3:
                out.append(WriteResult(id=s.id, ok=False, error="503 Service Unavailable", retryable=True))
            else:
                out.append(results[s.id])
        return out

    def read_scores(self, ids: Iterable[str]) -> dict[str, Score]:
        with self.lock:
            fail = self.rng.random() < 0.2
        if fail:
            raise SourceError("read timed out")
        return super().read_scores(ids)


def answered_service(store: Any, home: Path, clock: Clock, items: int = 6, **kw: Any) -> CampaignService:
    spec = make_spec(size=items, **kw)
    real = store if isinstance(store, LocalSource) else store.inner
    svc = open_campaign(
        spec, store, home=home, now=DEMO_NOW, configs=demo_configs(real, spec), clock=clock, worker=False
    )
    while (a := svc.open_next("ann")) is not None:
        svc.submit("ann", a.item_key, GOOD, None)
    return svc


def campaign_scores(store: LocalSource, campaign: str) -> list[Score]:
    return [s for s in store.iter_scores() if s.metadata.get("hitl_campaign") == campaign]


def test_drain_sends_and_confirms_everything(store: LocalSource, home: Path, clock: Clock) -> None:
    with answered_service(store, home, clock) as svc:
        report = drain(svc.state, store, deadline=10)
        assert report.done and report.confirmed == 18 and report.requests == 1
        assert {r.status for r in svc.state.outbox()} == {"confirmed"}
        stored = campaign_scores(store, svc.spec.campaign)
        assert sorted(s.id for s in stored) == sorted(r.score_id for r in svc.state.outbox())
        again = drain(svc.state, store, deadline=10)
        assert again.requests == 0 and again.done


def test_flaky_backend_every_score_confirmed_exactly_once(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    flaky = Flaky(store)
    with answered_service(flaky, home, clock, items=40) as svc:
        report = drain(svc.state, flaky, deadline=60, backoff=FAST, batch_size=7, poll_interval=0.01)
        assert report.done, report
        assert report.retried > 0 and report.confirmed == 120
        rows = svc.state.outbox()
        assert {r.status for r in rows} == {"confirmed"} and len(rows) == 120
        stored = campaign_scores(store, svc.spec.campaign)
        assert len(stored) == 120 and len({s.id for s in stored}) == 120


def test_refused_scores_are_failed_with_the_server_message(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    class Refusing(Wrapped):
        def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
            keep = [s for s in scores if s.name != "helpfulness"]
            res = {r.id: r for r in super().write_scores(keep)} if keep else {}
            return [
                res.get(s.id) or WriteResult(id=s.id, ok=False, error="400 Invalid request data: value")
                for s in scores
            ]

    src = Refusing(store)
    with answered_service(src, home, clock, items=3) as svc:
        report = drain(svc.state, src, deadline=10, backoff=FAST)
        assert report.failed == 3 and report.confirmed == 6 and report.done
        failed = svc.state.outbox(status="failed")
        assert {r.question for r in failed} == {"helpfulness"}
        assert all(r.last_error == "400 Invalid request data: value" and r.attempts == 1 for r in failed)
        st = status(svc.spec, home=home)
        assert st.failures == (("failed: 400 Invalid request data: value", 3),)
        assert st.outbox["confirmed"] == 6


def test_accepted_but_never_readable_is_dropped_not_done(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    class Dropping(Wrapped):
        """Answers OK to every score but silently loses the numeric ones (like a config-invalid score)."""

        def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
            keep = [s for s in scores if s.name != "helpfulness"]
            if keep:
                super().write_scores(keep)
            return [WriteResult(id=s.id, ok=True) for s in scores]

    src = Dropping(store)
    with answered_service(src, home, clock, items=2) as svc:
        report = drain(svc.state, src, deadline=5, confirm_timeout=0.2, poll_interval=0.05)
        assert report.dropped == 2 and report.confirmed == 4 and report.done
        dropped = svc.state.outbox(status="dropped")
        assert {r.question for r in dropped} == {"helpfulness"}
        assert "not readable back" in (dropped[0].last_error or "")


def test_rows_sent_before_a_crash_are_read_back_then_resent(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    with answered_service(store, home, clock, items=2) as svc:
        rows = svc.state.outbox()
        # A previous process marked these as sent, then died before (or while) the request went out.
        svc.state.mark([(r.score_id, r.revision) for r in rows], "sent", DEMO_NOW)
        src = Wrapped(store)
        report = drain(svc.state, src, deadline=10)
        assert report.done and report.confirmed == 6 and src.write_requests == 1
        assert {r.status for r in svc.state.outbox()} == {"confirmed"}


def test_an_edit_in_flight_is_not_confirmed_with_the_old_value(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    with answered_service(store, home, clock, items=1) as svc:
        row = svc.state.outbox()[0]
        key = row.item_key
        # The drain read this revision; meanwhile the reviewer edits the answer.
        svc.open_item("ann", key)
        svc.submit("ann", key, {**GOOD, "helpfulness": 2}, None)
        assert svc.state.mark([(row.score_id, row.revision)], "confirmed", DEMO_NOW) == 0
        report = drain(svc.state, store, deadline=10)
        assert report.done
        by_q = {r.question: r for r in svc.state.outbox()}
        assert store.read_scores([by_q["helpfulness"].score_id])[by_q["helpfulness"].score_id].value == 2.0


def test_background_worker_drains_while_reviewing(store: LocalSource, home: Path) -> None:
    spec = make_spec(size=3)
    with open_campaign(spec, store, home=home, now=DEMO_NOW, configs=demo_configs(store, spec)) as svc:
        while (a := svc.open_next("ann")) is not None:
            svc.submit("ann", a.item_key, GOOD, None)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and svc.state.counts(1).outbox["confirmed"] < 9:
            time.sleep(0.02)
        assert svc.state.counts(1).outbox["confirmed"] == 9


def test_read_back_backs_off_while_the_server_lags(store: LocalSource, home: Path, clock: Clock) -> None:
    class Lagging(Wrapped):
        """Scores become readable 0.8 s after they were written (Langfuse takes seconds)."""

        def __init__(self, inner: LocalSource) -> None:
            super().__init__(inner)
            self.written_at: dict[str, float] = {}
            self.reads = 0

        def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
            for s in scores:
                self.written_at.setdefault(s.id, time.monotonic())
            return super().write_scores(scores)

        def read_scores(self, ids: Iterable[str]) -> dict[str, Score]:
            self.reads += 1
            now = time.monotonic()
            visible = [i for i in ids if now - self.written_at.get(i, now) >= 0.8]
            return super().read_scores(visible)

    src = Lagging(store)
    with answered_service(src, home, clock, items=3) as svc:
        report = drain(svc.state, src, deadline=10, poll_interval=0.05)
        assert report.done and report.confirmed == 9
        # Polling every 0.05 s would read ~16 times before 0.8 s; doubling waits read ~5 times.
        assert src.reads <= 7, src.reads


POOR = {"support_quality": "poor", "helpfulness": 1, "factually_correct": False, "reviewer_notes": "wrong"}


def _withdrawn_notes(svc: CampaignService, store: LocalSource) -> str:
    """Answer with the notes question, drain, then edit it away; returns the notes score id."""
    a = svc.open_next("ann")
    assert a is not None
    svc.submit("ann", a.item_key, POOR, None)
    assert drain(svc.state, store, deadline=10, poll_interval=0.01).done
    svc.submit("ann", a.item_key, GOOD, None)
    row = next(r for r in svc.state.outbox() if r.question == "reviewer_notes")
    assert row.is_delete and row.status == "pending"
    return row.score_id


def test_a_delete_the_source_ignores_is_dropped_not_done(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    class Ignoring(Wrapped):
        def delete_scores(self, ids: Sequence[str]) -> list[WriteResult]:
            return [WriteResult(id=i, ok=True) for i in ids]

    src = Ignoring(store)
    with open_campaign(
        make_spec(size=2),
        src,
        home=home,
        now=DEMO_NOW,
        configs=demo_configs(store, make_spec(size=2)),
        clock=clock,
        worker=False,
    ) as svc:
        notes = _withdrawn_notes(svc, store)
        report = drain(svc.state, src, deadline=5, confirm_timeout=0.2, poll_interval=0.05)
        assert report.dropped == 1 and report.done
        row = next(r for r in svc.state.outbox() if r.score_id == notes)
        assert row.status == "dropped" and "still readable" in (row.last_error or "")
        assert status(svc.spec, home=home).failures == (
            ("dropped: deleted and accepted, but the score is still readable", 1),
        )
        # Retrying the dropped delete (`hitl sync --retry-failed`) against a source that deletes finishes it.
        assert svc.state.requeue(["dropped"], clock()) == 1
        assert drain(svc.state, store, deadline=10, poll_interval=0.01).confirmed == 1
        assert notes not in store.read_scores([notes])


def test_a_delete_sent_before_a_crash_is_read_back_then_resent(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    spec = make_spec(size=2)
    with open_campaign(
        spec, store, home=home, now=DEMO_NOW, configs=demo_configs(store, spec), clock=clock, worker=False
    ) as svc:
        notes = _withdrawn_notes(svc, store)
        deletes = [r for r in svc.state.outbox(status="pending") if r.is_delete]
        # A previous process marked the delete as sent, then died before the request went out.
        svc.state.mark([(r.score_id, r.revision) for r in deletes], "sent", DEMO_NOW)
        src = Wrapped(store)
        report = drain(svc.state, src, deadline=10, poll_interval=0.01)
        assert report.done
        assert notes not in store.read_scores([notes])
        row = next(r for r in svc.state.outbox() if r.score_id == notes)
        assert row.status == "confirmed" and row.is_delete


def test_backoff_is_capped_so_recovery_is_noticed_within_seconds() -> None:
    # After an outage, the next attempt of any row comes within ~3 s (a 60 s cap made scores reach
    # the server more than a minute after it was back). A server's Retry-After is still honoured.
    rng = random.Random(0)
    backoff = Backoff()
    assert max(backoff.delay(attempt, None, rng) for attempt in range(40) for _ in range(20)) <= 3.0
    assert 30.0 <= backoff.delay(12, 30.0, rng) <= 33.0
    assert backoff.delay(0, 3600.0, rng) <= 66.0  # a silly Retry-After does not park the outbox for hours


def test_unseen_is_not_visible_yet_until_the_deadline_not_dropped(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    class Invisible(Wrapped):
        """Takes every score and stores it, but shows none until ``visible`` is set."""

        visible = False

        def read_scores(self, ids: Iterable[str]) -> dict[str, Score]:
            return super().read_scores(ids) if self.visible else {}

    src = Invisible(store)
    with answered_service(src, home, clock, items=1) as svc:
        drainer = Drainer(svc.state, src, clock=clock)  # the defaults `hitl run` and `hitl sync` use
        assert drainer.send_due() == 3
        for _ in range(40):  # 90 s of read-backs on a bounded schedule: not visible yet, not dropped
            clock.advance(seconds=2.25)
            drainer.confirm()
        assert svc.state.outbox_counts()["sent"] == 3 and drainer.report.dropped == 0
        reads = drainer.report.read_requests
        assert 6 <= reads <= 20, reads  # first after 0.5 s, then doubling, at most every 10 s
        src.visible = True  # seen after 90 s: confirmed, never reported dropped
        clock.advance(seconds=10)
        drainer.confirm()
        assert svc.state.outbox_counts()["confirmed"] == 3 and drainer.report.dropped == 0

    with answered_service(src, home / "second", clock, items=1, campaign="late") as svc:
        src.visible = False
        drainer = Drainer(svc.state, src, clock=clock, recheck_dropped=30)
        drainer.send_due()
        for _ in range(70):  # past the 10 min deadline: dropped
            clock.advance(seconds=10)
            drainer.confirm()
        assert svc.state.outbox_counts()["dropped"] == 3
        assert "not readable back after 10 min" in (svc.state.outbox(status="dropped")[0].last_error or "")
        src.visible = True  # a late arrival: the running drainer looks at dropped rows again
        clock.advance(seconds=31)
        drainer.confirm()
        assert svc.state.outbox_counts()["confirmed"] == 3


def test_worker_coalesces_every_reviewers_answers_into_one_request_per_window(
    store: LocalSource, home: Path
) -> None:
    # 3 reviewers answer 12 items within a fraction of a second: with a 4 s window their 36
    # scores go out in one or two requests, not one request per answer.
    src = Wrapped(store)
    spec = make_spec(size=12, n=3)
    svc = open_campaign(spec, src, home=home, now=DEMO_NOW, configs=demo_configs(store, spec), worker=False)
    worker = OutboxWorker(svc.state, src, write_window=4.0, confirm_gap=0.5, poll_interval=0.05)
    try:
        worker.start()
        for _ in range(4):
            for who in ("ann", "bob", "cy"):
                a = svc.open_next(who)
                assert a is not None
                svc.submit(who, a.item_key, GOOD, None)
                worker.notify()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and svc.state.outbox_counts()["confirmed"] < 36:
            time.sleep(0.02)
        assert svc.state.outbox_counts()["confirmed"] == 36
        assert src.write_requests <= 3, src.write_requests  # one request per answer would be 12
    finally:
        worker.stop()
        svc.close()
        svc.state.close()


def test_a_score_stored_though_its_answer_was_lost_is_read_back_not_sent_again(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    class LostAnswer(Wrapped):
        """Stores the first batch, then the connection breaks before the answer (drop after processing)."""

        def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
            super().write_scores(scores)
            if self.write_requests > 1:
                return [WriteResult(id=s.id, ok=True) for s in scores]
            return [
                WriteResult(id=s.id, ok=False, error="RemoteProtocolError", retryable=True, maybe_stored=True)
                for s in scores
            ]

    src = LostAnswer(store)
    with answered_service(src, home, clock, items=2) as svc:
        report = drain(svc.state, src, deadline=10, backoff=FAST, poll_interval=0.01)
        assert report.done and report.confirmed == 6
        assert src.write_requests == 1  # found stored on the read-back: not sent a second time
        assert {r.attempts for r in svc.state.outbox()} == {1}
