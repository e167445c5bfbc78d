"""The shared fixtures of the test suite, one definition each (registered by tests/conftest.py).

* ``repo_root``, ``hitl_home``: the repository; a fresh state directory exported as HITL_HOME.
* ``chromium_browser``: one headless Chromium per session for the browser tests.
* ``demo_template`` / ``store``: the real demo data in a local store, built once per session and
  copied fresh for each test (campaign and scoring tests); ``demo_db``: one shared demo store per
  session (the form's tests: every campaign writes its own scores).
* ``clock``: a settable clock; ``home``: a campaign home under the test's tmp_path.
* ``postgres_server`` / ``postgres_url``, ``state_engine``, ``state_url``: the second state engine
  (a real PostgreSQL started by the tests) and tests run on both engines.

A test module may still define a fixture of the same name for its own needs (it takes precedence).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.sources.demo import ensure_demo_store, generate_demo, load_demo
from hitl_pipeline.sources.local import LocalSource
from tests.campaign.campaign_support import Clock

#: The repository root (the folder holding pyproject.toml).
REPO_ROOT = Path(__file__).resolve().parents[2]


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
    """One headless Chromium for the whole session, shared by every browser test; skipped when
    /usr/bin/chromium is missing, unless HITL_REQUIRE_CHROMIUM=1 (scripts/test.sh sets it).

    Playwright's sync API allows a single running instance per thread: a test that calls
    ``sync_playwright()`` itself fails ("Sync API inside the asyncio loop") once another test
    holds a session-wide one. Use this fixture (``browser.new_context()`` per test) instead.
    """
    if not CHROMIUM.exists():
        if os.environ.get("HITL_REQUIRE_CHROMIUM") == "1":
            pytest.fail("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
        pytest.skip("Chromium is not installed: apt-get install -y chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo data (400 traces, seed 0) in a local store, built once per session: copy it, never write it."""
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


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo data in a real local store (built once; every campaign writes its own scores)."""
    path = tmp_path_factory.mktemp("store") / "local.db"
    ensure_demo_store(path)
    return path


@pytest.fixture
def clock() -> Clock:
    """A settable clock (``clock.advance(minutes=…)``)."""
    return Clock()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A campaign home (state directory) under the test's tmp_path, not created yet."""
    return tmp_path / "home"


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
