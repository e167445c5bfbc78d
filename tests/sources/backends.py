"""Backends for the shared source suite: the same demo data loaded into each of them.

To run ``test_contract.py`` against another backend, add a loader to :data:`LOADERS`: a function
``(demo, tmp_dir) -> context manager yielding a Source`` holding exactly ``demo``'s traces,
observations, scores and score configs. The ``source`` and ``writable_source`` fixtures
(``conftest.py``) are parametrized over every loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from hitl_pipeline.sources.base import Source
from hitl_pipeline.sources.demo import DemoData, load_demo
from hitl_pipeline.sources.local import LocalSource

#: The demo data set every backend is loaded with.
DEMO_SEED = 0
DEMO_TRACES = 120
#: "now" for relative time filters (-7d …): just after the demo month.
NOW = datetime(2026, 11, 1, tzinfo=UTC)

Loader = Callable[[DemoData, Path], AbstractContextManager[Source]]


@contextmanager
def make_local(demo: DemoData, tmp_dir: Path) -> Iterator[Source]:
    """The local SQLite store, filled through its bulk insert methods."""
    store = LocalSource(tmp_dir / "local.db")
    load_demo(store, demo)
    try:
        yield store
    finally:
        store.close()


def _langfuse(mode: str) -> Loader:
    @contextmanager
    def make(demo: DemoData, tmp_dir: Path) -> Iterator[Source]:
        """The local Langfuse fake (``tests/support/langfuse_fake.py``) in ``mode``, read through
        :class:`~hitl_pipeline.sources.langfuse.LangfuseSource` and the real SDK. Small pages, so
        the suite crosses page boundaries."""
        from hitl_pipeline.sources.langfuse import LangfuseSource
        from tests.support.langfuse_fake import LangfuseFake

        with LangfuseFake(mode=mode) as fake:
            fake.load_demo(demo)
            src = LangfuseSource(
                base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key, page_size=40
            )
            try:
                yield src
            finally:
                src.close()

    return make


#: Backend name → loader.
LOADERS: dict[str, Loader] = {
    "local": make_local,
    "langfuse-v4": _langfuse("v4"),
    "langfuse-v3": _langfuse("v3"),
}
