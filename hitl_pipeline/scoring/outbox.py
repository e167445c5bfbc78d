"""Drain a campaign's score outbox to the source, then confirm each score by reading it back.

Why read back: Langfuse answers 200 to a score that breaks its config and drops it later, silently
(the config checks run afterwards in its ingestion worker; seen on Langfuse v3.225 and v4.16). A score is only *confirmed* when it is seen again with the same id, name and
value. Until then it is *not visible yet* (status ``sent``): Langfuse takes from seconds to ~10
minutes to show a score, so it is read again on a bounded schedule (first after ``first_check``,
then after as long as it has waited, at most every ``check_cap`` seconds, sent rows due soon read
along in the same request) until ``confirm_timeout`` (default 10 minutes) has passed since it was
sent; only then is it flagged ``dropped``. A running drainer still looks at dropped rows now and
then (every ``recheck_dropped`` seconds, for an hour after sending): a late arrival is confirmed.

Delivery is at-least-once on the wire and exactly-once in effect: score ids are deterministic, and
re-sending an id with the same name replaces the score. So the drain is crash-safe without a
two-phase protocol: after a restart, rows that were ``sent`` but not confirmed are read back first
and re-sent if missing.

Retryable failures (429, 5xx, transport) wait with exponential backoff and jitter, capped at a few
seconds so that the end of an outage is noticed within seconds, or the server's ``Retry-After``
(honoured up to a minute); other refusals (4xx) are recorded as ``failed`` with the server's message.

A row whose question was withdrawn after its score may have reached the source (an edit made the
question's ``when`` false) is a *delete*: it goes out through ``Source.delete_scores`` under the
same rules, and is confirmed when reading its id back finds nothing.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hitl_pipeline.db import locks
from hitl_pipeline.errors import HitlError
from hitl_pipeline.model import CORRECTION_SCORE_NAME, Score, WriteResult
from hitl_pipeline.model.clock import Clock, utcnow
from hitl_pipeline.scoring.outbox_store import OutboxRow, OutboxStore
from hitl_pipeline.scoring.scores import score_from_json
from hitl_pipeline.sources.base import Source
from hitl_pipeline.sources.budget import background

log = logging.getLogger(__name__)

#: The lease that makes one process the drainer of a campaign's outbox (hitl run, or hitl sync).
DRAIN_LOCK = "outbox-drainer"
#: Seconds the claim lasts without renewal (a drainer killed with -9 is replaced after this).
DRAIN_LEASE_TTL = 30.0


@dataclass
class DrainReport:
    """What one drain did, and what is left. Counts are rows (= scores)."""

    total: int = 0  # rows to send or confirm when the drain started
    sent: int = 0
    confirmed: int = 0
    failed: int = 0
    dropped: int = 0
    retried: int = 0
    requests: int = 0
    read_requests: int = 0
    pending: int = 0  # still waiting to be sent at the end
    unconfirmed: int = 0  # sent, not yet seen, still within the confirmation window
    left_failed: int = 0  # failed rows in the whole outbox at the end (this run's and earlier ones)
    left_dropped: int = 0  # dropped rows in the whole outbox at the end (this run's and earlier ones)
    #: Another process drained the outbox meanwhile (its description): rows are claimed by one
    #: drainer at a time, so this drain waited for it instead of sending them a second time.
    waited_for: str | None = None
    errors: list[str] = field(default_factory=list)  # the latest 100 error messages

    @property
    def done(self) -> bool:
        """True when nothing is left to send or confirm."""
        return self.pending == 0 and self.unconfirmed == 0

    @property
    def left_over(self) -> int:
        """Scores not confirmed at the end, whenever they failed: failed + dropped + pending + unconfirmed."""
        return self.left_failed + self.left_dropped + self.pending + self.unconfirmed


#: How long a sent score may stay invisible before it counts as dropped (Langfuse: seconds to ~10 min).
CONFIRM_TIMEOUT = 600.0
#: The review server's worker flushes once answers have stopped for 1.5× their typical gap, and
#: never sooner than this many seconds after the last one.
WRITE_WINDOW = 1.0
#: While answers keep coming, the worker holds them until 100 scores wait or the oldest has waited
#: this many seconds (the reviewer never waits for write-back: answers are durable in the campaign
#: state before "saved" is shown). Flushed at once when answers stop, the queue is finished, or on stop.
MAX_HOLD = 20.0
#: … and, while answers keep coming, runs at most one read-back round per this many seconds (once
#: answers stop, read-backs run as soon as they are due).
CONFIRM_GAP = 5.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full-range jitter: ``base·2^attempt`` capped, times a factor in [0.5, 1.5).

    The cap is low on purpose: during an outage a retry every ~2 s costs one small request, and the
    end of the outage is noticed within seconds (with a 60 s cap, scores reached the server more
    than a minute after it was back). A server's ``Retry-After`` is honoured up to
    ``max_retry_after`` seconds.
    """

    base: float = 0.25
    cap: float = 2.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        wait = min(self.cap, self.base * (2 ** min(attempt, 30))) * (0.5 + rng.random())
        if retry_after is not None and retry_after > 0:
            # The server's word wins, a little jitter avoids every client coming back at once.
            wait = min(self.max_retry_after, retry_after) * (1 + 0.1 * rng.random())
        return float(wait)


