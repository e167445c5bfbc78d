"""What the review form needs from a campaign: the :class:`ReviewService` protocol and its values.

The UI (``hitl_pipeline.ui``) only talks to a ``ReviewService``; the campaign package implements it
on top of its durable SQLite state. Every method is thread-safe and fast (no backend call on the
reviewer's path: items are prefetched, scores go to an outbox drained in the background).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hitl_pipeline.model import Item, ItemRef
from hitl_pipeline.spec.model import ReviewSpec


@dataclass(frozen=True)
class OtherAnswer:
    """Another reviewer's answer, shown to adjudicators (and to everyone when ``blind: false``)."""

    reviewer: str
    answers: dict[str, Any]
    comment: str | None = None


@dataclass(frozen=True)
class Assignment:
    """One item opened for one reviewer (leased until ``lease_expires``).

    ``answers`` pre-fills the form when the reviewer comes back to an item they answered
    (question score name → value; categorical = label, boolean = True/False, numeric = float, text/correction = str).
    """

    item_key: str
    ref: ItemRef
    item: Item
    answers: dict[str, Any] = field(default_factory=dict)
    comment: str | None = None
    lease_expires: datetime | None = None
    adjudication: bool = False
    others: tuple[OtherAnswer, ...] = ()
    revisiting: bool = False  # True when opened through Back (an already answered item)
    notice: str = ""  # one-time message above the item (quality: training feedback, a round's result)


@dataclass(frozen=True)
class Progress:
    reviewer: str
    reviewer_done: int  # items this reviewer has answered
    campaign_done: int  # answered review slots across all reviewers
    campaign_total: int  # items × reviewers_per_item
    items_total: int
    items_complete: int  # items with all their reviews
    reviewer_remaining: int  # slots this reviewer could still take
    note: str = ""  # why the reviewer gets no items (quality: failed qualification), with the guidelines


class ReviewService(Protocol):
    spec: ReviewSpec

    def open_next(self, reviewer: str) -> Assignment | None:
        """The reviewer's open item, or lease the next one; None when nothing is left for them."""
        ...

    def open_item(self, reviewer: str, item_key: str) -> Assignment:
        """Re-open an item the reviewer already answered (Back), with their answers pre-filled."""
        ...

    def previous(self, reviewer: str, before: str | None) -> Assignment | None:
        """The reviewer's answered item just before ``before`` (or their latest if None)."""
        ...

    def submit(
        self,
        reviewer: str,
        item_key: str,
        answers: dict[str, Any],
        comment: str | None,
        *,
        edit: bool | None = None,
    ) -> None:
        """Validate (raises ScoreValidationError with a reviewer-readable message) and durably store
        the answer together with its outbox rows in one transaction. Editing an earlier answer
        updates the same scores. Raises CampaignError for an item not leased to / answered by them,
        and for a first answer (``edit=False``) to an item they answered meanwhile in another tab."""
        ...

    def skip(self, reviewer: str, item_key: str) -> None:
        """Release the lease; the item comes back later or goes to another reviewer."""
        ...

    def progress(self, reviewer: str) -> Progress: ...

    def health(self) -> dict[str, str]:
        """``{"state": …, "source": …}``: "ok", or what failed (for a load balancer's ``/healthz``)."""
        ...
