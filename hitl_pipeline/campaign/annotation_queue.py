"""Mirror a campaign into a Langfuse annotation queue (spec ``langfuse.annotation_queue: true``).

So the campaign is visible in Langfuse's own UI: a queue named after the campaign, with the
questions' score configs, holding the campaign's items; an item is marked COMPLETED once it has
all its reviews *and* every one of its scores was confirmed by reading it back; the scores carry
the queue id (``queueId``).

Langfuse does not deduplicate queue items (the same trace can be added twice), so this module
remembers which items it added in the campaign database (table ``annotation_queue_items``) and,
on a fresh state, first lists the queue's items to adopt those already there.
Only a source with annotation queues (:class:`~hitl_pipeline.sources.base.AnnotationQueues`: the
Langfuse source) has them; for other sources :func:`attach_queue_mirror` does nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hitl_pipeline.db import now_us
from hitl_pipeline.errors import ConfigError
from hitl_pipeline.model import AnnotationQueueItem
from hitl_pipeline.sources.base import AnnotationQueues, Source
from hitl_pipeline.sources.budget import background
from hitl_pipeline.spec.model import ReviewSpec

if TYPE_CHECKING:
    from hitl_pipeline.campaign.service import CampaignService
    from hitl_pipeline.campaign.state import CampaignState

log = logging.getLogger(__name__)

# The table (annotation_queue_items) is in the campaign database's migrations (campaign/state/schema.py).

_OBJECT_TYPE = {"trace": "TRACE", "observation": "OBSERVATION", "session": "SESSION"}


@dataclass(frozen=True)
class QueueSync:
    """What one :meth:`QueueMirror.sync` did."""

    queue_id: str
    added: int
    adopted: int
    completed: int


class QueueMirror:
    """Keeps one campaign's Langfuse annotation queue in step with its state.

    Args:
        spec: the campaign spec.
        state: the campaign state (items, reviews, outbox).
        source: a source with annotation queues (:class:`~hitl_pipeline.sources.base.AnnotationQueues`).
        config_ids: the score config ids of the questions (the queue needs at least one).
        n: reviews each item needs before it can be completed.
    """

    def __init__(
        self, spec: ReviewSpec, state: CampaignState, source: Source, config_ids: list[str], *, n: int
    ) -> None:
        if not isinstance(source, AnnotationQueues):
            raise ConfigError(f"the {source.name} source has no annotation queues (use --source langfuse)")
        if not config_ids:
            raise ConfigError(
                f"campaign {spec.campaign!r}: a Langfuse annotation queue needs at least one score config; "
                "add a question with a score config or set langfuse.annotation_queue: false"
            )
        self.spec = spec
        self.state = state
        self.source: AnnotationQueues = source
        self.config_ids = config_ids
        self.n = n
        self.queue_id: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def queue_name(self) -> str:
        """The queue's name in Langfuse: the campaign id."""
        return self.spec.campaign

    def ensure_queue(self) -> str:
        """The id of the campaign's queue, created when missing."""
        if self.queue_id is not None:
            return self.queue_id
        for q in self.source.iter_annotation_queues():
            if q.name == self.queue_name:
                self.queue_id = q.id
                return self.queue_id
        created = self.source.create_annotation_queue(
            self.queue_name, description=f"hitl campaign: {self.spec.title}", score_config_ids=self.config_ids
        )
        self.queue_id = created.id
        return self.queue_id

    def _known(self) -> dict[str, tuple[str, str | None]]:
        rows = self.state.db.query("SELECT item_key, queue_item_id, completed_at FROM annotation_queue_items")
        return {r[0]: (r[1], r[2]) for r in rows}

    def add_items(self) -> tuple[int, int]:
        """Add every campaign item not yet in the queue, once. Returns (added, adopted)."""
        queue_id = self.ensure_queue()
        known = self._known()
        todo = [row for row in self.state.items() if row.key not in known]
        if not todo:
            return 0, 0
        # Items already in the queue (another machine, a lost state): adopt them, do not add twice.
        existing: dict[tuple[str, str], AnnotationQueueItem] = {}
        for it in self.source.iter_annotation_queue_items(queue_id):
            existing.setdefault((it.object_type, it.object_id), it)
        added = adopted = 0
        for row in todo:
            if self._stop.is_set():  # the service is closing (the rest is added at its next start)
                break
            kind = _OBJECT_TYPE[row.ref.kind]
            found = existing.get((kind, row.ref.id))
            if found is not None:
                adopted += 1
                item_id = found.id
                done_at = now_us() if found.status == "COMPLETED" else None
            else:
                created = self.source.add_annotation_queue_item(
                    queue_id, object_id=row.ref.id, object_type=kind
                )
                added += 1
                item_id, done_at = created.id, None
            with self.state.transaction() as c:
                # Recorded right after each add: a crash between two adds never re-adds the first.
                c.execute(
                    "INSERT INTO annotation_queue_items (item_key, queue_id, queue_item_id, completed_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (item_key) DO NOTHING",
                    (row.key, queue_id, item_id, done_at),
                )
        return added, adopted

    def ready_to_complete(self) -> list[tuple[str, str]]:
        """(item key, queue item id) of items with all reviews whose scores are all confirmed."""
        rows = self.state.db.query(
            """SELECT a.item_key, a.queue_item_id FROM annotation_queue_items a
               JOIN items i ON i.key = a.item_key
               WHERE a.completed_at IS NULL AND i.done >= ?
               AND EXISTS (SELECT 1 FROM outbox o WHERE o.item_key = a.item_key)
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.item_key = a.item_key
                               AND o.status != 'confirmed')
               ORDER BY i.position""",
            (self.n,),
        )
        return [(r[0], r[1]) for r in rows]

    def complete_confirmed(self) -> int:
        """Mark COMPLETED every queue item whose campaign item is done and confirmed."""
        queue_id = self.ensure_queue()
        done = 0
        for key, item_id in self.ready_to_complete():
            self.source.complete_annotation_queue_item(queue_id, item_id)
            with self.state.transaction() as c:
                c.execute(
                    "UPDATE annotation_queue_items SET completed_at = ? WHERE item_key = ?",
                    (now_us(), key),
                )
            done += 1
        return done

    def sync(self) -> QueueSync:
        """Ensure the queue, add new items once, complete the confirmed ones."""
        with self._lock:
            self.ensure_queue()
            added, adopted = self.add_items()
            completed = self.complete_confirmed()
        assert self.queue_id is not None
        return QueueSync(self.queue_id, added, adopted, completed)

    # -- background completion while the review server runs ----------------------------------------

    def start(self, interval: float = 10.0) -> QueueMirror:
        """In a background thread: add the items not yet in the queue (one request each: not on
        the review server's start-up path), then complete confirmed items every ``interval`` seconds."""

        def run() -> None:
            with background():  # the mirror's requests yield to a reviewer's (request budget)
                loop()

        def loop() -> None:
            added = False
            while True:
                try:
                    with self._lock:
                        if not added:
                            self.add_items()
                            added = True
                        self.complete_confirmed()
                except Exception:  # the next round retries; reviewing must not stop for this
                    log.exception("annotation queue %s: adding or completing items failed", self.queue_name)
                if self._stop.wait(interval):
                    return

        self._thread = threading.Thread(target=run, name="hitl-annotation-queue", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(5)


def attach_queue_mirror(service: CampaignService, *, background: bool = True) -> QueueMirror | None:
    """Set up the queue mirror of a campaign whose spec asks for one (Langfuse source only).

    Finds or creates the queue now and sets ``service.queue_id``, so every new score carries
    ``queueId``. With ``background``, the items are added and the confirmed ones completed by a
    thread while the service runs (``service.close()`` stops it); else they are synced now.
    Returns None when the spec does not ask for a queue or the source has none.
    """
    spec = service.spec
    if not spec.langfuse.annotation_queue:
        return None
    if not isinstance(service.source, AnnotationQueues):
        log.info("campaign %s: annotation queues exist only in Langfuse; not mirrored", spec.campaign)
        return None
    config_ids = [service.configs[q.score].id for q in spec.questions if q.score in service.configs]
    mirror = QueueMirror(spec, service.state, service.source, config_ids, n=service.n)
    if background:
        service.queue_id = mirror.ensure_queue()
        mirror.start()
    else:
        service.queue_id = mirror.sync().queue_id
    service.queue_mirror = mirror
    return mirror


def sync_queue(spec: ReviewSpec, state: CampaignState, source: Source) -> QueueSync | None:
    """``hitl sync``'s queue step: add missing items and complete the confirmed ones (or None)."""
    if not spec.langfuse.annotation_queue or not isinstance(source, AnnotationQueues):
        return None
    configs = state.load_configs()
    config_ids = [configs[q.score].id for q in spec.questions if q.score in configs]
    return QueueMirror(spec, state, source, config_ids, n=spec.review.reviewers_per_item).sync()
