"""A faithful local Langfuse server for tests: a real threaded HTTP server on 127.0.0.1.

It implements the public API routes hitl-pipeline uses, with the behaviours documented in
``/work/shared/reference/langfuse-api.md`` (section numbers below refer to it):

* ``mode="v4"`` (default version ``4.61.0``): the v2 observations reader (``/v2/observations``) and
  ``/v3/scores``; the legacy ``/traces``, ``/sessions`` and v1 ``/observations`` routes answer 404 with
  the ``events_only`` message and a ``_deprecation`` block (§1.2). ``POST /scores`` takes a JSON array
  and answers 202/207 (servers ≥ 4.59) and also a single object (200 ``{id}``). With
  ``version="4.16.0"`` an array gets 400 "expected object, received array" and only a single object
  works (§8).
* ``mode="v3"`` (version ``3.225.4``): only the legacy readers ``/traces``, ``/traces/{id}``,
  ``/sessions``, ``/sessions/{id}``, ``/observations`` and ``/observations/{id}`` (page pagination,
  ``limit`` ≤ 100); ``/v2/observations`` answers 404 "only available in a Langfuse v4 write mode";
  ``/v3/scores`` exists; ``POST /scores`` takes a single object only.

Common: ``/health`` (no auth), Basic auth looked up by the *secret* key (§7), ``/score-configs`` CRUD
with the server's create rules (§2.7), score storage with the upsert key and merge rules (§8), and
a CORRECTION score stored under the name ``output`` whatever name it was sent with (§9), and
the asynchronous config validation that *silently drops* config-invalid scores (§3): they get 200 but
never become readable (see :attr:`LangfuseFake.dropped`). Visibility lag, latency and fault injection
(500/503/429 with ``Retry-After``/dropped connections, next-K or a random fraction) and per-route
request counters support the outbox fault test and the round-trip benchmarks.

Known differences from a real server (on purpose or unknown there): timestamps keep microseconds
(the server keeps milliseconds; the shared suite compares with the demo data exactly); 207 error
entries say which item failed (``index``, ``id``) — unverified on real servers, so
``errors_with_index = False`` tests the other case; ``stringOptions`` is accepted on the string
columns ``id``/``traceId``/``sessionId`` (assumed); an unknown filter column is a 400; a dropped
score is dropped at once (the server's worker does it seconds later — the effect is the same).

Traces are stored the way Langfuse v4 sees them: each trace becomes a *root observation* (type
``SPAN``, id ``<trace id>-root``, carrying the trace's name, I/O and metadata) whose children are the
trace's observations (a top-level observation's physical parent is the root). The legacy routes show
the same data in the v3 shape (trace objects, observations with no parent at the top).
"""

from __future__ import annotations

import base64
import json
import math
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from hitl_pipeline.model import Observation, Score, ScoreConfig, Trace

PROJECT_ID = "proj-fake"
ROOT_SUFFIX = "-root"
SUNSET = "2026-11-16"
EVENTS_ONLY_MESSAGE = (
    "This endpoint is not available on deployments running in Langfuse v4 events_only mode. "
    "Use GET /api/public/v2/observations instead."
)
V2_ONLY_V4_MESSAGE = "The observations v2 API is only available in a Langfuse v4 write mode"
ARRAY_MIN_VERSION = (4, 59, 0)
#: The name every CORRECTION score is stored under (reference §9).
CORRECTION_NAME = "output"

_OBS_GROUPS = {
    "core",
    "basic",
    "time",
    "io",
    "metadata",
    "model",
    "usage",
    "prompt",
    "metrics",
    "trace_context",
}
_FILTER_OPERATORS: dict[str, set[str]] = {
    "datetime": {">", "<", ">=", "<="},
    "string": {"=", "contains", "does not contain", "starts with", "ends with", "matches"},
    "stringOptions": {"any of", "none of"},
    "categoryOptions": {"any of", "none of"},
    "arrayOptions": {"any of", "none of", "all of"},
    "number": {"=", ">", "<", ">=", "<="},
    "stringObject": {"=", "contains", "does not contain", "starts with", "ends with", "matches"},
    "numberObject": {"=", ">", "<", ">=", "<="},
    "boolean": {"=", "<>"},
    "null": {"is null", "is not null"},
}
# Columns of the v2 observations filter (W504 docstring) and the filter types each accepts.
_V2_COLUMNS: dict[str, set[str]] = {
    **{
        c: {"string", "stringOptions", "null"}
        for c in (
            "id",
            "type",
            "name",
            "traceId",
            "environment",
            "level",
            "statusMessage",
            "version",
            "userId",
            "sessionId",
            "traceName",
            "model",
            "providedModelName",
            "promptName",
        )
    },
    "startTime": {"datetime"},
    "endTime": {"datetime", "null"},
    "isRootObservation": {"boolean"},
    "tags": {"arrayOptions"},
    "traceTags": {"arrayOptions"},
    "metadata": {"stringObject", "numberObject", "categoryOptions"},
    "input": {"string"},
    "output": {"string"},
    **{
        c: {"number"}
        for c in (
            "latency",
            "timeToFirstToken",
            "tokensPerSecond",
            "inputTokens",
            "outputTokens",
            "totalTokens",
            "tokens",
            "inputCost",
            "outputCost",
            "totalCost",
            "promptVersion",
        )
    },
}
# Columns of the legacy /traces filter.
_V1_TRACE_COLUMNS: dict[str, set[str]] = {
    **{
        c: {"string", "stringOptions", "null"}
        for c in (
            "id",
            "name",
            "userId",
            "sessionId",
            "environment",
            "version",
            "release",
        )
    },
    "timestamp": {"datetime"},
    "tags": {"arrayOptions"},
    "metadata": {"stringObject", "numberObject", "categoryOptions"},
    "bookmarked": {"boolean"},
}
# Simple query parameter → the filter column it targets (a filter on that column replaces it, §7).
_V2_PARAM_COLUMN = {
    "name": "name",
    "userId": "userId",
    "sessionId": "sessionId",
    "type": "type",
    "traceId": "traceId",
    "level": "level",
    "version": "version",
    "environment": "environment",
    "fromStartTime": "startTime",
    "toStartTime": "startTime",
    "isRootObservation": "isRootObservation",
    "parentObservationId": "parentObservationId",
}
_V1_PARAM_COLUMN = {
    "name": "name",
    "userId": "userId",
    "sessionId": "sessionId",
    "version": "version",
    "release": "release",
    "environment": "environment",
    "tags": "tags",
    "fromTimestamp": "timestamp",
    "toTimestamp": "timestamp",
}


class _HttpError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _bad(message: str, status: int = 400, **extra: Any) -> _HttpError:
    return _HttpError(status, {"message": message, **extra})


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    # Microseconds, although the real server keeps milliseconds: the shared backend suite compares
    # timestamps exactly with the demo data, whose timestamps carry microseconds.
    return dt.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_dt(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"Invalid request data: {what} must be an ISO 8601 datetime") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _version_tuple(version: str) -> tuple[int, int, int]:
    parts = [int("".join(ch for ch in p if ch.isdigit()) or 0) for p in version.split("-")[0].split(".")]
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def _raw_io(value: Any) -> str | None:
    """I/O as the v2 reader returns it: a raw string (JSON text for non-strings)."""
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(json.loads(base64.urlsafe_b64decode(padded))["offset"])
    except Exception:
        raise _bad("Invalid cursor") from None


@dataclass
class _Fault:
    kind: str  # see LangfuseFake.fail_next
    retry_after: float | None = None
    route: str | None = None  # only requests whose path starts with this (None: any request)


@dataclass
class StoredScore:
    """One stored score row (the fake's ClickHouse row). ``visible_at`` is a ``time.monotonic`` value."""

    id: str
    name: str
    value: float
    string_value: str | None
    data_type: str
    source: str
    timestamp: datetime
    created_at: datetime
    updated_at: datetime
    environment: str
    trace_id: str | None
    observation_id: str | None
    session_id: str | None
    dataset_run_id: str | None
    comment: str | None
    metadata: dict[str, Any] | None
    config_id: str | None
    queue_id: str | None
    visible_at: float = 0.0


@dataclass
class _Data:
    traces: dict[str, Trace] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)  # v4 observation rows (internal values)
    rows_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[tuple[str, str], StoredScore] = field(default_factory=dict)  # (id, name) → row


