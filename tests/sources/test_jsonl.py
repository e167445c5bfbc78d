"""JSONL import: good files land completely, bad files land not at all, every bad line is named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hitl_pipeline.errors import ConfigError, ImportDataError
from hitl_pipeline.model import ItemRef
from hitl_pipeline.sources.jsonl import import_file, import_jsonl, parse_timestamp
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.spec.model import Filters
from tests.sources.backends import NOW

MONTH = Filters(time_from="2026-10-01", time_to="2026-11-01")

GOOD: list[dict[str, Any]] = [
    {
        "type": "score_config",
        "id": "cfg-q",
        "name": "quality",
        "dataType": "CATEGORICAL",
        "categories": [{"label": "good", "value": 1}, {"label": "bad", "value": 0}],
        "projectId": "ignored",
    },
    {
        "type": "trace",
        "id": "t1",
        "name": "support-chat",
        "timestamp": "2026-10-02T09:00:00.123Z",
        "userId": "u1",
        "sessionId": "s1",
        "tags": ["support", "vip"],
        "environment": "production",
        "release": "r1",
        "version": "v1",
        "input": {"messages": [{"role": "user", "content": "Wo ist mein Paket?"}]},
        "output": {"role": "assistant", "content": "Unterwegs."},
        "metadata": {"topic": "shipping", "language": "de"},
        "htmlPath": "/project/x/traces/t1",
    },
    {
        "type": "observation",
        "id": "o2",
        "traceId": "t1",
        "parentObservationId": "o1",
        "observationType": "TOOL",
        "name": "lookup_order",
        "startTime": "2026-10-02T09:00:01+00:00",
        "endTime": "2026-10-02T09:00:02+00:00",
        "input": {"order_id": "A1"},
        "output": {"status": "in_transit"},
    },
    {
        "type": "observation",
        "id": "o1",
        "traceId": "t1",
        "observationType": "GENERATION",
        "name": "generate-answer",
        "startTime": "2026-10-02T09:00:00.500Z",
        "endTime": "2026-10-02T09:00:03Z",
        "level": "ERROR",
        "statusMessage": "boom",
        "model": "gpt-4o-mini",
        "usageDetails": {"input": 10, "output": 5, "total": 15},
        "metadata": {"temperature": 0.2},
    },
    {
        "type": "trace",
        "id": "t2",
        "name": "support-chat",
        "timestamp": "2026-10-02T10:00:00",
        "sessionId": "s1",
    },
    {
        "type": "score",
        "id": "sc1",
        "traceId": "t1",
        "name": "quality",
        "value": "good",
        "dataType": "CATEGORICAL",
        "configId": "cfg-q",
        "source": "ANNOTATION",
        "timestamp": "2026-10-03T00:00:00Z",
        "comment": "fine",
    },
    {
        "type": "score",
        "id": "sc2",
        "traceId": "t1",
        "observationId": "o1",
        "name": "llm_judge",
        "value": 0.25,
        "source": "EVAL",
        "timestamp": "2026-10-03T00:00:00Z",
    },
    {"type": "score", "id": "sc3", "sessionId": "s1", "name": "resolved", "value": 1, "dataType": "BOOLEAN"},
]


def write_jsonl(path: Path, records: list[Any], *, raw_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    for index, text in (raw_lines or {}).items():
        lines.insert(index - 1, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = LocalSource(tmp_path / "local.db")
    yield s
    s.close()


def test_good_file_is_imported_completely(tmp_path: Path, store: LocalSource) -> None:
    result = import_jsonl(write_jsonl(tmp_path / "good.jsonl", GOOD), store)
    assert (result.traces, result.observations, result.scores, result.score_configs) == (2, 2, 3, 1)
    assert store.counts() == {"traces": 2, "observations": 2, "sessions": 1, "scores": 3, "score_configs": 1}
    item = store.get_item(ItemRef("trace", "t1", NOW, "t1"))
    assert item.trace is not None
    assert item.trace.timestamp == datetime(2026, 10, 2, 9, 0, 0, 123000, tzinfo=UTC)
    assert item.trace.tags == ("support", "vip") and item.trace.metadata == {
        "topic": "shipping",
        "language": "de",
    }
    assert item.trace.input["messages"][0]["content"] == "Wo ist mein Paket?"
    assert [o.id for o in item.trace.observations] == ["o1", "o2"]  # by start time, whatever the file order
    o1, o2 = item.trace.observations
    assert (o1.level, o1.status_message, o1.model, o1.usage) == (
        "ERROR",
        "boom",
        "gpt-4o-mini",
        {"input": 10, "output": 5, "total": 15},
    )
    assert o2.parent_id == "o1" and o2.type == "TOOL"
    assert [s.id for s in item.scores] == ["sc1"]
    assert item.scores[0].value == "good" and item.scores[0].comment == "fine"
    obs_item = store.get_item(ItemRef("observation", "o1", NOW, "t1"))
    assert [s.value for s in obs_item.scores] == [0.25]
    assert store.read_scores(["sc3"])["sc3"].session_id == "s1"
    # Imported data is filterable like any other.
    vip = [
        r.id
        for r in store.iter_candidates(
            "trace", Filters(time_from="2026-10-01", time_to="2026-11-01", tags=("vip",)), now=NOW
        )
    ]
    assert vip == ["t1"]
    # A naive timestamp means UTC.
    t2 = store.get_item(ItemRef("trace", "t2", NOW, "t2")).trace
    assert t2 is not None and t2.timestamp == datetime(2026, 10, 2, 10, tzinfo=UTC)


def test_reimport_updates_instead_of_duplicating(tmp_path: Path, store: LocalSource) -> None:
    path = write_jsonl(tmp_path / "good.jsonl", GOOD)
    import_jsonl(path, store)
    before = store.counts()
    import_jsonl(path, store)
    assert store.counts() == before


def test_observations_may_reference_traces_already_stored(tmp_path: Path, store: LocalSource) -> None:
    import_jsonl(write_jsonl(tmp_path / "a.jsonl", GOOD[:2]), store)
    more = [
        {
            "type": "observation",
            "id": "o9",
            "traceId": "t1",
            "observationType": "SPAN",
            "name": "late",
            "startTime": "2026-10-02T09:00:05Z",
        },
        {
            "type": "score",
            "id": "sc9",
            "traceId": "t1",
            "name": "quality",
            "value": "bad",
            "configId": "cfg-q",
            "source": "ANNOTATION",
        },
    ]
    result = import_jsonl(write_jsonl(tmp_path / "b.jsonl", more), store)
    assert (result.observations, result.scores) == (1, 1)
    item = store.get_item(ItemRef("trace", "t1", NOW, "t1"))
    assert item.trace is not None and [o.id for o in item.trace.observations] == ["o9"]
    assert store.read_scores(["sc9"])["sc9"].value == "bad"


BAD_LINES = {
    2: "{not json",
    4: '{"type": "trace", "id": "tx", "name": "n"}',
    5: '{"type": "trace", "id": "ty", "name": "n", "timestamp": "yesterday"}',
    6: '{"type": "observation", "id": "ox", "traceId": "nope", "observationType": "SPAN", "name": "n", "startTime": "2026-10-02T09:00:00Z"}',
    7: '{"type": "observation", "id": "oy", "traceId": "t1", "observationType": "BANANA", "name": "n", "startTime": "2026-10-02T09:00:00Z"}',
    8: '{"type": "score", "id": "s", "name": "x", "value": 2, "dataType": "BOOLEAN", "traceId": "t1"}',
    9: '{"type": "score", "id": "s2", "name": "x", "value": 1, "traceId": "t1", "sessionId": "s1"}',
    10: '{"type": "score", "id": "s3", "name": "x", "value": "a", "traceId": "t1", "configId": "cfg-missing"}',
    11: '{"type": "score_config", "id": "c", "name": "bad/name", "dataType": "NUMERIC"}',
    12: '{"type": "score_config", "id": "c2", "name": "n", "dataType": "NUMERIC", "minValue": 5, "maxValue": 1}',
    13: '{"type": "span", "id": "x"}',
    14: "[1, 2]",
    15: '{"type": "trace", "id": "t1", "name": "dup", "timestamp": "2026-10-02T09:00:00Z"}',
    16: '{"type": "trace", "id": "tz", "name": "n", "timestamp": "2026-10-02T09:00:00Z", "tags": "vip"}',
    17: '{"type": "observation", "id": "oz", "traceId": "t1", "observationType": "SPAN", "name": "n", "startTime": "2026-10-02T09:00:00Z", "endTime": "2026-10-01T00:00:00Z"}',
}


def test_bad_file_reports_every_bad_line_and_imports_nothing(tmp_path: Path, store: LocalSource) -> None:
    good = [GOOD[1], GOOD[3]]  # lines 1 and 3 once the bad lines are inserted
    path = write_jsonl(tmp_path / "bad.jsonl", good, raw_lines=dict(sorted(BAD_LINES.items())))
    with pytest.raises(ImportDataError) as caught:
        import_jsonl(path, store)
    err = caught.value
    numbers = [int(issue.split(":", 1)[0]) for issue in err.issues]
    assert sorted(set(numbers)) == sorted(BAD_LINES)
    text = str(err)
    assert f"{path}:2: invalid JSON" in text
    assert "line 1" in text  # the duplicate trace id points at its first line
    assert "'timestamp'" in text and "BANANA" in text and "cfg-missing" in text and "'nope'" in text
    assert "nothing was imported" in text
    assert store.counts() == {"traces": 0, "observations": 0, "sessions": 0, "scores": 0, "score_configs": 0}


def test_bad_utf8_and_blank_lines(tmp_path: Path, store: LocalSource) -> None:
    path = tmp_path / "enc.jsonl"
    path.write_bytes(json.dumps(GOOD[1]).encode() + b"\n\n" + b'{"type": "trace", "id": "\xff"}\n')
    with pytest.raises(ImportDataError) as caught:
        import_jsonl(path, store)
    assert [i.split(":")[0] for i in caught.value.issues] == ["3"]
    assert "UTF-8" in caught.value.issues[0]


def test_failure_while_writing_rolls_everything_back(
    tmp_path: Path, store: LocalSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(tmp_path / "good.jsonl", GOOD)

    def explode(*_: Any, **__: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "insert_scores", explode)  # the last step: traces are already written
    with pytest.raises(RuntimeError):
        import_jsonl(path, store)
    assert store.counts()["traces"] == 0 and store.counts()["score_configs"] == 0


def test_import_file_opens_and_closes_the_store(tmp_path: Path) -> None:
    db = tmp_path / "new" / "local.db"
    result = import_file(write_jsonl(tmp_path / "good.jsonl", GOOD), db)
    assert result.total == 8 and result.db_path == str(db)
    with LocalSource(db) as store:
        assert store.counts()["traces"] == 2
    with pytest.raises(ConfigError, match="no such file"):
        import_file(tmp_path / "missing.jsonl", db)


def test_parse_timestamp() -> None:
    assert parse_timestamp("2026-10-02T09:00:00Z") == datetime(2026, 10, 2, 9, tzinfo=UTC)
    assert parse_timestamp("2026-10-02T11:00:00+02:00") == datetime(2026, 10, 2, 9, tzinfo=UTC)
    assert parse_timestamp("2026-10-02") == datetime(2026, 10, 2, tzinfo=UTC)
    for bad in ("yesterday", "", 5, None, "2026-13-01T00:00:00Z"):
        assert parse_timestamp(bad) is None


def test_one_issue_per_bad_line(tmp_path: Path, store: LocalSource) -> None:
    lines = [
        {"type": "trace"},
        {
            "type": "observation",
            "id": "o",
            "traceId": "gone",
            "parentObservationId": "gone-too",
            "observationType": "SPAN",
            "name": "n",
            "startTime": "2026-10-02T09:00:00Z",
        },
    ]
    with pytest.raises(ImportDataError) as caught:
        import_jsonl(write_jsonl(tmp_path / "x.jsonl", lines), store)
    issues = caught.value.issues
    assert len(issues) == 2 and str(caught.value).startswith("2 bad line(s)")
    assert issues[0].startswith("1: ") and issues[0].count("missing required field") == 3
    assert issues[1].startswith("2: ") and "'gone'" in issues[1] and "'gone-too'" in issues[1]


def test_langfuse_style_observation_type_in_type(tmp_path: Path, store: LocalSource) -> None:
    lines = [
        GOOD[1],
        {
            "type": "GENERATION",
            "id": "g",
            "traceId": "t1",
            "name": "gen",
            "startTime": "2026-10-02T09:00:00Z",
        },
        {"type": "BANANA", "id": "b", "traceId": "t1", "name": "x", "startTime": "2026-10-02T09:00:00Z"},
    ]
    with pytest.raises(ImportDataError) as caught:
        import_jsonl(write_jsonl(tmp_path / "x.jsonl", lines), store)
    assert [i.split(":")[0] for i in caught.value.issues] == ["3"]
    import_jsonl(write_jsonl(tmp_path / "y.jsonl", lines[:2]), store)
    item = store.get_item(ItemRef("observation", "g", NOW, "t1"))
    assert item.observation is not None and item.observation.type == "GENERATION"
