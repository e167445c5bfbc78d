"""Adjudication through the real review form (HTTP API): three reviewers disagree, the adjudicator
is shown their answers and decides; the decision becomes the consensus score."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hitl_pipeline.campaign.consensus import CONSENSUS_REVIEWER
from hitl_pipeline.spec.model import Consensus
from hitl_pipeline.ui.auth import ReviewerAccounts
from hitl_pipeline.ui.client import FormClient
from tests.ui.ui_support import Clock, demo_store, password, running, trace_spec

REVIEWERS = ["alice", "bob", "carol"]
ANSWERS = {
    "alice": {"support_quality": "poor", "helpfulness": 2, "factually_correct": "no"},
    "bob": {"support_quality": "acceptable", "helpfulness": 2, "factually_correct": "no"},
    "carol": {"support_quality": "excellent", "helpfulness": 2, "factually_correct": "no"},
}


@pytest.mark.slow
def test_adjudicator_decides_a_tie_in_the_form(tmp_path: Path) -> None:
    db = demo_store(tmp_path / "local.db")
    accounts = ReviewerAccounts(tmp_path / "reviewers.json")
    for name in (*REVIEWERS, "erin"):
        accounts.add(name, password(name))
    spec = trace_spec("form-adjudication", size=1, n=3, reviewers=REVIEWERS)
    spec = replace(
        spec,
        consensus=Consensus(enabled=True),
        review=replace(spec.review, adjudicators=("erin",)),
    )
    with running(spec, db, tmp_path / "hitl", clock=Clock(), auth=accounts) as (handle, service):
        for name in REVIEWERS:
            with FormClient(handle.url, spec, username=name, password=password(name)) as c:
                screen = c.load()
                assert screen.item_key and "Adjudication" not in screen.notice
                assert c.submit(ANSWERS[name]).item_key is None
        key = screen.item_key
        assert service.consensus is not None and service.consensus.open_adjudications() == [key]

        with FormClient(handle.url, spec, username="erin", password=password("erin")) as judge:
            screen = judge.load()
            assert screen.item_key == key and "Adjudication" in screen.notice
            assert "1** item waiting for adjudication" in screen.progress  # the adjudicator sees the count
            others = str(screen.values.get("others"))
            # The answers as the form words them (category text: "excellent" shows as "Excellent").
            assert all(name in others for name in REVIEWERS) and "Excellent" in others
            after = judge.submit(
                {"support_quality": "acceptable", "helpfulness": 3, "factually_correct": "yes"}
            )
            assert after.item_key is None  # nothing else to adjudicate

        rows = {
            r.question: r.payload
            for r in service.state.outbox(item_key=key)
            if r.reviewer == CONSENSUS_REVIEWER
        }
        assert rows["support_quality"]["value"] == "acceptable"
        assert rows["support_quality"]["metadata"]["hitl_reviewer"] == "erin"
        assert rows["support_quality"]["metadata"]["hitl_votes"] == {
            "acceptable": 1,
            "excellent": 1,
            "poor": 1,
        }
        assert rows["helpfulness"]["value"] == 3.0 and rows["factually_correct"]["value"] == 1.0
        assert service.consensus.open_adjudications() == []
