"""A pair campaign end to end on the local store: scores on both traces, the pairwise report
(win rate with its Wilson interval, sign test, position bias, strata) against independently
computed values (scipy), and the win_rate gate."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from scipy.stats import binomtest

from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.model.pairs import choice_of_outcome, left_arm, mirror, pair_traces
from hitl_pipeline.report import make_report
from hitl_pipeline.report.html import render_html, summary_lines
from hitl_pipeline.report.pairwise import sign_test
from hitl_pipeline.scoring.outbox import drain
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec.model import ReviewSpec
from tests.pairwise.pair_support import NOW, answer_for, pair_spec, truthful_pick


def _review_all(svc: CampaignService, reviewer: str, pick: str | None = None) -> list[tuple[str, str, str]]:
    """Answer every pair; returns (pair key, left arm, pick as shown)."""
    done = []
    while (a := svc.open_next(reviewer)) is not None:
        choice = pick or truthful_pick(a)
        svc.submit(reviewer, a.item_key, answer_for(a, choice), None)
        assert a.item.pair is not None
        done.append((a.item_key, a.item.pair.left, choice))
    return done


def _campaign(spec: ReviewSpec, store: LocalSource, home: Path) -> CampaignService:
    return open_campaign(spec, store, home=home, now=NOW, start=False, worker=False)


def test_each_judgment_is_a_score_on_both_traces(pair_store: LocalSource, home: Path) -> None:
    spec = pair_spec(size=5)
    with _campaign(spec, pair_store, home) as svc:
        a = svc.open_next("ann")
        assert a is not None and a.item.pair is not None
        view = a.item.pair
        assert view.left == left_arm(11, a.item_key)
        assert view.a.trace is not None and view.b.trace is not None
        assert view.a.trace.version == "prompt-v1" and view.b.trace.version == "prompt-v2"
        assert view.match == view.a.trace.metadata["question_id"]
        svc.submit("ann", a.item_key, answer_for(a, "A"), "left one is clearer")
        rows = svc.state.outbox(item_key=a.item_key)
        assert len(rows) == 2
        first_ids = {r.score_id for r in rows}
        # Editing the answer (Back) updates the same two scores.
        svc.submit("ann", a.item_key, answer_for(a, "A"), "left one is clearer")
        assert {r.score_id for r in svc.state.outbox(item_key=a.item_key)} == first_ids
        report = drain(svc.state, pair_store, deadline=10)
        assert report.confirmed == 2
    (a_id, _), (b_id, _) = pair_traces(a.item_key.removeprefix("pair:"))
    stored = {s.trace_id: s for s in pair_store.read_scores(first_ids).values()}
    assert set(stored) == {a_id, b_id}
    b_outcome = "win" if view.left == "b" else "loss"  # "A" (left) was picked
    assert stored[b_id].string_value == b_outcome or stored[b_id].value == b_outcome
    a_score, b_score = stored[a_id], stored[b_id]
    assert (a_score.string_value or a_score.value) == mirror(b_outcome)
    for arm, s, opponent in (("a", a_score, b_id), ("b", b_score, a_id)):
        md = s.metadata
        assert md["hitl_pair"] == a.item_key and md["hitl_arm"] == arm and md["hitl_opponent"] == opponent
        assert md["hitl_side"] == ("left" if view.left == arm else "right")
        assert md["hitl_reviewer"] == "ann" and md["hitl_campaign"] == "pair-test"
        assert md["hitl_stratum"] == view.a.trace.metadata["topic"]
        assert s.config_id == "cfg-answer-preference" and s.comment == "left one is clearer"


def test_report_win_rate_sign_test_and_strata(pair_store: LocalSource, home: Path) -> None:
    spec = pair_spec(
        extra="gates:\n  - {metric: win_rate, question: answer_preference, min: 0.5, on: lower_bound}"
    )
    with _campaign(spec, pair_store, home) as svc:
        done = _review_all(svc, "ann")
        drain(svc.state, pair_store, deadline=30)
    assert len(done) == 29
    outcomes = Counter()
    for _key, left, pick in done:
        outcome = "tie" if pick == "tie" else ("win" if (pick == "A") == (left == "b") else "loss")
        assert choice_of_outcome(outcome, left) == pick  # type: ignore[arg-type]
        outcomes[outcome] += 1
    report = make_report(spec, pair_store, home=home)
    q = report.pairwise.question("answer_preference")
    o = q.overall
    assert (o.pairs, o.wins, o.ties, o.losses) == (29, outcomes["win"], outcomes["tie"], outcomes["loss"])
    assert o.wins > 0 and o.losses > 0
    # Independently: scipy's Wilson interval and exact binomial test.
    ci = binomtest(o.wins, o.pairs).proportion_ci(confidence_level=0.95, method="wilson")
    assert abs(o.win_rate.low - ci.low) < 1e-9 and abs(o.win_rate.high - ci.high) < 1e-9
    assert abs(o.win_rate.value - o.wins / 29) < 1e-12
    assert abs(q.sign_test_p - binomtest(o.wins, o.wins + o.losses, 0.5).pvalue) < 1e-12
    # B is better on billing/account/technical and worse on shipping/returns (the demo's design).
    strata = dict(q.strata)
    assert set(strata) == {"account", "billing", "returns", "shipping", "technical"}
    assert (
        strata["shipping"].losses > strata["shipping"].wins
        and strata["billing"].wins > strata["billing"].losses
    )
    assert sum(s.pairs for s in strata.values()) == 29
    # The gate: B's score (ties ½) at the lower bound of its interval.
    gate = next(g for g in report.trust.gates if g.gate.metric == "win_rate")
    score = (o.wins + 0.5 * (o.ties + o.both_bad)) / o.pairs
    assert abs(gate.value - score) < 1e-12 and gate.passed == (gate.low >= 0.5)
    text = "\n".join(summary_lines(report))
    assert f"B win rate {o.win_rate.shown()}" in text and "prompt v2 (B) vs prompt v1 (A)" in text
    html = render_html(report)
    assert "Pairwise: prompt v2 (arm B) vs prompt v1 (arm A)" in html and o.win_rate.shown() in html


def test_sign_test_matches_scipy_on_a_grid() -> None:
    for n in range(0, 40):
        for k in range(n + 1):
            expected = binomtest(k, n, 0.5).pvalue if n else None
            got = sign_test(k, n - k)
            assert (got is None and expected is None) or abs(got - expected) < 1e-12, (k, n)  # type: ignore[operator]


def test_position_bias_of_a_reviewer_who_always_picks_left(pair_store: LocalSource, home: Path) -> None:
    spec = pair_spec(campaign="pair-left")
    with _campaign(spec, pair_store, home) as svc:
        done = _review_all(svc, "lefty", pick="A")
        drain(svc.state, pair_store, deadline=30)
    q = make_report(spec, pair_store, home=home).pairwise.question("answer_preference")
    assert (q.left_picks, q.decisive) == (29, 29) and q.position_bias
    ci = binomtest(29, 29).proportion_ci(method="wilson")
    assert abs(q.left_share.low - ci.low) < 1e-9 and q.left_share.low > 0.5
    # Sides are seeded per pair: always-left gives B wins exactly where B was shown left.
    assert q.overall.wins == Counter(left for _, left, _ in done)["b"]
    assert all(left == left_arm(11, key) for key, left, _ in done)


def test_a_truthful_reviewer_shows_no_position_bias(pair_store: LocalSource, home: Path) -> None:
    spec = pair_spec(campaign="pair-truth")
    with _campaign(spec, pair_store, home) as svc:
        _review_all(svc, "ann")
        drain(svc.state, pair_store, deadline=30)
    q = make_report(spec, pair_store, home=home).pairwise.question("answer_preference")
    assert not q.position_bias and 0.2 < q.left_share.value < 0.8


def test_two_reviewers_agreement_and_disputed_pairs(pair_store: LocalSource, home: Path) -> None:
    spec = pair_spec(campaign="pair-two", size=10, n=2)
    with _campaign(spec, pair_store, home) as svc:
        _review_all(svc, "ann")
        _review_all(svc, "lefty", pick="A")
        drain(svc.state, pair_store, deadline=30)
    q = make_report(spec, pair_store, home=home).pairwise.question("answer_preference")
    assert q.multi_rated_pairs == 10 and q.judgments == 20
    assert q.disputed and all(d.disagreement == 0.5 for d in q.disputed)
    for d in q.disputed:
        picks = dict(d.answers)
        assert picks["lefty"] == "A" and picks["ann"] != "A"
    assert q.observed_agreement == 1 - len(q.disputed) / 10


def test_consensus_and_adjudication_of_pairs(pair_store: LocalSource, home: Path) -> None:
    extra = "  adjudicators: [judy]\nconsensus: {enabled: true}"
    spec = pair_spec(campaign="pair-consensus", size=4, n=2, extra=extra)
    with _campaign(spec, pair_store, home) as svc:
        _review_all(svc, "ann", pick="A")
        _review_all(svc, "bob", pick="A")  # agree everywhere: consensus = their pick
        keys = [row.key for row in svc.state.items()]
        rows = [r for k in keys for r in svc.state.outbox(item_key=k) if r.reviewer == "hitl:consensus"]
        assert len(rows) == 2 * 4  # one consensus score on each trace of each pair
        for k in keys:
            (a_id, _), (b_id, _) = pair_traces(k.removeprefix("pair:"))
            mine = {r.payload["trace_id"]: r.payload for r in rows if r.item_key == k}
            assert set(mine) == {a_id, b_id}
            left = left_arm(11, k)
            b_outcome = "win" if left == "b" else "loss"  # both picked the left output
            assert mine[b_id]["value"] == b_outcome and mine[a_id]["value"] == mirror(b_outcome)
            assert mine[b_id]["metadata"]["hitl_consensus"] is True
        drain(svc.state, pair_store, deadline=30)
    report = make_report(spec, pair_store, home=home)
    assert report.consensus and report.consensus[0].items == 4
