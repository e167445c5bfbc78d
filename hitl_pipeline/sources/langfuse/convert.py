"""Langfuse's JSON to the model's types (traces, observations, scores, configs) and back (score bodies).

Two row shapes are read: the v2 observations reader's rows (:class:`V2Row`; v4 servers and Cloud,
where a trace is its root observation) and the legacy v1 objects (``/traces``, ``/observations``,
``/sessions`` of v3 servers). The v2 reader returns ``""`` for missing text fields, and input/output
as raw strings; both are normalised here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from hitl_pipeline.model import Observation, Score, ScoreConfig, ScoreWrite, Trace

T = TypeVar("T")


@dataclass
class TraceInfo:
    """What listing needs to know about a trace (from a root observation or a legacy trace)."""

    id: str
    name: str
    timestamp: datetime
    user_id: str | None
    session_id: str | None
    tags: tuple[str, ...]
    environment: str
    release: str | None
    version: str | None
    metadata: dict[str, Any] | None


def none_if_empty(value: str | None) -> str | None:
    """None for a missing text field (the v2 reader gives ``""`` for those)."""
    return value if value else None


def parse_io(value: Any) -> Any:
    """Input/output as stored: the v2 reader returns raw strings; JSON text becomes the JSON value.

    Only text that looks like a JSON object, array or string is parsed, so a plain answer such as
    ``42`` or ``true`` written as text stays text.
    """
    if not isinstance(value, str):
        return value
    head = value.lstrip()[:1]
    if head in ("{", "[", '"'):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ---------------------------------------------------------------------- v2 rows


class V2Row:
    """One row of the v2 observations reader (fields of groups not requested are None)."""

    __slots__ = (
        "id",
        "trace_id",
        "start_time",
        "end_time",
        "parent_observation_id",
        "type",
        "is_root_observation",
        "name",
        "level",
        "status_message",
        "version",
        "environment",
        "user_id",
        "session_id",
        "input",
        "output",
        "metadata",
        "model",
        "usage_details",
        "trace_name",
        "tags",
        "release",
    )

    def __init__(self, d: dict[str, Any]) -> None:
        start = parse_time(d.get("startTime"))
        assert start is not None
        self.id: str = d["id"]
        self.trace_id: str = d.get("traceId") or ""
        self.start_time: datetime = start
        self.end_time = parse_time(d.get("endTime"))
        self.parent_observation_id: str | None = d.get("parentObservationId")
        self.type: str = d.get("type") or "SPAN"
        self.is_root_observation: bool | None = d.get("isRootObservation")
        self.name: str | None = d.get("name")
        self.level: str | None = d.get("level")
        self.status_message: str | None = d.get("statusMessage")
        self.version: str | None = d.get("version")
        self.environment: str | None = d.get("environment")
        self.user_id: str | None = d.get("userId")
        self.session_id: str | None = d.get("sessionId")
        self.input: Any = d.get("input")
        self.output: Any = d.get("output")
        self.metadata: dict[str, Any] | None = d.get("metadata")
        self.model: str | None = d.get("model")
        self.usage_details: dict[str, Any] | None = d.get("usageDetails")
        self.trace_name: str | None = d.get("traceName")
        self.tags: list[str] | None = d.get("tags")
        self.release: str | None = d.get("release")


def trace_info_from_root(row: Any) -> TraceInfo:
    """The trace of a root observation row (on child rows: the trace attributes they carry)."""
    return TraceInfo(
        id=row.trace_id,
        name=row.trace_name or row.name or "",
        timestamp=aware(row.start_time),
        user_id=none_if_empty(row.user_id),
        session_id=none_if_empty(row.session_id),
        tags=tuple(row.tags or ()),
        environment=row.environment or "default",
        release=none_if_empty(row.release),
        version=none_if_empty(row.version),
        metadata=dict(row.metadata) if row.metadata is not None else None,
    )


def observation_from_row(row: Any, root_id: str | None) -> Observation:
    parent = row.parent_observation_id
    return Observation(
        id=row.id,
        trace_id=row.trace_id,
        type=row.type,
        name=row.name or "",
        start_time=aware(row.start_time),
        # The root observation stands for the trace itself: its children are top-level.
        parent_id=None if not parent or parent == root_id else parent,
        end_time=aware(row.end_time) if row.end_time else None,
        level=str(getattr(row.level, "value", row.level) or "DEFAULT"),
        status_message=none_if_empty(row.status_message),
        model=none_if_empty(getattr(row, "model", None)),
        input=parse_io(row.input),
        output=parse_io(row.output),
        metadata=dict(row.metadata or {}),
        usage=dict(row.usage_details or {}),
    )


def trace_from_root(root: Any, observations: Sequence[Observation]) -> Trace:
    info = trace_info_from_root(root)
    return Trace(
        id=info.id,
        name=info.name,
        timestamp=info.timestamp,
        user_id=info.user_id,
        session_id=info.session_id,
        tags=info.tags,
        environment=info.environment,
        release=info.release,
        version=info.version,
        input=parse_io(root.input),
        output=parse_io(root.output),
        metadata=info.metadata or {},
        observations=tuple(observations),
    )


def traces_from_rows(rows: Sequence[Any]) -> dict[str, Trace]:
    """Group v2 rows by trace: the root row is the trace, the others its observations (by start)."""
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.trace_id, []).append(row)
    out: dict[str, Trace] = {}
    for trace_id, members in grouped.items():
        roots = [r for r in members if r.is_root_observation]
        if not roots:
            continue
        root = roots[0]
        observations = sorted(
            (observation_from_row(r, root.id) for r in members if r is not root),
            key=lambda o: (o.start_time, o.id),
        )
        out[trace_id] = trace_from_root(root, observations)
    return out


# ---------------------------------------------------------------------- legacy (v1) objects


def trace_info_from_v1(d: dict[str, Any]) -> TraceInfo:
    return TraceInfo(
        id=d["id"],
        name=d.get("name") or "",
        timestamp=aware(datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00"))),
        user_id=d.get("userId"),
        session_id=d.get("sessionId"),
        tags=tuple(d.get("tags") or ()),
        environment=d.get("environment") or "default",
        release=d.get("release"),
        version=d.get("version"),
        metadata=d.get("metadata") if "metadata" in d else None,
    )


def observation_from_v1(d: dict[str, Any]) -> Observation:
    start = parse_time(d.get("startTime"))
    assert start is not None
    return Observation(
        id=d["id"],
        trace_id=d.get("traceId") or "",
        type=d.get("type") or "SPAN",
        name=d.get("name") or "",
        start_time=start,
        parent_id=d.get("parentObservationId"),
        end_time=parse_time(d.get("endTime")),
        level=d.get("level") or "DEFAULT",
        status_message=d.get("statusMessage"),
        model=d.get("model"),
        input=d.get("input"),
        output=d.get("output"),
        metadata=dict(d.get("metadata") or {}),
        usage=dict(d.get("usageDetails") or {}),
    )


def trace_from_v1(d: dict[str, Any], *, with_observations: bool) -> Trace:
    observations: tuple[Observation, ...] = ()
    if with_observations:
        observations = tuple(
            sorted(
                (observation_from_v1(o) for o in d.get("observations") or []),
                key=lambda o: (o.start_time, o.id),
            )
        )
    ts = parse_time(d.get("timestamp"))
    assert ts is not None
    return Trace(
        id=d["id"],
        name=d.get("name") or "",
        timestamp=ts,
        user_id=d.get("userId"),
        session_id=d.get("sessionId"),
        tags=tuple(d.get("tags") or ()),
        environment=d.get("environment") or "default",
        release=d.get("release"),
        version=d.get("version"),
        input=d.get("input"),
        output=d.get("output"),
        metadata=dict(d.get("metadata") or {}),
        observations=observations,
    )


# ---------------------------------------------------------------------- scores and configs


def _subject_ids(subject: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(trace id, observation id, session id) of a ``/v3/scores`` subject."""
    kind = subject.get("kind")
    if kind == "trace":
        return subject.get("id"), None, None
    if kind == "observation":
        return subject.get("traceId"), subject.get("id"), None
    if kind == "session":
        return None, None, subject.get("id")
    return None, None, None


