"""Read-only queries for ``hitl status`` and ``hitl export``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hitl_pipeline.db import Database, from_us


def ts(dt: datetime) -> str:
    """A datetime as the export's UTC text (``2026-11-05T10:00:00.000000Z``, sortable)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime given to the campaign state; use aware UTC datetimes")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    """The inverse of :func:`ts`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _text(us: int | None) -> str | None:
    return ts(from_us(us)) if us is not None else None


@dataclass(frozen=True)
class Counts:
    """Campaign-wide numbers for ``hitl status`` and progress."""

    items: int
    items_complete: int
    reviews: int
    outbox: dict[str, int]


class ExportQueries:
    """The answers of one campaign database (``db``) joined for export."""

    db: Database

    def export_rows(self) -> list[dict[str, Any]]:
        """One row per item × reviewer × question, joined with its outbox row (if any); times as
        :func:`ts` text."""
        rows = self.db.query(
            """SELECT a.item_key, i.kind, i.id AS item_id, i.trace_id, i.position, i.stratum,
                      a.reviewer, a.question, a.value_json, a.comment, a.created_at, a.updated_at,
                      a.duration_s, o.score_id, o.status AS outbox_status, o.last_error, o.confirmed_at,
                      r.origin
               FROM answers a
               JOIN items i ON i.key = a.item_key
               JOIN reviews r ON r.item_key = a.item_key AND r.reviewer = a.reviewer
               LEFT JOIN outbox o ON o.item_key = a.item_key AND o.reviewer = a.reviewer
                                  AND o.question = a.question
               ORDER BY i.position, r.seq, a.question"""
        )
        out = []
        for r in rows:
            row = {k: r[k] for k in r.keys()}
            for k in ("created_at", "updated_at", "confirmed_at"):
                row[k] = _text(row[k])
            out.append(row)
        return out
