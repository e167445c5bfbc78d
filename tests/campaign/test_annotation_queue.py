"""Langfuse annotation-queue interop against the fake: queue created once, items added once
(the API does not deduplicate), completed only after confirmation, scores carry queueId."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.campaign.annotation_queue import QueueMirror
from hitl_pipeline.campaign.lifecycle import open_campaign, sync
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.sources.langfuse import LangfuseSource
from hitl_pipeline.spec import load_spec_text
from tests.campaign.campaign_support import lose_state
from tests.report.langfuse_extras import InteropFake

# Every test here runs on both state engines (SQLite files; a real PostgreSQL through HITL_STATE_URL).
pytestmark = pytest.mark.usefixtures("state_url")

SPEC = load_spec_text(
    """
version: 1
campaign: queue-mirror
title: Queue mirror
target: trace
source:
  filters: {trace_name: support-chat, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 4, seed: 3}
questions:
  - score: support_quality
    type: categorical
    categories:
      - {label: excellent, value: 2}
      - {label: acceptable, value: 1}
      - {label: poor, value: 0}
  - score: factually_correct
    type: boolean
review: {reviewers_per_item: 2}
langfuse: {annotation_queue: true}
""",
    "specs/queue.yaml",
)


@pytest.fixture
def lf() -> Iterator[tuple[InteropFake, LangfuseSource]]:
    with InteropFake() as fake:
        fake.load_demo(generate_demo(seed=0, traces=80))
        source = LangfuseSource(base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key)
        try:
            yield fake, source
        finally:
            source.close()


def _open(source: LangfuseSource, home: Path) -> Any:
    configs = {c.name: c for c in source.list_score_configs()}
    return open_campaign(
        SPEC,
        source,
        home=home,
        configs={q.score: configs[q.score] for q in SPEC.questions},
        start=False,
        worker=False,
    )


def test_queue_items_added_once_and_completed_after_confirmation(
    lf: tuple[InteropFake, LangfuseSource], tmp_path: Path
) -> None:
    fake, source = lf
    home = tmp_path / "home"
    svc = _open(source, home)
    keys = [row.key for row in svc.state.items()]
    try:
        assert len(fake.queues) == 1
        queue = next(iter(fake.queues.values()))
        assert queue["name"] == "queue-mirror" and svc.queue_id == queue["id"]
        configs = {c.name: c.id for c in source.list_score_configs()}
        assert queue["scoreConfigIds"] == [configs["support_quality"], configs["factually_correct"]]
        items = sorted((i["objectType"], f"trace:{i['objectId']}") for i in fake.queue_items.values())
        assert items == sorted(("TRACE", k) for k in keys)

        # Item 0 gets both reviews, item 1 only one.
        for reviewer in ("ann", "bob"):
            a = svc.open_next(reviewer)
            assert a is not None and a.item_key == keys[0]
            svc.submit(
                reviewer, a.item_key, {"support_quality": "excellent", "factually_correct": True}, None
            )
        a = svc.open_next("ann")
        assert a is not None and a.item_key == keys[1]
        svc.submit("ann", a.item_key, {"support_quality": "poor", "factually_correct": False}, None)
        assert all(r.payload["queue_id"] == queue["id"] for r in svc.state.outbox())

        # Nothing is confirmed yet: nothing is completed.
        assert svc.queue_mirror.complete_confirmed() == 0
    finally:
        svc.close()
    assert all(i["status"] == "PENDING" for i in fake.queue_items.values())

    # hitl sync sends, confirms by reading back, then completes the items that are done.
    report = sync(SPEC, source, home=home, deadline=20, confirm_timeout=10, poll_interval=0.05)
    assert report.pending == 0 and report.unconfirmed == 0
    status = {f"trace:{i['objectId']}": i["status"] for i in fake.queue_items.values()}
    assert status[keys[0]] == "COMPLETED"
    assert status[keys[1]] == "PENDING"  # one review of two: not complete
    assert all(b.get("queueId") == queue["id"] for b in fake.received)

    # Re-opening the campaign and re-syncing add nothing and complete nothing twice.
    posts = fake.counters["POST /api/public/annotation-queues/{}/items".format(queue["id"])]
    svc = _open(source, home)
    svc.close()
    sync(SPEC, source, home=home, deadline=5, confirm_timeout=5, poll_interval=0.05)
    assert len(fake.queues) == 1 and len(fake.queue_items) == len(keys)
    assert fake.counters["POST /api/public/annotation-queues/{}/items".format(queue["id"])] == posts
    patches = sum(n for k, n in fake.counters.items() if k.startswith("PATCH /api/public/annotation-queues"))
    assert patches == 1

    # A lost campaign state (another machine): the queue and its items are adopted, not duplicated.
    lose_state(home, SPEC.campaign)
    svc = _open(source, home)
    try:
        assert len(fake.queue_items) == len(keys) and len(fake.queues) == 1
        assert QueueMirror(SPEC, svc.state, source, ["x"], n=2).ready_to_complete() == []
    finally:
        svc.close()


def test_local_source_is_not_mirrored(tmp_path: Path) -> None:
    from hitl_pipeline.sources.demo import load_demo
    from hitl_pipeline.sources.local import LocalSource

    store = LocalSource(tmp_path / "local.db")
    load_demo(store, generate_demo(seed=0, traces=40))
    configs = {c.name: c for c in store.list_score_configs()}
    svc = open_campaign(
        SPEC,
        store,
        home=tmp_path / "home",
        configs={q.score: configs[q.score] for q in SPEC.questions},
        start=False,
        worker=False,
    )
    try:
        assert svc.queue_id is None and svc.queue_mirror is None
    finally:
        svc.close()
        store.close()


def test_items_are_added_in_the_background_not_on_the_start_up_path(
    lf: tuple[InteropFake, LangfuseSource], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, source = lf
    configs = {c.name: c for c in source.list_score_configs()}
    release = threading.Event()
    real_add = QueueMirror.add_items

    def slow_add(self: QueueMirror) -> tuple[int, int]:  # one request per item: a slow start-up
        release.wait(10)
        return real_add(self)

    monkeypatch.setattr(QueueMirror, "add_items", slow_add)
    opened: list[Any] = []
    opener = threading.Thread(
        target=lambda: opened.append(
            open_campaign(
                SPEC,
                source,
                home=tmp_path / "home",
                configs={q.score: configs[q.score] for q in SPEC.questions},
                worker=False,
            )
        )
    )
    opener.start()
    opener.join(5)
    returned_while_adding = bool(opened)
    release.set()
    opener.join()
    svc = opened[0]
    try:
        assert returned_while_adding
        assert svc.queue_id == next(iter(fake.queues.values()))["id"]  # known before any item is added
        deadline = time.monotonic() + 10
        while len(fake.queue_items) < len(svc.state.items()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(fake.queue_items) == len(svc.state.items())
    finally:
        svc.close()
