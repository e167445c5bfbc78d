"""Strict JSON text: too deep a text is refused with the same located message whatever the caller's
stack depth or the process's recursion limit (both decide where ``json.loads`` gives up)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from hitl_pipeline.model.json_text import MAX_JSON_DEPTH, decode_json

DEEP = '{"item": "t-3", "answers": ' + "[" * 1200 + "]" * 1200 + "}"
MESSAGE = f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep (at answers[0][0]…)"


@contextmanager
def _recursion_limit(limit: int) -> Iterator[None]:
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def _at_stack_depth(depth: int, call: Callable[[], object]) -> object:
    return call() if depth == 0 else _at_stack_depth(depth - 1, call)


@pytest.mark.parametrize("limit", [1_000, 5_000, 50_000])
def test_the_nesting_message_does_not_depend_on_the_recursion_limit(limit: int) -> None:
    with _recursion_limit(limit):
        value, problem = decode_json(DEEP)
    assert value is None and problem is not None
    assert (problem.message, problem.syntax) == (MESSAGE, False)


@pytest.mark.parametrize("depth", [0, 400, 900])
def test_the_nesting_message_does_not_depend_on_the_callers_stack(depth: int) -> None:
    value, problem = _at_stack_depth(depth, lambda: decode_json(DEEP))  # type: ignore[misc]
    assert value is None and problem is not None
    assert problem.message == MESSAGE


def test_the_first_too_deep_container_is_located_past_strings_commas_and_keys() -> None:
    # Brackets, commas, quotes and backslashes inside strings are text; the path follows keys and indexes.
    inner = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    text = json.dumps({"a,[": ']}{\\"[', "b": [1, "[[", {'c"': 2, "d": 0}]})
    text = text.replace('"d": 0', '"d": ' + inner)
    _, problem = decode_json(text)
    assert problem is not None and problem.message == (
        f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep (at b[2].d…)"
    )


def test_nesting_up_to_the_cap_decodes() -> None:
    text = "[" * MAX_JSON_DEPTH + "1" + "]" * MAX_JSON_DEPTH
    value, problem = decode_json(text)
    assert problem is None
    for _ in range(MAX_JSON_DEPTH):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == 1
    _, problem = decode_json("[" + text + "]")
    assert problem is not None and problem.message.startswith(
        f"the JSON is nested more than {MAX_JSON_DEPTH}"
    )
