"""Hostile specs through `hitl validate` and `load_spec`: YAML tags with bad content, times out of
range, integers too large for a JSON number or for Python, huge files. Each is one located issue
(exit 1, no traceback), and a spec that validates also loads (nothing left for `hitl run` to trip on)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hitl_pipeline.cli import app
from hitl_pipeline.errors import SpecError
from hitl_pipeline.spec import check_text, load_spec, load_spec_text
from hitl_pipeline.spec.loader import MAX_SPEC_CHARS

BASE = """version: 1
campaign: hostile
title: A hostile spec
target: trace
source:
  filters:
    from: "2026-10-01"
    to: "2026-11-01"
  sample:
    size: 10
    seed: 1
questions:
  - score: helpfulness
    type: numeric
    min: 1
    max: 5
"""
runner = CliRunner()

# (replace this, with that) → the one expected issue: "line:col: path: message start"
CASES = {
    "timestamp_tag": (
        "title: A hostile spec",
        "title: !!timestamp x",
        "3:8: title: !!timestamp needs a date (2026-10-01) or date-time, found 'x'",
    ),
    "int_tag": (
        "title: A hostile spec",
        "title: !!int 1e3",
        "3:8: title: !!int needs a whole number, found '1e3'",
    ),
    "bool_tag": (
        "title: A hostile spec",
        "title: !!bool maybe",
        "3:8: title: !!bool needs true or false, found 'maybe'",
    ),
    "float_tag": (
        "title: A hostile spec",
        "title: !!float abc",
        "3:8: title: !!float needs a number, found 'abc'",
    ),
    "python_tag": (
        "title: A hostile spec",
        "title: !!python/object/apply:os.system [echo]",
        "3:8: title: the YAML tag !!python/object/apply:os.system is not allowed here",
    ),
    "set_tag": (
        "title: A hostile spec",
        "title: !!set {a, b}",
        "3:8: title: the YAML tag !!set is not allowed here",
    ),
    "relative_time": (
        'from: "2026-10-01"',
        'from: "-1000000d"',
        "7:11: source.filters.from: '-1000000d' is out of range",
    ),
    "relative_time_digits": (
        'from: "2026-10-01"',
        'from: "-' + "9" * 5000 + 'd"',
        "7:11: source.filters.from: '-999999999999999999999999999999999999…' is out of range",
    ),
    "offset_before_year_1": (
        'from: "2026-10-01"',
        'from: "0001-01-01T00:00+01:00"',
        "7:11: source.filters.from: '0001-01-01T00:00+01:00' is out of range",
    ),
    "offset_after_year_9999": (
        'to: "2026-11-01"',
        'to: "9999-12-31T23:59-01:00"',
        "8:9: source.filters.to: '9999-12-31T23:59-01:00' is out of range",
    ),
    "int_over_float_range": (
        "max: 5",
        "max: 1" + "0" * 309,
        "16:10: questions[0].max: this number is 310 characters long; whole numbers must lie between",
    ),
    "int_4000_digits": (
        "max: 5",
        "max: 1" + "0" * 4000,
        "16:10: questions[0].max: this number is 4,001 characters long",
    ),
    "int_over_python_limit": (
        "size: 10",
        "size: 1" + "0" * 4400,
        "10:11: source.sample.size: this number is 4,401 characters long",
    ),
    "int_over_2_53": (
        "max: 5",
        "max: 9007199254740993",
        "16:10: questions[0].max: 9007199254740993 is too large: whole numbers must lie between",
    ),
    "float_overflow": (
        "max: 5",
        "max: 1.0e+400",
        "16:10: questions[0].max: 1.0e+400 is too large for a number",
    ),
    "float_underflow": (
        "min: 1",
        "min: 1.0e-400",
        "15:10: questions[0].min: 1.0e-400 is too small for a number",
    ),
    "exponent_without_dot": (
        "max: 5",
        "max: 1e1000",
        "16:10: questions[0].max: expected a number, found the text '1e1000'; YAML reads a number in this form as text",
    ),
    "type_is_a_mapping": (
        "type: numeric",
        "type: {a: {b: 1}}",
        "14:11: questions[0].type: a mapping is not one of categorical, numeric, boolean, text, correction, preference",
    ),
}


def _spec(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_value_is_one_located_issue_not_a_traceback(tmp_path: Path, name: str) -> None:
    old, new, expected = CASES[name]
    assert old in BASE
    path = _spec(tmp_path, name, BASE.replace(old, new, 1))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    shown = [line for line in result.stdout.splitlines() if line.startswith(f"{path}:")]
    if name != "type_is_a_mapping":
        assert len(shown) == 1, shown
    assert shown[0].startswith(f"{path}:{expected}"), shown
    # No Python repr of a mapping or of a string anywhere.
    assert "{'" not in result.stdout and "('" not in result.stdout
    with pytest.raises(SpecError):
        load_spec(path)


def test_numeric_bounds_of_a_mapping_type_are_described_without_a_repr() -> None:
    text = BASE.replace("type: numeric", "type: {a: {b: 1}}")
    _, issues = check_text(text, "f.yaml")
    messages = [i.message for i in issues]
    assert "'min' is only for numeric questions" in messages
    assert all("{'a'" not in m for m in messages)


def test_allowed_tags_keep_working() -> None:
    spec = load_spec_text(
        BASE.replace("title: A hostile spec", "title: !!str 2026")
        .replace("max: 5", "max: !!int 5")
        .replace("min: 1", "min: !!float 1")
        .replace('from: "2026-10-01"', "from: !!timestamp 2026-10-01"),
        "f.yaml",
    )
    assert spec.title == "2026"
    assert spec.questions[0].max == 5.0 and spec.questions[0].min == 1.0
    assert spec.filters.time_from == "2026-10-01"


def test_the_largest_safe_integer_is_accepted_as_a_seed() -> None:
    spec = load_spec_text(BASE.replace("seed: 1", "seed: 9007199254740991"), "f.yaml")
    assert spec.sample.seed == 9007199254740991


def test_a_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    # 10 MB of valid YAML: parsing it took a minute and 2 GB before the value cap said no.
    filler = "".join(f"k{i}: [{i}, abc]\n" for i in range(700_000))
    path = _spec(tmp_path, "huge", BASE + "guidelines: |\n" + "  " + filler.replace("\n", "\n  "))
    assert path.stat().st_size > 10_000_000
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"{path}:1:1: the spec is larger than {MAX_SPEC_CHARS // 1024} KB; a review spec is a few KB of YAML "
        "(shorten long guidelines)"
    )
    with pytest.raises(SpecError):
        load_spec_text(path.read_text(encoding="utf-8"), "huge.yaml")


def test_a_spec_just_under_the_cap_still_loads() -> None:
    guidelines = "word " * ((MAX_SPEC_CHARS - len(BASE) - 100) // 5)
    spec = load_spec_text(BASE + f"guidelines: {guidelines}\n", "f.yaml")
    assert spec.guidelines.startswith("word")
