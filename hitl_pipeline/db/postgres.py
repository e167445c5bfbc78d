"""PostgreSQL: a bounded pool of connections; a transaction keeps one connection for its thread.

The same SQL as SQLite (``?`` / ``:name`` placeholders are translated to psycopg's ``%s`` /
``%(name)s`` once per statement text). What differs is concurrency: SQLite serialises writers with
``BEGIN IMMEDIATE``, PostgreSQL lets transactions run side by side (READ COMMITTED), so the code
that must decide something once takes a lock: :meth:`PostgresDatabase.lock` is a transaction-level
advisory lock on a name, and the lease code locks item rows (``FOR UPDATE SKIP LOCKED``).

Each database object works in one schema (``search_path``): a campaign's state is one schema
(``hitl_campaign_<name>``), like a SQLite file; accounts and sessions live in ``hitl``.
psycopg 3 is an optional dependency (``pip install 'hitl-pipeline[postgres]'``).
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hitl_pipeline.db.base import Database, Dialect, Params, Tx
from hitl_pipeline.errors import ConfigError


class PostgresDialect(Dialect):
    name = "postgresql"
    float_type = "DOUBLE PRECISION"
    bigint_type = "BIGINT"

    def for_update(self, alias: str, *, skip_locked: bool = False) -> str:
        return f" FOR UPDATE OF {alias}" + (" SKIP LOCKED" if skip_locked else "")


_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|%|\?|:[A-Za-z_][A-Za-z0-9_]*")


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """``?`` → ``%s``, ``:name`` → ``%(name)s``, ``%`` → ``%%`` (outside quotes; ``::`` casts kept)."""

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok[0] in "'\"":
            return tok.replace("%", "%%")  # psycopg reads % everywhere once parameters are given
        if tok == "::":
            return tok
        if tok == "%":
            return "%%"
        if tok == "?":
            return "%s"
        return f"%({tok[1:]})s"

    return _TOKEN.sub(sub, sql)


class PgRow(tuple[Any, ...]):
    """A row by position or by column name, like ``sqlite3.Row``."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description
    if description is None:
        return None
    index = {c.name: i for i, c in enumerate(description)}

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(values, index)

    return make


class PgTx:
    """A connection inside a transaction; translates placeholders."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        cur = self.conn.cursor()
        cur.execute(translate(sql), parameters)
        return cur

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        cur = self.conn.cursor()
        rows = list(parameters)
        if rows:
            cur.executemany(translate(sql), rows)
        return cur


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresDatabase(Database):
    """One schema of a PostgreSQL database.

    Args:
        url: ``postgresql://user:password@host:port/dbname`` (or a libpq keyword string).
        schema: the schema this object works in (created when missing).
        pool_size: most connections open at once (requests beyond it wait for one).
    """

    dialect = PostgresDialect()

    def __init__(self, url: str, schema: str, *, pool_size: int = 8, timeout: float = 30.0) -> None:
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ConfigError(
                "a postgresql:// state needs psycopg: pip install 'hitl-pipeline[postgres]'"
            ) from e
        self._psycopg = psycopg
        self.url = url
        self.schema = schema
        self.where = f"{redact(url)} (schema {schema})"
        self._timeout = timeout
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._all: list[Any] = []
        self._registry = threading.Lock()
        self._local = threading.local()
        self._closed = False
        with self._connection() as conn:
            try:
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
            except psycopg.errors.UniqueViolation:
                pass  # another process created it at the same moment

    # -- connections ----------------------------------------------------------------------------

    def _connect(self) -> Any:
        try:
            conn = self._psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=int(self._timeout),
                options=f"-c search_path={quote_ident(self.schema)},public",
            )
        except self._psycopg.Error as e:
            raise ConfigError(f"cannot connect to the state database {redact(self.url)}: {e}") from e
        conn.row_factory = _row_factory
        with self._registry:
            self._all.append(conn)
        return conn

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection for the caller alone (from the pool, or a new one while there is room)."""
        if self._closed:
            raise ConfigError(f"the state database {self.where} is closed")
        if not self._slots.acquire(timeout=self._timeout):
            raise ConfigError(f"no free connection to {self.where} after {self._timeout:.0f} s")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            if conn.closed:
                conn = self._connect()
            yield conn
        finally:
            if conn is not None:
                if conn.closed or conn.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE:
                    self._discard(conn)
                elif self._closed:
                    self._discard(conn)
                else:
                    self._idle.put(conn)
            self._slots.release()

    def _discard(self, conn: Any) -> None:
        with self._registry:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except Exception:
            pass

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            self._discard(conn)

    # -- transactions ---------------------------------------------------------------------------

    def _tx(self) -> PgTx | None:
        tx: PgTx | None = getattr(self._local, "tx", None)
        return tx

    def in_transaction(self) -> bool:
        return self._tx() is not None

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        current = self._tx()
        if current is not None:
            with current.conn.transaction():  # a savepoint of the outer transaction
                yield current
            return
        with self._connection() as conn:
            tx = PgTx(conn)
            self._local.tx = tx
            try:
                with conn.transaction():
                    yield tx
            finally:
                self._local.tx = None

    def lock(self, tx: Tx, name: str) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (f"{self.schema}:{name}",))

    # -- reads ----------------------------------------------------------------------------------

    def query(self, sql: str, params: Params = ()) -> list[Any]:
        current = self._tx()
        if current is not None:
            return list(current.execute(sql, params).fetchall())
        with self._connection() as conn:
            cur = conn.cursor()
            cur.execute(translate(sql), params)
            return list(cur.fetchall()) if cur.description is not None else []

    def table_names(self) -> set[str]:
        rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = ?", (self.schema,))
        return {r[0] for r in rows}

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.where!r})"


def _admin(url: str) -> Any:
    try:
        import psycopg
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ConfigError("a postgresql:// state needs psycopg: pip install 'hitl-pipeline[postgres]'") from e
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=30)
    except psycopg.Error as e:
        raise ConfigError(f"cannot connect to the state database {redact(url)}: {e}") from e


def schema_exists(url: str, schema: str) -> bool:
    """True when ``schema`` exists in the database at ``url``."""
    with _admin(url) as conn:
        return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


def rename_schema(url: str, old: str, new: str) -> None:
    with _admin(url) as conn:
        conn.execute(f"ALTER SCHEMA {quote_ident(old)} RENAME TO {quote_ident(new)}")


def list_schemas(url: str, prefix: str) -> list[str]:
    """Schemas whose name starts with ``prefix``."""
    with _admin(url) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY nspname", (prefix,)
        ).fetchall()
    return [r[0] for r in rows]