def score_from_v3(d: dict[str, Any]) -> Score:
    data_type = str(d.get("dataType") or "NUMERIC")
    raw = d.get("value")
    string_value: str | None = None
    value: float | str | None
    if data_type == "BOOLEAN":
        value = 1.0 if raw else 0.0
        string_value = "True" if raw else "False"
    elif data_type == "NUMERIC":
        value = float(raw) if raw is not None else None
    else:
        value = "" if raw is None else str(raw)
        string_value = value
    ids = _subject_ids(d.get("subject") or {})
    return _score(d, data_type, value, string_value, ids)


def score_from_v2(d: dict[str, Any]) -> Score:
    """A score of the deprecated ``/v2/scores`` reader (numeric ``value`` plus ``stringValue``)."""
    data_type = str(d.get("dataType") or "NUMERIC")
    string_value = d.get("stringValue")
    value: float | str | None
    if data_type in ("NUMERIC", "BOOLEAN"):
        value = float(d["value"]) if d.get("value") is not None else None
    else:
        value = string_value if string_value is not None else ""
    ids = (d.get("traceId"), d.get("observationId"), d.get("sessionId"))
    return _score(d, data_type, value, string_value, ids)


def _score(
    d: dict[str, Any],
    data_type: str,
    value: float | str | None,
    string_value: str | None,
    ids: tuple[str | None, str | None, str | None],
) -> Score:
    """The fields every score reader shares (``ids``: trace, observation, session)."""
    ts = parse_time(d.get("timestamp"))
    assert ts is not None
    trace_id, observation_id, session_id = ids
    return Score(
        id=d["id"],
        name=d["name"],
        value=value,
        data_type=data_type,  # type: ignore[arg-type]
        timestamp=ts,
        trace_id=trace_id,
        observation_id=observation_id,
        session_id=session_id,
        string_value=string_value,
        comment=d.get("comment"),
        metadata=dict(d.get("metadata") or {}),
        config_id=d.get("configId"),
        source=str(d.get("source") or "API"),
        queue_id=d.get("queueId"),
        environment=d.get("environment") or "default",
    )


