"""The HTTP side of the Langfuse source: one SDK client, and the mapping of failures to our errors.

Every request goes through one ``langfuse.api.LangfuseAPI`` client (built directly, not through
``Langfuse(...)``, which shares one client per public key, so several servers can be used in one
process): its auth, base URL and HTTP connection pool. Bulk paths send requests through the same
client but read the raw JSON (:meth:`LangfuseHttp.request`, :meth:`LangfuseHttp.get_json`): the
SDK's typed models cost milliseconds per row.

Errors: 401/403 → :class:`~hitl_pipeline.errors.AuthError`, any other failure →
:class:`~hitl_pipeline.errors.SourceError` naming the host and what was being done, raised
``from None`` (the original exception carries request objects with the Authorization header).
Whatever the server said is quoted only after removing anything that looks like a credential (a
proxy or server may echo the Authorization header), and a 200 whose JSON is not what the endpoint
returns is an error naming the endpoint, not a crash.

**Every request** goes through :class:`GuardedTransport` under the client: it takes a slot of the
source's :class:`~hitl_pipeline.sources.budget.RequestBudget` (shared by reads, writes,
confirmations and the queue mirror; a reviewer's request first), tells it about 429s, and retries
*reads* (GET) that failed in transport, with 429 or with 5xx — up to ``READ_ATTEMPTS`` times within
``READ_RETRY_WAIT`` seconds, after the server's ``Retry-After`` or an exponential backoff with
jitter. Writes and deletes are sent once: the campaign outbox retries them (and reads them back).
The SDK's own retries are off, so there is one retry layer.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import httpx

from hitl_pipeline.errors import AuthError, SourceError
from hitl_pipeline.model import WriteResult
from hitl_pipeline.sources.budget import RequestBudget
from hitl_pipeline.sources.langfuse.sdk import ApiError, LangfuseAPI

if TYPE_CHECKING:
    from langfuse.api.core.request_options import RequestOptions

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Attempts of one read (GET) that fails in transport, with 429 or with 5xx.
READ_ATTEMPTS = 4
#: Longest a read waits between its attempts, in total (then its failure is reported).
READ_RETRY_WAIT = 10.0

# Things that look like credentials in text a server sent back: Basic/Bearer tokens, Langfuse keys,
# an Authorization header as JSON or as a header line.
_CREDENTIALS = re.compile(
    r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]{6,}"
    r"|\b[ps]k-lf-[A-Za-z0-9_-]+"
    r"|(authorization|x-langfuse-secret-key|secret[_-]?key|password)([\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?:basic|bearer)\s+)?[^\"',;\s}]+"
)


def _redact(match: re.Match[str]) -> str:
    if match.group(1):
        return f"{match.group(1)} [redacted]"
    if match.group(2):
        return f"{match.group(2)}{match.group(3)}[redacted]"
    return "[redacted]"


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with anything that looks like a credential (and the given ``secrets``) replaced by
    ``[redacted]``: what a server says is quoted only after this."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _CREDENTIALS.sub(_redact, text)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``Retry-After-Ms`` / ``Retry-After`` (seconds or an HTTP date), or None."""
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
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return max(0.0, (parsed - datetime.now(UTC)).total_seconds())


def server_message(body: Any) -> str:
    """The server's own words from an error body, without echoing anything we sent and without
    anything that looks like a credential (:func:`scrub`)."""
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("error") or "")
        details = body.get("error")
        if isinstance(details, list):
            parts = [str(d.get("message")) for d in details if isinstance(d, dict) and d.get("message")]
            if parts:
                message = f"{message}: {'; '.join(parts)}" if message else "; ".join(parts)
        text = message or json.dumps(body)
    elif isinstance(body, str):
        text = body
    else:
        text = "" if body is None else str(body)
    return scrub(text)[:300]


def _backoff(attempt: int, rng: random.Random) -> float:
    """0.25 s, 0.5 s, 1 s, … capped at 2 s, times a jitter factor in [0.5, 1.5)."""
    return min(2.0, 0.25 * 2.0**attempt) * (0.5 + rng.random())


