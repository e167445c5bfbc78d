"""Browser tests: Playwright driving Debian's Chromium (``/usr/bin/chromium``, no browser download).

Every page records its requests, console messages and dialogs, so a test can assert that nothing
left 127.0.0.1 and that no script from trace content ran.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ui"))  # shared helpers: ui_support

from browser_support import Recorder  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)  # Chromium + a server: 5–12 s each


@pytest.fixture(scope="session")
def browser(chromium_browser: Any) -> Any:
    """The session's shared Chromium (tests/conftest.py): one sync Playwright per thread."""
    return chromium_browser


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Recorder]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    rec = Recorder()
    pg.on("request", lambda r: rec.requests.append(r.url))
    pg.on("console", lambda m: rec.console.append(f"{m.type}: {m.text}"))

    def on_dialog(d: Any) -> None:
        rec.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    pg.on("dialog", on_dialog)
    pg.set_default_timeout(15_000)
    yield pg, rec
    context.close()
