"""Leases and skips: which reviewer is working on which item, and which items they passed over."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hitl_pipeline.db import Database, Tx, aware_us, from_us

# Two queries instead of one ORDER BY over a join: the first walks the position index and stops
# at the first free item (answered items are passed over by a column check), so leasing stays
# O(1)-ish instead of sorting the whole queue on every request.
_FREE = """
      AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_key = i.key AND r.reviewer = :reviewer)
      AND i.done + (SELECT COUNT(*) FROM leases l
                    WHERE l.item_key = i.key AND l.reviewer != :reviewer AND l.expires_at > :now)
          < COALESCE(i.needed, :n)
"""
_NEXT_FRESH_SQL = (
    """SELECT i.key FROM items i WHERE i.done < COALESCE(i.needed, :n)
      AND NOT EXISTS (SELECT 1 FROM skips s WHERE s.item_key = i.key AND s.reviewer = :reviewer)"""
    + _FREE
    + " ORDER BY i.position LIMIT :limit"
)
_NEXT_SKIPPED_SQL = (
    """SELECT i.key FROM skips s JOIN items i ON i.key = s.item_key
       WHERE s.reviewer = :reviewer AND i.done < COALESCE(i.needed, :n)"""
    + _FREE
    + " ORDER BY s.skipped_at, i.position LIMIT :limit"
)


class LeaseStore:
    """Leases and skips of one campaign database (``db``)."""

    db: Database

    def current_lease(self, reviewer: str, now: datetime) -> tuple[str, datetime] | None:
        """The item the reviewer holds an unexpired lease on (and has not answered), with its expiry."""
        row = self.db.one(
            """SELECT l.item_key, l.expires_at FROM leases l
               WHERE l.reviewer = ? AND l.expires_at > ?
                 AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_key = l.item_key AND r.reviewer = l.reviewer)
               ORDER BY l.leased_at LIMIT 1""",
            (reviewer, aware_us(now)),
        )
        return (row["item_key"], from_us(row["expires_at"])) if row is not None else None

    def _next(self, params: dict[str, Any]) -> list[str]:
        keys = [r[0] for r in self.db.query(_NEXT_FRESH_SQL, params)]
        if len(keys) < params["limit"]:
            more = {**params, "limit": params["limit"] - len(keys)}
            keys += [r[0] for r in self.db.query(_NEXT_SKIPPED_SQL, more)]
        return keys

    def peek_next(self, reviewer: str, n: int, now: datetime, limit: int) -> list[str]:
        """The keys :meth:`lease_next` would hand this reviewer next (for prefetching), without leasing."""
        return self._next({"reviewer": reviewer, "n": n, "now": aware_us(now), "limit": limit})

    def lease_next(
        self, reviewer: str, n: int, now: datetime, expires: datetime
    ) -> tuple[str, datetime] | None:
        """Return the reviewer's open lease, or atomically lease the next free item to them.

        An item is free for a reviewer when they have not answered it and fewer than ``n`` reviewers
        have answered it or hold an unexpired lease on it. Items they skipped come after all others,
        oldest skip first. A reviewer holds one open item per campaign, whatever tab or server asks
        (their requests take the reviewer's lock, so two tabs never lease two items).

        On engines where writers run side by side (PostgreSQL), the candidate item's row is locked
        (``FOR UPDATE SKIP LOCKED``: a row another reviewer is leasing is passed over, not waited
        for) and its room checked again once locked; everything that fills an item (a lease, an
        answer) holds that row lock, so no item goes to more than ``n`` reviewers.
        """
        with self.db.transaction() as c:
            self.lock_reviewer(c, reviewer)
            current = self.current_lease(reviewer, now)
            if current is not None:
                return current
            # A reviewer holds one lease at a time: drop their stale ones before taking a new one.
            c.execute("DELETE FROM leases WHERE reviewer = ?", (reviewer,))
            params = {"reviewer": reviewer, "n": n, "now": aware_us(now), "limit": 1}
            key = self._take_next(c, params)
            if key is None:
                return None
            c.execute(
                "INSERT INTO leases (item_key, reviewer, leased_at, expires_at) VALUES (?, ?, ?, ?)",
                (key, reviewer, aware_us(now), aware_us(expires)),
            )
            return key, expires

    def _take_next(self, c: Tx, params: dict[str, Any]) -> str | None:
        dialect = self.db.dialect
        if not dialect.for_update("i"):
            keys = self._next(params)  # the write transaction excludes every other writer
            return keys[0] if keys else None
        # Row locks: try a few unlocked candidates, then wait for locked ones rather than report
        # "nothing left" while another reviewer's transaction holds the last free items.
        for skip_locked in (True, False):
            lock = dialect.for_update("i", skip_locked=skip_locked)
            for sql in (_NEXT_FRESH_SQL, _NEXT_SKIPPED_SQL):
                for row in c.execute(sql + lock, {**params, "limit": 8}).fetchall():
                    if self._still_free(c, row[0], params):
                        return str(row[0])
        return None

    @staticmethod
    def _still_free(c: Tx, key: str, params: dict[str, Any]) -> bool:
        # Read again with the item's row locked: a statement started now sees every commit before it.
        row = c.execute(
            """SELECT 1 FROM items i WHERE i.key = :key AND i.done < :n""" + _FREE,
            {"reviewer": params["reviewer"], "n": params["n"], "now": params["now"], "key": key},
        ).fetchone()
        return row is not None

    def lock_reviewer(self, tx: Tx, reviewer: str) -> None:
        """Serialise this reviewer's requests (all tabs, all servers) until ``tx`` ends."""
        self.db.lock(tx, f"reviewer:{reviewer}")

    def lock_item(self, tx: Tx, item_key: str) -> None:
        """Hold the item's row until ``tx`` ends (before filling it: an answer, a lease)."""
        lock = self.db.dialect.for_update("items")
        if lock:
            tx.execute("SELECT 1 FROM items WHERE key = ?" + lock, (item_key,))

    def lease_of(self, item_key: str, reviewer: str) -> tuple[datetime, datetime] | None:
        """(leased_at, expires_at) of the reviewer's lease on the item, expired or not."""
        row = self.db.one(
            "SELECT leased_at, expires_at FROM leases WHERE item_key = ? AND reviewer = ?",
            (item_key, reviewer),
        )
        return (from_us(row["leased_at"]), from_us(row["expires_at"])) if row is not None else None

    def active_leases(self, item_key: str, now: datetime, *, excluding: str | None = None) -> int:
        """How many reviewers (other than ``excluding``) hold an unexpired lease on the item."""
        count = self.db.scalar(
            "SELECT COUNT(*) FROM leases WHERE item_key = ? AND expires_at > ? AND reviewer != ?",
            (item_key, aware_us(now), excluding or ""),
        )
        return int(count)

    def skip(self, item_key: str, reviewer: str, now: datetime) -> None:
        """Release the reviewer's lease and remember the skip (the item comes back after the others)."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM leases WHERE item_key = ? AND reviewer = ?", (item_key, reviewer))
            c.execute(
                """INSERT INTO skips (item_key, reviewer, skipped_at) VALUES (?, ?, ?)
                   ON CONFLICT (item_key, reviewer) DO UPDATE SET skipped_at = excluded.skipped_at""",
                (item_key, reviewer, aware_us(now)),
            )

    @staticmethod
    def release_lease(tx: Tx, item_key: str, reviewer: str) -> None:
        """Drop the reviewer's lease and skip of the item (their answer is stored in ``tx``)."""
        tx.execute("DELETE FROM leases WHERE item_key = ? AND reviewer = ?", (item_key, reviewer))
        tx.execute("DELETE FROM skips WHERE item_key = ? AND reviewer = ?", (item_key, reviewer))
