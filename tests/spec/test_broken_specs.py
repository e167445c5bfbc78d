"""Every file in tests/spec/broken/ is a small edit of a valid spec; its header says what is broken
and lists the exact located issues (``# expect: LINE:COL: path: message``, first message line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitl_pipeline.errors import ConfigError, SpecError
from hitl_pipeline.spec import load_spec, validate_spec

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(BROKEN.glob("*.yaml"))


def _expected(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ").rstrip("\n")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("# expect: ")
    ]


def _shown(path: Path) -> list[str]:
    prefix = f"{path}:"
    out = []
    for issue in validate_spec(path):
        text = str(issue).split("\n")[0]
        assert text.startswith(prefix)
        out.append(text[len(prefix) :])
    return out


def test_there_are_enough_broken_specs() -> None:
    assert len(CASES) >= 35


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_broken_spec_reports_exactly_the_expected_issues(path: Path) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} has no '# expect:' lines"
    assert _shown(path) == expected


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_broken_spec_does_not_load(path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    issues = info.value.issues
    assert issues and all(i.line >= 1 and i.column >= 1 and i.file == str(path) for i in issues)
    # The exception message carries every issue, so `Error: …` in the CLI shows them all.
    for issue in issues:
        assert str(issue) in str(info.value)


def test_syntax_errors_show_numbered_context_with_a_caret() -> None:
    path = BROKEN / "yaml_unclosed_bracket.yaml"
    (issue,) = validate_spec(path)
    lines = str(issue).split("\n")
    assert lines[1:] == [
        "  17 |     type: categorical",
        "  18 |     categories: [excellent, acceptable, poor",
        "  19 |   - score: helpfulness",
        "     |          ^",
    ]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_spec(tmp_path)
