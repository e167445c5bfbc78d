"""Local-store specifics: migrations, SQL plans, threads, upsert of traces, streaming."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hitl_pipeline.errors import SourceError
from hitl_pipeline.model import ItemRef, Observation, ScoreWrite, Trace
from hitl_pipeline.sources import local as local_module
from hitl_pipeline.sources.demo import DemoData, load_demo
from hitl_pipeline.sources.local import LocalSource, build_candidate_query, from_us, to_us
from hitl_pipeline.spec.model import Filters, ScoreThreshold
from tests.sources.backends import NOW

MONTH = Filters(time_from="2026-10-01", time_to="2026-11-01")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalSource]:
    s = LocalSource(tmp_path / "store" / "local.db")
    yield s
    s.close()


def test_migrations_are_recorded_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "local.db"
    first = LocalSource(path)
    assert first.applied_migrations() == [name for name, _ in local_module.MIGRATIONS]
    assert first.migrate() == []
    first.close()
    again = LocalSource(path)  # opening an existing store applies nothing twice
    assert again.migrate() == []
    assert again.applied_migrations() == [name for name, _ in local_module.MIGRATIONS]
    mode = again._conn().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again.close()


def test_a_failing_migration_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "local.db"
    LocalSource(path).close()
    real = [name for name, _ in local_module.MIGRATIONS]
    broken = ("9999_broken", ["CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"])
    monkeypatch.setattr(local_module, "MIGRATIONS", [*local_module.MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError):
        LocalSource(path)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    recorded = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
    conn.close()
    assert "half_done" not in tables  # the table and the record were rolled back together
    assert recorded == real


def test_timestamps_round_trip_exactly() -> None:
    for dt in (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 10, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 0, 0, 1, tzinfo=UTC),
    ):
        assert from_us(to_us(dt)) == dt
    naive = datetime(2026, 10, 1, 12, 0)  # noqa: DTZ001 - the naive case is what is tested
    assert from_us(to_us(naive)) == naive.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("target", "filters", "expected"),
    [
        (
            "trace",
            Filters(time_from="2026-10-01", time_to="2026-10-02"),
            "SEARCH t USING COVERING INDEX traces_ts_id",
        ),
        ("trace", replace(MONTH, user_id=("user-001",)), "SEARCH t USING INDEX traces_user_ts"),
        ("trace", replace(MONTH, tags=("vip",)), "SEARCH g USING PRIMARY KEY"),
        ("trace", replace(MONTH, exclude_tags=("vip",)), "SEARCH g USING PRIMARY KEY"),
        ("trace", replace(MONTH, metadata=(("topic", ("billing",)),)), "SEARCH m USING PRIMARY KEY"),
        (
            "trace",
            replace(MONTH, scores=(ScoreThreshold("llm_judge_helpfulness", "<", 0.5),)),
            "scores_trace",
        ),
        ("observation", replace(MONTH, observation_type=("TOOL",)), "observations_type_start"),
        ("observation", replace(MONTH, scores=(ScoreThreshold("x", ">", 0),)), "scores_observation"),
        ("session", replace(MONTH, environment=("staging",)), "LIST SUBQUERY"),
        ("session", replace(MONTH, user_id=("user-001",)), "SEARCH t USING INDEX traces_user_ts"),
    ],
)
def test_filters_use_indexes(store: LocalSource, target: str, filters: Filters, expected: str) -> None:
    sql, params = build_candidate_query(target, filters, now=NOW)  # type: ignore[arg-type]
    plan = " | ".join(r[3] for r in store._conn().execute("EXPLAIN QUERY PLAN " + sql, params))
    assert expected in plan, plan
    # Never a full scan of the big tables (sessions are walked by their own time index).
    assert "SCAN t " not in plan + " " and "SCAN o " not in plan + " ", plan


def test_reinserting_a_trace_updates_it(store: LocalSource, demo: DemoData) -> None:
    t = demo.traces[0]
    store.insert_traces([t])
    changed = replace(t, tags=("beta",), metadata={"topic": "other"}, observations=())
    store.insert_traces([changed])
    assert store.counts()["traces"] == 1
    item = store.get_item(ItemRef("trace", t.id, t.timestamp, t.id))
    assert item.trace is not None
    assert item.trace.tags == ("beta",) and item.trace.metadata == {"topic": "other"}
    assert len(item.trace.observations) == len(t.observations)  # observations are kept, not cascaded away
    only_new_tag = list(store.iter_candidates("trace", replace(MONTH, tags=("beta",)), now=NOW))
    assert [r.id for r in only_new_tag] == [t.id]
    old_tag = next(tag for tag in t.tags if tag != "beta")
    assert list(store.iter_candidates("trace", replace(MONTH, tags=(old_tag,)), now=NOW)) == []


def test_metadata_match_is_type_exact(store: LocalSource) -> None:
    ts = datetime(2026, 10, 5, tzinfo=UTC)
    store.insert_traces(
        [
            Trace(id="a", name="n", timestamp=ts, metadata={"k": 1}),
            Trace(id="b", name="n", timestamp=ts + timedelta(seconds=1), metadata={"k": "1"}),
            Trace(id="c", name="n", timestamp=ts + timedelta(seconds=2), metadata={"k": True}),
            Trace(
                id="d", name="n", timestamp=ts + timedelta(seconds=3), metadata={"k": 1.0, "nested": {"x": 1}}
            ),
        ]
    )

    def ids(*values: object) -> list[str]:
        f = replace(MONTH, metadata=(("k", tuple(values)),))  # type: ignore[arg-type]
        return sorted(r.id for r in store.iter_candidates("trace", f, now=NOW))

    assert ids(1) == ["a", "d"]
    assert ids("1") == ["b"]
    assert ids(True) == ["c"]
    assert ids(1, "1") == ["a", "b", "d"]
    strata = {
        r.id: r.stratum for r in store.iter_candidates("trace", MONTH, now=NOW, stratify_by="metadata.k")
    }
    assert strata == {"a": "1", "b": "1", "c": "true", "d": "1"}


def test_candidates_are_streamed_not_listed(store: LocalSource) -> None:
    base = datetime(2026, 10, 2, tzinfo=UTC)
    store.insert_traces(
        Trace(id=f"t{i:05d}", name="n", timestamp=base + timedelta(seconds=i)) for i in range(3000)
    )
    it = store.iter_candidates("trace", MONTH, now=NOW)
    first = next(it)
    assert first.id == "t02999"
    # The cursor is open mid-way; another thread can still write (WAL) while we iterate.
    done = threading.Event()

    def writer() -> None:
        store.insert_traces([Trace(id="late", name="n", timestamp=base)])
        done.set()

    th = threading.Thread(target=writer)
    th.start()
    th.join(10)
    assert done.is_set()
    rest = list(it)
    assert len(rest) == 2999
    it2 = store.iter_candidates("trace", MONTH, now=NOW)
    next(it2)
    it2.close()  # closing a half-read generator releases its cursor


def test_concurrent_score_writes_from_many_threads(store: LocalSource, demo: DemoData) -> None:
    load_demo(store, demo)
    trace_ids = [t.id for t in demo.traces[:40]]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for tid in trace_ids:
                r = store.write_scores(
                    [
                        ScoreWrite(
                            id=f"{n}-{tid}",
                            name="helpfulness",
                            value=1 + n % 5,
                            data_type="NUMERIC",
                            trace_id=tid,
                            config_id="cfg-helpfulness",
                        )
                    ]
                )
                assert r[0].ok
                store.read_scores([f"{n}-{tid}"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    assert len(list(store.iter_scores(names=["helpfulness"]))) == 6 * 40


def test_rewriting_a_score_keeps_first_timestamp_and_left_out_comment(
    store: LocalSource, demo: DemoData
) -> None:
    load_demo(store, demo)
    t = demo.traces[0]
    w = ScoreWrite(
        id="s",
        name="helpfulness",
        value=2,
        data_type="NUMERIC",
        trace_id=t.id,
        config_id="cfg-helpfulness",
        comment="first",
        metadata={"a": 1},
        timestamp=datetime(2026, 10, 5, tzinfo=UTC),
    )
    store.write_scores([w])
    store.write_scores(
        [replace(w, value=5, comment=None, metadata={}, timestamp=datetime(2026, 10, 9, tzinfo=UTC))]
    )
    got = store.read_scores(["s"])["s"]
    assert got.value == 5
    assert got.comment == "first" and got.metadata == {"a": 1}
    assert got.timestamp == datetime(2026, 10, 5, tzinfo=UTC)


def test_archived_config_refuses_scores(store: LocalSource, demo: DemoData) -> None:
    load_demo(store, demo)
    cfg = store.get_score_config("cfg-helpfulness")
    assert cfg is not None
    store.insert_score_configs([replace(cfg, is_archived=True)])
    t = demo.traces[0]
    [result] = store.write_scores(
        [
            ScoreWrite(
                id="x", name="helpfulness", value=3, data_type="NUMERIC", trace_id=t.id, config_id=cfg.id
            )
        ]
    )
    assert not result.ok and "archived" in (result.error or "")
    assert store.read_scores(["x"]) == {}


def test_observations_need_their_trace(store: LocalSource) -> None:
    orphan = Observation(
        id="o", trace_id="missing", type="SPAN", name="x", start_time=datetime(2026, 10, 3, tzinfo=UTC)
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_observations([orphan])
    assert store.counts()["observations"] == 0


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    s = LocalSource(tmp_path / "x.db")
    s.close()
    with pytest.raises(SourceError, match="closed"):
        s.list_score_configs()


def test_unusable_path_is_a_source_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SourceError, match="cannot"):
        LocalSource(blocker / "sub" / "local.db")


def test_a_failed_commit_rolls_back_and_releases_the_write_lock(store: LocalSource) -> None:
    # A COMMIT that fails (here: a deferred foreign key) must not leave this thread's connection
    # inside a transaction that holds the write lock and swallows every later write.
    orphan = Observation(
        id="o-orphan",
        trace_id="no-such-trace",
        type="SPAN",
        name="x",
        start_time=datetime(2026, 10, 1, tzinfo=UTC),
    )
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as tx:
        tx.execute("PRAGMA defer_foreign_keys = ON")
        store.insert_observations([orphan])
    assert not store.has_observation("o-orphan")
    trace = Trace(id="t-after", name="after", timestamp=datetime(2026, 10, 2, tzinfo=UTC))
    store.insert_traces([trace])
    other = LocalSource(store.path)  # another connection sees the write: it was committed
    try:
        assert other.has_trace("t-after")
    finally:
        other.close()
