"""Throughput of a campaign from its state: active time per item, items per hour, ETA.

Active time is the time an item was open in the form before its answer was submitted (the
campaign state records it per review), capped at :data:`MAX_ACTIVE_SECONDS` per item so a tab
left open over lunch does not count as review work. Items per hour = answers / active hours. The
ETA is the reviews still needed (adaptive overlap: as far as decided so far) divided by the
reviewers' combined pace, assuming they keep reviewing in parallel.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.spec.model import ReviewSpec

#: Longest time on one item counted as active review (longer: the tab was left open).
MAX_ACTIVE_SECONDS = 10 * 60


@dataclass(frozen=True)
class ReviewerThroughput:
    reviewer: str
    reviews: int
    active_seconds: float
    items_per_hour: float | None


@dataclass(frozen=True)
class Throughput:
    """Per-reviewer pace, the reviews still needed and the ETA in hours (None without a pace yet)."""

    reviewers: tuple[ReviewerThroughput, ...]
    remaining_reviews: int | None = None
    eta_hours: float | None = None
    mean_seconds: float | None = None  # mean active time per review


def throughput(spec: ReviewSpec, state: CampaignState) -> Throughput:
    """Throughput from the campaign state (answers on gold items count as work too)."""
    seconds: defaultdict[str, float] = defaultdict(float)
    counts: defaultdict[str, int] = defaultdict(int)
    for r in state.reviews():
        counts[r.reviewer] += 1
        if r.duration_s is not None:
            seconds[r.reviewer] += min(r.duration_s, MAX_ACTIVE_SECONDS)
    with state.transaction() as c:
        for reviewer, n, s in c.execute(
            """SELECT reviewer, COUNT(*), COALESCE(SUM(CASE WHEN COALESCE(duration_s, 0) > ? THEN ?
                                                          ELSE COALESCE(duration_s, 0) END), 0)
               FROM gold_serves WHERE answers_json IS NOT NULL GROUP BY reviewer""",
            (MAX_ACTIVE_SECONDS, MAX_ACTIVE_SECONDS),
        ):
            counts[reviewer] += int(n)
            seconds[reviewer] += float(s)
        n = spec.review.reviewers_per_item
        remaining = int(
            c.execute(
                """SELECT COALESCE(SUM(CASE WHEN COALESCE(needed, ?) > done THEN COALESCE(needed, ?) - done
                                           ELSE 0 END), 0) FROM items""",
                (n, n),
            ).fetchone()[0]
        )
    rows = tuple(
        ReviewerThroughput(
            reviewer=name,
            reviews=counts[name],
            active_seconds=seconds[name],
            items_per_hour=counts[name] / (seconds[name] / 3600) if seconds[name] > 0 else None,
        )
        for name in sorted(counts)
    )
    pace = sum(r.items_per_hour for r in rows if r.items_per_hour)
    total = sum(counts.values())
    active = float(sum(seconds.values()))
    return Throughput(
        reviewers=rows,
        remaining_reviews=remaining,
        eta_hours=remaining / pace if pace else None,
        mean_seconds=active / total if total and active else None,
    )


__all__ = ["MAX_ACTIVE_SECONDS", "ReviewerThroughput", "Throughput", "throughput"]