def score_body(s: ScoreWrite) -> dict[str, Any]:
    """The JSON body of one score (SDK 5's ``CreateScoreRequest`` fields). Unset fields are left
    out: on a re-send of the same id, a field sent as null would erase the stored comment or
    metadata, while an absent one keeps it (the server merges a re-sent id into the stored score)."""
    body: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "value": s.value,
        "dataType": s.data_type,
        "source": s.source,
    }
    for key, value in (
        ("traceId", s.trace_id),
        ("observationId", s.observation_id),
        ("sessionId", s.session_id),
        ("comment", s.comment),
        ("configId", s.config_id),
        ("queueId", s.queue_id),
        ("environment", s.environment),
    ):
        if value is not None:
            body[key] = value
    if s.metadata:
        body["metadata"] = s.metadata
    if s.timestamp is not None:
        # Ignored by servers up to 4.16 (a score keeps the time of its first request); kept for newer ones.
        body["timestamp"] = iso(s.timestamp)
    return body


def config_from_api(c: Any) -> ScoreConfig:
    """A config from the SDK's typed model."""
    data_type = getattr(c.data_type, "value", c.data_type)
    return ScoreConfig(
        id=c.id,
        name=c.name,
        data_type=str(data_type),  # type: ignore[arg-type]
        categories=tuple((cat.label, float(cat.value)) for cat in (c.categories or ())),
        min_value=c.min_value,
        max_value=c.max_value,
        description=c.description,
        is_archived=bool(c.is_archived),
    )


def config_from_dict(d: dict[str, Any]) -> ScoreConfig:
    """A config from the raw JSON."""
    return ScoreConfig(
        id=d["id"],
        name=d["name"],
        data_type=d["dataType"],
        categories=tuple((c["label"], float(c["value"])) for c in (d.get("categories") or ())),
        min_value=d.get("minValue"),
        max_value=d.get("maxValue"),
        description=d.get("description"),
        is_archived=bool(d.get("isArchived")),
    )
