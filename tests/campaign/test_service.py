"""The review service on real SQLite and the real local store: leases, N reviewers, skip, Back, edits,
validation, atomicity, prefetch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.campaign.state.location import StateLocation
from hitl_pipeline.errors import CampaignError, ScoreValidationError, SourceError
from hitl_pipeline.model import Item, ItemRef
from hitl_pipeline.scoring.scores import score_id
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec.model import ReviewSpec
from tests.campaign.campaign_support import DEMO_NOW, Clock, demo_configs, make_spec

# Every test here runs on both state engines (SQLite files; a real PostgreSQL through HITL_STATE_URL).
pytestmark = pytest.mark.usefixtures("state_url")

GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}


def open_service(
    spec: ReviewSpec, store: Any, home: Path, clock: Clock, *, worker: bool = False, **kw: Any
) -> CampaignService:
    real = store if isinstance(store, LocalSource) else store.inner
    return open_campaign(
        spec,
        store,
        home=home,
        now=DEMO_NOW,
        configs=demo_configs(real, spec),
        clock=clock,
        worker=worker,
        **kw,
    )


def test_one_reviewer_walks_the_queue_in_order(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=5)
    with open_service(spec, store, home, clock) as svc:
        order = [row.key for row in svc.state.items()]
        seen = []
        while (a := svc.open_next("ann")) is not None:
            assert svc.open_next("ann").item_key == a.item_key  # type: ignore[union-attr]  # same open lease
            assert a.item.trace is not None and a.item.trace.id == a.ref.id
            svc.submit("ann", a.item_key, GOOD, "fine")
            seen.append(a.item_key)
        assert seen == order
        p = svc.progress("ann")
        assert (
            p.reviewer_done,
            p.campaign_done,
            p.campaign_total,
            p.items_complete,
            p.reviewer_remaining,
        ) == (
            5,
            5,
            5,
            5,
            0,
        )


def test_n_distinct_reviewers_per_item_and_no_repeats(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=4, n=2)
    with open_service(spec, store, home, clock) as svc:
        a1 = svc.open_next("ann")
        b1 = svc.open_next("bob")
        c1 = svc.open_next("cy")
        assert a1 and b1 and c1
        assert a1.item_key == b1.item_key  # the first item takes two reviewers
        assert c1.item_key != a1.item_key  # …and no third
        svc.submit("ann", a1.item_key, GOOD, None)
        a2 = svc.open_next("ann")
        assert a2 is not None and a2.item_key not in (a1.item_key,)  # never the same item twice
        for who, a in (("bob", b1), ("cy", c1), ("ann", a2)):
            svc.submit(who, a.item_key, GOOD, None)
        answered: dict[str, set[str]] = {}
        for who in ("ann", "bob", "cy"):
            while (a := svc.open_next(who)) is not None:
                svc.submit(who, a.item_key, GOOD, None)
        for r in svc.state.reviews():
            answered.setdefault(r.item_key, set()).add(r.reviewer)
        assert all(len(v) == 2 for v in answered.values()) and len(answered) == 4
        assert svc.progress("ann").items_complete == 4


def test_expired_lease_goes_to_the_next_reviewer(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=3)
    with open_service(spec, store, home, clock) as svc:
        a = svc.open_next("ann")
        b = svc.open_next("bob")
        assert a and b and a.item_key != b.item_key
        assert a.lease_expires == DEMO_NOW + timedelta(minutes=30)
        clock.advance(minutes=31)
        c = svc.open_next("cy")
        assert c is not None and c.item_key == a.item_key  # ann's expired lease
        svc.submit("cy", c.item_key, GOOD, None)
        with pytest.raises(CampaignError, match="expired"):
            svc.submit("ann", a.item_key, GOOD, None)
        assert svc.state.review(a.item_key, "ann") is None


def test_late_submit_on_expired_lease_still_counts_when_room_is_left(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    spec = make_spec(size=3)
    with open_service(spec, store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
        clock.advance(hours=2)
        svc.submit("ann", a.item_key, GOOD, None)
        assert svc.state.review(a.item_key, "ann") is not None


def test_skip_comes_back_after_the_others_or_goes_to_someone_else(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    spec = make_spec(size=3)
    with open_service(spec, store, home, clock) as svc:
        keys = [r.key for r in svc.state.items()]
        a = svc.open_next("ann")
        assert a is not None and a.item_key == keys[0]
        svc.skip("ann", a.item_key)
        nxt = svc.open_next("ann")
        assert nxt is not None and nxt.item_key == keys[1]
        b = svc.open_next("bob")  # the skipped item is free for others
        assert b is not None and b.item_key == keys[0]
        svc.skip("bob", b.item_key)
        svc.submit("ann", nxt.item_key, GOOD, None)
        third = svc.open_next("ann")
        assert third is not None and third.item_key == keys[2]
        svc.submit("ann", third.item_key, GOOD, None)
        last = svc.open_next("ann")
        assert last is not None and last.item_key == keys[0]  # back, after the others
        svc.submit("ann", last.item_key, GOOD, None)
        assert svc.open_next("ann") is None
        with pytest.raises(CampaignError, match="already answered"):
            svc.skip("ann", keys[0])


def test_back_prefills_and_edit_updates_the_same_scores(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=3)
    with open_service(spec, store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
        svc.submit("ann", a.item_key, GOOD, "first")
        b = svc.open_next("ann")
        assert b is not None
        svc.submit("ann", b.item_key, {**GOOD, "helpfulness": 2}, None)
        cur = svc.open_next("ann")
        assert cur is not None
        back = svc.previous("ann", cur.item_key)
        assert back is not None and back.item_key == b.item_key and back.revisiting
        assert back.answers == {"support_quality": "excellent", "helpfulness": 2.0, "factually_correct": True}
        back2 = svc.previous("ann", back.item_key)
        assert back2 is not None and back2.item_key == a.item_key and back2.comment == "first"
        assert svc.previous("ann", a.item_key) is None
        ids_before = {r.score_id for r in svc.state.outbox(item_key=a.item_key)}
        edited = {
            "support_quality": "poor",
            "helpfulness": 1,
            "factually_correct": False,
            "reviewer_notes": "wrong",
        }
        svc.submit("ann", a.item_key, edited, "changed my mind")
        rows = svc.state.outbox(item_key=a.item_key)
        assert ids_before <= {r.score_id for r in rows}
        assert len(rows) == 4  # the notes question now applies
        quality = next(r for r in rows if r.question == "support_quality")
        assert quality.revision == 2 and quality.payload["value"] == "poor" and quality.status == "pending"
        assert quality.score_id == score_id(spec.campaign, 1, a.item_key, "support_quality", "ann")
        assert svc.open_item("ann", a.item_key).answers["reviewer_notes"] == "wrong"
        assert svc.progress("ann").reviewer_done == 2  # an edit is not a new review
        # Still on the same open item after going back.
        assert svc.open_next("ann").item_key == cur.item_key  # type: ignore[union-attr]
        with pytest.raises(CampaignError, match="not answered"):
            svc.open_item("bob", a.item_key)


@pytest.mark.parametrize(
    ("answers", "comment", "message"),
    [
        ({"helpfulness": 3, "factually_correct": True}, None, "Overall quality: an answer is required"),
        ({**GOOD, "support_quality": "great"}, None, "'great' is not one of: excellent, acceptable, poor"),
        ({**GOOD, "helpfulness": 6}, None, "6 is above the maximum 5"),
        ({**GOOD, "helpfulness": 0.5}, None, "below the minimum 1"),
        ({**GOOD, "helpfulness": True}, None, "needs a number"),
        ({**GOOD, "factually_correct": "maybe"}, None, "needs yes or no"),
        ({**GOOD, "reviewer_notes": "x"}, None, "must be left empty"),
        ({**GOOD, "support_quality": "poor", "reviewer_notes": "y" * 501}, None, "at most 500 characters"),
        ({**GOOD, "bogus": 1}, None, "bogus: not a question"),
    ],
)
def test_validation_errors(
    store: LocalSource, home: Path, clock: Clock, answers: dict[str, Any], comment: str | None, message: str
) -> None:
    spec = make_spec(size=2)
    with open_service(spec, store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
        with pytest.raises(ScoreValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
            svc.submit("ann", a.item_key, answers, comment)
        assert svc.state.review(a.item_key, "ann") is None and svc.state.outbox() == []


def test_comment_policy_and_condition(store: LocalSource, home: Path, clock: Clock) -> None:
    with open_service(make_spec(size=2, comment="required"), store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
        with pytest.raises(ScoreValidationError, match="a comment is required"):
            svc.submit("ann", a.item_key, GOOD, "  ")
        svc.submit(
            "ann", a.item_key, {**GOOD, "support_quality": "poor", "reviewer_notes": " why "}, "because"
        )
        rows = {r.question: r.payload for r in svc.state.outbox()}
        assert rows["reviewer_notes"]["value"] == "why" and rows["reviewer_notes"]["data_type"] == "TEXT"
        assert all(p["comment"] == "because" for p in rows.values())


def test_comment_off(store: LocalSource, home: Path, clock: Clock) -> None:
    with open_service(make_spec(size=2, comment="off", campaign="c-off"), store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
        with pytest.raises(ScoreValidationError, match="comments are turned off"):
            svc.submit("ann", a.item_key, GOOD, "hello")


def test_correction_must_change_the_output(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=2, correction=True, campaign="c-corr")
    with open_service(spec, store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None and a.item.trace is not None
        original = a.item.trace.output["content"]
        svc.submit("ann", a.item_key, {**GOOD, "corrected_answer": original + "  "}, None)
        assert "corrected_answer" not in svc.state.review(a.item_key, "ann").answers  # type: ignore[union-attr]
        svc.submit("ann", a.item_key, {**GOOD, "corrected_answer": "Better answer."}, None)
        row = next(r for r in svc.state.outbox() if r.question == "corrected_answer")
        assert row.payload["data_type"] == "CORRECTION" and row.payload["config_id"] is None
        # Filed as Langfuse files corrections: name "output", the question kept in metadata.
        assert row.payload["name"] == "output"
        assert row.payload["metadata"]["hitl_question"] == "corrected_answer"


def test_reviewer_allow_list(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=2, reviewers=("ann", "bob"))
    with open_service(spec, store, home, clock) as svc:
        assert svc.open_next("ann") is not None
        with pytest.raises(CampaignError, match="not on this campaign's reviewer list"):
            svc.open_next("mallory")
        with pytest.raises(CampaignError):
            svc.submit("mallory", svc.state.items()[0].key, GOOD, None)


def test_submit_requires_a_lease(store: LocalSource, home: Path, clock: Clock) -> None:
    with open_service(make_spec(size=2), store, home, clock) as svc:
        key = svc.state.items()[1].key
        with pytest.raises(CampaignError, match="open it with Next"):
            svc.submit("ann", key, GOOD, None)
        with pytest.raises(CampaignError, match="not in campaign"):
            svc.submit("ann", "trace:nope", GOOD, None)


class _Fail(Exception):
    pass


def test_answer_and_outbox_are_one_transaction(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=2)
    with open_service(spec, store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None

        def boom(*args: Any) -> None:  # fails after the review and answers rows were written
            raise _Fail

        svc.state.write_outbox = boom  # type: ignore[method-assign]
        with pytest.raises(_Fail):
            svc.submit("ann", a.item_key, GOOD, None)
        del svc.state.write_outbox
        assert svc.state.review(a.item_key, "ann") is None
        assert svc.state.db.query("SELECT COUNT(*) FROM answers")[0][0] == 0
        assert svc.state.item(a.item_key).done == 0  # type: ignore[union-attr]
        assert svc.state.lease_of(a.item_key, "ann") is not None  # still leased: can retry
        svc.submit("ann", a.item_key, GOOD, None)
        assert len(svc.state.outbox()) == 3


def test_sigkill_between_answer_and_outbox_leaves_nothing_half_written(
    store: LocalSource, home: Path, clock: Clock, tmp_path: Path
) -> None:
    spec = make_spec(size=2)
    with open_service(spec, store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
    # The campaign's state wherever it is (its SQLite file, or its PostgreSQL schema: HITL_STATE_URL).
    script = textwrap.dedent(
        f"""
        import os, json
        from hitl_pipeline.campaign.state import OutboxEntry
        from hitl_pipeline.campaign.state.location import StateLocation
        from datetime import datetime, UTC
        st = StateLocation.of({str(home)!r}, {spec.campaign!r}).open()
        def die(*a):
            os.kill(os.getpid(), 9)  # SIGKILL mid-transaction: answers written, outbox not
        st.write_outbox = die
        st.record_submission(item_key={a.item_key!r}, reviewer="ann", answers={{"helpfulness": 3.0}},
            comment=None, now=datetime.now(UTC), duration_s=1.0,
            entries=[OutboxEntry("x", "helpfulness", {{"id": "x"}})])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    st = StateLocation.of(home, spec.campaign).open()
    try:
        assert st.review(a.item_key, "ann") is None
        assert st.db.query("SELECT COUNT(*) FROM answers")[0][0] == 0
        assert st.outbox() == []
        assert st.item(a.item_key).done == 0  # type: ignore[union-attr]
    finally:
        st.close()


