"""Reviewer accounts: ``<home>/reviewers.json`` with scrypt password hashes (standard library only).

File format (version 1)::

    {"version": 1,
     "reviewers": {"alice": {"scheme": "scrypt", "n": 16384, "r": 8, "p": 1,
                             "salt": "<base64>", "hash": "<base64>", "created": "2026-10-01T…Z"}}}

Each password gets a random 16-byte salt; the scrypt parameters are stored with the hash so they
can be raised later without invalidating old accounts. Checks compare in constant time, and an
unknown name costs the same scrypt work as a known one (no user enumeration by timing). The file is
written atomically with mode 0600 and re-read when it changes, so ``hitl reviewers add`` takes
effect on a running server.

Alternatively, a trusted reverse proxy authenticates and passes the name in a header
(:func:`header_identity`); only safe when the proxy strips that header from client requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hitl_pipeline.errors import ConfigError

#: scrypt cost parameters for new hashes (≈50 ms and 16 MB per check on a small server).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
MIN_PASSWORD_LENGTH = 8
REVIEWER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=HASH_BYTES
    )


def hash_password(password: str) -> dict[str, Any]:
    """A new scrypt record (random salt, parameters stored) for ``password``."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return {
        "scheme": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": base64.b64encode(salt).decode(),
        "hash": base64.b64encode(digest).decode(),
        "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def verify_password(record: dict[str, Any], password: str) -> bool:
    """Whether ``password`` matches ``record`` (constant-time comparison)."""
    try:
        salt = base64.b64decode(record["salt"])
        expected = base64.b64decode(record["hash"])
        digest = _scrypt(password, salt, int(record["n"]), int(record["r"]), int(record["p"]))
    except (KeyError, ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


def check_reviewer_name(name: str) -> str:
    """``name`` if it is a valid reviewer name, else ConfigError saying what is allowed."""
    if not REVIEWER_NAME.match(name):
        raise ConfigError(
            f"invalid reviewer name {name!r}: use 1–64 letters, digits, _ . @ - (starting with a letter or digit)"
        )
    return name


class ReviewerAccounts:
    """The reviewer accounts file. Thread-safe; usable directly as Gradio's ``auth=`` callable.

    Example::

        accounts = ReviewerAccounts(settings.reviewers_file)
        accounts.add("alice", "correct horse battery")
        accounts.check("alice", "correct horse battery")   # True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: dict[str, dict[str, Any]] = {}
        self._stamp: tuple[int, int] | None = None
        # Checked against for unknown names so that they cost the same scrypt work as known ones
        # (random bytes as the hash: nothing matches it, and no scrypt run at start-up).
        self._dummy = {
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": base64.b64encode(secrets.token_bytes(SALT_BYTES)).decode(),
            "hash": base64.b64encode(secrets.token_bytes(HASH_BYTES)).decode(),
        }

    # reading ----------------------------------------------------------------------------------
    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._cache, self._stamp = {}, None
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return self._cache
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            reviewers = data["reviewers"]
            if not isinstance(reviewers, dict):
                raise TypeError("reviewers is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{self.path}: not a valid reviewer accounts file ({exc}); fix it or delete it and re-add reviewers"
            ) from None
        self._cache, self._stamp = reviewers, stamp
        return reviewers

    def names(self) -> list[str]:
        """Reviewer names, sorted."""
        with self._lock:
            return sorted(self._load())

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return isinstance(name, str) and name in self._load()

    def check(self, name: str, password: str) -> bool:
        """Whether ``name``/``password`` is a valid login."""
        with self._lock:
            record = self._load().get(name)
        if record is None:
            verify_password(self._dummy, password)
            return False
        return verify_password(record, password)

    __call__ = check

    # writing ----------------------------------------------------------------------------------
    def _save(self, reviewers: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"version": 1, "reviewers": reviewers}, fh, indent=2, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())  # on disk before it replaces the old file
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._stamp = None

    def add(self, name: str, password: str, *, replace: bool = False) -> None:
        """Create ``name`` (or change its password with ``replace=True``)."""
        check_reviewer_name(name)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ConfigError(
                f"the password for {name!r} is too short: use at least {MIN_PASSWORD_LENGTH} characters"
            )
        record = hash_password(password)
        with self._lock:
            reviewers = dict(self._load())
            if name in reviewers and not replace:
                raise ConfigError(
                    f"reviewer {name!r} already exists in {self.path}: remove it first or use --replace"
                )
            reviewers[name] = record
            self._save(reviewers)

    def remove(self, name: str) -> None:
        """Delete ``name``; their open sessions are refused from the next request on."""
        with self._lock:
            reviewers = dict(self._load())
            if name not in reviewers:
                raise ConfigError(f"no reviewer {name!r} in {self.path} (see: hitl reviewers list)")
            del reviewers[name]
            self._save(reviewers)


def header_identity(header: str) -> Callable[[Any], str | None]:
    """A Gradio ``auth_dependency`` reading the reviewer name from a trusted proxy header.

    Only use behind a reverse proxy that authenticates users and strips this header from clients.
    """
    wanted = header.lower()

    def identity(request: Any) -> str | None:
        value = request.headers.get(wanted)
        if not value:
            return None
        value = value.strip()
        return value if REVIEWER_NAME.match(value) else None

    return identity
