"""The :class:`Source` protocol both backends implement, and the capability protocols
(:class:`AnnotationQueues`, :class:`Datasets`, :class:`TraceLinks`) some of them add.

Its data types (items, traces, scores, score configs) are the model layer's
(:mod:`hitl_pipeline.model`); their shapes follow Langfuse so the local store and the Langfuse
backend are interchangeable, and tests run one suite against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from hitl_pipeline.model import (
    AnnotationQueue,
    AnnotationQueueItem,
    Item,
    ItemRef,
    Score,
    ScoreConfig,
    ScoreWrite,
    Target,
    WriteResult,
)
from hitl_pipeline.spec.model import Filters


@runtime_checkable
class Source(Protocol):
    """What a trace source offers. Implemented by ``local`` (SQLite) and ``langfuse``."""

    name: str

    def iter_candidates(
        self,
        target: Target,
        filters: Filters,
        *,
        now: datetime,
        stratify_by: str | None = None,
    ) -> Iterator[ItemRef]:
        """Yield every item matching ``filters`` (applied in the source, not in Python), newest first."""
        ...

    def get_item(self, ref: ItemRef, *, score_names: Sequence[str] | None = None) -> Item:
        """Fetch one item in full (tree, session turns, existing scores) for display."""
        ...

    def list_score_configs(self) -> list[ScoreConfig]: ...

    def get_score_config(self, config_id: str) -> ScoreConfig | None: ...

    def create_score_config(
        self,
        name: str,
        data_type: str,
        *,
        categories: Sequence[tuple[str, float]] = (),
        min_value: float | None = None,
        max_value: float | None = None,
        description: str | None = None,
    ) -> ScoreConfig: ...

    def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
        """Send scores synchronously; one result per score, in order. Never raises for a single bad score."""
        ...

    def delete_scores(self, ids: Sequence[str]) -> list[WriteResult]:
        """Delete scores by id (every name under the id); one result per id, in order. Deleting an
        id that is not there is ok. Never raises for a single failed delete."""
        ...

    def read_scores(self, ids: Iterable[str]) -> dict[str, Score]:
        """Read scores back by id; missing ids are absent from the result."""
        ...

    def iter_scores(
        self,
        *,
        names: Sequence[str] | None = None,
        since: datetime | None = None,
        source: str | None = None,
    ) -> Iterator[Score]:
        """Every stored score, optionally by name / newer than ``since`` / by source (reports, resume)."""
        ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------- capabilities
# What some sources offer beyond :class:`Source`. Callers check with ``isinstance(source, …)``
# (the protocols are runtime-checkable) instead of reaching into a backend. Failures raise
# SourceError / AuthError like the Source methods.


@runtime_checkable
class AnnotationQueues(Protocol):
    """A source with annotation queues (Langfuse): the campaign's queue mirror uses them."""

    def iter_annotation_queues(self) -> Iterator[AnnotationQueue]:
        """Every queue of the project."""
        ...

    def create_annotation_queue(
        self, name: str, *, description: str, score_config_ids: Sequence[str]
    ) -> AnnotationQueue: ...

    def iter_annotation_queue_items(self, queue_id: str) -> Iterator[AnnotationQueueItem]:
        """Every item of the queue (the same object may be there twice: queues do not deduplicate)."""
        ...

    def add_annotation_queue_item(
        self, queue_id: str, *, object_id: str, object_type: str
    ) -> AnnotationQueueItem:
        """Add a TRACE, OBSERVATION or SESSION to the queue (PENDING)."""
        ...

    def complete_annotation_queue_item(self, queue_id: str, item_id: str) -> None:
        """Mark the queue item COMPLETED."""
        ...


@runtime_checkable
class Datasets(Protocol):
    """A source with datasets (Langfuse): ``hitl export --to-dataset`` writes there."""

    def dataset_exists(self, name: str) -> bool: ...

    def create_dataset(self, name: str, *, description: str, metadata: Mapping[str, Any]) -> None: ...

    def upsert_dataset_item(
        self,
        dataset_name: str,
        *,
        item_id: str,
        input: Any,
        expected_output: Any,
        metadata: Mapping[str, Any],
        source_trace_id: str | None = None,
        source_observation_id: str | None = None,
    ) -> None:
        """Create the item, or replace the item with this id."""
        ...


@runtime_checkable
class TraceLinks(Protocol):
    """A source whose items have web pages: ``{host}/project/{project id}/traces/{trace id}``."""

    host: str

    def project_id(self) -> str | None:
        """The project of the source's credentials, or None when it cannot be found."""
        ...
