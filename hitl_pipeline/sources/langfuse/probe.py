"""What a Langfuse server offers, found once per source.

Server version from ``/health``; credentials (``/score-configs``); whether the v2 observations reader
exists (v4 servers, Cloud) or only the legacy readers (v3 servers); whether ``/v3/scores`` exists;
and which body ``POST /scores`` probably takes (a JSON array from 4.59 on, a single object before:
only a hint — the first write sends an array whatever the version, and its answer settles it,
:meth:`CapabilityCache.use_array_body` / :meth:`CapabilityCache.use_object_body`).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from hitl_pipeline.errors import SourceError
from hitl_pipeline.sources.langfuse.http import LangfuseHttp, json_or_text

log = logging.getLogger(__name__)

#: First server version that takes a JSON array on ``POST /scores``.
ARRAY_SCORES_SINCE = (4, 59, 0)


@dataclass(frozen=True)
class Capabilities:
    """What the server offers, found once by :meth:`LangfuseSource.probe`."""

    host: str
    version: str
    v2_observations: bool
    v3_scores: bool
    legacy_reads: bool
    score_body: Literal["array", "object"]

    @property
    def read_path(self) -> str:
        """``"v2"`` (observations reader) or ``"legacy"`` (``/traces``, ``/sessions``)."""
        return "v2" if self.v2_observations else "legacy"


def version_tuple(version: str) -> tuple[int, int, int]:
    """``"4.59.1-rc"`` → ``(4, 59, 1)``; missing or non-numeric parts count as 0."""
    parts: list[int] = []
    for piece in version.split("-")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def _status(http: LangfuseHttp, path: str, params: dict[str, Any]) -> int:
    """The status of ``GET path`` (401 raises :class:`AuthError`); logs a deprecation notice."""
    try:
        response = http.request("GET", path, params=params)
    except httpx.HTTPError as exc:
        http.fail(f"GET {path}", exc)
    if response.status_code == 401:
        raise http.auth_error(401, json_or_text(response))
    if response.status_code == 200:
        deprecation = (response.json() or {}).get("_deprecation")
        if deprecation:
            log.warning("Langfuse: %s is deprecated (sunset %s)", path, deprecation.get("sunsetAt"))
    return response.status_code


def probe_server(http: LangfuseHttp) -> Capabilities:
    """Find out what the server offers. Raises AuthError / SourceError when it cannot.

    The four probes run at once (one round trip instead of four before anything is served); a
    failure is reported in their order: no answer, then credentials, then the rest.
    """
    api = http.api
    now = datetime.now(UTC)
    probes: list[Callable[[], Any]] = [
        lambda: http.call("the health check", lambda: api.health.health()).version,
        # /health needs no credentials: check them on a cheap authenticated route.
        lambda: http.call("listing score configs", lambda: api.score_configs.get(page=1, limit=1)),
        lambda: http.exists(
            "the v2 observations reader",
            lambda: api.observations.get_many(
                limit=1, fields="core", from_start_time=now - timedelta(hours=1), to_start_time=now
            ),
        ),
        lambda: http.exists("/v3/scores", lambda: api.scores.get_many(limit=1)),
    ]
    with ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="hitl-probe") as pool:
        futures = [pool.submit(contextvars.copy_context().run, p) for p in probes]
    version, _, v2, v3 = (f.result() for f in futures)
    legacy = False
    if not v2:
        legacy = _status(http, "/api/public/traces", {"limit": 1, "fields": "core"}) == 200
    body: Literal["array", "object"] = "array" if version_tuple(version) >= ARRAY_SCORES_SINCE else "object"
    if not v2 and not legacy:
        raise SourceError(
            f"Langfuse at {http.host} (version {version}) offers neither the v2 observations reader nor "
            "the legacy /traces reader: hitl cannot read traces from it"
        )
    caps = Capabilities(
        host=http.host,
        version=version,
        v2_observations=v2,
        v3_scores=v3,
        legacy_reads=legacy,
        score_body=body,
    )
    log.info("Langfuse %s at %s: %s", version, http.host, caps)
    return caps


class CapabilityCache:
    """The probe result of one source: probed on first use, thread-safe."""

    def __init__(self, http: LangfuseHttp) -> None:
        self._http = http
        self._caps: Capabilities | None = None
        self._lock = threading.Lock()

    def get(self, *, refresh: bool = False) -> Capabilities:
        with self._lock:
            if self._caps is None or refresh:
                self._caps = probe_server(self._http)
            return self._caps

    def use_object_body(self) -> None:
        """The server refused an array body: one score per request."""
        with self._lock:
            assert self._caps is not None
            self._caps = replace(self._caps, score_body="object")

    def use_array_body(self) -> None:
        """The server took an array body (whatever its version said)."""
        with self._lock:
            assert self._caps is not None
            self._caps = replace(self._caps, score_body="array")
