"""The one clock: aware UTC ``datetime`` now, and the type of an injectable clock (tests pass their own)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: A time source: returns an aware UTC datetime.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the default :data:`Clock`)."""
    return datetime.now(UTC)


__all__ = ["Clock", "utcnow"]
