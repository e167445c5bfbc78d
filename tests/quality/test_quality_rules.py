"""Quality rules one at a time on the local store: qualification retries, honeypots stopping a
reviewer, skipping a gold item, gold answers sent with hitl_gold, grading, the overlap policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hitl_pipeline.campaign.lifecycle import open_campaign
from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.quality.gold import grade, judge_round
from hitl_pipeline.quality.overlap import is_spot_checked, wants_another
from hitl_pipeline.report.compute import records_from_scores
from hitl_pipeline.sources.demo import generate_demo, load_demo
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec, load_spec_text
from hitl_pipeline.spec.gold import GoldItem
from tests.campaign.campaign_support import DEMO_NOW, Clock

BASE = """\
version: 1
campaign: rules
title: Rules
target: trace
guidelines: "GUIDE: rate carefully."
source:
  filters: {trace_name: support-chat, environment: production, from: "2026-10-01", to: "2026-11-01"}
  sample: {size: 10, seed: 1}
questions:
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
  - score: factually_correct
    type: boolean
QUALITY
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[LocalSource, list[str]]]:
    s = LocalSource(tmp_path / "local.db")
    data = generate_demo(seed=0, traces=160)
    load_demo(s, data)
    gold = sorted(f"trace:{t.id}" for t in data.traces if t.environment == "staging")[:8]
    yield s, gold
    s.close()


def _campaign(tmp_path: Path, store: LocalSource, gold: list[str], quality: str) -> CampaignService:
    items = {key: {"answers": {"helpfulness": 4, "factually_correct": True}} for key in gold}
    (tmp_path / "gold.yaml").write_text(yaml.safe_dump({"items": items}), encoding="utf-8")
    path = tmp_path / "spec.yaml"
    path.write_text(BASE.replace("QUALITY", quality), encoding="utf-8")
    spec = load_spec(path)
    configs = {c.name: c for c in store.list_score_configs()}
    return open_campaign(
        spec,
        store,
        home=tmp_path / "home",
        now=DEMO_NOW,
        clock=Clock(),
        configs={q.score: configs[q.score] for q in spec.questions},
        start=False,
        worker=False,
    )


RIGHT = {"helpfulness": 4.0, "factually_correct": True}
WRONG = {"helpfulness": 1.0, "factually_correct": False}


def test_a_failed_round_shows_the_result_and_a_retry_round_uses_other_gold_items(
    tmp_path: Path, store: tuple[LocalSource, list[str]]
) -> None:
    src, gold = store
    quality = "quality: {gold_file: gold.yaml, qualification: {items: 3, min_accuracy: 0.8, retries: 1}}\n"
    with _campaign(tmp_path, src, gold, quality) as svc:
        first_round = []
        for _ in range(3):
            a = svc.open_next("ann")
            assert a is not None and a.item_key in gold
            first_round.append(a.item_key)
            svc.submit("ann", a.item_key, WRONG, None)
        a = svc.open_next("ann")  # round 2 starts; the first screen says why
        assert a is not None and a.item_key in gold and a.item_key not in first_round
        assert "Qualification not passed" in a.notice and "GUIDE: rate carefully." in a.notice
        assert "1 attempt left" in a.notice
        second_round = [a.item_key]
        svc.submit("ann", a.item_key, RIGHT, None)
        for _ in range(2):
            a = svc.open_next("ann")
            assert a is not None and a.item_key in gold
            second_round.append(a.item_key)
            svc.submit("ann", a.item_key, RIGHT, None)
        assert not set(second_round) & set(first_round)
        live = svc.open_next("ann")
        assert live is not None and live.item_key not in gold and "Qualification passed" in live.notice
        # Nothing of the gold rounds is an answer of the campaign.
        assert svc.state.reviews(reviewer="ann") == []


def test_failing_the_last_round_stops_the_reviewer_with_the_guidelines(
    tmp_path: Path, store: tuple[LocalSource, list[str]]
) -> None:
    src, gold = store
    quality = "quality: {gold_file: gold.yaml, qualification: {items: 2}}\n"
    with _campaign(tmp_path, src, gold, quality) as svc:
        for _ in range(2):
            a = svc.open_next("cy")
            assert a is not None
            svc.submit("cy", a.item_key, WRONG, None)
        assert svc.open_next("cy") is None
        note = svc.progress("cy").note
        assert "did not pass the qualification round" in note and "GUIDE: rate carefully." in note
        assert "helpfulness: 0/2 correct" in note
        assert svc.progress("ann").note == ""  # others are unaffected


