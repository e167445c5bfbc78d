"""The campaign service the review form talks to: leases, answers, skips, Back, progress.

Everything on a reviewer's request path is local: the next items are fetched from the source
*ahead* of the reviewer by a small thread pool (and cached), and answers go to the SQLite outbox,
which a background worker drains. So a slow backend never slows the form down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from hitl_pipeline.campaign.consensus import ConsensusManager
from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.campaign.types import Assignment, OtherAnswer, Progress
from hitl_pipeline.db import Database, locks
from hitl_pipeline.errors import AlreadyAnsweredError, CampaignError, HitlError, SourceError
from hitl_pipeline.model import Item, ItemRef, ScoreConfig
from hitl_pipeline.model.clock import Clock, utcnow
from hitl_pipeline.scoring.answers import output_text, validate_answers
from hitl_pipeline.scoring.outbox import OutboxWorker
from hitl_pipeline.scoring.outbox_store import OutboxEntry
from hitl_pipeline.scoring.scores import build_scores, item_environment, outbox_entries
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.model import ReviewSpec

#: Items fetched in one call ahead of the reviewers, with a batched source (see ``prefetch_batch``).
PREFETCH_BATCH = 50

log = logging.getLogger(__name__)

#: A running service's presence on its campaign: lease ``server:<holder>`` (see Presence).
SERVER_LOCK_PREFIX = "server:"


class Presence:
    """A review server's lease on its campaign (``server:<holder>``), renewed every ``every``
    seconds by a thread; gone ``ttl`` seconds after the process dies (at once on this machine)."""

    def __init__(self, db: Database, *, ttl: float = 30.0, every: float = 10.0) -> None:
        self.db = db
        self.ttl = ttl
        self.every = every
        self.name = SERVER_LOCK_PREFIX + locks.new_holder()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hitl-presence", daemon=True)

    def _renew(self) -> None:
        locks.acquire(self.db, self.name, self.name, self.ttl, f"hitl run, {locks.describe_process()}")

    def start(self) -> Presence:
        self._renew()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self._renew()
            except Exception:  # the next round retries; reviewing goes on
                log.exception("could not renew this server's presence on the campaign")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        try:
            locks.release(self.db, self.name, self.name)
        except Exception:
            log.exception("could not withdraw this server's presence from the campaign")


class CampaignService:
    """Implements :class:`hitl_pipeline.campaign.types.ReviewService` on a :class:`CampaignState`.

    Args:
        spec: the campaign's spec.
        state: its durable state (queue already stored).
        source: where items are read from (and scores written to, by the outbox worker).
        configs: question score name → resolved score config.
        clock: the time source (inject one in tests to expire leases).
        git_commit: the spec's git commit, recorded on every score.
        prefetch_depth: how many upcoming items to keep fetched ahead of each reviewer.
        prefetch_batch: with a source that fetches many items in one call (``get_items``, the
            Langfuse backend: one request for the observations and one for the scores of up to
            100 items), how many upcoming items to fetch at once whenever fewer than
            ``prefetch_depth`` are ready ahead of a reviewer — so reads cost a few requests per
            batch, not two per reviewed item.
        prefetch_workers: threads fetching items.
        cache_size: items kept in memory.
        worker: the outbox worker to notify after each submission (started by :meth:`start`).
    """

    def __init__(
        self,
        spec: ReviewSpec,
        state: CampaignState,
        source: Source,
        configs: Mapping[str, ScoreConfig],
        *,
        clock: Clock = utcnow,
        git_commit: str | None = None,
        prefetch_depth: int = 4,
        prefetch_batch: int = PREFETCH_BATCH,
        prefetch_workers: int = 4,
        cache_size: int = 256,
        worker: OutboxWorker | None = None,
    ) -> None:
        self.spec = spec
        self.state = state
        self.source = source
        self.configs = dict(configs)
        self.clock = clock
        self.git_commit = git_commit
        self.prefetch_depth = prefetch_depth
        self.cache_size = cache_size
        self._batched = callable(getattr(source, "get_items", None))
        self.prefetch_batch = (
            max(prefetch_depth + 1, min(prefetch_batch, cache_size // 2)) if self._batched else 0
        )
        self.worker = worker
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, prefetch_workers), thread_name_prefix="hitl-prefetch"
        )
        self._cache: OrderedDict[str, Future[Item]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._opened: dict[tuple[str, str], datetime] = {}
        #: Item key → its subject's environment, recorded whenever an item is loaded (every score
        #: carries it; the items themselves may leave the cache).
        self._environments: dict[str, str | None] = {}
        self._score_names = list(spec.display.scores) or None
        self._needs_output = any(q.type == "correction" for q in spec.questions)
        self._closed = False
        self._presence: Presence | None = None
        self._source_health: tuple[float, str] | None = None
        #: Longest a request waits for an item being fetched (then SourceError; a retry refetches).
        self.fetch_timeout = 120.0
        #: The campaign's spec version (part of every score id), from the state.
        self.spec_version = state.meta().spec_version
        #: Langfuse annotation queue the campaign is mirrored into (campaign.annotation_queue), if any:
        #: every score then carries its id (queueId).
        self.queue_id: str | None = None
        self.queue_mirror: Any = None
        # Consensus and adjudication (hitl_pipeline.campaign.consensus) hook in at three points:
        # open_next (adjudications first), submit (adjudicator answers; decide once complete), skip.
        # Last: it decides the items still undecided right away, with the attributes above.
        self.consensus = self.consensus_manager() if spec.consensus.enabled else None
        # Gold items (hitl_pipeline.quality): qualification rounds and honeypots hook in at open_next
        # (a gold item when due), submit (graded, kept apart), skip and progress (a blocked reviewer's note).
        self.quality: Any = None
        if spec.quality is not None and (spec.quality.qualification or spec.quality.honeypots):
            from hitl_pipeline.quality.manager import QualityManager

            self.quality = QualityManager(
                spec,
                state,
                source,
                configs=self.configs,
                clock=clock,
                reviewers_per_item=spec.review.reviewers_per_item,
                spec_version=self.spec_version,
                git_commit=git_commit,
                notify=self._notify_worker,
            )
        # Adaptive overlap (review.reviewers_per_item as a range): decides after each answer whether
        # the item needs another reviewer (hitl_pipeline.quality.overlap).
        self.overlap: Any = None
        if spec.review.adaptive is not None:
            from hitl_pipeline.quality.overlap import AdaptiveOverlapPolicy

            self.overlap = AdaptiveOverlapPolicy(spec, state, source)

    def consensus_manager(self) -> ConsensusManager:
        """A consensus manager on this service's state, items and score context (it decides the
        complete items still undecided right away)."""
        return ConsensusManager(
            self.spec,
            self.state,
            self,
            configs=self.configs,
            spec_version=self.spec_version,
            git_commit=self.git_commit,
            clock=self.clock,
            queue_id=lambda: self.queue_id,
            notify=self._notify_worker,
        )

    def _notify_worker(self) -> None:
        if self.worker is not None:
            self.worker.notify()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        """Distinct reviewers each item needs."""
        return self.spec.review.reviewers_per_item

    def start(self) -> CampaignService:
        """Start the outbox worker (if any) and prefetch the head of the queue; the service shows
        itself live on the campaign (a lease renewed while it runs) so that no other process
        archives the state under it."""
        self._presence = Presence(self.state.db).start()
        if self.worker is not None:
            self.worker.start()
        self.prefetch(self.state.peek_next("", self.n, self.clock(), self.prefetch_depth))
        return self

    def close(self) -> None:
        """Stop the prefetch pool and the outbox worker, waiting for their calls in flight, so the
        source can be closed right after (the outbox stays durable for the next run)."""
        if self._closed:
            return
        self._closed = True
        # Wait for fetches already running: the caller closes the source next, and closing a
        # SQLite connection another thread is using crashes the interpreter. Queued ones are dropped.
        self._pool.shutdown(wait=True, cancel_futures=True)
        # Fetches cancelled with the pool never resolve their futures: fail them, so no request
        # thread waits forever on an item.
        with self._cache_lock:
            pending = [f for f in self._cache.values() if not f.done()]
        for future in pending:
            try:
                future.set_exception(SourceError("the campaign was closed while this item was being fetched"))
            except InvalidStateError:  # resolved meanwhile
                pass
        if self.queue_mirror is not None:
            self.queue_mirror.stop()
        if self.worker is not None:
            self.worker.stop()
        if self._presence is not None:
            self._presence.stop()

    def __enter__(self) -> CampaignService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- items ----------------------------------------------------------------------------------

    def _fetch(self, ref: ItemRef) -> Item:
        if ref.kind == "pair":
            return self._fetch_many([ref])[0]
        return self.source.get_item(ref, score_names=self._score_names)

    def _fetch_many(self, refs: list[ItemRef]) -> list[Item]:
        if self.spec.target == "pair":  # both traces of each pair (campaign/pairs.py)
            from hitl_pipeline.campaign.pairs import fetch_pair_items

            return fetch_pair_items(self.spec, self.source, refs, score_names=self._score_names)
        get_items = self.source.get_items  # type: ignore[attr-defined]
        return list(get_items(refs, score_names=self._score_names))

    def prefetch(self, keys: list[str]) -> None:
        """Start fetching these items in the background (no-op for cached ones).

        A source with a batched ``get_items(refs)`` (the Langfuse backend) gets one call for all of
        them, saving round trips; otherwise each item is one ``get_item`` call on the pool.
        """
        if self._closed:
            return
        todo: list[tuple[ItemRef, Future[Item]]] = []
        for key in keys:
            with self._cache_lock:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    continue
            row = self.state.item(key)
            if row is None:
                continue
            with self._cache_lock:
                if key in self._cache:
                    continue
                future: Future[Item] = Future()
                self._cache[key] = future
                todo.append((row.ref, future))
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        if not todo:
            return
        batched = self._batched and len(todo) > 1
        jobs = [todo] if batched else [[job] for job in todo]
        for job in jobs:
            try:
                self._pool.submit(self._fetch_into, job)
            except RuntimeError:  # pool shut down: let a later request fetch synchronously
                with self._cache_lock:
                    for ref, fut in job:
                        if self._cache.get(ref.key) is fut:
                            del self._cache[ref.key]
                return

    def _fetch_into(self, job: list[tuple[ItemRef, Future[Item]]]) -> None:
        # Not background work for the request budget: reviewers wait for these items (a reviewer's
        # next item goes before write-back, confirmations and the queue mirror).
        try:
            if len(job) == 1:
                items = [self._fetch(job[0][0])]
            else:
                items = self._fetch_many([ref for ref, _ in job])
            for (_, fut), item in zip(job, items, strict=True):
                try:
                    fut.set_result(item)
                except InvalidStateError:  # failed by close() meanwhile
                    pass
        except BaseException as e:  # delivered to whoever waits for the item; a retry refetches
            for ref, fut in job:
                if not fut.done():
                    fut.set_exception(e)
                self._forget(ref.key, fut)  # not cached: a later prefetch or request fetches again

    def item(self, key: str) -> Item:
        """The item in full: from the prefetch cache, else fetched now.

        A failed fetch is never kept: a prefetch that failed (the server was down when it ran) is
        forgotten and the item fetched again now, so an outage that is over does not reach the
        reviewer; a fetch on this request that fails raises, and the next request fetches again.
        """
        with self._cache_lock:
            future = self._cache.get(key)
            if future is not None:
                self._cache.move_to_end(key)
        if future is not None:
            try:
                return self._resolved(key, future)
            except Exception:
                if self._closed:
                    raise
                log.info("prefetched %s failed; fetching it again", key)
        row = self._row(key)
        future = Future()
        try:
            future.set_result(self._fetch(row.ref))
        except Exception as e:  # raised below like a prefetch's failure, saying what and where
            future.set_exception(e)
        with self._cache_lock:
            self._cache[key] = future
        return self._resolved(key, future)

    def _resolved(self, key: str, future: Future[Item]) -> Item:
        """The item of ``future`` (waiting for it); a failure is removed from the cache and raised
        saying what and where."""
        try:
            item = future.result(timeout=self.fetch_timeout)
            self._environments[key] = item_environment(item)
            return item
        except HitlError:
            self._forget(key, future)
            raise
        except Exception as e:
            self._forget(key, future)
            message = f"could not load {key} from the {self.source.name} source: {e}"
            raise SourceError(message) from e

    def _forget(self, key: str, future: Future[Item]) -> None:
        with self._cache_lock:
            if self._cache.get(key) is future:
                del self._cache[key]

    def environment_of(self, key: str) -> str | None:
        """The environment of the item's subject (written on its scores): known once the item was
        loaded (the reviewer saw it), else the item is loaded now."""
        if key not in self._environments:
            self.item(key)
        return self._environments.get(key)

    def _prefetch_for(self, reviewer: str) -> None:
        """Keep ``prefetch_depth`` items ready ahead of the reviewer; with a batched source, top up
        a whole ``prefetch_batch`` at once when they run short (one call, a few requests)."""
        try:
            now = self.clock()
            keys = self.state.peek_next(reviewer, self.n, now, self.prefetch_depth + 1)
            if self.prefetch_batch:
                with self._cache_lock:
                    short = any(k not in self._cache for k in keys)
                if short:
                    keys = self.state.peek_next(reviewer, self.n, now, self.prefetch_batch)
            self.prefetch(keys)
        except Exception:  # prefetching is an optimisation: never fail a request because of it
            log.exception("prefetch failed")

    # -- checks ---------------------------------------------------------------------------------

    def _check_reviewer(self, reviewer: str) -> None:
        if not reviewer or not reviewer.strip():
            raise CampaignError("a reviewer name is required; sign in first")
        allowed = self.spec.review.reviewers
        if allowed and reviewer not in allowed and reviewer not in self.spec.review.adjudicators:
            message = (
                f"reviewer {reviewer!r} is not on this campaign's reviewer list "
                f"(review.reviewers in {self.spec.path}); ask the campaign owner to add them"
            )
            raise CampaignError(message)

    def _row(self, key: str) -> Any:
        row = self.state.item(key)
        if row is None:
            raise CampaignError(f"item {key!r} is not in campaign {self.spec.campaign!r}")
        return row

    def _others(self, key: str, reviewer: str) -> tuple[OtherAnswer, ...]:
        if self.spec.review.blind and reviewer not in self.spec.review.adjudicators:
            return ()
        return tuple(
            OtherAnswer(reviewer=r.reviewer, answers=r.answers, comment=r.comment)
            for r in self.state.reviews(item_key=key)
            if r.reviewer != reviewer
        )

    # -- ReviewService --------------------------------------------------------------------------

    def open_next(self, reviewer: str) -> Assignment | None:
        """The reviewer's open item, or lease the next one; None when nothing is left for them."""
        self._check_reviewer(reviewer)
        if self.consensus is not None:
            adjudication = self.consensus.open_next(reviewer)
            if adjudication is not None:
                return adjudication
        notice = ""
        if self.quality is not None:
            gold: Assignment | None
            gold, blocked = self.quality.open_next(reviewer)
            if gold is not None or blocked:
                return gold
            notice = self.quality.take_notice(reviewer)
        now = self.clock()
        expires = now + timedelta(minutes=self.spec.review.lease_minutes)
        got = self.state.lease_next(reviewer, self.n, now, expires)
        if got is None:
            return None
        key, lease_expires = got
        row = self._row(key)
        self.prefetch([key])
        self._prefetch_for(reviewer)
        item = self.item(key)
        self._opened[(reviewer, key)] = now
        return Assignment(
            item_key=key,
            ref=row.ref,
            item=item,
            lease_expires=lease_expires,
            others=self._others(key, reviewer),
            notice=notice,
        )

    def open_item(self, reviewer: str, item_key: str) -> Assignment:
        """Re-open an item the reviewer answered (Back), with their answers pre-filled."""
        self._check_reviewer(reviewer)
        row = self._row(item_key)
        review = self.state.review(item_key, reviewer)
        if review is None:
            current = self.state.current_lease(reviewer, self.clock())
            if current is not None and current[0] == item_key:
                return Assignment(
                    item_key=item_key,
                    ref=row.ref,
                    item=self.item(item_key),
                    lease_expires=current[1],
                    others=self._others(item_key, reviewer),
                )
            raise CampaignError(
                f"{reviewer!r} has not answered {item_key!r}; only answered items can be re-opened"
            )
        self._opened[(reviewer, item_key)] = self.clock()
        return Assignment(
            item_key=item_key,
            ref=row.ref,
            item=self.item(item_key),
            answers=dict(review.answers),
            comment=review.comment,
            others=self._others(item_key, reviewer),
            revisiting=True,
        )

    def previous(self, reviewer: str, before: str | None) -> Assignment | None:
        """The reviewer's answered item just before ``before`` (their latest if None)."""
        self._check_reviewer(reviewer)
        key = self.state.answered_before(reviewer, before)
        return None if key is None else self.open_item(reviewer, key)

    def submit(
        self,
        reviewer: str,
        item_key: str,
        answers: dict[str, Any],
        comment: str | None,
        *,
        edit: bool | None = None,
    ) -> None:
        """Validate and durably store an answer with its outbox rows, in one transaction.

        ``edit``: what the reviewer's screen showed — False for an item opened with Next (a first
        answer), True for one re-opened with Back, None when unknown (any). A first answer to an
        item the reviewer has answered meanwhile (in another tab, or on another server) is refused:
        it would silently replace the answer they were told was saved.

        Raises:
            ScoreValidationError: an answer is missing or breaks its question / score config.
            CampaignError: the reviewer may not answer this item (not leased to them, lease lost,
                already answered in another tab).
        """
        self._check_reviewer(reviewer)
        if self._submit_elsewhere(reviewer, item_key, answers, comment):
            return
        row = self._row(item_key)
        now = self.clock()
        # The lease first: an answer committed in between (another tab) removes the lease and adds the
        # review in one transaction, so one of the two is seen.
        lease = self.state.lease_of(item_key, reviewer)
        existing = self.state.review(item_key, reviewer)
        if existing is None and lease is None:
            message = f"{item_key!r} is not assigned to {reviewer!r}; open it with Next before answering"
            raise CampaignError(message)
        normalised, text = self.validate(item_key, answers, comment)
        stamp = existing.created_at if existing is not None else now
        entries = self._outbox_entries_for(row.ref, item_key, reviewer, normalised, text, stamp)
        duration = self._answer_duration(reviewer, item_key, lease, now)
        # The answer and the consensus it completes or changes commit together: a crash between
        # them could otherwise leave an edited item with the consensus of its old answers.
        with self.state.transaction() as tx:
            # One reviewer's requests one at a time (tabs, servers); the item's row held while it fills.
            self.state.lock_reviewer(tx, reviewer)
            self.state.lock_item(tx, item_key)
            self._check_still_answerable(
                reviewer, item_key, edit=edit, first=existing is None, lease=lease, now=now
            )
            self.state.record_submission(
                item_key=item_key,
                reviewer=reviewer,
                answers=normalised,
                comment=text,
                now=now,
                duration_s=duration,
                entries=entries,
            )
            self._on_submitted(item_key)
        if self.worker is not None:
            self.worker.notify()
            self._flush_if_finished()
        self._prefetch_for(reviewer)

    def _submit_elsewhere(
        self, reviewer: str, item_key: str, answers: dict[str, Any], comment: str | None
    ) -> bool:
        """Hand the answer to adjudication or a gold check when the item is one of theirs: whether it was."""
        if self.consensus is not None and self.consensus.is_adjudicating(reviewer, item_key):
            self.consensus.submit(reviewer, item_key, answers, comment)
            return True
        if self.quality is not None and self.quality.is_gold(reviewer, item_key):
            self.quality.submit(reviewer, item_key, answers, comment)
            return True
        return False

    def _outbox_entries_for(
        self,
        ref: ItemRef,
        item_key: str,
        reviewer: str,
        normalised: dict[str, Any],
        text: str | None,
        stamp: datetime,
    ) -> list[OutboxEntry]:
        """The scores of a validated answer, as the outbox rows stored with it."""
        scores = build_scores(
            self.spec,
            ref,
            reviewer,
            normalised,
            text,
            self.configs,
            timestamp=stamp,
            git_commit=self.git_commit,
            spec_version=self.spec_version,
            queue_id=self.queue_id,
            environment=self.environment_of(item_key),
        )
        return outbox_entries(scores)

    def _answer_duration(
        self, reviewer: str, item_key: str, lease: tuple[datetime, datetime] | None, now: datetime
    ) -> float | None:
        """Seconds since the reviewer opened the item (or was leased it), None when unknown."""
        opened = self._opened.pop((reviewer, item_key), None) or (lease[0] if lease else None)
        return max(0.0, (now - opened).total_seconds()) if opened else None

    def _check_still_answerable(
        self,
        reviewer: str,
        item_key: str,
        *,
        edit: bool | None,
        first: bool,
        lease: tuple[datetime, datetime] | None,
        now: datetime,
    ) -> None:
        """With the write lock held: refuse an answer another tab made stale, or an expired lease's
        first answer once the item went to other reviewers (CampaignError)."""
        if edit is False and self.state.review(item_key, reviewer) is not None:
            message = (
                f"you have already answered {item_key!r} (in another tab or window): that answer is kept "
                "and this one was not saved — go Back to change it"
            )
            raise AlreadyAnsweredError(message)
        if first and lease is not None and lease[1] <= now:
            # A first answer on an expired lease only counts while the item still has room (another
            # reviewer may have taken the slot meanwhile).
            taken = self._row(item_key).done + self.state.active_leases(item_key, now, excluding=reviewer)
            if taken >= self.n and self.state.review(item_key, reviewer) is None:
                message = (
                    f"your lease on {item_key!r} expired and the item went to other reviewers; "
                    "your answer was not saved — press Next for a new item"
                )
                raise CampaignError(message)

    def _on_submitted(self, item_key: str) -> None:
        """Let consensus and overlap follow an answer, inside its transaction."""
        if self.consensus is not None:
            self.consensus.on_submitted(item_key)
        if self.overlap is not None:
            self.overlap.on_submitted(item_key)

    def _flush_if_finished(self) -> None:
        """No item left to hand out to anyone: the answers still to come are those of the items
        leased now, so the worker sends and confirms what waits at once instead of holding it."""
        worker = self.worker
        if worker is None:
            return
        try:
            if not self.state.peek_next("", self.n, self.clock(), 1):
                worker.flush_soon()
        except Exception:  # a hint to the worker: never fail a submission because of it
            log.exception("checking whether the queue is finished failed")

    def validate(
        self, item_key: str, answers: Mapping[str, Any], comment: str | None
    ) -> tuple[dict[str, Any], str | None]:
        """:func:`~hitl_pipeline.scoring.answers.validate_answers` against this item (a correction
        must change its output): (normalised answers, comment), or ScoreValidationError."""
        original = output_text(self.item(item_key)) if self._needs_output else None
        return validate_answers(self.spec, self.configs, answers, comment, original_output=original)

    def skip(self, reviewer: str, item_key: str) -> None:
        """Release the lease; the item comes back after the others, or goes to another reviewer."""
        self._check_reviewer(reviewer)
        if self.consensus is not None and self.consensus.is_adjudicating(reviewer, item_key):
            self.consensus.release(reviewer, item_key)
            return
        if self.quality is not None and self.spec.review.allow_skip and self.quality.skip(reviewer, item_key):
            return
        if not self.spec.review.allow_skip:
            raise CampaignError(
                f"skipping is turned off for campaign {self.spec.campaign!r} (review.allow_skip)"
            )
        self._row(item_key)
        if self.state.review(item_key, reviewer) is not None:
            raise CampaignError(
                f"{item_key!r} is already answered by {reviewer!r}; use Back to change the answer"
            )
        self.state.skip(item_key, reviewer, self.clock())
        self._opened.pop((reviewer, item_key), None)
        self._prefetch_for(reviewer)

    def health(self) -> dict[str, str]:
        """Whether this server can serve: the state database answers, the source answers (checked at
        most every 5 s: a load balancer polls often), the outbox worker runs. "ok" or the error."""
        out: dict[str, str] = {}
        try:
            self.state.db.scalar("SELECT 1")
            out["state"] = "ok"
        except Exception as e:  # reported, not raised: the caller answers 503
            out["state"] = f"unreachable ({type(e).__name__})"
        now = time.monotonic()
        if self._source_health is None or now - self._source_health[0] > 5.0:
            try:
                self.source.get_score_config("hitl-healthz")  # cheap, authenticated, usually "not found"
                verdict = "ok"
            except Exception as e:
                verdict = f"unreachable ({type(e).__name__})"
            self._source_health = (now, verdict)
        out["source"] = self._source_health[1]
        if self.worker is not None:
            out["outbox"] = "ok" if self.worker.running else "stopped"
        return out

    def progress(self, reviewer: str) -> Progress:
        """Where the reviewer and the campaign stand."""
        items, complete, reviews = self.state.item_counts(self.n)
        done, remaining = self.state.reviewer_counts(reviewer, self.n)
        return Progress(
            reviewer=reviewer,
            reviewer_done=done,
            campaign_done=reviews,
            # Adaptive overlap: the review slots decided so far, not items × the maximum.
            campaign_total=self.overlap.total_slots() if self.overlap is not None else items * self.n,
            items_total=items,
            items_complete=complete,
            reviewer_remaining=remaining,
            note=self.quality.blocked_note(reviewer) if self.quality is not None else "",
        )
