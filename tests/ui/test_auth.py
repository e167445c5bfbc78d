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
