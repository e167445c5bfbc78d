"""The request budget: its syntax, the sliding window, reviewers first, learnt from 429s, and a
Langfuse source on a rate-limited fake staying within the limit while every reviewer gets items."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.errors import ConfigError
from hitl_pipeline.sources.budget import RequestBudget, background, parse_budget
from hitl_pipeline.sources.demo import generate_demo
from hitl_pipeline.sources.langfuse import LangfuseSource
from tests.campaign.campaign_support import DEMO_NOW, make_spec
from tests.support.langfuse_fake import LangfuseFake

GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}


def test_budget_syntax() -> None:
    assert parse_budget("30/min") == (30, 60.0)
    assert parse_budget("100 / minute") == (100, 60.0)
    assert parse_budget("2/s") == (2, 1.0)
    assert parse_budget("1000/h") == (1000, 3600.0)
    assert parse_budget("none") is None and parse_budget("") is None
    for bad in ("30", "x/min", "0/min", "30/fortnight"):
        with pytest.raises(ConfigError, match="not understood"):
            parse_budget(bad)


def _windows_ok(starts: list[float], limit: int, period: float) -> bool:
    """No ``period``-long window holds more than ``limit`` starts."""
    starts = sorted(starts)
    return all(starts[i + limit] - starts[i] >= period - 1e-6 for i in range(len(starts) - limit))


def test_the_window_is_never_exceeded_under_concurrency() -> None:
    budget = RequestBudget(4, period=0.3)
    starts: list[float] = []
    lock = threading.Lock()

    def worker(bg: bool) -> None:
        for _ in range(3):
            if bg:
                with background():
                    budget.acquire()
            else:
                budget.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(starts) == 12 and budget.started == 12
    assert _windows_ok(starts, 4, 0.3)


def test_background_leaves_reviewers_a_slot_and_yields_to_them() -> None:
    budget = RequestBudget(5, period=60.0, reserve=1)
    with background():
        for _ in range(4):  # background may take 4 of the 5 slots of the minute
            budget.acquire()
    got = threading.Event()

    def background_request() -> None:
        with background():
            budget.acquire()
        got.set()

    blocked = threading.Thread(target=background_request, daemon=True)
    blocked.start()
    assert not got.wait(0.2)  # the 5th slot is the reviewers'
    budget.acquire()  # a reviewer's request goes at once
    assert budget.started == 5 and not got.is_set()


def test_a_429_pauses_and_teaches_the_limit() -> None:
    budget = RequestBudget()
    for _ in range(10):
        budget.acquire()
    budget.throttled_by_server(0.05, "8")
    assert budget.limit == 8 and budget.learnt and budget.throttled == 1
    plain = RequestBudget()
    for _ in range(10):
        plain.acquire()
    plain.throttled_by_server(0.01, None)
    assert plain.limit == 9  # 90 % of what went out in the window
    fixed = RequestBudget(30)
    fixed.throttled_by_server(0.01, "100")
    assert fixed.limit == 30 and not fixed.learnt  # a configured budget is kept


Source = Callable[..., LangfuseSource]


def test_reads_and_writes_stay_within_a_rate_limited_server(tmp_path: Path) -> None:
    # A fake limited to 12 requests per 2 s; the source's budget says the same. A campaign starts,
    # two reviewers answer 10 items, everything is confirmed — and the server never said 429.
    with LangfuseFake(mode="v4") as fake:
        fake.load_demo(generate_demo(seed=0, traces=80))
        fake.set_rate_limit(12, period=2.0)
        src = LangfuseSource(
            base_url=fake.url,
            public_key=fake.public_key,
            secret_key=fake.secret_key,
            budget=RequestBudget(12, period=2.0),
        )
        try:
            spec = make_spec(size=10, campaign="budget")
            with open_campaign(spec, src, home=tmp_path / "home", now=DEMO_NOW, worker=True) as svc:
                for who in ("ann", "bob"):
                    for _ in range(5):
                        a = svc.open_next(who)
                        assert a is not None and a.item.trace is not None
                        svc.submit(who, a.item_key, GOOD, None)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and svc.state.outbox_counts()["confirmed"] < 30:
                    time.sleep(0.05)
                assert svc.state.outbox_counts()["confirmed"] == 30
            assert fake.rate_limited == 0
            assert src.budget.started == src.requests_sent()
        finally:
            src.close()


def test_without_a_budget_the_source_learns_it_from_429s(tmp_path: Path) -> None:
    with LangfuseFake(mode="v4") as fake:
        fake.load_demo(generate_demo(seed=0, traces=40))
        # No limit configured (a window of 0.5 s to learn in, for the test's sake).
        src = LangfuseSource(
            base_url=fake.url,
            public_key=fake.public_key,
            secret_key=fake.secret_key,
            budget=RequestBudget(None, period=0.5),
        )
        try:
            src.probe()
            fake.set_rate_limit(3, period=0.5, limit_header=False)
            for _ in range(8):  # reads: each 429 is waited out and retried
                assert src.read_scores(["x"]) == {}
            assert fake.rate_limited >= 1 and src.budget.learnt and src.budget.limit is not None
            assert src.budget.limit <= 3
        finally:
            src.close()
