"""Shared pytest set-up. The environment variables come first: gradio reads them at import time."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

#: The repository root (the folder holding pyproject.toml).
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    """The repository root, for tests that read bundled files (specs/, README.md)."""
    return REPO_ROOT


@pytest.fixture
def hitl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state directory, also exported as HITL_HOME so CLI commands use it."""
    home = tmp_path / "hitl-home"
    monkeypatch.setenv("HITL_HOME", str(home))
    return home
