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


# -- PostgreSQL (the second state engine) ---------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server for the whole session (tests/support/postgres.py); skipped when the
    binaries are missing, unless HITL_REQUIRE_POSTGRES=1."""
    from tests.support.postgres import PostgresServer, postgres_bin

    bindir = postgres_bin()
    if bindir is None:
        if os.environ.get("HITL_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL binaries not found (apt-get install postgresql)")
        pytest.skip("PostgreSQL binaries not found (scripts/test.sh installs them)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if os.environ.get("HITL_REQUIRE_POSTGRES") == "1":
            pytest.fail("psycopg is not installed (pip install -e '.[postgres]')")
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    server = PostgresServer(bindir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    url: str = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Run a test on both state engines: a factory ``name -> Database`` (a SQLite file under
    tmp_path, or a schema of a fresh PostgreSQL database). ``.name`` says which engine."""
    from hitl_pipeline.db import Database, SQLiteDatabase

    opened: list[Database] = []

    class Factory:
        name = request.param
        url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None

        def __call__(self, schema: str = "c_test") -> Database:
            db: Database
            if self.url is None:
                db = SQLiteDatabase(tmp_path / f"{schema}.db")
            else:
                from hitl_pipeline.db.postgres import PostgresDatabase

                db = PostgresDatabase(self.url, schema)
            opened.append(db)
            return db

    yield Factory()
    for db in opened:
        db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Run a test with the campaign state on both engines: None = SQLite files under the home,
    else HITL_STATE_URL points at a fresh PostgreSQL database (as ``--state`` would)."""
    monkeypatch.setenv("HITL_STATE_URL", "")  # SQLite files (restored after the test)
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("HITL_STATE_URL", url)
    return url
