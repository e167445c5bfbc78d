"""The Langfuse source: the :class:`~hitl_pipeline.sources.base.Source` protocol on a Langfuse
server, and its capabilities (annotation queues, datasets, trace links), put together from the
package's parts (see the package docstring)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from hitl_pipeline.errors import ConfigError, SourceError
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
from hitl_pipeline.sources.budget import RequestBudget
from hitl_pipeline.sources.langfuse import query as q
from hitl_pipeline.sources.langfuse.configs import ConfigApi
from hitl_pipeline.sources.langfuse.http import LangfuseHttp
from hitl_pipeline.sources.langfuse.probe import Capabilities, CapabilityCache
from hitl_pipeline.sources.langfuse.project import ProjectApi
from hitl_pipeline.sources.langfuse.reads_legacy import LegacyReader
from hitl_pipeline.sources.langfuse.reads_v2 import V2Reader
from hitl_pipeline.sources.langfuse.scores import ScoreApi, group_scores
from hitl_pipeline.sources.langfuse.sdk import LangfuseAPI
from hitl_pipeline.spec.model import Filters

if TYPE_CHECKING:
    from hitl_pipeline.settings import Settings

#: Requests in flight at once while fetching items (rows and scores chunks overlap).
FETCH_WORKERS = 4


class LangfuseSource:
    """A :class:`~hitl_pipeline.sources.base.Source` backed by a Langfuse server.

    Also implements the capability protocols of :mod:`hitl_pipeline.sources.base`:
    ``AnnotationQueues``, ``Datasets`` and ``TraceLinks``.

    Example::

        src = LangfuseSource.from_settings(Settings.from_env())
        print(src.probe())                       # version, read path, POST /scores body
        for ref in src.iter_candidates("trace", spec.filters, now=datetime.now(UTC)):
            ...
        items = src.get_items(refs[:20])         # batched fetch, for prefetching
    """

    name = "langfuse"

    def __init__(
        self,
        *,
        base_url: str,
        public_key: str,
        secret_key: str,
        timeout: float = 30.0,
        httpx_client: httpx.Client | None = None,
        page_size: int | None = None,
        fetch_workers: int = FETCH_WORKERS,
        budget: RequestBudget | None = None,
    ) -> None:
        """``page_size`` lowers the page sizes (tests use it to cross page boundaries cheaply);
        ``fetch_workers`` is how many requests :meth:`get_items` keeps in flight (1 = sequential);
        ``budget`` limits the requests per minute (default: none until the server answers 429)."""
        self._fetch_workers = max(1, fetch_workers)
        self._public_key = public_key
        self.http = LangfuseHttp(
            base_url=base_url,
            public_key=public_key,
            secret_key=secret_key,
            timeout=timeout,
            httpx_client=httpx_client,
            budget=budget,
        )
        self.host = self.http.host
        v2_page = min(page_size or q.V2_PAGE, q.V2_PAGE)
        v1_page = min(page_size or q.V1_PAGE, q.V1_PAGE)
        self._caps = CapabilityCache(self.http)
        self._v2 = V2Reader(self.http, page_size=v2_page)
        self._legacy = LegacyReader(self.http, page_size=v1_page)
        self._configs = ConfigApi(self.http, page_size=v1_page)
        self._scores = ScoreApi(self.http, self._caps, self._configs.cached, page_size=v1_page)
        self._project = ProjectApi(self.http)

    @classmethod
    def from_settings(cls, settings: Settings) -> LangfuseSource:
        """Build from :class:`hitl_pipeline.settings.Settings` (``LANGFUSE_PUBLIC_KEY``,
        ``LANGFUSE_SECRET_KEY``, ``LANGFUSE_BASE_URL`` or ``LANGFUSE_HOST``)."""
        public, secret = settings.langfuse_public_key, settings.langfuse_secret_key
        if not public or not secret:
            missing = [
                n for n, v in (("LANGFUSE_PUBLIC_KEY", public), ("LANGFUSE_SECRET_KEY", secret)) if not v
            ]
            raise ConfigError(
                f"Langfuse is not configured: set {' and '.join(missing)} (and LANGFUSE_BASE_URL or "
                "LANGFUSE_HOST for a self-hosted server), or use the local source (--source local)"
            )
        return cls(
            base_url=settings.langfuse_base_url,
            public_key=public,
            secret_key=secret.get_secret_value(),
            budget=RequestBudget.parse(settings.request_budget),
        )

    def __repr__(self) -> str:
        return f"LangfuseSource(host={self.host!r}, public_key={self._public_key!r})"

    @property
    def api(self) -> LangfuseAPI:
        """The SDK client (typed API, same auth and base URL), for what this class does not wrap.
        Its retries are on (2); pass ``request_options={"max_retries": 0}`` for writes that our
        own retry logic handles."""
        return self.http.api

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LangfuseSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def budget(self) -> RequestBudget:
        """The request budget every request of this source takes a slot of."""
        return self.http.budget

    def requests_sent(self) -> int:
        """Requests sent so far (retries included)."""
        return sum(self.http.transport.counts.values())

    # ------------------------------------------------------------------ probe

    @property
    def capabilities(self) -> Capabilities:
        """The probe result, probing on first use."""
        return self.probe()

    def probe(self, *, refresh: bool = False) -> Capabilities:
        """Find out what the server offers (cached). Raises AuthError / SourceError when it cannot."""
        return self._caps.get(refresh=refresh)

    # ------------------------------------------------------------------ candidates and items

    def iter_candidates(
        self,
        target: Target,
        filters: Filters,
        *,
        now: datetime,
        stratify_by: str | None = None,
    ) -> Iterator[ItemRef]:
        """Every item matching ``filters``, newest first (ties: larger id first).

        All matching rows are listed (large pages, no I/O), then sorted; see
        :mod:`~hitl_pipeline.sources.langfuse.reads_v2` for which filters run on the server and
        which on the rows.
        """
        start, end = filters.window(now)
        reader = self._v2 if self.probe().v2_observations else self._legacy
        refs = reader.candidates(target, filters, start, end, stratify_by)
        if filters.scores:
            keep = self._scores.threshold_subjects(target, filters.scores)
            refs = [r for r in refs if r.id in keep]
        refs.sort(key=lambda r: (r.timestamp, r.id), reverse=True)
        return iter(refs)

    def get_item(self, ref: ItemRef, *, score_names: Sequence[str] | None = None) -> Item:
        """One item in full."""
        return self.get_items([ref], score_names=score_names)[0]

    def get_items(self, refs: Sequence[ItemRef], *, score_names: Sequence[str] | None = None) -> list[Item]:
        """Fetch many items with few requests, in the order of ``refs``.

        On v4 servers: the observation rows of up to 100 traces (or sessions) per request with I/O,
        and the subjects' scores from ``/v3/scores`` in pages of 100. On v3 servers: one ``/traces/{id}``
        (or ``/sessions/{id}``) per item.
        """
        if not refs:
            return []
        # Every chunk (rows of up to 100 traces, one item on v3 servers, scores of up to 100
        # subjects) is independent: up to FETCH_WORKERS requests are in flight at once, so the
        # request chains overlap instead of adding up. The request count does not change.
        if self.probe().v2_observations:
            row_tasks = self._v2.item_tasks(refs)
        else:
            row_tasks = [lambda r=r: self._legacy.item(r) for r in refs]  # type: ignore[misc]
        score_tasks = self._scores.item_tasks(refs, score_names)
        items: dict[str, Item] = {}
        found: list[Score] = []
        with ThreadPoolExecutor(max_workers=self._fetch_workers, thread_name_prefix="hitl-fetch") as pool:
            # Each task runs in a copy of the caller's context: a background caller (prefetching)
            # stays background for the request budget.
            score_futures = [pool.submit(contextvars.copy_context().run, t) for t in score_tasks]
            for row_future in [pool.submit(contextvars.copy_context().run, t) for t in row_tasks]:
                items.update(row_future.result())
            for score_future in score_futures:
                found.extend(score_future.result())
        scores = group_scores(refs, found)
        out = []
        for ref in refs:
            item = items.get(ref.key)
            if item is None:
                raise SourceError(f"{ref.kind} {ref.id!r} was not found in Langfuse at {self.host}")
            out.append(
                Item(
                    ref=item.ref,
                    trace=item.trace,
                    observation=item.observation,
                    session=item.session,
                    scores=tuple(scores.get(ref.key, ())),
                )
            )
        return out

    # ------------------------------------------------------------------ score configs

    def list_score_configs(self) -> list[ScoreConfig]:
        """All configs (archived ones included), by name then id."""
        return self._configs.list_all()

    def get_score_config(self, config_id: str) -> ScoreConfig | None:
        """The config, or None when the server has no config with this id."""
        return self._configs.get(config_id)

    def create_score_config(
        self,
        name: str,
        data_type: str,
        *,
        categories: Sequence[tuple[str, float]] = (),
        min_value: float | None = None,
        max_value: float | None = None,
        description: str | None = None,
    ) -> ScoreConfig:
        """Create a config with the server's rules, checked before sending (as the local store
        does); BOOLEAN categories are set by the server. Raises :class:`SourceError`."""
        return self._configs.create(
            name,
            data_type,
            categories=categories,
            min_value=min_value,
            max_value=max_value,
            description=description,
        )

    # ------------------------------------------------------------------ scores

    def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
        """Send ``scores`` synchronously; one result per score, in order.

        First every score is checked with the server's own rules (``check_score``, against the
        config, cached per source): a score that fails is not sent (not ok, not retryable, the
        problems as the error). The rest go out in JSON arrays of 100 (servers ≥ 4.59) or one
        request each (older servers), with the SDK's retries off.

        ok = the server accepted it (202/200; it may still drop it later, e.g. when the config was
        archived meanwhile, so confirm with :meth:`read_scores`). 429/5xx/transport errors →
        ``retryable`` (with ``retry_after`` from the header); other 4xx and the rejected entries of
        a 207 → not retryable, with the server's message. Raises :class:`AuthError` on 401/403
        (nothing can be sent with these credentials).
        """
        return self._scores.write(scores)

    def delete_scores(self, ids: Sequence[str]) -> list[WriteResult]:
        """``DELETE /api/public/scores/{id}`` per id; one result per id, in order.

        204/200 = deleted, 404 = already gone: both ok. 429/5xx/transport errors → ``retryable``
        (with ``retry_after``), other 4xx → not retryable, like :meth:`write_scores`. Raises
        :class:`AuthError` on 401/403.
        """
        return self._scores.delete(ids)

    def read_scores(self, ids: Iterable[str]) -> dict[str, Score]:
        """Scores by id (``/v3/scores?id=…`` in chunks of 50); ids not (yet) readable are absent."""
        return self._scores.read(ids)

    def iter_scores(
        self,
        *,
        names: Sequence[str] | None = None,
        since: datetime | None = None,
        source: str | None = None,
    ) -> Iterator[Score]:
        """Every readable score, optionally by name / newer than ``since`` / by source."""
        return self._scores.every(names=names, since=since, source=source)

    # ------------------------------------------------------------------ AnnotationQueues

    def iter_annotation_queues(self) -> Iterator[AnnotationQueue]:
        return self._project.queues()

    def create_annotation_queue(
        self, name: str, *, description: str, score_config_ids: Sequence[str]
    ) -> AnnotationQueue:
        return self._project.create_queue(name, description=description, score_config_ids=score_config_ids)

    def iter_annotation_queue_items(self, queue_id: str) -> Iterator[AnnotationQueueItem]:
        return self._project.queue_items(queue_id)

    def add_annotation_queue_item(
        self, queue_id: str, *, object_id: str, object_type: str
    ) -> AnnotationQueueItem:
        return self._project.add_queue_item(queue_id, object_id=object_id, object_type=object_type)

    def complete_annotation_queue_item(self, queue_id: str, item_id: str) -> None:
        self._project.complete_queue_item(queue_id, item_id)

    # ------------------------------------------------------------------ Datasets

    def dataset_exists(self, name: str) -> bool:
        return self._project.dataset_exists(name)

    def create_dataset(self, name: str, *, description: str, metadata: Mapping[str, Any]) -> None:
        self._project.create_dataset(name, description=description, metadata=metadata)

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
        self._project.upsert_dataset_item(
            dataset_name,
            item_id=item_id,
            input=input,
            expected_output=expected_output,
            metadata=metadata,
            source_trace_id=source_trace_id,
            source_observation_id=source_observation_id,
        )

    # ------------------------------------------------------------------ TraceLinks

    def project_id(self) -> str | None:
        """The Langfuse project of the keys (``GET /projects``), for trace links; None if unknown."""
        return self._project.project_id()
