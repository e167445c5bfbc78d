"""Import traces, observations, scores and score configs from JSONL into the local store.

One JSON object per line, with a ``type`` field naming the record kind and Langfuse's camelCase
field names, so a Langfuse export needs little change (unknown fields such as ``projectId`` are
ignored)::

    {"type": "trace", "id": "t1", "name": "support-chat", "timestamp": "2026-10-02T09:00:00Z",
     "userId": "user-001", "sessionId": "sess-1", "tags": ["support"], "environment": "production",
     "release": "2026.10.1", "version": "v1", "input": {...}, "output": {...}, "metadata": {...}}
    {"type": "observation", "id": "o1", "traceId": "t1", "parentObservationId": null,
     "observationType": "GENERATION", "name": "generate-answer", "startTime": "…", "endTime": "…",
     "level": "DEFAULT", "statusMessage": null, "model": "gpt-4o-mini", "input": …, "output": …,
     "metadata": {}, "usageDetails": {"input": 812, "output": 64, "total": 876}}
    {"type": "score", "id": "s1", "traceId": "t1", "observationId": null, "sessionId": null,
     "name": "helpfulness", "value": 4, "dataType": "NUMERIC", "timestamp": "…", "comment": "…",
     "configId": "cfg-helpfulness", "source": "ANNOTATION", "metadata": {}}
    {"type": "score_config", "id": "cfg-helpfulness", "name": "helpfulness", "dataType": "NUMERIC",
     "minValue": 1, "maxValue": 5, "description": "…"}

Because ``type`` names the record kind, an observation's own Langfuse type (``GENERATION``,
``SPAN``, ``TOOL``…) goes in ``observationType``. As in a Langfuse observation export, a record
whose ``type`` *is* an observation type (``{"type": "GENERATION", "traceId": …}``) is read as an
observation of that type. Every line is checked (JSON syntax, required fields, types, timestamps,
references: an observation's trace and parent, a score's config, must exist in the file or already
in the store). If any line is bad, :class:`ImportDataError` lists every bad line
with its number and nothing is written; otherwise everything is written in one transaction.
Re-importing the same file updates the same rows (ids are upsert keys, as in Langfuse).

What strict JSON (and the store) cannot hold is refused with the line and the field's path,
never stored in a changed form: ``NaN``/``Infinity`` (Python's JSON reader accepts them, a
reviewer would see ``null``), numbers that overflow a float (``1e400``) or have more than 4,300
digits, lone UTF-16 surrogates (``"\\ud800"``, not text), nesting deeper than
:data:`~hitl_pipeline.model.json_text.MAX_JSON_DEPTH` levels, timestamps outside the years 1–9999 (UTC). An observation whose
parent chain loops (itself as parent, or a cycle through the file or the store) or whose parent
belongs to another trace is refused too: the tree could not show it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hitl_pipeline.errors import ConfigError, ImportDataError
from hitl_pipeline.model import OBSERVATION_TYPES, Observation, Score, ScoreConfig, Trace
from hitl_pipeline.model.json_text import decode_json
from hitl_pipeline.model.score_rules import CONFIG_DATA_TYPES, score_config_problems
from hitl_pipeline.sources.local import LocalSource

RECORD_TYPES = ("trace", "observation", "score", "score_config")
LEVELS = ("DEBUG", "DEFAULT", "WARNING", "ERROR")
SCORE_DATA_TYPES = ("NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT", "CORRECTION")
SCORE_SOURCES = ("API", "ANNOTATION", "EVAL")


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote (counts per record type) and where."""

    path: str
    db_path: str
    traces: int = 0
    observations: int = 0
    scores: int = 0
    score_configs: int = 0

    @property
    def total(self) -> int:
        return self.traces + self.observations + self.scores + self.score_configs


@dataclass
class _Parsed:
    traces: dict[str, tuple[int, Trace]] = field(default_factory=dict)
    observations: dict[str, tuple[int, Observation]] = field(default_factory=dict)
    scores: list[tuple[int, Score]] = field(default_factory=list)
    score_keys: dict[tuple[str, str], int] = field(default_factory=dict)
    configs: dict[str, tuple[int, ScoreConfig]] = field(default_factory=dict)


