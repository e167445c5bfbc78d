"""Fixtures for the form's API tests: one demo store per session, password accounts per module."""

from __future__ import annotations

import pytest
from ui_support import password

from hitl_pipeline.ui.auth import ReviewerAccounts


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> ReviewerAccounts:
    """Reviewer accounts ``alice``, ``bob``, ``carol``, ``dave``, ``erin``, ``mallory`` (password: ``pw-<name>-123``)."""
    acc = ReviewerAccounts(tmp_path_factory.mktemp("home") / "reviewers.json")
    for name in ("alice", "bob", "carol", "dave", "erin", "mallory"):
        acc.add(name, password(name))
    return acc
