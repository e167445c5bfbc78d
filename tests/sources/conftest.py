"""Fixtures for the shared source suite (backends are listed in ``backends.LOADERS``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hitl_pipeline.sources.base import Source
from hitl_pipeline.sources.demo import DemoData, generate_demo
from tests.sources.backends import DEMO_SEED, DEMO_TRACES, LOADERS


@pytest.fixture(scope="session")
def demo() -> DemoData:
    """The demo data (120 traces), generated once per test session."""
    return generate_demo(seed=DEMO_SEED, traces=DEMO_TRACES)


@pytest.fixture(scope="module", params=list(LOADERS))
def source(
    request: pytest.FixtureRequest, demo: DemoData, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    """A backend holding the demo data, shared by a module's read-only tests (do not write to it)."""
    with LOADERS[request.param](demo, tmp_path_factory.mktemp(request.param)) as src:
        yield src


@pytest.fixture(params=list(LOADERS))
def writable_source(request: pytest.FixtureRequest, demo: DemoData, tmp_path: Path) -> Iterator[Source]:
    """A fresh backend holding the demo data, for one test that writes scores or configs."""
    with LOADERS[request.param](demo, tmp_path) as src:
        yield src