def value_matches(score: Score, payload: dict[str, Any]) -> bool:
    """Is the stored ``score`` the one we sent (same name and value)? A correction is stored under
    ``output`` whatever name it was sent with (rows queued before corrections were sent so)."""
    if score.name != payload["name"] and not (
        payload.get("data_type") == "CORRECTION" and score.name == CORRECTION_SCORE_NAME
    ):
        return False
    want = payload["value"]
    if isinstance(want, str):
        return want in (score.value, score.string_value)
    got = score.value
    if isinstance(got, bool):
        got = 1.0 if got else 0.0
    if isinstance(got, str):
        try:
            got = float(got)
        except ValueError:
            return False
    if got is None:
        return False
    return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-9)


class Drainer:
    """One campaign's outbox against one source. :meth:`step` does one round of work."""

    def __init__(
        self,
        state: OutboxStore,
        source: Source,
        *,
        batch_size: int = 100,
        confirm_timeout: float = CONFIRM_TIMEOUT,
        backoff: Backoff | None = None,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        first_check: float = 0.5,
        check_cap: float = 10.0,
        recheck_dropped: float = 60.0,
        late_window: float = 3600.0,
    ) -> None:
        self.first_check = first_check
        self.check_cap = check_cap
        self.recheck_dropped = recheck_dropped
        self.late_window = late_window
        self._next_dropped_check = clock() + timedelta(seconds=recheck_dropped)
        self._next_confirm = clock()
        #: Score ids whose last send broke after it went out (maybe stored): read back before resending.
        self._unsure: set[str] = set()
        self.state = state
        self.source = source
        self.batch_size = batch_size
        self.confirm_timeout = confirm_timeout
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.rng = rng or random.Random()
        self.report = DrainReport()
        #: This drainer's id in the outbox's claim (one drainer per campaign at a time).
        self.holder = locks.new_holder()
        self._held_until = 0.0  # time.monotonic() until which this drainer surely holds the claim

    def _note(self, error: str) -> None:
        # Keep the latest errors only: a review server runs for days.
        self.report.errors.append(error)
        del self.report.errors[:-100]

    def claim(self, who: str) -> locks.Held | None:
        """Take or renew the outbox's claim (``DRAIN_LOCK``); None when this drainer holds it, else
        the other holder. Only the holder sends, so two processes never send a row twice.
        Renewed in the database only once half the lease has run (not on every round)."""
        if self._held_until > time.monotonic() + DRAIN_LEASE_TTL / 2:
            return None
        held = locks.acquire(
            self.state.db, DRAIN_LOCK, self.holder, DRAIN_LEASE_TTL, f"{who}, {locks.describe_process()}"
        )
        if held is None:
            self._held_until = time.monotonic() + DRAIN_LEASE_TTL
        return held

    def unclaim(self) -> None:
        self._held_until = 0.0
        locks.release(self.state.db, DRAIN_LOCK, self.holder)

    def recover(self) -> None:
        """After a (re)start: confirm what was sent and is visible; re-queue the rest of ``sent``.

        Rows flagged ``dropped`` earlier are read back too: a late arrival is still confirmed.
        """
        now = self.clock()
        for status in ("sent", "dropped"):
            rows = self.state.outbox(status=status)
            seen = self._read_back(rows)
            self.state.mark([(r.score_id, r.revision) for r in rows if r.score_id in seen], "confirmed", now)
            self.report.confirmed += len(seen)
            if status == "sent":
                missing = [(r.score_id, r.revision) for r in rows if r.score_id not in seen]
                self.state.mark(missing, "pending", now, next_attempt_at=now)

    def send_due(self, *, hold: float = 0.0) -> int:
        """Send one batch of due rows; returns how many rows it handled.

        ``hold`` coalesces: fewer than ``batch_size`` due rows wait until the oldest has been due
        ``hold`` seconds, so the answers of every reviewer in that window go out in one request
        (unless one of them is a retry, which goes out on its backoff schedule).
        """
        now = self.clock()
        rows = self.state.outbox_due(now, self.batch_size)
        if not rows:
            return 0
        # A retry is not held: it keeps its backoff schedule (and takes the waiting rows along).
        if hold > 0 and len(rows) < self.batch_size and not any(r.attempts for r in rows):
            oldest = min(r.next_attempt_at for r in rows)
            if (now - oldest).total_seconds() < hold:
                return 0
        upserts = [r for r in rows if not r.is_delete]
        deletes = [r for r in rows if r.is_delete]
        unsure = [r for r in upserts if r.score_id in self._unsure]
        if unsure:
            # Their last request broke after it went out: the server may have stored them (one
            # score took 13 attempts although the first was stored). Look before sending again.
            self._unsure.difference_update(r.score_id for r in unsure)
            seen = self._read_back(unsure, set())
            if seen:
                self.report.confirmed += self.state.mark(
                    [(r.score_id, r.revision) for r in unsure if r.score_id in seen],
                    "confirmed",
                    self.clock(),
                )
                upserts = [r for r in upserts if r.score_id not in seen]
        if upserts:
            self._send(
                upserts, lambda: self.source.write_scores([score_from_json(r.payload) for r in upserts])
            )
        if deletes:
            self._send(deletes, lambda: self.source.delete_scores([r.score_id for r in deletes]))
        return len(rows)

    def _send(self, rows: Sequence[OutboxRow], request: Callable[[], list[WriteResult]]) -> None:
        """Run one write or delete request for ``rows`` and record each row's outcome."""
        what = "deleting" if rows[0].is_delete else "writing"
        self.report.requests += 1
        try:
            results = request()
        except (HitlError, OSError) as e:
            # The whole request failed in transport: every row is retryable.
            log.warning("%s %d scores failed: %s", what, len(rows), e)
            self._note(str(e))
            self._retry(rows, [None] * len(rows), str(e))
            return
        by_id = {r.id: r for r in results}
        ok: list[tuple[str, int]] = []
        retry: list[OutboxRow] = []
        retry_after: list[float | None] = []
        errors: dict[str, str] = {}
        for row in rows:
            res = by_id.get(row.score_id)
            if res is None:
                retry.append(row)
                retry_after.append(None)
                errors[row.score_id] = "no result for this score in the reply"
            elif res.ok:
                ok.append((row.score_id, row.revision))
            elif res.retryable:
                if res.maybe_stored:
                    self._unsure.add(row.score_id)
                retry.append(row)
                retry_after.append(res.retry_after)
                errors[row.score_id] = res.error or "retryable failure"
            else:
                message = res.error or "refused by the server"
                self.report.failed += self.state.mark(
                    [(row.score_id, row.revision)], "failed", self.clock(), error=message, count_attempt=True
                )
                self._note(message)
        sent_at = self.clock()
        self.report.sent += self.state.mark(
            ok,
            "sent",
            sent_at,
            count_attempt=True,
            next_attempt_at=sent_at + timedelta(seconds=self.first_check),
        )
        for row, after in zip(retry, retry_after, strict=True):
            self._retry([row], [after], errors[row.score_id])

    def _retry(self, rows: Sequence[OutboxRow], after: Sequence[float | None], error: str) -> None:
        now = self.clock()
        for row, retry_after in zip(rows, after, strict=True):
            wait = self.backoff.delay(row.attempts, retry_after, self.rng)
            self.report.retried += self.state.mark(
                [(row.score_id, row.revision)],
                "pending",
                now,
                error=error,
                next_attempt_at=now + timedelta(seconds=wait),
                count_attempt=True,
            )

    def _read_back(self, rows: Sequence[OutboxRow], failed: set[str] | None = None) -> set[str]:
        """Ids among ``rows`` whose effect the source shows: an upsert returned with the value we
        sent, a delete not returned at all. Ids whose read failed (not answered: unknown yet) are
        added to ``failed`` when given."""
        seen: set[str] = set()
        for start in range(0, len(rows), 100):
            chunk = rows[start : start + 100]
            self.report.read_requests += 1
            try:
                found = self.source.read_scores([r.score_id for r in chunk])
            except (HitlError, OSError) as e:
                log.warning("reading back %d scores failed: %s", len(chunk), e)
                self._note(str(e))
                if failed is not None:
                    failed.update(r.score_id for r in chunk)
                continue
            for row in chunk:
                score = found.get(row.score_id)
                if row.is_delete:
                    if score is None:
                        seen.add(row.score_id)
                elif score is not None and value_matches(score, row.payload):
                    seen.add(row.score_id)
        return seen

    def confirm(self, *, final: bool = False, gap: float = 0.0, eager: bool = False) -> None:
        """Read back the ``sent`` rows that are due: seen → confirmed; unseen → *not visible yet*
        (read again later) until ``confirm_timeout`` has passed since sending → dropped.

        A row is first read ``first_check`` seconds after it was sent, then again after as long as
        it has been waiting (doubling, capped at ``check_cap``): Langfuse makes scores readable
        within seconds, and polling every row on every round would hammer its rate limits. When one
        row is due, the sent rows due within ``check_cap / 2`` are read in the same requests (100
        ids each), so confirmations are batched rather than one request per send. Every
        ``recheck_dropped`` seconds, dropped rows sent within ``late_window`` are read again too.
        ``final`` reads every sent row now and drops the unseen ones whatever their age. ``gap``:
        at most one read-back round per ``gap`` seconds (the review server's worker: under a steady
        stream of answers, each round then confirms the scores of several write requests).
        ``eager`` reads every sent row now, like ``final``, but without a verdict: unseen rows stay
        *not visible yet* on their schedule (the worker's flush, when nothing more comes soon).
        """
        now = self.clock()
        if gap > 0 and not final and not eager and now < self._next_confirm:
            return
        self._next_confirm = now + timedelta(seconds=gap)
        sent = self.state.outbox(status="sent")
        if final or eager:
            rows = sent
        elif any(r.next_attempt_at <= now for r in sent):
            soon = now + timedelta(seconds=self.check_cap / 2)
            rows = [r for r in sent if r.next_attempt_at <= soon]
        else:
            rows = []
        late_rows: list[OutboxRow] = []
        if not final and now >= self._next_dropped_check:
            self._next_dropped_check = now + timedelta(seconds=self.recheck_dropped)
            oldest = now - timedelta(seconds=self.late_window)
            late_rows = [r for r in self.state.outbox(status="dropped") if r.sent_at and r.sent_at >= oldest]
        if not rows and not late_rows:
            return
        unknown: set[str] = set()
        seen = self._read_back([*rows, *late_rows], unknown)
        now = self.clock()
        self.report.confirmed += self.state.mark(
            [(r.score_id, r.revision) for r in [*rows, *late_rows] if r.score_id in seen], "confirmed", now
        )
        late: list[tuple[str, int]] = []
        later: dict[str, datetime] = {}
        for r in rows:
            if r.score_id in seen:
                continue
            waited = (now - r.sent_at).total_seconds() if r.sent_at else self.confirm_timeout
            if r.score_id in unknown and not final:  # the read failed: ask again soon, no verdict
                later[r.score_id] = now + timedelta(seconds=self.first_check)
            elif final or waited >= self.confirm_timeout:
                late.append((r.score_id, r.revision))
            else:
                wait = min(self.check_cap, max(self.first_check, waited), self.confirm_timeout - waited)
                later[r.score_id] = now + timedelta(seconds=max(wait, 0.0))
        if late:
            deletes = {r.score_id for r in rows if r.is_delete}
            minutes = self.confirm_timeout / 60
            message = (
                f"sent and accepted, but not readable back after {minutes:g} min: the server dropped it "
                "(check its score config)"
            )
            gone = [x for x in late if x[0] not in deletes]
            kept = [x for x in late if x[0] in deletes]
            if gone:
                self.report.dropped += self.state.mark(gone, "dropped", now, error=message)
            if kept:
                self.report.dropped += self.state.mark(
                    kept, "dropped", now, error="deleted and accepted, but the score is still readable"
                )
        if later:
            self.state.reschedule([(r.score_id, r.revision) for r in rows if r.score_id in later], later)

    def finish(self) -> None:
        """Record what is left in the whole outbox (not only this run's rows) in the report."""
        counts = self.state.outbox_counts()
        self.report.pending, self.report.unconfirmed = counts["pending"], counts["sent"]
        self.report.left_failed, self.report.left_dropped = counts["failed"], counts["dropped"]

    def remaining(self) -> tuple[int, int]:
        """(pending rows, sent rows awaiting confirmation)."""
        counts = self.state.outbox_counts()
        return counts["pending"], counts["sent"]

    def seconds_until_due(self, *, hold: float = 0.0, gap: bool = True) -> float | None:
        """Seconds until the next send (held ``hold`` s to coalesce) or read-back is due (0 if due
        now), None when nothing is left."""
        pending = self.state.next_due_at("pending")
        if pending is not None and hold > 0:
            pending += timedelta(seconds=hold)
        sent = self.state.next_due_at("sent")
        if sent is not None and gap:
            sent = max(sent, self._next_confirm)  # no read-back round before the gap is over
        dues = [d for d in (pending, sent) if d is not None]
        if not dues:
            return None
        return max(0.0, (min(dues) - self.clock()).total_seconds())


