"""Hostile JSONL through `hitl import`: what strict JSON, Python or the store cannot hold, and
observation trees that could not be shown. Each is a located error (exit 1, no traceback) and the
store stays exactly as it was."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hitl_pipeline.cli import app
from hitl_pipeline.errors import ImportDataError
from hitl_pipeline.model.json_text import MAX_JSON_DEPTH
from hitl_pipeline.sources.jsonl import import_jsonl
from hitl_pipeline.sources.local import LocalSource

runner = CliRunner()
TRACE = '{"type": "trace", "id": "t1", "name": "chat", "timestamp": "2026-10-02T09:00:00Z"%s}'
OBS = (
    '{"type": "observation", "id": "%s", "traceId": "%s", "observationType": "SPAN", "name": "step", '
    '"startTime": "2026-10-02T09:00:01Z", "parentObservationId": %s}'
)

# name → (lines, the located message of the first bad line)
CASES: dict[str, tuple[list[str], str]] = {
    "lone_surrogate": (
        [TRACE % ', "input": {"q": "\\ud800"}'],
        "1: input.q contains a lone UTF-16 surrogate",
    ),
    "lone_surrogate_key": (
        [TRACE % ', "metadata": {"\\udc00": 1}'],
        "1: a key in metadata contains a lone UTF-16 surrogate",
    ),
    "timestamp_before_year_1": (
        ['{"type": "trace", "id": "t1", "name": "chat", "timestamp": "0001-01-01T00:00:00+01:00"}'],
        "1: 'timestamp' is out of range: \"0001-01-01T00:00:00+01:00\" (timestamps run from year 1 to 9999",
    ),
    "timestamp_after_year_9999": (
        ['{"type": "trace", "id": "t1", "name": "chat", "timestamp": "9999-12-31T23:59:59-05:00"}'],
        "1: 'timestamp' is out of range",
    ),
    "nesting_1000": (
        [TRACE % (', "input": ' + "[" * 1000 + "]" * 1000)],
        f"1: the JSON is nested more than {MAX_JSON_DEPTH} levels deep",
    ),
    "nesting_over_the_cap": (
        [TRACE % (', "input": ' + '{"a": ' * (MAX_JSON_DEPTH + 5) + "1" + "}" * (MAX_JSON_DEPTH + 5))],
        f"1: the JSON is nested more than {MAX_JSON_DEPTH} levels deep (at input.a.a…)",
    ),
    "integer_over_4300_digits": (
        [TRACE % (', "input": [1, 2' + "0" * 4400 + "]")],
        "1: input[1]: 20000000000000000… has more than 4,300 digits",
    ),
    "score_value_over_float_range": (
        [
            TRACE % "",
            '{"type": "score", "id": "s1", "traceId": "t1", "name": "x", "value": 1' + "0" * 400 + "}",
        ],
        "2: a NUMERIC score needs a numeric 'value', got 1000",
    ),
    "config_category_over_float_range": (
        [
            '{"type": "score_config", "id": "c1", "name": "q", "dataType": "CATEGORICAL", "categories": '
            '[{"label": "a", "value": 1' + "0" * 400 + "}]}"
        ],
        '1: category {"label": "a", "value": 1000',
    ),
    "nan": ([TRACE % ', "output": NaN'], "1: output: NaN is not JSON (a reviewer would see null)"),
    "infinity": ([TRACE % ', "output": [-Infinity]'], "1: output[0]: -Infinity is not JSON"),
    "float_overflow": ([TRACE % ', "output": {"x": 1e400}'], "1: output.x: a number here is too large"),
    "self_parent": (
        [TRACE % "", OBS % ("o1", "t1", '"o1"')],
        "2: observation 'o1' is its own parent (parentObservationId)",
    ),
    "parent_cycle": (
        [TRACE % "", OBS % ("o1", "t1", '"o3"'), OBS % ("o2", "t1", '"o1"'), OBS % ("o3", "t1", '"o2"')],
        "2: observation 'o1' is its own ancestor",
    ),
    "parent_in_another_trace": (
        [
            TRACE % "",
            '{"type": "trace", "id": "t2", "name": "chat", "timestamp": "2026-10-02T09:00:00Z"}',
            OBS % ("o1", "t1", "null"),
            OBS % ("o2", "t2", '"o1"'),
        ],
        "4: parent observation 'o1' belongs to trace 't1', not to this observation's trace 't2'",
    ),
}


def _counts(db: Path) -> dict[str, int]:
    store = LocalSource(db)
    try:
        return store.counts()
    finally:
        store.close()


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_line_is_a_located_error_and_the_store_is_unchanged(tmp_path: Path, name: str) -> None:
    lines, expected = CASES[name]
    db = tmp_path / "local.db"
    seed = tmp_path / "seed.jsonl"
    seed.write_text(TRACE.replace('"t1"', '"t0"') % "" + "\n", encoding="utf-8")
    assert runner.invoke(app, ["import", str(seed), "--db", str(db)]).exit_code == 0
    before = _counts(db)
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(path), "--db", str(db)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    # (1,000 levels: Python's JSON reader gives up first, or the depth check does, depending on
    # the recursion limit of the process; both messages start alike.)
    assert f"{path}:{expected}" in result.stderr, result.stderr
    assert _counts(db) == before


def test_a_cycle_through_the_store_is_refused(tmp_path: Path) -> None:
    store = LocalSource(tmp_path / "local.db")
    try:
        first = tmp_path / "first.jsonl"
        first.write_text(
            "\n".join([TRACE % "", OBS % ("o1", "t1", "null"), OBS % ("o2", "t1", '"o1"')]) + "\n",
            encoding="utf-8",
        )
        import_jsonl(first, store)
        # Re-parenting o1 under its own child o2 (stored) would make a loop o1 → o2 → o1.
        second = tmp_path / "second.jsonl"
        second.write_text(OBS % ("o1", "t1", '"o2"') + "\n", encoding="utf-8")
        with pytest.raises(ImportDataError) as caught:
            import_jsonl(second, store)
        assert caught.value.issues == [
            "1: observation 'o1' is its own ancestor (the parentObservationId chain loops back to it); "
            "an observation tree cannot have cycles"
        ]
        assert store.observation_link("o1") == ("t1", None)
    finally:
        store.close()


def test_ordinary_numbers_strings_and_deep_but_allowed_nesting_still_import(tmp_path: Path) -> None:
    deep = '{"a": ' * (MAX_JSON_DEPTH - 2) + "1" + "}" * (MAX_JSON_DEPTH - 2)
    path = tmp_path / "ok.jsonl"
    payload = (
        f', "input": {{"n": [1.5, -0.0, 1e-400, 12345678901234567890], "s": "😀 \\u00e9"}}, "output": {deep}'
    )
    path.write_text(TRACE % payload + "\n", encoding="utf-8")
    db = tmp_path / "local.db"
    result = runner.invoke(app, ["import", str(path), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT input FROM traces WHERE id = 't1'").fetchone()
    assert json.loads(stored) == {"n": [1.5, -0.0, 0.0, 12345678901234567890], "s": "😀 é"}
