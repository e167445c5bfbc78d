"""The one database layer: connections, transactions, migrations and the time representation
shared by every database hitl keeps (the local store, each campaign's state).

* :class:`Database` (``base.py``) is the interface: :meth:`~Database.transaction` (a write
  transaction; nested ones are savepoints), :meth:`~Database.query` / ``one`` / ``scalar``,
  :meth:`~Database.lock` (a named lock held to the end of a transaction), ``close``.
  :class:`SQLiteDatabase` (``sqlite.py``) is the embedded engine; a second engine is a second
  implementation of the same class.
* :func:`migrate` (``migrate.py``): named migrations recorded in ``schema_migrations`` of the
  same database, one history per database covering every table in it; a database newer than the
  program is refused.
* ``times.py``: every time is stored as integer microseconds since the epoch, UTC.

Why plain DB-API per engine and not SQLAlchemy Core + Alembic
-------------------------------------------------------------
Measured, not assumed (``bench/bench_db_layer.py``, figures in bench/README.md): the submit path is
a dozen short statements in one transaction; through SQLAlchemy Core's ``text()`` the same
transaction took 3.2× as long before the commit (≈ 15 µs more per statement) and 1.6× with the
state's fsync'd commit, and the submit path before/after this layer is recorded there too
(``bench/bench_submit.py``: no worse). What decided it:

* The SQL is hand-written and already portable once four SQLite-isms are gone (two-argument
  ``MAX``/``MIN``, ``INSERT OR …``, ``rowid``, boolean sums); the two engines then differ only in
  placeholders, DDL types and locks, which ``Dialect`` and each engine's :meth:`Database.lock`
  cover in a few lines. Rewriting ~120 statements as expression trees would be a rewrite, with no
  behaviour gained.
* The things a second engine really needs are engine-specific anyway: ``BEGIN IMMEDIATE`` vs row
  locks and ``FOR UPDATE SKIP LOCKED``, advisory locks, SQLite's per-thread connections vs a
  bounded pool. SQLAlchemy would not write those for us.
* Alembic keeps one head revision per database and its scripts outside the package; our files
  already carry a list of applied names, migrations must run at start inside the program (no
  ``alembic upgrade`` step for a reviewer's laptop), and two engines must share one history.
* No new dependency for the default install (SQLite is in the standard library); PostgreSQL
  needs only ``psycopg`` (the ``postgres`` extra). ``import sqlalchemy`` alone would add start-up
  time to every command.
"""

from __future__ import annotations

from hitl_pipeline.db import locks
from hitl_pipeline.db.base import Cursor, Database, Dialect, Params, Row, Tx
from hitl_pipeline.db.migrate import Migration, SchemaTooNew, applied, migrate, pending
from hitl_pipeline.db.sqlite import SQLiteDatabase
from hitl_pipeline.db.times import aware_us, from_us, now_us, to_us

__all__ = [
    "Cursor",
    "Database",
    "Dialect",
    "Migration",
    "Params",
    "Row",
    "SQLiteDatabase",
    "SchemaTooNew",
    "Tx",
    "applied",
    "locks",
    "aware_us",
    "from_us",
    "migrate",
    "now_us",
    "pending",
    "to_us",
]
