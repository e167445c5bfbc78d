"""The campaign database's migration history: every table of the file, in one list.

Never edit a released migration: append a new one. ``0001``/``0002`` are the tables as the first
releases created them (times as ISO text); ``0003`` brings the consensus and annotation-queue
tables, which were created on the fly before, into the history; ``0004`` stores every time as
integer microseconds (:mod:`hitl_pipeline.db.times`), the representation of every hitl database.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hitl_pipeline.db import Dialect, Migration, Tx, locks, to_us
from hitl_pipeline.db.sqlite import sqlite_function


def _initial(tx: Tx, d: Dialect) -> None:
    # SQLite files made by the first releases stored times as text; PostgreSQL databases start
    # at this history's end, so their time columns are integers from the start (0004 skips them).
    t = "TEXT" if d.name == "sqlite" else d.bigint_type
    for statement in [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"""CREATE TABLE spec_versions (
            spec_hash TEXT PRIMARY KEY, spec_json TEXT NOT NULL, version INTEGER NOT NULL,
            first_seen {t} NOT NULL
        )""",
        f"""CREATE TABLE items (
            key TEXT PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL, trace_id TEXT,
            position INTEGER NOT NULL UNIQUE, stratum TEXT, timestamp {t} NOT NULL,
            done INTEGER NOT NULL DEFAULT 0
        )""",
        f"""CREATE TABLE reviews (
            item_key TEXT NOT NULL REFERENCES items(key), reviewer TEXT NOT NULL,
            seq INTEGER NOT NULL, comment TEXT, created_at {t} NOT NULL, updated_at {t} NOT NULL,
            duration_s {d.float_type}, origin TEXT NOT NULL DEFAULT 'form',
            PRIMARY KEY (item_key, reviewer)
        )""",
        "CREATE INDEX reviews_by_reviewer ON reviews(reviewer, seq)",
        f"""CREATE TABLE answers (
            item_key TEXT NOT NULL, reviewer TEXT NOT NULL, question TEXT NOT NULL,
            value_json TEXT NOT NULL, comment TEXT, created_at {t} NOT NULL, updated_at {t} NOT NULL,
            duration_s {d.float_type},
            PRIMARY KEY (item_key, reviewer, question),
            FOREIGN KEY (item_key, reviewer) REFERENCES reviews(item_key, reviewer)
        )""",
        f"""CREATE TABLE leases (
            item_key TEXT NOT NULL REFERENCES items(key), reviewer TEXT NOT NULL,
            leased_at {t} NOT NULL, expires_at {t} NOT NULL,
            PRIMARY KEY (item_key, reviewer)
        )""",
        "CREATE INDEX leases_by_reviewer ON leases(reviewer, expires_at)",
        f"""CREATE TABLE skips (
            item_key TEXT NOT NULL REFERENCES items(key), reviewer TEXT NOT NULL,
            skipped_at {t} NOT NULL,
            PRIMARY KEY (item_key, reviewer)
        )""",
        f"""CREATE TABLE outbox (
            score_id TEXT PRIMARY KEY, item_key TEXT NOT NULL, reviewer TEXT NOT NULL,
            question TEXT NOT NULL, payload_json TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending','sent','confirmed','failed','dropped')),
            revision INTEGER NOT NULL DEFAULT 1, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at {t} NOT NULL, last_error TEXT, sent_at {t}, confirmed_at {t},
            created_at {t} NOT NULL, updated_at {t} NOT NULL
        )""",
        "CREATE INDEX outbox_due ON outbox(status, next_attempt_at)",
        f"""CREATE TABLE configs (
            question TEXT PRIMARY KEY, config_id TEXT NOT NULL, config_json TEXT NOT NULL,
            resolved_at {t} NOT NULL
        )""",
    ]:
        tx.execute(statement)


def _consensus_and_queue(tx: Tx, d: Dialect) -> None:
    # Before this migration both tables were created when first needed (IF NOT EXISTS: a file
    # may have them already).
    t = "TEXT" if d.name == "sqlite" else d.bigint_type
    tx.execute(
        f"""CREATE TABLE IF NOT EXISTS adjudications (
            item_key TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
            reasons_json TEXT NOT NULL,
            leased_by TEXT, lease_expires {t},
            adjudicator TEXT, answers_json TEXT, comment TEXT,
            created_at {t} NOT NULL, resolved_at {t}
        )"""
    )
    tx.execute(
        f"""CREATE TABLE IF NOT EXISTS annotation_queue_items (
            item_key TEXT PRIMARY KEY,
            queue_id TEXT NOT NULL,
            queue_item_id TEXT NOT NULL,
            completed_at {t}
        )"""
    )


def _quality(tx: Tx, d: Dialect) -> None:
    # Gold items (hitl_pipeline.quality): which gold item was served to whom, as part of a
    # qualification round or as a honeypot, and the answer given, graded. Never in reviews/answers/
    # outbox, so never in agreement statistics nor (by default) in the source. reviewer_quality:
    # each reviewer's qualification state. items.needed: adaptive overlap, the reviewers an item
    # needs now (NULL: the spec's reviewers_per_item).
    t = d.bigint_type
    for statement in [
        f"""CREATE TABLE gold_serves (
            reviewer TEXT NOT NULL, item_key TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('qualification', 'honeypot')),
            round INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL, served_at {t} NOT NULL,
            answered_at {t}, answers_json TEXT, comment TEXT, duration_s {d.float_type},
            graded INTEGER NOT NULL DEFAULT 0, correct INTEGER NOT NULL DEFAULT 0, grades_json TEXT,
            PRIMARY KEY (reviewer, item_key, round)
        )""",
        "CREATE INDEX gold_serves_open ON gold_serves(reviewer, answered_at)",
        f"""CREATE TABLE reviewer_quality (
            reviewer TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('qualifying', 'passed', 'failed', 'retry', 'stopped')),
            round INTEGER NOT NULL DEFAULT 0, note TEXT, notice TEXT, updated_at {t} NOT NULL
        )""",
        "ALTER TABLE items ADD COLUMN needed INTEGER",
    ]:
        tx.execute(statement)


# (table, column, NOT NULL, indexes to drop and re-create around the change)
_TIMES: list[tuple[str, str, bool]] = [
    ("spec_versions", "first_seen", True),
    ("items", "timestamp", True),
    ("reviews", "created_at", True),
    ("reviews", "updated_at", True),
    ("answers", "created_at", True),
    ("answers", "updated_at", True),
    ("leases", "leased_at", True),
    ("leases", "expires_at", True),
    ("skips", "skipped_at", True),
    ("outbox", "next_attempt_at", True),
    ("outbox", "sent_at", False),
    ("outbox", "confirmed_at", False),
    ("outbox", "created_at", True),
    ("outbox", "updated_at", True),
    ("configs", "resolved_at", True),
    ("adjudications", "lease_expires", False),
    ("adjudications", "created_at", True),
    ("adjudications", "resolved_at", False),
    ("annotation_queue_items", "completed_at", False),
]
_INDEXES = {
    "leases": ["CREATE INDEX leases_by_reviewer ON leases(reviewer, expires_at)"],
    "outbox": ["CREATE INDEX outbox_due ON outbox(status, next_attempt_at)"],
}
_META_TIMES = ("created_at", "now", "resumed")


def iso_to_us(text: str | None) -> int | None:
    """An ISO time as the state stored it (``…Z``, or ``+00:00`` from the annotation queue)."""
    if text is None:
        return None
    dt = datetime.fromisoformat(text)
    return to_us(dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC))


def _times_as_microseconds(tx: Tx, d: Dialect) -> None:
    if d.name != "sqlite":
        return  # other engines never held text times (see _initial)
    sqlite_function(tx, "hitl_iso_us", iso_to_us, 1)
    for table in _INDEXES:
        tx.execute(f"DROP INDEX IF EXISTS {table}_{'by_reviewer' if table == 'leases' else 'due'}")
    for table, column, not_null in _TIMES:
        # SQLite cannot change a column's type: add an INTEGER column, fill it, drop the text one.
        constraint = " NOT NULL DEFAULT 0" if not_null else ""
        tx.execute(f"ALTER TABLE {table} ADD COLUMN {column}__us INTEGER{constraint}")
        tx.execute(f"UPDATE {table} SET {column}__us = hitl_iso_us({column})")
        tx.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        tx.execute(f"ALTER TABLE {table} RENAME COLUMN {column}__us TO {column}")
    for statements in _INDEXES.values():
        for statement in statements:
            tx.execute(statement)
    marks = ",".join("?" * len(_META_TIMES))
    tx.execute(
        f"UPDATE meta SET value = CAST(hitl_iso_us(value) AS TEXT) WHERE key IN ({marks}) AND value != ''",
        _META_TIMES,
    )


MIGRATIONS: list[Migration] = [
    Migration("0001_initial", _initial),
    Migration(
        # action: what the row asks of the source, 'upsert' (send the payload) or 'delete' (the
        # question was withdrawn: delete the score id). reached: a revision of the row may have
        # reached the source (an attempt was made, or it came from there), so withdrawing its
        # question must delete the score rather than forget the row.
        "0002_outbox_delete",
        [
            """ALTER TABLE outbox ADD COLUMN action TEXT NOT NULL DEFAULT 'upsert'
                CHECK (action IN ('upsert', 'delete'))""",
            "ALTER TABLE outbox ADD COLUMN reached INTEGER NOT NULL DEFAULT 0",
            "UPDATE outbox SET reached = 1 WHERE status != 'pending' OR attempts > 0 OR sent_at IS NOT NULL",
        ],
    ),
    Migration("0003_consensus_and_queue_tables", _consensus_and_queue),
    Migration("0004_times_as_microseconds", _times_as_microseconds),
    Migration("0005_quality", _quality),
    # Leases between processes: the outbox's one drainer, the live review servers.
    Migration("0006_process_locks", locks.create_table),
]
