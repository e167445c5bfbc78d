"""Reviewer accounts: scrypt hashes with per-account salt and stored parameters, never plain text."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hitl_pipeline.errors import ConfigError
from hitl_pipeline.ui import auth
from hitl_pipeline.ui.auth import SCRYPT_N, ReviewerAccounts, header_identity, verify_password


def test_add_check_and_file_format(tmp_path: Path) -> None:
    acc = ReviewerAccounts(tmp_path / "reviewers.json")
    acc.add("alice", "correct horse")
    acc.add("bob", "correct horse")
    raw = (tmp_path / "reviewers.json").read_text()
    assert "correct horse" not in raw
    data = json.loads(raw)
    a, b = data["reviewers"]["alice"], data["reviewers"]["bob"]
    assert a["scheme"] == "scrypt" and a["n"] == SCRYPT_N and a["r"] == 8 and a["p"] == 1
    assert a["salt"] != b["salt"] and a["hash"] != b["hash"]  # same password, different salt
    assert stat.S_IMODE((tmp_path / "reviewers.json").stat().st_mode) == 0o600
    assert acc.check("alice", "correct horse") and acc("bob", "correct horse")
    assert not acc.check("alice", "correct horsE")
    assert not acc.check("nobody", "correct horse")
    assert acc.names() == ["alice", "bob"] and "alice" in acc


def test_stored_parameters_are_used_for_old_hashes(tmp_path: Path) -> None:
    acc = ReviewerAccounts(tmp_path / "r.json")
    acc.add("carol", "old-parameters")
    path = tmp_path / "r.json"
    data = json.loads(path.read_text())
    record = data["reviewers"]["carol"]
    assert verify_password(record, "old-parameters")
    record["n"] = 2**10  # parameters differ from the stored hash: must no longer verify
    assert not verify_password(record, "old-parameters")
    assert not verify_password({"scheme": "scrypt"}, "x")  # broken record: refused, no crash


def test_rules_and_errors(tmp_path: Path) -> None:
    acc = ReviewerAccounts(tmp_path / "r.json")
    with pytest.raises(ConfigError, match="too short"):
        acc.add("dave", "short")
    with pytest.raises(ConfigError, match="invalid reviewer name"):
        acc.add("bad name", "long enough pw")
    acc.add("dave", "long enough pw")
    with pytest.raises(ConfigError, match="already exists"):
        acc.add("dave", "another password")
    acc.add("dave", "another password", replace=True)
    assert acc.check("dave", "another password") and not acc.check("dave", "long enough pw")
    acc.remove("dave")
    assert not acc.check("dave", "another password")
    with pytest.raises(ConfigError, match="no reviewer 'dave'"):
        acc.remove("dave")


def test_changes_by_another_process_are_seen(tmp_path: Path) -> None:
    server_view = ReviewerAccounts(tmp_path / "r.json")
    assert server_view.names() == []
    ReviewerAccounts(tmp_path / "r.json").add("erin", "added later")  # `hitl reviewers add` meanwhile
    assert server_view.check("erin", "added later")


def test_corrupt_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a valid reviewer accounts file"):
        ReviewerAccounts(tmp_path / "r.json").names()


def test_header_identity() -> None:
    ident = header_identity("X-Forwarded-User")
    assert ident(SimpleNamespace(headers={"x-forwarded-user": "carol"})) == "carol"
    assert ident(SimpleNamespace(headers={})) is None
    assert ident(SimpleNamespace(headers={"x-forwarded-user": "<script>"})) is None


def test_no_scrypt_work_at_start_up_but_unknown_names_cost_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []
    real = auth._scrypt

    def counted(*args: Any) -> bytes:
        runs.append(1)
        return real(*args)

    monkeypatch.setattr(auth, "_scrypt", counted)
    acc = ReviewerAccounts(tmp_path / "r.json")  # `hitl run`, `hitl reviewers list` …
    assert runs == []
    assert not acc.check("nobody", "correct horse")
    assert runs == [1]  # the same scrypt work as a known name: no user enumeration by timing


def test_a_failed_write_leaves_the_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acc = ReviewerAccounts(tmp_path / "r.json")
    acc.add("frank", "first password")
    before = (tmp_path / "r.json").read_text()

    def no_space(*a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(auth.os, "replace", no_space)
    with pytest.raises(OSError, match="No space"):
        acc.add("grace", "second password")
    assert (tmp_path / "r.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_header_identity_first_hop_rule() -> None:
    from starlette.datastructures import Headers

    ident = header_identity("X-Forwarded-User")
    one = Headers(raw=[(b"x-forwarded-user", b"alice")])
    two = Headers(raw=[(b"x-forwarded-user", b"mallory"), (b"x-forwarded-user", b"alice")])
    assert ident(SimpleNamespace(headers=one)) == "alice"
    assert ident(SimpleNamespace(headers=two)) is None  # never the first (the client's) copy
    assert ident(SimpleNamespace(headers={"x-forwarded-user": "mallory, alice"})) is None


def test_login_throttle_locks_for_doubling_times_and_forgets_on_success() -> None:
    now = [1000.0]
    throttle = auth.LoginThrottle(free=2, free_per_address=100, base=1, cap=8, clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("alice", "10.0.0.1")
    assert throttle.wait("alice", "10.0.0.1") == (0.0, "")
    locks = []
    for _ in range(5):
        throttle.failed("Alice", "10.0.0.2")  # names compare case-insensitively, any address
        locks.append(throttle.wait("alice", "10.0.0.9")[0])
    assert locks == [1, 2, 4, 8, 8]  # doubling, capped
    assert throttle.wait("bob", "10.0.0.9") == (0.0, "")  # other accounts are not locked
    now[0] += 8
    assert throttle.wait("alice", "10.0.0.1") == (0.0, "")
    throttle.succeeded("alice", "10.0.0.1")
    throttle.failed("alice", "10.0.0.1")
    assert throttle.wait("alice", "10.0.0.1") == (0.0, "")  # the count started again


def test_sessions_end_when_the_account_changes(tmp_path: Path) -> None:
    acc = ReviewerAccounts(tmp_path / "r.json")
    acc.add("alice", "first password")
    acc.add("bob", "bobs password")
    sessions = auth.SessionStore(acc.credential)
    a, b = sessions.open("alice"), sessions.open("bob")
    assert sessions.user(a) == "alice" and sessions.user(b) == "bob"
    ReviewerAccounts(tmp_path / "r.json").add("alice", "second password", replace=True)
    assert sessions.user(a) is None and sessions.user(b) == "bob"
    assert sessions.ended(a) == "the password of “alice” was changed: log in again with the new one."
    assert sessions.user(sessions.open("alice")) == "alice"  # a new login works
    ReviewerAccounts(tmp_path / "r.json").remove("bob")
    assert sessions.user(b) is None
    assert sessions.ended(b) == "“bob” is no longer a reviewer account: log in again."


def test_a_tab_belongs_to_its_first_login() -> None:
    tabs = auth.TabOwners(capacity=2)
    assert tabs.claim("t1", "alice") and tabs.claim("t1", "alice")
    assert not tabs.claim("t1", "bob")
    assert tabs.claim("t2", "bob") and tabs.claim("t3", "bob")  # t1 is the oldest: forgotten
    assert tabs.claim("t1", "bob")
