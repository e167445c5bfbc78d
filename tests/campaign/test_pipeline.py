"""open_campaign / restart / resume from the source / status / export / dry run, end to end on real SQLite."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.campaign.export import EXPORT_COLUMNS, export
from hitl_pipeline.campaign.lifecycle import campaign_db_path, dry_run, open_campaign, sync
from hitl_pipeline.campaign.service import CampaignService
from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.campaign.state.location import StateLocation
from hitl_pipeline.campaign.status import status
from hitl_pipeline.scoring.scores import score_id
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec.codec import spec_from_json, spec_to_json
from hitl_pipeline.spec.model import ReviewSpec
from tests.campaign.campaign_support import DEMO_NOW, Clock, demo_configs, lose_state, make_spec

# Every test here runs on both state engines (SQLite files; a real PostgreSQL through HITL_STATE_URL).
pytestmark = pytest.mark.usefixtures("state_url")

GOOD = {"support_quality": "excellent", "helpfulness": 4, "factually_correct": True}
POOR = {
    "support_quality": "poor",
    "helpfulness": 1,
    "factually_correct": False,
    "reviewer_notes": "Wrong refund policy",
}


def _open(spec: ReviewSpec, store: LocalSource, home: Path, clock: Clock, **kw: Any) -> CampaignService:
    return open_campaign(
        spec,
        store,
        home=home,
        now=DEMO_NOW,
        configs=demo_configs(store, spec),
        clock=clock,
        worker=False,
        **kw,
    )


def test_state_file_meta_and_migrations(
    store: LocalSource, home: Path, clock: Clock, state_url: str | None
) -> None:
    spec = make_spec(size=5)
    with _open(spec, store, home, clock) as svc:
        if state_url is None:
            assert (
                svc.state.path
                == campaign_db_path(home, spec.campaign)
                == home / "campaigns" / f"{spec.campaign}.db"
            )
        else:  # the campaign's schema of the state database
            assert f"(schema c_{spec.campaign})" in svc.state.where
        meta = svc.state.meta()
        assert (meta.campaign, meta.spec_hash, meta.spec_version, meta.now) == (
            spec.campaign,
            spec.spec_hash,
            1,
            DEMO_NOW,
        )
        assert spec_from_json(meta.spec_json) == spec
        assert svc.state.migrations() == [
            "0001_initial",
            "0002_outbox_delete",
            "0003_consensus_and_queue_tables",
            "0004_times_as_microseconds",
            "0005_quality",
            "0006_process_locks",
        ]
        if state_url is None:
            assert svc.state.db.query("PRAGMA journal_mode")[0][0] == "wal"
        assert [r.key for r in svc.state.items()] == dry_run(spec, store, DEMO_NOW).keys
        assert set(svc.state.load_configs()) == {
            "support_quality",
            "helpfulness",
            "factually_correct",
            "reviewer_notes",
        }


def test_restart_resumes_where_it_stopped(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=4, strategy="random")
    with _open(spec, store, home, clock) as svc:
        keys = [r.key for r in svc.state.items()]
        a = svc.open_next("ann")
        assert a is not None
        svc.submit("ann", a.item_key, GOOD, "kept")
        b = svc.open_next("ann")  # leased, not answered when the server stops
        assert b is not None
    # Later, with a different clock "now": the stored now and queue are kept (no drift).
    later = Clock(DEMO_NOW.replace(month=12))
    with open_campaign(
        spec, store, home=home, now=None, configs=demo_configs(store, spec), clock=later, worker=False
    ) as svc:
        assert [r.key for r in svc.state.items()] == keys
        assert svc.state.meta().now == DEMO_NOW
        assert svc.open_item("ann", a.item_key).comment == "kept"
        nxt = svc.open_next("ann")  # the old lease expired (a month later): the same item comes first
        assert nxt is not None and nxt.item_key == b.item_key
        assert svc.progress("ann").reviewer_done == 1


def test_resume_from_the_source_after_losing_the_state(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=5, n=2)
    with _open(spec, store, home, clock) as svc:
        done = []
        for who in ("ann", "bob"):
            for _ in range(2):
                a = svc.open_next(who)
                assert a is not None
                svc.submit(who, a.item_key, POOR if who == "bob" else GOOD, f"by {who}")
                done.append((a.item_key, who))
    report = sync(spec, store, home=home, deadline=10)
    assert report.done and report.confirmed == 14
    lose_state(home, spec.campaign)  # a new machine: the campaign state is gone
    with _open(spec, store, home, clock) as svc:
        restored = {(r.item_key, r.reviewer): r for r in svc.state.reviews()}
        assert set(restored) == set(done)
        assert all(r.origin == "source" for r in restored.values())
        key, _ = next(d for d in done if d[1] == "bob")
        assert restored[(key, "bob")].answers == {
            "support_quality": "poor",
            "helpfulness": 1.0,
            "factually_correct": False,
            "reviewer_notes": "Wrong refund policy",
        }
        assert restored[(key, "bob")].comment == "by bob"
        assert {r.status for r in svc.state.outbox()} == {"confirmed"}
        # Fully scored items are not queued again; half-scored ones need one more reviewer.
        seen = set()
        while (a := svc.open_next("cy")) is not None:
            seen.add(a.item_key)
            svc.submit("cy", a.item_key, GOOD, None)
        complete = {k for k in {d[0] for d in done} if sum(1 for d in done if d[0] == k) == 2}
        assert not (seen & complete)
        # ann's edit after the resume updates her original score ids.
        key_a = next(d[0] for d in done if d[1] == "ann")
        svc.open_item("ann", key_a)
        svc.submit("ann", key_a, {**GOOD, "helpfulness": 5}, None)
        ids = {r.score_id for r in svc.state.outbox(item_key=key_a) if r.reviewer == "ann"}
        assert score_id(spec.campaign, 1, key_a, "helpfulness", "ann") in ids


def test_status_and_export(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=3, n=1, target="observation", filters="    observation_name: generate-answer\n")
    with _open(spec, store, home, clock) as svc:
        for answers in (GOOD, POOR):
            a = svc.open_next("ann")
            assert a is not None
            svc.submit("ann", a.item_key, answers, None)
        b = svc.open_next("bob")
        assert b is not None
        svc.submit("bob", b.item_key, GOOD, "ok")
    st = status(spec, home=home)
    assert (st.items, st.answered, st.queued, st.items_complete) == (3, 3, 0, 3)
    assert st.outbox["pending"] == 10
    assert {r.reviewer: (r.answered, r.pending) for r in st.reviewers} == {"ann": (2, 7), "bob": (1, 3)}
    sync(spec, store, home=home, deadline=10)
    assert status(spec, home=home).outbox["confirmed"] == 10

    buf = io.StringIO()
    assert export(spec, home=home, fmt="jsonl", out=buf) == 10
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert {tuple(sorted(r)) for r in rows} == {tuple(sorted(EXPORT_COLUMNS))}
    notes = [r for r in rows if r["question"] == "reviewer_notes"]
    assert len(notes) == 1 and notes[0]["value"] == "Wrong refund policy"
    for r in rows:
        assert r["kind"] == "observation" and r["observation_id"] == r["item_id"] and r["trace_id"]
        assert r["outbox_status"] == "confirmed"
        assert r["score_id"] == score_id(spec.campaign, 1, r["item_key"], r["question"], r["reviewer"])
        stored = store.read_scores([r["score_id"]])[r["score_id"]]
        assert stored.observation_id == r["observation_id"] and stored.trace_id == r["trace_id"]
    buf = io.StringIO()
    export(spec, home=home, fmt="csv", out=buf)
    table = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert len(table) == 10 and table[0].keys() == set(EXPORT_COLUMNS)
    assert {r["value"] for r in table if r["question"] == "factually_correct"} == {"true", "false"}


def test_spec_json_roundtrip_of_the_example_specs(repo_root: Path) -> None:
    from hitl_pipeline.spec import load_spec, load_spec_text

    specs = [load_spec(p) for p in sorted((repo_root / "specs").glob("*.yaml"))]
    specs.append(
        load_spec_text(
            "version: 1\ncampaign: c\ntitle: t\ntarget: trace\n"
            "source:\n  filters:\n    metadata: {topic: [billing, returns], plan: pro}\n"
            "    scores: [{name: llm_judge_helpfulness, op: '<', value: 0.5}]\n"
            "questions:\n  - {score: issue_resolved, type: boolean, label: Resolved}\n",
            "<inline>",
        )
    )
    assert len(specs) >= 4
    for spec in specs:
        assert spec_from_json(spec_to_json(spec)) == spec


def test_spec_json_roundtrip_for_every_target() -> None:
    for kw in (
        {},
        {"target": "session", "filters": "    environment: production\n"},
        {"strategy": "stratified", "by": "metadata.topic"},
    ):
        spec = make_spec(**kw)  # type: ignore[arg-type]
        assert spec_from_json(spec_to_json(spec)) == spec


def test_dry_run_is_deterministic_and_writes_nothing(store: LocalSource, home: Path) -> None:
    spec = make_spec(size=10, strategy="stratified", by="metadata.language")
    a, b = dry_run(spec, store, DEMO_NOW), dry_run(spec, store, DEMO_NOW)
    assert a.keys == b.keys and a.strata == b.strata and sum(a.strata.values()) == 10
    assert not home.exists()


def test_state_is_shared_safely_by_two_connections(store: LocalSource, home: Path, clock: Clock) -> None:
    spec = make_spec(size=3)
    with _open(spec, store, home, clock) as svc:
        a = svc.open_next("ann")
        assert a is not None
        svc.submit("ann", a.item_key, GOOD, None)
        other = StateLocation.of(home, spec.campaign).open()  # e.g. `hitl status` while the server runs
        try:
            assert other.counts(1).reviews == 1
        finally:
            other.close()


def test_relative_window_does_not_drift_on_restart(store: LocalSource, home: Path) -> None:
    spec = make_spec(size=5, strategy="latest", window=("-7d", "now"), campaign="rolling")
    created = Clock(DEMO_NOW.replace(day=1))  # 2026-11-01: the window is the last week of October
    with open_campaign(
        spec, store, home=home, configs=demo_configs(store, spec), clock=created, worker=False
    ) as svc:
        keys = [r.key for r in svc.state.items()]
        assert keys and svc.state.meta().now == created()
        assert all(r.ref.timestamp >= DEMO_NOW.replace(month=10, day=25) for r in svc.state.items())
    later = Clock(DEMO_NOW.replace(day=20))  # a restart weeks later: the window would be empty now
    assert len(dry_run(spec, store, later())) == 0
    with open_campaign(
        spec, store, home=home, configs=demo_configs(store, spec), clock=later, worker=False
    ) as svc:
        assert [r.key for r in svc.state.items()] == keys
    assert dry_run(spec, store, home=home).keys == keys  # --dry-run uses the campaign's stored now


def test_a_nested_transaction_is_a_savepoint_of_the_outer_one(home: Path) -> None:
    state = CampaignState(home / "nested.db")
    try:
        with state.transaction() as c:
            c.execute("INSERT INTO meta (key, value) VALUES ('outer', '1')")
            try:
                with state.transaction() as inner:
                    inner.execute("INSERT INTO meta (key, value) VALUES ('inner', '1')")
                    raise ValueError
            except ValueError:
                pass
            with state.transaction() as inner:
                inner.execute("INSERT INTO meta (key, value) VALUES ('kept', '1')")
            assert state.db.query("SELECT 1 FROM meta WHERE key = 'kept'")
        assert {r[0] for r in state.db.query("SELECT key FROM meta")} == {"outer", "kept"}

        class _Boom(Exception):
            pass

        try:
            with state.transaction() as c:
                with state.transaction() as inner:
                    inner.execute("INSERT INTO meta (key, value) VALUES ('gone', '1')")
                raise _Boom
        except _Boom:
            pass
        assert not state.db.query("SELECT 1 FROM meta WHERE key = 'gone'")  # nothing commits early
    finally:
        state.close()


def test_a_spec_whose_configs_do_not_match_leaves_no_state(
    store: LocalSource, home: Path, clock: Clock
) -> None:
    """The config check runs before the campaign state is created: fixing the spec afterwards is a
    fresh start, not a "meaning change" of a campaign nobody has answered."""
    from hitl_pipeline.errors import ConfigError
    from hitl_pipeline.spec import load_spec_text
    from tests.campaign.campaign_support import SPEC

    good = make_spec(size=3)
    text = SPEC.format(
        campaign=good.campaign,
        target="trace",
        filters="    trace_name: support-chat\n",
        size=3,
        strategy="random",
        by="",
        n=1,
        comment="optional",
        reviewers="",
        extra_questions="",
        time_from="2026-10-01",
        time_to="2026-11-01",
    ).replace("max: 5", "max: 7")  # helpfulness 1–7: the demo store's config is 1–5
    assert text != SPEC
    broken = load_spec_text(text, "<broken>")
    with pytest.raises(ConfigError, match="helpfulness"):
        open_campaign(broken, store, home=home, now=DEMO_NOW, clock=clock, worker=False)
    assert not StateLocation.of(home, good.campaign).exists()
    with open_campaign(good, store, home=home, now=DEMO_NOW, clock=clock, worker=False) as svc:
        assert svc.state.meta().spec_hash == good.spec_hash
    # A new version whose configs do not match is refused before the running version is archived.
    with pytest.raises(ConfigError, match="helpfulness"):
        open_campaign(broken, store, home=home, now=DEMO_NOW, clock=clock, worker=False, new_version=True)
    assert not StateLocation.of(home, good.campaign).archive_exists(1)
    with open_campaign(good, store, home=home, now=DEMO_NOW, clock=clock, worker=False) as svc:
        assert (svc.state.meta().spec_version, svc.state.meta().spec_hash) == (1, good.spec_hash)
