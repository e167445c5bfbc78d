"""Shared pytest set-up. The environment variables come first: gradio reads them at import time."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

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


#: Debian's Chromium (installed by scripts/test.sh); Playwright drives it, no browser download.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
)


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    """One headless Chromium for the whole session, shared by every browser test.

    Playwright's sync API allows a single running instance per thread: a test that calls
    ``sync_playwright()`` itself fails ("Sync API inside the asyncio loop") once another test
    holds a session-wide one. Use this fixture (``browser.new_context()`` per test) instead.
    """
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed: apt-get install -y chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()
