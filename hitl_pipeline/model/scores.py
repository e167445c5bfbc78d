"""Scores and score configs as stored by both backends (local store and Langfuse), and the
outcome of sending one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ScoreDataType = Literal["NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT", "CORRECTION"]

#: Langfuse files every CORRECTION score under this name, whatever name the request carries (its
#: ``inflateScoreBody``), and its corrected-output view reads only this name. Both backends store
#: corrections so; hitl sends them so, with the question's name in metadata.
CORRECTION_SCORE_NAME = "output"


@dataclass(frozen=True)
class Score:
    """A score as stored (local store or Langfuse)."""

    id: str
    name: str
    value: float | str | None  # number for NUMERIC/BOOLEAN, label/text for CATEGORICAL/TEXT/CORRECTION
    data_type: ScoreDataType
    timestamp: datetime
    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    string_value: str | None = None
    comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    config_id: str | None = None
    source: str = "API"  # API | ANNOTATION | EVAL
    queue_id: str | None = None
    environment: str = "default"


@dataclass(frozen=True)
class ScoreConfig:
    id: str
    name: str
    data_type: Literal["NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT"]
    categories: tuple[tuple[str, float], ...] = ()  # (label, value)
    min_value: float | None = None
    max_value: float | None = None
    description: str | None = None
    is_archived: bool = False


@dataclass(frozen=True)
class ScoreWrite:
    """A score to create or replace (same ``id`` + ``name`` replaces, as in Langfuse)."""

    id: str
    name: str
    value: float | str
    data_type: ScoreDataType
    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    config_id: str | None = None
    source: str = "ANNOTATION"
    queue_id: str | None = None
    environment: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True)
class WriteResult:
    """Outcome of sending one score. ``retryable`` is True for 429/5xx/transport failures;
    ``maybe_stored`` when the request may have reached the server although no answer came back
    (the connection broke after sending): read it back before sending it again."""

    id: str
    ok: bool
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    maybe_stored: bool = False
