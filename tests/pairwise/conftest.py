"""Fixtures for the pair campaign tests: a local store holding the pairwise demo (two prompt
versions' answers to the same questions; a home and a settable clock come from tests/support/fixtures.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitl_pipeline.sources.demo import load_demo
from hitl_pipeline.sources.demo_pairwise import generate_pairwise_demo
from hitl_pipeline.sources.local import LocalSource

__all__ = ["pair_store"]  # clock and home: tests/support/fixtures.py


@pytest.fixture(scope="session")
def pair_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pairdemo") / "template.db"
    store = LocalSource(path)
    load_demo(store, generate_pairwise_demo())
    store.checkpoint()
    store.close()
    return path


@pytest.fixture
def pair_store(pair_template: Path, tmp_path: Path) -> Iterator[LocalSource]:
    """A fresh copy of the pairwise demo store for this test."""
    path = tmp_path / "local.db"
    shutil.copy(pair_template, path)
    src = LocalSource(path)
    yield src
    src.close()