class LangfuseFake:
    """A local Langfuse server. Use as a context manager or call :meth:`start`/:meth:`stop`.

    Example::

        with LangfuseFake(mode="v4") as fake:
            fake.load(traces=demo.traces, scores=demo.scores, score_configs=demo.score_configs)
            api = LangfuseAPI(base_url=fake.url, username=fake.public_key, password=fake.secret_key)
    """

    def __init__(
        self,
        *,
        mode: str = "v4",
        version: str | None = None,
        public_key: str = "pk-lf-fake",
        secret_key: str = "sk-lf-fake-secret",
        latency_ms: float = 0.0,
        visibility_lag_ms: float = 0.0,
        seed: int = 0,
        accept_arrays: bool | None = None,
        v3_scores: bool = True,
    ) -> None:
        """``accept_arrays`` overrides what the version implies for ``POST /scores`` array bodies;
        ``v3_scores=False`` (v3 mode) is a server before 3.179: no ``/v3/scores``, only ``/v2/scores``."""
        if mode not in ("v4", "v3"):
            raise ValueError("mode must be 'v4' or 'v3'")
        self.mode = mode
        self.version = version or ("4.61.0" if mode == "v4" else "3.225.4")
        self.public_key = public_key
        self.secret_key = secret_key
        self.latency_ms = latency_ms
        self.visibility_lag_ms = visibility_lag_ms
        self.counters: Counter[str] = Counter()
        #: Every request: ``(method, path, query)`` (query as parsed lists), for tests that check what was sent.
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        #: Score ids the server refuses synchronously, with the message (207 entry or 400).
        self.reject_ids: dict[str, str] = {}
        #: Whether 207 error entries say which item failed (``index``/``id``); unknown for real servers.
        self.errors_with_index = True
        self.accept_arrays = accept_arrays
        self.v3_scores = v3_scores
        #: Every config-invalid score the "worker" dropped: ``(body, reason)``.
        self.dropped: list[tuple[dict[str, Any], str]] = []
        #: Every score body accepted by POST /scores, in arrival order (duplicates visible).
        self.received: list[dict[str, Any]] = []
        #: Requests being served now, and the most ever served at once.
        self.in_flight = 0
        self.max_in_flight = 0
        #: Langfuse Cloud's rate limit ("all other APIs", per minute; None: none): requests beyond
        #: it within any ``rate_period`` seconds get 429 with Retry-After and X-RateLimit-Limit.
        self.rate_limit: int | None = None
        self.rate_period = 60.0
        self.rate_limited = 0  # 429s answered for the rate limit
        self.rate_limit_header = True
        self._rate_starts: list[float] = []
        self._data = _Data()
        self._indexes: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._fault_fraction = 0.0
        self._fault_kinds: tuple[str, ...] = ("500", "503", "429", "drop")
        self._fault_routes: tuple[str, ...] = ()
        self._retry_after = 1.0
        self._rng = random.Random(seed)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LangfuseFake:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="langfuse-fake",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LangfuseFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:51234`` (the SDK adds ``/api/public/...``)."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables pointing hitl at this server."""
        return {
            "LANGFUSE_PUBLIC_KEY": self.public_key,
            "LANGFUSE_SECRET_KEY": self.secret_key,
            "LANGFUSE_BASE_URL": self.url,
        }

    # ------------------------------------------------------------------ data loading

    def load(
        self,
        traces: Iterable[Trace] = (),
        scores: Iterable[Score] = (),
        score_configs: Iterable[ScoreConfig] = (),
    ) -> None:
        """Load traces (with their observations), existing scores and score configs."""
        with self._lock:
            for cfg in score_configs:
                self.add_config(cfg)
            for trace in traces:
                self.add_trace(trace)
            for score in scores:
                self.add_score(score)

    def load_demo(self, demo: Any) -> None:
        """Load a ``DemoData`` (``sources/demo.py``)."""
        self.load(demo.traces, demo.scores, demo.score_configs)

    def add_trace(self, trace: Trace) -> None:
        with self._lock:
            self._data.traces[trace.id] = trace
            root_id = trace.id + ROOT_SUFFIX
            ends = [o.end_time for o in trace.observations if o.end_time is not None]
            common = {
                "traceId": trace.id,
                "userId": trace.user_id or "",
                "sessionId": trace.session_id or "",
                "environment": trace.environment or "default",
                "traceName": trace.name,
                "tags": list(trace.tags),
                "release": trace.release or "",
                "trace_version": trace.version or "",
                "trace_metadata": dict(trace.metadata),
            }
            root = {
                **common,
                "id": root_id,
                "type": "SPAN",
                "name": trace.name,
                "startTime": trace.timestamp,
                "endTime": max(ends) if ends else trace.timestamp,
                "parentObservationId": None,
                "isRootObservation": True,
                "level": "DEFAULT",
                "statusMessage": "",
                "version": trace.version or "",
                "input": trace.input,
                "output": trace.output,
                "metadata": dict(trace.metadata),
                "model": "",
                "usageDetails": {},
            }
            rows = [root]
            for obs in trace.observations:
                rows.append(
                    {
                        **common,
                        "id": obs.id,
                        "type": obs.type,
                        "name": obs.name,
                        "startTime": obs.start_time,
                        "endTime": obs.end_time,
                        "parentObservationId": obs.parent_id or root_id,
                        "isRootObservation": False,
                        "level": obs.level,
                        "statusMessage": obs.status_message or "",
                        "version": "",
                        "input": obs.input,
                        "output": obs.output,
                        "metadata": dict(obs.metadata),
                        "model": obs.model or "",
                        "usageDetails": {
                            k: int(v) for k, v in obs.usage.items() if isinstance(v, int | float)
                        },
                    }
                )
            self._indexes.clear()
            for row in rows:
                # Serialized once: the v2 reader returns I/O as raw strings anyway.
                row["input_raw"] = _raw_io(row["input"])
                row["output_raw"] = _raw_io(row["output"])
                old = self._data.rows_by_id.get(row["id"])
                if old is not None:
                    self._data.rows.remove(old)
                self._data.rows.append(row)
                self._data.rows_by_id[row["id"]] = row

    def add_config(self, cfg: ScoreConfig) -> None:
        now = datetime.now(UTC)
        with self._lock:
            self._data.configs[cfg.id] = {
                "id": cfg.id,
                "name": cfg.name,
                "createdAt": now,
                "updatedAt": now,
                "projectId": PROJECT_ID,
                "dataType": cfg.data_type,
                "isArchived": cfg.is_archived,
                "minValue": cfg.min_value,
                "maxValue": cfg.max_value,
                "categories": [{"label": lb, "value": v} for lb, v in cfg.categories]
                if cfg.data_type in ("CATEGORICAL", "BOOLEAN")
                else None,
                "description": cfg.description,
            }

    def add_score(self, score: Score) -> None:
        """Store an existing score directly (e.g. an EVAL score), bypassing validation."""
        value: float
        if isinstance(score.value, int | float):
            value = float(score.value)
        else:
            value = 0.0
        string_value = score.string_value
        if string_value is None and isinstance(score.value, str):
            string_value = score.value
        if score.data_type == "BOOLEAN" and string_value is None:
            string_value = "True" if value == 1 else "False"
        row = StoredScore(
            id=score.id,
            name=score.name,
            value=value,
            string_value=string_value,
            data_type=score.data_type,
            source=score.source,
            timestamp=score.timestamp,
            created_at=score.timestamp,
            updated_at=score.timestamp,
            environment=score.environment,
            trace_id=score.trace_id,
            observation_id=score.observation_id,
            session_id=score.session_id,
            dataset_run_id=None,
            comment=score.comment,
            metadata=dict(score.metadata) if score.metadata else None,
            config_id=score.config_id,
            queue_id=score.queue_id,
        )
        with self._lock:
            self._data.scores[(row.id, row.name)] = row

    def set_config_archived(self, config_id: str, archived: bool = True) -> None:
        with self._lock:
            self._data.configs[config_id]["isArchived"] = archived

    # ------------------------------------------------------------------ faults & inspection

    def fail_next(
        self,
        count: int = 1,
        kind: str | int = 503,
        *,
        retry_after: float | None = None,
        route: str | None = None,
    ) -> None:
        """Make the next ``count`` requests fail: 500, 503, 429 (with ``Retry-After``), 403 (ingestion
        suspended), 401, ``"drop"`` (close the connection without an answer), ``"drop_after"``
        (process it, then drop), ``"echo_auth"`` (a 502 whose body quotes the request's
        Authorization header), ``"not_json"`` (a 200 HTML page) or ``"wrong_shape"`` (a 200 JSON
        array where the endpoint returns an object). ``/health`` fails only when ``route`` names it.
        ``route``: only the next requests whose path starts with it (e.g. ``/api/public/scores/``,
        the score deletes)."""
        with self._lock:
            self._faults.extend(_Fault(str(kind), retry_after, route) for _ in range(count))

    def set_fault_fraction(
        self,
        fraction: float,
        kinds: Sequence[str | int] = (500, 503, 429, "drop"),
        *,
        routes: Sequence[str] = (),
        retry_after: float = 1.0,
    ) -> None:
        """Fail a random ``fraction`` of requests (optionally only paths starting with one of ``routes``)."""
        with self._lock:
            self._fault_fraction = fraction
            self._fault_kinds = tuple(str(k) for k in kinds)
            self._fault_routes = tuple(routes)
            self._retry_after = retry_after

    def reset_counters(self) -> None:
        with self._lock:
            self.counters.clear()

    @property
    def total_requests(self) -> int:
        return sum(self.counters.values())

    def stored_scores(self, *, include_invisible: bool = True) -> list[StoredScore]:
        """Every stored score row (one per ``(id, name)``), so duplicates across names are visible."""
        now = time.monotonic()
        with self._lock:
            rows = list(self._data.scores.values())
        return [r for r in rows if include_invisible or r.visible_at <= now]

    def config_dicts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._data.configs.values()]

    def set_rate_limit(self, limit: int | None, period: float = 60.0, *, limit_header: bool = True) -> None:
        """Answer 429 beyond ``limit`` requests per ``period`` seconds (sliding window, /health
        free), with ``X-RateLimit-Limit`` unless ``limit_header`` is False."""
        with self._lock:
            self.rate_limit = limit
            self.rate_period = period
            self.rate_limit_header = limit_header
            self._rate_starts = []

    def _over_rate(self) -> float | None:
        """Seconds until a slot frees when this request is over the rate limit (it then does not
        count), else None (it counts)."""
        with self._lock:
            if self.rate_limit is None:
                return None
            now = time.monotonic()
            self._rate_starts = [t for t in self._rate_starts if t > now - self.rate_period]
            if len(self._rate_starts) >= self.rate_limit:
                self.rate_limited += 1
                return max(0.001, self._rate_starts[0] + self.rate_period - now)
            self._rate_starts.append(now)
            return None

    def _health_fault_queued(self) -> bool:
        """Whether a fault was queued for ``/health`` explicitly (``fail_next(route=…/health)``);
        random faults never hit it."""
        with self._lock:
            return any(f.route is not None and f.route.startswith("/api/public/health") for f in self._faults)

    def _pick_fault(self, path: str) -> _Fault | None:
        health = path.rstrip("/") == "/api/public/health"
        with self._lock:
            for i, fault in enumerate(self._faults):
                if (fault.route is None and not health) or (fault.route and path.startswith(fault.route)):
                    return self._faults.pop(i)
            if health:
                return None
            if self._fault_fraction > 0 and (
                not self._fault_routes or any(path.startswith(r) for r in self._fault_routes)
            ):
                if self._rng.random() < self._fault_fraction:
                    return _Fault(self._rng.choice(self._fault_kinds), self._retry_after)
        return None

    # ------------------------------------------------------------------ routing

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        """Route one authenticated request; raise :class:`_HttpError` for error answers."""
        p = path.rstrip("/")
        legacy_prefixes = (
            "/api/public/traces",
            "/api/public/sessions",
            "/api/public/observations",
            "/api/public/v2/scores",
        )
        if self.mode == "v4" and p.startswith(legacy_prefixes):
            raise _HttpError(
                404,
                {
                    "message": EVENTS_ONLY_MESSAGE,
                    "_deprecation": {
                        "message": "This endpoint is deprecated.",
                        "replacement": "GET /api/public/v2/observations",
                        "docsUrl": "https://langfuse.com/faq/all/deprecated-api-migration",
                        "sunsetAt": SUNSET,
                    },
                },
            )
        if p == "/api/public/v2/observations" and method == "GET":
            if self.mode == "v3":
                raise _bad(V2_ONLY_V4_MESSAGE, 404)
            return 200, self._v2_observations(query)
        if p == "/api/public/v3/scores" and method == "GET" and self.v3_scores:
            return 200, self._v3_scores(query)
        if p == "/api/public/v2/scores" and method == "GET":
            return 200, self._v2_scores(query)
        if p == "/api/public/scores" and method == "POST":
            return self._post_scores(body)
        if p.startswith("/api/public/scores/") and method == "DELETE":
            return self._delete_score(unquote(p.rsplit("/", 1)[1]))
        if p == "/api/public/score-configs":
            if method == "GET":
                return 200, self._list_configs(query)
            if method == "POST":
                return 200, self._create_config(body)
        if p.startswith("/api/public/score-configs/"):
            config_id = unquote(p.rsplit("/", 1)[1])
            if method == "GET":
                return 200, self._config_out(self._get_config(config_id))
            if method == "PATCH":
                return 200, self._patch_config(config_id, body)
        if self.mode == "v3" and method == "GET":
            if p == "/api/public/traces":
                return 200, self._v1_traces(query)
            if p.startswith("/api/public/traces/"):
                return 200, self._v1_trace(unquote(p.rsplit("/", 1)[1]))
            if p == "/api/public/sessions":
                return 200, self._v1_sessions(query)
            if p.startswith("/api/public/sessions/"):
                return 200, self._v1_session(unquote(p.rsplit("/", 1)[1]))
            if p == "/api/public/observations":
                return 200, self._v1_observations(query)
            if p.startswith("/api/public/observations/"):
                return 200, self._v1_observation(unquote(p.rsplit("/", 1)[1]))
        raise _bad(f"Route not found: {method} {p}", 404)

    # ------------------------------------------------------------------ v2 observations

    def _v2_observations(self, q: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[-1] for k, v in q.items()}
        if one.get("parseIoAsJson", "").lower() == "true":
            raise _bad("parseIoAsJson is no longer supported; input/output are returned as raw strings")
        limit = int(one.get("limit", "50"))
        if not 1 <= limit <= 1000:
            raise _bad("Invalid request data: limit must be between 1 and 1000")
        groups = {g.strip() for g in (one.get("fields") or "core,basic").split(",") if g.strip()}
        groups = {g for g in groups if g in _OBS_GROUPS} | {"core"}  # unknown names are dropped
        expand = [k for k in (one.get("expandMetadata") or "").split(",") if k]
        conditions = self._parse_filter(one.get("filter"), _V2_COLUMNS)
        filtered_cols = {c["column"] for c in conditions}
        rows = self._preselect(conditions, one)
        out = []
        for row in rows:
            if not self._v2_params_match(row, q, one, filtered_cols):
                continue
            if not all(
                self._cond_match(c, self._v2_value(row, c["column"], c.get("key"))) for c in conditions
            ):
                continue
            out.append(row)
        out.sort(key=lambda r: (r["startTime"], r["id"]), reverse=True)
        offset = _decode_cursor(one["cursor"]) if one.get("cursor") else 0
        page = out[offset : offset + limit]
        meta: dict[str, Any] = {}
        if offset + limit < len(out):
            meta["cursor"] = _encode_cursor(offset + limit)
        truncate = not ("io" in groups or expand)
        return {"data": [self._v2_row_out(r, groups, truncate) for r in page], "meta": meta}

    def _preselect(self, conditions: list[dict[str, Any]], one: dict[str, str]) -> list[dict[str, Any]]:
        """Rows that can match, from the id / trace / session indexes when a condition allows it
        (the server has indexes too; scanning every row per request made the fake the bottleneck)."""
        with self._lock:
            best: list[dict[str, Any]] | None = None
            for c in conditions:
                if c["column"] not in ("id", "traceId", "sessionId") or c["operator"] not in ("=", "any of"):
                    continue
                keys = c["value"] if isinstance(c["value"], list) else [c["value"]]
                if c["column"] == "id":
                    found = [self._data.rows_by_id[k] for k in keys if k in self._data.rows_by_id]
                else:
                    index = self._index("traceId" if c["column"] == "traceId" else "sessionId")
                    found = [r for k in keys for r in index.get(k, ())]
                if best is None or len(found) < len(best):
                    best = found
            if best is None and "traceId" in one and "traceId" not in {c["column"] for c in conditions}:
                best = list(self._index("traceId").get(one["traceId"], ()))
            return list(self._data.rows) if best is None else best

    def _index(self, column: str) -> dict[str, list[dict[str, Any]]]:
        cached = self._indexes.get(column)
        if cached is None:
            cached = {}
            for row in self._data.rows:
                cached.setdefault(row[column], []).append(row)
            self._indexes[column] = cached
        return cached

    def _v2_params_match(
        self, row: dict[str, Any], q: dict[str, list[str]], one: dict[str, str], filtered: set[str]
    ) -> bool:
        for param, column in _V2_PARAM_COLUMN.items():
            if param not in one or column in filtered:
                continue
            value = one[param]
            if param == "environment":
                if row["environment"] not in q["environment"]:
                    return False
            elif param == "fromStartTime":
                if row["startTime"] < _parse_dt(value, param):
                    return False
            elif param == "toStartTime":
                if row["startTime"] >= _parse_dt(value, param):
                    return False
            elif param == "isRootObservation":
                if row["isRootObservation"] != (value.lower() == "true"):
                    return False
            elif param == "parentObservationId":
                if (row["parentObservationId"] or "") != value:
                    return False
            elif str(row.get(column) or "") != value:
                return False
        return True

    @staticmethod
    def _v2_value(row: dict[str, Any], column: str, key: str | None) -> Any:
        if column in ("tags", "traceTags"):
            return row["tags"]
        if column == "metadata":
            return row["metadata"].get(key) if key is not None else None
        if column in ("model", "providedModelName"):
            return row["model"]
        if column == "latency":
            end = row["endTime"]
            return (end - row["startTime"]).total_seconds() if end else None
        if column in ("input", "output"):
            return row[column + "_raw"] or ""
        if column in ("inputTokens", "outputTokens", "totalTokens", "tokens"):
            usage = row["usageDetails"]
            name = {"inputTokens": "input", "outputTokens": "output"}.get(column, "total")
            return usage.get(name)
        return row.get(column)

    def _v2_row_out(self, row: dict[str, Any], groups: set[str], truncate: bool) -> dict[str, Any]:
        end = row["endTime"]
        latency = (end - row["startTime"]).total_seconds() if end else None
        out: dict[str, Any] = {
            "id": row["id"],
            "traceId": row["traceId"],
            "startTime": _iso(row["startTime"]),
            "endTime": _iso(end),
            "projectId": PROJECT_ID,
            "parentObservationId": row["parentObservationId"],
            "type": row["type"],
            # Always present (§7): model id and prices (null unless `model`), latency, time to first token.
            "modelId": None,
            "inputPrice": None,
            "outputPrice": None,
            "totalPrice": None,
            "latency": (latency or None) if "metrics" in groups else None,
            "timeToFirstToken": None,
        }
        if "basic" in groups:
            out.update(
                name=row["name"],
                level=row["level"],
                statusMessage=row["statusMessage"],
                version=row["version"],
                environment=row["environment"],
                bookmarked=False,
                public=False,
                userId=row["userId"],
                sessionId=row["sessionId"],
                isRootObservation=row["isRootObservation"],
            )
        if "time" in groups:
            out.update(
                completionStartTime=None, createdAt=_iso(row["startTime"]), updatedAt=_iso(row["startTime"])
            )
        if "io" in groups:
            out.update(input=row["input_raw"], output=row["output_raw"])
        if "metadata" in groups:
            meta = {}
            for k, v in row["metadata"].items():
                meta[k] = v[:200] if truncate and isinstance(v, str) else v
            out["metadata"] = meta
        if "model" in groups:
            out.update(model=row["model"], internalModelId="", modelParameters={})
            out.update(inputPrice=None, outputPrice=None, totalPrice=None)
        if "usage" in groups:
            usage = dict(row["usageDetails"])
            out.update(usageDetails=usage, costDetails={}, totalCost=0.0, usagePricingTierName="")
        if "prompt" in groups:
            out.update(promptId="", promptName="", promptVersion=None)
        if "trace_context" in groups:
            out.update(tags=list(row["tags"]), release=row["release"], traceName=row["traceName"])
        return out

    # ------------------------------------------------------------------ filters

    @staticmethod
    def _parse_filter(text: str | None, columns: dict[str, set[str]]) -> list[dict[str, Any]]:
        if not text:
            return []
        try:
            conditions = json.loads(text)
        except json.JSONDecodeError:
            raise _bad("Invalid request data: filter must be a JSON array") from None
        if not isinstance(conditions, list):
            raise _bad("Invalid request data: filter must be a JSON array")
        for c in conditions:
            if not isinstance(c, dict) or not {"type", "column", "operator"} <= c.keys():
                raise _bad("Invalid request data: each filter needs type, column and operator")
            ftype, column, op = c["type"], c["column"], c["operator"]
            if ftype not in _FILTER_OPERATORS:
                raise _bad(f"Invalid filter type: {ftype}")
            if op not in _FILTER_OPERATORS[ftype]:
                raise _bad(f"Invalid operator {op!r} for filter type {ftype}")
            if column not in columns:
                raise _bad(f"Invalid filter column: {column}")
            if ftype not in columns[column]:
                raise _bad(f"Filter type {ftype} is not supported on column {column}")
            if ftype in ("stringObject", "numberObject", "categoryOptions") and column == "metadata":
                if not isinstance(c.get("key"), str):
                    raise _bad("Invalid request data: metadata filters need a key")
            if ftype != "null" and "value" not in c:
                raise _bad("Invalid request data: filter value is required")
            value = c.get("value")
            if ftype in ("stringOptions", "categoryOptions", "arrayOptions"):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise _bad(f"Invalid request data: {ftype} value must be a list of strings")
            elif ftype in ("string", "stringObject") and not isinstance(value, str):
                raise _bad(f"Invalid request data: {ftype} value must be a string")
            elif ftype in ("number", "numberObject") and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise _bad(f"Invalid request data: {ftype} value must be a number")
            elif ftype == "boolean" and not isinstance(value, bool):
                raise _bad("Invalid request data: boolean value must be true or false")
            elif ftype == "datetime":
                c = dict(c)
                c["value"] = _parse_dt(str(value), "datetime filter")
            if column in ("input", "output") and op not in ("=", "matches"):
                raise _bad("input/output filters must use = or matches")
        return [
            {**c, "value": _parse_dt(str(c["value"]), "datetime filter")} if c["type"] == "datetime" else c
            for c in conditions
        ]

    @staticmethod
    def _cond_match(c: dict[str, Any], actual: Any) -> bool:
        ftype, op, value = c["type"], c["operator"], c.get("value")
        if ftype == "null":
            empty = actual is None
            return empty if op == "is null" else not empty
        if ftype in ("string", "stringObject"):
            if ftype == "stringObject" and actual is None:
                return op == "does not contain"
            s = actual if isinstance(actual, str) else ("" if actual is None else json.dumps(actual))
            if isinstance(actual, bool):
                s = "true" if actual else "false"
            elif isinstance(actual, int | float) and not isinstance(actual, bool):
                s = str(actual)
            # String matching is case-sensitive (§8).
            return {
                "=": s == value,
                "contains": value in s,
                "matches": value in s,
                "does not contain": value not in s,
                "starts with": s.startswith(value),
                "ends with": s.endswith(value),
            }[op]
        if ftype in ("stringOptions", "categoryOptions"):
            s = "" if actual is None else (actual if isinstance(actual, str) else json.dumps(actual))
            if isinstance(actual, bool):
                s = "true" if actual else "false"
            elif isinstance(actual, int | float):
                s = str(actual)
            hit = s in value
            if actual is None and ftype == "categoryOptions":
                return op == "none of"
            return hit if op == "any of" else not hit
        if ftype == "arrayOptions":
            have = set(actual or [])
            want = set(value)
            if op == "any of":
                return bool(have & want)
            if op == "none of":
                return not have & want
            return want <= have
        if ftype in ("number", "numberObject"):
            try:
                x = float(actual)
            except (TypeError, ValueError):
                return False
            return {"=": x == value, ">": x > value, "<": x < value, ">=": x >= value, "<=": x <= value}[op]
        if ftype == "boolean":
            return (bool(actual) == value) if op == "=" else (bool(actual) != value)
        if ftype == "datetime":
            if actual is None:
                return False
            return {">": actual > value, "<": actual < value, ">=": actual >= value, "<=": actual <= value}[
                op
            ]
        return False

    # ------------------------------------------------------------------ legacy (v3) readers

    def _page_params(self, one: dict[str, str]) -> tuple[int, int]:
        page = int(one.get("page", "1"))
        limit = int(one.get("limit", "50"))
        if page < 1 or not 1 <= limit <= 100:
            raise _bad("Invalid request data: page must be ≥ 1 and limit between 1 and 100")
        return page, limit

    @staticmethod
    def _page_meta(page: int, limit: int, total: int) -> dict[str, int]:
        return {"page": page, "limit": limit, "totalItems": total, "totalPages": math.ceil(total / limit)}

    def _v1_trace_value(self, trace: Trace, column: str, key: str | None) -> Any:
        if column == "metadata":
            return trace.metadata.get(key) if key is not None else None
        if column == "tags":
            return list(trace.tags)
        if column == "bookmarked":
            return False
        return {
            "id": trace.id,
            "name": trace.name,
            "userId": trace.user_id,
            "sessionId": trace.session_id,
            "environment": trace.environment,
            "version": trace.version,
            "release": trace.release,
            "timestamp": trace.timestamp,
        }[column]

    def _v1_traces(self, q: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[-1] for k, v in q.items()}
        page, limit = self._page_params(one)
        conditions = self._parse_filter(one.get("filter"), _V1_TRACE_COLUMNS)
        filtered = {c["column"] for c in conditions}
        groups = {g.strip() for g in (one.get("fields") or "core,io,scores,observations,metrics").split(",")}
        with self._lock:
            traces = list(self._data.traces.values())
        out = []
        for t in traces:
            ok = True
            for param, column in _V1_PARAM_COLUMN.items():
                if param not in one or column in filtered:
                    continue
                if param == "environment":
                    ok = t.environment in q["environment"]
                elif param == "tags":
                    ok = set(q["tags"]) <= set(t.tags)
                elif param == "fromTimestamp":
                    ok = t.timestamp >= _parse_dt(one[param], param)
                elif param == "toTimestamp":
                    ok = t.timestamp < _parse_dt(one[param], param)
                else:
                    ok = (self._v1_trace_value(t, column, None) or "") == one[param]
                if not ok:
                    break
            if ok and all(
                self._cond_match(c, self._v1_trace_value(t, c["column"], c.get("key"))) for c in conditions
            ):
                out.append(t)
        order = one.get("orderBy", "timestamp.desc")
        out.sort(key=lambda t: (t.timestamp, t.id), reverse=not order.endswith(".asc"))
        chunk = out[(page - 1) * limit : page * limit]
        data = []
        for t in chunk:
            item = self._v1_trace_core(t, "io" in groups)
            item["htmlPath"] = f"/project/{PROJECT_ID}/traces/{t.id}"
            item["observations"] = [o.id for o in t.observations] if "observations" in groups else []
            item["scores"] = [s.id for s in self._scores_of_trace(t.id)] if "scores" in groups else []
            item["latency"] = 0.0 if "metrics" in groups else -1
            item["totalCost"] = 0.0 if "metrics" in groups else -1
            data.append(item)
        return {"data": data, "meta": self._page_meta(page, limit, len(out))}

    @staticmethod
    def _v1_trace_core(t: Trace, io: bool = True) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": t.id,
            "timestamp": _iso(t.timestamp),
            "name": t.name,
            "sessionId": t.session_id,
            "release": t.release,
            "version": t.version,
            "userId": t.user_id,
            "tags": list(t.tags),
            "public": False,
            "environment": t.environment,
        }
        if io:
            item.update(input=t.input, output=t.output, metadata=dict(t.metadata))
        return item

    def _scores_of_trace(self, trace_id: str) -> list[StoredScore]:
        now = time.monotonic()
        with self._lock:
            return [s for s in self._data.scores.values() if s.trace_id == trace_id and s.visible_at <= now]

    def _v1_obs_out(self, o: Observation, trace: Trace) -> dict[str, Any]:
        usage = {k: int(v) for k, v in o.usage.items() if isinstance(v, int | float)}
        return {
            "id": o.id,
            "traceId": trace.id,
            "type": o.type,
            "name": o.name,
            "startTime": _iso(o.start_time),
            "endTime": _iso(o.end_time),
            "completionStartTime": None,
            "model": o.model,
            "modelParameters": {},
            "input": o.input,
            "version": None,
            "metadata": dict(o.metadata),
            "output": o.output,
            "usage": {
                "input": usage.get("input", 0),
                "output": usage.get("output", 0),
                "total": usage.get("total", 0),
                "unit": "TOKENS",
            },
            "level": o.level,
            "statusMessage": o.status_message,
            "parentObservationId": o.parent_id,
            "promptId": None,
            "usageDetails": usage,
            "costDetails": {},
            "environment": trace.environment,
            "promptName": None,
            "promptVersion": None,
            "modelId": None,
            "inputPrice": None,
            "outputPrice": None,
            "totalPrice": None,
            "calculatedInputCost": None,
            "calculatedOutputCost": None,
            "calculatedTotalCost": None,
            "latency": o.latency_ms / 1000 if o.latency_ms is not None else None,
            "timeToFirstToken": None,
        }

    def _v1_trace(self, trace_id: str) -> dict[str, Any]:
        with self._lock:
            t = self._data.traces.get(trace_id)
        if t is None:
            raise _bad(f"Trace {trace_id} not found within authorized project", 404)
        item = self._v1_trace_core(t)
        item.update(
            htmlPath=f"/project/{PROJECT_ID}/traces/{t.id}",
            latency=0.0,
            totalCost=0.0,
            observations=[self._v1_obs_out(o, t) for o in t.observations],
            scores=[self._score_v1(s) for s in self._scores_of_trace(t.id)],
        )
        return item

    def _sessions(self) -> dict[str, list[Trace]]:
        with self._lock:
            traces = list(self._data.traces.values())
        sessions: dict[str, list[Trace]] = {}
        for t in traces:
            if t.session_id:
                sessions.setdefault(t.session_id, []).append(t)
        for ts in sessions.values():
            ts.sort(key=lambda t: (t.timestamp, t.id))
        return sessions

    def _v1_sessions(self, q: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[-1] for k, v in q.items()}
        page, limit = self._page_params(one)
        out = []
        for sid, traces in self._sessions().items():
            created = traces[0].timestamp
            if "fromTimestamp" in one and created < _parse_dt(one["fromTimestamp"], "fromTimestamp"):
                continue
            if "toTimestamp" in one and created >= _parse_dt(one["toTimestamp"], "toTimestamp"):
                continue
            if "environment" in q and traces[0].environment not in q["environment"]:
                continue
            out.append(
                {
                    "id": sid,
                    "createdAt": created,
                    "projectId": PROJECT_ID,
                    "environment": traces[0].environment,
                }
            )
        out.sort(key=lambda s: (s["createdAt"], s["id"]), reverse=True)
        chunk = out[(page - 1) * limit : page * limit]
        data = [{**s, "createdAt": _iso(s["createdAt"])} for s in chunk]
        return {"data": data, "meta": self._page_meta(page, limit, len(out))}

    def _v1_session(self, session_id: str) -> dict[str, Any]:
        traces = self._sessions().get(session_id)
        if not traces:
            raise _bad("Session not found within authorized project", 404)
        return {
            "id": session_id,
            "createdAt": _iso(traces[0].timestamp),
            "projectId": PROJECT_ID,
            "environment": traces[0].environment,
            "traces": [self._v1_trace_core(t) for t in traces],
        }

    def _v1_observations(self, q: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[-1] for k, v in q.items()}
        page, limit = self._page_params(one)
        with self._lock:
            pairs = [(o, t) for t in self._data.traces.values() for o in t.observations]
        out = []
        for o, t in pairs:
            if "name" in one and o.name != one["name"]:
                continue
            if "type" in one and o.type != one["type"]:
                continue
            if "traceId" in one and t.id != one["traceId"]:
                continue
            if "userId" in one and t.user_id != one["userId"]:
                continue
            if "level" in one and o.level != one["level"]:
                continue
            if "environment" in q and t.environment not in q["environment"]:
                continue
            if "fromStartTime" in one and o.start_time < _parse_dt(one["fromStartTime"], "fromStartTime"):
                continue
            if "toStartTime" in one and o.start_time >= _parse_dt(one["toStartTime"], "toStartTime"):
                continue
            out.append((o, t))
        out.sort(key=lambda p: (p[0].start_time, p[0].id), reverse=True)
        chunk = out[(page - 1) * limit : page * limit]
        return {
            "data": [self._v1_obs_out(o, t) for o, t in chunk],
            "meta": self._page_meta(page, limit, len(out)),
        }

    def _v1_observation(self, observation_id: str) -> dict[str, Any]:
        with self._lock:
            for t in self._data.traces.values():
                for o in t.observations:
                    if o.id == observation_id:
                        return self._v1_obs_out(o, t)
        raise _bad(f"Observation {observation_id} not found within authorized project", 404)

    # ------------------------------------------------------------------ score configs

    def _config_out(self, c: dict[str, Any]) -> dict[str, Any]:
        out = {**c, "createdAt": _iso(c["createdAt"]), "updatedAt": _iso(c["updatedAt"])}
        return {k: v for k, v in out.items() if v is not None or k in ("description",)}

    def _get_config(self, config_id: str) -> dict[str, Any]:
        with self._lock:
            c = self._data.configs.get(config_id)
        if c is None:
            raise _bad("Score config not found within authorized project", 404)
        return c

    def _list_configs(self, q: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[-1] for k, v in q.items()}
        page, limit = self._page_params(one)
        with self._lock:
            configs = sorted(
                self._data.configs.values(), key=lambda c: (c["createdAt"], c["id"]), reverse=True
            )
        chunk = configs[(page - 1) * limit : page * limit]
        return {
            "data": [self._config_out(c) for c in chunk],
            "meta": self._page_meta(page, limit, len(configs)),
        }

    @staticmethod
    def _validate_config(c: dict[str, Any]) -> None:
        from hitl_pipeline.model.score_rules import config_name_problem

        name = c.get("name")
        if not isinstance(name, str) or config_name_problem(name):
            raise _bad("Invalid request data", error=[{"path": ["name"], "message": "Invalid config name"}])
        dt = c.get("dataType")
        if dt not in ("NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT"):
            raise _bad("Invalid request data", error=[{"path": ["dataType"], "message": "Invalid data type"}])
        cats = c.get("categories")
        lo, hi = c.get("minValue"), c.get("maxValue")
        if dt == "NUMERIC":
            if cats:
                raise _bad("Invalid request data: categories are only allowed for categorical configs")
            if lo is not None and hi is not None and not hi > lo:
                raise _bad("Invalid request data: maxValue must be greater than minValue")
        elif dt == "CATEGORICAL":
            if not cats:
                raise _bad("Invalid request data: categorical configs need categories")
            labels = [x.get("label") for x in cats]
            values = [x.get("value") for x in cats]
            if any(not isinstance(lb, str) or not lb for lb in labels) or len(set(labels)) != len(labels):
                raise _bad("Invalid request data: category labels must be unique non-empty strings")
            if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values) or len(
                set(values)
            ) != len(values):
                raise _bad("Invalid request data: category values must be unique numbers")
            if lo is not None or hi is not None:
                raise _bad("Invalid request data: minValue/maxValue are only allowed for numeric configs")
        elif dt == "BOOLEAN":
            if cats and cats != [{"label": "True", "value": 1}, {"label": "False", "value": 0}]:
                raise _bad("Invalid request data: boolean configs cannot take custom categories")
        elif dt == "TEXT":
            if cats or lo is not None or hi is not None:
                raise _bad("Invalid request data: text configs take no categories and no min/max")

    def _create_config(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _bad("Invalid request data")
        self._validate_config(body)
        now = datetime.now(UTC)
        dt = body["dataType"]
        cfg = {
            "id": str(uuid.uuid4()),
            "name": body["name"],
            "createdAt": now,
            "updatedAt": now,
            "projectId": PROJECT_ID,
            "dataType": dt,
            "isArchived": False,
            "minValue": body.get("minValue") if dt == "NUMERIC" else None,
            "maxValue": body.get("maxValue") if dt == "NUMERIC" else None,
            "categories": [{"label": "True", "value": 1}, {"label": "False", "value": 0}]
            if dt == "BOOLEAN"
            else (body.get("categories") if dt == "CATEGORICAL" else None),
            "description": body.get("description"),
        }
        with self._lock:
            self._data.configs[cfg["id"]] = cfg
        return self._config_out(cfg)

    def _patch_config(self, config_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body:
            raise _bad("Invalid request data: empty update")
        allowed = {"isArchived", "name", "minValue", "maxValue", "categories", "description"}
        cfg = self._get_config(config_id)
        merged = {**cfg, **{k: v for k, v in body.items() if k in allowed}}
        self._validate_config(merged)
        merged["updatedAt"] = datetime.now(UTC)
        with self._lock:
            self._data.configs[config_id] = merged
        return self._config_out(merged)

    # ------------------------------------------------------------------ scores: write

    def _post_scores(self, body: Any) -> tuple[int, Any]:
        accepts_array = self.mode == "v4" and _version_tuple(self.version) >= ARRAY_MIN_VERSION
        if self.accept_arrays is not None:
            accepts_array = self.accept_arrays
        if isinstance(body, list):
            if not accepts_array:
                raise _HttpError(
                    400,
                    {
                        "message": "Invalid request data",
                        "error": [
                            {
                                "code": "invalid_type",
                                "expected": "object",
                                "received": "array",
                                "path": [],
                                "message": "expected object, received array",
                            }
                        ],
                    },
                )
            errors = []
            accepted = 0
            for index, item in enumerate(body):
                problem = self._zod_problem(item) or self._rejected(item)
                if problem:
                    entry: dict[str, Any] = {"message": problem}
                    if self.errors_with_index:
                        entry["index"] = index
                        if isinstance(item, dict) and item.get("id"):
                            entry["id"] = item["id"]
                    errors.append(entry)
                    continue
                self._ingest(item)
                accepted += 1
            if errors:
                return 207, {"accepted": accepted, "rejected": len(errors), "errors": errors}
            return 202, {"message": "Accepted"}
        problem = self._zod_problem(body) or self._rejected(body)
        if problem:
            raise _HttpError(400, {"message": "Invalid request data", "error": [{"message": problem}]})
        score_id = self._ingest(body)
        return 200, {"id": score_id}

    def _rejected(self, b: Any) -> str | None:
        return self.reject_ids.get(b.get("id") or "") if isinstance(b, dict) else None

    @staticmethod
    def _zod_problem(b: Any) -> str | None:
        """The synchronous (schema) checks of POST /scores (§2.5)."""
        if not isinstance(b, dict):
            return "expected object"
        if not isinstance(b.get("name"), str) or not b["name"]:
            return "name: must be a non-empty string"
        value = b.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return "value: expected number or string"
        targets = [k for k in ("traceId", "sessionId", "datasetRunId") if b.get(k)]
        if len(targets) != 1:
            return "exactly one of traceId, sessionId or datasetRunId must be provided"
        if b.get("observationId") and not b.get("traceId"):
            return "observationId requires traceId"
        dt = b.get("dataType")
        if dt is not None and dt not in ("NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"):
            return f"dataType: invalid enum value {dt!r}"
        if dt in ("NUMERIC", "BOOLEAN") and not isinstance(value, int | float):
            return f"value: a {dt} score needs a number"
        if dt in ("CATEGORICAL", "TEXT", "CORRECTION") and not isinstance(value, str):
            return f"value: a {dt} score needs a string"
        if dt == "BOOLEAN" and value not in (0, 1):
            return "Value must be either 0 or 1"
        if dt in ("TEXT", "CORRECTION") and not 1 <= len(value) <= 500:
            return "value: text must be 1–500 characters"
        if dt == "CORRECTION" and b.get("configId"):
            return "a CORRECTION score cannot have a configId"
        source = b.get("source", "API")
        if source not in ("API", "ANNOTATION"):
            return f"source: invalid enum value {source!r}"
        if source == "ANNOTATION" and not b.get("configId") and dt != "CORRECTION":
            return "configId is required when source is ANNOTATION (unless dataType is CORRECTION)"
        return None

    def _config_problem(self, b: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """The worker's checks against the config (§3). Returns (reason to drop, inflated body)."""
        body = dict(b)
        if body.get("dataType") == "CORRECTION":
            # The server's inflateScoreBody files every correction under "output", whatever the
            # request's name (the name its corrected-output view reads).
            body["name"] = CORRECTION_NAME
        cfg_id = body.get("configId")
        value = body["value"]
        if not cfg_id:
            if body.get("dataType") is None:
                body["dataType"] = "NUMERIC" if isinstance(value, int | float) else "CATEGORICAL"
            return None, body
        with self._lock:
            cfg = self._data.configs.get(cfg_id)
        if cfg is None:
            return "The configId you provided does not match a valid config in this project", body
        body["name"] = cfg["name"]  # the config's name wins
        dt = body.get("dataType")
        if dt is not None and dt != cfg["dataType"]:
            return f"Data type mismatch based on config: expected {cfg['dataType']}, got {dt}", body
        body["dataType"] = dt = cfg["dataType"]
        if cfg["isArchived"]:
            return (
                "Config is archived and cannot be used to create new scores. Please restore the config first.",
                body,
            )
        if dt == "NUMERIC":
            if not isinstance(value, int | float):
                return "Value must be a number", body
            if cfg.get("maxValue") is not None and value > cfg["maxValue"]:
                return f"Value exceeds maximum value of {cfg['maxValue']} defined in config", body
            if cfg.get("minValue") is not None and value < cfg["minValue"]:
                return f"Value is below minimum value of {cfg['minValue']} defined in config", body
        elif dt == "CATEGORICAL":
            cats = cfg.get("categories") or []
            if not any(c["label"] == value for c in cats):
                return f"Value {value} does not map to a valid category. Pass a valid category value.", body
        elif dt == "BOOLEAN":
            if value not in (0, 1) or isinstance(value, str):
                return "Value must be either 0 or 1", body
        elif dt == "TEXT":
            if not isinstance(value, str) or not 1 <= len(value) <= 500:
                return "Text value must be 1–500 characters", body
        return None, body

    def _ingest(self, b: dict[str, Any]) -> str:
        """Accept one schema-valid score: validate it against its config "later" (drop silently) and
        store it with the upsert/merge rules of §8."""
        score_id = b.get("id") or str(uuid.uuid4())
        with self._lock:
            self.received.append(dict(b))
        reason, body = self._config_problem(b)
        if reason is not None:
            with self._lock:
                self.dropped.append((dict(b), reason))
            return score_id
        dt = body["dataType"]
        value = body["value"]
        string_value: str | None = None
        num = 0.0
        if dt == "CATEGORICAL":
            string_value = str(value)
            cfg = self._data.configs.get(body.get("configId") or "")
            if cfg is not None:
                num = float(next(c["value"] for c in cfg["categories"] if c["label"] == value))
        elif dt == "BOOLEAN":
            num = float(value)
            string_value = "True" if num == 1 else "False"
        elif dt in ("TEXT", "CORRECTION"):
            string_value = str(value)
        else:
            num = float(value)
        now = datetime.now(UTC)
        with self._lock:
            earlier = [s for (sid, _), s in self._data.scores.items() if sid == score_id]
            first = min(earlier, key=lambda s: s.created_at) if earlier else None
            same = self._data.scores.get((score_id, body["name"]))
            row = StoredScore(
                id=score_id,
                name=body["name"],
                value=num,
                string_value=string_value,
                data_type=dt,
                source=body.get("source") or "API",
                # The body's timestamp is ignored: first request time wins (§8).
                timestamp=first.timestamp if first else now,
                created_at=first.created_at if first else now,
                updated_at=now,
                environment=first.environment if first else (body.get("environment") or "default"),
                trace_id=first.trace_id if first else body.get("traceId"),
                observation_id=body.get("observationId"),
                session_id=body.get("sessionId"),
                dataset_run_id=body.get("datasetRunId"),
                comment=body["comment"] if "comment" in body else (same.comment if same else None),
                metadata=body["metadata"] if "metadata" in body else (same.metadata if same else None),
                config_id=body.get("configId"),
                queue_id=body.get("queueId"),
                visible_at=time.monotonic() + self.visibility_lag_ms / 1000,
            )
            self._data.scores[(score_id, row.name)] = row
        return score_id

    def _delete_score(self, score_id: str) -> tuple[int, Any]:
        """``DELETE /scores/{id}``: every row under the id goes (204); an unknown id is a 404."""
        with self._lock:
            keys = [k for k in self._data.scores if k[0] == score_id]
            for k in keys:
                del self._data.scores[k]
        if not keys:
            raise _bad(f"Score {score_id} not found", 404)
        return 204, None

    # ------------------------------------------------------------------ scores: read

    @staticmethod
    def _score_value_v3(s: StoredScore) -> Any:
        if s.data_type == "NUMERIC":
            return s.value
        if s.data_type == "BOOLEAN":
            return s.value == 1
        return s.string_value if s.string_value is not None else ""

    def _score_v3(self, s: StoredScore, groups: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": s.id,
            "projectId": PROJECT_ID,
            "name": s.name,
            "value": self._score_value_v3(s),
            "dataType": s.data_type,
            "source": s.source,
            "timestamp": _iso(s.timestamp),
            "environment": s.environment,
            "createdAt": _iso(s.created_at),
            "updatedAt": _iso(s.updated_at),
        }
        if "details" in groups:
            out.update(comment=s.comment, configId=s.config_id, metadata=s.metadata)
        if "annotation" in groups:
            out.update(authorUserId=None, queueId=s.queue_id)
        if "subject" in groups:
            if s.observation_id:
                out["subject"] = {"kind": "observation", "id": s.observation_id, "traceId": s.trace_id}
            elif s.trace_id:
                out["subject"] = {"kind": "trace", "id": s.trace_id}
            elif s.session_id:
                out["subject"] = {"kind": "session", "id": s.session_id}
            else:
                out["subject"] = {"kind": "experiment", "id": s.dataset_run_id or ""}
        return out

    def _score_v1(self, s: StoredScore) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": s.id,
            "traceId": s.trace_id,
            "name": s.name,
            "source": s.source,
            "observationId": s.observation_id,
            "timestamp": _iso(s.timestamp),
            "createdAt": _iso(s.created_at),
            "updatedAt": _iso(s.updated_at),
            "authorUserId": None,
            "comment": s.comment,
            "metadata": s.metadata,
            "configId": s.config_id,
            "queueId": s.queue_id,
            "environment": s.environment,
            "dataType": s.data_type,
            "value": s.value,
        }
        if s.data_type in ("CATEGORICAL", "BOOLEAN", "TEXT", "CORRECTION"):
            out["stringValue"] = s.string_value or ""
        if s.data_type == "TEXT":
            out.pop("value")
        return out

    def _v2_scores(self, q: dict[str, list[str]]) -> dict[str, Any]:
        """The deprecated page-based reader (v3 servers): single-valued filters, ``scoreIds``."""
        one = {k: v[-1] for k, v in q.items()}
        page, limit = self._page_params(one)
        ids = set(one["scoreIds"].split(",")) if one.get("scoreIds") else None
        now = time.monotonic()
        with self._lock:
            rows = [s for s in self._data.scores.values() if s.visible_at <= now]
        ops = {
            "<": float.__lt__,
            "<=": float.__le__,
            ">": float.__gt__,
            ">=": float.__ge__,
            "=": float.__eq__,
        }

        def keep(s: StoredScore) -> bool:
            for param, actual in (
                ("name", s.name),
                ("traceId", s.trace_id),
                ("sessionId", s.session_id),
                ("observationId", s.observation_id),
                ("configId", s.config_id),
                ("queueId", s.queue_id),
                ("dataType", s.data_type),
                ("source", s.source),
            ):
                if param in one and actual != one[param]:
                    return False
            if ids is not None and s.id not in ids:
                return False
            if "fromTimestamp" in one and s.timestamp < _parse_dt(one["fromTimestamp"], "fromTimestamp"):
                return False
            if "toTimestamp" in one and s.timestamp >= _parse_dt(one["toTimestamp"], "toTimestamp"):
                return False
            if "operator" in one and "value" in one:
                return bool(ops[one["operator"]](s.value, float(one["value"])))
            return True

        out = sorted((s for s in rows if keep(s)), key=lambda s: (s.timestamp, s.id, s.name), reverse=True)
        chunk = out[(page - 1) * limit : page * limit]
        data = []
        for s in chunk:
            d = self._score_v1(s)
            d.update(sessionId=s.session_id, datasetRunId=s.dataset_run_id)
            data.append(d)
        return {"data": data, "meta": self._page_meta(page, limit, len(out))}

    def _v3_scores(self, q: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[-1] for k, v in q.items()}

        def csv(name: str) -> list[str] | None:
            return [x for x in one[name].split(",") if x] if one.get(name) else None

        limit = int(one.get("limit", "50"))
        if not 1 <= limit <= 100:
            raise _bad("Invalid request data: limit must be between 1 and 100")
        groups = set(csv("fields") or [])
        unknown = groups - {"details", "subject", "annotation"}
        if unknown:
            raise _bad(f"Invalid request data: unknown field group(s) {sorted(unknown)}")
        dtypes = [d.upper() for d in csv("dataType") or []]
        if ("value" in one or "valueMin" in one or "valueMax" in one) and len(dtypes) != 1:
            raise _bad("Invalid request data: value filters need exactly one dataType")
        if "value" in one and dtypes[0] not in ("NUMERIC", "BOOLEAN", "CATEGORICAL"):
            raise _bad("Invalid request data: value needs dataType NUMERIC, BOOLEAN or CATEGORICAL")
        if ("valueMin" in one or "valueMax" in one) and dtypes[0] != "NUMERIC":
            raise _bad("Invalid request data: valueMin/valueMax need dataType NUMERIC")
        scopes = [k for k in ("traceId", "sessionId", "experimentId") if k in one]
        if len(scopes) > 1:
            raise _bad("Invalid request data: traceId, sessionId and experimentId are mutually exclusive")
        if "observationId" in one and "traceId" not in one:
            raise _bad("Invalid request data: observationId requires traceId")
        for forbidden in ("userId", "traceTags"):
            if forbidden in one:
                raise _bad(f"Invalid request data: {forbidden} is not supported")
        values = csv("value")
        if values and dtypes[0] == "BOOLEAN" and any(v not in ("true", "false") for v in values):
            raise _bad('Invalid request data: BOOLEAN values must be "true" or "false"')
        if values and dtypes[0] == "NUMERIC":
            try:
                [float(v) for v in values]
            except ValueError:
                raise _bad("Invalid request data: NUMERIC values must be numbers") from None
        now = time.monotonic()
        with self._lock:
            rows = [s for s in self._data.scores.values() if s.visible_at <= now]
        ids = csv("id")
        if ids:
            # Reads by id show the newest row of each id (§8).
            newest: dict[str, StoredScore] = {}
            for s in rows:
                if s.id in ids and (s.id not in newest or s.updated_at > newest[s.id].updated_at):
                    newest[s.id] = s
            rows = list(newest.values())

        wanted_sets = {
            p: set(w)
            for p in (
                "name",
                "environment",
                "configId",
                "queueId",
                "traceId",
                "sessionId",
                "observationId",
                "experimentId",
            )
            if (w := csv(p)) is not None
        }
        attr = {
            "name": "name",
            "environment": "environment",
            "configId": "config_id",
            "queueId": "queue_id",
            "traceId": "trace_id",
            "sessionId": "session_id",
            "observationId": "observation_id",
            "experimentId": "dataset_run_id",
        }

        def keep(s: StoredScore) -> bool:
            for param, wanted in wanted_sets.items():
                if getattr(s, attr[param]) not in wanted:
                    return False
            sources = csv("source")
            if sources is not None and s.source not in [x.upper() for x in sources]:
                return False
            if dtypes and s.data_type not in dtypes:
                return False
            if "authorUserId" in one:
                return False
            if values is not None:
                dt = dtypes[0]
                if dt == "NUMERIC" and s.value not in [float(v) for v in values]:
                    return False
                if dt == "BOOLEAN" and ("true" if s.value == 1 else "false") not in values:
                    return False
                if dt == "CATEGORICAL" and s.string_value not in values:
                    return False
            if "valueMin" in one and s.value < float(one["valueMin"]):
                return False
            if "valueMax" in one and s.value > float(one["valueMax"]):
                return False
            if "fromTimestamp" in one and s.timestamp < _parse_dt(one["fromTimestamp"], "fromTimestamp"):
                return False
            if "toTimestamp" in one and s.timestamp >= _parse_dt(one["toTimestamp"], "toTimestamp"):
                return False
            return True

        out = sorted((s for s in rows if keep(s)), key=lambda s: (s.timestamp, s.id, s.name), reverse=True)
        offset = _decode_cursor(one["cursor"]) if one.get("cursor") else 0
        page = out[offset : offset + limit]
        meta: dict[str, Any] = {"limit": limit}
        if offset + limit < len(out):
            meta["cursor"] = _encode_cursor(offset + limit)
        return {"data": [self._score_v3(s, groups) for s in page], "meta": meta}


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return _iso(o)
    raise TypeError(f"not JSON serializable: {type(o)}")


def _make_handler(fake: LangfuseFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real server behind a proxy
        # Headers and body are written separately: without this, Nagle + delayed ACK add ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
            return

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if status == 204 else json.dumps(body, default=_json_default).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _send_text(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _drop(self) -> None:
            # Close the socket without answering: the client sees a transport error.
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(2)
            except OSError:
                pass

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            route = path.rstrip("/")
            if route.startswith("/__fake/"):
                # Test-only controls (not counted, no auth), for a fake running in another process.
                if route == "/__fake/counters":
                    with fake._lock:
                        self._send(200, {"counters": dict(fake.counters), "total": fake.total_requests})
                elif route == "/__fake/reset":
                    fake.reset_counters()
                    with fake._lock:
                        fake.requests.clear()
                    self._send(200, {"ok": True})
                elif route == "/__fake/requests":
                    # Every request since the last reset: [method, path, {query key: values}].
                    with fake._lock:
                        log = [[m, p, q] for m, p, q in fake.requests]
                        limited = fake.rate_limited
                    self._send(200, {"requests": log, "rate_limited": limited})
                elif route == "/__fake/ratelimit":
                    spec = json.loads(raw or b"{}")  # {"limit": 30, "period": 60}
                    fake.set_rate_limit(spec.get("limit"), float(spec.get("period", 60.0)))
                    self._send(200, {"ok": True})
                elif route == "/__fake/latency":
                    fake.latency_ms = float(json.loads(raw or b"0"))
                    self._send(200, {"ok": True})
                elif route == "/__fake/faults":
                    # {"fraction": 0.3, "kinds": [500, 503, 429, "drop"], "routes": ["/api/public/scores"]}
                    spec = json.loads(raw or b"{}")
                    fake.set_fault_fraction(
                        float(spec.get("fraction", 0)),
                        spec.get("kinds", (500, 503, 429, "drop")),
                        routes=spec.get("routes", ()),
                        retry_after=float(spec.get("retry_after", 1.0)),
                    )
                    self._send(200, {"ok": True})
                elif route == "/__fake/scores":
                    rows = [
                        {
                            "id": r.id,
                            "name": r.name,
                            "value": r.value,
                            "stringValue": r.string_value,
                            "dataType": r.data_type,
                            "source": r.source,
                            "traceId": r.trace_id,
                            "observationId": r.observation_id,
                            "sessionId": r.session_id,
                            "configId": r.config_id,
                            "metadata": r.metadata,
                            "timestamp": r.timestamp,
                            "updatedAt": r.updated_at,
                        }
                        for r in fake.stored_scores()
                    ]
                    with fake._lock:
                        received = len(fake.received)
                        dropped = [{"body": b, "reason": why} for b, why in fake.dropped]
                    self._send(200, {"scores": rows, "received": received, "dropped": dropped})
                else:
                    self._send(404, {"message": "unknown fake control"})
                return
            if route.startswith("/api/public/score-configs/"):
                route = "/api/public/score-configs/{id}"
            elif route.startswith("/api/public/scores/"):
                route = "/api/public/scores/{id}"
            elif route.count("/") >= 4 and route.split("/")[3] in ("traces", "sessions", "observations"):
                route = "/".join(route.split("/")[:4]) + "/{id}"
            with fake._lock:
                fake.counters[f"{method} {route}"] += 1
                fake.requests.append((method, path, parse_qs(parts.query, keep_blank_values=True)))
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                self._serve(method, path, route, parts, raw)
            finally:
                with fake._lock:
                    fake.in_flight -= 1

        def _serve(self, method: str, path: str, route: str, parts: Any, raw: bytes) -> None:
            if fake.latency_ms:
                time.sleep(fake.latency_ms / 1000)
            if route == "/api/public/health" and not fake._health_fault_queued():
                self._send(200, {"status": "OK", "version": fake.version})
                return
            wait = fake._over_rate()
            if wait is not None:
                headers = {"Retry-After": str(max(1, int(wait + 0.999))) if wait >= 1 else f"{wait:.3f}"}
                if fake.rate_limit_header:
                    headers.update({"X-RateLimit-Limit": str(fake.rate_limit), "X-RateLimit-Remaining": "0"})
                self._send(429, {"message": "Rate limit exceeded"}, headers)
                return
            fault = fake._pick_fault(path)
            if fault is not None and fault.kind == "drop":
                self._drop()
                return
            if fault is not None and fault.kind == "echo_auth":
                # A misconfigured proxy or server quoting the request's headers in its error body.
                auth_header = self.headers.get("Authorization") or ""
                self._send(502, {"message": f"upstream failed for request with Authorization: {auth_header}"})
                return
            if fault is not None and fault.kind == "not_json":
                self._send_text(200, "<html><body>Please sign in</body></html>")
                return
            if fault is not None and fault.kind == "wrong_shape":
                self._send(200, ["not", "what", "this", "endpoint", "returns"])
                return
            if fault is not None and fault.kind in ("500", "503", "429", "403", "401"):
                headers = {}
                if fault.kind == "429":
                    ra = fault.retry_after if fault.retry_after is not None else fake._retry_after
                    headers = {
                        "Retry-After": f"{ra:g}",
                        "X-RateLimit-Limit": "1000",
                        "X-RateLimit-Remaining": "0",
                    }
                message = {
                    "500": "Internal Server Error",
                    "503": "Service Unavailable",
                    "429": "Rate limit exceeded",
                    "403": "Ingestion suspended: Usage threshold exceeded. Please upgrade your plan.",
                    "401": "Unauthorized",
                }
                self._send(int(fault.kind), {"message": message[fault.kind]}, headers)
                return
            auth = self.headers.get("Authorization") or ""
            secret = None
            if auth.startswith("Basic "):
                try:
                    decoded = base64.b64decode(auth[6:]).decode()
                    secret = decoded.split(":", 1)[1]
                except Exception:
                    secret = None
            # The server looks keys up by the secret key alone (§7).
            if secret != fake.secret_key:
                self._send(
                    401, {"message": "Invalid credentials. Confirm that you've configured the correct host."}
                )
                return
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                self._send(400, {"message": "Invalid JSON body"})
                return
            try:
                status, out = fake.handle(method, path, parse_qs(parts.query, keep_blank_values=True), body)
            except _HttpError as err:
                status, out = err.status, err.body
                if fault is not None and fault.kind == "drop_after":
                    self._drop()
                    return
                self._send(status, out, err.headers)
                return
            if fault is not None and fault.kind == "drop_after":
                self._drop()
                return
            self._send(status, out)

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

    return Handler


def main() -> None:
    """Serve a fake in this process: ``python -m tests.support.langfuse_fake --traces 1000``.

    Prints one JSON line ``{"url", "public_key", "secret_key"}`` and serves until stdin closes (or
    the process is killed). Controls (no auth, not counted): ``GET /__fake/counters``,
    ``GET /__fake/requests`` (every request since the reset), ``POST /__fake/ratelimit``
    (``{"limit", "period"}``), ``POST /__fake/reset``, ``POST /__fake/latency`` (ms), ``POST /__fake/faults``
    (``{"fraction", "kinds", "routes", "retry_after"}``), ``GET /__fake/scores`` (every stored row,
    one per ``(id, name)``, plus how many bodies were received and which were dropped).
    """
    import argparse
    import sys

    from hitl_pipeline.sources.demo import generate_demo

    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="v4")
    parser.add_argument("--version", default=None)
    parser.add_argument("--traces", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-fraction", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute (429 beyond)")
    args = parser.parse_args()
    fake = LangfuseFake(mode=args.mode, version=args.version, seed=args.seed)
    if args.rate_limit:
        fake.set_rate_limit(args.rate_limit)
    fake.load_demo(generate_demo(seed=args.seed, traces=args.traces))
    fake.latency_ms = args.latency_ms
    if args.fault_fraction:
        fake.set_fault_fraction(args.fault_fraction, routes=("/api/public/scores",))
    fake.start()
    print(
        json.dumps({"url": fake.url, "public_key": fake.public_key, "secret_key": fake.secret_key}),
        flush=True,
    )
    try:
        sys.stdin.read()
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
