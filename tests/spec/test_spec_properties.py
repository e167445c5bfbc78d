"""Property test: whatever a user does to a valid spec, loading it either succeeds or raises a
SpecError whose issues are all located (line and column ≥ 1) — never any other exception."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitl_pipeline.errors import SpecError
from hitl_pipeline.spec import check_text, load_spec_text
from hitl_pipeline.spec.starter import starter_text

REPO = Path(__file__).resolve().parents[2]
TEXTS = [p.read_text(encoding="utf-8") for p in sorted((REPO / "specs").glob("*.yaml"))] + [starter_text()]
DATA = [check_text(t)[0] for t in TEXTS]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["trace", "now", "-7d", "2026-13-40", "categorical", "poor", "metadata.topic", "TOOL"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        root = root[part]
    return root


def _assert_loads_or_located(text: str) -> None:
    try:
        spec = load_spec_text(text, "mutant.yaml")
    except SpecError as exc:
        assert exc.issues, "a SpecError must carry at least one issue"
        for issue in exc.issues:
            assert issue.line >= 1 and issue.column >= 1, issue
            # …and inside the file (one past the last line: "unexpected end of file").
            assert issue.line <= len(text.splitlines()) + 1, issue
            assert issue.file == "mutant.yaml"
            assert issue.message
    else:
        assert spec.questions and spec.spec_hash


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_data_never_crashes(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(DATA)))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        key = path[-1]
        action = data.draw(st.sampled_from(["drop", "rename", "retype", "swap"]))
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[
                data.draw(st.text(min_size=1, max_size=10) | st.sampled_from(list(parent) + ["sampel"]))
            ] = parent.pop(key)
        elif action == "retype":
            parent[key] = data.draw(values)
        elif action == "swap":
            other = data.draw(st.sampled_from(paths))
            try:
                a, b = _parent(doc, other)[other[-1]], parent[key]
                parent[key], _parent(doc, other)[other[-1]] = copy.deepcopy(a), copy.deepcopy(b)
            except (KeyError, IndexError, TypeError):
                pass  # the other path vanished with an earlier mutation
    _assert_loads_or_located(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_text_never_crashes(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(TEXTS))
    lines = text.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["insert", "delete", "duplicate_line", "indent", "garbage"]))
        pos = data.draw(st.integers(0, max(len(text) - 1, 0)))
        if action == "insert":
            chunk = data.draw(
                st.text(max_size=6)
                | st.sampled_from([":", "- ", "\t", "{", "]", "&a ", "*a", "!!", "'", '"', "\n  ", "<<: "])
            )
            text = text[:pos] + chunk + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 20)) :]
        elif action in ("duplicate_line", "indent") and lines:
            i = data.draw(st.integers(0, len(lines) - 1))
            lines = text.splitlines(keepends=True) or [""]
            i = min(i, len(lines) - 1)
            lines.insert(i, lines[i]) if action == "duplicate_line" else lines.__setitem__(i, "  " + lines[i])
            text = "".join(lines)
        elif action == "garbage":
            text = data.draw(st.text(max_size=60))
    _assert_loads_or_located(text)
