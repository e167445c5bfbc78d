"""Pair campaign specs on the pairwise demo data, and scripted reviewers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hitl_pipeline.campaign.types import Assignment
from hitl_pipeline.model.pairs import outcome_of_choice
from hitl_pipeline.sources.demo_pairwise import better_arm
from hitl_pipeline.spec import load_spec_text
from hitl_pipeline.spec.model import ReviewSpec

NOW = datetime(2026, 12, 5, tzinfo=UTC)

PAIR_SPEC = """\
version: 1
campaign: {campaign}
title: Pairwise test
target: pair
pair:
  arms:
    a: {{label: prompt v1, filters: {{version: prompt-v1}}}}
    b: {{label: prompt v2, filters: {{version: prompt-v2}}}}
  match: {match}
  report_by: metadata.topic
source:
  filters: {{trace_name: support-answer, from: "2026-11-01", to: "2026-12-01"}}
  sample: {{size: {size}, seed: {seed}}}
questions:
  - score: answer_preference
    type: preference
    label: Which answer is better?
    both_bad: true
{questions}review:
  reviewers_per_item: {n}
{extra}
"""


def pair_spec(
    *,
    campaign: str = "pair-test",
    match: str = "metadata.question_id",
    size: int = 40,
    seed: int = 11,
    n: int = 1,
    extra: str = "",
    questions: str = "",
) -> ReviewSpec:
    """A pair spec; ``questions``: YAML lines of more questions after the preference question."""
    text = PAIR_SPEC.format(
        campaign=campaign, match=match, size=size, seed=seed, n=n, extra=extra, questions=questions
    )
    return load_spec_text(text, "pair.yaml")


def truthful_pick(a: Assignment) -> str:
    """What a reviewer who sees the real quality picks: "A" (left), "B" (right) or "tie"."""
    view = a.item.pair
    assert view is not None and view.a.trace is not None
    better = better_arm(str(view.a.trace.metadata["question_id"]))
    if better == "tie":
        return "tie"
    return "A" if better == view.left else "B"


def answer_for(a: Assignment, pick: str) -> dict[str, Any]:
    """The service's answer for a pick as shown (the form translates the same way)."""
    view = a.item.pair
    assert view is not None
    return {"answer_preference": outcome_of_choice(pick, view.left)}
