"""Strict JSON text: what the store, Langfuse and a reviewer's screen can hold, as one decoder.

Python's ``json.loads`` accepts more than JSON and fails on some of it with exceptions that are
not about the input's place: it reads ``NaN``/``Infinity`` (shown to a reviewer as ``null``),
turns ``1e400`` into infinity, keeps lone UTF-16 surrogates (``"\\ud800"``, which no UTF-8 store
can write), raises ``RecursionError`` on deep nesting and ``ValueError`` on integers over 4,300
digits. :func:`decode_json` returns the value or one message naming the field's path for each of
these, so every reader of user files (``hitl import``, gold files) refuses them the same way.

Nesting is measured on the text before it is decoded: whether ``json.loads`` raises
``RecursionError`` depends on how deep the caller's stack already is and on the process's
recursion limit (which libraries such as Hypothesis raise), so leaving it to the decoder would word
the same line differently from one call to the next.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

#: Deeper JSON than this is refused: no trace payload needs it, and displays walk it recursively.
MAX_JSON_DEPTH = 100
#: Python refuses to convert longer integers (``sys.get_int_max_str_digits``).
_MAX_INT_DIGITS = 4300


class _BadNumber:
    """What the JSON reader returns for a number strict JSON or a float cannot hold; reported with
    its path by :func:`_payload_problems`, never stored."""

    def __init__(self, text: str, why: str) -> None:
        self.text = text
        self.why = why


def _constant(text: str) -> _BadNumber:
    return _BadNumber(text, "is not JSON (a reviewer would see null); write null or a string instead")


def _int(text: str) -> int | _BadNumber:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        return _BadNumber(text, f"has more than {_MAX_INT_DIGITS:,} digits")
    return int(text)


@dataclass(frozen=True)
class JsonProblem:
    """Why a text is refused: a syntax error (``syntax``, with its 1-based ``column``) or values
    strict JSON cannot hold (``message`` names each one's path)."""

    message: str
    column: int = 1
    syntax: bool = False


#: A JSON string (possibly unterminated, running to the end of the text).
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"?'
#: One token of JSON text that matters for nesting: a string or punctuation.
_NESTING_TOKEN = re.compile(_STRING + r"|[\[\]{},]")
_STRINGS = re.compile(_STRING)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_BRACKETS_AS_PARENTHESES = str.maketrans("[{]}", "(())")


def _may_be_too_deep(text: str) -> bool:
    """False when ``text`` surely nests no deeper than :data:`MAX_JSON_DEPTH` (C-speed passes only)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text)).translate(_BRACKETS_AS_PARENTHESES)
    for _ in range(MAX_JSON_DEPTH):  # each pass removes the innermost level
        if not brackets:
            return False
        brackets = brackets.replace("()", "")
    return bool(brackets)  # deeper, or unbalanced (invalid JSON): read token by token


def _too_deep_at(text: str) -> tuple[str | int, ...] | None:
    """The path of the first container nested deeper than :data:`MAX_JSON_DEPTH` in ``text``, if any.

    Read from the text alone (strings skipped, object keys and array indexes followed), so the
    answer never depends on the stack or the recursion limit of the process."""
    if not _may_be_too_deep(text):
        return None
    # One frame per open container: [key or index of the current member, expecting an object key].
    frames: list[list[Any]] = []
    for match in _NESTING_TOKEN.finditer(text):
        token = match.group()
        first = token[0]
        if first == '"':
            if frames and frames[-1][1] is True:
                try:
                    key = json.loads(token)
                except ValueError:
                    key = token[1:-1]
                frames[-1][0] = key if isinstance(key, str) else token[1:-1]
                frames[-1][1] = False
        elif first in "[{":
            if len(frames) >= MAX_JSON_DEPTH:
                return tuple(frame[0] for frame in frames)
            frames.append(["", True] if first == "{" else [0, None])
        elif first in "]}":
            if frames:
                frames.pop()
        elif frames:  # a comma: the next object key, or the next array index
            if frames[-1][1] is None:
                frames[-1][0] += 1
            else:
                frames[-1][1] = True
    return None


def _nesting_problem(path: tuple[str | int, ...]) -> str:
    return f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep (at {_path_text(path[:3])}…)"


def decode_json(text: str) -> tuple[Any, JsonProblem | None]:
    """One JSON text as a value, or the problem with it; never raises."""
    deep = _too_deep_at(text)
    if deep is not None:
        return None, JsonProblem(_nesting_problem(deep))
    try:
        try:
            obj = json.loads(text, parse_constant=_constant)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise
            # An integer over Python's digit limit: read again, checking every integer, to locate it.
            obj = json.loads(text, parse_constant=_constant, parse_int=_int)
    except json.JSONDecodeError as exc:
        return None, JsonProblem(exc.msg, exc.colno, syntax=True)
    except RecursionError:  # not reached: _too_deep_at refuses such texts first; worded the same
        return None, JsonProblem(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    problems = _payload_problems(obj)
    return (None, JsonProblem("; ".join(problems))) if problems else (obj, None)


def _path_text(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = part.encode("utf-8", "backslashreplace").decode("utf-8")
            shown = shown if len(shown) <= 40 else shown[:37] + "…"
            out += f".{shown}" if out else shown
    return out or "the record"


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _payload_problems(obj: Any, limit: int = 5) -> list[str]:
    """What in a decoded line cannot be stored as it is, each with the field's path (at most ``limit``)."""
    problems: list[str] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(obj, ())]
    surrogate = "contains a lone UTF-16 surrogate (\\ud800–\\udfff), which is not text; fix the exporter"
    while stack and len(problems) < limit:
        value, path = stack.pop()
        if isinstance(value, _BadNumber):
            shown = value.text if len(value.text) <= 20 else value.text[:17] + "…"
            problems.append(f"{_path_text(path)}: {shown} {value.why}")
        elif isinstance(value, float) and math.isinf(value):  # 1e400: JSON reads it as infinity
            problems.append(f"{_path_text(path)}: a number here is too large (beyond ±1.8e308)")
        elif isinstance(value, str):
            if not _is_text(value):
                problems.append(f"{_path_text(path)} {surrogate}")
        elif isinstance(value, dict | list):
            if len(path) >= MAX_JSON_DEPTH:  # not reached for decode_json's texts (checked before)
                problems.append(_nesting_problem(path))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = []
            for key, child in items:
                if isinstance(key, str) and not _is_text(key):
                    problems.append(f"a key in {_path_text(path)} {surrogate}")
                    continue
                children.append((child, (*path, key)))
            stack.extend(reversed(children))
    return problems


__all__ = ["MAX_JSON_DEPTH", "JsonProblem", "decode_json"]
