"""Fixtures for the form's API tests: one demo store per session, password accounts per module."""

from __future__ import annotations

from pathlib import Path

import pytest
from ui_support import demo_store, password

from hitl_pipeline.ui.auth import ReviewerAccounts


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo data in a real local store (built once; every campaign writes its own scores)."""
    return demo_store(tmp_path_factory.mktemp("store") / "local.db")


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> ReviewerAccounts:
    """Reviewer accounts ``alice``, ``bob``, ``carol``, ``dave``, ``erin``, ``mallory`` (password: ``pw-<name>-123``)."""
    acc = ReviewerAccounts(tmp_path_factory.mktemp("home") / "reviewers.json")
    for name in ("alice", "bob", "carol", "dave", "erin", "mallory"):
        acc.add(name, password(name))
    return acc