class _Line:
    """Field accessors for one record that collect problems instead of raising."""

    def __init__(self, obj: dict[str, Any], problems: list[str]) -> None:
        self.obj = obj
        self.problems = problems

    def string(self, key: str, *, required: bool = False, choices: tuple[str, ...] = ()) -> str | None:
        value = self.obj.get(key)
        if value is None:
            if required:
                self.problems.append(f"missing required field '{key}'")
            return None
        if not isinstance(value, str) or (required and not value):
            self.problems.append(f"'{key}' must be a non-empty string, got {_brief(value)}")
            return None
        if choices and value not in choices:
            self.problems.append(f"'{key}' is {_brief(value)}; expected one of {', '.join(choices)}")
            return None
        return value

    def time(self, key: str, *, required: bool = False) -> datetime | None:
        value = self.obj.get(key)
        if value is None:
            if required:
                self.problems.append(f"missing required field '{key}'")
            return None
        parsed = parse_timestamp(value)
        if parsed is None and _out_of_range(value):
            self.problems.append(
                f"'{key}' is out of range: {_brief(value)} (timestamps run from year 1 to 9999, in UTC)"
            )
        elif parsed is None:
            self.problems.append(
                f"'{key}' is not an ISO-8601 timestamp: {_brief(value)} (e.g. 2026-10-02T09:00:00Z)"
            )
        return parsed

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.append(f"'{key}' must be a JSON object, got {_json_kind(value)}")
            return {}
        return value

    def number(self, key: str) -> float | None:
        value = self.obj.get(key)
        if value is None:
            return None
        number = finite_float(value)
        if number is None:
            self.problems.append(f"'{key}' must be a number, got {_brief(value)}")
        return number


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None if it is no number or does not fit a float (``10**400``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _brief(value: Any) -> str:
    """A JSON value as it appears in the file, shortened for a message."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + "…"


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None
    text = value.strip().replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO-8601 string (``Z`` or an offset; none means UTC), else None
    (also when the time is outside the years 1–9999 once in UTC)."""
    dt = _aware(value)
    if dt is None:
        return None
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        return None


def _out_of_range(value: Any) -> bool:
    """A valid ISO-8601 time that leaves the calendar once moved to UTC (``0001-01-01T00:00+01:00``)."""
    return _aware(value) is not None


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _read_lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text, decode problem) for each line; bytes are decoded per line so one bad
    line does not hide the others."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8"), None
            except UnicodeDecodeError as exc:
                yield number, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"


@dataclass
class _References:
    """References checked after the whole file is read, so records may come in any order."""

    #: (line, trace id, parent observation id) of each observation.
    observations: list[tuple[int, str, str | None]] = field(default_factory=list)
    #: (line, score config id) of each score that names a config.
    score_configs: list[tuple[int, str]] = field(default_factory=list)


def parse_jsonl(path: str | os.PathLike[str], store: LocalSource | None = None) -> _Parsed:
    """Parse and check every line of ``path``; raises :class:`ImportDataError` listing all bad lines.

    ``store`` (optional) resolves references to objects already stored.
    """
    file = Path(path)
    issues: list[str] = []
    parsed = _Parsed()
    refs = _References()
    try:
        lines = list(_read_lines(file))
    except OSError as exc:
        raise ImportDataError(str(file), [f"0: cannot read the file: {exc.strerror or exc}"]) from exc
    for number, text, decode_problem in lines:
        problem = _line_problem(number, text, decode_problem, parsed, refs)
        if problem:
            issues.append(f"{number}: {problem}")
    issues.extend(_reference_issues(parsed, store, refs))
    if issues:
        raise ImportDataError(str(file), _merge_by_line(issues))
    return parsed


def _line_problem(
    number: int, text: str | None, decode_problem: str | None, parsed: _Parsed, refs: _References
) -> str | None:
    """Parse one line into ``parsed``; what is wrong with it (None when nothing is)."""
    if decode_problem:
        return decode_problem
    assert text is not None
    if not text.strip():
        return None
    obj, problem = decode_json(text)
    if problem and problem.syntax:
        return f"invalid JSON: {problem.message} (column {problem.column})"
    if problem:
        return problem.message
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {_json_kind(obj)}"
    problems = _parse_record(number, obj, parsed, refs)
    # One issue per line (the error counts bad *lines*), naming every problem on it.
    return "; ".join(problems) if problems else None


