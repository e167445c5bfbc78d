"""The campaign state on both engines: SQLite always, and a real PostgreSQL server (tests/support/
postgres.py). The same calls, the same results; under concurrency (threads on separate connections,
as separate servers would be) no item goes to more reviewers than the overlap, a reviewer holds one
open item whatever asks, and the outbox has one drainer."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.campaign.state.schema import MIGRATIONS
from hitl_pipeline.db import SchemaTooNew, locks
from hitl_pipeline.model import ItemRef
from hitl_pipeline.scoring.outbox_store import OutboxEntry

NOW = datetime(2026, 11, 5, 12, 0, 0, 123456, tzinfo=UTC)
LATER = NOW + timedelta(minutes=30)


def _refs(n: int) -> list[ItemRef]:
    return [
        ItemRef(kind="trace", id=f"t{i:03d}", timestamp=NOW - timedelta(hours=i), trace_id=f"t{i:03d}")
        for i in range(n)
    ]


def _state(state_engine: Any, items: int = 6, schema: str = "c_test") -> CampaignState:
    state = CampaignState(state_engine(schema))
    state.initialize(
        campaign="test",
        spec_hash="h1",
        spec_json='{"a": 1}',
        spec_version=1,
        now=NOW,
        created_at=NOW,
        git_commit="abc",
        refs=_refs(items),
    )
    return state


def _answer(state: CampaignState, key: str, reviewer: str, value: Any = 3, at: datetime = NOW) -> bool:
    return state.record_submission(
        item_key=key,
        reviewer=reviewer,
        answers={"helpfulness": value, "notes": "ok"},
        comment="fine",
        now=at,
        duration_s=1.25,
        entries=[
            OutboxEntry(f"{key}:{reviewer}:h", "helpfulness", {"id": f"{key}:{reviewer}:h", "value": value})
        ],
    )


def test_the_same_calls_give_the_same_results(state_engine: Any) -> None:
    state = _state(state_engine)
    assert state.migrations() == [m.name for m in MIGRATIONS]
    meta = state.meta()
    assert (meta.campaign, meta.spec_version, meta.created_at, meta.git_commit) == ("test", 1, NOW, "abc")
    assert [r.ref.timestamp for r in state.items()] == [r.timestamp for r in _refs(6)]
    lease = state.lease_next("ann", 2, NOW, LATER)
    assert lease == ("trace:t000", LATER)
    assert state.lease_next("ann", 2, NOW, LATER) == lease  # the open item again
    assert state.lease_next("bob", 2, NOW, LATER) == ("trace:t000", LATER)  # overlap 2
    assert state.lease_next("cy", 2, NOW, LATER) == ("trace:t001", LATER)
    assert _answer(state, "trace:t000", "ann") is True
    assert _answer(state, "trace:t000", "ann", value=4) is False  # an edit
    review = state.review("trace:t000", "ann")
    assert review is not None
    assert (review.answers, review.duration_s, review.created_at) == (
        {"helpfulness": 4, "notes": "ok"},
        2.5,
        NOW,
    )
    state.skip("trace:t001", "cy", NOW)
    assert state.lease_next("cy", 2, NOW, LATER) == ("trace:t002", LATER)  # t000 is full (ann, bob)
    assert state.peek_next("dan", 2, NOW, 3) == ["trace:t001", "trace:t002", "trace:t003"]
    assert state.counts(2).outbox["pending"] == 1
    assert state.item_counts(2) == (6, 0, 1)
    assert state.reviewer_counts("ann", 2) == (1, 5)
    (row,) = state.outbox_due(NOW, 10)
    assert (row.revision, row.payload["value"]) == (2, 4)
    assert state.mark([(row.score_id, row.revision)], "sent", NOW, count_attempt=True) == 1
    assert state.next_due_at("sent") == NOW
    assert state.mark([(row.score_id, row.revision)], "confirmed", LATER) == 1
    (exported,) = {r["question"]: r for r in state.export_rows() if r["question"] == "helpfulness"}.values()
    assert (exported["outbox_status"], exported["confirmed_at"], exported["created_at"]) == (
        "confirmed",
        "2026-11-05T12:30:00.123456Z",
        "2026-11-05T12:00:00.123456Z",
    )
    assert state.per_reviewer()["ann"]["confirmed"] == 1


def test_a_nested_transaction_is_a_savepoint_on_every_engine(state_engine: Any) -> None:
    state = _state(state_engine)
    with state.transaction() as c:
        c.execute("INSERT INTO meta (key, value) VALUES ('outer', '1')")
        with pytest.raises(ValueError), state.transaction() as inner:
            inner.execute("INSERT INTO meta (key, value) VALUES ('inner', '1')")
            raise ValueError
        assert state.db.scalar("SELECT value FROM meta WHERE key = 'outer'") == "1"  # seen inside
    keys = {r[0] for r in state.db.query("SELECT key FROM meta")}
    assert "outer" in keys and "inner" not in keys


def test_a_database_newer_than_the_program_is_refused(state_engine: Any) -> None:
    _state(state_engine).close()
    db = state_engine()
    with db.transaction() as tx:
        tx.execute("INSERT INTO schema_migrations (name, applied_ts) VALUES ('0999_next_release', 1)")
    with pytest.raises(SchemaTooNew, match="newer release of hitl"):
        CampaignState(state_engine())


def _race(workers: int, fn: Any) -> list[Any]:
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * workers
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


def test_concurrent_reviewers_never_exceed_the_overlap(state_engine: Any) -> None:
    # Each reviewer has their own CampaignState (own connections), like reviewers on separate servers.
    first = _state(state_engine, items=5)
    reviewers = [f"r{i}" for i in range(8)]
    states = [CampaignState(state_engine()) for _ in reviewers]

    def work(i: int) -> list[str]:
        got = []
        while (lease := states[i].lease_next(reviewers[i], 2, NOW, LATER)) is not None:
            _answer(states[i], lease[0], reviewers[i])
            got.append(lease[0])
        return got

    answered = _race(len(reviewers), work)
    per_item = Counter(key for keys in answered for key in keys)
    assert per_item == {r.key: 2 for r in _refs(5)}  # every item exactly twice, never three times
    assert all(len(set(keys)) == len(keys) for keys in answered)  # nobody answered an item twice
    assert first.item_counts(2) == (5, 5, 10)
    for s in states:
        s.close()


def test_one_reviewer_holds_one_open_item_across_connections(state_engine: Any) -> None:
    _state(state_engine, items=10)
    tabs = [CampaignState(state_engine()) for _ in range(6)]
    leases = _race(len(tabs), lambda i: tabs[i].lease_next("ann", 1, NOW, LATER))
    assert {lease[0] for lease in leases} == {"trace:t000"}  # every tab gets the same item
    assert tabs[0].db.scalar("SELECT COUNT(*) FROM leases WHERE reviewer = 'ann'") == 1
    for t in tabs:
        t.close()


def test_the_outbox_has_one_drainer_at_a_time(state_engine: Any) -> None:
    state = _state(state_engine)
    other = CampaignState(state_engine())
    assert locks.acquire(state.db, "outbox-drainer", "server-1", 60, "hitl run on host a") is None
    held = locks.acquire(other.db, "outbox-drainer", "sync-2", 60, "hitl sync on host b")
    assert held is not None and held.holder == "server-1" and "hitl run on host a" in str(held)
    assert locks.acquire(state.db, "outbox-drainer", "server-1", 60, "hitl run on host a") is None  # renew
    locks.release(state.db, "outbox-drainer", "server-1")
    assert locks.acquire(other.db, "outbox-drainer", "sync-2", 60, "hitl sync on host b") is None
    # An expired claim (its holder was killed) is taken over.
    assert locks.acquire(state.db, "x", "dead", -1, "killed") is None
    assert locks.acquire(other.db, "x", "alive", 60, "alive") is None
    names = {h.name: h.holder for h in locks.live(state.db, "")}
    assert names == {"outbox-drainer": "sync-2", "x": "alive"}
    other.close()