def drain(
    state: OutboxStore,
    source: Source,
    *,
    deadline: float = 120.0,
    confirm_timeout: float = CONFIRM_TIMEOUT,
    poll_interval: float = 0.5,
    batch_size: int = 100,
    backoff: Backoff | None = None,
    on_progress: Callable[[DrainReport], None] | None = None,
    clock: Clock = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> DrainReport:
    """Send every pending score and confirm it by reading it back, within ``deadline`` seconds.

    Args:
        state: the campaign state whose outbox to drain.
        source: where scores go.
        deadline: seconds to work at most; rows still unseen at the end are flagged ``dropped``
            if sent more than ``confirm_timeout`` ago, else left ``sent`` — not visible yet (a
            later drain, or the running review server, confirms them).
        confirm_timeout: how long a sent score may stay invisible before it counts as dropped.
        poll_interval: the first read-back of a score comes this long after sending it (then
            after as long as it has waited, doubling, capped at 10 s).
        batch_size: scores per write request.
        backoff: retry policy for retryable failures.
        on_progress: called after each round with the running report.
        clock, sleep, rng: injectable for tests.

    Returns:
        The report; ``report.done`` is True when nothing is left pending or unconfirmed.
    """
    drainer = Drainer(
        state,
        source,
        batch_size=batch_size,
        confirm_timeout=confirm_timeout,
        backoff=backoff,
        clock=clock,
        rng=rng,
        first_check=poll_interval,
    )
    end = time.monotonic() + deadline
    pending, sent = drainer.remaining()
    drainer.report.total = pending + sent
    # Another process (a running `hitl run`) may be draining this outbox: wait for it rather than
    # send its rows a second time; take over if it stops.
    while (held := drainer.claim("hitl sync")) is not None:
        drainer.report.waited_for = str(held)
        if on_progress:
            on_progress(drainer.report)
        pending, sent = drainer.remaining()
        if (pending == 0 and sent == 0) or time.monotonic() >= end:
            drainer.finish()
            return drainer.report
        sleep(max(0.0, min(poll_interval * 4, end - time.monotonic())))
    try:
        return _drain_claimed(drainer, end, on_progress, poll_interval, sleep)
    finally:
        drainer.unclaim()


def _drain_claimed(
    drainer: Drainer,
    end: float,
    on_progress: Callable[[DrainReport], None] | None,
    poll_interval: float,
    sleep: Callable[[float], None],
) -> DrainReport:
    drainer.recover()
    while True:
        if drainer.claim("hitl sync") is not None:
            break  # the claim went to another process (this one stalled past its lease)
        while drainer.send_due():
            if on_progress:
                on_progress(drainer.report)
            if time.monotonic() >= end:
                break
        drainer.confirm(final=False)
        pending, sent = drainer.remaining()
        if on_progress:
            on_progress(drainer.report)
        if (pending == 0 and sent == 0) or time.monotonic() >= end:
            break
        # Sleep until the next send or read-back is due (never longer than the poll interval × 4).
        wait = drainer.seconds_until_due()
        pause = poll_interval if wait is None else min(max(wait, 0.01), poll_interval * 4)
        sleep(max(0.0, min(pause, end - time.monotonic())))
    drainer.finish()
    return drainer.report


class OutboxWorker:
    """A background thread that keeps draining the outbox while the review server runs.

    Call :meth:`notify` after a submission, :meth:`flush_soon` when nothing more can come soon (the
    campaign has no item left to hand out), :meth:`stop` to finish. The schedule adapts to the
    stream of answers (no reviewer waits for it: each answer is already durable in the outbox):

    * while answers keep coming, rows are held until ``batch_size`` wait or the oldest has waited
      ``max_hold`` seconds — the scores of every reviewer in that window in one request — and
      read-backs run at most every ``confirm_gap`` seconds, each confirming everything due by then
      (100 ids a request), so about one read-back round per write;
    * once answers have stopped for 1.5× their typical gap (the 90th percentile of the latest 20
      gaps between notifications, at least ``write_window`` seconds), or :meth:`flush_soon` was called, every
      waiting row goes out at once and is read back right after (unseen rows then keep the usual
      *not visible yet* schedule).
    """

    def __init__(
        self,
        state: OutboxStore,
        source: Source,
        *,
        poll_interval: float = 1.0,
        confirm_timeout: float = CONFIRM_TIMEOUT,
        batch_size: int = 100,
        backoff: Backoff | None = None,
        clock: Clock = utcnow,
        recheck_dropped: float = 60.0,
        write_window: float = WRITE_WINDOW,
        max_hold: float = MAX_HOLD,
        confirm_gap: float = CONFIRM_GAP,
    ) -> None:
        self.write_window = write_window
        self.max_hold = max(max_hold, write_window)
        self.confirm_gap = confirm_gap
        self._last_answer = float("-inf")  # time.monotonic() of the latest notify()
        self._gaps: deque[float] = deque(maxlen=20)  # the latest gaps between notifications
        self.drainer = Drainer(
            state,
            source,
            batch_size=batch_size,
            confirm_timeout=confirm_timeout,
            backoff=backoff,
            clock=clock,
            recheck_dropped=recheck_dropped,
        )
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._flush = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hitl-outbox", daemon=True)

    @property
    def report(self) -> DrainReport:
        return self.drainer.report

    def start(self) -> OutboxWorker:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """True while the worker thread runs."""
        return self._thread.is_alive()

    def notify(self) -> None:
        """Wake the worker (a new answer is in the outbox)."""
        now = time.monotonic()
        if now > self._last_answer:
            gap = now - self._last_answer
            if math.isfinite(gap) and gap >= 0.01:  # two notifications of one answer are no gap
                self._gaps.append(gap)
        self._last_answer = now
        self._wake.set()

    def flush_soon(self) -> None:
        """Send everything waiting now and read it back right after: nothing more comes soon."""
        self._flush.set()
        self._wake.set()

    def quiet_after(self) -> float:
        """Seconds without a new answer after which the stream counts as stopped (and is flushed)."""
        # The 90th percentile of the latest gaps, not their median: reviewers who answer at the
        # same pace come in bursts (five answers within milliseconds, then a 2 s pause), and the
        # pause between bursts is the gap that says whether more is coming.
        gaps = sorted(self._gaps)
        typical = gaps[int(0.9 * (len(gaps) - 1))] if gaps else 0.0
        return min(self.max_hold, max(self.write_window, 1.5 * typical))

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the current request (waits up to ``timeout`` s: the source is closed next)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        with background():  # write-back yields to a reviewer's requests (request budget)
            self._loop()

    def _loop(self) -> None:
        try:
            self._rounds()
        finally:
            try:
                self.drainer.unclaim()
            except Exception:  # the database is going away; the claim expires by itself
                log.exception("could not release the outbox claim")

    def _rounds(self) -> None:
        recovered = False
        while not self._stop.is_set():
            try:
                # One drainer per campaign: another server (or `hitl sync`) holding the claim
                # drains meanwhile; this one takes over when that claim lapses.
                if self.drainer.claim("hitl run") is not None:
                    recovered = False
                    self._wake.wait(self.poll_interval)
                    self._wake.clear()
                    continue
                if not recovered:
                    self.drainer.recover()
                    recovered = True
                wait = self._round()
            except Exception:
                log.exception("outbox round failed; retrying in %.1fs", self.poll_interval)
                wait = None
            self._wake.wait(self.poll_interval if wait is None else min(wait, self.poll_interval))
            self._wake.clear()

    def _round(self) -> float | None:
        """One round: send what is due under the current schedule, read back; seconds to wait."""
        flushing = self._flush.is_set()
        self._flush.clear()
        quiet_in = self.quiet_after() - (time.monotonic() - self._last_answer)
        busy = not flushing and quiet_in > 0
        hold = self.max_hold if busy else 0.0
        # A few batches, then a read-back round: under a steady stream of answers the
        # confirmations must not starve behind new sends.
        sent = 0
        for _ in range(10):
            if self._stop.is_set():
                return None
            handled = self.drainer.send_due(hold=hold)
            if not handled:
                break
            sent += handled
        if self._stop.is_set():
            return None
        if not busy and (sent or flushing):
            self.drainer.confirm(eager=True)  # the last answers: confirmed right after their write
        else:
            self.drainer.confirm(gap=self.confirm_gap if busy else 0.0)
        wait = self.drainer.seconds_until_due(hold=hold, gap=busy)
        if busy:  # look again when the stream of answers may have ended
            wait = quiet_in if wait is None else min(wait, quiet_in)
        return wait
