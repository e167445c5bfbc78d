"""What a spec's filters become on Langfuse, for both read paths: ``filter`` JSON conditions, the
checks the server cannot do exactly (run on the returned rows), strata, score thresholds, and a
session's reference from its first trace.

The server compares metadata values as text, so ``"1"`` and ``1`` both match a condition on
``"1"``; :func:`client_side_ok` re-checks the exact type on the rows, and the ``release`` filter
(not a v2 filter column) too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from hitl_pipeline.model import ItemRef, Score, Target
from hitl_pipeline.sources.langfuse.convert import TraceInfo, iso
from hitl_pipeline.spec.model import Filters, ScoreThreshold

#: Rows per page of the v2 observations reader (the server maximum).
V2_PAGE = 1000
#: Rows per page of ``/v3/scores`` and the legacy readers (server maximum).
V1_PAGE = 100
#: Ids per request when fetching items or scores by id (keeps URLs well under common limits).
ID_CHUNK = 100
#: How far before the window a trace may start for an observation in the window (observation
#: targets join their traces), and how far before a session's first matching trace its first turn
#: may lie. Traces and sessions longer than this are treated as starting at the window edge.
TRACE_LOOKBACK = timedelta(days=1)
SESSION_LOOKBACK = timedelta(days=7)

Condition = dict[str, Any]
#: ``(session ids, start, end, metadata key to read in full or None)`` → the sessions' traces.
SessionLookup = Callable[[Sequence[str], datetime, datetime, str | None], list[TraceInfo]]


def stratum_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def same_scalar(a: Any, b: Any) -> bool:
    """Metadata equality with types (``"1"`` ≠ ``1``, ``1`` = ``1.0``, ``True`` ≠ ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def meta_text(value: Any) -> str:
    """How a metadata value is compared by the server (as text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


# ---------------------------------------------------------------------- conditions


def window_conditions(start: datetime, end: datetime, column: str = "startTime") -> list[Condition]:
    return [
        {"type": "datetime", "column": column, "operator": ">=", "value": iso(start)},
        {"type": "datetime", "column": column, "operator": "<", "value": iso(end)},
    ]


def is_root(value: bool) -> Condition:
    return {"type": "boolean", "column": "isRootObservation", "operator": "=", "value": value}


def options(column: str, values: Sequence[str]) -> Condition:
    """``column`` equal to the one value, or any of several."""
    if len(values) == 1:
        return {"type": "string", "column": column, "operator": "=", "value": values[0]}
    return {"type": "stringOptions", "column": column, "operator": "any of", "value": list(values)}


def tag_conditions(filters: Filters) -> list[Condition]:
    """``tags`` (all of) and ``exclude_tags`` (none of): the same filter on both read paths."""
    conds: list[Condition] = []
    for operator, tags in (("all of", filters.tags), ("none of", filters.exclude_tags)):
        if tags:
            conds.append(
                {"type": "arrayOptions", "column": "tags", "operator": operator, "value": list(tags)}
            )
    return conds


def metadata_conditions(filters: Filters) -> list[Condition]:
    """``metadata`` as the server compares it (as text, on both read paths); the exact type of
    each value is re-checked on the rows (:func:`client_side_ok`)."""
    return [
        {
            "type": "categoryOptions",
            "column": "metadata",
            "key": key,
            "operator": "any of",
            "value": sorted({meta_text(v) for v in wanted}),
        }
        for key, wanted in filters.metadata
    ]


def v2_trace_conditions(filters: Filters, *, root: bool) -> list[Condition]:
    """Trace filters as v2 conditions. ``root``: the rows are root observations, so the trace's
    own version and metadata are on them; child rows only carry the propagated attributes."""
    conds: list[Condition] = []
    for column, values in (
        ("traceName", filters.trace_name),
        ("userId", filters.user_id),
        ("sessionId", filters.session_id),
        ("environment", filters.environment),
    ):
        if values:
            conds.append(options(column, values))
    conds.extend(tag_conditions(filters))
    if root:
        if filters.version:
            conds.append(options("version", filters.version))
        conds.extend(metadata_conditions(filters))
    return conds


def legacy_trace_conditions(filters: Filters, start: datetime, end: datetime) -> list[Condition]:
    """Trace filters as conditions of the legacy ``/traces`` reader (every one is pushed)."""
    conds = window_conditions(start, end, column="timestamp")
    for column, values in (
        ("name", filters.trace_name),
        ("userId", filters.user_id),
        ("sessionId", filters.session_id),
        ("environment", filters.environment),
        ("release", filters.release),
        ("version", filters.version),
    ):
        if values:
            conds.append(options(column, values))
    conds.extend(tag_conditions(filters))
    conds.extend(metadata_conditions(filters))
    return conds


def needs_trace_lookup(filters: Filters, stratify_by: str | None) -> bool:
    """Observation targets: trace attributes that are not on the observation rows."""
    return bool(
        filters.metadata
        or filters.version
        or filters.release
        or (stratify_by and (stratify_by.startswith("metadata.") or stratify_by in ("release", "version")))
    )


def client_side_ok(info: TraceInfo, filters: Filters) -> bool:
    """The checks the server cannot do exactly (see the module docstring)."""
    if filters.release and info.release not in filters.release:
        return False
    if filters.metadata and info.metadata is not None:
        for key, values in filters.metadata:
            if key not in info.metadata or not any(same_scalar(info.metadata[key], v) for v in values):
                return False
    return True


# ---------------------------------------------------------------------- strata and sessions


def metadata_key(by: str | None) -> str | None:
    """The metadata key of a ``metadata.<key>`` stratum, else None."""
    return by.removeprefix("metadata.") if by and by.startswith("metadata.") else None


def trace_stratum(info: TraceInfo | None, by: str | None, own_name: str | None = None) -> str | None:
    if by is None or info is None and by != "name":
        return None
    if by == "name":
        return own_name if own_name is not None else (info.name if info else None)
    assert info is not None
    key = metadata_key(by)
    if key is not None:
        return stratum_text((info.metadata or {}).get(key))
    value = {
        "user_id": info.user_id,
        "session_id": info.session_id,
        "environment": info.environment,
        "release": info.release,
        "version": info.version,
    }.get(by)
    return stratum_text(value)


def observation_stratum(
    info: TraceInfo | None, by: str | None, obs_type: str | None, obs_name: str | None
) -> str | None:
    """An observation's stratum: its own type or name, else its trace's."""
    if by == "observation_type":
        return obs_type
    if by == "observation_name":
        return obs_name
    return trace_stratum(info, by, own_name=obs_name if by == "name" else None)


def trace_ref(info: TraceInfo, by: str | None) -> ItemRef:
    return ItemRef(
        kind="trace", id=info.id, timestamp=info.timestamp, trace_id=info.id, stratum=trace_stratum(info, by)
    )


def session_refs(
    session_ids: Sequence[str], start: datetime, end: datetime, by: str | None, lookup: SessionLookup
) -> list[ItemRef]:
    """A session's timestamp and stratum come from its earliest trace (any trace, not only matching)."""
    if not session_ids:
        return []
    first: dict[str, TraceInfo] = {}
    for t in lookup(session_ids, start, end, metadata_key(by)):
        if t.session_id and (
            t.session_id not in first
            or (t.timestamp, t.id) < (first[t.session_id].timestamp, first[t.session_id].id)
        ):
            first[t.session_id] = t
    return [
        ItemRef(kind="session", id=sid, timestamp=first[sid].timestamp, stratum=trace_stratum(first[sid], by))
        for sid in session_ids
        if sid in first
    ]


# ---------------------------------------------------------------------- score thresholds


def threshold_queries(th: ScoreThreshold) -> list[dict[str, Any]]:
    """The ``/v3/scores`` queries (snake_case keywords) reading the candidates for one threshold."""
    base: dict[str, Any] = {"name": th.name, "fields": "subject"}
    numeric = isinstance(th.value, int | float) and not isinstance(th.value, bool)
    if numeric and th.op in ("<", "<=", ">", ">="):
        # Push the range for NUMERIC scores (inclusive on the server; strictness is re-checked
        # by threshold_holds). A range needs dataType=NUMERIC, so BOOLEAN scores (0/1) of the
        # name are read separately.
        bound = "value_min" if th.op in (">", ">=") else "value_max"
        return [{**base, "data_type": "NUMERIC", bound: float(th.value)}, {**base, "data_type": "BOOLEAN"}]
    return [base]


def subject_id(target: Target, s: Score) -> str | None:
    """The id of the score's subject when it is of ``target``'s kind, else None."""
    if target == "trace":
        return s.trace_id if s.trace_id and not s.observation_id else None
    if target == "observation":
        return s.observation_id
    return s.session_id


def threshold_holds(s: Score, th: ScoreThreshold) -> bool:
    """Numbers (and booleans as 0/1) compare with the numeric value; strings with the label/text."""
    if isinstance(th.value, bool) or isinstance(th.value, int | float):
        expected = float(th.value)
        if s.data_type == "BOOLEAN":
            actual: Any = 1.0 if s.string_value == "True" else 0.0
        elif isinstance(s.value, int | float):
            actual = float(s.value)
        else:
            return False
    else:
        expected_s = str(th.value)
        actual = s.string_value if s.string_value is not None else s.value
        if not isinstance(actual, str):
            return False
        return _compare(actual, th.op, expected_s)
    return _compare(actual, th.op, expected)


def _compare(a: Any, op: str, b: Any) -> bool:
    return bool(
        {
            "<": lambda: a < b,
            "<=": lambda: a <= b,
            ">": lambda: a > b,
            ">=": lambda: a >= b,
            "=": lambda: a == b,
            "!=": lambda: a != b,
        }[op]()
    )
