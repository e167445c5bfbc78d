"""Several processes on one campaign, on both state engines (SQLite files, a real PostgreSQL): the
service and lifecycle rules that make it safe. Separate service objects stand for separate servers:
each has its own connections; only the database is shared."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.campaign.lifecycle import open_campaign, open_state, sync
from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.db import locks
from hitl_pipeline.errors import CampaignError
from hitl_pipeline.scoring.outbox import DRAIN_LOCK
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec.model import ReviewSpec
from tests.campaign.campaign_support import DEMO_NOW, Clock, demo_configs, make_spec

GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}


def _open(spec: ReviewSpec, store: LocalSource, home: Path, clock: Clock, **kw: Any) -> CampaignService:
    kw.setdefault("worker", False)
    return open_campaign(
        spec, store, home=home, now=DEMO_NOW, configs=demo_configs(store, spec), clock=clock, **kw
    )


def test_two_tabs_of_one_reviewer_never_overwrite_each_other(
    state_url: str | None, store: LocalSource, home: Path, clock: Clock
) -> None:
    # Issue 11: 60 submits from two tabs (here: two servers) of the same reviewer either cover 60
    # items or are refused with a clear message; an answer shown as saved is never replaced.
    spec = make_spec(size=80)
    one = _open(spec, store, home, clock)
    two = _open(spec, store, home, clock)
    saved: dict[str, int] = {}
    refused: list[str] = []
    lock = threading.Lock()

    def tab(svc: CampaignService, value: int) -> None:
        for _ in range(30):
            a = svc.open_next("ann")
            if a is None:
                return
            try:
                svc.submit("ann", a.item_key, {**GOOD, "helpfulness": value}, None, edit=False)
            except CampaignError as e:
                with lock:
                    refused.append(str(e))
                continue
            with lock:
                assert a.item_key not in saved, "the same item was saved twice as a first answer"
                saved[a.item_key] = value

    threads = [threading.Thread(target=tab, args=(svc, v)) for svc, v in ((one, 2), (two, 5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    reviews = {r.item_key: r.answers["helpfulness"] for r in one.state.reviews(reviewer="ann")}
    assert reviews == saved  # every "✔ Saved" is what is stored; none was replaced
    assert len(saved) + len(refused) == 60
    assert all("already answered" in m and "was not saved" in m for m in refused), [
        m for m in refused if "already answered" not in m
    ]
    one.close()
    two.close()
    one.state.close()
    two.state.close()


def test_an_edit_from_back_still_replaces_the_answer(
    state_url: str | None, store: LocalSource, home: Path, clock: Clock
) -> None:
    with _open(make_spec(size=3), store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
        svc.submit("ann", a.item_key, GOOD, None, edit=False)
        svc.submit("ann", a.item_key, {**GOOD, "helpfulness": 1}, None, edit=True)
        review = svc.state.review(a.item_key, "ann")
        assert review is not None and review.answers["helpfulness"] == 1
    svc.state.close()


def test_no_new_version_while_a_server_runs(
    state_url: str | None, store: LocalSource, home: Path, clock: Clock
) -> None:
    spec = make_spec(size=3)
    server = _open(spec, store, home, clock)  # started: live on the campaign
    a = server.open_next("ann")
    assert a is not None
    changed = make_spec(size=3, n=2)  # reviewers_per_item changes the meaning: needs a new version
    with pytest.raises(CampaignError, match="being served right now") as err:
        _open(changed, store, home, clock, new_version=True)
    assert "hitl run" in str(err.value)
    # Nothing was archived: the running server's answers land in the live state.
    server.submit("ann", a.item_key, GOOD, None)
    server.close()
    server.state.close()
    assert sync(spec, store, home=home, deadline=30.0, poll_interval=0.05).done
    new = _open(changed, store, home, clock, new_version=True)  # once it stopped, the new version starts
    assert new.state.meta().spec_version == 2
    new.close()
    new.state.close()
    archived = open_state(spec, home)  # the live state is version 2 now
    assert archived.meta().spec_version == 2
    archived.close()


def test_sync_next_to_a_running_server_does_not_send_twice(
    state_url: str | None, store: LocalSource, home: Path, clock: Clock
) -> None:
    spec = make_spec(size=3)
    svc = _open(spec, store, home, clock)
    a = svc.open_next("ann")
    assert a is not None
    svc.submit("ann", a.item_key, GOOD, None)
    # A running server holds the outbox claim (its worker); `hitl sync` waits for it, sends nothing.
    assert locks.acquire(svc.state.db, DRAIN_LOCK, "server-elsewhere", 60, "hitl run on host b") is None
    report = sync(spec, store, home=home, deadline=1.0, poll_interval=0.05)
    assert report.sent == 0 and report.waited_for is not None and "hitl run on host b" in report.waited_for
    assert report.pending == len(GOOD)
    assert store.read_scores([r.score_id for r in svc.state.outbox()]) == {}
    # Once the claim is given back, sync drains.
    locks.release(svc.state.db, DRAIN_LOCK, "server-elsewhere")
    report = sync(spec, store, home=home, deadline=30.0, poll_interval=0.05)
    assert report.sent == len(GOOD) and report.done
    svc.close()
    svc.state.close()