class GuardedTransport(httpx.BaseTransport):
    """The transport under a source's client: the request budget for every request, bounded
    retries for reads (see the module docstring), and request counters (``counts``: method →
    requests sent, ``retries``: reads sent again)."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        budget: RequestBudget,
        *,
        attempts: int = READ_ATTEMPTS,
        max_wait: float = READ_RETRY_WAIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.budget = budget
        self.attempts = max(1, attempts)
        self.max_wait = max_wait
        self.sleep = sleep
        self.counts: Counter[str] = Counter()
        self.retries = 0
        self._rng = random.Random()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        is_read = request.method in ("GET", "HEAD")
        attempts = self.attempts if is_read else 1
        waited = 0.0
        for attempt in range(attempts):
            self.budget.acquire()
            with self._lock:
                self.counts[request.method] += 1
                self.retries += 1 if attempt else 0
            last = attempt + 1 >= attempts
            try:
                response = self.inner.handle_request(request)
            except httpx.TransportError:
                if last:
                    raise
                delay = _backoff(attempt, self._rng)
            else:
                status = response.status_code
                retry_after = _retry_after(response.headers) if status in (429, 503) else None
                if status == 429:
                    self.budget.throttled_by_server(retry_after, response.headers.get("x-ratelimit-limit"))
                if last or not (status == 429 or status >= 500):
                    return response
                if status == 429:
                    # The budget is paused for the Retry-After: the next acquire waits for it.
                    delay, pause = 0.0, (retry_after if retry_after else 1.0)
                else:
                    delay = retry_after or _backoff(attempt, self._rng)
                    pause = delay
                if waited + pause > self.max_wait:
                    return response  # the server asks for longer than a reviewer can wait
                response.close()
                waited += pause - delay
            delay = min(delay, max(0.0, self.max_wait - waited))
            log.debug("retrying %s %s in %.2fs", request.method, request.url.path, delay)
            if delay:
                self.sleep(delay)
            waited += delay
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self.inner.close()


def json_or_text(response: httpx.Response) -> Any:
    """The response body as JSON, or as text when it is not JSON (a proxy's error page)."""
    try:
        return response.json()
    except ValueError:
        return response.text


def api_error(response: httpx.Response) -> ApiError:
    """The SDK's :class:`ApiError` for an error response (status, headers and body)."""
    return ApiError(
        status_code=response.status_code, headers=dict(response.headers), body=json_or_text(response)
    )


class LangfuseHttp:
    """The SDK client of one Langfuse source, and the error mapping every request uses.

    Only the HTTP client holds the secret (as a callable, so it is not an attribute value that a
    debugger or a repr of the client's wrapper would show as plain text).
    """

    def __init__(
        self,
        *,
        base_url: str,
        public_key: str,
        secret_key: str,
        timeout: float,
        httpx_client: httpx.Client | None = None,
        budget: RequestBudget | None = None,
    ) -> None:
        self.host = base_url.rstrip("/")
        self.budget = budget or RequestBudget()
        self.transport = GuardedTransport(httpx.HTTPTransport(), self.budget)
        self._client = httpx_client or httpx.Client(
            timeout=timeout, follow_redirects=True, transport=self.transport
        )
        basic = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
        # A closure, not an attribute: the secret stays out of reprs and debuggers' views.
        self._scrub: Callable[[str], str] = lambda text: scrub(text, (secret_key, basic))
        self.api = LangfuseAPI(
            base_url=self.host,
            username=public_key,
            password=lambda: secret_key,
            x_langfuse_sdk_name="hitl-pipeline",
            x_langfuse_public_key=public_key,
            timeout=timeout,
            httpx_client=self._client,
        )
        # One retry layer: the transport's. The SDK would retry 429/5xx (any method) on top.
        wrapper = self.api._client_wrapper.httpx_client
        sdk_request = wrapper.request

        def request_without_sdk_retries(*args: Any, request_options: Any = None, **kwargs: Any) -> Any:
            options = cast("RequestOptions", {**(request_options or {}), "max_retries": 0})
            return sdk_request(*args, request_options=options, **kwargs)

        wrapper.request = request_without_sdk_retries  # type: ignore[method-assign]

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ errors

    def auth_error(self, status: int = 401, body: Any = None) -> AuthError:
        """401/403. The server's JSON message is kept: a 403 may also mean ingestion is suspended
        (usage limit). A proxy's HTML page is not quoted."""
        said = self._scrub(server_message(body)) if isinstance(body, dict) else ""
        return AuthError(
            f"Langfuse rejected the credentials for {self.host} ({status}{': ' + said if said else ''}): "
            "check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY"
        )

    def fail(self, what: str, exc: Exception) -> NoReturn:
        """Turn an SDK/HTTP failure into our error tree. ``from None``: the original exception
        carries request objects (with the Authorization header) that must not reach a traceback."""
        if isinstance(exc, ApiError):
            if exc.status_code in (401, 403):
                raise self.auth_error(exc.status_code, exc.body) from None
            if exc.status_code is not None and exc.status_code < 300:  # the SDK could not parse a 200
                said = self._scrub(str(exc.body))[:120]
                raise self.unexpected(
                    what, "SDK call", f"not the JSON this endpoint returns ({said!r})"
                ) from None
            message = self._scrub(server_message(exc.body))
            raise SourceError(
                f"Langfuse at {self.host} answered {exc.status_code} to {what}: {message}"
            ) from None
        if isinstance(exc, httpx.HTTPError):
            raise SourceError(
                f"cannot reach Langfuse at {self.host} ({what}): {type(exc).__name__}: "
                f"{self._scrub(str(exc))}; check LANGFUSE_BASE_URL and that the server is up"
            ) from None
        raise exc

    def unexpected(self, what: str, endpoint: str, problem: str) -> SourceError:
        """A 200 whose body is not what the endpoint returns (a proxy, an incompatible server)."""
        return SourceError(
            f"Langfuse at {self.host} gave an unexpected answer to {what} ({endpoint}): {problem}; "
            "is LANGFUSE_BASE_URL a Langfuse server (not a proxy or login page)?"
        )

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` (an SDK call), its failures mapped by :meth:`fail`; an answer the SDK cannot
        parse (not JSON, or not the shape the endpoint returns) is a :class:`SourceError`."""
        try:
            return fn()
        except (ApiError, httpx.HTTPError) as exc:
            self.fail(what, exc)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # pydantic and JSON errors
            raise self.unexpected(
                what, "SDK call", self._scrub(f"{type(exc).__name__}: {exc}")[:300]
            ) from None

    def exists(self, what: str, fn: Callable[[], Any]) -> bool:
        """Whether ``fn()`` (an SDK call) succeeds: False on 404, other failures raised."""
        try:
            fn()
        except ApiError as exc:
            if exc.status_code == 404:
                return False
            self.fail(what, exc)
        except httpx.HTTPError as exc:
            self.fail(what, exc)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise self.unexpected(
                what, "SDK call", self._scrub(f"{type(exc).__name__}: {exc}")[:300]
            ) from None
        return True

    def write_failure(self, score_id: str, exc: Exception) -> WriteResult:
        """The result of a failed score write or delete: 408/409/429/5xx and transport errors are
        retryable (with ``retry_after``), other 4xx not; 401/403 raise :class:`AuthError`."""
        if isinstance(exc, ApiError):
            status = exc.status_code or 0
            if status in (401, 403):
                raise self.auth_error(status, exc.body) from None
            message = f"Langfuse answered {status}: {self._scrub(server_message(exc.body))}"
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
            # Refused or never connected: nothing was sent. Anything else may have been processed.
            maybe_stored=not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout),
        )

    # ------------------------------------------------------------------ raw requests

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        retries: int = 0,
    ) -> httpx.Response:
        """A request through the SDK's HTTP client (same base URL and auth). Reads are retried by
        the transport; ``retries`` (SDK retries on 429/5xx) is for callers that want more."""
        return self.api._client_wrapper.httpx_client.request(
            path, method=method, params=params, json=json_body, request_options={"max_retries": retries}
        )

    def get_json(self, what: str, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """``GET path`` as a JSON object; any failure raised by :meth:`fail`, an answer that is not
        a JSON object by :meth:`unexpected`."""
        try:
            response = self.request("GET", path, params=params)
        except httpx.HTTPError as exc:
            self.fail(what, exc)
        if response.status_code >= 400:
            self.fail(what, api_error(response))
        try:
            body = response.json()
        except ValueError:
            raise self.unexpected(what, f"GET {path}", "the answer is not JSON") from None
        if not isinstance(body, dict):
            raise self.unexpected(what, f"GET {path}", f"expected a JSON object, got {type(body).__name__}")
        return body

    def _rows(
        self, what: str, path: str, body: dict[str, Any], convert: Callable[[dict[str, Any]], T]
    ) -> list[T]:
        data = body.get("data")
        if data is None:
            data = []
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise self.unexpected(what, f"GET {path}", "'data' is not a list of objects")
        try:
            return [convert(d) for d in data]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self.unexpected(
                what, f"GET {path}", f"a row lacks or mangles a field ({type(exc).__name__}: {exc})"
            ) from None

    def cursor_pages(
        self,
        what: str,
        path: str,
        base: dict[str, Any],
        convert: Callable[[dict[str, Any]], T] = lambda d: d,  # type: ignore[assignment,return-value]
    ) -> Iterator[T]:
        """Every row of a cursor-paginated GET (``meta.cursor`` missing = last page), converted by
        ``convert`` (a row it cannot convert is an unexpected answer)."""
        cursor: str | None = None
        while True:
            query = {**base, "cursor": cursor} if cursor else base
            page = self.get_json(what, path, query)
            rows = self._rows(what, path, page, convert)
            yield from rows
            meta = page.get("meta")
            cursor = meta.get("cursor") if isinstance(meta, dict) else None
            if not cursor or not rows:
                return

    def numbered_pages(
        self,
        what: str,
        path: str,
        params: dict[str, Any],
        limit: int,
        convert: Callable[[dict[str, Any]], T] = lambda d: d,  # type: ignore[assignment,return-value]
    ) -> Iterator[T]:
        """Every row of a page-numbered GET (the legacy readers: ``page``, ``meta.totalPages``)."""
        page = 1
        while True:
            body = self.get_json(what, path, {**params, "page": page, "limit": limit})
            yield from self._rows(what, path, body, convert)
            meta = body.get("meta")
            try:
                total = int((meta.get("totalPages") if isinstance(meta, dict) else 0) or 0)
            except (TypeError, ValueError):
                raise self.unexpected(what, f"GET {path}", "meta.totalPages is not a number") from None
            if page >= total:
                return
            page += 1
