"""A campaign state file written by an earlier release opens with this one: its history is adopted,
the missing migrations run (consensus/queue tables, times as microseconds), and everything in it
reads back as before. A file from a newer release is refused before anything changes."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.campaign.state.schema import MIGRATIONS
from hitl_pipeline.db import SchemaTooNew, to_us
from hitl_pipeline.errors import ConfigError
from tests.campaign.legacy_state import make_legacy_state

T0 = "2026-11-05T10:00:00.123456Z"
T1 = "2026-11-05T10:05:30.000001Z"
T2 = "2026-11-05T11:00:00.000000Z"


def _dt(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _old_file(path: Path) -> None:
    conn = make_legacy_state(path)
    meta = {
        "campaign": "old-campaign",
        "spec_hash": "h1",
        "spec_json": "{}",
        "spec_version": "2",
        "created_at": T0,
        "now": T1,
        "git_commit": "",
        "resumed": T2,
    }
    conn.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
    conn.execute("INSERT INTO spec_versions VALUES ('h1', '{}', 2, ?)", (T0,))
    conn.executemany(
        "INSERT INTO items (key, kind, id, trace_id, position, stratum, timestamp, done) VALUES (?,?,?,?,?,?,?,?)",
        [
            ("trace:a", "trace", "a", "a", 0, "x", T0, 1),
            ("trace:b", "trace", "b", "b", 1, None, T1, 0),
        ],
    )
    conn.execute(
        "INSERT INTO reviews VALUES ('trace:a', 'ann', 1, 'fine', ?, ?, 12.5, 'form')",
        (T0, T1),
    )
    conn.execute(
        "INSERT INTO answers VALUES ('trace:a', 'ann', 'helpfulness', '4', 'fine', ?, ?, 12.5)",
        (T0, T1),
    )
    conn.execute("INSERT INTO leases VALUES ('trace:b', 'bob', ?, ?)", (T1, T2))
    conn.execute("INSERT INTO skips VALUES ('trace:b', 'ann', ?)", (T1,))
    conn.execute(
        """INSERT INTO outbox (score_id, item_key, reviewer, question, payload_json, status, revision,
               attempts, next_attempt_at, last_error, sent_at, confirmed_at, created_at, updated_at, action,
               reached)
           VALUES ('s1', 'trace:a', 'ann', 'helpfulness', ?, 'confirmed', 1, 1, ?, NULL, ?, ?, ?, ?, 'upsert', 1)""",
        (json.dumps({"id": "s1"}), T0, T1, T2, T0, T2),
    )
    conn.execute(
        "INSERT INTO configs VALUES ('helpfulness', 'cfg-1', ?, ?)",
        (json.dumps({"id": "cfg-1", "name": "helpfulness", "data_type": "NUMERIC"}), T0),
    )
    conn.execute(
        """INSERT INTO adjudications (item_key, status, reasons_json, leased_by, lease_expires, created_at)
           VALUES ('trace:b', 'open', '["q: tie"]', 'judge', ?, ?)""",
        (T2, T1),
    )
    conn.execute(
        "INSERT INTO annotation_queue_items VALUES ('trace:a', 'q1', 'qi1', '2026-11-05T11:00:00.000000+00:00')"
    )
    conn.close()


def test_a_file_of_the_previous_release_opens_and_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_file(path)
    state = CampaignState(path)
    try:
        assert state.migrations() == [m.name for m in MIGRATIONS]
        tables = state.db.table_names()
        assert "migrations" not in tables and "schema_migrations" in tables  # history adopted
        adopted = dict(state.db.query("SELECT name, applied_ts FROM schema_migrations"))
        assert adopted["0001_initial"] == to_us(_dt("2026-10-01T09:00:00.000000Z"))

        meta = state.meta()
        assert (meta.campaign, meta.spec_version, meta.created_at, meta.now) == (
            "old-campaign",
            2,
            _dt(T0),
            _dt(T1),
        )
        assert not state.resume_pending()
        assert [(r.key, r.ref.timestamp, r.done) for r in state.items()] == [
            ("trace:a", _dt(T0), 1),
            ("trace:b", _dt(T1), 0),
        ]
        review = state.review("trace:a", "ann")
        assert review is not None
        assert (review.created_at, review.updated_at, review.answers) == (
            _dt(T0),
            _dt(T1),
            {"helpfulness": 4},
        )
        assert state.lease_of("trace:b", "bob") == (_dt(T1), _dt(T2))
        assert state.current_lease("bob", _dt(T1)) == ("trace:b", _dt(T2))
        assert state.current_lease("bob", _dt(T2)) is None  # expired at T2
        (row,) = state.outbox()
        assert (row.status, row.next_attempt_at, row.sent_at, row.confirmed_at) == (
            "confirmed",
            _dt(T0),
            _dt(T1),
            _dt(T2),
        )
        assert state.load_configs()["helpfulness"].id == "cfg-1"
        assert state.open_adjudications() == 1
        completed = state.db.scalar("SELECT completed_at FROM annotation_queue_items")
        assert completed == to_us(_dt(T2))
        # The export shows the same text the previous release exported.
        (exported,) = state.export_rows()
        assert (exported["created_at"], exported["updated_at"], exported["confirmed_at"]) == (T0, T1, T2)
        # And the file works on: a new answer lands next to the old one.
        state.record_submission(
            item_key="trace:b",
            reviewer="cy",
            answers={"helpfulness": 2},
            comment=None,
            now=_dt(T2),
            duration_s=None,
            entries=[],
        )
        assert [r.reviewer for r in state.reviews()] == ["ann", "cy"]
        assert state.counts(1).items_complete == 2
    finally:
        state.close()
    again = CampaignState(path)  # a second open applies nothing
    try:
        assert again.migrations() == [m.name for m in MIGRATIONS]
    finally:
        again.close()


def test_a_file_of_a_newer_release_is_refused_before_anything_changes(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    CampaignState(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES ('0099_from_the_future', 1)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match=r"newer release of hitl.*0099_from_the_future.*upgrade") as err:
        CampaignState(path)
    assert isinstance(err.value, ConfigError)  # the CLI prints it as an error, no traceback
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    conn.close()
    assert names == [m.name for m in MIGRATIONS] + ["0099_from_the_future"]
