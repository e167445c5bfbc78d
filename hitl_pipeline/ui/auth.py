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
First-hop rule: the header is believed only when it arrives exactly once, as set by the proxy
that connects to hitl; a request carrying it twice (a client's copy left next to the proxy's) is
refused, whichever copy comes first.

Login sessions (:class:`SessionStore`) remember which version of the account's password they
were opened with: ``hitl reviewers add --replace`` or ``remove`` (in any process, through the
accounts file) ends every session of that reviewer at its next request. Failed logins are
throttled per account and per client address (:class:`LoginThrottle`). Both keep their state in
memory behind a small interface, so a shared store (the state database) can replace them.
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
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
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

    def credential(self, name: str) -> str | None:
        """An opaque stamp of ``name``'s current password (None if no such account): it changes
        whenever the password is replaced, so a session can tell it was opened with an old one."""
        with self._lock:
            record = self._load().get(name)
        return None if record is None else str(record.get("hash", ""))

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

    def export_records(self) -> dict[str, dict[str, Any]]:
        """Every account's password record (scrypt parameters, salt, hash), for ``hitl state copy``."""
        with self._lock:
            return {name: dict(record) for name, record in self._load().items()}

    def import_record(self, name: str, record: dict[str, Any]) -> None:
        """Add an account with a record from :meth:`export_records` (the password moves as it is)."""
        check_reviewer_name(name)
        with self._lock:
            reviewers = dict(self._load())
            if name in reviewers:
                raise ConfigError(f"reviewer {name!r} already exists in {self.path}")
            reviewers[name] = dict(record)
            self._save(reviewers)

    def cookie_name(self) -> str | None:
        """The login cookie's name suffix every server of these accounts shares, or None for the
        web framework's random one (one server: sessions are in its memory anyway)."""
        return None

    def session_store(self) -> SessionStore:
        """Where a server keeps the login sessions of these accounts: in memory, checked against
        this file (the state database's accounts keep them in the database, shared by servers)."""
        return SessionStore(self.credential)


def header_values(headers: Any, name: str) -> list[str]:
    """Every value of header ``name`` (Starlette headers, or a plain mapping in tests)."""
    getlist = getattr(headers, "getlist", None)
    if getlist is not None:
        return [str(v) for v in getlist(name)]
    value = headers.get(name)
    return [] if value is None else [str(value)]


def header_identity(header: str) -> Callable[[Any], str | None]:
    """A Gradio ``auth_dependency`` reading the reviewer name from a trusted proxy header.

    Only use behind a reverse proxy that authenticates users and strips this header from clients.
    First-hop rule: a request with the header more than once is refused (None), never resolved
    to one of its values; so is a value that is not a reviewer name (e.g. ``alice, admin``).
    """
    wanted = header.lower()

    def identity(request: Any) -> str | None:
        values = header_values(request.headers, wanted)
        if len(values) != 1 or not values[0].strip():
            return None
        value = values[0].strip()
        return value if REVIEWER_NAME.match(value) else None

    return identity


