"""Reviewer accounts and login sessions in the state database (--state postgresql://…), on a real
PostgreSQL: two store objects stand for two review servers (separate connections)."""

from __future__ import annotations

import pytest

from hitl_pipeline.db.postgres import PostgresDatabase
from hitl_pipeline.errors import ConfigError
from hitl_pipeline.ui.accounts_db import ACCOUNTS_SCHEMA, DatabaseAccounts, DatabaseSessions, accounts_for


def _servers(url: str) -> tuple[DatabaseAccounts, DatabaseAccounts]:
    return (
        DatabaseAccounts(PostgresDatabase(url, ACCOUNTS_SCHEMA)),
        DatabaseAccounts(PostgresDatabase(url, ACCOUNTS_SCHEMA)),
    )


def test_accounts_are_shared_by_every_server(postgres_url: str) -> None:
    one, two = _servers(postgres_url)
    one.add("alice", "correct horse battery")
    assert two.names() == ["alice"] and "alice" in two
    assert two.check("alice", "correct horse battery") and not two.check("alice", "wrong password!")
    assert not two.check("nobody", "correct horse battery")
    with pytest.raises(ConfigError, match="already exists"):
        two.add("alice", "another password")
    with pytest.raises(ConfigError, match="too short"):
        two.add("bob", "short")
    two.remove("alice")
    assert one.names() == []
    with pytest.raises(ConfigError, match="no reviewer 'alice'"):
        one.remove("alice")
    one.close()
    two.close()


def test_a_login_on_one_server_works_on_the_other_until_it_ends(postgres_url: str) -> None:
    one, two = _servers(postgres_url)
    one.add("alice", "correct horse battery")
    s1, s2 = one.session_store(), two.session_store()
    assert isinstance(s1, DatabaseSessions)
    token = s1.open("alice")
    assert s2.user(token) == "alice"  # no sticky sessions needed
    assert token in s2.tokens()
    s2.revoke(token)  # logout on server 2…
    assert s1.user(token) is None  # …ends it on server 1
    # A replaced password ends every session opened with the old one, on every server.
    token = s1.open("alice")
    two.add("alice", "a brand new password", replace=True)
    assert s1.user(token) is None
    assert "password of “alice” was changed" in (s2.ended(token) or "")
    # So does removing the account.
    token = s2.open("alice")
    assert s1.user(token) == "alice"
    one.remove("alice")
    assert s2.user(token) is None and "no longer a reviewer account" in (s1.ended(token) or "")
    # Logging out everywhere.
    one.add("bob", "correct horse battery")
    tokens = [s1.open("bob"), s2.open("bob")]
    s1.revoke_user("bob")
    assert [s2.user(t) for t in tokens] == [None, None]
    one.close()
    two.close()


def test_the_accounts_in_force_follow_the_state_url(
    postgres_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from hitl_pipeline.ui.auth import ReviewerAccounts

    home = Path(str(tmp_path))
    monkeypatch.setenv("HITL_STATE_URL", "")  # unset, and restored after (the CLI sets it for --state)
    plain = accounts_for(home)
    assert type(plain) is ReviewerAccounts and plain.path == home / "reviewers.json"
    monkeypatch.setenv("HITL_STATE_URL", postgres_url)
    shared = accounts_for(home)
    assert isinstance(shared, DatabaseAccounts)
    shared.close()
