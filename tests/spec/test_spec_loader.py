"""YAML loading: strings stay strings, duplicate keys and positions, located syntax problems."""

from __future__ import annotations

import time

import pytest

from hitl_pipeline.errors import SpecError
from hitl_pipeline.spec.loader import MAX_VALUES, format_path, load_yaml


def test_dates_and_yaml11_words_stay_strings() -> None:
    loaded = load_yaml("a: 2026-10-01\nb: 2026-10-01T09:30:00Z\nc: off\nd: yes\ne: true\nf: False\ng: ~\n")
    assert loaded.data == {
        "a": "2026-10-01",
        "b": "2026-10-01T09:30:00Z",
        "c": "off",
        "d": "yes",
        "e": True,
        "f": False,
        "g": None,
    }


def test_explicit_tags_never_leak_python_objects() -> None:
    loaded = load_yaml("a: !!timestamp 2026-10-01\nb: !!binary aGVsbG8=\n")
    assert loaded.data == {"a": "2026-10-01", "b": "hello"}


def test_positions_of_keys_and_values_are_one_based() -> None:
    text = "version: 1\nquestions:\n  - score: x\n    type: boolean\n"
    loaded = load_yaml(text)
    assert loaded.values[()] == (1, 1)
    assert loaded.keys[("questions",)] == (2, 1)
    assert loaded.values[("questions", 0)] == (3, 5)
    assert loaded.keys[("questions", 0, "type")] == (4, 5)
    assert loaded.values[("questions", 0, "type")] == (4, 11)
    # An unknown path falls back to its nearest known ancestor.
    assert loaded.position(("questions", 0, "type", "nope")) == (4, 11)


def test_duplicate_keys_are_located_issues_and_the_last_value_wins() -> None:
    loaded = load_yaml("a:\n  b: 1\n  c: 2\n  b: 3\nd: [1]\nd: {e: 1}\n", "f.yaml")
    assert loaded.data == {"a": {"b": 3, "c": 2}, "d": {"e": 1}}
    assert [str(i) for i in loaded.issues] == [
        "f.yaml:4:3: a.b: duplicate key 'b' (first defined at line 2, column 3); "
        "YAML keeps only the last one, so remove or rename one of them",
        "f.yaml:6:1: d: duplicate key 'd' (first defined at line 5, column 1); "
        "YAML keeps only the last one, so remove or rename one of them",
    ]
    # Positions describe the value that was kept.
    assert loaded.values[("d", "e")] == (6, 8)
    assert ("d", 0) not in loaded.values


def test_merge_keys_are_not_duplicates() -> None:
    loaded = load_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert loaded.data["other"] == {"x": 1, "y": 3}
    assert loaded.issues == []


def test_recursive_alias_and_complex_keys_are_issues_not_crashes() -> None:
    loaded = load_yaml("a: &a [1, *a]\n? [k]\n: v\n", "f.yaml")
    messages = [i.message for i in loaded.issues]
    assert messages == [
        "an alias refers to itself (recursive YAML anchor)",
        "a key must be a plain name, not a list or mapping",
    ]
    assert loaded.data == {"a": [1, None]}


def test_unknown_tag_is_a_located_issue() -> None:
    loaded = load_yaml("x: 1\ny: !secret abc\n", "f.yaml")
    assert [str(i) for i in loaded.issues] == [
        "f.yaml:2:4: y: the YAML tag !secret is not allowed here: a single value in a spec can only be "
        "text (!!str), numbers (!!int, !!float), true/false (!!bool) and null (!!null); remove the tag"
    ]


@pytest.mark.parametrize(
    ("text", "first_line"),
    [
        ("", "f.yaml:1:1: the spec is empty; start from `hitl init` or specs/support_qa.yaml"),
        ("# nothing\n", "f.yaml:1:1: the spec is empty; start from `hitl init` or specs/support_qa.yaml"),
        (
            "- a\n",
            "f.yaml:1:1: the spec must be a mapping of keys (version:, campaign:, title:, …), found a list",
        ),
        (
            "\n\nhello\n",
            "f.yaml:3:1: the spec must be a mapping of keys (version:, campaign:, title:, …), found the single value 'hello'",
        ),
        (
            "a: 1\nb: \x07\n",
            "f.yaml:2:4: the file contains a control character U+0007 that YAML does not allow; remove it",
        ),
        (
            "a: b: c\n",
            "f.yaml:1:5: YAML syntax error: mapping values are not allowed here; a value containing ': ' must "
            'be put in quotes (label: "Note: be careful"), or this line is indented too far',
        ),
    ],
)
def test_unusable_text_raises_a_located_spec_error(text: str, first_line: str) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml(text, "f.yaml")
    (issue,) = info.value.issues
    assert str(issue).split("\n")[0] == first_line


def test_byte_order_mark_is_ignored() -> None:
    assert load_yaml("\ufeffa: 1\n").data == {"a": 1}


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("questions", 1, "max"), "questions[1].max"),
        (("source", "filters", "from"), "source.filters.from"),
        (("source", "filters", "metadata", "plan tier"), 'source.filters.metadata["plan tier"]'),
        ((0, "a"), "[0].a"),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize("depth", [60, 5000])
def test_absurd_nesting_is_a_located_issue(depth: int) -> None:
    text = "a: " + "[" * depth + "]" * depth + "\n"
    try:
        issues = load_yaml(text, "f.yaml").issues
    except SpecError as exc:
        issues = exc.issues
    assert [i.message for i in issues] == ["the YAML is nested too deeply (more than 40 levels)"]
    assert all(i.line >= 1 and i.column >= 1 for i in issues)


def test_aliases_of_aliases_are_refused_quickly() -> None:
    # Six levels of nine aliases are 9**7 (4.8 million) values to build and locate: 40 s unchecked,
    # and every further level multiplies that by nine ("billion laughs").
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 7)]
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        load_yaml("\n".join(lines) + "\n", "f.yaml")
    assert time.monotonic() - started < 10
    (issue,) = info.value.issues
    assert issue.file == "f.yaml" and issue.line >= 1 and issue.column >= 1
    assert issue.message.startswith(f"the YAML expands to more than {MAX_VALUES:,} values")