def test_honeypots_stop_a_reviewer_whose_accuracy_interval_is_below_the_threshold(
    tmp_path: Path, store: tuple[LocalSource, list[str]]
) -> None:
    src, gold = store
    quality = "quality: {gold_file: gold.yaml, honeypots: {rate: 0.5, seed: 3, min_accuracy: 0.9, stop_below: true}}\n"
    with _campaign(tmp_path, src, gold, quality) as svc:
        kinds = []
        while (a := svc.open_next("cy")) is not None:
            honeypot = a.item_key in gold
            kinds.append(honeypot)
            svc.submit("cy", a.item_key, WRONG if honeypot else RIGHT, None)
        assert kinds.count(True) == 1  # one honeypot wrong on both questions: 0 of 2, interval up to 0.66
        # Stopped once the whole Wilson interval lies under 0.9.
        assert "fell below the campaign's accuracy" in svc.progress("cy").note
        assert len(svc.state.reviews(reviewer="cy")) < 10  # live items left for others
        ann_kinds = []
        while (a := svc.open_next("ann")) is not None:
            ann_kinds.append(a.item_key in gold)
            svc.submit("ann", a.item_key, RIGHT, None)
        assert 2 <= sum(ann_kinds) < len(ann_kinds)  # honeypots mixed into live work at the seeded rate
        assert svc.progress("ann").note == ""


def test_skipping_a_gold_item_serves_another_and_counts_nothing(
    tmp_path: Path, store: tuple[LocalSource, list[str]]
) -> None:
    src, gold = store
    quality = "quality: {gold_file: gold.yaml, qualification: {items: 2}}\n"
    with _campaign(tmp_path, src, gold, quality) as svc:
        a = svc.open_next("ann")
        assert a is not None and a.item_key in gold
        svc.skip("ann", a.item_key)
        b = svc.open_next("ann")
        assert b is not None and b.item_key in gold and b.item_key != a.item_key


def test_gold_answers_are_sent_marked_only_when_the_spec_says_so(
    tmp_path: Path, store: tuple[LocalSource, list[str]]
) -> None:
    from hitl_pipeline.scoring.outbox import drain

    src, gold = store
    quality = "quality: {gold_file: gold.yaml, qualification: {items: 1}, send_gold_answers: true}\n"
    with _campaign(tmp_path, src, gold, quality) as svc:
        a = svc.open_next("ann")
        assert a is not None and a.item_key in gold
        svc.submit("ann", a.item_key, RIGHT, None)
        live = svc.open_next("ann")
        assert live is not None
        svc.submit("ann", live.item_key, RIGHT, None)
        drain(svc.state, src, deadline=10, confirm_timeout=5, poll_interval=0.01)
        spec = svc.spec
    stored = [
        s
        for s in src.iter_scores(names=["helpfulness", "factually_correct"])
        if s.metadata.get("hitl_campaign")
    ]
    marked = [s for s in stored if s.metadata.get("hitl_gold")]
    assert {f"trace:{s.trace_id}" for s in marked} == {a.item_key}
    assert all(s.metadata["hitl_gold_kind"] == "qualification" for s in marked)
    records = records_from_scores(spec, stored)
    assert {r.item_key for r in records} == {live.item_key}  # the gold answer stays out of the report


