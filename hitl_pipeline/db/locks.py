"""Named leases between processes, kept in the database they protect (table ``process_locks``).

A lease has a holder (one process's id) and an expiry: the holder renews it while it works, and a
holder that dies (``kill -9``) loses it when it expires — at once when it ran on the same machine
(its pid is gone) — so another process takes over. Used for
"one drainer of a campaign's outbox at a time" and "these review servers are live on this
campaign" (archiving waits for none to be). Works the same on every engine: acquiring is one
transaction under the database's named lock.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from hitl_pipeline.db.base import Database, Dialect, Tx
from hitl_pipeline.db.times import from_us, now_us


def create_table(tx: Tx, d: Dialect) -> None:
    """The table, as a migration step of any database that uses these leases."""
    tx.execute(
        f"""CREATE TABLE process_locks (
            name TEXT PRIMARY KEY, holder TEXT NOT NULL, info TEXT NOT NULL,
            acquired_at {d.bigint_type} NOT NULL, expires_at {d.bigint_type} NOT NULL
        )"""
    )


def new_holder() -> str:
    """A holder id unique to this process and call (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(holder: str) -> bool:
    """True for a holder of this machine whose process is gone (killed): its lease need not run out."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's): alive
        return False
    return False


def describe_process() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


@dataclass(frozen=True)
class Held:
    """A live lease held by someone."""

    name: str
    holder: str
    info: str
    seconds_left: float

    def __str__(self) -> str:
        return f"{self.info} (lease ends in {self.seconds_left:.0f} s unless renewed)"


def acquire(db: Database, name: str, holder: str, ttl: float, info: str) -> Held | None:
    """Take or renew the lease ``name`` for ``holder``; returns None on success, else who holds it."""
    now = now_us()
    with db.transaction() as tx:
        db.lock(tx, f"process_lock:{name}")
        row = tx.execute(
            "SELECT holder, info, expires_at FROM process_locks WHERE name = ?", (name,)
        ).fetchone()
        if row is not None and row[0] != holder and row[2] > now and not _dead_here(row[0]):
            return Held(name, row[0], row[1], (row[2] - now) / 1e6)
        tx.execute(
            """INSERT INTO process_locks (name, holder, info, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, info = excluded.info,
                 acquired_at = CASE WHEN process_locks.holder = excluded.holder THEN process_locks.acquired_at
                                    ELSE excluded.acquired_at END,
                 expires_at = excluded.expires_at""",
            (name, holder, info, now, now + int(ttl * 1e6)),
        )
    return None


def release(db: Database, name: str, holder: str) -> None:
    """Give the lease back (only if ``holder`` still holds it)."""
    with db.transaction() as tx:
        tx.execute("DELETE FROM process_locks WHERE name = ? AND holder = ?", (name, holder))


def live(db: Database, prefix: str, *, excluding: str | None = None) -> list[Held]:
    """Unexpired leases whose name starts with ``prefix`` (other than ``excluding``'s)."""
    now = now_us()
    rows = db.query(
        "SELECT name, holder, info, expires_at FROM process_locks WHERE expires_at > ? ORDER BY name", (now,)
    )
    return [
        Held(r[0], r[1], r[2], (r[3] - now) / 1e6)
        for r in rows
        if str(r[0]).startswith(prefix) and r[1] != excluding
    ]


__all__ = ["Held", "acquire", "create_table", "describe_process", "from_us", "live", "new_holder", "release"]
