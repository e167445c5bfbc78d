"""Annotation queues (Langfuse's own review lists) as the campaign's queue mirror sees them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnnotationQueue:
    id: str
    name: str


@dataclass(frozen=True)
class AnnotationQueueItem:
    """One entry of a queue: ``object_type`` is TRACE, OBSERVATION or SESSION; ``status`` PENDING
    or COMPLETED."""

    id: str
    object_id: str
    object_type: str
    status: str
