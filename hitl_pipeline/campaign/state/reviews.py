"""Reviews and answers: one reviewer's answer to one item, stored with its outbox rows at once."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hitl_pipeline.db import Database, Tx, aware_us, from_us
from hitl_pipeline.scoring.outbox_store import OutboxEntry, where


@dataclass(frozen=True)
class ReviewRow:
    """One reviewer's answer to one item (question score name → value)."""

    item_key: str
    reviewer: str
    seq: int
    answers: dict[str, Any]
    comment: str | None
    created_at: datetime
    updated_at: datetime
    duration_s: float | None
    origin: str


class ReviewStore:
    """Reviews and answers of one campaign database (``db``); the campaign state mixes in the
    outbox (:meth:`write_outbox`) and the leases (:meth:`release_lease`) it writes with them."""

    db: Database

    if TYPE_CHECKING:  # mixed in by the campaign state (OutboxStore, LeaseStore)

        def write_outbox(
            self,
            tx: Tx,
            item_key: str,
            reviewer: str,
            questions: Collection[str],
            entries: Sequence[OutboxEntry],
            now: datetime,
            status: str,
        ) -> None: ...

        @staticmethod
        def release_lease(tx: Tx, item_key: str, reviewer: str) -> None: ...

    def record_submission(
        self,
        *,
        item_key: str,
        reviewer: str,
        answers: Mapping[str, Any],
        comment: str | None,
        now: datetime,
        duration_s: float | None,
        entries: Sequence[OutboxEntry],
        origin: str = "form",
        outbox_status: str = "pending",
    ) -> bool:
        """Store one reviewer's answer to one item and its outbox rows, in ONE transaction.

        A repeated submission (an edit) replaces the answers and re-queues the same score ids with a
        new revision. Answers to questions no longer answered are removed (their outbox rows too, if
        never sent). Inside an outer transaction (to check a lease or decide consensus with the
        same lock held), it commits with it. Returns True for a first answer, False for an edit.
        """
        with self.db.transaction() as c:
            stamp = aware_us(now)
            existing = c.execute(
                "SELECT seq FROM reviews WHERE item_key = ? AND reviewer = ?", (item_key, reviewer)
            ).fetchone()
            first = existing is None
            if first:
                seq = c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM reviews").fetchone()[0]
                c.execute(
                    """INSERT INTO reviews (item_key, reviewer, seq, comment, created_at, updated_at, duration_s,
                                            origin)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                    (item_key, reviewer, seq, comment, stamp, stamp, duration_s, origin),
                )
                c.execute("UPDATE items SET done = done + 1 WHERE key = ?", (item_key,))
            else:
                c.execute(
                    """UPDATE reviews SET comment = ?, updated_at = ?,
                       duration_s = COALESCE(duration_s, 0) + COALESCE(?, 0)
                       WHERE item_key = ? AND reviewer = ?""",
                    (comment, stamp, duration_s, item_key, reviewer),
                )
            self._write_answers(c, item_key, reviewer, answers, comment, stamp, duration_s)
            self.write_outbox(c, item_key, reviewer, list(answers), entries, now, outbox_status)
            self.release_lease(c, item_key, reviewer)
            return first

    @staticmethod
    def _write_answers(
        c: Tx,
        item_key: str,
        reviewer: str,
        answers: Mapping[str, Any],
        comment: str | None,
        stamp: int,
        duration_s: float | None,
    ) -> None:
        names = list(answers)
        not_in = f"AND question NOT IN ({','.join('?' * len(names))})" if names else ""
        c.execute(
            f"DELETE FROM answers WHERE item_key = ? AND reviewer = ? {not_in}",
            (item_key, reviewer, *names),
        )
        for question, value in answers.items():
            c.execute(
                """INSERT INTO answers (item_key, reviewer, question, value_json, comment, created_at, updated_at,
                                        duration_s)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (item_key, reviewer, question) DO UPDATE SET
                     value_json = excluded.value_json, comment = excluded.comment,
                     updated_at = excluded.updated_at, duration_s = excluded.duration_s""",
                (item_key, reviewer, question, json.dumps(value), comment, stamp, stamp, duration_s),
            )

    def review(self, item_key: str, reviewer: str) -> ReviewRow | None:
        """The reviewer's answer to the item, or None."""
        row = self.db.one("SELECT * FROM reviews WHERE item_key = ? AND reviewer = ?", (item_key, reviewer))
        return self._review(row) if row is not None else None

    def _review(self, row: Any) -> ReviewRow:
        answers = {
            a["question"]: json.loads(a["value_json"])
            for a in self.db.query(
                "SELECT question, value_json FROM answers WHERE item_key = ? AND reviewer = ?",
                (row["item_key"], row["reviewer"]),
            )
        }
        return ReviewRow(
            item_key=row["item_key"],
            reviewer=row["reviewer"],
            seq=row["seq"],
            answers=answers,
            comment=row["comment"],
            created_at=from_us(row["created_at"]),
            updated_at=from_us(row["updated_at"]),
            duration_s=row["duration_s"],
            origin=row["origin"],
        )

    def reviews(self, *, item_key: str | None = None, reviewer: str | None = None) -> list[ReviewRow]:
        """Reviews, optionally of one item or by one reviewer, in answer order."""
        cond, params = where(item_key=item_key, reviewer=reviewer)
        return [self._review(r) for r in self.db.query(f"SELECT * FROM reviews {cond} ORDER BY seq", params)]

    def answered_before(self, reviewer: str, before: str | None) -> str | None:
        """The item the reviewer answered just before ``before`` (their latest when ``before`` is None or
        not one of their answered items)."""
        seq = None
        if before is not None:
            seq = self.db.scalar(
                "SELECT seq FROM reviews WHERE item_key = ? AND reviewer = ?", (before, reviewer)
            )
        item_key: str | None
        if seq is None:
            item_key = self.db.scalar(
                "SELECT item_key FROM reviews WHERE reviewer = ? ORDER BY seq DESC LIMIT 1", (reviewer,)
            )
            return item_key
        item_key = self.db.scalar(
            "SELECT item_key FROM reviews WHERE reviewer = ? AND seq < ? ORDER BY seq DESC LIMIT 1",
            (reviewer, seq),
        )
        return item_key

    def reviewer_counts(self, reviewer: str, n: int) -> tuple[int, int]:
        """(items the reviewer answered, items still open to them)."""
        done = self.db.scalar("SELECT COUNT(*) FROM reviews WHERE reviewer = ?", (reviewer,))
        remaining = self.db.scalar(
            """SELECT COUNT(*) FROM items i WHERE i.done < COALESCE(i.needed, ?)
               AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_key = i.key AND r.reviewer = ?)""",
            (n, reviewer),
        )
        return int(done), int(remaining)

    def item_counts(self, n: int) -> tuple[int, int, int]:
        """(items, items with ``n`` reviews, reviews capped at ``n`` per item)."""
        row = self.db.one(
            """SELECT COUNT(*), COALESCE(SUM(CASE WHEN done >= COALESCE(needed, ?) THEN 1 ELSE 0 END), 0),
                      COALESCE(SUM(CASE WHEN done < COALESCE(needed, ?) THEN done ELSE COALESCE(needed, ?) END), 0)
               FROM items""",
            (n, n, n),
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    def answered_by_reviewer(self) -> list[tuple[str, int]]:
        """(reviewer, items answered) for every reviewer."""
        return [
            (r[0], int(r[1]))
            for r in self.db.query("SELECT reviewer, COUNT(*) FROM reviews GROUP BY reviewer")
        ]
