"""The Langfuse backend: reads traces, observations and sessions, writes scores, through SDK 5.

Every request goes through one ``langfuse.api.LangfuseAPI`` client (built directly, not through
``Langfuse(...)``, which shares one client per public key, so several servers can be used in one
process): its auth, base URL and HTTP connection pool. The typed methods serve the probe (health,
v2 observations, ``/v3/scores``) and score configs. The bulk paths — listing and fetching
observation rows, reading scores, posting score arrays — send the same requests through the same
client but skip the SDK's typed models: their generic conversion costs ~5 ms per observation row
and ~1 ms per score (measured with cProfile; seconds per page of 1,000 rows). What SDK 5 lacks
altogether (the legacy ``/traces``, ``/sessions`` and v1 ``/observations`` readers of self-hosted
v3 servers; the single-object ``POST /scores`` of servers before 4.59) uses that client too.

**Capability probe** (once per source, cached; :meth:`LangfuseSource.probe`): server version from
``/health``; credentials (``/score-configs``); whether the v2 observations reader exists (v4 servers,
Cloud) or only the legacy readers (v3 servers); whether ``/v3/scores`` exists; and which body
``POST /scores`` takes (a JSON array from 4.59 on, a single object before — confirmed on the first
write by the server's "expected object, received array" answer).

**Reads on v4** (reference §1.3, §6.3–6.5): a trace is its *root observation* (``isRootObservation``);
every spec filter goes into the v2 ``filter`` JSON (conditions on the same field would replace the
simple query parameters, so *all* conditions live in ``filter``); the time window is always bounded;
cursor pages of 1,000 rows; only the field groups needed (no ``io`` while listing). Items are fetched
in batches (:meth:`LangfuseSource.get_items`): one request per 100 traces for the rows and one
``/v3/scores`` page per 100 subjects for the existing scores, up to 4 requests in flight. The root observation carries the trace (name, I/O,
metadata); it is not listed among the trace's observations, and its direct children become
top-level observations, which matches the legacy (v3) and local shapes.

Filters the v2 reader cannot express and that are therefore checked on the returned rows:
``release`` (not a v2 filter column; read from the ``trace_context`` group), the exact type of
metadata values (the server compares strings; ``"1"`` vs ``1`` is re-checked on the row), and for
observation targets the trace-level ``metadata``/``version``/``release`` (an observation row has its
own metadata and version): those come from a second, filtered listing of the root observations.

**Reads on v3 servers (legacy)**: ``/traces`` with its ``filter`` JSON (every trace filter is pushed),
page size 100; sessions from ``/traces`` grouped by ``sessionId`` (their first turn from a second
``/traces`` listing by session id); items from ``/traces/{id}``, ``/observations/{id}`` and
``/sessions/{id}``, one request per item (v1 has no batch read); observation targets from v1 ``/observations`` (``type``/``name`` pushed when there is one value,
checked on the rows otherwise) joined with the filtered ``/traces`` listing for the trace filters.

**Score thresholds** read ``/v3/scores`` by name (numeric ranges pushed as ``valueMin``/``valueMax``),
and keep the candidates whose subject has a satisfying score. v3 servers before 3.179 have no
``/v3/scores``: every score read then uses the deprecated page-based ``/v2/scores``.

**Writes** (:meth:`LangfuseSource.write_scores`) are synchronous with the SDK's own retries turned
off: the campaign outbox retries, and two retry layers hide failures.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar
from urllib.parse import quote

import httpx
from langfuse.api import LangfuseAPI
from langfuse.api.core.api_error import ApiError

from hitl_pipeline.errors import AuthError, ConfigError, SourceError
from hitl_pipeline.model import (
    Item,
    ItemRef,
    Observation,
    Score,
    ScoreConfig,
    ScoreWrite,
    Session,
    Target,
    Trace,
    WriteResult,
)
from hitl_pipeline.model.score_rules import check_score, score_config_problems
from hitl_pipeline.spec.model import Filters, ScoreThreshold

if TYPE_CHECKING:
    from hitl_pipeline.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Rows per page of the v2 observations reader (the server maximum).
V2_PAGE = 1000
#: Rows per page of ``/v3/scores`` and the legacy readers (server maximum).
V1_PAGE = 100
#: Ids per request when fetching items or scores by id (keeps URLs well under common limits).
ID_CHUNK = 100
#: Scores per ``POST /scores`` array (the body limit is 1 MB; annotation scores are small).
WRITE_CHUNK = 100
#: First server version that takes a JSON array on ``POST /scores``.
ARRAY_SCORES_SINCE = (4, 59, 0)
#: How far before the window a trace may start for an observation in the window (observation
#: targets join their traces), and how far before a session's first matching trace its first turn
#: may lie. Traces and sessions longer than this are treated as starting at the window edge.
TRACE_LOOKBACK = timedelta(days=1)
SESSION_LOOKBACK = timedelta(days=7)
#: A trace's observations are read in ``[timestamp - 1 day, timestamp + 7 days)``.
ITEM_BEFORE = timedelta(days=1)
ITEM_AFTER = timedelta(days=7)
#: Requests in flight at once while fetching items (rows and scores chunks overlap).
FETCH_WORKERS = 4
#: Items fetched ahead are kept (and handed out once) up to this many.
PREFETCH_CACHE = 2048

_TRACE_FIELDS = "core,basic,trace_context"
_FULL_FIELDS = "core,basic,io,metadata,model,usage,trace_context"
_SCORE_FIELDS = "details,subject"
_NO_RETRY: dict[str, Any] = {"max_retries": 0}
#: snake_case keyword → query parameter of /v3/scores.
_CAMEL = {
    "data_type": "dataType",
    "value_min": "valueMin",
    "value_max": "valueMax",
    "trace_id": "traceId",
    "session_id": "sessionId",
    "observation_id": "observationId",
    "from_timestamp": "fromTimestamp",
    "to_timestamp": "toTimestamp",
    "config_id": "configId",
}


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


@dataclass
class _TraceInfo:
    """What listing needs to know about a trace (from a root observation or a legacy trace)."""

    id: str
    name: str
    timestamp: datetime
    user_id: str | None
    session_id: str | None
    tags: tuple[str, ...]
    environment: str
    release: str | None
    version: str | None
    metadata: dict[str, Any] | None


def _none_if_empty(value: str | None) -> str | None:
    # v2 rows give "" for missing text fields (§8).
    return value if value else None


def parse_io(value: Any) -> Any:
    """Input/output as stored: the v2 reader returns raw strings; JSON text becomes the JSON value.

    Only text that looks like a JSON object, array or string is parsed, so a plain answer such as
    ``42`` or ``true`` written as text stays text.
    """
    if not isinstance(value, str):
        return value
    head = value.lstrip()[:1]
    if head in ("{", "[", '"'):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _stratum_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _same_scalar(a: Any, b: Any) -> bool:
    """Metadata equality with types (``"1"`` ≠ ``1``, ``1`` = ``1.0``, ``True`` ≠ ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _meta_text(value: Any) -> str:
    """How a metadata value is compared by the server (as text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _version_tuple(version: str) -> tuple[int, int, int]:
    parts: list[int] = []
    for piece in version.split("-")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    ra = lower.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None  # neither seconds nor an HTTP date: the caller's own backoff applies
    return max(0.0, (_aware(parsed) - datetime.now(UTC)).total_seconds())


def _server_message(body: Any) -> str:
    """The server's own words from an error body, without echoing anything we sent."""
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("error") or "")
        details = body.get("error")
        if isinstance(details, list):
            parts = [str(d.get("message")) for d in details if isinstance(d, dict) and d.get("message")]
            if parts:
                message = f"{message}: {'; '.join(parts)}" if message else "; ".join(parts)
        return message or json.dumps(body)[:300]
    if isinstance(body, str):
        return body[:300]
    return "" if body is None else str(body)[:300]


