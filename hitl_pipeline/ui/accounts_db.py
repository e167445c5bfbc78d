"""Reviewer accounts and login sessions in the state database (``--state postgresql://…``), so that
every review server of a team sees the same accounts, a login on one server works on all of them
(no sticky sessions), and logout, ``hitl reviewers remove`` and ``add --replace`` end a session on
every server at its next request.

The same interfaces as the file accounts and the in-memory sessions of :mod:`hitl_pipeline.ui.auth`
(:class:`DatabaseAccounts` is a :class:`~hitl_pipeline.ui.auth.ReviewerAccounts`; its
:meth:`~DatabaseAccounts.session_store` a :class:`~hitl_pipeline.ui.auth.SessionStore`), kept in
schema ``hitl`` with its own migration history. Passwords are the same scrypt records; each
password gets a random stamp, and a session remembers the stamp it was opened with.
Without a state URL nothing changes: ``<home>/reviewers.json`` and sessions in memory.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from pathlib import Path
from typing import Any

from hitl_pipeline.campaign.state.admin import is_url
from hitl_pipeline.db import Database, Dialect, Migration, Tx, migrate, now_us
from hitl_pipeline.errors import ConfigError
from hitl_pipeline.ui.auth import (
    MIN_PASSWORD_LENGTH,
    ReviewerAccounts,
    SessionStore,
    check_reviewer_name,
    hash_password,
    verify_password,
)

#: The schema of the accounts and sessions shared by every campaign of a state database.
ACCOUNTS_SCHEMA = "hitl"


def _tables(tx: Tx, d: Dialect) -> None:
    tx.execute(
        f"""CREATE TABLE reviewers (
            name TEXT PRIMARY KEY, record_json TEXT NOT NULL, stamp TEXT NOT NULL,
            created_at {d.bigint_type} NOT NULL, updated_at {d.bigint_type} NOT NULL
        )"""
    )
    tx.execute(
        f"""CREATE TABLE login_sessions (
            token TEXT PRIMARY KEY, reviewer TEXT NOT NULL, stamp TEXT,
            created_at {d.bigint_type} NOT NULL, ended_reason TEXT
        )"""
    )
    tx.execute("CREATE INDEX login_sessions_by_reviewer ON login_sessions (reviewer)")


ACCOUNT_MIGRATIONS = [Migration("0001_reviewers_and_sessions", _tables)]


class DatabaseAccounts(ReviewerAccounts):
    """Reviewer accounts in a database (see the module docs)."""

    def __init__(self, db: Database) -> None:
        super().__init__(Path(db.where))
        self.db = db
        migrate(db, ACCOUNT_MIGRATIONS)

    def _record(self, name: str) -> tuple[dict[str, object], str] | None:
        row = self.db.one("SELECT record_json, stamp FROM reviewers WHERE name = ?", (name,))
        return None if row is None else (json.loads(row[0]), str(row[1]))

    def names(self) -> list[str]:
        return [r[0] for r in self.db.query("SELECT name FROM reviewers ORDER BY name")]

    def __contains__(self, name: object) -> bool:
        return (
            isinstance(name, str)
            and self.db.one("SELECT 1 FROM reviewers WHERE name = ?", (name,)) is not None
        )

    def credential(self, name: str) -> str | None:
        found = self._record(name)
        return None if found is None else found[1]

    def check(self, name: str, password: str) -> bool:
        found = self._record(name)
        if found is None:
            verify_password(self._dummy, password)  # an unknown name costs the same work
            return False
        return verify_password(found[0], password)

    __call__ = check

    def add(self, name: str, password: str, *, replace: bool = False) -> None:
        check_reviewer_name(name)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ConfigError(
                f"the password for {name!r} is too short: use at least {MIN_PASSWORD_LENGTH} characters"
            )
        record = json.dumps(hash_password(password), sort_keys=True)
        now = now_us()
        with self.db.transaction() as tx:
            exists = tx.execute("SELECT 1 FROM reviewers WHERE name = ?", (name,)).fetchone() is not None
            if exists and not replace:
                raise ConfigError(
                    f"reviewer {name!r} already exists in {self.db.where}: remove it first or use --replace"
                )
            # A new stamp: every session opened with the old password ends at its next request.
            tx.execute(
                """INSERT INTO reviewers (name, record_json, stamp, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET record_json = excluded.record_json,
                     stamp = excluded.stamp, updated_at = excluded.updated_at""",
                (name, record, secrets.token_hex(16), now, now),
            )

    def remove(self, name: str) -> None:
        with self.db.transaction() as tx:
            if tx.execute("DELETE FROM reviewers WHERE name = ?", (name,)).rowcount == 0:
                raise ConfigError(f"no reviewer {name!r} in {self.db.where} (see: hitl reviewers list)")

    def export_records(self) -> dict[str, dict[str, Any]]:
        return {r[0]: json.loads(r[1]) for r in self.db.query("SELECT name, record_json FROM reviewers")}

    def import_record(self, name: str, record: dict[str, Any]) -> None:
        check_reviewer_name(name)
        now = now_us()
        with self.db.transaction() as tx:
            if tx.execute("SELECT 1 FROM reviewers WHERE name = ?", (name,)).fetchone() is not None:
                raise ConfigError(f"reviewer {name!r} already exists in {self.db.where}")
            tx.execute(
                "INSERT INTO reviewers (name, record_json, stamp, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (name, json.dumps(record, sort_keys=True), secrets.token_hex(16), now, now),
            )

    def cookie_name(self) -> str | None:
        # The same on every server of this database: a cookie set by one is read by the others.
        return "hitl-" + hashlib.sha256(self.db.where.encode()).hexdigest()[:24]

    def session_store(self) -> SessionStore:
        return DatabaseSessions(self.db)

    def close(self) -> None:
        self.db.close()


class DatabaseSessions(SessionStore):
    """Login sessions in a database: token → reviewer and the password stamp it was opened with.
    Every call reads the database, so a session ended on one server is ended on all of them."""

    def __init__(self, db: Database) -> None:
        super().__init__(lambda name: None)
        self.db = db
        self._lock = threading.Lock()

    def open(self, name: str, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(16)
        with self.db.transaction() as tx:
            stamp = tx.execute("SELECT stamp FROM reviewers WHERE name = ?", (name,)).fetchone()
            tx.execute(
                """INSERT INTO login_sessions (token, reviewer, stamp, created_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (token) DO UPDATE SET reviewer = excluded.reviewer, stamp = excluded.stamp,
                     created_at = excluded.created_at, ended_reason = NULL""",
                (token, name, stamp[0] if stamp else None, now_us()),
            )
        return token

    def user(self, token: str | None) -> str | None:
        if not token:
            return None
        row = self.db.one(
            """SELECT s.reviewer, s.stamp, s.ended_reason, r.stamp FROM login_sessions s
               LEFT JOIN reviewers r ON r.name = s.reviewer WHERE s.token = ?""",
            (token,),
        )
        if row is None or row[2] is not None:
            return None
        name, stamp, current = row[0], row[1], row[3]
        if current is None or current != stamp:
            why = (
                f"“{name}” is no longer a reviewer account: log in again."
                if current is None
                else f"the password of “{name}” was changed: log in again with the new one."
            )
            with self.db.transaction() as tx:
                tx.execute("UPDATE login_sessions SET ended_reason = ? WHERE token = ?", (why, token))
            return None
        return str(name)

    def ended(self, token: str) -> str | None:
        value = self.db.scalar("SELECT ended_reason FROM login_sessions WHERE token = ?", (token,))
        return None if value is None else str(value)

    def revoke(self, token: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM login_sessions WHERE token = ?", (token,))

    def revoke_user(self, name: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM login_sessions WHERE reviewer = ?", (name,))

    def tokens(self) -> list[str]:
        return [r[0] for r in self.db.query("SELECT token FROM login_sessions WHERE ended_reason IS NULL")]


def accounts_for(home: Path, state_url: str | None = None) -> ReviewerAccounts:
    """The reviewer accounts in force: in the state database when a PostgreSQL state URL is set
    (``--state`` / ``HITL_STATE_URL``), else ``<home>/reviewers.json``."""
    from hitl_pipeline.campaign.state.location import state_url as resolve_url

    url = resolve_url(state_url)
    if url is None:
        return ReviewerAccounts(Path(home) / "reviewers.json")
    from hitl_pipeline.db.postgres import PostgresDatabase

    return DatabaseAccounts(PostgresDatabase(url, ACCOUNTS_SCHEMA, pool_size=4))


def copy_accounts(source: Path | str, target: Path | str) -> str | None:
    """Copy the reviewer accounts of one state (a home directory or a PostgreSQL URL) to another,
    password hashes as they are; accounts already at the target are kept. For ``hitl state copy``."""
    src = accounts_for(Path(source), str(source) if is_url(str(source)) else "")
    dst = accounts_for(Path(target), str(target) if is_url(str(target)) else "")
    try:
        records = src.export_records()
        if not records:
            return None
        existing = set(dst.names())
        todo = [name for name in sorted(records) if name not in existing]
        for name in todo:
            dst.import_record(name, records[name])
        return f"reviewer accounts: {len(todo)} copied, {len(records) - len(todo)} already there"
    finally:
        for accounts in (src, dst):
            if isinstance(accounts, DatabaseAccounts):
                accounts.close()


def migrate_accounts(url: str) -> list[str]:
    """Apply the accounts schema's missing migrations (``hitl state migrate``); returns their names."""
    from hitl_pipeline.db.postgres import PostgresDatabase

    db = PostgresDatabase(url, ACCOUNTS_SCHEMA, pool_size=1)
    try:
        return migrate(db, ACCOUNT_MIGRATIONS)
    finally:
        db.close()
