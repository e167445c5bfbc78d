"""One migrations mechanism for every database: named steps applied in order, each in the
transaction that records it in ``schema_migrations`` (name, applied_ts in microseconds).

A migration is a name and a function ``(tx, dialect) -> None`` (or a list of SQL statements).
Never edit a released migration: append a new one. A database that records a migration this
program does not know was written by a newer release: it is refused (:class:`SchemaTooNew`)
before anything is changed, because this program would misread it.

Files written before this mechanism kept their history in a table named ``migrations`` (name,
ISO text time); it is adopted into ``schema_migrations`` the first time such a file is opened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hitl_pipeline.db.base import Database, Dialect, Tx
from hitl_pipeline.db.times import now_us, to_us
from hitl_pipeline.errors import ConfigError

Step = Callable[[Tx, Dialect], None]


@dataclass(frozen=True)
class Migration:
    """One named schema change. ``steps``: SQL statements, or one function of (tx, dialect)."""

    name: str
    steps: Sequence[str] | Step

    def apply(self, tx: Tx, dialect: Dialect) -> None:
        if callable(self.steps):
            self.steps(tx, dialect)
            return
        for statement in self.steps:
            tx.execute(statement)


class SchemaTooNew(ConfigError):
    """The database records migrations this program does not know (a newer release wrote it)."""


_HISTORY = "schema_migrations"
_LEGACY = "migrations"


def _legacy_time(text: str) -> int:
    try:
        return to_us(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC))
    except ValueError:
        return 0


def applied(db: Database) -> list[str]:
    """Names of the migrations recorded in ``db``, in the order they were applied."""
    tables = db.table_names()
    if _HISTORY in tables:
        return [r[0] for r in db.query(f"SELECT name FROM {_HISTORY} ORDER BY applied_ts, name")]
    if _LEGACY in tables:  # not adopted yet (nothing changes on reading)
        return [r[0] for r in db.query(f"SELECT name FROM {_LEGACY} ORDER BY applied_at, name")]
    return []


def pending(db: Database, migrations: Sequence[Migration]) -> list[str]:
    """Names of ``migrations`` not yet applied to ``db`` (after checking it is not too new)."""
    done = set(applied(db))
    check_not_newer(db, done, migrations)
    return [m.name for m in migrations if m.name not in done]


def check_not_newer(db: Database, done: set[str], migrations: Sequence[Migration]) -> None:
    unknown = sorted(done - {m.name for m in migrations})
    if unknown:
        raise SchemaTooNew(
            f"{db.where} was written by a newer release of hitl (it has schema changes this one does not "
            f"know: {', '.join(unknown)}); upgrade hitl (pip install -U hitl-pipeline) to open it"
        )


def migrate(db: Database, migrations: Sequence[Migration], *, lock: str = "migrations") -> list[str]:
    """Apply the migrations ``db`` lacks; returns the names applied now (empty when up to date).

    Each migration runs in its own transaction together with its record, under the named lock, and
    is checked again inside it: two processes opening a new database at once apply it once.
    Raises :class:`SchemaTooNew` when the database is newer than this program.
    """
    tables = db.table_names()
    if _HISTORY not in tables or _LEGACY in tables:
        with db.transaction() as tx:
            db.lock(tx, lock)
            tables = db.table_names()
            if _HISTORY not in tables:
                tx.execute(
                    f"CREATE TABLE {_HISTORY} (name TEXT PRIMARY KEY, applied_ts {db.dialect.bigint_type} NOT NULL)"
                )
            if _LEGACY in tables:  # a file from before this mechanism: adopt its history
                rows = tx.execute(f"SELECT name, applied_at FROM {_LEGACY}").fetchall()
                tx.executemany(
                    f"INSERT INTO {_HISTORY} (name, applied_ts) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                    [(r[0], _legacy_time(r[1])) for r in rows],
                )
                tx.execute(f"DROP TABLE {_LEGACY}")
    done = set(applied(db))
    check_not_newer(db, done, migrations)
    names: list[str] = []
    for m in migrations:
        if m.name in done:
            continue  # up to date: no write lock taken, so opening never waits for a writer
        with db.transaction() as tx:
            db.lock(tx, lock)
            if tx.execute(f"SELECT 1 FROM {_HISTORY} WHERE name = ?", (m.name,)).fetchone():
                continue
            m.apply(tx, db.dialect)
            tx.execute(f"INSERT INTO {_HISTORY} (name, applied_ts) VALUES (?, ?)", (m.name, now_us()))
            names.append(m.name)
    return names
