"""``hitl status``: a campaign's counts from its state, without calling the source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hitl_pipeline.campaign.lifecycle import open_state
from hitl_pipeline.spec.model import ReviewSpec


@dataclass(frozen=True)
class ReviewerStatus:
    reviewer: str
    answered: int
    pending: int
    sent: int
    confirmed: int
    failed: int
    dropped: int


@dataclass(frozen=True)
class CampaignStatus:
    """What ``hitl status`` shows for a campaign."""

    campaign: str
    spec_hash: str
    spec_version: int
    created_at: datetime
    items: int
    reviews_per_item: int
    items_complete: int
    answered: int  # review slots answered
    outbox: dict[str, int]
    reviewers: tuple[ReviewerStatus, ...]
    failures: tuple[tuple[str, int], ...]  # (reason, rows) for failed and dropped rows

    @property
    def queued(self) -> int:
        """Review slots not answered yet."""
        return max(0, self.items * self.reviews_per_item - self.answered)


def status(spec: ReviewSpec, *, home: Path | str) -> CampaignStatus:
    """The campaign's counts from its state (no source call): queued, answered, sent, confirmed, failed…"""
    state = open_state(spec, home)
    try:
        meta = state.meta()
        n = spec.review.reviewers_per_item
        counts = state.counts(n)
        reasons: dict[str, int] = {}
        for status_name in ("failed", "dropped"):
            for row in state.outbox(status=status_name):
                reason = f"{status_name}: {row.last_error or 'no reason recorded'}"
                reasons[reason] = reasons.get(reason, 0) + 1
        reviewers = tuple(
            ReviewerStatus(
                reviewer=name,
                answered=c["answered"],
                pending=c["pending"],
                sent=c["sent"],
                confirmed=c["confirmed"],
                failed=c["failed"],
                dropped=c["dropped"],
            )
            for name, c in sorted(state.per_reviewer().items())
        )
        return CampaignStatus(
            campaign=meta.campaign,
            spec_hash=meta.spec_hash,
            spec_version=meta.spec_version,
            created_at=meta.created_at,
            items=counts.items,
            reviews_per_item=n,
            items_complete=counts.items_complete,
            answered=counts.reviews,
            outbox=counts.outbox,
            reviewers=reviewers,
            failures=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        )
    finally:
        state.close()


__all__ = ["CampaignStatus", "ReviewerStatus", "status"]