def _parse_record(number: int, obj: dict[str, Any], parsed: _Parsed, refs: _References) -> list[str]:
    """Parse one record by its ``type``; the problems found on it."""
    problems: list[str] = []
    kind = obj.get("type")
    if kind == "trace":
        _parse_trace(number, _Line(obj, problems), parsed)
    elif kind == "observation" or kind in OBSERVATION_TYPES:
        if kind != "observation" and "observationType" not in obj:
            obj = {**obj, "observationType": kind}
        ref = _parse_observation(number, _Line(obj, problems), parsed)
        if ref:
            refs.observations.append((number, *ref))
    elif kind == "score":
        cfg = _parse_score(number, _Line(obj, problems), parsed)
        if cfg:
            refs.score_configs.append((number, cfg))
    elif kind == "score_config":
        _parse_config(number, _Line(obj, problems), parsed)
    else:
        problems.append(f"'type' must be one of {', '.join(RECORD_TYPES)}, got {_brief(kind)}")
    return problems


def _reference_issues(parsed: _Parsed, store: LocalSource | None, refs: _References) -> list[str]:
    """References to traces, observations and score configs neither in the file nor in the store."""
    issues: list[str] = []
    for number, trace_id, parent_id in refs.observations:
        if trace_id not in parsed.traces and not (store is not None and store.has_trace(trace_id)):
            issues.append(
                f"{number}: observation's trace '{trace_id}' is neither in this file nor in the store"
            )
        if (
            parent_id
            and parent_id not in parsed.observations
            and not _store_has_observation(store, parent_id)
        ):
            issues.append(
                f"{number}: parent observation '{parent_id}' is neither in this file nor in the store"
            )
    issues.extend(_tree_issues(parsed, store))
    for number, config_id in refs.score_configs:
        if config_id not in parsed.configs and (store is None or store.get_score_config(config_id) is None):
            issues.append(f"{number}: score config '{config_id}' is neither in this file nor in the store")
    return issues


def _merge_by_line(issues: list[str]) -> list[str]:
    """One entry per bad line, in line order (a line can fail both its own and a reference check)."""
    by_line: dict[int, list[str]] = {}
    for issue in issues:
        number_text, message = issue.split(": ", 1)
        by_line.setdefault(int(number_text), []).append(message)
    return [f"{number}: " + "; ".join(messages) for number, messages in sorted(by_line.items())]


def _tree_issues(parsed: _Parsed, store: LocalSource | None) -> list[str]:
    """Observations whose parent is in another trace or whose parent chain loops (the file's rows
    replace the store's rows of the same id, as the import will)."""

    def link(obs_id: str) -> tuple[str, str | None] | None:
        if obs_id in parsed.observations:
            obs = parsed.observations[obs_id][1]
            return obs.trace_id, obs.parent_id
        return store.observation_link(obs_id) if store is not None else None

    issues: list[str] = []
    for obs_id, (number, obs) in parsed.observations.items():
        if obs.parent_id is None:
            continue
        if obs.parent_id == obs_id:
            issues.append(f"{number}: observation '{obs_id}' is its own parent (parentObservationId)")
            continue
        parent = link(obs.parent_id)
        if parent is not None and parent[0] != obs.trace_id:
            issues.append(
                f"{number}: parent observation '{obs.parent_id}' belongs to trace '{parent[0]}', "
                f"not to this observation's trace '{obs.trace_id}'"
            )
            continue
        # Follow the chain up; coming back to this observation means a cycle (bounded by the visits).
        seen = {obs_id}
        current: str | None = obs.parent_id
        while current is not None and current not in seen:
            seen.add(current)
            found = link(current)
            current = found[1] if found is not None else None
        if current == obs_id:
            issues.append(
                f"{number}: observation '{obs_id}' is its own ancestor (the parentObservationId chain "
                "loops back to it); an observation tree cannot have cycles"
            )
    return issues


def _store_has_observation(store: LocalSource | None, observation_id: str) -> bool:
    if store is None:
        return False
    return store.has_observation(observation_id)


def _duplicate(number: int, kind: str, key: str, seen: dict[Any, Any], problems: list[str]) -> bool:
    if key in seen:
        first = seen[key][0] if isinstance(seen[key], tuple) else seen[key]
        problems.append(f"duplicate {kind} id '{key}' (first on line {first})")
        return True
    return False


def _parse_trace(number: int, line: _Line, parsed: _Parsed) -> None:
    trace_id = line.string("id", required=True)
    name = line.string("name", required=True)
    ts = line.time("timestamp", required=True)
    user_id = line.string("userId")
    session_id = line.string("sessionId")
    environment = line.string("environment")
    release = line.string("release")
    version = line.string("version")
    metadata = line.mapping("metadata")
    tags_raw = line.obj.get("tags") or []
    if not isinstance(tags_raw, list) or not all(isinstance(t, str) and t for t in tags_raw):
        line.problems.append("'tags' must be a list of non-empty strings")
        tags_raw = []
    if line.problems or trace_id is None or name is None or ts is None:
        return
    if _duplicate(number, "trace", trace_id, parsed.traces, line.problems):
        return
    parsed.traces[trace_id] = (
        number,
        Trace(
            id=trace_id,
            name=name,
            timestamp=ts,
            user_id=user_id,
            session_id=session_id,
            tags=tuple(dict.fromkeys(tags_raw)),
            environment=environment or "default",
            release=release,
            version=version,
            input=line.obj.get("input"),
            output=line.obj.get("output"),
            metadata=metadata,
        ),
    )


