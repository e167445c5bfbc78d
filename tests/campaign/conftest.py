"""Fixtures for the campaign tests: a fresh copy of the real demo store per test, a clock, a home."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import hitl_pipeline.spec  # noqa: F401  (import order: the spec package first)
from hitl_pipeline.sources.demo import generate_demo, load_demo
from hitl_pipeline.sources.local import LocalSource
from tests.campaign.campaign_support import Clock


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "template.db"
    store = LocalSource(path)
    load_demo(store, generate_demo(seed=0, traces=400))
    store.checkpoint()
    store.close()
    return path


@pytest.fixture
def store(demo_template: Path, tmp_path: Path) -> Iterator[LocalSource]:
    """A fresh copy of the demo store for this test."""
    path = tmp_path / "local.db"
    shutil.copy(demo_template, path)
    src = LocalSource(path)
    yield src
    src.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"