def test_grading_uses_the_numeric_tolerance_and_kappa() -> None:
    spec = load_spec_text(
        BASE.replace(
            "QUALITY", "quality: {gold_scores: {helpfulness: expert}, tolerance: {helpfulness: 1}}\n"
        )
    )
    gold = GoldItem("trace:x", (("factually_correct", True), ("helpfulness", 4.0)))
    assert grade(spec, gold, {"helpfulness": 5.0, "factually_correct": True}) == {
        "factually_correct": True,
        "helpfulness": True,
    }
    assert grade(spec, gold, {"helpfulness": 2.0})["helpfulness"] is False
    assert grade(spec, gold, {"helpfulness": 2.0})["factually_correct"] is False  # unanswered = wrong
    golds = [GoldItem(f"trace:{i}", (("factually_correct", i % 2 == 0),)) for i in range(4)]
    perfect = [(g, {"factually_correct": g.answer_map["factually_correct"]}) for g in golds]
    result = judge_round(spec, perfect, min_accuracy=0.8, min_kappa=0.5)
    assert result.passed and result.per_question == (("factually_correct", 4, 4, 1.0),)
    always_true = [(g, {"factually_correct": True}) for g in golds]
    low = judge_round(spec, always_true, min_accuracy=0.5, min_kappa=0.1)
    assert not low.passed and low.per_question[0][1:] == (2, 4, 0.0)  # 50 % right, κ 0: fails on κ


OVERLAP = """\
version: 1
campaign: overlap
title: Overlap
target: trace
questions:
  - score: quality
    type: categorical
    categories: [poor, ok, good]
    compare_with: judge_quality
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
    compare_with: judge_help
    compare_range: [0, 1]
  - score: tricky
    type: boolean
    required: false
    hard: true
review:
  reviewers_per_item: {min: 1, max: 3, spot_check: 0.3, seed: 4}
"""


def test_the_overlap_policy_asks_for_more_reviewers_only_where_there_is_doubt() -> None:
    spec = load_spec_text(OVERLAP)
    judge = {"judge_quality": 1, "judge_help": 0.75}  # "ok", and 4 on the 1–5 scale
    keys = [f"trace:{i}" for i in range(200)]
    calm = [k for k in keys if not is_spot_checked(spec, k)]
    k = calm[0]
    agree: dict[str, Any] = {"quality": "ok", "helpfulness": 5.0}
    assert wants_another(spec, k, [agree], judge) is None  # within a quarter of the range
    assert wants_another(spec, k, [{**agree, "quality": "good"}], judge) == "judge"
    assert wants_another(spec, k, [{**agree, "helpfulness": 2.0}], judge) == "judge"
    assert wants_another(spec, k, [agree], {"judge_help": 0.75}) == "no judge"
    assert wants_another(spec, k, [{**agree, "tricky": False}], judge) == "hard"
    assert wants_another(spec, k, [agree, agree], judge) is None
    assert wants_another(spec, k, [agree, {**agree, "quality": "poor"}], judge) == "disagreement"
    assert wants_another(spec, k, [agree, {**agree, "quality": "poor"}, agree], judge) is None  # max 3
    spotted = [key for key in keys if wants_another(spec, key, [agree], judge) == "spot-check"]
    assert 0.2 < len(spotted) / len(keys) < 0.4  # seeded share ≈ 0.3
    assert spotted == [key for key in keys if is_spot_checked(spec, key)]


def test_too_few_usable_gold_items_stop_the_campaign_from_opening(
    tmp_path: Path, store: tuple[LocalSource, list[str]]
) -> None:
    from hitl_pipeline.errors import CampaignError

    src, gold = store
    quality = "quality: {gold_file: gold.yaml, qualification: {items: 9}}\n"
    with pytest.raises(
        CampaignError, match="8 of the 8 gold items can be used as gold .* qualification round needs 9"
    ):
        _campaign(tmp_path, src, gold, quality)


def test_hitl_validate_refuses_a_round_longer_than_the_gold_file(tmp_path: Path) -> None:
    from hitl_pipeline.spec import validate_spec

    (tmp_path / "gold.yaml").write_text(
        "items:\n  trace:t-1:\n    answers: {helpfulness: 3}\n", encoding="utf-8"
    )
    path = tmp_path / "spec.yaml"
    path.write_text(
        BASE.replace("QUALITY", "quality: {gold_file: gold.yaml, qualification: {items: 3}}\n"),
        encoding="utf-8",
    )
    (issue,) = validate_spec(path)
    assert (issue.line, issue.column, issue.path) == (16, 56, "quality.qualification.items")  # the 3
    assert "a qualification round of 3 gold items, but the gold file has 1" in issue.message
