"""The engine-neutral interface: a :class:`Database` gives transactions (savepoints when nested)
and queries; :class:`Tx` is what a transaction hands out.

SQL written against this interface is the subset SQLite and PostgreSQL share: ``?`` (or
``:name``) placeholders, ``INSERT … ON CONFLICT … DO UPDATE/NOTHING``, ``CASE`` instead of
SQLite's two-argument ``MAX``/``MIN``, no ``rowid``, no ``INSERT OR …``. Each engine translates
placeholders to its driver's style itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Params = Sequence[Any] | Mapping[str, Any]


class Row(Protocol):
    """A result row: by position (``row[0]``) or by column name (``row["key"]``)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What :meth:`Tx.execute` returns (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """A connection inside a transaction: ``execute`` / ``executemany`` portable SQL."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...


class Dialect:
    """What differs between engines in DDL and in a few statements."""

    name = "sql"
    #: A float column that keeps a Python float exactly.
    float_type = "REAL"
    #: An integer column that holds microsecond timestamps.
    bigint_type = "INTEGER"

    def for_update(self, alias: str, *, skip_locked: bool = False) -> str:
        """The clause that locks the selected rows of ``alias`` until the transaction ends ("" where
        a write transaction already excludes every other writer, as in SQLite)."""
        return ""


class Database(ABC):
    """One database (a SQLite file or a PostgreSQL database).

    * :meth:`transaction`: a write transaction; everything inside commits together or not at all.
      Opened again inside one (same thread), it is a savepoint of it: an error rolls back only the
      inner writes, and nothing commits before the outermost transaction does.
    * :meth:`query` / :meth:`one` / :meth:`scalar`: reads. Inside a transaction of this thread they
      see its writes; outside, each reads the latest committed data.
    * :meth:`lock`: inside a transaction, a named lock held until it ends (serialises a decision
      across processes: two servers deciding a spec change, one reviewer's tabs).
    """

    dialect: Dialect
    #: Where the database is, for messages (a path, or a URL without its password).
    where: str

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]: ...

    @abstractmethod
    def query(self, sql: str, params: Params = ()) -> list[Any]: ...

    def one(self, sql: str, params: Params = ()) -> Any | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    @abstractmethod
    def in_transaction(self) -> bool:
        """True inside a transaction opened by this thread."""

    @abstractmethod
    def lock(self, tx: Tx, name: str) -> None:
        """Take the named lock for the rest of ``tx``'s transaction."""

    @abstractmethod
    def table_names(self) -> set[str]:
        """The tables of the database (for migrations adopting older layouts, and checks)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
