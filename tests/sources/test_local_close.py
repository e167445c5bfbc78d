"""Closing the local store while other threads still hold connections must not crash the interpreter."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hitl_pipeline.errors import SourceError
from hitl_pipeline.sources.demo import ensure_demo_store
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec.model import Filters

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_close_while_another_thread_iterates(tmp_path: Path) -> None:
    db = tmp_path / "local.db"
    ensure_demo_store(db)
    store = LocalSource(db)
    started, closed = threading.Event(), threading.Event()
    outcome: list[object] = []

    def reader() -> None:
        it = store.iter_candidates("trace", Filters(time_from="2026-10-01", time_to="2026-11-01"), now=NOW)
        first = next(it)
        started.set()
        closed.wait(5)
        # The cursor opened before close() may finish; a new use of the store must say it is closed.
        rest = sum(1 for _ in it)
        outcome.append((first.kind, rest > 0))
        try:
            store.get_score_config("cfg-support-quality")
        except SourceError as exc:
            outcome.append(str(exc))

    t = threading.Thread(target=reader)
    t.start()
    assert started.wait(5)
    store.close()  # from the main thread, while the reader's connection is live
    closed.set()
    t.join(10)
    assert outcome[0] == ("trace", True)
    assert "closed" in str(outcome[1])
    with pytest.raises(SourceError, match="closed"):
        store.list_score_configs()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc")
def test_connections_of_finished_threads_are_closed(tmp_path: Path) -> None:
    # Gradio's worker threads and the prefetch pool come and go: a long-running server must not
    # keep one open connection (and its files) per thread that ever touched the store.
    store = LocalSource(tmp_path / "local.db")
    store.list_score_configs()

    def touch() -> None:
        store.list_score_configs()

    def run_threads(count: int) -> None:
        for _ in range(count):
            th = threading.Thread(target=touch)
            th.start()
            th.join()

    run_threads(5)
    before = _open_fds()
    run_threads(50)
    assert _open_fds() <= before + 2
    store.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc")
def test_a_file_that_is_not_a_store_is_refused_without_leaking_its_connection(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, just text that is long enough to have a header\n" * 20)
    with pytest.raises(SourceError, match="cannot open the local store"):
        LocalSource(path)  # warm-up: imports and first-use allocations
    before = _open_fds()
    for _ in range(5):
        with pytest.raises(SourceError, match="cannot open the local store"):
            LocalSource(path)
    assert _open_fds() == before
