"""Campaign state files as earlier releases wrote them, for the migration tests.

The DDL is copied verbatim from ``campaign/state.py``, ``campaign/consensus.py`` and
``campaign/annotation_queue.py`` of the release before the database layer (history table
``migrations`` with ISO text times; times in every table as ``…Z`` text, except the queue
mirror's ``completed_at``, which was ``datetime.isoformat()``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

V0001 = """
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
"""

V0002 = """
ALTER TABLE outbox ADD COLUMN action TEXT NOT NULL DEFAULT 'upsert'
    CHECK (action IN ('upsert', 'delete'));
ALTER TABLE outbox ADD COLUMN reached INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET reached = 1 WHERE status != 'pending' OR attempts > 0 OR sent_at IS NOT NULL;
"""

ADJUDICATIONS = """
CREATE TABLE IF NOT EXISTS adjudications (
    item_key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    reasons_json TEXT NOT NULL,
    leased_by TEXT, lease_expires TEXT,
    adjudicator TEXT, answers_json TEXT, comment TEXT,
    created_at TEXT NOT NULL, resolved_at TEXT
);
"""

QUEUE_ITEMS = """
CREATE TABLE IF NOT EXISTS annotation_queue_items (
    item_key TEXT PRIMARY KEY,
    queue_id TEXT NOT NULL,
    queue_item_id TEXT NOT NULL,
    completed_at TEXT
);
"""


def make_legacy_state(path: Path, *, with_0002: bool = True, extras: bool = True) -> sqlite3.Connection:
    """A state file with the old schema (history in ``migrations``); returns an open connection
    (autocommit) to fill it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    conn.executescript(V0001)
    conn.execute("INSERT INTO migrations VALUES ('0001_initial', '2026-10-01T09:00:00.000000Z')")
    if with_0002:
        conn.executescript(V0002)
        conn.execute("INSERT INTO migrations VALUES ('0002_outbox_delete', '2026-11-01T09:00:00.000000Z')")
    if extras:
        conn.executescript(ADJUDICATIONS + QUEUE_ITEMS)
    return conn
