"""The one time representation of every database: integer microseconds since the Unix epoch, UTC.

Exact (no float rounding), compact, ordered by plain integer comparison, and the same type on
every engine (SQLite ``INTEGER``, PostgreSQL ``BIGINT``), so copying a database between engines
moves numbers, not text formats.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(dt: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """The aware UTC datetime for ``us`` microseconds since the epoch (exact, no float rounding)."""
    return _EPOCH + timedelta(microseconds=us)


def aware_us(dt: datetime) -> int:
    """:func:`to_us` for values that must be aware (a naive one is a bug: it would be taken as UTC)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime given to the database; use aware UTC datetimes")
    return to_us(dt)


def now_us() -> int:
    """The current time in microseconds."""
    return to_us(datetime.now(UTC))