def _parse_observation(number: int, line: _Line, parsed: _Parsed) -> tuple[str, str | None] | None:
    obs_id = line.string("id", required=True)
    trace_id = line.string("traceId", required=True)
    obs_type = line.string("observationType", required=True, choices=OBSERVATION_TYPES)
    name = line.string("name", required=True)
    start = line.time("startTime", required=True)
    end = line.time("endTime")
    parent = line.string("parentObservationId")
    level = line.string("level", choices=LEVELS)
    status = line.string("statusMessage")
    model = line.string("model")
    metadata = line.mapping("metadata")
    usage = line.mapping("usageDetails")
    if any(finite_float(v) is None for v in usage.values()):
        line.problems.append("'usageDetails' values must be numbers (token counts)")
    if start is not None and end is not None and end < start:
        line.problems.append("'endTime' is before 'startTime'")
    if (
        line.problems
        or obs_id is None
        or trace_id is None
        or obs_type is None
        or name is None
        or start is None
    ):
        return None
    if _duplicate(number, "observation", obs_id, parsed.observations, line.problems):
        return None
    parsed.observations[obs_id] = (
        number,
        Observation(
            id=obs_id,
            trace_id=trace_id,
            type=obs_type,
            name=name,
            start_time=start,
            parent_id=parent,
            end_time=end,
            level=level or "DEFAULT",
            status_message=status,
            model=model,
            input=line.obj.get("input"),
            output=line.obj.get("output"),
            metadata=metadata,
            usage=usage,
        ),
    )
    return trace_id, parent


def _parse_score(number: int, line: _Line, parsed: _Parsed) -> str | None:
    score_id = line.string("id", required=True)
    name = line.string("name", required=True)
    trace_id = line.string("traceId")
    observation_id = line.string("observationId")
    session_id = line.string("sessionId")
    ts = line.time("timestamp")
    comment = line.string("comment")
    config_id = line.string("configId")
    source = line.string("source", choices=SCORE_SOURCES)
    environment = line.string("environment")
    queue_id = line.string("queueId")
    string_value = line.string("stringValue")
    metadata = line.mapping("metadata")
    value = line.obj.get("value")
    data_type = line.string("dataType", choices=SCORE_DATA_TYPES)
    if data_type is None and "dataType" not in line.obj:
        # Langfuse infers the type from the value when it is not given.
        data_type = "CATEGORICAL" if isinstance(value, str) else "NUMERIC"
    _check_score_value(line, data_type, string_value)
    if len([t for t in (trace_id, session_id) if t]) != 1:
        line.problems.append("a score needs exactly one of 'traceId' or 'sessionId'")
    if observation_id and not trace_id:
        line.problems.append("'observationId' needs 'traceId' too")
    if line.problems or score_id is None or name is None or data_type is None:
        return None
    if _duplicate_score(number, score_id, name, line, parsed):
        return None
    if data_type == "CATEGORICAL" and not isinstance(value, str):
        value = string_value
    parsed.scores.append(
        (
            number,
            Score(
                id=score_id,
                name=name,
                value=value,
                data_type=data_type,  # type: ignore[arg-type]  # checked against SCORE_DATA_TYPES
                timestamp=ts or datetime.now(UTC),
                trace_id=trace_id,
                observation_id=observation_id,
                session_id=session_id,
                string_value=string_value,
                comment=comment,
                metadata=metadata,
                config_id=config_id,
                source=source or "API",
                queue_id=queue_id,
                environment=environment or "default",
            ),
        )
    )
    return config_id


