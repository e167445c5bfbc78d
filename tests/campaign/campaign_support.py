"""Helpers shared by the campaign and scoring tests: specs on the demo data, configs, a settable clock
(their fixtures are in tests/support/fixtures.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import hitl_pipeline.spec  # noqa: F401  (import order: the spec package first)
from hitl_pipeline.campaign.state.location import StateLocation, campaign_schema
from hitl_pipeline.model import ScoreConfig
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec import load_spec_text
from hitl_pipeline.spec.model import ReviewSpec

DEMO_NOW = datetime(2026, 11, 5, tzinfo=UTC)

SPEC = """\
version: 1
campaign: {campaign}
title: Test campaign
target: {target}
source:
  filters:
{filters}
    from: "{time_from}"
    to: "{time_to}"
  sample:
    size: {size}
    strategy: {strategy}
    seed: 42
{by}
display:
  parts: [input, output, metadata, tree, scores]
  scores: [llm_judge_helpfulness]
questions:
  - score: support_quality
    type: categorical
    label: Overall quality
    categories:
      - {{label: excellent, value: 2}}
      - {{label: acceptable, value: 1}}
      - {{label: poor, value: 0}}
  - score: helpfulness
    type: numeric
    label: Helpfulness
    min: 1
    max: 5
  - score: factually_correct
    type: boolean
    label: Correct?
  - score: reviewer_notes
    type: text
    label: Notes
    required: false
    when: {{question: support_quality, equals: poor}}
{extra_questions}
comment: {comment}
review:
  reviewers_per_item: {n}
  allow_skip: true
  lease_minutes: 30
{reviewers}
"""


def make_spec(
    *,
    campaign: str = "test-campaign",
    target: str = "trace",
    size: int = 10,
    strategy: str = "random",
    by: str | None = None,
    n: int = 1,
    comment: str = "optional",
    reviewers: tuple[str, ...] = (),
    filters: str = "    trace_name: support-chat\n",
    correction: bool = False,
    window: tuple[str, str] = ("2026-10-01", "2026-11-01"),
) -> ReviewSpec:
    """A valid spec on the demo data (through the real loader)."""
    extra = (
        "  - score: corrected_answer\n    type: correction\n    label: Corrected answer\n    required: false\n"
        if correction
        else ""
    )
    text = SPEC.format(
        campaign=campaign,
        target=target,
        filters=filters,
        size=size,
        strategy=strategy,
        by=f"    by: {by}" if by else "",
        n=n,
        comment=comment,
        reviewers=f"  reviewers: [{', '.join(reviewers)}]" if reviewers else "",
        extra_questions=extra,
        time_from=window[0],
        time_to=window[1],
    )
    return load_spec_text(text, "<test>")


def demo_configs(source: LocalSource, spec: ReviewSpec) -> dict[str, ScoreConfig]:
    """Question → the demo store's config of the same name (what resolve_configs finds)."""
    by_name = {c.name: c for c in source.list_score_configs()}
    return {q.score: by_name[q.score] for q in spec.questions if q.type != "correction"}


class Clock:
    """A settable clock for leases and backoff."""

    def __init__(self, start: datetime = DEMO_NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now = self.now + timedelta(**kw)


def lose_state(home: Path, campaign: str) -> None:
    """Delete a campaign's state wherever it is, as on a new machine: its SQLite file (with its WAL),
    or its PostgreSQL schema when HITL_STATE_URL names a database."""
    location = StateLocation.of(home, campaign)
    if location.url is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{location.path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(location.url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{campaign_schema(campaign)}" CASCADE')
