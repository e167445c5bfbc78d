"""Consensus rules: majority, mean/median, ties and disagreement going to adjudication."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitl_pipeline.campaign.consensus import consensus_score_id, decide, decide_item, disagreement
from hitl_pipeline.spec.model import Category, Question

QUALITY = Question(
    score="support_quality",
    type="categorical",
    label="Quality",
    categories=(Category("excellent", 2), Category("acceptable", 1), Category("poor", 0)),
)
CORRECT = Question(score="factually_correct", type="boolean", label="Correct?")
HELPFUL = Question(score="helpfulness", type="numeric", label="Helpful", min=1, max=5)
NOTES = Question(score="reviewer_notes", type="text", label="Notes", required=False)


def test_majority_categorical() -> None:
    d = decide(QUALITY, ["excellent", "excellent", "acceptable"], max_disagreement=0.34)
    assert d.value == "excellent" and not d.needs_adjudication and not d.tie
    assert d.votes == {"acceptable": 1, "excellent": 2} and d.answers == 3
    assert d.disagreement == pytest.approx(1 / 3)


def test_unanimous_boolean_keeps_the_bool() -> None:
    d = decide(CORRECT, [True, True, True])
    assert d.value is True and d.votes == {"true": 3} and d.disagreement == 0


def test_tie_goes_to_adjudication_whatever_the_threshold() -> None:
    d = decide(CORRECT, [True, False], max_disagreement=1.0)
    assert d.tie and d.needs_adjudication and d.value is None and d.votes == {"false": 1, "true": 1}
    d3 = decide(QUALITY, ["poor", "acceptable", "excellent"], max_disagreement=1.0)
    assert d3.tie and d3.needs_adjudication


def test_disagreement_above_threshold_goes_to_adjudication() -> None:
    values = ["poor", "poor", "poor", "acceptable", "excellent"]  # 2 of 5 disagree = 0.4
    assert decide(QUALITY, values, max_disagreement=0.5).value == "poor"
    d = decide(QUALITY, values, max_disagreement=0.34)
    assert d.needs_adjudication and not d.tie and d.value is None


def test_numeric_mean_and_median() -> None:
    assert decide(HELPFUL, [4, 5, 5], numeric="median").value == 5
    assert decide(HELPFUL, [4, 5, 5], numeric="mean").value == pytest.approx(14 / 3)
    # Spread 1 on a 1–5 range = 0.25: below the default 0.34.
    assert not decide(HELPFUL, [4, 5, 5]).needs_adjudication
    d = decide(HELPFUL, [1, 5, 3])  # spread 4 / range 4 = 1.0
    assert d.needs_adjudication and d.value is None and d.disagreement == 1.0


def test_numeric_without_range_uses_largest_answer() -> None:
    q = Question(score="latency_ok", type="numeric", label="x")
    assert disagreement(q, [8, 10]) == pytest.approx(0.2)
    assert disagreement(q, [3]) == 0


def test_text_has_no_consensus() -> None:
    with pytest.raises(ValueError):
        decide(NOTES, ["a", "b"])


def test_decide_item_skips_text_and_unasked_questions() -> None:
    answers = {
        "ann": {"support_quality": "poor", "helpfulness": 2.0, "reviewer_notes": "meh"},
        "bob": {"support_quality": "poor", "helpfulness": 1.0},
    }
    out = decide_item((QUALITY, CORRECT, HELPFUL, NOTES), answers, numeric="mean")
    assert [(d.question, d.value) for d in out] == [("support_quality", "poor"), ("helpfulness", 1.5)]


def test_consensus_ids_are_deterministic_and_versioned() -> None:
    a = consensus_score_id("c", 1, "trace:t1", "q")
    assert a == consensus_score_id("c", 1, "trace:t1", "q")
    assert (
        len({a, consensus_score_id("c", 2, "trace:t1", "q"), consensus_score_id("c", 1, "trace:t2", "q")})
        == 3
    )


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from(["excellent", "acceptable", "poor"]), min_size=1, max_size=7),
    st.floats(min_value=0, max_value=1),
)
def test_majority_properties(values: list[str], threshold: float) -> None:
    d = decide(QUALITY, values, max_disagreement=threshold)
    counts = {v: values.count(v) for v in set(values)}
    top = max(counts.values())
    assert d.tie == (sum(1 for c in counts.values() if c == top) > 1)
    assert d.disagreement == pytest.approx(1 - top / len(values))
    assert d.needs_adjudication == (d.tie or d.disagreement > threshold)
    if not d.needs_adjudication:
        assert counts[d.value] == top


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=7),
    st.sampled_from(["mean", "median"]),
)
def test_numeric_consensus_lies_within_the_answers(values: list[int], rule: str) -> None:
    d = decide(HELPFUL, values, numeric=rule, max_disagreement=1.0)  # type: ignore[arg-type]
    assert not d.needs_adjudication and min(values) <= d.value <= max(values)
    assert d.disagreement == pytest.approx((max(values) - min(values)) / 4)


# -- with the real campaign service on the demo store ---------------------------------------------

from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from hitl_pipeline.campaign.consensus import CONSENSUS_REVIEWER, ConsensusManager  # noqa: E402
from hitl_pipeline.campaign.lifecycle import open_campaign  # noqa: E402
from hitl_pipeline.campaign.service import CampaignService  # noqa: E402
from hitl_pipeline.errors import CampaignError  # noqa: E402
from hitl_pipeline.scoring.outbox import drain  # noqa: E402
from hitl_pipeline.sources.local import LocalSource  # noqa: E402
from hitl_pipeline.spec.model import Consensus  # noqa: E402
from tests.campaign.campaign_support import Clock, demo_configs, make_spec  # noqa: E402

# Every test here runs on both state engines (SQLite files; a real PostgreSQL through HITL_STATE_URL).
pytestmark = pytest.mark.usefixtures("state_url")

REVIEWERS = ("ann", "bob", "cy")
# Per item position: each reviewer's (quality, helpfulness, correct).
PLAN: list[dict[str, tuple[str, float, bool]]] = [
    # unanimous → consensus by rule
    {"ann": ("excellent", 5, True), "bob": ("excellent", 5, True), "cy": ("excellent", 4, True)},
    # 2 of 3 agree on quality (disagreement 0.33 ≤ 0.34), helpfulness spread 1/4 → consensus
    {"ann": ("poor", 2, False), "bob": ("poor", 1, False), "cy": ("acceptable", 2, True)},
    # three different labels: a tie → adjudication
    {"ann": ("poor", 3, True), "bob": ("acceptable", 3, True), "cy": ("excellent", 3, True)},
    # quality agrees, helpfulness 1 vs 5 (spread 1.0) → adjudication
    {"ann": ("acceptable", 1, True), "bob": ("acceptable", 5, True), "cy": ("acceptable", 3, True)},
]


def _answers(quality: str, helpful: float, correct: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "support_quality": quality,
        "helpfulness": float(helpful),
        "factually_correct": correct,
    }
    if quality == "poor":
        out["reviewer_notes"] = "needs work"
    return out


def _service(store: LocalSource, home: Path, clock: Clock, numeric: str = "mean") -> CampaignService:
    spec = make_spec(n=3, size=len(PLAN), reviewers=REVIEWERS)
    spec = replace(
        spec,
        consensus=Consensus(enabled=True, numeric=numeric, max_disagreement=0.34),  # type: ignore[arg-type]
        review=replace(spec.review, adjudicators=("judge",)),
    )
    return open_campaign(
        spec, store, home=home, configs=demo_configs(store, spec), clock=clock, start=False, worker=False
    )


def _review_all(service: CampaignService) -> list[str]:
    """Each reviewer answers every item; returns the item keys in queue order."""
    keys = [row.key for row in service.state.items()]
    for reviewer in REVIEWERS:
        for _ in keys:
            a = service.open_next(reviewer)
            assert a is not None and not a.adjudication
            service.submit(reviewer, a.item_key, _answers(*PLAN[keys.index(a.item_key)][reviewer]), None)
        assert service.open_next(reviewer) is None
    return keys


def _consensus_rows(service: CampaignService, key: str) -> dict[str, dict[str, Any]]:
    return {
        r.question: r.payload for r in service.state.outbox(item_key=key) if r.reviewer == CONSENSUS_REVIEWER
    }


def test_consensus_scores_and_adjudication_queue(store: LocalSource, home: Path, clock: Clock) -> None:
    service = _service(store, home, clock)
    try:
        assert isinstance(service.consensus, ConsensusManager)
        keys = _review_all(service)

        first = _consensus_rows(service, keys[0])
        assert set(first) == {"support_quality", "helpfulness", "factually_correct"}  # text has no consensus
        assert first["support_quality"]["value"] == "excellent"
        assert first["helpfulness"]["value"] == pytest.approx(14 / 3)  # mean of 5, 5, 4
        assert first["factually_correct"]["value"] == 1.0
        md = first["support_quality"]["metadata"]
        assert md["hitl_consensus"] is True and md["hitl_votes"] == {"excellent": 3}
        assert md["hitl_reviewer"] == CONSENSUS_REVIEWER and md["hitl_campaign"] == service.spec.campaign
        assert first["support_quality"]["id"] == consensus_score_id(
            service.spec.campaign, service.spec_version, keys[0], "support_quality"
        )
        second = _consensus_rows(service, keys[1])
        assert second["support_quality"]["value"] == "poor"
        assert second["support_quality"]["metadata"]["hitl_votes"] == {"acceptable": 1, "poor": 2}
        assert second["factually_correct"]["value"] == 0.0

        # The tie and the wide numeric spread wait for an adjudicator; nothing is written for them.
        assert service.consensus.open_adjudications() == [keys[2], keys[3]]
        assert _consensus_rows(service, keys[2]) == {} and _consensus_rows(service, keys[3]) == {}
        adj = service.consensus.adjudication(keys[2])
        assert adj is not None and adj.reasons[0].startswith("support_quality: tie")

        # A reviewer who is not an adjudicator gets nothing; the adjudicator sees everyone's answers.
        assert service.open_next("ann") is None
        a = service.open_next("judge")
        assert a is not None and a.adjudication and a.item_key == keys[2]
        assert {o.reviewer: o.answers["support_quality"] for o in a.others} == {
            "ann": "poor",
            "bob": "acceptable",
            "cy": "excellent",
        }
        service.submit("judge", a.item_key, _answers("acceptable", 3, True), "Looked at the docs.")
        adjudicated = _consensus_rows(service, keys[2])
        assert adjudicated["support_quality"]["value"] == "acceptable"
        assert adjudicated["support_quality"]["metadata"]["hitl_reviewer"] == "judge"
        assert adjudicated["support_quality"]["metadata"]["hitl_consensus_method"] == "adjudicated"
        assert service.consensus.open_adjudications() == [keys[3]]

        # Skipping gives the adjudication back; another submit on a non-leased item is refused.
        b = service.open_next("judge")
        assert b is not None and b.item_key == keys[3]
        service.skip("judge", b.item_key)
        with pytest.raises(CampaignError):
            service.consensus.submit("judge", keys[3], _answers("acceptable", 3, True), None)

        # Consensus scores reach the store like every other score, exactly once.
        drain(service.state, store, deadline=10, confirm_timeout=5, poll_interval=0.01)
        stored = [
            s
            for s in store.iter_scores(names=["support_quality"])
            if s.metadata.get("hitl_consensus") and s.metadata.get("hitl_campaign") == service.spec.campaign
        ]
        assert sorted((s.trace_id, s.string_value or s.value) for s in stored) == sorted(
            [
                (keys[0].split(":")[1], "excellent"),
                (keys[1].split(":")[1], "poor"),
                (keys[2].split(":")[1], "acceptable"),
            ]
        )
    finally:
        service.close()


def test_edit_that_settles_a_dispute_writes_consensus(store: LocalSource, home: Path, clock: Clock) -> None:
    service = _service(store, home, clock, numeric="median")
    try:
        keys = _review_all(service)
        assert service.consensus is not None and keys[3] in service.consensus.open_adjudications()
        # bob goes Back and changes 5 → 1: answers 1, 1, 3 — spread 2/4 = 0.5, still too wide.
        service.open_item("bob", keys[3])
        service.submit("bob", keys[3], _answers("acceptable", 1, True), None)
        assert keys[3] in service.consensus.open_adjudications() and not _consensus_rows(service, keys[3])
        # cy changes 3 → 2: 1, 1, 2 — spread 0.25, settled.
        service.submit("cy", keys[3], _answers("acceptable", 2, True), None)
        assert keys[3] not in service.consensus.open_adjudications()
        assert _consensus_rows(service, keys[3])["helpfulness"]["value"] == 1.0  # median of 1, 1, 2
    finally:
        service.close()


def test_catch_up_decides_items_completed_before_consensus_was_on(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    service = _service(store, home, clock)
    service.consensus = None  # as if consensus had been off while reviewing
    keys = _review_all(service)
    assert _consensus_rows(service, keys[0]) == {}
    manager = service.consensus_manager()  # runs catch_up
    assert set(_consensus_rows(service, keys[0])) == {"support_quality", "helpfulness", "factually_correct"}
    assert manager.open_adjudications() == [keys[2], keys[3]]
    assert manager.catch_up() == 0
    service.close()


class _Crash(BaseException):
    """The process dying (not an error the service could log and carry on from)."""


def test_an_edit_and_the_consensus_it_changes_commit_together(
    store: LocalSource, home: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(store, home, clock)
    try:
        keys = _review_all(service)
        assert _consensus_rows(service, keys[0])["support_quality"]["metadata"]["hitl_votes"] == {
            "excellent": 3
        }

        def crash(*args: Any) -> None:
            raise _Crash

        monkeypatch.setattr(service.state, "queue_scores", crash)
        service.open_item("ann", keys[0])
        with pytest.raises(_Crash):
            service.submit("ann", keys[0], _answers("acceptable", 5, True), None)
        # Neither the edit nor a consensus of it: never an edited answer with the old consensus.
        review = service.state.review(keys[0], "ann")
        assert review is not None and review.answers["support_quality"] == "excellent"

        monkeypatch.undo()
        service.submit("ann", keys[0], _answers("acceptable", 5, True), None)
        md = _consensus_rows(service, keys[0])["support_quality"]["metadata"]
        assert md["hitl_votes"] == {"acceptable": 1, "excellent": 2}
    finally:
        service.close()


def test_a_consensus_failure_keeps_the_answer_and_rolls_back_only_the_consensus(
    store: LocalSource, home: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(store, home, clock)
    try:
        keys = _review_all(service)
        assert service.consensus is not None and keys[3] in service.consensus.open_adjudications()

        def refuse(*args: Any) -> None:
            raise ValueError("consensus refused")

        monkeypatch.setattr(service.state, "queue_scores", refuse)
        # 1, 5, 3 → 3, 3, 3 settles the dispute, but its consensus scores cannot be queued.
        service.submit("ann", keys[3], _answers("acceptable", 3, True), None)
        service.submit("bob", keys[3], _answers("acceptable", 3, True), None)
        review = service.state.review(keys[3], "bob")
        assert review is not None and review.answers["helpfulness"] == 3.0  # the answer is stored
        # The adjudication the consensus would have closed is still open (its delete rolled back).
        assert keys[3] in service.consensus.open_adjudications() and not _consensus_rows(service, keys[3])
    finally:
        service.close()


def test_opening_the_campaign_decides_the_items_left_undecided(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    service = _service(store, home, clock)
    service.consensus = None  # as if consensus had been off while reviewing
    keys = _review_all(service)
    service.close()
    reopened = _service(store, home, clock)
    try:
        assert set(_consensus_rows(reopened, keys[0])) == {
            "support_quality",
            "helpfulness",
            "factually_correct",
        }
        assert reopened.consensus is not None and reopened.consensus.open_adjudications() == [
            keys[2],
            keys[3],
        ]
    finally:
        reopened.close()