class SessionStore:
    """Login sessions: token → reviewer, each bound to the password it was opened with.

    :meth:`user` answers None (and forgets the token) once the reviewer was removed or their
    password replaced, in this process or another. In memory: a restart logs everyone out. The
    methods are the whole interface, so a store shared by several servers can take its place.
    """

    def __init__(self, credential: Callable[[str], str | None]) -> None:
        """``credential(name)``: the stamp of the reviewer's current password, None when the
        account is gone (:meth:`ReviewerAccounts.credential`)."""
        self.credential = credential
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, str | None]] = {}
        #: Sessions ended because their account changed, with why (bounded): for a clear refusal.
        self._ended: OrderedDict[str, str] = OrderedDict()

    def open(self, name: str, token: str | None = None) -> str:
        """A session for ``name`` (``token`` given by the web framework, or a new random one)."""
        token = token or secrets.token_urlsafe(16)
        stamp = self.credential(name)
        with self._lock:
            self._sessions[token] = (name, stamp)
        return token

    def user(self, token: str | None) -> str | None:
        """The reviewer of a live session, else None (unknown, revoked or outdated token)."""
        if not token:
            return None
        with self._lock:
            entry = self._sessions.get(token)
        if entry is None:
            return None
        name, stamp = entry
        current = self.credential(name)
        if current is None or current != stamp:
            why = (
                f"“{name}” is no longer a reviewer account: log in again."
                if current is None
                else f"the password of “{name}” was changed: log in again with the new one."
            )
            with self._lock:
                self._sessions.pop(token, None)
                self._ended[token] = why
                if len(self._ended) > 10_000:
                    self._ended.popitem(last=False)
            return None
        return name

    def ended(self, token: str) -> str | None:
        """Why the session of ``token`` was ended by an account change (None if it was not)."""
        with self._lock:
            return self._ended.get(token)

    def revoke(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def revoke_user(self, name: str) -> None:
        """End every session of ``name`` (logout everywhere)."""
        with self._lock:
            for token in [t for t, (n, _) in self._sessions.items() if n == name]:
                del self._sessions[token]

    def tokens(self) -> list[str]:
        with self._lock:
            return list(self._sessions)


class TabOwners:
    """Which login each tab (Gradio session hash) and event belongs to: the first login that uses
    an id owns it, and another login presenting it is refused. Bounded (oldest forgotten first,
    like Gradio's own per-tab state); in memory, behind :meth:`claim`."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._owners: OrderedDict[str, str] = OrderedDict()

    def claim(self, key: str, user: str) -> bool:
        """Whether ``user`` may use ``key`` (claiming it when nobody has)."""
        with self._lock:
            owner = self._owners.get(key)
            if owner is None:
                self._owners[key] = user
                if len(self._owners) > self.capacity:
                    self._owners.popitem(last=False)
                return True
            self._owners.move_to_end(key)
            return owner == user


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class LoginThrottle:
    """Failed-login throttling per account and per client address.

    After ``free`` failures (account) or ``free_per_address`` failures (address), each further
    failure locks that account or address for twice as long as the last lock, from ``base``
    seconds up to ``cap``; a locked login is refused without checking the password. A success
    clears the account's and the address's failures. In memory (per server process), behind
    :meth:`wait` / :meth:`failed` / :meth:`succeeded`.
    """

    def __init__(
        self,
        *,
        free: int = 5,
        free_per_address: int = 20,
        base: float = 1.0,
        cap: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.free = free
        self.free_per_address = free_per_address
        self.base = base
        self.cap = cap
        self.clock = clock
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Failures] = {}

    def _keys(self, name: str, address: str) -> list[tuple[tuple[str, str], int]]:
        return [(("account", name.strip().lower()), self.free), (("address", address), self.free_per_address)]

    def wait(self, name: str, address: str) -> tuple[float, str]:
        """Seconds until a login of ``name`` from ``address`` may be tried (0: now) and what is
        locked (``account`` or ``address``)."""
        now = self.clock()
        with self._lock:
            for key, _ in self._keys(name, address):
                entry = self._entries.get(key)
                if entry is not None and entry.locked_until > now:
                    return entry.locked_until - now, key[0]
        return 0.0, ""

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                # Drop entries whose lock has passed (oldest first) rather than grow without bound.
                for key in [k for k, e in self._entries.items() if e.locked_until <= now][
                    : self.max_entries // 10
                ]:
                    del self._entries[key]
            for key, free in self._keys(name, address):
                entry = self._entries.setdefault(key, _Failures())
                entry.count += 1
                if entry.count > free:
                    entry.locked_until = now + min(self.cap, self.base * 2 ** min(entry.count - free - 1, 30))

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            for key, _ in self._keys(name, address):
                self._entries.pop(key, None)
