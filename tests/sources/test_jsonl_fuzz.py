"""Fuzz: hostile JSON put into the fields of a valid import file (NaN/Infinity, overflowing and
4,300+-digit numbers, lone surrogates, deep nesting, extreme timestamps, parent links that loop).
Whatever comes in, `import_jsonl` either imports and every trace can then be read and shown, or
raises an ImportDataError whose every issue names a line of the file; never anything else.

Bounded for CI (``HITL_FUZZ_EXAMPLES``, default 150 examples); `scripts/fuzz_inputs.py` runs it for
longer.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitl_pipeline.errors import ImportDataError
from hitl_pipeline.sources.base import ItemRef
from hitl_pipeline.sources.jsonl import import_jsonl
from hitl_pipeline.sources.local import LocalSource
from hitl_pipeline.ui.view import build_view
from tests.sources.test_jsonl import GOOD

EXAMPLES = int(os.environ.get("HITL_FUZZ_EXAMPLES", "150"))
MARK = "@@hostile@@"
ISSUE = re.compile(r"^(\d+): \S")

digits = st.integers(0, 5000).map(lambda n: "1" + "0" * n)
nesting = st.integers(0, 1500).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a": ' * n + "1" + "}" * n])
)
timestamps = st.builds(
    lambda y, m, d, off: f'"{y:04d}-{m:02d}-{d:02d}T00:00:00{off}"',
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.sampled_from(["", "Z", "+01:00", "-01:00", "+23:59", "-23:59", ".123456789Z"]),
)
hostile = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-0", "null", "true", "[]", "{}"]),
    st.tuples(st.sampled_from(["", "-"]), digits).map("".join),
    st.integers(-(2**80), 2**80).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(['"\\ud800"', '"a\\udfffb"', '{"\\udc00": 1}', '["\\ud83d"]', '"\\ud83d\\ude00"']),
    nesting,
    timestamps,
    st.sampled_from(['"o1"', '"o2"', '"t1"', '"t2"', '"cfg-q"', '"nope"']),
    st.text(max_size=12).map(json.dumps),
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            if prefix or k != "type":
                out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _lines(data: st.DataObject) -> list[str]:
    records = json.loads(json.dumps(GOOD))
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        index = data.draw(st.integers(0, len(records) - 1), label="record")
        paths = _paths(records[index])
        extra = [("parentObservationId",), ("traceId",), ("timestamp",), ("startTime",), ("value",)]
        path = data.draw(st.sampled_from(paths + extra), label="field")
        node = records[index]
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = MARK
        except (KeyError, IndexError, TypeError):
            continue
    lines = []
    for record in records:
        text = json.dumps(record, ensure_ascii=False)
        while f'"{MARK}"' in text:
            text = text.replace(f'"{MARK}"', data.draw(hostile, label="value"), 1)
        lines.append(text)
    return lines


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalSource:
    source = LocalSource(tmp_path_factory.mktemp("fuzz") / "local.db")
    yield source  # type: ignore[misc]
    source.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_json_lines_are_located_errors(
    data: st.DataObject, store: LocalSource, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lines = _lines(data)
    path = tmp_path_factory.mktemp("jsonl") / "import.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        result = import_jsonl(path, store)
    except ImportDataError as exc:
        assert exc.issues
        for issue in exc.issues:
            match = ISSUE.match(issue)
            assert match and 1 <= int(match.group(1)) <= len(lines), issue
        return
    assert result.total == len(lines)
    for trace_id in ("t1", "t2"):
        if store.has_trace(trace_id):
            item = store.get_item(ItemRef("trace", trace_id, datetime.now(UTC), trace_id=trace_id))
            build_view(item)
