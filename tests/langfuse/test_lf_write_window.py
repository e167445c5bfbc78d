"""The review server's adaptive write window, counted on the HTTP Langfuse fake: a steady stream of
answers goes out in fewer requests than answers, and a finished queue is flushed at once."""

from __future__ import annotations

import time
from pathlib import Path

from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.scoring.outbox import OutboxWorker
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.sources.langfuse import LangfuseSource
from tests.campaign.campaign_support import DEMO_NOW, make_spec
from tests.support.langfuse_fake import LangfuseFake

GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}


def _score_requests(fake: LangfuseFake) -> tuple[int, int]:
    """(write requests, read-back requests) the fake has answered."""
    writes = confirms = 0
    for method, path, query in list(fake.requests):
        if method == "POST" and path.rstrip("/") == "/api/public/scores":
            writes += 1
        elif method == "GET" and path.startswith(("/api/public/v3/scores", "/api/public/v2/scores")):
            confirms += "id" in query or "scoreIds" in query
    return writes, confirms


def _wait_confirmed(svc: CampaignService, want: int, seconds: float = 60.0) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and svc.state.outbox_counts()["confirmed"] < want:
        time.sleep(0.05)
    return svc.state.outbox_counts()["confirmed"]


def _campaign(fake: LangfuseFake, src: LangfuseSource, home: Path, size: int, n: int) -> CampaignService:
    fake.load_demo(generate_demo(seed=0, traces=60))
    spec = make_spec(size=size, n=n, campaign="window")
    return open_campaign(spec, src, home=home, now=DEMO_NOW, worker=False)


def test_a_steady_stream_of_answers_costs_fewer_requests_than_answers(tmp_path: Path) -> None:
    # 2 reviewers answer 12 of 20 items one after another (the queue is not finished): the worker
    # holds their 36 scores while answers keep coming and sends them when the stream stops.
    with LangfuseFake(mode="v4") as fake:
        src = LangfuseSource(base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key)
        try:
            with _campaign(fake, src, tmp_path / "home", size=20, n=1) as svc:
                worker = OutboxWorker(svc.state, src, write_window=5.0, poll_interval=0.05)
                svc.worker = worker
                worker.start()
                for _ in range(6):
                    for who in ("ann", "bob"):
                        a = svc.open_next(who)
                        assert a is not None
                        svc.submit(who, a.item_key, GOOD, None)
                assert _wait_confirmed(svc, 36) == 36
                writes, confirms = _score_requests(fake)
                assert writes >= 1 and writes + confirms < 12, (writes, confirms)  # 12 answers
        finally:
            src.close()


def test_a_finished_queue_is_flushed_and_confirmed_at_once(tmp_path: Path) -> None:
    # Hold and quiet period of 10 minutes: only the queue-finished signal sends these scores.
    with LangfuseFake(mode="v4") as fake:
        src = LangfuseSource(base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key)
        try:
            with _campaign(fake, src, tmp_path / "home", size=4, n=1) as svc:
                worker = OutboxWorker(svc.state, src, write_window=600.0, max_hold=600.0, poll_interval=0.05)
                svc.worker = worker
                worker.start()
                for i in range(4):
                    a = svc.open_next("ann")
                    assert a is not None
                    if i == 3:  # the worker has sent nothing while items were left to hand out
                        assert _score_requests(fake)[0] == 0
                    svc.submit("ann", a.item_key, GOOD, None)
                assert svc.open_next("ann") is None
                assert _wait_confirmed(svc, 12) == 12
                assert _score_requests(fake)[0] == 1  # all four answers in one request
        finally:
            src.close()
