"""SQLite: one connection per thread, writers serialised by ``BEGIN IMMEDIATE``.

Why a connection per thread: in WAL mode readers never wait for the writer, so a request that
reads (progress, the next items to prefetch, a streamed candidate listing) runs while another
thread commits an answer. Writers of this process queue on a lock before ``BEGIN IMMEDIATE``, so
they wait on that lock instead of SQLite's busy-retry sleeps; writers of other processes wait on
the file lock (``busy_timeout``).

Closing never closes a connection another live thread may be using (sqlite3 crashes the
interpreter when that happens): the connections of this thread and of finished threads close
now, the others on their thread's next use.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hitl_pipeline.db.base import Database, Dialect, Params, Tx


class SQLiteDialect(Dialect):
    name = "sqlite"
    float_type = "REAL"
    bigint_type = "INTEGER"


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        pass


class SQLiteDatabase(Database):
    """A SQLite file.

    Args:
        path: the database file (its directory is created).
        synchronous: ``FULL`` (a commit survives a power cut) or ``NORMAL`` (survives a crash).
        open_error: turns a failure to open into the caller's error (with a hint for the user).
        closed_error: the error raised when the database is used after :meth:`close`.
        named_rows: rows by name and position (``sqlite3.Row``); False: plain tuples (a little
            faster for code that reads by position only, like the local store's listings).
    """

    dialect = SQLiteDialect()

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        open_error: Callable[[Exception], Exception] | None = None,
        closed_error: Callable[[], Exception] | None = None,
        named_rows: bool = True,
    ) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._synchronous = synchronous
        self._named_rows = named_rows
        self._open_error = open_error or (lambda e: e)
        self._closed_error = closed_error or (lambda: sqlite3.ProgrammingError(f"{self.path} is closed"))
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._registry_lock = threading.Lock()
        # Writers of this process wait here, not in SQLite's busy handler (which sleeps in steps).
        self._write_lock = threading.RLock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._open_error(e) from e

    # -- connections ----------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use). For SQLite-only statements (PRAGMA,
        EXPLAIN QUERY PLAN); portable code uses :meth:`transaction` and :meth:`query`."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._closed:
            # This thread was busy when the database was closed: close its connection now.
            self._local.conn = None
            _close_quietly(conn)
            conn = None
        if conn is None:
            if self._closed:
                raise self._closed_error()
            conn = self._open()
            with self._registry_lock:
                closed = self._closed  # close() may have run meanwhile: never register after it
                # Worker threads come and go (the server's pool, prefetching): close the
                # connections of finished threads now, or each would keep the file open.
                finished = [c for thread, c in self._all if not thread.is_alive()]
                self._all = [(thread, c) for thread, c in self._all if thread.is_alive()]
                if not closed:
                    self._all.append((threading.current_thread(), conn))
            for old in finished:
                _close_quietly(old)
            if closed:
                _close_quietly(conn)
                raise self._closed_error()
            self._local.conn = conn
            self._local.depth = 0
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: BEGIN/COMMIT are ours, so a transaction spans exactly what we
            # say (Python's implicit transactions do not cover DDL).
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except sqlite3.Error as e:
            raise self._open_error(e) from e
        try:
            if self._named_rows:
                conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as e:
            conn.close()
            raise self._open_error(e) from e
        return conn

    def close(self) -> None:
        me = threading.current_thread()
        with self._registry_lock:
            self._closed = True
            owned, self._all = self._all, []
        for thread, conn in owned:
            if thread is me or not thread.is_alive():
                _close_quietly(conn)
        self._local.conn = None

    # -- transactions ---------------------------------------------------------------------------

    def in_transaction(self) -> bool:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        return conn is not None and conn.in_transaction

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        conn = self.connection()
        if conn.in_transaction:
            self._local.depth += 1
            name = f"sp{self._local.depth}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # some errors (disk full) end the whole transaction
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._local.depth -= 1
            return
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself fails (a deferred constraint): SQLite then keeps the
                # transaction open, and this connection would hold the write lock forever.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def lock(self, tx: Tx, name: str) -> None:
        # Every write transaction already holds the database's one write lock (BEGIN IMMEDIATE).
        return None

    # -- reads ----------------------------------------------------------------------------------

    def query(self, sql: str, params: Params = ()) -> list[Any]:
        return self.connection().execute(sql, params).fetchall()

    def cursor(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """A streaming cursor on this thread's connection (rows fetched as they are read)."""
        return self.connection().execute(sql, params)

    def table_names(self) -> set[str]:
        return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file (before copying or renaming it)."""
        self.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __repr__(self) -> str:
        return f"SQLiteDatabase({self.where!r})"


def sqlite_function(tx: Tx, name: str, fn: Callable[..., Any], nargs: int) -> None:
    """Register a Python function for this transaction's SQL (SQLite only; migrations use it)."""
    if isinstance(tx, sqlite3.Connection):
        tx.create_function(name, nargs, fn, deterministic=True)
