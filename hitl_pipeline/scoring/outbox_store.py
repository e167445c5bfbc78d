"""The score outbox's table: what must be / has been written to the source, one row per score id.

It lives in the campaign's database (one transaction stores an answer and its outbox rows), but
its rules belong with the drainer (:mod:`hitl_pipeline.scoring.outbox`), so the store is here:
the campaign state is an :class:`OutboxStore` over its database.

Row statuses: ``pending`` → ``sent`` → ``confirmed``; ``failed`` = refused for good (4xx);
``dropped`` = accepted by the server but never readable. ``action`` is ``upsert`` (send the
payload) or ``delete`` (the question was withdrawn after its score may have reached the source:
delete the score id). ``reached``: a revision of the row may have reached the source.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hitl_pipeline.db import Database, Tx, aware_us, from_us

#: Outbox row statuses. ``pending`` → ``sent`` → ``confirmed``; ``failed`` = refused for good (4xx);
#: ``dropped`` = accepted by the server but never readable (silently discarded); not done.
OUTBOX_STATUSES = ("pending", "sent", "confirmed", "failed", "dropped")
# Outbox rows that stand for a score (counted by status): all but the deletes already done.
_LIVE = "NOT (action = 'delete' AND status = 'confirmed')"


def where(**equal: Any) -> tuple[str, list[Any]]:
    """``WHERE col = ? AND …`` for the given columns whose value is not None (column names are ours)."""
    cols = [(k, v) for k, v in equal.items() if v is not None]
    if not cols:
        return "", []
    return "WHERE " + " AND ".join(f"{k} = ?" for k, _ in cols), [v for _, v in cols]


@dataclass(frozen=True)
class OutboxRow:
    score_id: str
    item_key: str
    reviewer: str
    question: str
    payload: dict[str, Any]
    status: str
    revision: int
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    confirmed_at: datetime | None
    action: str = "upsert"  # 'upsert': send the payload; 'delete': delete the score id (question withdrawn)

    @property
    def is_delete(self) -> bool:
        return self.action == "delete"


@dataclass(frozen=True)
class OutboxEntry:
    """A score to queue with an answer: ``payload`` is the JSON form of a ScoreWrite."""

    score_id: str
    question: str
    payload: dict[str, Any]


def _row(row: Any) -> OutboxRow:
    return OutboxRow(
        score_id=row["score_id"],
        item_key=row["item_key"],
        reviewer=row["reviewer"],
        question=row["question"],
        payload=json.loads(row["payload_json"]),
        status=row["status"],
        revision=row["revision"],
        attempts=row["attempts"],
        next_attempt_at=from_us(row["next_attempt_at"]),
        last_error=row["last_error"],
        sent_at=from_us(row["sent_at"]) if row["sent_at"] is not None else None,
        confirmed_at=from_us(row["confirmed_at"]) if row["confirmed_at"] is not None else None,
        action=row["action"],
    )


class OutboxStore:
    """The outbox rows of one campaign database (``db``)."""

    db: Database

    # -- writing (inside the transaction that stores the answer) ------------------------------------

    def write_outbox(
        self,
        tx: Tx,
        item_key: str,
        reviewer: str,
        questions: Collection[str],
        entries: Sequence[OutboxEntry],
        now: datetime,
        status: str,
    ) -> None:
        """Queue ``entries`` for the reviewer's answer to the item (``questions``: those answered now)."""
        stamp = aware_us(now)
        # A question answered before but not now (its `when` no longer holds): a row that never left
        # the machine is forgotten; one that may have reached the source (any attempt, or restored
        # from it) becomes a delete of its score id, due now. The drainer deletes the score and
        # confirms it gone; status and export no longer count it as an answer.
        marks = ",".join("?" * len(questions))
        not_in = f"AND question NOT IN ({marks})" if questions else ""
        tx.execute(
            f"DELETE FROM outbox WHERE item_key = ? AND reviewer = ? AND reached = 0 {not_in}",
            (item_key, reviewer, *questions),
        )
        tx.execute(
            f"""UPDATE outbox SET action = 'delete', status = 'pending', revision = revision + 1,
                   attempts = 0, next_attempt_at = ?, last_error = NULL, sent_at = NULL,
                   confirmed_at = NULL, updated_at = ?
                WHERE item_key = ? AND reviewer = ? AND action = 'upsert' {not_in}""",
            (stamp, stamp, item_key, reviewer, *questions),
        )
        confirmed = stamp if status == "confirmed" else None
        reached = 0 if status == "pending" else 1
        # In score id order, like mark(): two transactions touching the same rows lock them in
        # the same order (no deadlock between an edit and the drainer on PostgreSQL).
        for e in sorted(entries, key=lambda e: e.score_id):
            tx.execute(
                """INSERT INTO outbox (score_id, item_key, reviewer, question, payload_json, status, revision,
                                       attempts, next_attempt_at, created_at, updated_at,
                                       confirmed_at, action, reached)
                   VALUES (?, ?, ?, ?, ?, ?, 1, 0, ?, ?, ?, ?, 'upsert', ?)
                   ON CONFLICT (score_id) DO UPDATE SET
                     payload_json = excluded.payload_json, status = excluded.status,
                     action = 'upsert',
                     reached = CASE WHEN outbox.reached > excluded.reached THEN outbox.reached
                                    ELSE excluded.reached END,
                     revision = outbox.revision + 1, attempts = 0, next_attempt_at = excluded.next_attempt_at,
                     last_error = NULL, sent_at = NULL, confirmed_at = excluded.confirmed_at,
                     updated_at = excluded.updated_at""",
                (
                    e.score_id,
                    item_key,
                    reviewer,
                    e.question,
                    json.dumps(e.payload, sort_keys=True),
                    status,
                    stamp,
                    stamp,
                    stamp,
                    confirmed,
                    reached,
                ),
            )

    def queue_scores(
        self, item_key: str, reviewer: str, entries: Sequence[OutboxEntry], now: datetime
    ) -> None:
        """Queue scores that are no reviewer's answer (consensus: ``reviewer`` is the name its rows
        are kept under) the way answers queue theirs: a score id queued before is re-queued with a
        new revision, and an unsent row of a question not among ``entries`` is forgotten."""
        with self.db.transaction() as tx:
            questions = [e.question for e in entries]
            self.write_outbox(tx, item_key, reviewer, questions, entries, now, "pending")

    # -- reading ------------------------------------------------------------------------------------

    def outbox_counts(self) -> dict[str, int]:
        """Outbox rows per status (every status, 0 when none)."""
        outbox = {s: 0 for s in OUTBOX_STATUSES}
        for r in self.db.query(f"SELECT status, COUNT(*) FROM outbox WHERE {_LIVE} GROUP BY status"):
            outbox[r[0]] = int(r[1])
        return outbox

    def outbox_by_reviewer(self) -> list[tuple[str, str, int]]:
        """(reviewer, status, rows) of the rows that stand for a score."""
        return [
            (r[0], r[1], int(r[2]))
            for r in self.db.query(
                f"SELECT reviewer, status, COUNT(*) FROM outbox WHERE {_LIVE} GROUP BY reviewer, status"
            )
        ]

    def outbox(self, *, status: str | None = None, item_key: str | None = None) -> list[OutboxRow]:
        """Outbox rows, optionally by status / item, oldest first."""
        cond, params = where(status=status, item_key=item_key)
        sql = f"SELECT * FROM outbox {cond} ORDER BY created_at, score_id"
        return [_row(r) for r in self.db.query(sql, params)]

    def outbox_due(self, now: datetime, limit: int) -> list[OutboxRow]:
        """Pending rows whose next attempt is due, oldest first (ties: first queued first)."""
        # SQLite breaks ties by rowid: the outbox_due index already orders by it, so a backlog due
        # at one instant (a restart, `hitl sync --retry-failed`) is not sorted whole each round
        # (60,000 rows: 29 ms -> 0.2 ms). Other engines have no rowid: queue time, then id.
        tiebreak = "rowid" if self.db.dialect.name == "sqlite" else "created_at, score_id"
        rows = self.db.query(
            f"""SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?
               ORDER BY next_attempt_at, {tiebreak} LIMIT ?""",
            (aware_us(now), limit),
        )
        return [_row(r) for r in rows]

    def next_due_at(self, status: str = "pending") -> datetime | None:
        """When the earliest row in ``status`` becomes due (its next send, or next read-back for
        ``sent`` rows); None when there is none."""
        first = self.db.scalar("SELECT MIN(next_attempt_at) FROM outbox WHERE status = ?", (status,))
        return from_us(first) if first is not None else None

    # -- the drainer's moves ------------------------------------------------------------------------

    def reschedule(self, rows: Sequence[tuple[str, int]], at: Mapping[str, datetime]) -> None:
        """Set the next attempt (send, or read-back for ``sent`` rows) of ``(score_id, revision)`` rows."""
        with self.db.transaction() as tx:
            tx.executemany(
                "UPDATE outbox SET next_attempt_at = ? WHERE score_id = ? AND revision = ?",
                [(aware_us(at[score_id]), score_id, revision) for score_id, revision in sorted(rows)],
            )

    def mark(
        self,
        rows: Sequence[tuple[str, int]],
        status: str,
        now: datetime,
        *,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        count_attempt: bool = False,
    ) -> int:
        """Move ``(score_id, revision)`` rows to ``status``. A row edited since (new revision) is left
        alone: its new payload still has to be sent. Returns how many rows changed."""
        if status not in OUTBOX_STATUSES:
            raise ValueError(f"unknown outbox status {status!r}")
        stamp = aware_us(now)
        sets = ["status = ?", "updated_at = ?", "last_error = ?", "attempts = attempts + ?"]
        values: list[Any] = [status, stamp, error, 1 if count_attempt else 0]
        if next_attempt_at is not None:
            sets.append("next_attempt_at = ?")
            values.append(aware_us(next_attempt_at))
        if status == "sent":
            sets.append("sent_at = ?")
            values.append(stamp)
        if status == "confirmed":
            sets.append("confirmed_at = ?")
            values.append(stamp)
        if count_attempt or status != "pending":
            sets.append("reached = 1")  # an attempt may have reached the source, even a failed one
        sql = f"UPDATE outbox SET {', '.join(sets)} WHERE score_id = ? AND revision = ?"
        changed = 0
        if not rows:
            return 0
        with self.db.transaction() as tx:
            for score_id, revision in sorted(rows):
                changed += tx.execute(sql, (*values, score_id, revision)).rowcount
        return changed

    def requeue(self, statuses: Sequence[str], now: datetime) -> int:
        """Put rows in ``statuses`` back to pending, due now (e.g. after a restart, or to retry dropped)."""
        stamp = aware_us(now)
        with self.db.transaction() as tx:
            cur = tx.execute(
                f"""UPDATE outbox SET status = 'pending', next_attempt_at = ?, updated_at = ?
                    WHERE status IN ({",".join("?" * len(statuses))})""",
                (stamp, stamp, *statuses),
            )
            return int(cur.rowcount)
