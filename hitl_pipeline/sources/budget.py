"""A client-side request budget for a rate-limited source (Langfuse Cloud: 30 requests/min on Hobby).

Langfuse Cloud counts every request of the "all other APIs" group — observations v2, scores, score
configs, annotation queues — per organisation per minute, and answers 429 with ``Retry-After``
beyond it (reference §9). One :class:`RequestBudget` per source is shared by everything that talks
to the server: reads, score writes, read-back confirmations, the annotation-queue mirror.

**How it counts.** A sliding window: a request may start when fewer than ``limit`` requests started
in the last ``period`` seconds (the server's own rule, so a burst never exceeds it in any minute).

**Who goes first.** Work on a reviewer's request path (the next item) is *foreground*; prefetching,
the outbox and the queue mirror mark themselves *background* (:func:`background`). Background
requests leave ``reserve`` slots of every window free and wait while a foreground request waits, so
a reviewer's next item is never queued behind background work.

**Learnt from 429s.** A 429 pauses every request until its ``Retry-After``; when no limit was set,
the limit becomes the server's ``X-RateLimit-Limit`` (per minute) or, without that header, 90 % of
what went out in the last window.

Example::

    budget = RequestBudget.parse("30/min")       # or RequestBudget() to learn from 429s
    with budget.slot():                           # foreground: a reviewer waits for this
        send(request)
    with background():                            # e.g. in the outbox thread
        with budget.slot():
            send(write)
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from hitl_pipeline.errors import ConfigError

#: The environment variable that sets a budget (same syntax as ``--request-budget``).
REQUEST_BUDGET_ENV = "HITL_REQUEST_BUDGET"

_background: contextvars.ContextVar[bool] = contextvars.ContextVar("hitl_background", default=False)

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Mark the requests made inside as background work (they yield to a reviewer's requests)."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


def is_background() -> bool:
    return _background.get()


def parse_budget(text: str) -> tuple[int, float] | None:
    """``"30/min"`` → ``(30, 60.0)``; ``"none"``/``""`` → None (learn from 429s only).

    Raises:
        ConfigError: not ``<count>/<s|min|h>``.
    """
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned in ("", "none", "off", "auto"):
        return None
    match = re.fullmatch(r"(\d+)(?:/|per)(s|sec|second|m|min|minute|h|hour)s?", cleaned)
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(
            f"request budget {text!r} is not understood: write requests per period, e.g. 30/min, "
            "100/min, 2/s (or none)"
        )
    return int(match.group(1)), _UNITS[match.group(2)]


class RequestBudget:
    """At most ``limit`` request starts per ``period`` seconds (None: unlimited until a 429 says
    otherwise), foreground first. Thread-safe.

    ``clock``/``sleep`` are injectable for tests; ``waits`` counts the seconds requests spent
    waiting for a slot (for the dry-run plan and benchmarks), ``started`` the requests let through.
    """

    def __init__(
        self,
        limit: int | None = None,
        period: float = 60.0,
        *,
        reserve: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.period = period
        self.learnt = False
        self._reserve = reserve
        self._clock = clock
        self._starts: deque[float] = deque()
        self._paused_until = 0.0
        self._foreground_waiting = 0
        self._cond = threading.Condition()
        self.started = 0
        self.throttled = 0  # 429s seen
        self.waited = 0.0

    @classmethod
    def parse(cls, text: str | None) -> RequestBudget:
        """A budget from ``"30/min"`` (None or ``"none"``: no limit until the server sets one)."""
        parsed = parse_budget(text or "")
        return cls() if parsed is None else cls(parsed[0], parsed[1])

    def __repr__(self) -> str:
        shown = "unlimited" if self.limit is None else f"{self.limit}/{self.period:g}s"
        return f"RequestBudget({shown}{', learnt' if self.learnt else ''})"

    @property
    def reserve(self) -> int:
        """Slots per window background work leaves to reviewers."""
        if self.limit is None:
            return 0
        if self._reserve is not None:
            return min(self._reserve, self.limit - 1)
        return min(max(1, self.limit // 10), self.limit - 1)

    def _delay(self, now: float, foreground: bool) -> float:
        """Seconds until this request may start (0: now). Called with the lock held."""
        while self._starts and self._starts[0] <= now - self.period:
            self._starts.popleft()
        if now < self._paused_until:
            return self._paused_until - now
        if not foreground and self._foreground_waiting:
            return self.period  # woken when the reviewer's request has gone
        if self.limit is None:
            return 0.0
        allowed = self.limit if foreground else self.limit - self.reserve
        if len(self._starts) < allowed:
            return 0.0
        # The oldest start that must leave the window before this one may go.
        return self._starts[len(self._starts) - allowed] + self.period - now

    def acquire(self, *, foreground: bool | None = None) -> float:
        """Wait for a slot and take it; returns the seconds waited. ``foreground`` defaults to the
        current context (:func:`background` marks background work)."""
        fg = (not is_background()) if foreground is None else foreground
        waited = 0.0
        with self._cond:
            if fg:
                self._foreground_waiting += 1
            try:
                while True:
                    now = self._clock()
                    delay = self._delay(now, fg)
                    if delay <= 0:
                        self._starts.append(now)
                        self.started += 1
                        break
                    start = self._clock()
                    self._cond.wait(min(delay, self.period))
                    waited += self._clock() - start
            finally:
                if fg:
                    self._foreground_waiting -= 1
                    self._cond.notify_all()
        self.waited += waited
        return waited

    @contextlib.contextmanager
    def slot(self, *, foreground: bool | None = None) -> Iterator[None]:
        self.acquire(foreground=foreground)
        yield

    def throttled_by_server(self, retry_after: float | None, limit_header: str | None = None) -> None:
        """A 429: pause every request until ``retry_after`` (default 1 s) has passed; without a
        configured limit, adopt the server's (``X-RateLimit-Limit``, per minute) or 90 % of the
        requests of the last window."""
        with self._cond:
            now = self._clock()
            self.throttled += 1
            pause = retry_after if retry_after is not None and retry_after > 0 else 1.0
            self._paused_until = max(self._paused_until, now + min(pause, 300.0))
            if self.limit is None or self.learnt:
                learnt: int | None = None
                if limit_header:
                    with contextlib.suppress(ValueError):
                        learnt = max(1, int(float(limit_header)))
                        self.period = 60.0
                if learnt is None:
                    recent = sum(1 for t in self._starts if t > now - self.period)
                    learnt = max(1, int(recent * 0.9))
                if self.limit is None or learnt < self.limit:
                    self.limit = learnt
                    self.learnt = True
            self._cond.notify_all()
