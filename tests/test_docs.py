"""The docs cannot drift: every command has help with an example and is in README's CLI reference;
README's spec reference is exactly what the schema generates; the quick start and CI agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from hitl_pipeline.cli import app
from hitl_pipeline.spec.docs import END, START, main, render_reference, replace_reference

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def _leaf_commands(group: Any, prefix: str = "") -> dict[str, Any]:
    """``{"validate": cmd, "configs sync": cmd, …}``: every visible command, sub-groups flattened."""
    out: dict[str, Any] = {}
    for name, cmd in group.commands.items():
        if cmd.hidden:
            continue
        if hasattr(cmd, "commands"):
            out.update(_leaf_commands(cmd, f"{prefix}{name} "))
        else:
            out[f"{prefix}{name}"] = cmd
    return out


COMMANDS = _leaf_commands(typer.main.get_command(app))


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_there_are_commands() -> None:
    assert {"validate", "schema", "init", "run"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_help_with_an_example(name: str) -> None:
    help_text = COMMANDS[name].help or ""
    summary = help_text.strip().splitlines()[0] if help_text.strip() else ""
    assert summary, f"`hitl {name}` has no help"
    examples = [line.strip() for line in help_text.splitlines() if line.strip().startswith("Example:")]
    assert examples, f"`hitl {name}` help has no 'Example:' line"
    assert examples[0].startswith(f"Example: hitl {name}")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_is_in_the_readme_cli_reference(name: str) -> None:
    reference = _section("CLI reference")
    assert re.search(rf"`hitl {re.escape(name)}\b", reference), (
        f"`hitl {name}` is missing from README's CLI reference"
    )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_readme_cli_reference_names_every_option_of_the_command(name: str) -> None:
    rows = [line for line in _section("CLI reference").splitlines() if line.startswith(f"| `hitl {name}")]
    assert len(rows) == 1, f"README's CLI reference needs exactly one row for `hitl {name}`"
    # --home is described once, above the table, for every command.
    options = [p.opts[0] for p in COMMANDS[name].params if p.param_type_name == "option"]
    missing = [
        o for o in options if o != "--home" and not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", rows[0])
    ]
    assert not missing, f"README's row for `hitl {name}` does not mention {', '.join(missing)}"


def test_readme_spec_reference_is_generated_from_the_schema() -> None:
    start, end = README.index(START), README.index(END)
    assert README[start + len(START) : end] == "\n" + render_reference()
    assert "python -m hitl_pipeline.spec.docs --write README.md" in README


def test_reference_covers_every_schema_field() -> None:
    reference = render_reference()
    for field in (
        "`version`",
        "`source.filters.metadata`",
        "`source.filters.scores[].op`",
        "`source.sample.by`",
        "`display.parts`",
        "`questions[].when.in`",
        "`review.reviewers_per_item`",
        "`consensus.max_disagreement`",
        "`langfuse.annotation_queue`",
    ):
        assert field in reference


def test_docs_tool_check_and_write(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"# x\n{START}\nold\n{END}\ntail\n")
    assert main(["--check", str(doc)]) == 1
    assert main(["--write", str(doc)]) == 0
    assert main(["--check", str(doc)]) == 0
    assert doc.read_text() == f"# x\n{START}\n{render_reference()}{END}\ntail\n"
    with pytest.raises(ValueError, match="markers"):
        replace_reference("no markers", "x")


def test_quick_start_has_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    quick = _section("Quick start")
    blocks = re.findall(r"```bash\n(.*?)```", quick, re.S)
    assert blocks[:2] == ["pip install -e . && hitl run specs/support_qa.yaml\n", "bash scripts/test.sh\n"]
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash\n")
    assert "exec bash scripts/test.sh" in ci
    script = (REPO / "scripts" / "test.sh").read_text()
    assert "set -euo pipefail" in script
    for step in (
        'pip install --quiet -e ".[test]"',
        "ruff check hitl_pipeline tests",
        "mypy",
        "python -m pytest",
    ):
        assert step in script
    for path in (REPO / ".ci" / "run", REPO / "scripts" / "test.sh"):
        assert path.stat().st_mode & 0o111, f"{path} is not executable"


def test_readme_has_the_sections_others_fill() -> None:
    for title in ("Using Langfuse", "The review form", "Form API", "Reports", "Benchmarks", "Spec reference"):
        _section(title)
