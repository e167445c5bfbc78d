"""``hitl export``: a campaign's answers as CSV or JSON Lines, one row per item × reviewer × question."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hitl_pipeline.campaign.lifecycle import open_state
from hitl_pipeline.errors import ConfigError
from hitl_pipeline.spec.model import ReviewSpec

EXPORT_COLUMNS = (
    "campaign",
    "item_key",
    "kind",
    "item_id",
    "trace_id",
    "observation_id",
    "session_id",
    "position",
    "stratum",
    "reviewer",
    "question",
    "value",
    "comment",
    "created_at",
    "updated_at",
    "duration_s",
    "score_id",
    "outbox_status",
    "outbox_error",
    "confirmed_at",
    "origin",
)


def export_rows(spec: ReviewSpec, *, home: Path | str) -> Iterator[dict[str, Any]]:
    """One row per item × reviewer × question (columns: :data:`EXPORT_COLUMNS`)."""
    state = open_state(spec, home)
    try:
        rows = state.export_rows()
    finally:
        state.close()
    for r in rows:
        kind = r["kind"]
        yield {
            "campaign": spec.campaign,
            "item_key": r["item_key"],
            "kind": kind,
            "item_id": r["item_id"],
            "trace_id": r["item_id"] if kind == "trace" else r["trace_id"],
            "observation_id": r["item_id"] if kind == "observation" else None,
            "session_id": r["item_id"] if kind == "session" else None,
            "position": r["position"],
            "stratum": r["stratum"],
            "reviewer": r["reviewer"],
            "question": r["question"],
            "value": json.loads(r["value_json"]),
            "comment": r["comment"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
            "duration_s": r["duration_s"],
            "score_id": r["score_id"],
            "outbox_status": r["outbox_status"],
            "outbox_error": r["last_error"],
            "confirmed_at": r["confirmed_at"],
            "origin": r["origin"],
        }


#: The formats :func:`export` writes.
FORMATS = ("csv", "jsonl")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; use csv or jsonl")


def export(spec: ReviewSpec, *, home: Path | str, fmt: str, out: io.TextIOBase | Any) -> int:
    """Write the campaign's answers to ``out`` as ``csv`` or ``jsonl``; returns the row count."""
    _check_format(fmt)
    count = 0
    rows = list(export_rows(spec, home=home))  # fails (no state) before anything is written
    writer = csv.DictWriter(out, fieldnames=list(EXPORT_COLUMNS)) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for row in rows:
        if writer is not None:
            value = row["value"]
            writer.writerow({**row, "value": json.dumps(value) if isinstance(value, bool) else value})
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def export_to_file(spec: ReviewSpec, *, home: Path | str, fmt: str, path: Path) -> int:
    """:func:`export` into the file ``path``, replaced only once it is complete; returns the row count.

    The rows go to a temporary file next to ``path`` first, so a failed export (no campaign
    state, a full disk) leaves an existing file as it was.

    Raises:
        ConfigError: an unknown format, or ``path`` cannot be written (the message names ``path``,
            not the temporary file).
    """
    _check_format(fmt)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            count = export(spec, home=home, fmt=fmt, out=fh)
        tmp.replace(path)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}; check the path and its folder") from e
    finally:
        tmp.unlink(missing_ok=True)
    return count


__all__ = ["EXPORT_COLUMNS", "FORMATS", "export", "export_rows", "export_to_file"]