class LangfuseSource:
    """A :class:`~hitl_pipeline.sources.base.Source` backed by a Langfuse server.

    Example::

        src = LangfuseSource.from_settings(Settings.from_env())
        print(src.probe())                       # version, read path, POST /scores body
        for ref in src.iter_candidates("trace", spec.filters, now=datetime.now(UTC)):
            ...
        items = src.get_items(refs[:20])         # batched fetch, for prefetching
    """

    name = "langfuse"

    def __init__(
        self,
        *,
        base_url: str,
        public_key: str,
        secret_key: str,
        timeout: float = 30.0,
        httpx_client: httpx.Client | None = None,
        page_size: int | None = None,
        fetch_workers: int = FETCH_WORKERS,
    ) -> None:
        """``page_size`` lowers the page sizes (tests use it to cross page boundaries cheaply);
        ``fetch_workers`` is how many requests :meth:`get_items` keeps in flight (1 = sequential)."""
        self._fetch_workers = max(1, fetch_workers)
        self.host = base_url.rstrip("/")
        self._v2_page = min(page_size or V2_PAGE, V2_PAGE)
        self._v1_page = min(page_size or V1_PAGE, V1_PAGE)
        self._public_key = public_key
        # Only the HTTP client holds the secret (as a callable, so it is not an attribute value
        # that a debugger or a repr of the client's wrapper would show as plain text).
        self._http = httpx_client or httpx.Client(timeout=timeout, follow_redirects=True)
        self._api = LangfuseAPI(
            base_url=self.host,
            username=public_key,
            password=lambda: secret_key,
            x_langfuse_sdk_name="hitl-pipeline",
            x_langfuse_public_key=public_key,
            timeout=timeout,
            httpx_client=self._http,
        )
        self._caps: Capabilities | None = None
        self._caps_lock = threading.Lock()
        self._configs: dict[str, ScoreConfig] = {}
        self._prefetched: OrderedDict[str, Item] = OrderedDict()
        self._prefetch_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LangfuseSource:
        """Build from :class:`hitl_pipeline.settings.Settings` (``LANGFUSE_PUBLIC_KEY``,
        ``LANGFUSE_SECRET_KEY``, ``LANGFUSE_BASE_URL`` or ``LANGFUSE_HOST``)."""
        public, secret = settings.langfuse_public_key, settings.langfuse_secret_key
        if not public or not secret:
            missing = [
                n for n, v in (("LANGFUSE_PUBLIC_KEY", public), ("LANGFUSE_SECRET_KEY", secret)) if not v
            ]
            raise ConfigError(
                f"Langfuse is not configured: set {' and '.join(missing)} (and LANGFUSE_BASE_URL or "
                "LANGFUSE_HOST for a self-hosted server), or use the local source (--source local)"
            )
        return cls(
            base_url=settings.langfuse_base_url, public_key=public, secret_key=secret.get_secret_value()
        )

    def __repr__(self) -> str:
        return f"LangfuseSource(host={self.host!r}, public_key={self._public_key!r})"

    @property
    def api(self) -> LangfuseAPI:
        """The SDK client (typed API, same auth and base URL), for what this class does not wrap,
        e.g. annotation queues. Its retries are on (2); pass ``request_options={"max_retries": 0}``
        for writes that our own retry logic handles."""
        return self._api

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LangfuseSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ errors

    def _auth_error(self, status: int = 401, body: Any = None) -> AuthError:
        """401/403. The server's JSON message is kept: a 403 may also mean ingestion is suspended
        (usage limit). A proxy's HTML page is not quoted."""
        said = _server_message(body) if isinstance(body, dict) else ""
        return AuthError(
            f"Langfuse rejected the credentials for {self.host} ({status}{': ' + said if said else ''}): "
            "check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY"
        )

    def _fail(self, what: str, exc: Exception) -> NoReturn:
        """Turn an SDK/HTTP failure into our error tree. ``from None``: the original exception
        carries request objects (with the Authorization header) that must not reach a traceback."""
        if isinstance(exc, ApiError):
            if exc.status_code in (401, 403):
                raise self._auth_error(exc.status_code, exc.body) from None
            message = _server_message(exc.body)
            raise SourceError(
                f"Langfuse at {self.host} answered {exc.status_code} to {what}: {message}"
            ) from None
        if isinstance(exc, httpx.HTTPError):
            raise SourceError(
                f"cannot reach Langfuse at {self.host} ({what}): {type(exc).__name__}: {exc}; "
                "check LANGFUSE_BASE_URL and that the server is up"
            ) from None
        raise exc

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ApiError, httpx.HTTPError) as exc:
            self._fail(what, exc)

    def _raw(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        retries: int = 2,
    ) -> httpx.Response:
        """A request through the SDK's HTTP client (same base URL, auth and retry policy)."""
        return self._api._client_wrapper.httpx_client.request(
            path, method=method, params=params, json=json_body, request_options={"max_retries": retries}
        )

    def _raw_json(self, what: str, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._raw("GET", path, params=params)
        except httpx.HTTPError as exc:
            self._fail(what, exc)
        if response.status_code >= 400:
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            self._fail(
                what, ApiError(status_code=response.status_code, headers=dict(response.headers), body=body)
            )
        return response.json()

    # ------------------------------------------------------------------ probe

    @property
    def capabilities(self) -> Capabilities:
        """The probe result, probing on first use."""
        return self.probe()

    def probe(self, *, refresh: bool = False) -> Capabilities:
        """Find out what the server offers (cached). Raises AuthError / SourceError when it cannot."""
        with self._caps_lock:
            if self._caps is not None and not refresh:
                return self._caps
            health = self._call("the health check", lambda: self._api.health.health())
            version = health.version
            # /health needs no credentials: check them on a cheap authenticated route.
            self._call("listing score configs", lambda: self._api.score_configs.get(page=1, limit=1))
            now = datetime.now(UTC)
            v2 = self._exists(
                "the v2 observations reader",
                lambda: self._api.observations.get_many(
                    limit=1, fields="core", from_start_time=now - timedelta(hours=1), to_start_time=now
                ),
            )
            v3 = self._exists("/v3/scores", lambda: self._api.scores.get_many(limit=1))
            legacy = False
            if not v2:
                legacy = self._raw_status("/api/public/traces", {"limit": 1, "fields": "core"}) == 200
            body: Literal["array", "object"] = (
                "array" if _version_tuple(version) >= ARRAY_SCORES_SINCE else "object"
            )
            if not v2 and not legacy:
                raise SourceError(
                    f"Langfuse at {self.host} (version {version}) offers neither the v2 observations reader nor "
                    "the legacy /traces reader: hitl cannot read traces from it"
                )
            self._caps = Capabilities(
                host=self.host,
                version=version,
                v2_observations=v2,
                v3_scores=v3,
                legacy_reads=legacy,
                score_body=body,
            )
            log.info("Langfuse %s at %s: %s", version, self.host, self._caps)
            return self._caps

    def _exists(self, what: str, fn: Callable[[], Any]) -> bool:
        try:
            fn()
        except ApiError as exc:
            if exc.status_code == 404:
                return False
            self._fail(what, exc)
        except httpx.HTTPError as exc:
            self._fail(what, exc)
        return True

    def _raw_status(self, path: str, params: dict[str, Any]) -> int:
        try:
            response = self._raw("GET", path, params=params)
        except httpx.HTTPError as exc:
            self._fail(f"GET {path}", exc)
        if response.status_code == 401:
            raise self._auth_error(401, _json_or_text(response))
        if response.status_code == 200:
            deprecation = (response.json() or {}).get("_deprecation")
            if deprecation:
                log.warning("Langfuse: %s is deprecated (sunset %s)", path, deprecation.get("sunsetAt"))
        return response.status_code

    # ------------------------------------------------------------------ v2 listing helpers

    def _v2_rows(
        self, what: str, *, fields: str, conditions: list[dict[str, Any]], **params: Any
    ) -> Iterator[_V2Row]:
        """Every v2 observation row matching ``conditions`` (all inside ``filter``), cursor by cursor.

        The JSON goes through the SDK's HTTP client but is not turned into the SDK's typed models:
        their generic conversion costs ~5 ms per row (measured with cProfile), i.e. seconds per page.
        """
        base: dict[str, Any] = {"fields": fields, "limit": self._v2_page, **params}
        if conditions:
            base["filter"] = json.dumps(conditions)
        for d in self._cursor_pages(what, "/api/public/v2/observations", base):
            yield _V2Row(d)

    def _cursor_pages(self, what: str, path: str, base: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every row of a cursor-paginated GET (``meta.cursor`` missing = last page)."""
        cursor: str | None = None
        while True:
            query = {**base, "cursor": cursor} if cursor else base
            page = self._raw_json(what, path, query)
            data = page.get("data") or []
            yield from data
            cursor = (page.get("meta") or {}).get("cursor")
            if not cursor or not data:
                return

    @staticmethod
    def _window_conditions(start: datetime, end: datetime) -> list[dict[str, Any]]:
        return [
            {"type": "datetime", "column": "startTime", "operator": ">=", "value": _iso(start)},
            {"type": "datetime", "column": "startTime", "operator": "<", "value": _iso(end)},
        ]

    @staticmethod
    def _options(column: str, values: Sequence[str]) -> dict[str, Any]:
        if len(values) == 1:
            return {"type": "string", "column": column, "operator": "=", "value": values[0]}
        return {"type": "stringOptions", "column": column, "operator": "any of", "value": list(values)}

    @staticmethod
    def _tag_conditions(filters: Filters) -> list[dict[str, Any]]:
        """``tags`` (all of) and ``exclude_tags`` (none of): the same filter on both read paths."""
        conds: list[dict[str, Any]] = []
        for operator, tags in (("all of", filters.tags), ("none of", filters.exclude_tags)):
            if tags:
                conds.append(
                    {"type": "arrayOptions", "column": "tags", "operator": operator, "value": list(tags)}
                )
        return conds

    @staticmethod
    def _metadata_conditions(filters: Filters) -> list[dict[str, Any]]:
        """``metadata`` as the server compares it (as text, on both read paths); the exact type of
        each value is re-checked on the rows (:meth:`_client_side_ok`)."""
        return [
            {
                "type": "categoryOptions",
                "column": "metadata",
                "key": key,
                "operator": "any of",
                "value": sorted({_meta_text(v) for v in wanted}),
            }
            for key, wanted in filters.metadata
        ]

    def _v2_trace_conditions(self, filters: Filters, *, root: bool) -> list[dict[str, Any]]:
        """Trace filters as v2 conditions. ``root``: the rows are root observations, so the trace's
        own version and metadata are on them; child rows only carry the propagated attributes."""
        conds: list[dict[str, Any]] = []
        for column, values in (
            ("traceName", filters.trace_name),
            ("userId", filters.user_id),
            ("sessionId", filters.session_id),
            ("environment", filters.environment),
        ):
            if values:
                conds.append(self._options(column, values))
        conds.extend(self._tag_conditions(filters))
        if root:
            if filters.version:
                conds.append(self._options("version", filters.version))
            conds.extend(self._metadata_conditions(filters))
        return conds

    @staticmethod
    def _needs_trace_lookup(filters: Filters, stratify_by: str | None) -> bool:
        """Observation targets: trace attributes that are not on the observation rows."""
        return bool(
            filters.metadata
            or filters.version
            or filters.release
            or (
                stratify_by and (stratify_by.startswith("metadata.") or stratify_by in ("release", "version"))
            )
        )

    @staticmethod
    def _trace_info_from_root(row: Any) -> _TraceInfo:
        return _TraceInfo(
            id=row.trace_id,
            name=row.trace_name or row.name or "",
            timestamp=_aware(row.start_time),
            user_id=_none_if_empty(row.user_id),
            session_id=_none_if_empty(row.session_id),
            tags=tuple(row.tags or ()),
            environment=row.environment or "default",
            release=_none_if_empty(row.release),
            version=_none_if_empty(row.version),
            metadata=dict(row.metadata) if row.metadata is not None else None,
        )

    @staticmethod
    def _client_side_ok(info: _TraceInfo, filters: Filters) -> bool:
        """The checks the server cannot do exactly (see the module docstring)."""
        if filters.release and info.release not in filters.release:
            return False
        if filters.metadata and info.metadata is not None:
            for key, values in filters.metadata:
                if key not in info.metadata or not any(_same_scalar(info.metadata[key], v) for v in values):
                    return False
        return True

    def _v2_roots(
        self,
        filters: Filters,
        start: datetime,
        end: datetime,
        *,
        with_metadata: bool,
        extra: list[dict[str, Any]] = (),  # type: ignore[assignment]
        expand: Sequence[str] = (),
    ) -> Iterator[_TraceInfo]:
        """Root observations (= traces) in ``[start, end)`` matching ``filters``. ``expand``: metadata
        keys compared or shown, asked for in full (values are cut to 200 characters otherwise)."""
        conds = [
            {"type": "boolean", "column": "isRootObservation", "operator": "=", "value": True},
            *self._window_conditions(start, end),
            *self._v2_trace_conditions(filters, root=True),
            *extra,
        ]
        fields = _TRACE_FIELDS + (",metadata" if with_metadata else "")
        keys = sorted({*expand, *(k for k, _ in filters.metadata)}) if with_metadata else []
        params = {"expandMetadata": ",".join(keys)} if keys else {}
        for row in self._v2_rows("listing traces", fields=fields, conditions=conds, **params):
            info = self._trace_info_from_root(row)
            if self._client_side_ok(info, filters):
                yield info

    # ------------------------------------------------------------------ candidates

    def iter_candidates(
        self,
        target: Target,
        filters: Filters,
        *,
        now: datetime,
        stratify_by: str | None = None,
    ) -> Iterator[ItemRef]:
        """Every item matching ``filters``, newest first (ties: larger id first).

        All matching rows are listed (large pages, no I/O), then sorted; see the module docstring
        for which filters run on the server and which on the rows.
        """
        start, end = filters.window(now)
        caps = self.probe()
        if caps.v2_observations:
            refs = self._v2_candidates(target, filters, start, end, stratify_by)
        else:
            refs = self._legacy_candidates(target, filters, start, end, stratify_by)
        if filters.scores:
            keep = self._threshold_subjects(target, filters.scores)
            refs = [r for r in refs if r.id in keep]
        refs.sort(key=lambda r: (r.timestamp, r.id), reverse=True)
        return iter(refs)

    @staticmethod
    def _trace_stratum(info: _TraceInfo | None, by: str | None, own_name: str | None = None) -> str | None:
        if by is None or info is None and by != "name":
            return None
        if by == "name":
            return own_name if own_name is not None else (info.name if info else None)
        assert info is not None
        if by.startswith("metadata."):
            key = by.removeprefix("metadata.")
            return _stratum_text((info.metadata or {}).get(key))
        value = {
            "user_id": info.user_id,
            "session_id": info.session_id,
            "environment": info.environment,
            "release": info.release,
            "version": info.version,
        }.get(by)
        return _stratum_text(value)

    def _v2_candidates(
        self, target: Target, filters: Filters, start: datetime, end: datetime, by: str | None
    ) -> list[ItemRef]:
        with_meta = bool(filters.metadata) or bool(by and by.startswith("metadata."))
        expand = [by.removeprefix("metadata.")] if by and by.startswith("metadata.") else []
        if target == "trace":
            return [
                ItemRef(
                    kind="trace",
                    id=t.id,
                    timestamp=t.timestamp,
                    trace_id=t.id,
                    stratum=self._trace_stratum(t, by),
                )
                for t in self._v2_roots(filters, start, end, with_metadata=with_meta, expand=expand)
            ]
        if target == "observation":
            conds = [
                {"type": "boolean", "column": "isRootObservation", "operator": "=", "value": False},
                *self._window_conditions(start, end),
                *self._v2_trace_conditions(filters, root=False),
            ]
            if filters.observation_type:
                conds.append(self._options("type", filters.observation_type))
            if filters.observation_name:
                conds.append(self._options("name", filters.observation_name))
            traces: dict[str, _TraceInfo] | None = None
            if self._needs_trace_lookup(filters, by):
                traces = {
                    t.id: t
                    for t in self._v2_roots(
                        filters, start - TRACE_LOOKBACK, end, with_metadata=with_meta, expand=expand
                    )
                }
            refs = []
            for row in self._v2_rows(
                "listing observations", fields="core,basic,trace_context", conditions=conds
            ):
                if traces is not None:
                    info: _TraceInfo | None = traces.get(row.trace_id)
                    if info is None:
                        continue
                else:
                    info = self._trace_info_from_root(row)  # propagated trace attributes of the row
                    info.version = None  # the row's version is the observation's own
                stratum: str | None
                if by == "observation_type":
                    stratum = row.type
                elif by == "observation_name":
                    stratum = row.name
                else:
                    stratum = self._trace_stratum(info, by, own_name=row.name if by == "name" else None)
                refs.append(
                    ItemRef(
                        kind="observation",
                        id=row.id,
                        timestamp=_aware(row.start_time),
                        trace_id=row.trace_id,
                        stratum=stratum,
                    )
                )
            return refs
        if target == "session":
            matched = {
                t.session_id
                for t in self._v2_roots(filters, start, end, with_metadata=with_meta, expand=expand)
                if t.session_id
            }
            return self._session_refs(sorted(matched), start, end, by, self._v2_session_traces)
        raise SourceError(f"unknown target {target!r}: expected trace, observation or session")

    def _v2_session_traces(
        self, session_ids: Sequence[str], start: datetime, end: datetime, meta_key: str | None
    ) -> list[_TraceInfo]:
        out: list[_TraceInfo] = []
        for chunk in _chunks(session_ids, ID_CHUNK):
            out.extend(
                self._v2_roots(
                    Filters(),
                    start - SESSION_LOOKBACK,
                    end,
                    with_metadata=meta_key is not None,
                    extra=[self._options("sessionId", list(chunk))],
                    expand=[meta_key] if meta_key else [],
                )
            )
        return out

    def _session_refs(
        self,
        session_ids: Sequence[str],
        start: datetime,
        end: datetime,
        by: str | None,
        lookup: Callable[[Sequence[str], datetime, datetime, str | None], list[_TraceInfo]],
    ) -> list[ItemRef]:
        """A session's timestamp and stratum come from its earliest trace (any trace, not only matching)."""
        if not session_ids:
            return []
        first: dict[str, _TraceInfo] = {}
        meta_key = by.removeprefix("metadata.") if by and by.startswith("metadata.") else None
        for t in lookup(session_ids, start, end, meta_key):
            if t.session_id and (
                t.session_id not in first
                or (t.timestamp, t.id) < (first[t.session_id].timestamp, first[t.session_id].id)
            ):
                first[t.session_id] = t
        return [
            ItemRef(
                kind="session",
                id=sid,
                timestamp=first[sid].timestamp,
                stratum=self._trace_stratum(first[sid], by),
            )
            for sid in session_ids
            if sid in first
        ]

    # ------------------------------------------------------------------ legacy listing

    def _legacy_trace_filter(self, filters: Filters, start: datetime, end: datetime) -> list[dict[str, Any]]:
        conds: list[dict[str, Any]] = [
            {"type": "datetime", "column": "timestamp", "operator": ">=", "value": _iso(start)},
            {"type": "datetime", "column": "timestamp", "operator": "<", "value": _iso(end)},
        ]
        for column, values in (
            ("name", filters.trace_name),
            ("userId", filters.user_id),
            ("sessionId", filters.session_id),
            ("environment", filters.environment),
            ("release", filters.release),
            ("version", filters.version),
        ):
            if values:
                conds.append(self._options(column, values))
        conds.extend(self._tag_conditions(filters))
        conds.extend(self._metadata_conditions(filters))
        return conds

    def _legacy_pages(self, what: str, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            body = self._raw_json(what, path, {**params, "page": page, "limit": self._v1_page})
            yield from body.get("data", [])
            meta = body.get("meta") or {}
            if page >= int(meta.get("totalPages") or 0):
                return
            page += 1

    @staticmethod
    def _trace_info_from_v1(d: dict[str, Any]) -> _TraceInfo:
        return _TraceInfo(
            id=d["id"],
            name=d.get("name") or "",
            timestamp=_aware(datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00"))),
            user_id=d.get("userId"),
            session_id=d.get("sessionId"),
            tags=tuple(d.get("tags") or ()),
            environment=d.get("environment") or "default",
            release=d.get("release"),
            version=d.get("version"),
            metadata=d.get("metadata") if "metadata" in d else None,
        )

    def _legacy_traces(
        self,
        filters: Filters,
        start: datetime,
        end: datetime,
        *,
        io: bool,
        extra: dict[str, Any] | None = None,
    ) -> Iterator[_TraceInfo]:
        params: dict[str, Any] = {
            "filter": json.dumps(self._legacy_trace_filter(filters, start, end)),
            "fields": "core,io" if io else "core",
            "orderBy": "timestamp.desc",
            **(extra or {}),
        }
        for d in self._legacy_pages("listing traces", "/api/public/traces", params):
            info = self._trace_info_from_v1(d)
            if self._client_side_ok(info, filters):
                yield info

    def _legacy_candidates(
        self, target: Target, filters: Filters, start: datetime, end: datetime, by: str | None
    ) -> list[ItemRef]:
        io = bool(filters.metadata) or bool(by and by.startswith("metadata."))
        if target == "trace":
            return [
                ItemRef(
                    kind="trace",
                    id=t.id,
                    timestamp=t.timestamp,
                    trace_id=t.id,
                    stratum=self._trace_stratum(t, by),
                )
                for t in self._legacy_traces(filters, start, end, io=io)
            ]
        if target == "session":
            matched = {t.session_id for t in self._legacy_traces(filters, start, end, io=io) if t.session_id}
            return self._session_refs(sorted(matched), start, end, by, self._legacy_session_traces)
        if target == "observation":
            traces = {t.id: t for t in self._legacy_traces(filters, start - TRACE_LOOKBACK, end, io=io)}
            params: dict[str, Any] = {"fromStartTime": _iso(start), "toStartTime": _iso(end)}
            if len(filters.observation_type) == 1:
                params["type"] = filters.observation_type[0]
            if len(filters.observation_name) == 1:
                params["name"] = filters.observation_name[0]
            if filters.environment:
                params["environment"] = list(filters.environment)
            refs = []
            for d in self._legacy_pages("listing observations", "/api/public/observations", params):
                info = traces.get(d.get("traceId") or "")
                if info is None:
                    continue
                if filters.observation_type and d.get("type") not in filters.observation_type:
                    continue
                if filters.observation_name and d.get("name") not in filters.observation_name:
                    continue
                if by == "observation_type":
                    stratum = d.get("type")
                elif by == "observation_name":
                    stratum = d.get("name")
                else:
                    stratum = self._trace_stratum(info, by, own_name=d.get("name") if by == "name" else None)
                refs.append(
                    ItemRef(
                        kind="observation",
                        id=d["id"],
                        timestamp=_aware(datetime.fromisoformat(d["startTime"].replace("Z", "+00:00"))),
                        trace_id=info.id,
                        stratum=stratum,
                    )
                )
            return refs
        raise SourceError(f"unknown target {target!r}: expected trace, observation or session")

    def _legacy_session_traces(
        self, session_ids: Sequence[str], start: datetime, end: datetime, meta_key: str | None
    ) -> list[_TraceInfo]:
        out: list[_TraceInfo] = []
        window = self._legacy_trace_filter(Filters(), start - SESSION_LOOKBACK, end)
        for chunk in _chunks(session_ids, ID_CHUNK):
            conds = [*window, self._options("sessionId", list(chunk))]
            params = {"fields": "core,io" if meta_key else "core", "filter": json.dumps(conds)}
            out.extend(
                self._trace_info_from_v1(d)
                for d in self._legacy_pages("listing sessions", "/api/public/traces", params)
            )
        return out

    # ------------------------------------------------------------------ score thresholds

    def _threshold_subjects(self, target: Target, thresholds: Sequence[ScoreThreshold]) -> set[str]:
        """Ids of the subjects (of ``target``'s kind) meeting every threshold."""
        result: set[str] | None = None
        for th in thresholds:
            base: dict[str, Any] = {"name": th.name, "fields": "subject"}
            queries = [base]
            numeric = isinstance(th.value, int | float) and not isinstance(th.value, bool)
            if numeric and th.op in ("<", "<=", ">", ">="):
                # Push the range for NUMERIC scores (inclusive on the server; strictness is
                # re-checked below). A range needs dataType=NUMERIC, so BOOLEAN scores (0/1) of
                # the name are read separately.
                bound = "value_min" if th.op in (">", ">=") else "value_max"
                queries = [
                    {**base, "data_type": "NUMERIC", bound: float(th.value)},
                    {**base, "data_type": "BOOLEAN"},
                ]
            ids: set[str] = set()
            for params in queries:
                for s in self._iter_scores("reading scores for a threshold", params):
                    subject = self._subject_id(target, s)
                    if subject is not None and _threshold_holds(s, th):
                        ids.add(subject)
            result = ids if result is None else result & ids
        return result or set()

    @staticmethod
    def _subject_id(target: Target, s: Score) -> str | None:
        if target == "trace":
            return s.trace_id if s.trace_id and not s.observation_id else None
        if target == "observation":
            return s.observation_id
        return s.session_id

    def _iter_scores(self, what: str, params: dict[str, Any]) -> Iterator[Score]:
        """Scores matching ``params`` (``/v3/scores`` keywords) from ``/v3/scores``, or from the
        deprecated ``/v2/scores`` on v3 servers older than 3.179 that lack it."""
        if self.probe().v3_scores:
            return self._iter_v3_scores(what, params)
        return self._iter_v2_scores(what, params)

    def _iter_v2_scores(self, what: str, params: dict[str, Any]) -> Iterator[Score]:
        """The page-based ``/v2/scores`` reader: one value per trace/session/name parameter (so one
        listing per value), ``scoreIds`` for ids, one numeric bound as ``operator``/``value``."""
        singles = {k: str(params[k]).split(",") for k in ("trace_id", "session_id", "name") if params.get(k)}
        base: dict[str, Any] = {}
        if params.get("id"):
            base["scoreIds"] = params["id"]
        for key, query in (("source", "source"), ("data_type", "dataType"), ("config_id", "configId")):
            if params.get(key):
                base[query] = params[key]
        if isinstance(params.get("from_timestamp"), datetime):
            base["fromTimestamp"] = _iso(params["from_timestamp"])
        if params.get("value_min") is not None:
            base.update(operator=">=", value=params["value_min"])
        elif params.get("value_max") is not None:
            base.update(operator="<=", value=params["value_max"])
        combos: list[dict[str, Any]] = [{}]
        for key, values in singles.items():
            query = {"trace_id": "traceId", "session_id": "sessionId", "name": "name"}[key]
            combos = [{**c, query: v} for c in combos for v in values]
        for combo in combos:
            for d in self._legacy_pages(what, "/api/public/v2/scores", {**base, **combo}):
                yield _score_from_v2(d)

    def _iter_v3_scores(self, what: str, params: dict[str, Any]) -> Iterator[Score]:
        """``/v3/scores`` page by page (raw JSON, for the same reason as :meth:`_v2_rows`)."""
        base = {_CAMEL.get(k, k): v for k, v in params.items() if v is not None}
        base["limit"] = self._v1_page
        for key, value in list(base.items()):
            if isinstance(value, datetime):
                base[key] = _iso(value)
        for d in self._cursor_pages(what, "/api/public/v3/scores", base):
            yield _score_from_v3(d)

    # ------------------------------------------------------------------ items

    def get_item(self, ref: ItemRef, *, score_names: Sequence[str] | None = None) -> Item:
        """One item in full. Served from the prefetch cache when :meth:`prefetch` fetched it."""
        with self._prefetch_lock:
            cached = self._prefetched.pop(self._cache_key(ref, score_names), None)
        if cached is not None:
            return cached
        return self.get_items([ref], score_names=score_names)[0]

    @staticmethod
    def _cache_key(ref: ItemRef, score_names: Sequence[str] | None) -> str:
        return ref.key + "|" + ",".join(sorted(score_names)) if score_names is not None else ref.key + "|*"

    def prefetch(self, refs: Sequence[ItemRef], *, score_names: Sequence[str] | None = None) -> None:
        """Fetch ``refs`` in batches now; the next :meth:`get_item` of each is served from memory once."""
        items = self.get_items(refs, score_names=score_names)
        with self._prefetch_lock:
            for item in items:
                self._prefetched[self._cache_key(item.ref, score_names)] = item
            while len(self._prefetched) > PREFETCH_CACHE:
                self._prefetched.popitem(last=False)

    def get_items(self, refs: Sequence[ItemRef], *, score_names: Sequence[str] | None = None) -> list[Item]:
        """Fetch many items with few requests, in the order of ``refs``.

        On v4 servers: the observation rows of up to 100 traces (or sessions) per request with I/O,
        and the subjects' scores from ``/v3/scores`` in pages of 100. On v3 servers: one ``/traces/{id}``
        (or ``/sessions/{id}``) per item.
        """
        if not refs:
            return []
        caps = self.probe()
        # Every chunk (rows of up to 100 traces, one item on v3 servers, scores of up to 100
        # subjects) is independent: up to FETCH_WORKERS requests are in flight at once, so the
        # request chains overlap instead of adding up. The request count does not change.
        if caps.v2_observations:
            row_tasks = self._v2_item_tasks(refs)
        else:
            row_tasks = [lambda r=r: self._legacy_item(r) for r in refs]  # type: ignore[misc]
        score_tasks = self._score_tasks(refs, score_names)
        items: dict[str, Item] = {}
        found: list[Score] = []
        with ThreadPoolExecutor(max_workers=self._fetch_workers, thread_name_prefix="hitl-fetch") as pool:
            score_futures = [pool.submit(t) for t in score_tasks]
            for row_future in [pool.submit(t) for t in row_tasks]:
                items.update(row_future.result())
            for score_future in score_futures:
                found.extend(score_future.result())
        scores = self._group_scores(refs, found)
        out = []
        for ref in refs:
            item = items.get(ref.key)
            if item is None:
                raise SourceError(f"{ref.kind} {ref.id!r} was not found in Langfuse at {self.host}")
            out.append(
                Item(
                    ref=item.ref,
                    trace=item.trace,
                    observation=item.observation,
                    session=item.session,
                    scores=tuple(scores.get(ref.key, ())),
                )
            )
        return out

    def _item_window(self, refs: Sequence[ItemRef]) -> tuple[datetime, datetime]:
        stamps = [_aware(r.timestamp) for r in refs]
        return min(stamps) - ITEM_BEFORE, max(stamps) + ITEM_AFTER

    def _v2_full_rows(self, conditions: list[dict[str, Any]], start: datetime, end: datetime) -> list[Any]:
        conds = [*self._window_conditions(start, end), *conditions]
        return list(self._v2_rows("fetching items", fields=_FULL_FIELDS, conditions=conds))

    def _v2_item_tasks(self, refs: Sequence[ItemRef]) -> list[Callable[[], dict[str, Item]]]:
        by_kind: dict[str, list[ItemRef]] = {}
        for ref in refs:
            by_kind.setdefault(ref.kind, []).append(ref)
        tasks: list[Callable[[], dict[str, Item]]] = []
        for kind, fetch in (
            ("trace", self._v2_trace_chunk),
            ("observation", self._v2_observation_chunk),
            ("session", self._v2_session_chunk),
        ):
            for chunk in _chunks(by_kind.get(kind, []), ID_CHUNK):
                tasks.append(lambda f=fetch, c=chunk: f(c))  # type: ignore[misc]
        return tasks

    def _v2_trace_chunk(self, chunk: Sequence[ItemRef]) -> dict[str, Item]:
        start, end = self._item_window(chunk)
        rows = self._v2_full_rows([self._options("traceId", [r.id for r in chunk])], start, end)
        traces = _traces_from_rows(rows)
        return {ref.key: Item(ref=ref, trace=traces[ref.id]) for ref in chunk if ref.id in traces}

    def _v2_observation_chunk(self, chunk: Sequence[ItemRef]) -> dict[str, Item]:
        start, end = self._item_window(chunk)
        start -= TRACE_LOOKBACK
        obs_rows = self._v2_full_rows([self._options("id", [r.id for r in chunk])], start, end)
        trace_ids = sorted({row.trace_id for row in obs_rows})
        root_rows = (
            self._v2_full_rows(
                [
                    {"type": "boolean", "column": "isRootObservation", "operator": "=", "value": True},
                    self._options("traceId", trace_ids),
                ],
                start,
                end,
            )
            if trace_ids
            else []
        )
        roots = {row.trace_id: row for row in root_rows}
        observations = {row.id: row for row in obs_rows}
        out: dict[str, Item] = {}
        for ref in chunk:
            row = observations.get(ref.id)
            if row is None:
                continue
            root = roots.get(row.trace_id)
            trace = _trace_from_root(root, ()) if root is not None else None
            out[ref.key] = Item(
                ref=ref, trace=trace, observation=_observation_from_row(row, root.id if root else None)
            )
        return out

    def _v2_session_chunk(self, chunk: Sequence[ItemRef]) -> dict[str, Item]:
        start, end = self._item_window(chunk)
        rows = self._v2_full_rows([self._options("sessionId", [r.id for r in chunk])], start, end)
        grouped: dict[str, list[Trace]] = {}
        for t in _traces_from_rows(rows).values():
            if t.session_id:
                grouped.setdefault(t.session_id, []).append(t)
        out: dict[str, Item] = {}
        for ref in chunk:
            turns = sorted(grouped.get(ref.id, []), key=lambda t: (t.timestamp, t.id))
            if turns:
                out[ref.key] = Item(
                    ref=ref, session=Session(id=ref.id, traces=tuple(turns), created_at=turns[0].timestamp)
                )
        return out

    def _legacy_trace(self, trace_id: str, *, with_observations: bool = True) -> Trace | None:
        params = None if with_observations else {"fields": "core,io"}
        try:
            response = self._raw("GET", f"/api/public/traces/{trace_id}", params=params)
        except httpx.HTTPError as exc:
            self._fail(f"fetching trace {trace_id}", exc)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            self._fail(
                f"fetching trace {trace_id}",
                ApiError(
                    status_code=response.status_code,
                    headers=dict(response.headers),
                    body=_json_or_text(response),
                ),
            )
        return _trace_from_v1(response.json(), with_observations=with_observations)

    def _legacy_item(self, ref: ItemRef) -> dict[str, Item]:
        if ref.kind == "trace":
            trace = self._legacy_trace(ref.id)
            return {ref.key: Item(ref=ref, trace=trace)} if trace is not None else {}
        if ref.kind == "observation":
            d = self._raw_json(f"fetching observation {ref.id}", f"/api/public/observations/{ref.id}")
            obs = _observation_from_v1(d)
            trace = self._legacy_trace(obs.trace_id, with_observations=False)
            return {ref.key: Item(ref=ref, trace=trace, observation=obs)}
        d = self._raw_json(f"fetching session {ref.id}", f"/api/public/sessions/{ref.id}")
        turns = []
        for t in d.get("traces", []):
            full = self._legacy_trace(t["id"])
            turns.append(full if full is not None else _trace_from_v1(t, with_observations=False))
        turns.sort(key=lambda t: (t.timestamp, t.id))
        created = _aware(datetime.fromisoformat(d["createdAt"].replace("Z", "+00:00")))
        return {ref.key: Item(ref=ref, session=Session(id=ref.id, traces=tuple(turns), created_at=created))}

    def _score_tasks(
        self, refs: Sequence[ItemRef], score_names: Sequence[str] | None
    ) -> list[Callable[[], list[Score]]]:
        """Reads of the existing scores on the items' subjects (``/v3/scores``, 100 subjects a request)."""
        if score_names is not None and not score_names:
            return []
        by_trace = sorted({r.trace_id or r.id for r in refs if r.kind in ("trace", "observation")})
        sessions = sorted({r.id for r in refs if r.kind == "session"})
        base: dict[str, Any] = {"fields": _SCORE_FIELDS}
        if score_names:
            base["name"] = ",".join(score_names)
        params = [{**base, "trace_id": ",".join(c)} for c in _chunks(by_trace, ID_CHUNK)]
        params += [{**base, "session_id": ",".join(c)} for c in _chunks(sessions, ID_CHUNK)]
        return [lambda p=p: list(self._iter_scores("reading scores", p)) for p in params]  # type: ignore[misc]

    @staticmethod
    def _group_scores(refs: Sequence[ItemRef], found: Iterable[Score]) -> dict[str, list[Score]]:
        wanted = {r.key for r in refs}
        out: dict[str, list[Score]] = {}
        for s in found:
            if s.observation_id:
                key = f"observation:{s.observation_id}"
            elif s.trace_id:
                key = f"trace:{s.trace_id}"
            elif s.session_id:
                key = f"session:{s.session_id}"
            else:
                continue
            if key in wanted:
                out.setdefault(key, []).append(s)
        for scores in out.values():
            scores.sort(key=lambda s: (s.timestamp, s.name, s.id))
        return out

    # ------------------------------------------------------------------ score configs

    def list_score_configs(self) -> list[ScoreConfig]:
        """All configs (archived ones included), by name then id."""
        configs: list[ScoreConfig] = []
        page = 1
        while True:
            resp = self._config_page(page)
            configs.extend(_config_from_api(c) for c in resp.data)
            if page >= (resp.meta.total_pages or 0):
                break
            page += 1
        self._configs.update({c.id: c for c in configs})
        return sorted(configs, key=lambda c: (c.name, c.id))

    def _config_page(self, page: int) -> Any:
        return self._call(
            "listing score configs", lambda: self._api.score_configs.get(page=page, limit=self._v1_page)
        )

    def get_score_config(self, config_id: str) -> ScoreConfig | None:
        """The config, or None when the server has no config with this id."""
        try:
            cfg = _config_from_api(self._api.score_configs.get_by_id(config_id))
        except ApiError as exc:
            if exc.status_code in (400, 404):
                return None
            self._fail(f"reading score config {config_id}", exc)
        except httpx.HTTPError as exc:
            self._fail(f"reading score config {config_id}", exc)
        self._configs[cfg.id] = cfg
        return cfg

    def create_score_config(
        self,
        name: str,
        data_type: str,
        *,
        categories: Sequence[tuple[str, float]] = (),
        min_value: float | None = None,
        max_value: float | None = None,
        description: str | None = None,
    ) -> ScoreConfig:
        """Create a config with the server's rules, checked before sending (:func:`score_config_problems`,
        as the local store does); BOOLEAN categories are set by the server. Raises :class:`SourceError`."""
        problems = score_config_problems(name, data_type, categories, min_value, max_value)
        if problems:
            raise SourceError(f"cannot create score config {name!r}: " + "; ".join(problems))
        body: dict[str, Any] = {"name": name, "dataType": data_type}
        if categories:
            body["categories"] = [{"label": label, "value": value} for label, value in categories]
        if min_value is not None:
            body["minValue"] = min_value
        if max_value is not None:
            body["maxValue"] = max_value
        if description:
            body["description"] = description
        try:
            response = self._raw("POST", "/api/public/score-configs", json_body=body, retries=0)
        except httpx.HTTPError as exc:
            self._fail(f"creating score config {name!r}", exc)
        if response.status_code >= 400:
            self._fail(
                f"creating score config {name!r}",
                ApiError(
                    status_code=response.status_code,
                    headers=dict(response.headers),
                    body=_json_or_text(response),
                ),
            )
        cfg = _config_from_dict(response.json())
        self._configs[cfg.id] = cfg
        return cfg

    # ------------------------------------------------------------------ scores

    def write_scores(self, scores: Sequence[ScoreWrite]) -> list[WriteResult]:
        """Send ``scores`` synchronously; one result per score, in order.

        First every score is checked with the server's own rules (:func:`check_score`, against
        the config, cached per source): a score that fails is not sent (not ok, not retryable, the
        problems as the error). The rest go out in JSON arrays of 100 (servers ≥ 4.59) or one
        request each (older servers), with the SDK's retries off.

        ok = the server accepted it (202/200; it may still drop it later, e.g. when the config was
        archived meanwhile, so confirm with :meth:`read_scores`). 429/5xx/transport errors →
        ``retryable`` (with ``retry_after`` from the header); other 4xx and the rejected entries of
        a 207 → not retryable, with the server's message. Raises :class:`AuthError` on 401/403
        (nothing can be sent with these credentials).
        """
        if not scores:
            return []
        caps = self.probe()
        # The server answers 200 to a score that breaks its config and drops it later (§3): check
        # with the server's own rules first and never send what it would drop.
        results: dict[int, WriteResult] = {}
        sendable: list[tuple[int, ScoreWrite]] = []
        for i, s in enumerate(scores):
            problems = check_score(s, self._config_for(s.config_id))
            if problems:
                results[i] = WriteResult(id=s.id, ok=False, error="; ".join(problems), retryable=False)
            else:
                sendable.append((i, s))
        to_send = [s for _, s in sendable]
        sent: list[WriteResult] = []
        if caps.score_body == "array":
            for chunk in _chunks(to_send, WRITE_CHUNK):
                sent.extend(self._write_array(chunk))
        else:
            sent = [self._write_one(s) for s in to_send]
        for (i, _), result in zip(sendable, sent, strict=True):
            results[i] = result
        return [results[i] for i in range(len(scores))]

    def _config_for(self, config_id: str | None) -> ScoreConfig | None:
        """The config (cached per source; configs change rarely and read-back catches the rest)."""
        if not config_id:
            return None
        if config_id not in self._configs:
            cfg = self.get_score_config(config_id)
            if cfg is None:
                return None
        return self._configs[config_id]

    def _write_array(self, chunk: Sequence[ScoreWrite]) -> list[WriteResult]:
        """One ``POST /scores`` with a JSON array (what SDK 5's ``api.scores.create`` sends), built
        directly: the SDK's generic model conversion costs ~1 ms per score (measured)."""
        try:
            response = self._raw(
                "POST", "/api/public/scores", json_body=[_score_body(s) for s in chunk], retries=0
            )
        except httpx.HTTPError as exc:
            return [self._failure(s.id, exc) for s in chunk]
        body = _json_or_text(response)
        if response.status_code >= 300 and response.status_code != 207:
            if response.status_code == 400 and "received array" in _server_message(body).lower():
                # The server predates array bodies (the version told us otherwise): switch for good.
                log.info("Langfuse at %s takes one score per POST /scores; switching", self.host)
                assert self._caps is not None
                self._caps = Capabilities(**{**self._caps.__dict__, "score_body": "object"})
                return [self._write_one(s) for s in chunk]
            error = ApiError(status_code=response.status_code, headers=dict(response.headers), body=body)
            return [self._failure(s.id, error) for s in chunk]
        errors = (
            [e for e in (body.get("errors") or []) if isinstance(e, dict)] if isinstance(body, dict) else []
        )
        if response.status_code != 207 or not errors:
            return [WriteResult(id=s.id, ok=True) for s in chunk]
        # 207: map each error to its score by index or id when the server says which; otherwise
        # find out by re-sending one at a time (safe: the same id and name replaces the score).
        by_index: dict[int, str] = {}
        for err in errors:
            message = str(err.get("message") or "rejected")
            index = err.get("index")
            if isinstance(index, int) and 0 <= index < len(chunk):
                by_index[index] = message
                continue
            for i, s in enumerate(chunk):
                if s.id == err.get("id"):
                    by_index[i] = message
        if len(by_index) != len(errors):
            if len(chunk) == 1:
                return [
                    WriteResult(
                        id=chunk[0].id, ok=False, error=f"rejected by Langfuse: {errors[0].get('message')}"
                    )
                ]
            out: list[WriteResult] = []
            for s in chunk:
                out.extend(self._write_array([s]))
            return out
        return [
            WriteResult(id=s.id, ok=False, error=f"rejected by Langfuse: {by_index[i]}")
            if i in by_index
            else WriteResult(id=s.id, ok=True)
            for i, s in enumerate(chunk)
        ]

    def _write_one(self, score: ScoreWrite) -> WriteResult:
        try:
            response = self._raw("POST", "/api/public/scores", json_body=_score_body(score), retries=0)
        except httpx.HTTPError as exc:
            return self._failure(score.id, exc)
        if response.status_code < 300:
            return WriteResult(id=score.id, ok=True)
        return self._failure(
            score.id,
            ApiError(
                status_code=response.status_code, headers=dict(response.headers), body=_json_or_text(response)
            ),
        )

    def _failure(self, score_id: str, exc: Exception) -> WriteResult:
        if isinstance(exc, ApiError):
            status = exc.status_code or 0
            if status in (401, 403):
                raise self._auth_error(status, exc.body) from None
            message = f"Langfuse answered {status}: {_server_message(exc.body)}"
            if status in (408, 409, 429) or status >= 500:
                return WriteResult(
                    id=score_id,
                    ok=False,
                    error=message,
                    retryable=True,
                    retry_after=_retry_after(exc.headers),
                )
            return WriteResult(id=score_id, ok=False, error=message, retryable=False)
        return WriteResult(
            id=score_id,
            ok=False,
            error=f"cannot reach Langfuse at {self.host}: {type(exc).__name__}",
            retryable=True,
        )

    def delete_scores(self, ids: Sequence[str]) -> list[WriteResult]:
        """``DELETE /api/public/scores/{id}`` per id; one result per id, in order.

        204/200 = deleted, 404 = already gone: both ok. 429/5xx/transport errors → ``retryable``
        (with ``retry_after``), other 4xx → not retryable, like :meth:`write_scores`. Raises
        :class:`AuthError` on 401/403.
        """
        return [self._delete_one(i) for i in ids]

    def _delete_one(self, score_id: str) -> WriteResult:
        path = f"/api/public/scores/{quote(score_id, safe='')}"
        try:
            response = self._raw("DELETE", path, retries=0)
        except httpx.HTTPError as exc:
            return self._failure(score_id, exc)
        if response.status_code < 300 or response.status_code == 404:
            return WriteResult(id=score_id, ok=True)
        return self._failure(
            score_id,
            ApiError(
                status_code=response.status_code, headers=dict(response.headers), body=_json_or_text(response)
            ),
        )

    def read_scores(self, ids: Iterable[str]) -> dict[str, Score]:
        """Scores by id (``/v3/scores?id=…`` in chunks of 50); ids not (yet) readable are absent."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, Score] = {}
        for chunk in _chunks(wanted, 50):
            for s in self._iter_scores(
                "reading scores back", {"id": ",".join(chunk), "fields": _SCORE_FIELDS}
            ):
                out[s.id] = s
        return out

    def iter_scores(
        self,
        *,
        names: Sequence[str] | None = None,
        since: datetime | None = None,
        source: str | None = None,
    ) -> Iterator[Score]:
        """Every readable score, optionally by name / newer than ``since`` / by source."""
        params: dict[str, Any] = {"fields": _SCORE_FIELDS}
        if names:
            params["name"] = ",".join(names)
        if since is not None:
            params["from_timestamp"] = since
        if source:
            params["source"] = source
        return self._iter_scores("reading scores", params)


# ---------------------------------------------------------------------- conversions


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _threshold_holds(s: Score, th: ScoreThreshold) -> bool:
    """Numbers (and booleans as 0/1) compare with the numeric value; strings with the label/text."""
    if isinstance(th.value, bool) or isinstance(th.value, int | float):
        expected = float(th.value)
        if s.data_type == "BOOLEAN":
            actual: Any = 1.0 if s.string_value == "True" else 0.0
        elif isinstance(s.value, int | float):
            actual = float(s.value)
        else:
            return False
    else:
        expected_s = str(th.value)
        actual = s.string_value if s.string_value is not None else s.value
        if not isinstance(actual, str):
            return False
        return _compare(actual, th.op, expected_s)
    return _compare(actual, th.op, expected)


def _compare(a: Any, op: str, b: Any) -> bool:
    return bool(
        {
            "<": lambda: a < b,
            "<=": lambda: a <= b,
            ">": lambda: a > b,
            ">=": lambda: a >= b,
            "=": lambda: a == b,
            "!=": lambda: a != b,
        }[op]()
    )


def _score_from_v3(d: dict[str, Any]) -> Score:
    data_type = str(d.get("dataType") or "NUMERIC")
    raw = d.get("value")
    string_value: str | None = None
    value: float | str | None
    if data_type == "BOOLEAN":
        value = 1.0 if raw else 0.0
        string_value = "True" if raw else "False"
    elif data_type == "NUMERIC":
        value = float(raw) if raw is not None else None
    else:
        value = "" if raw is None else str(raw)
        string_value = value
    subject = d.get("subject") or {}
    trace_id = observation_id = session_id = None
    kind = subject.get("kind")
    if kind == "trace":
        trace_id = subject.get("id")
    elif kind == "observation":
        observation_id = subject.get("id")
        trace_id = subject.get("traceId")
    elif kind == "session":
        session_id = subject.get("id")
    ts = _parse_time(d.get("timestamp"))
    assert ts is not None
    return Score(
        id=d["id"],
        name=d["name"],
        value=value,
        data_type=data_type,  # type: ignore[arg-type]
        timestamp=ts,
        trace_id=trace_id,
        observation_id=observation_id,
        session_id=session_id,
        string_value=string_value,
        comment=d.get("comment"),
        metadata=dict(d.get("metadata") or {}),
        config_id=d.get("configId"),
        source=str(d.get("source") or "API"),
        queue_id=d.get("queueId"),
        environment=d.get("environment") or "default",
    )


def _score_from_v2(d: dict[str, Any]) -> Score:
    """A score of the deprecated ``/v2/scores`` reader (numeric ``value`` plus ``stringValue``)."""
    data_type = str(d.get("dataType") or "NUMERIC")
    string_value = d.get("stringValue")
    value: float | str | None
    if data_type in ("NUMERIC", "BOOLEAN"):
        value = float(d["value"]) if d.get("value") is not None else None
    else:
        value = string_value if string_value is not None else ""
    ts = _parse_time(d.get("timestamp"))
    assert ts is not None
    return Score(
        id=d["id"],
        name=d["name"],
        value=value,
        data_type=data_type,  # type: ignore[arg-type]
        timestamp=ts,
        trace_id=d.get("traceId"),
        observation_id=d.get("observationId"),
        session_id=d.get("sessionId"),
        string_value=string_value,
        comment=d.get("comment"),
        metadata=dict(d.get("metadata") or {}),
        config_id=d.get("configId"),
        source=str(d.get("source") or "API"),
        queue_id=d.get("queueId"),
        environment=d.get("environment") or "default",
    )


class _V2Row:
    """One row of the v2 observations reader (fields of groups not requested are None)."""

    __slots__ = (
        "id",
        "trace_id",
        "start_time",
        "end_time",
        "parent_observation_id",
        "type",
        "is_root_observation",
        "name",
        "level",
        "status_message",
        "version",
        "environment",
        "user_id",
        "session_id",
        "input",
        "output",
        "metadata",
        "model",
        "usage_details",
        "trace_name",
        "tags",
        "release",
    )

    def __init__(self, d: dict[str, Any]) -> None:
        start = _parse_time(d.get("startTime"))
        assert start is not None
        self.id: str = d["id"]
        self.trace_id: str = d.get("traceId") or ""
        self.start_time: datetime = start
        self.end_time = _parse_time(d.get("endTime"))
        self.parent_observation_id: str | None = d.get("parentObservationId")
        self.type: str = d.get("type") or "SPAN"
        self.is_root_observation: bool | None = d.get("isRootObservation")
        self.name: str | None = d.get("name")
        self.level: str | None = d.get("level")
        self.status_message: str | None = d.get("statusMessage")
        self.version: str | None = d.get("version")
        self.environment: str | None = d.get("environment")
        self.user_id: str | None = d.get("userId")
        self.session_id: str | None = d.get("sessionId")
        self.input: Any = d.get("input")
        self.output: Any = d.get("output")
        self.metadata: dict[str, Any] | None = d.get("metadata")
        self.model: str | None = d.get("model")
        self.usage_details: dict[str, Any] | None = d.get("usageDetails")
        self.trace_name: str | None = d.get("traceName")
        self.tags: list[str] | None = d.get("tags")
        self.release: str | None = d.get("release")


def _config_from_api(c: Any) -> ScoreConfig:
    data_type = getattr(c.data_type, "value", c.data_type)
    return ScoreConfig(
        id=c.id,
        name=c.name,
        data_type=str(data_type),  # type: ignore[arg-type]
        categories=tuple((cat.label, float(cat.value)) for cat in (c.categories or ())),
        min_value=c.min_value,
        max_value=c.max_value,
        description=c.description,
        is_archived=bool(c.is_archived),
    )


def _config_from_dict(d: dict[str, Any]) -> ScoreConfig:
    return ScoreConfig(
        id=d["id"],
        name=d["name"],
        data_type=d["dataType"],
        categories=tuple((c["label"], float(c["value"])) for c in (d.get("categories") or ())),
        min_value=d.get("minValue"),
        max_value=d.get("maxValue"),
        description=d.get("description"),
        is_archived=bool(d.get("isArchived")),
    )


def _score_body(s: ScoreWrite) -> dict[str, Any]:
    """The JSON body of one score (SDK 5's ``CreateScoreRequest`` fields). Unset fields are left
    out: a field sent as null would erase the stored comment/metadata on a re-send, while an
    absent one keeps it (§8)."""
    body: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "value": s.value,
        "dataType": s.data_type,
        "source": s.source,
    }
    for key, value in (
        ("traceId", s.trace_id),
        ("observationId", s.observation_id),
        ("sessionId", s.session_id),
        ("comment", s.comment),
        ("configId", s.config_id),
        ("queueId", s.queue_id),
        ("environment", s.environment),
    ):
        if value is not None:
            body[key] = value
    if s.metadata:
        body["metadata"] = s.metadata
    if s.timestamp is not None:
        # Ignored by servers up to 4.16 (the first request's time wins, §8); kept for newer ones.
        body["timestamp"] = _iso(s.timestamp)
    return body


def _observation_from_row(row: Any, root_id: str | None) -> Observation:
    parent = row.parent_observation_id
    return Observation(
        id=row.id,
        trace_id=row.trace_id,
        type=row.type,
        name=row.name or "",
        start_time=_aware(row.start_time),
        # The root observation stands for the trace itself: its children are top-level.
        parent_id=None if not parent or parent == root_id else parent,
        end_time=_aware(row.end_time) if row.end_time else None,
        level=str(getattr(row.level, "value", row.level) or "DEFAULT"),
        status_message=_none_if_empty(row.status_message),
        model=_none_if_empty(getattr(row, "model", None)),
        input=parse_io(row.input),
        output=parse_io(row.output),
        metadata=dict(row.metadata or {}),
        usage=dict(row.usage_details or {}),
    )


def _trace_from_root(root: Any, observations: Sequence[Observation]) -> Trace:
    info = LangfuseSource._trace_info_from_root(root)
    return Trace(
        id=info.id,
        name=info.name,
        timestamp=info.timestamp,
        user_id=info.user_id,
        session_id=info.session_id,
        tags=info.tags,
        environment=info.environment,
        release=info.release,
        version=info.version,
        input=parse_io(root.input),
        output=parse_io(root.output),
        metadata=info.metadata or {},
        observations=tuple(observations),
    )


def _traces_from_rows(rows: Sequence[Any]) -> dict[str, Trace]:
    """Group v2 rows by trace: the root row is the trace, the others its observations (by start)."""
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.trace_id, []).append(row)
    out: dict[str, Trace] = {}
    for trace_id, members in grouped.items():
        roots = [r for r in members if r.is_root_observation]
        if not roots:
            continue
        root = roots[0]
        observations = sorted(
            (_observation_from_row(r, root.id) for r in members if r is not root),
            key=lambda o: (o.start_time, o.id),
        )
        out[trace_id] = _trace_from_root(root, observations)
    return out


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _observation_from_v1(d: dict[str, Any]) -> Observation:
    start = _parse_time(d.get("startTime"))
    assert start is not None
    return Observation(
        id=d["id"],
        trace_id=d.get("traceId") or "",
        type=d.get("type") or "SPAN",
        name=d.get("name") or "",
        start_time=start,
        parent_id=d.get("parentObservationId"),
        end_time=_parse_time(d.get("endTime")),
        level=d.get("level") or "DEFAULT",
        status_message=d.get("statusMessage"),
        model=d.get("model"),
        input=d.get("input"),
        output=d.get("output"),
        metadata=dict(d.get("metadata") or {}),
        usage=dict(d.get("usageDetails") or {}),
    )


def _trace_from_v1(d: dict[str, Any], *, with_observations: bool) -> Trace:
    observations: tuple[Observation, ...] = ()
    if with_observations:
        observations = tuple(
            sorted(
                (_observation_from_v1(o) for o in d.get("observations") or []),
                key=lambda o: (o.start_time, o.id),
            )
        )
    ts = _parse_time(d.get("timestamp"))
    assert ts is not None
    return Trace(
        id=d["id"],
        name=d.get("name") or "",
        timestamp=ts,
        user_id=d.get("userId"),
        session_id=d.get("sessionId"),
        tags=tuple(d.get("tags") or ()),
        environment=d.get("environment") or "default",
        release=d.get("release"),
        version=d.get("version"),
        input=d.get("input"),
        output=d.get("output"),
        metadata=dict(d.get("metadata") or {}),
        observations=observations,
    )
