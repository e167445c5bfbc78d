"""Serve the review form: FastAPI + Content-Security-Policy + the mounted Gradio app, run by uvicorn.

:func:`serve` refuses to bind a non-loopback address without authentication, turns Gradio's
monitoring dashboard and run history off, and returns a :class:`ServerHandle` (URL, ``close()``).
Telemetry and version checks are off because :mod:`hitl_pipeline.ui` sets the environment before
gradio is imported.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

import hitl_pipeline.ui  # noqa: F401  (telemetry off before gradio loads)

import gradio as gr  # noqa: E402  isort: skip
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from hitl_pipeline.campaign.types import ReviewService  # noqa: E402
from hitl_pipeline.errors import ConfigError  # noqa: E402
from hitl_pipeline.spec.model import ReviewSpec  # noqa: E402
from hitl_pipeline.ui.app import build_app, default_reviewer_name  # noqa: E402
from hitl_pipeline.ui.auth import ReviewerAccounts, header_identity  # noqa: E402
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


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, *, authenticated: bool) -> None:
    """Refuse a non-loopback address without authentication (ConfigError saying how to fix it)."""
    if not is_loopback(host) and not authenticated:
        raise ConfigError(
            f"refusing to serve on {host} without authentication: anyone on the network could write scores. "
            "Add reviewer accounts (hitl reviewers add NAME) or use --auth-header behind a trusted proxy, "
            "or bind to 127.0.0.1."
        )


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
) -> tuple[FastAPI, gr.Blocks]:
    """The FastAPI app (security headers + the mounted form) without starting a server."""
    if auth is not None and auth_header is not None:
        raise ConfigError("use either reviewer accounts (password login) or --auth-header, not both")
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    app.add_middleware(SecurityHeaders)

    authenticated = auth is not None or auth_header is not None
    may_review: Callable[[str], bool] | None = None
    if isinstance(auth, ReviewerAccounts):
        may_review = auth.__contains__  # a removed account loses access at its next request
    blocks = build_app(
        service,
        spec,
        reviewer=None if authenticated else (reviewer or default_reviewer_name()),
        show_logout=auth is not None,
        may_review=may_review,
    )
    identity: Identity | None = header_identity(auth_header) if auth_header else None
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
    return app, blocks


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
) -> ServerHandle:
    """Serve the review form for ``service`` and return its handle.

    Args:
        host: interface to bind; anything but loopback requires ``auth`` or ``auth_header``.
        port: port to bind; None tries 7860–7959, then any free port.
        auth: reviewer accounts (or any ``(name, password) -> bool``) for the login page.
        auth_header: trusted reverse-proxy header carrying the reviewer name (e.g. ``X-Forwarded-User``).
        reviewer: identity without auth (loopback only); default: the OS user name.
        block: wait until Ctrl+C, then shut down and return the (closed) handle.

    Raises:
        ConfigError: non-loopback bind without auth, both auth kinds, or the port is taken.
    """
    spec = spec or service.spec
    check_binding(host, authenticated=auth is not None or auth_header is not None)
    app, blocks = create_app(service, spec, auth=auth, auth_header=auth_header, reviewer=reviewer)
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
