"""Several reviewers through the form's API: 10 reviewers, 30 items, 2 reviews per item, leases."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ui_support import GOOD, Clock, running, trace_spec

from hitl_pipeline.ui.auth import ReviewerAccounts
from hitl_pipeline.ui.client import FormClient, FormError

REVIEWERS = [f"rev{i:02d}" for i in range(10)]


@pytest.mark.slow
def test_ten_reviewers_thirty_items_two_each(demo_db: Path, tmp_path: Path) -> None:
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    for name in REVIEWERS:
        accounts.add(name, f"secret-{name}")
    spec = trace_spec("ui-multi", size=30, n=2, reviewers=REVIEWERS, lease_minutes=10, strategy="random")
    clock = Clock()
    with running(spec, demo_db, tmp_path / "hitl", clock=clock, auth=accounts) as (handle, service):
        # rev00 opens an item, then walks away: its lease expires and the slot goes to someone else.
        stale = FormClient(handle.url, spec, username="rev00", password="secret-rev00")
        abandoned = stale.load().item_key
        assert abandoned
        clock.advance(minutes=11)

        def review_all(name: str) -> list[str]:
            seen: list[str] = []
            with FormClient(handle.url, spec, username=name, password=f"secret-{name}") as c:
                screen = c.load()
                while screen.item_key:
                    seen.append(screen.item_key)
                    screen = c.submit(GOOD, comment=f"by {name}")
            return seen

        with ThreadPoolExecutor(max_workers=9) as pool:
            seen_by = dict(zip(REVIEWERS[1:], pool.map(review_all, REVIEWERS[1:]), strict=True))

        # Nobody was shown an item twice.
        for name, seen in seen_by.items():
            assert len(seen) == len(set(seen)), name
        # Every item got exactly 2 answers, from 2 distinct reviewers.
        reviews = service.state.reviews()
        per_item = Counter(r.item_key for r in reviews)
        assert len(per_item) == 30 and set(per_item.values()) == {2}
        pairs = {(r.item_key, r.reviewer) for r in reviews}
        assert len(pairs) == 60
        # The abandoned item was reassigned to two others; the stale reviewer can no longer answer it.
        assert abandoned in per_item and "rev00" not in {
            r.reviewer for r in reviews if r.item_key == abandoned
        }
        with pytest.raises(FormError, match="expired"):
            stale.submit(GOOD)
        assert stale.load().item_key is None  # nothing left: every slot is taken
        stale.close()
