"""A campaign's durable state: one SQLite file per campaign, ``<home>/campaigns/<campaign>.db``.

What it holds: the campaign's meta (spec hash and canonical JSON, the ``now`` relative windows were
resolved against), the queued items in order, leases, each reviewer's answers, skips, the score
outbox (what must be / has been written to the source) and the resolved score configs.

Why SQLite and not a JSON file: every change is one transaction (an answer and its outbox rows land
together or not at all), WAL lets the review server, the drain worker and ``hitl status`` use the
file at the same time, and a crash (even SIGKILL) loses nothing that was committed.
Schema changes are named migrations recorded in ``migrations``, each applied in the transaction
that records it.

All timestamps are stored as UTC ISO strings of one fixed shape, so text order is time order.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hitl_pipeline.errors import CampaignError, ConfigError
from hitl_pipeline.model import ItemRef, ScoreConfig

#: Outbox row statuses. ``pending`` → ``sent`` → ``confirmed``; ``failed`` = refused for good (4xx);
#: ``dropped`` = accepted by the server but never readable (silently discarded); not done.
OUTBOX_STATUSES = ("pending", "sent", "confirmed", "failed", "dropped")
# Outbox rows that stand for a score (counted by status): all but the deletes already done.
_LIVE = "NOT (action = 'delete' AND status = 'confirmed')"


def _where(**equal: Any) -> tuple[str, list[Any]]:
    """``WHERE col = ? AND …`` for the given columns whose value is not None (column names are ours)."""
    cols = [(k, v) for k, v in equal.items() if v is not None]
    if not cols:
        return "", []
    return "WHERE " + " AND ".join(f"{k} = ?" for k, _ in cols), [v for _, v in cols]


def ts(dt: datetime) -> str:
    """A datetime as the state's canonical UTC text (sortable)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime given to the campaign state; use aware UTC datetimes")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    """The inverse of :func:`ts`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


_MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE spec_versions (
            spec_hash TEXT PRIMARY KEY, spec_json TEXT NOT NULL, version INTEGER NOT NULL,
            first_seen TEXT NOT NULL
        );
        CREATE TABLE items (
            key TEXT PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL, trace_id TEXT,
            position INTEGER NOT NULL UNIQUE, stratum TEXT, timestamp TEXT NOT NULL,
            done INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE reviews (
            item_key TEXT NOT NULL REFERENCES items(key), reviewer TEXT NOT NULL,
            seq INTEGER NOT NULL, comment TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            duration_s REAL, origin TEXT NOT NULL DEFAULT 'form',
            PRIMARY KEY (item_key, reviewer)
        );
        CREATE INDEX reviews_by_reviewer ON reviews(reviewer, seq);
        CREATE TABLE answers (
            item_key TEXT NOT NULL, reviewer TEXT NOT NULL, question TEXT NOT NULL,
            value_json TEXT NOT NULL, comment TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            duration_s REAL,
            PRIMARY KEY (item_key, reviewer, question),
            FOREIGN KEY (item_key, reviewer) REFERENCES reviews(item_key, reviewer)
        );
        CREATE TABLE leases (
            item_key TEXT NOT NULL REFERENCES items(key), reviewer TEXT NOT NULL,
            leased_at TEXT NOT NULL, expires_at TEXT NOT NULL,
            PRIMARY KEY (item_key, reviewer)
        );
        CREATE INDEX leases_by_reviewer ON leases(reviewer, expires_at);
        CREATE TABLE skips (
            item_key TEXT NOT NULL REFERENCES items(key), reviewer TEXT NOT NULL,
            skipped_at TEXT NOT NULL,
            PRIMARY KEY (item_key, reviewer)
        );
        CREATE TABLE outbox (
            score_id TEXT PRIMARY KEY, item_key TEXT NOT NULL, reviewer TEXT NOT NULL,
            question TEXT NOT NULL, payload_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending','sent','confirmed','failed','dropped')),
            revision INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL, last_error TEXT, sent_at TEXT, confirmed_at TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL
        );
        CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
        CREATE TABLE configs (
            question TEXT PRIMARY KEY, config_id TEXT NOT NULL, config_json TEXT NOT NULL,
            resolved_at TEXT NOT NULL
        );
        """,
    ),
    (
        # action: what the row asks of the source, 'upsert' (send the payload) or 'delete' (the
        # question was withdrawn: delete the score id). reached: a revision of the row may have
        # reached the source (an attempt was made, or it came from there), so withdrawing its
        # question must delete the score rather than forget the row.
        "0002_outbox_delete",
        """
        ALTER TABLE outbox ADD COLUMN action TEXT NOT NULL DEFAULT 'upsert'
            CHECK (action IN ('upsert', 'delete'));
        ALTER TABLE outbox ADD COLUMN reached INTEGER NOT NULL DEFAULT 0;
        UPDATE outbox SET reached = 1 WHERE status != 'pending' OR attempts > 0 OR sent_at IS NOT NULL
        """,
    ),
]


@dataclass(frozen=True)
class CampaignMeta:
    """What the campaign was created from."""

    campaign: str
    spec_hash: str
    spec_json: str
    spec_version: int
    created_at: datetime
    now: datetime
    git_commit: str | None


@dataclass(frozen=True)
class ItemRow:
    key: str
    ref: ItemRef
    position: int
    done: int


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


@dataclass(frozen=True)
class Counts:
    """Campaign-wide numbers for ``hitl status`` and progress."""

    items: int
    items_complete: int
    reviews: int
    outbox: dict[str, int]


class CampaignState:
    """The durable state of one campaign. Thread-safe; several processes may open the same file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection guarded by a lock: SQLite serialises writers anyway, and a single
            # connection keeps each transaction's reads consistent with its writes.
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except (OSError, sqlite3.Error) as e:
            message = f"cannot open campaign state {self.path}: {e}; check that the directory is writable"
            raise ConfigError(message) from e
        self._lock = threading.RLock()
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: an answer a reviewer saw as saved survives a power cut, not only a process crash.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> CampaignState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): everything inside commits together or not at all.

        Opened inside another transaction (same thread: the lock is held until the outer one ends),
        it is a savepoint of it: an error rolls back only the inner writes, and nothing is committed
        before the outer transaction commits.
        """
        with self._lock:
            if self._conn.in_transaction:
                self._conn.execute("SAVEPOINT nested")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK TO nested")
                    self._conn.execute("RELEASE nested")
                    raise
                else:
                    self._conn.execute("RELEASE nested")
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _migrate(self) -> None:
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            for name, script in _MIGRATIONS:
                with self.transaction() as c:
                    if c.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                        continue
                    for statement in script.split(";"):
                        if statement.strip():
                            c.execute(statement)
                    c.execute(
                        "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                        (name, ts(datetime.now(UTC))),
                    )

    def migrations(self) -> list[str]:
        """Names of the applied migrations, in order."""
        return [r["name"] for r in self._query("SELECT name FROM migrations ORDER BY name")]

    # -- meta and items -------------------------------------------------------------------------

    def is_initialized(self) -> bool:
        """True once :meth:`initialize` has run (the queue is stored)."""
        return bool(self._query("SELECT 1 FROM meta WHERE key = 'campaign'"))

    def initialize(
        self,
        *,
        campaign: str,
        spec_hash: str,
        spec_json: str,
        spec_version: int,
        now: datetime,
        created_at: datetime,
        git_commit: str | None,
        refs: Sequence[ItemRef],
    ) -> None:
        """Store the campaign's meta and its queue, in one transaction."""
        with self.transaction() as c:
            if c.execute("SELECT 1 FROM meta WHERE key = 'campaign'").fetchone():
                raise CampaignError(f"campaign state {self.path} is already initialised")
            meta = {
                "campaign": campaign,
                "spec_hash": spec_hash,
                "spec_json": spec_json,
                "spec_version": str(spec_version),
                "created_at": ts(created_at),
                "now": ts(now),
                "git_commit": git_commit or "",
            }
            c.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
            c.execute(
                "INSERT INTO spec_versions (spec_hash, spec_json, version, first_seen) VALUES (?, ?, ?, ?)",
                (spec_hash, spec_json, spec_version, ts(created_at)),
            )
            self.append_items(refs)

    def append_items(self, refs: Sequence[ItemRef]) -> None:
        """Queue ``refs`` after the items already queued, in their order."""
        with self.transaction() as c:
            start = c.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM items").fetchone()[0]
            c.executemany(
                "INSERT INTO items (key, kind, id, trace_id, position, stratum, timestamp) VALUES (?,?,?,?,?,?,?)",
                [
                    (r.key, r.kind, r.id, r.trace_id, start + i, r.stratum, ts(r.timestamp))
                    for i, r in enumerate(refs)
                ],
            )

    def meta(self) -> CampaignMeta:
        """The campaign's meta; CampaignError if the state is empty."""
        rows = {r["key"]: r["value"] for r in self._query("SELECT key, value FROM meta")}
        if "campaign" not in rows:
            raise CampaignError(f"campaign state {self.path} is empty; open the campaign with its spec first")
        return CampaignMeta(
            campaign=rows["campaign"],
            spec_hash=rows["spec_hash"],
            spec_json=rows["spec_json"],
            spec_version=int(rows["spec_version"]),
            created_at=parse_ts(rows["created_at"]),
            now=parse_ts(rows["now"]),
            git_commit=rows["git_commit"] or None,
        )

    def record_spec(self, spec_hash: str, spec_json: str, spec_version: int, at: datetime) -> bool:
        """Record the spec a run uses; returns True when this hash is new. The meta follows the latest."""
        with self.transaction() as c:
            new = (
                c.execute("SELECT 1 FROM spec_versions WHERE spec_hash = ?", (spec_hash,)).fetchone() is None
            )
            if new:
                c.execute(
                    "INSERT INTO spec_versions (spec_hash, spec_json, version, first_seen) VALUES (?, ?, ?, ?)",
                    (spec_hash, spec_json, spec_version, ts(at)),
                )
            c.executemany(
                "UPDATE meta SET value = ? WHERE key = ?",
                [(spec_hash, "spec_hash"), (spec_json, "spec_json"), (str(spec_version), "spec_version")],
            )
            return new

    def resume_pending(self) -> bool:
        """True until :meth:`mark_resumed`: the campaign has not yet looked for its scores in the source."""
        return not self._query("SELECT 1 FROM meta WHERE key = 'resumed'")

    def mark_resumed(self) -> None:
        """Record that scores already in the source were taken into account."""
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('resumed', ?)", (ts(datetime.now(UTC)),)
            )

    def spec_hashes(self) -> list[str]:
        """Every spec hash this campaign has run with, oldest first."""
        return [
            r[0] for r in self._query("SELECT spec_hash FROM spec_versions ORDER BY first_seen, spec_hash")
        ]

    @staticmethod
    def _item(row: sqlite3.Row) -> ItemRow:
        ref = ItemRef(
            kind=row["kind"],
            id=row["id"],
            timestamp=parse_ts(row["timestamp"]),
            trace_id=row["trace_id"],
            stratum=row["stratum"],
        )
        return ItemRow(key=row["key"], ref=ref, position=row["position"], done=row["done"])

    def items(self) -> list[ItemRow]:
        """Every queued item, in queue order."""
        return [self._item(r) for r in self._query("SELECT * FROM items ORDER BY position")]

    def item(self, key: str) -> ItemRow | None:
        rows = self._query("SELECT * FROM items WHERE key = ?", (key,))
        return self._item(rows[0]) if rows else None

    # -- leases ---------------------------------------------------------------------------------

    def current_lease(self, reviewer: str, now: datetime) -> tuple[str, datetime] | None:
        """The item the reviewer holds an unexpired lease on (and has not answered), with its expiry."""
        rows = self._query(
            """SELECT l.item_key, l.expires_at FROM leases l
               WHERE l.reviewer = ? AND l.expires_at > ?
                 AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_key = l.item_key AND r.reviewer = l.reviewer)
               ORDER BY l.leased_at LIMIT 1""",
            (reviewer, ts(now)),
        )
        return (rows[0]["item_key"], parse_ts(rows[0]["expires_at"])) if rows else None

    # Two queries instead of one ORDER BY over a join: the first walks the position index and stops
    # at the first free item (answered items are passed over by a column check), so leasing stays
    # O(1)-ish instead of sorting the whole queue on every request.
    _FREE = """
          AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_key = i.key AND r.reviewer = :reviewer)
          AND i.done + (SELECT COUNT(*) FROM leases l
                        WHERE l.item_key = i.key AND l.reviewer != :reviewer AND l.expires_at > :now) < :n
    """
    _NEXT_FRESH_SQL = (
        """SELECT i.key FROM items i WHERE i.done < :n
          AND NOT EXISTS (SELECT 1 FROM skips s WHERE s.item_key = i.key AND s.reviewer = :reviewer)"""
        + _FREE
        + " ORDER BY i.position LIMIT :limit"
    )
    _NEXT_SKIPPED_SQL = (
        """SELECT i.key FROM skips s JOIN items i ON i.key = s.item_key
           WHERE s.reviewer = :reviewer AND i.done < :n"""
        + _FREE
        + " ORDER BY s.skipped_at, i.position LIMIT :limit"
    )

    @classmethod
    def _next(cls, c: sqlite3.Connection, params: dict[str, Any]) -> list[str]:
        keys = [r[0] for r in c.execute(cls._NEXT_FRESH_SQL, params).fetchall()]
        if len(keys) < params["limit"]:
            more = {**params, "limit": params["limit"] - len(keys)}
            keys += [r[0] for r in c.execute(cls._NEXT_SKIPPED_SQL, more).fetchall()]
        return keys

    def peek_next(self, reviewer: str, n: int, now: datetime, limit: int) -> list[str]:
        """The keys :meth:`lease_next` would hand this reviewer next (for prefetching), without leasing."""
        with self._lock:
            return self._next(self._conn, {"reviewer": reviewer, "n": n, "now": ts(now), "limit": limit})

    def lease_next(
        self, reviewer: str, n: int, now: datetime, expires: datetime
    ) -> tuple[str, datetime] | None:
        """Return the reviewer's open lease, or atomically lease the next free item to them.

        An item is free for a reviewer when they have not answered it and fewer than ``n`` reviewers
        have answered it or hold an unexpired lease on it. Items they skipped come after all others,
        oldest skip first.
        """
        with self.transaction() as c:
            current = self.current_lease(reviewer, now)
            if current is not None:
                return current
            # A reviewer holds one lease at a time: drop their stale ones before taking a new one.
            c.execute("DELETE FROM leases WHERE reviewer = ?", (reviewer,))
            keys = self._next(c, {"reviewer": reviewer, "n": n, "now": ts(now), "limit": 1})
            if not keys:
                return None
            c.execute(
                "INSERT INTO leases (item_key, reviewer, leased_at, expires_at) VALUES (?, ?, ?, ?)",
                (keys[0], reviewer, ts(now), ts(expires)),
            )
            return keys[0], expires

    def lease_of(self, item_key: str, reviewer: str) -> tuple[datetime, datetime] | None:
        """(leased_at, expires_at) of the reviewer's lease on the item, expired or not."""
        rows = self._query(
            "SELECT leased_at, expires_at FROM leases WHERE item_key = ? AND reviewer = ?",
            (item_key, reviewer),
        )
        return (parse_ts(rows[0]["leased_at"]), parse_ts(rows[0]["expires_at"])) if rows else None

    def active_leases(self, item_key: str, now: datetime, *, excluding: str | None = None) -> int:
        """How many reviewers (other than ``excluding``) hold an unexpired lease on the item."""
        rows = self._query(
            "SELECT COUNT(*) FROM leases WHERE item_key = ? AND expires_at > ? AND reviewer != ?",
            (item_key, ts(now), excluding or ""),
        )
        return int(rows[0][0])

    def skip(self, item_key: str, reviewer: str, now: datetime) -> None:
        """Release the reviewer's lease and remember the skip (the item comes back after the others)."""
        with self.transaction() as c:
            c.execute("DELETE FROM leases WHERE item_key = ? AND reviewer = ?", (item_key, reviewer))
            c.execute(
                """INSERT INTO skips (item_key, reviewer, skipped_at) VALUES (?, ?, ?)
                   ON CONFLICT (item_key, reviewer) DO UPDATE SET skipped_at = excluded.skipped_at""",
                (item_key, reviewer, ts(now)),
            )

    # -- answers --------------------------------------------------------------------------------

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
        never sent). Inside an outer :meth:`transaction` (to check a lease or decide consensus with
        the same lock held), it commits with it. Returns True for a first answer, False for an edit.
        """
        with self.transaction() as c:
            return self._write_submission(
                c, item_key, reviewer, answers, comment, now, duration_s, entries, origin, outbox_status
            )

    def _write_submission(
        self,
        c: sqlite3.Connection,
        item_key: str,
        reviewer: str,
        answers: Mapping[str, Any],
        comment: str | None,
        now: datetime,
        duration_s: float | None,
        entries: Sequence[OutboxEntry],
        origin: str,
        outbox_status: str,
    ) -> bool:
        stamp = ts(now)
        existing = c.execute(
            "SELECT seq FROM reviews WHERE item_key = ? AND reviewer = ?", (item_key, reviewer)
        ).fetchone()
        first = existing is None
        if first:
            seq = c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM reviews").fetchone()[0]
            c.execute(
                """INSERT INTO reviews (item_key, reviewer, seq, comment, created_at, updated_at, duration_s, origin)
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
        self._write_outbox(c, item_key, reviewer, answers, entries, stamp, outbox_status)
        c.execute("DELETE FROM leases WHERE item_key = ? AND reviewer = ?", (item_key, reviewer))
        c.execute("DELETE FROM skips WHERE item_key = ? AND reviewer = ?", (item_key, reviewer))
        return first

    def _write_answers(
        self,
        c: sqlite3.Connection,
        item_key: str,
        reviewer: str,
        answers: Mapping[str, Any],
        comment: str | None,
        stamp: str,
        duration_s: float | None,
    ) -> None:
        names = list(answers)
        c.execute(
            f"DELETE FROM answers WHERE item_key = ? AND reviewer = ? AND question NOT IN ({','.join('?' * len(names))})",
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

    def queue_scores(
        self, item_key: str, reviewer: str, entries: Sequence[OutboxEntry], now: datetime
    ) -> None:
        """Queue scores that are no reviewer's answer (consensus: ``reviewer`` is the name its rows
        are kept under) the way answers queue theirs: a score id queued before is re-queued with a
        new revision, and an unsent row of a question not among ``entries`` is forgotten."""
        with self.transaction() as c:
            questions = [e.question for e in entries]
            self._write_outbox(c, item_key, reviewer, questions, entries, ts(now), "pending")

    def _write_outbox(
        self,
        c: sqlite3.Connection,
        item_key: str,
        reviewer: str,
        questions: Collection[str],
        entries: Sequence[OutboxEntry],
        stamp: str,
        status: str,
    ) -> None:
        # A question answered before but not now (its `when` no longer holds): a row that never left
        # the machine is forgotten; one that may have reached the source (any attempt, or restored
        # from it) becomes a delete of its score id, due now. The drainer deletes the score and
        # confirms it gone; status and export no longer count it as an answer.
        marks = ",".join("?" * len(questions))
        c.execute(
            f"""DELETE FROM outbox WHERE item_key = ? AND reviewer = ? AND reached = 0
                AND question NOT IN ({marks})""",
            (item_key, reviewer, *questions),
        )
        c.execute(
            f"""UPDATE outbox SET action = 'delete', status = 'pending', revision = revision + 1,
                   attempts = 0, next_attempt_at = ?, last_error = NULL, sent_at = NULL,
                   confirmed_at = NULL, updated_at = ?
                WHERE item_key = ? AND reviewer = ? AND action = 'upsert' AND question NOT IN ({marks})""",
            (stamp, stamp, item_key, reviewer, *questions),
        )
        for e in entries:
            c.execute(
                """INSERT INTO outbox (score_id, item_key, reviewer, question, payload_json, status, revision,
                                       attempts, next_attempt_at, created_at, updated_at,
                                       confirmed_at, action, reached)
                   VALUES (?, ?, ?, ?, ?, ?, 1, 0, ?, ?, ?, CASE WHEN ? = 'confirmed' THEN ? END, 'upsert',
                           CASE WHEN ? = 'pending' THEN 0 ELSE 1 END)
                   ON CONFLICT (score_id) DO UPDATE SET
                     payload_json = excluded.payload_json, status = excluded.status,
                     action = 'upsert', reached = MAX(outbox.reached, excluded.reached),
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
                    status,
                    stamp,
                    status,
                ),
            )

    def review(self, item_key: str, reviewer: str) -> ReviewRow | None:
        """The reviewer's answer to the item, or None."""
        rows = self._query("SELECT * FROM reviews WHERE item_key = ? AND reviewer = ?", (item_key, reviewer))
        if not rows:
            return None
        return self._review(rows[0])

    def _review(self, row: sqlite3.Row) -> ReviewRow:
        answers = {
            a["question"]: json.loads(a["value_json"])
            for a in self._query(
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
            created_at=parse_ts(row["created_at"]),
            updated_at=parse_ts(row["updated_at"]),
            duration_s=row["duration_s"],
            origin=row["origin"],
        )

    def reviews(self, *, item_key: str | None = None, reviewer: str | None = None) -> list[ReviewRow]:
        """Reviews, optionally of one item or by one reviewer, in answer order."""
        where, params = _where(item_key=item_key, reviewer=reviewer)
        return [self._review(r) for r in self._query(f"SELECT * FROM reviews {where} ORDER BY seq", params)]

    def answered_before(self, reviewer: str, before: str | None) -> str | None:
        """The item the reviewer answered just before ``before`` (their latest when ``before`` is None or
        not one of their answered items)."""
        seq = None
        if before is not None:
            rows = self._query(
                "SELECT seq FROM reviews WHERE item_key = ? AND reviewer = ?", (before, reviewer)
            )
            seq = rows[0]["seq"] if rows else None
        if seq is None:
            rows = self._query(
                "SELECT item_key FROM reviews WHERE reviewer = ? ORDER BY seq DESC LIMIT 1", (reviewer,)
            )
        else:
            rows = self._query(
                "SELECT item_key FROM reviews WHERE reviewer = ? AND seq < ? ORDER BY seq DESC LIMIT 1",
                (reviewer, seq),
            )
        return rows[0]["item_key"] if rows else None

    def reviewer_counts(self, reviewer: str, n: int) -> tuple[int, int]:
        """(items the reviewer answered, items still open to them)."""
        done = self._query("SELECT COUNT(*) FROM reviews WHERE reviewer = ?", (reviewer,))[0][0]
        remaining = self._query(
            """SELECT COUNT(*) FROM items i WHERE i.done < ?
               AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_key = i.key AND r.reviewer = ?)""",
            (n, reviewer),
        )[0][0]
        return int(done), int(remaining)

    def counts(self, n: int) -> Counts:
        """Campaign-wide counts; reviews are capped at ``n`` per item."""
        items, complete, reviews = self.item_counts(n)
        return Counts(items=items, items_complete=complete, reviews=reviews, outbox=self.outbox_counts())

    def item_counts(self, n: int) -> tuple[int, int, int]:
        """(items, items with ``n`` reviews, reviews capped at ``n`` per item)."""
        row = self._query(
            "SELECT COUNT(*), COALESCE(SUM(done >= ?), 0), COALESCE(SUM(MIN(done, ?)), 0) FROM items", (n, n)
        )[0]
        return int(row[0]), int(row[1]), int(row[2])

    def outbox_counts(self) -> dict[str, int]:
        """Outbox rows per status (every status, 0 when none)."""
        outbox = {s: 0 for s in OUTBOX_STATUSES}
        for r in self._query(f"SELECT status, COUNT(*) FROM outbox WHERE {_LIVE} GROUP BY status"):
            outbox[r[0]] = r[1]
        return outbox

    def per_reviewer(self) -> dict[str, dict[str, int]]:
        """Per reviewer: answered items and their outbox rows by status."""
        out: dict[str, dict[str, int]] = {}
        for r in self._query("SELECT reviewer, COUNT(*) FROM reviews GROUP BY reviewer"):
            out[r[0]] = {"answered": r[1], **{s: 0 for s in OUTBOX_STATUSES}}
        for r in self._query(
            f"SELECT reviewer, status, COUNT(*) FROM outbox WHERE {_LIVE} GROUP BY reviewer, status"
        ):
            out.setdefault(r[0], {"answered": 0, **{s: 0 for s in OUTBOX_STATUSES}})[r[1]] = r[2]
        return out

    # -- outbox ---------------------------------------------------------------------------------

    @staticmethod
    def _outbox(row: sqlite3.Row) -> OutboxRow:
        return OutboxRow(
            score_id=row["score_id"],
            item_key=row["item_key"],
            reviewer=row["reviewer"],
            question=row["question"],
            payload=json.loads(row["payload_json"]),
            status=row["status"],
            revision=row["revision"],
            attempts=row["attempts"],
            next_attempt_at=parse_ts(row["next_attempt_at"]),
            last_error=row["last_error"],
            sent_at=parse_ts(row["sent_at"]) if row["sent_at"] else None,
            confirmed_at=parse_ts(row["confirmed_at"]) if row["confirmed_at"] else None,
            action=row["action"],
        )

    def outbox(self, *, status: str | None = None, item_key: str | None = None) -> list[OutboxRow]:
        """Outbox rows, optionally by status / item, oldest first."""
        where, params = _where(status=status, item_key=item_key)
        sql = f"SELECT * FROM outbox {where} ORDER BY created_at, score_id"
        return [self._outbox(r) for r in self._query(sql, params)]

    def outbox_due(self, now: datetime, limit: int) -> list[OutboxRow]:
        """Pending rows whose next attempt is due, oldest first (ties: first queued first)."""
        # rowid, not score_id, breaks ties: the outbox_due index already orders by it, so a backlog
        # due at one instant (a restart, `hitl sync --retry-failed`) is not sorted whole each round,
        # holding the lock every reviewer request needs (60,000 rows: 29 ms -> 0.2 ms).
        rows = self._query(
            """SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?
               ORDER BY next_attempt_at, rowid LIMIT ?""",
            (ts(now), limit),
        )
        return [self._outbox(r) for r in rows]

    def next_due_at(self, status: str = "pending") -> datetime | None:
        """When the earliest row in ``status`` becomes due (its next send, or next read-back for
        ``sent`` rows); None when there is none."""
        rows = self._query("SELECT MIN(next_attempt_at) FROM outbox WHERE status = ?", (status,))
        return parse_ts(rows[0][0]) if rows and rows[0][0] else None

    def reschedule(self, rows: Sequence[tuple[str, int]], at: Mapping[str, datetime]) -> None:
        """Set the next attempt (send, or read-back for ``sent`` rows) of ``(score_id, revision)`` rows."""
        with self.transaction() as c:
            c.executemany(
                "UPDATE outbox SET next_attempt_at = ? WHERE score_id = ? AND revision = ?",
                [(ts(at[score_id]), score_id, revision) for score_id, revision in rows],
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
        stamp = ts(now)
        sets = ["status = ?", "updated_at = ?", "last_error = ?", "attempts = attempts + ?"]
        values: list[Any] = [status, stamp, error, 1 if count_attempt else 0]
        if next_attempt_at is not None:
            sets.append("next_attempt_at = ?")
            values.append(ts(next_attempt_at))
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
        with self.transaction() as c:
            for score_id, revision in rows:
                changed += c.execute(sql, (*values, score_id, revision)).rowcount
        return changed

    def requeue(self, statuses: Sequence[str], now: datetime) -> int:
        """Put rows in ``statuses`` back to pending, due now (e.g. after a restart, or to retry dropped)."""
        with self.transaction() as c:
            cur = c.execute(
                f"""UPDATE outbox SET status = 'pending', next_attempt_at = ?, updated_at = ?
                    WHERE status IN ({",".join("?" * len(statuses))})""",
                (ts(now), ts(now), *statuses),
            )
            return cur.rowcount

    # -- config cache ---------------------------------------------------------------------------

    def save_configs(self, configs: Mapping[str, ScoreConfig], now: datetime) -> None:
        """Cache the resolved score config of each question (question score name → config)."""
        with self.transaction() as c:
            c.execute("DELETE FROM configs")
            c.executemany(
                "INSERT INTO configs (question, config_id, config_json, resolved_at) VALUES (?, ?, ?, ?)",
                [(q, cfg.id, json.dumps(config_to_json(cfg)), ts(now)) for q, cfg in configs.items()],
            )

    def load_configs(self) -> dict[str, ScoreConfig]:
        """The cached configs (empty when never resolved)."""
        return {
            r["question"]: config_from_json(json.loads(r["config_json"]))
            for r in self._query("SELECT question, config_json FROM configs")
        }

    # -- export ---------------------------------------------------------------------------------

    def export_rows(self) -> list[dict[str, Any]]:
        """One row per item × reviewer × question, joined with its outbox row (if any)."""
        rows = self._query(
            """SELECT a.item_key, i.kind, i.id AS item_id, i.trace_id, i.position, i.stratum,
                      a.reviewer, a.question, a.value_json, a.comment, a.created_at, a.updated_at,
                      a.duration_s, o.score_id, o.status AS outbox_status, o.last_error, o.confirmed_at,
                      r.origin
               FROM answers a
               JOIN items i ON i.key = a.item_key
               JOIN reviews r ON r.item_key = a.item_key AND r.reviewer = a.reviewer
               LEFT JOIN outbox o ON o.item_key = a.item_key AND o.reviewer = a.reviewer
                                  AND o.question = a.question
               ORDER BY i.position, r.seq, a.question"""
        )
        return [dict(r) for r in rows]


def config_to_json(cfg: ScoreConfig) -> dict[str, Any]:
    """A ScoreConfig as plain JSON."""
    return {
        "id": cfg.id,
        "name": cfg.name,
        "data_type": cfg.data_type,
        "categories": [[label, value] for label, value in cfg.categories],
        "min_value": cfg.min_value,
        "max_value": cfg.max_value,
        "description": cfg.description,
        "is_archived": cfg.is_archived,
    }


def config_from_json(data: Mapping[str, Any]) -> ScoreConfig:
    """The inverse of :func:`config_to_json`."""
    return ScoreConfig(
        id=data["id"],
        name=data["name"],
        data_type=data["data_type"],
        categories=tuple((str(label), float(value)) for label, value in data.get("categories", [])),
        min_value=data.get("min_value"),
        max_value=data.get("max_value"),
        description=data.get("description"),
        is_archived=bool(data.get("is_archived", False)),
    )