def test_concurrent_reviewers_never_share_a_slot(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=12, n=2)
    errors: list[BaseException] = []
    with open_service(spec, store, home, clock) as svc:

        def work(name: str) -> None:
            try:
                while (a := svc.open_next(name)) is not None:
                    svc.submit(name, a.item_key, GOOD, None)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(f"r{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        per_item: dict[str, list[str]] = {}
        for r in svc.state.reviews():
            per_item.setdefault(r.item_key, []).append(r.reviewer)
        assert len(per_item) == 12
        assert all(len(v) == 2 and len(set(v)) == 2 for v in per_item.values())
        assert len(svc.state.outbox()) == 12 * 2 * 3


class SlowSource:
    """The real local store behind a backend that takes ``delay`` seconds per call."""

    def __init__(self, inner: LocalSource, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.name = "slow"
        self.calls: list[str] = []
        self.fetched: set[str] = set()  # keys of the items whose fetch has returned
        self._fetched_more = threading.Condition()

    def get_item(self, ref: ItemRef, *, score_names: Sequence[str] | None = None) -> Item:
        self.calls.append(threading.current_thread().name)
        time.sleep(self.delay)
        item = self.inner.get_item(ref, score_names=score_names)
        with self._fetched_more:
            self.fetched.add(ref.key)
            self._fetched_more.notify_all()
        return item

    def wait_fetched(self, count: int, timeout: float = 120) -> set[str]:
        """The keys fetched so far, once there are ``count`` of them (fewer if ``timeout`` passes)."""
        with self._fetched_more:
            self._fetched_more.wait_for(lambda: len(self.fetched) >= count, timeout)
            return set(self.fetched)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_items_are_prefetched_off_the_request_path(store: LocalSource, home: Path, clock: Clock) -> None:
    slow = SlowSource(store, 0.3)
    spec = make_spec(size=6)
    with open_service(spec, slow, home, clock) as svc:
        for done in range(5):
            # While the reviewer signs in, then reads each item, the items ahead of them are fetched
            # (waited for by what has been fetched, not by a time a loaded machine can overrun).
            ready = slow.wait_fetched(min(6, done + svc.prefetch_depth))
            assert len(ready) >= min(6, done + svc.prefetch_depth), "the prefetch did not fetch ahead"
            a = svc.open_next("ann")
            assert a is not None
            assert a.item_key in ready  # shown from the prefetch, not fetched on the request
            svc.submit("ann", a.item_key, GOOD, None)
        assert all(name.startswith("hitl-prefetch") for name in slow.calls)
        assert len(slow.calls) == len(slow.fetched) == 6  # each item fetched once


class BatchSource(SlowSource):
    """A backend with a batched ``get_items`` (like the Langfuse source): one call per prefetch batch."""

    def __init__(self, inner: LocalSource) -> None:
        super().__init__(inner, 0.0)
        self.batches: list[int] = []

    def get_items(self, refs: Sequence[ItemRef], *, score_names: Sequence[str] | None = None) -> list[Item]:
        self.batches.append(len(refs))
        return [self.inner.get_item(r, score_names=score_names) for r in refs]


def test_prefetch_uses_a_batched_get_items(store: LocalSource, home: Path, clock: Clock) -> None:
    src = BatchSource(store)
    with open_service(make_spec(size=8), src, home, clock, prefetch_depth=4) as svc:
        seen = []
        while (a := svc.open_next("ann")) is not None:
            assert a.item.trace is not None and a.item.trace.id == a.ref.id
            seen.append(a.item_key)
            svc.submit("ann", a.item_key, GOOD, None)
        assert len(seen) == 8
        assert src.batches and src.batches[0] == 4  # the head of the queue in one call
        assert sum(src.batches) + len(src.calls) >= 8


@pytest.mark.parametrize("seed", range(4))
def test_random_walk_keeps_the_invariants(store: LocalSource, home: Path, clock: Clock, seed: int) -> None:
    """Random open/skip/submit/back/time-jumps by four reviewers; after every step: no reviewer answers
    an item twice, no item has more than N answers, answers + live leases never exceed N."""
    import random

    rng = random.Random(seed)
    n = 2
    spec = make_spec(size=6, n=n, campaign=f"walk-{seed}")
    with open_service(spec, store, home, clock) as svc:
        open_items: dict[str, str | None] = {}
        for _ in range(150):
            who = rng.choice(["ann", "bob", "cy", "dee"])
            action = rng.random()
            try:
                if action < 0.45:
                    a = svc.open_next(who)
                    open_items[who] = a.item_key if a else None
                elif action < 0.75 and open_items.get(who):
                    svc.submit(who, open_items[who], GOOD, None)  # type: ignore[arg-type]
                    open_items[who] = None
                elif action < 0.85 and open_items.get(who):
                    svc.skip(who, open_items[who])  # type: ignore[arg-type]
                    open_items[who] = None
                elif action < 0.92:
                    back = svc.previous(who, None)
                    if back is not None:
                        svc.submit(who, back.item_key, {**GOOD, "helpfulness": rng.randint(1, 5)}, None)
                else:
                    clock.advance(minutes=rng.choice([5, 31]))
            except CampaignError as e:
                assert "expired" in str(e)  # the only refusal a fair walk can meet
                open_items[who] = None
            now = clock()
            per_item: dict[str, list[str]] = {}
            for r in svc.state.reviews():
                per_item.setdefault(r.item_key, []).append(r.reviewer)
            for key, who_answered in per_item.items():
                assert len(who_answered) == len(set(who_answered)) <= n
                assert svc.state.item(key).done == len(who_answered)  # type: ignore[union-attr]
            for row in svc.state.items():
                live = svc.state.active_leases(row.key, now)
                assert row.done + live <= n, (row.key, row.done, live)
        # Finish: everyone works until nothing is left; every item ends with exactly N answers.
        for who in ("ann", "bob", "cy", "dee"):
            while (a := svc.open_next(who)) is not None:
                svc.submit(who, a.item_key, GOOD, None)
        assert all(row.done == n for row in svc.state.items())
        assert len(svc.state.outbox()) == 6 * n * 3


def test_close_fails_items_still_being_fetched(store: LocalSource, home: Path, clock: Clock) -> None:
    from hitl_pipeline.errors import SourceError

    # 4 threads fetch 8 items, 2 s each: the last one is still queued when the pool is shut down.
    slow = SlowSource(store, 2.0)
    svc = open_service(make_spec(size=8), slow, home, clock, prefetch_depth=8)
    keys = [r.key for r in svc.state.items()]
    svc.close()
    fetched_by_close = len(slow.calls)
    outcome: list[object] = []

    def ask() -> None:
        try:
            outcome.append(svc.item(keys[-1]))
        except SourceError as exc:
            outcome.append(exc)

    asking = threading.Thread(target=ask)
    asking.start()
    asking.join(60)  # a hang guard, not a timing: a request must not wait on a fetch that never runs
    assert not asking.is_alive(), "svc.item waits on a fetch the closed pool will never run"
    assert len(outcome) == 1 and isinstance(outcome[0], SourceError), outcome
    assert len(slow.calls) == fetched_by_close  # nothing fetched after close, on the request or the pool


class FlakySource(SlowSource):
    """get_item fails once with an error that is not the project's own (a bug or a raw client error)."""

    def __init__(self, inner: LocalSource) -> None:
        super().__init__(inner, 0.0)
        self.failed = False

    def get_item(self, ref: ItemRef, *, score_names: Sequence[str] | None = None) -> Item:
        if not self.failed:
            self.failed = True
            raise RuntimeError("connection reset")
        return self.inner.get_item(ref, score_names=score_names)


def test_an_item_fetched_on_the_request_path_fails_with_where_and_is_retried(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    from hitl_pipeline.errors import SourceError

    with open_service(make_spec(size=2), FlakySource(store), home, clock, start=False) as svc:
        key = svc.state.items()[0].key
        with pytest.raises(SourceError, match=f"could not load {key} from the slow source: connection reset"):
            svc.item(key)
        assert svc.item(key).trace is not None  # the failure was not cached


def test_scores_carry_the_items_environment(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=6)
    with open_service(spec, store, home, clock) as svc:
        seen = set()
        while (a := svc.open_next("ann")) is not None:
            assert a.item.trace is not None
            svc.submit("ann", a.item_key, GOOD, None)
            rows = [r for r in svc.state.outbox() if r.item_key == a.item_key]
            assert {r.payload["environment"] for r in rows} == {a.item.trace.environment}
            seen.add(a.item.trace.environment)
    assert "production" in seen


class OutageSource(BatchSource):
    """Fails every fetch while ``down`` (the server is out), like a prefetch made during an outage."""

    def __init__(self, inner: LocalSource) -> None:
        super().__init__(inner)
        self.down = False
        self.failed = threading.Event()

    def _check(self) -> None:
        if self.down:
            self.failed.set()
            raise SourceError("cannot reach the server")

    def get_item(self, ref: ItemRef, *, score_names: Sequence[str] | None = None) -> Item:
        self._check()
        return self.inner.get_item(ref, score_names=score_names)

    def get_items(self, refs: Sequence[ItemRef], *, score_names: Sequence[str] | None = None) -> list[Item]:
        self._check()
        return super().get_items(refs, score_names=score_names)


def test_items_prefetched_during_an_outage_are_fetched_again_once_it_is_over(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    src = OutageSource(store)
    src.down = True
    with open_service(make_spec(size=6), src, home, clock, prefetch_depth=4) as svc:
        assert src.failed.wait(10)  # the start-up prefetch ran during the outage
        src.down = False  # the server is back: the reviewer never sees the old error
        for _ in range(6):
            a = svc.open_next("ann")
            assert a is not None and a.item.trace is not None
            svc.submit("ann", a.item_key, GOOD, None)


def test_batched_prefetch_reads_a_few_calls_per_batch_not_one_per_item(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    # Three reviewers walk 60 items: the items come in a handful of batched calls, never one call
    # per reviewed item, and no reviewer's request fetches an item itself.
    src = BatchSource(store)
    with open_service(make_spec(size=60), src, home, clock, prefetch_depth=4) as svc:
        done = 0
        active = ["ann", "bob", "cy"]
        while active:
            for who in list(active):
                a = svc.open_next(who)
                if a is None:
                    active.remove(who)
                    continue
                assert a.item.trace is not None and a.item.trace.id == a.ref.id
                svc.submit(who, a.item_key, GOOD, None)
                done += 1
        assert done == 60
        assert len(src.batches) <= 5, src.batches
        assert sum(src.batches) <= 70  # nothing fetched twice (bar a few at batch edges)
        assert src.calls == []  # get_item (one item, on the request path) never needed