def _check_score_value(line: _Line, data_type: str | None, string_value: str | None) -> None:
    """A score's ``value`` must be there and fit its data type."""
    value = line.obj.get("value")
    if "value" not in line.obj or value is None:
        line.problems.append("missing required field 'value'")
    elif data_type in ("NUMERIC", "BOOLEAN"):
        if finite_float(value) is None:
            line.problems.append(f"a {data_type} score needs a numeric 'value', got {_brief(value)}")
        elif data_type == "BOOLEAN" and value not in (0, 1):
            line.problems.append(f"a BOOLEAN score's 'value' must be 0 or 1, got {value}")
    elif data_type == "CATEGORICAL":
        if not isinstance(value, str) and not (finite_float(value) is not None and string_value):
            line.problems.append(
                "a CATEGORICAL score needs its label as 'value' (or a number plus 'stringValue')"
            )
    elif data_type in ("TEXT", "CORRECTION") and not isinstance(value, str):
        line.problems.append(f"a {data_type} score needs a string 'value'")


def _duplicate_score(number: int, score_id: str, name: str, line: _Line, parsed: _Parsed) -> bool:
    """Whether the (id, name) pair was seen on an earlier line (noted as a problem); records it if not."""
    key = (score_id, name)
    if key in parsed.score_keys:
        line.problems.append(
            f"duplicate score id '{score_id}' with name '{name}' (first on line {parsed.score_keys[key]})"
        )
        return True
    parsed.score_keys[key] = number
    return False


def _parse_config(number: int, line: _Line, parsed: _Parsed) -> None:
    config_id = line.string("id", required=True)
    name = line.string("name", required=True)
    data_type = line.string("dataType", required=True, choices=CONFIG_DATA_TYPES)
    min_value = line.number("minValue")
    max_value = line.number("maxValue")
    description = line.string("description")
    archived = line.obj.get("isArchived", False)
    if not isinstance(archived, bool):
        line.problems.append("'isArchived' must be true or false")
    categories: list[tuple[str, float]] = []
    raw = line.obj.get("categories") or []
    if not isinstance(raw, list):
        line.problems.append("'categories' must be a list of {label, value} objects")
        raw = []
    for cat in raw:
        label = cat.get("label") if isinstance(cat, dict) else None
        value = cat.get("value") if isinstance(cat, dict) else None
        category_value = finite_float(value)
        if not isinstance(label, str) or category_value is None:
            line.problems.append(f'category {_brief(cat)} must be {{"label": a string, "value": a number}}')
            continue
        categories.append((label, category_value))
    if line.problems or config_id is None or name is None or data_type is None:
        return
    # Langfuse fixes BOOLEAN categories itself; an export carries them, so do not count them as an error.
    rule_categories = () if data_type == "BOOLEAN" else tuple(categories)
    line.problems.extend(score_config_problems(name, data_type, rule_categories, min_value, max_value))
    if line.problems or _duplicate(number, "score config", config_id, parsed.configs, line.problems):
        return
    parsed.configs[config_id] = (
        number,
        ScoreConfig(
            id=config_id,
            name=name,
            data_type=data_type,  # type: ignore[arg-type]  # checked by choices above
            categories=(("True", 1.0), ("False", 0.0)) if data_type == "BOOLEAN" else tuple(categories),
            min_value=min_value,
            max_value=max_value,
            description=description,
            is_archived=bool(archived),
        ),
    )


def import_jsonl(path: str | os.PathLike[str], store: LocalSource) -> ImportResult:
    """Check ``path`` completely, then write all of it into ``store`` in one transaction.

    Raises :class:`ImportDataError` (nothing written) when any line is bad.
    """
    parsed = parse_jsonl(path, store)
    by_trace: dict[str, list[Observation]] = {}
    loose: list[Observation] = []
    for _, obs in parsed.observations.values():
        if obs.trace_id in parsed.traces:
            by_trace.setdefault(obs.trace_id, []).append(obs)
        else:
            loose.append(obs)
    traces = [
        replace(trace, observations=tuple(by_trace.get(trace_id, ())))
        for trace_id, (_, trace) in parsed.traces.items()
    ]
    with store.transaction():
        store.insert_score_configs(c for _, c in parsed.configs.values())
        store.insert_traces(traces)
        store.insert_observations(loose)
        store.insert_scores(s for _, s in parsed.scores)
    return ImportResult(
        path=str(path),
        db_path=str(store.path),
        traces=len(parsed.traces),
        observations=len(parsed.observations),
        scores=len(parsed.scores),
        score_configs=len(parsed.configs),
    )


def import_file(path: str | os.PathLike[str], db_path: str | os.PathLike[str]) -> ImportResult:
    """Import a JSONL file into the local store at ``db_path`` (created empty if missing).

    This is what ``hitl import FILE --db PATH`` calls.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"cannot import {file}: no such file. Check the path.")
    store = LocalSource(db_path)
    try:
        return import_jsonl(file, store)
    finally:
        store.close()
