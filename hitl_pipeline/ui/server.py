"""Serve the review form: FastAPI + Content-Security-Policy + the mounted Gradio app, run by uvicorn.

:func:`serve` refuses to bind a non-loopback address without authentication, turns Gradio's
monitoring dashboard and run history off, and returns a :class:`ServerHandle` (URL, ``close()``).
Telemetry and version checks are off because :mod:`hitl_pipeline.ui` sets the environment before
gradio is imported.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import math
import re
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio

import hitl_pipeline.ui  # noqa: F401  (telemetry off before gradio loads)

import gradio as gr  # noqa: E402  isort: skip
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from gradio.routes import App as GradioApp  # noqa: E402
from starlette.datastructures import Headers  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.routing import Mount  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from hitl_pipeline.campaign.types import ReviewService  # noqa: E402
from hitl_pipeline.errors import ConfigError  # noqa: E402
from hitl_pipeline.spec.model import ReviewSpec  # noqa: E402
from hitl_pipeline.ui.access import check_binding, default_reviewer_name  # noqa: E402
from hitl_pipeline.ui.app import build_app  # noqa: E402
from hitl_pipeline.ui.auth import (  # noqa: E402
    LoginThrottle,
    ReviewerAccounts,
    SessionStore,
    TabOwners,
    header_identity,
)
from hitl_pipeline.ui.shortcuts import CSS, HEAD  # noqa: E402

#: Sent with every response. Gradio needs inline scripts/styles and ``eval`` (event ``js=``
#: strings become functions); everything is same-origin, and nothing remote may load: LLM output
#: with ``![](http://tracker/…)`` or ``<img src=http://…>`` must not make the reviewer's browser call out.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'none'",
        "child-src 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

#: Ports tried when none is given (Gradio's range).
DEFAULT_PORTS = range(7860, 7960)

Identity = Callable[[Any], str | None | Awaitable[str | None]]


def _free_port(host: str, port: int | None) -> int:
    """``port`` if it can be bound on ``host``; with None the first free of 7860–7959, else any free one.

    Only probes: uvicorn binds the port itself (given a pre-bound socket instead, responses were
    measurably slower: ~40 ms of Nagle / delayed-ACK per event stream on Linux).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    candidates = [port] if port is not None else [*DEFAULT_PORTS, 0]
    last: OSError | None = None
    for p in candidates:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # As uvicorn binds: connections of a server that just stopped (TIME_WAIT, ~60 s) must
            # not make the probe refuse a port the server itself could bind.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, p))
            except OSError as exc:
                last = exc
                continue
            return int(sock.getsockname()[1])
    where = (
        f"{host}:{port}"
        if port is not None
        else f"{host} (ports {DEFAULT_PORTS.start}–{DEFAULT_PORTS.stop - 1})"
    )
    raise ConfigError(f"cannot listen on {where}: {last}. Choose another port with --port.")


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` wraps
    every response body in an extra task and queue, which slows Gradio's event streams (SSE).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()
        ]
        self.names = {k for k, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.names]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: The largest request body accepted (the form sends answers of at most a few KB and no files).
MAX_BODY_BYTES = 1024 * 1024
#: Gradio routes that take files or media streams: the form has none, so they are refused.
_UPLOAD_PATHS = ("/gradio_api/upload", "/gradio_api/upload_progress", "/gradio_api/process_recording")
_UPLOAD_PREFIXES = ("/gradio_api/stream/",)
#: Routes whose JSON body names the tab (``session_hash``) and, for /cancel, an event.
_TAB_BODY = re.compile(r"^/gradio_api/(queue/join|cancel|(call|call/v2|run|api)/[^/]+)/?$")
#: Routes whose path names the tab or the event.
_TAB_PATH = re.compile(r"^/gradio_api/(heartbeat/(?P<tab>[^/]+)|call(/v2)?/[^/]+/(?P<event>[^/]+))/?$")
#: Routes that answer with a new event id (bound to the login that created it).
_NEW_EVENT = re.compile(r"^/gradio_api/(queue/join|(call|call/v2)/[^/]+)/?$")
#: The API description Gradio writes into every page, also the login page (labels and choices of
#: every question): replaced by ``null`` until the visitor is logged in.
_API_INFO = re.compile(rb"<script>window\.gradio_api_info = .*?;</script>", re.S)
#: Shows why a login was refused when it is not a wrong password (Gradio's page only knows 400).
_LOGIN_NOTICE = rb"""<script>(() => {
  const send = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const response = await send(input, init);
    const url = String(input && input.url ? input.url : input);
    if (/\/login\/?$/.test(url) && (response.status === 429 || response.status === 403)) {
      const body = await response.clone().json().catch(() => ({}));
      let box = document.getElementById("hitl-login-notice");
      if (!box) {
        box = document.createElement("p");
        box.id = "hitl-login-notice";
        box.setAttribute("role", "alert");
        box.style.cssText = "max-width:480px;margin:1em auto;padding:.6em;border:1px solid #c00;color:#c00";
        document.body.prepend(box);
      }
      box.textContent = String(body.detail || "Login refused.");
    }
    return response;
  };
})();</script>"""


def _json_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _same_origin(origin: str, headers: Headers) -> bool:
    """Whether a browser's Origin is this server as the browser addressed it (Host, or the Host a
    proxy in front received: X-Forwarded-Host). A cross-site page cannot set either header."""
    parsed = urlsplit(origin)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False
    hosts = {headers.get("host", "")}
    hosts.update(h.strip() for h in headers.get("x-forwarded-host", "").split(",") if h.strip())
    default = {"http": ":80", "https": ":443"}[parsed.scheme]
    wanted = parsed.netloc.lower().removesuffix(default)
    return any(h.lower().removesuffix(default) == wanted for h in hosts if h)


class _BodyTooLarge(Exception):
    pass


class AccessGuard:
    """ASGI middleware: who may reach what, before Gradio sees the request.

    * request bodies over :data:`MAX_BODY_BYTES` are refused (413), and upload/stream routes (403);
    * ``POST /login``: a browser's ``Origin`` must be this server (login CSRF), and failed logins
      are throttled per account and per client address (429 with the wait, before any password
      check);
    * a tab (Gradio ``session_hash``) and each event belong to the login that used them first:
      another login presenting them is refused (403), so nobody acts in or reads another's tab;
    * until the visitor is logged in, pages carry no API description (question labels, choices).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        user_of: Callable[[Scope], str | None],
        ended: Callable[[Scope], str | None] = lambda scope: None,
        throttle: LoginThrottle | None = None,
        tabs: TabOwners | None = None,
        login_page: bool = False,
    ) -> None:
        self.app = app
        self.user_of = user_of
        self.ended = ended
        self.throttle = throttle
        self.tabs = tabs
        self.login_page = login_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _json_response(413, f"request body over {MAX_BODY_BYTES // 1024} KB")(scope, receive, send)
            return
        if path in _UPLOAD_PATHS or path.startswith(_UPLOAD_PREFIXES):
            await _json_response(403, "uploads are off: this review form takes no files")(
                scope, receive, send
            )
            return
        try:
            if method == "POST" and path.rstrip("/") == "/login":
                await self._login(scope, receive, send, headers)
                return
            user = self.user_of(scope)
            # An API call with a session ended by an account change is told why (a page or
            # asset is served as to anyone logged out: the login page, to log in again).
            api = path.startswith("/gradio_api/") or path.rstrip("/") == "/config"
            why = self.ended(scope) if user is None and api else None
            if why is not None:
                await _json_response(401, why)(scope, receive, send)
                return
            if user is not None and self.tabs is not None and path.startswith("/gradio_api/"):
                await self._tab(scope, receive, send, user)
                return
            if user is None and self.login_page and method in ("GET", "HEAD") and path == "/":
                await self._page_before_login(scope, receive, send)
                return
            await self.app(scope, _capped(receive), send)
        except _BodyTooLarge:
            await _json_response(413, f"request body over {MAX_BODY_BYTES // 1024} KB")(scope, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        origin = headers.get("origin")
        fetch_site = headers.get("sec-fetch-site", "")
        if (origin is not None and not _same_origin(origin, headers)) or fetch_site == "cross-site":
            await _json_response(403, "login refused: the form was sent from another site")(
                scope, receive, send
            )
            return
        body = await _read_body(receive)
        name = ""
        if self.throttle is not None:
            try:
                form = await Request(scope, _replay(body, receive)).form()
                name = str(form.get("username") or "").strip()
                await form.close()
            except Exception:  # a malformed form: Gradio answers it; throttled by address only
                name = ""
        address = (scope.get("client") or ("unknown", 0))[0]
        throttle = self.throttle
        if throttle is not None:
            wait, what = throttle.wait(name, address)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                who = "this account" if what == "account" else "this address"
                await _json_response(
                    429,
                    f"Too many failed logins for {who}: try again in {seconds} s.",
                    {"Retry-After": str(seconds)},
                )(scope, receive, send)
                return

        async def send_and_count(message: Message) -> None:
            if throttle is not None and message["type"] == "http.response.start":
                if message["status"] == 200:
                    throttle.succeeded(name, address)
                elif message["status"] == 400:
                    throttle.failed(name, address)
            await send(message)

        await self.app(scope, _replay(body, receive), send_and_count)

    async def _tab(self, scope: Scope, receive: Receive, send: Send, user: str) -> None:
        assert self.tabs is not None
        path: str = scope["path"]
        keys: list[str] = []
        match = _TAB_PATH.match(path) if scope["method"] == "GET" else None
        if match:
            keys.extend(k for k in (match.group("tab"), match.group("event")) if k)
        if path.rstrip("/") == "/gradio_api/queue/data":
            keys.extend(
                v
                for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
                if k == "session_hash"
            )
        replay = receive
        if scope["method"] == "POST" and _TAB_BODY.match(path):
            body = await _read_body(receive)
            replay = _replay(body, receive)
            try:
                data = json.loads(body) if body else None
            except ValueError:
                data = None
            if isinstance(data, dict):
                keys.extend(
                    str(data[k]) for k in ("session_hash", "event_id") if isinstance(data.get(k), str)
                )
        else:
            replay = _capped(receive)
        if not all(self.tabs.claim(f"tab:{k}", user) for k in keys):
            await _json_response(403, "this tab belongs to another login: reload the form to open your own")(
                scope, receive, send
            )
            return
        if scope["method"] != "POST" or not _NEW_EVENT.match(path):
            await self.app(scope, replay, send)
            return

        # Bind the new event id to this login before the client learns it.
        def bind_event(body: bytes) -> bytes:
            try:
                event_id = json.loads(body).get("event_id")
            except (ValueError, AttributeError):
                event_id = None
            if isinstance(event_id, str) and self.tabs is not None:
                self.tabs.claim(f"tab:{event_id}", user)
            return body

        send_binding_event = _whole_body(scope, send, bind_event)
        await self.app(scope, replay, send_binding_event)

    async def _page_before_login(self, scope: Scope, receive: Receive, send: Send) -> None:
        def without_api_info(body: bytes) -> bytes:
            body = _API_INFO.sub(b"<script>window.gradio_api_info = null;</script>", body)
            return body.replace(b"</head>", _LOGIN_NOTICE + b"</head>", 1)

        send_without_api_info = _whole_body(scope, send, without_api_info)
        await self.app(scope, receive, send_without_api_info)


def _whole_body(scope: Scope, send: Send, transform: Callable[[bytes], bytes]) -> Send:
    """A ``send`` that holds the response until its whole body is read, passes the body through
    ``transform`` and sends it in one message with its length."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def send_whole(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = transform(b"".join(chunks))
            assert start is not None
            kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            length = str(len(body)).encode() if scope["method"] != "HEAD" else None
            await send({**start, "headers": kept + ([(b"content-length", length)] if length else [])})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send(message)

    return send_whole


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _capped(receive: Receive) -> Receive:
    """``receive`` that refuses a streamed body growing over :data:`MAX_BODY_BYTES`."""
    size = 0

    async def capped() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > MAX_BODY_BYTES:
                raise _BodyTooLarge
        return message

    return capped


#: Password checks running at once (each scrypt check takes ~16 MB and a core for ~50–100 ms).
LOGIN_CHECKS = 4


def off_the_event_loop(check: Callable[[str, str], bool]) -> Callable[[str, str], Awaitable[bool]]:
    """``check`` as a coroutine that runs it in a worker thread, :data:`LOGIN_CHECKS` at a time.

    Gradio's ``/login`` calls a plain ``auth`` callable directly on the event loop, and a scrypt
    check takes ~50–100 ms: every login attempt would stall every reviewer's requests and event
    streams (a few wrong guesses a second would freeze the form). Gradio awaits a coroutine
    function. The limit keeps a burst of attempts from taking every worker thread and its memory.
    """
    limiter = anyio.CapacityLimiter(LOGIN_CHECKS)

    async def login_check(name: str, password: str) -> bool:
        return bool(await anyio.to_thread.run_sync(check, name, password, limiter=limiter))

    return login_check


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_server(server: uvicorn.Server, loops: list[asyncio.AbstractEventLoop]) -> None:
    """``server.run()``, keeping its event loop in ``loops`` (to find the loop's worker threads)."""
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        loops.append(runner.get_loop())
        runner.run(server.serve())


def _worker_threads(loop: asyncio.AbstractEventLoop) -> list[threading.Thread]:
    """The worker threads that ran the form's handlers for ``loop`` (anyio's threads keep their loop)."""
    return [t for t in threading.enumerate() if getattr(t, "loop", None) is loop]


@dataclass
class ServerHandle:
    """A running review server. ``close()`` stops it (idempotent); ``wait()`` blocks until Ctrl+C."""

    url: str
    host: str
    port: int
    app: FastAPI
    blocks: gr.Blocks
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _loops: list[asyncio.AbstractEventLoop] = field(default_factory=list, repr=False)

    def wait(self) -> None:
        """Block until the server stops; Ctrl+C or SIGTERM (a service manager's stop) stops it cleanly."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self.close()

    def close(self) -> None:
        """Stop accepting requests, finish the ones in flight (briefly) and stop the server's threads.

        The handlers run in anyio worker threads, which are daemon threads (the server thread is
        one) and outlive the event loop: anyio only tells them to stop when the loop ends. They are
        joined here, so a handler in flight finishes before the campaign closes, and no worker
        thread is still inside native code when the interpreter finalizes: a daemon thread that
        wakes up then is ended with ``pthread_exit``, whose unwinding through C++ frames (numpy's
        ``np.unique``, called by Gradio's queue analytics) aborted ``hitl run`` at exit with
        "terminate called without an active exception".
        """
        self._server.should_exit = True
        # Open event streams (browsers, gradio_client heartbeats) are cancelled at shutdown by
        # design; uvicorn would log each as an ERROR with a traceback, which is only noise. The
        # level comes back afterwards: other servers in this process keep their error log.
        log = logging.getLogger("uvicorn.error")
        level = log.level
        log.setLevel(logging.CRITICAL)
        try:
            if self._thread.is_alive():
                self._thread.join(10)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(5)
            deadline = time.monotonic() + 10
            for loop in self._loops:
                for worker in _worker_threads(loop):
                    worker.join(max(0.0, deadline - time.monotonic()))
        finally:
            log.setLevel(level)


def create_app(
    service: ReviewService,
    spec: ReviewSpec,
    *,
    auth: ReviewerAccounts | Callable[[str, str], bool] | None = None,
    auth_header: str | None = None,
    reviewer: str | None = None,
    login_throttle: LoginThrottle | None = None,
) -> tuple[FastAPI, gr.Blocks]:
    """The FastAPI app (security headers, access guard, the mounted form) without starting a server.

    ``login_throttle``: the failed-login policy (default: :class:`LoginThrottle`'s).
    """
    if auth is not None and auth_header is not None:
        raise ConfigError("use either reviewer accounts (password login) or --auth-header, not both")
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    _add_healthz(app, service)
    authenticated = auth is not None or auth_header is not None
    may_review, sessions = _login_sessions(auth)
    blocks = build_app(
        service,
        spec,
        reviewer=None if authenticated else (reviewer or default_reviewer_name()),
        show_logout=auth is not None,
        may_review=may_review,
    )
    proxy_identity = header_identity(auth_header) if auth_header else None
    _add_guards(
        app,
        user_of=_user_of(sessions, proxy_identity),
        ended=_ended_session(sessions),
        throttle=(login_throttle or LoginThrottle()) if auth is not None else None,
        tabs=TabOwners() if authenticated else None,
        login_page=auth is not None,
    )
    _mount_form(app, blocks, spec, auth, proxy_identity)
    if sessions is not None:
        _back_tokens_by_sessions(app, sessions, auth)
    return app, blocks


def _add_guards(
    app: FastAPI,
    *,
    user_of: Callable[[Scope], str | None],
    ended: Callable[[Scope], str | None],
    throttle: LoginThrottle | None,
    tabs: TabOwners | None,
    login_page: bool,
) -> None:
    """The access guard, then the security headers around it."""
    app.add_middleware(
        AccessGuard, user_of=user_of, ended=ended, throttle=throttle, tabs=tabs, login_page=login_page
    )
    app.add_middleware(SecurityHeaders)  # added last: outermost, so the guard's answers carry them too


def _add_healthz(app: FastAPI, service: ReviewService) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """For load balancers (no login needed, nothing about the campaign): 200 when the process,
        the state database and the source answer, else 503 naming what failed."""
        checks = service.health()
        ok = all(v == "ok" for k, v in checks.items() if k in ("state", "source"))
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503
        )


def _login_sessions(
    auth: ReviewerAccounts | Callable[[str, str], bool] | None,
) -> tuple[Callable[[str], bool] | None, SessionStore | None]:
    """Who may review (None: anyone logged in) and the login session store, for an ``auth`` kind."""
    if isinstance(auth, ReviewerAccounts):
        # A removed account loses access at its next request, and a replaced password ends its sessions.
        return auth.__contains__, auth.session_store()
    if auth is not None:
        return None, SessionStore(lambda name: "")
    return None, None


def _mount_form(
    app: FastAPI,
    blocks: gr.Blocks,
    spec: ReviewSpec,
    auth: ReviewerAccounts | Callable[[str, str], bool] | None,
    identity: Identity | None,
) -> None:
    """Mount the Gradio form at ``/`` with its login page (``auth``) or proxy identity."""
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth=off_the_event_loop(auth) if auth is not None else None,
        # Gradio renders auth_message as HTML: escape the title.
        auth_message=f"Log in to review: {html.escape(spec.title)}" if auth is not None else None,
        auth_dependency=identity,
        enable_monitoring=False,
        run_history=False,
        footer_links=["api"],
        show_error=False,
        head=HEAD,
        css=CSS,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
    )


def _back_tokens_by_sessions(
    app: FastAPI, sessions: SessionStore, auth: ReviewerAccounts | Callable[[str, str], bool] | None
) -> None:
    """Make the mounted Gradio app keep its login tokens in ``sessions`` (and, for accounts in the
    database, read the cookie every server shares)."""
    gradio_app = next(r.app for r in app.routes if isinstance(r, Mount) and isinstance(r.app, GradioApp))
    assert isinstance(gradio_app, GradioApp)
    gradio_app.tokens = _GradioTokens(sessions)
    shared = auth.cookie_name() if isinstance(auth, ReviewerAccounts) else None
    if shared is not None:  # sessions in the database: every server reads the same cookie
        gradio_app.cookie_id = shared


class _GradioTokens(dict[str, str]):
    """Gradio's login token table (``app.tokens``, a dict it reads and writes) backed by a
    :class:`SessionStore`, so that a token whose account was removed or whose password was
    replaced stops working everywhere Gradio checks it (pages, /config, API calls, streams)."""

    def __init__(self, sessions: SessionStore) -> None:
        super().__init__()
        self.sessions = sessions

    def __setitem__(self, token: str, name: str) -> None:
        self.sessions.open(name, token)

    def get(self, token: object, default: Any = None) -> Any:
        user = self.sessions.user(token) if isinstance(token, str) else None
        return default if user is None else user

    def __getitem__(self, token: str) -> Any:
        return self.get(token)  # None for a token ended meanwhile (Gradio's logout loop compares)

    def __contains__(self, token: object) -> bool:
        return self.get(token) is not None

    def __delitem__(self, token: str) -> None:
        self.sessions.revoke(token)

    def keys(self) -> Any:
        return self.sessions.tokens()

    def __iter__(self) -> Any:
        return iter(self.sessions.tokens())

    def __len__(self) -> int:
        return len(self.sessions.tokens())


def _session_tokens(scope: Scope) -> list[str]:
    return [v for k, v in Request(scope).cookies.items() if k.startswith("access-token-")]


def _ended_session(sessions: SessionStore | None) -> Callable[[Scope], str | None]:
    """Why the login session in a request's cookie was ended by an account change, if it was."""

    def ended(scope: Scope) -> str | None:
        if sessions is None:
            return None
        return next((w for w in map(sessions.ended, _session_tokens(scope)) if w), None)

    return ended


def _user_of(
    sessions: SessionStore | None, identity: Callable[[Any], str | None] | None
) -> Callable[[Scope], str | None]:
    """Who sent a request: the live login session in its cookie, or the trusted proxy header."""

    def user_of(scope: Scope) -> str | None:
        if identity is not None:
            return identity(Request(scope))
        if sessions is None:
            return None
        return next((u for u in map(sessions.user, _session_tokens(scope)) if u), None)

    return user_of


def serve(
    service: ReviewService,
    spec: ReviewSpec | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    auth: ReviewerAccounts | Callable[[str, str], bool] | None = None,
    auth_header: str | None = None,
    reviewer: str | None = None,
    block: bool = True,
    login_throttle: LoginThrottle | None = None,
) -> ServerHandle:
    """Serve the review form for ``service`` and return its handle.

    Args:
        host: interface to bind; anything but loopback requires ``auth`` or ``auth_header``.
        port: port to bind; None tries 7860–7959, then any free port.
        auth: reviewer accounts (or any ``(name, password) -> bool``) for the login page.
        auth_header: trusted reverse-proxy header carrying the reviewer name (e.g. ``X-Forwarded-User``).
        reviewer: identity without auth (loopback only); default: the OS user name.
        block: wait until Ctrl+C, then shut down and return the (closed) handle.
        login_throttle: the failed-login policy with ``auth`` (default: :class:`LoginThrottle`'s).

    Raises:
        ConfigError: non-loopback bind without auth, both auth kinds, or the port is taken.
    """
    spec = spec or service.spec
    check_binding(host, authenticated=auth is not None or auth_header is not None)
    app, blocks = create_app(
        service, spec, auth=auth, auth_header=auth_header, reviewer=reviewer, login_throttle=login_throttle
    )
    bound_port = _free_port(host, port)
    config = uvicorn.Config(
        app,
        host=host,
        port=bound_port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []
    thread = threading.Thread(
        target=_run_server, args=(server, loops), name="hitl-review-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(
                f"the review server did not start on {host}:{bound_port} (taken meanwhile?): try again or use --port"
            )
        time.sleep(0.02)
    shown_host = f"[{host}]" if ":" in host else host
    handle = ServerHandle(
        f"http://{shown_host}:{bound_port}/", host, bound_port, app, blocks, server, thread, loops
    )
    if block:
        handle.wait()
    return handle
