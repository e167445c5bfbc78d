"""The HTTP side of the Langfuse source: one SDK client, and the mapping of failures to our errors.

Every request goes through one ``langfuse.api.LangfuseAPI`` client (built directly, not through
``Langfuse(...)``, which shares one client per public key, so several servers can be used in one
process): its auth, base URL and HTTP connection pool. Bulk paths send requests through the same
client but read the raw JSON (:meth:`LangfuseHttp.request`, :meth:`LangfuseHttp.get_json`): the
SDK's typed models cost milliseconds per row.

Errors: 401/403 → :class:`~hitl_pipeline.errors.AuthError`, any other failure →
:class:`~hitl_pipeline.errors.SourceError` naming the host and what was being done, raised
``from None`` (the original exception carries request objects with the Authorization header).
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import httpx
from langfuse.api import LangfuseAPI
from langfuse.api.core.api_error import ApiError

from hitl_pipeline.errors import AuthError, SourceError
from hitl_pipeline.model import WriteResult

T = TypeVar("T")


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
    ) -> None:
        self.host = base_url.rstrip("/")
        self._client = httpx_client or httpx.Client(timeout=timeout, follow_redirects=True)
        self.api = LangfuseAPI(
            base_url=self.host,
            username=public_key,
            password=lambda: secret_key,
            x_langfuse_sdk_name="hitl-pipeline",
            x_langfuse_public_key=public_key,
            timeout=timeout,
            httpx_client=self._client,
        )

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ errors

    def auth_error(self, status: int = 401, body: Any = None) -> AuthError:
        """401/403. The server's JSON message is kept: a 403 may also mean ingestion is suspended
        (usage limit). A proxy's HTML page is not quoted."""
        said = server_message(body) if isinstance(body, dict) else ""
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
            message = server_message(exc.body)
            raise SourceError(
                f"Langfuse at {self.host} answered {exc.status_code} to {what}: {message}"
            ) from None
        if isinstance(exc, httpx.HTTPError):
            raise SourceError(
                f"cannot reach Langfuse at {self.host} ({what}): {type(exc).__name__}: {exc}; "
                "check LANGFUSE_BASE_URL and that the server is up"
            ) from None
        raise exc

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` (an SDK call), its failures mapped by :meth:`fail`."""
        try:
            return fn()
        except (ApiError, httpx.HTTPError) as exc:
            self.fail(what, exc)

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
        return True

    def write_failure(self, score_id: str, exc: Exception) -> WriteResult:
        """The result of a failed score write or delete: 408/409/429/5xx and transport errors are
        retryable (with ``retry_after``), other 4xx not; 401/403 raise :class:`AuthError`."""
        if isinstance(exc, ApiError):
            status = exc.status_code or 0
            if status in (401, 403):
                raise self.auth_error(status, exc.body) from None
            message = f"Langfuse answered {status}: {server_message(exc.body)}"
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

    # ------------------------------------------------------------------ raw requests

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        retries: int = 2,
    ) -> httpx.Response:
        """A request through the SDK's HTTP client (same base URL, auth and retry policy)."""
        return self.api._client_wrapper.httpx_client.request(
            path, method=method, params=params, json=json_body, request_options={"max_retries": retries}
        )

    def get_json(self, what: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """``GET path`` as JSON; any failure raised by :meth:`fail`."""
        try:
            response = self.request("GET", path, params=params)
        except httpx.HTTPError as exc:
            self.fail(what, exc)
        if response.status_code >= 400:
            self.fail(what, api_error(response))
        return response.json()

    def cursor_pages(self, what: str, path: str, base: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every row of a cursor-paginated GET (``meta.cursor`` missing = last page)."""
        cursor: str | None = None
        while True:
            query = {**base, "cursor": cursor} if cursor else base
            page = self.get_json(what, path, query)
            data = page.get("data") or []
            yield from data
            cursor = (page.get("meta") or {}).get("cursor")
            if not cursor or not data:
                return

    def numbered_pages(
        self, what: str, path: str, params: dict[str, Any], limit: int
    ) -> Iterator[dict[str, Any]]:
        """Every row of a page-numbered GET (the legacy readers: ``page``, ``meta.totalPages``)."""
        page = 1
        while True:
            body = self.get_json(what, path, {**params, "page": page, "limit": limit})
            yield from body.get("data", [])
            meta = body.get("meta") or {}
            if page >= int(meta.get("totalPages") or 0):
                return
            page += 1
