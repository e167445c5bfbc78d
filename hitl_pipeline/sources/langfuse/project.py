"""What a Langfuse project offers beyond traces and scores: annotation queues, datasets, and the
project's id (for trace URLs). Through the SDK's typed API; failures become
:class:`~hitl_pipeline.errors.SourceError` / :class:`~hitl_pipeline.errors.AuthError`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hitl_pipeline.model import AnnotationQueue, AnnotationQueueItem
from hitl_pipeline.sources.langfuse.http import LangfuseHttp
from hitl_pipeline.sources.langfuse.sdk import ApiError

#: Queues or queue items per page.
_PAGE = 100


def _text(value: Any) -> str:
    """An SDK enum's value (or the plain string)."""
    return str(getattr(value, "value", value))


class ProjectApi:
    """Annotation queues, datasets and the project id of one source's keys."""

    def __init__(self, http: LangfuseHttp) -> None:
        self.http = http

    def _pages(self, what: str, fetch: Callable[[int], Any]) -> Iterator[Any]:
        page = 1
        while True:
            res = self.http.call(what, lambda page=page: fetch(page))  # type: ignore[misc]
            yield from res.data
            if page >= (res.meta.total_pages or 1) or not res.data:
                return
            page += 1

    # ------------------------------------------------------------------ annotation queues

    def queues(self) -> Iterator[AnnotationQueue]:
        api = self.http.api.annotation_queues
        for q in self._pages(
            "listing annotation queues", lambda page: api.list_queues(page=page, limit=_PAGE)
        ):
            yield AnnotationQueue(id=str(q.id), name=q.name)

    def create_queue(
        self, name: str, *, description: str, score_config_ids: Sequence[str]
    ) -> AnnotationQueue:
        created = self.http.call(
            f"creating annotation queue {name!r}",
            lambda: self.http.api.annotation_queues.create_queue(
                name=name, description=description, score_config_ids=list(score_config_ids)
            ),
        )
        return AnnotationQueue(id=str(created.id), name=name)

    def queue_items(self, queue_id: str) -> Iterator[AnnotationQueueItem]:
        api = self.http.api.annotation_queues
        for it in self._pages(
            "listing annotation queue items",
            lambda page: api.list_queue_items(queue_id, page=page, limit=_PAGE),
        ):
            yield AnnotationQueueItem(
                id=str(it.id),
                object_id=it.object_id,
                object_type=_text(it.object_type),
                status=_text(it.status),
            )

    def add_queue_item(self, queue_id: str, *, object_id: str, object_type: str) -> AnnotationQueueItem:
        created = self.http.call(
            f"adding {object_type.lower()} {object_id} to annotation queue {queue_id}",
            lambda: self.http.api.annotation_queues.create_queue_item(
                queue_id,
                object_id=object_id,
                object_type=object_type,
            ),
        )
        return AnnotationQueueItem(
            id=str(created.id), object_id=object_id, object_type=object_type, status=_text(created.status)
        )

    def complete_queue_item(self, queue_id: str, item_id: str) -> None:
        self.http.call(
            f"completing item {item_id} in annotation queue {queue_id}",
            lambda: self.http.api.annotation_queues.update_queue_item(
                queue_id,
                item_id,
                status="COMPLETED",
            ),
        )

    # ------------------------------------------------------------------ datasets

    def dataset_exists(self, name: str) -> bool:
        def exists() -> bool:
            try:
                self.http.api.datasets.get(dataset_name=name)
            except ApiError as exc:
                if exc.status_code == 404:
                    return False
                raise
            return True

        return self.http.call(f"reading dataset {name!r}", exists)

    def create_dataset(self, name: str, *, description: str, metadata: Mapping[str, Any]) -> None:
        self.http.call(
            f"creating dataset {name!r}",
            lambda: self.http.api.datasets.create(
                name=name, description=description, metadata=dict(metadata)
            ),
        )

    def upsert_dataset_item(
        self,
        dataset_name: str,
        *,
        item_id: str,
        input: Any,
        expected_output: Any,
        metadata: Mapping[str, Any],
        source_trace_id: str | None,
        source_observation_id: str | None,
    ) -> None:
        self.http.call(
            f"writing dataset item {item_id}",
            lambda: self.http.api.dataset_items.create(
                dataset_name=dataset_name,
                id=item_id,
                input=input,
                expected_output=expected_output,
                metadata=dict(metadata),
                source_trace_id=source_trace_id,
                source_observation_id=source_observation_id,
            ),
        )

    # ------------------------------------------------------------------ project

    def project_id(self) -> str | None:
        """The project of the keys (``GET /projects``), or None when it cannot be read."""
        try:
            projects = self.http.api.projects.get()
            return str(projects.data[0].id) if projects.data else None
        except Exception:  # links are a convenience: never fail a caller for them
            return None
