"""The `hitl` command line: exit codes, stdout/stderr, and the one error-mapping mechanism."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from hitl_pipeline import __version__
from hitl_pipeline.cli import DEFAULT_HOME, HitlGroup, HomeOption, app, resolve_home
from hitl_pipeline.errors import SpecError, SpecIssue
from hitl_pipeline.spec import load_spec

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "specs").glob("*.yaml"))
BROKEN = REPO / "tests" / "spec" / "broken"
runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"hitl-pipeline {__version__}"


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "Usage:" in result.output
    for command in ("validate", "schema", "init", "run"):
        assert command in result.output


def test_validate_valid_specs() -> None:
    result = runner.invoke(app, ["validate", *map(str, EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"✓ {p}" for p in EXAMPLES]
    assert result.stderr == ""


def test_validate_reports_located_issues_and_exits_1() -> None:
    broken = BROKEN / "many_problems.yaml"
    good = EXAMPLES[0]
    result = runner.invoke(app, ["validate", str(good), str(broken)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"✓ {good}"
    assert lines[1:] == [
        f"{broken}:9:9: target: 'sessions' is not one of trace, observation, session, pair (did you mean 'session'?)",
        f"{broken}:16:11: source.sample.size: -1 is less than the minimum 1",
        f"{broken}:25:10: questions[1].max: 0 is less than min 1",
        f"{broken}:28:22: questions[2].when.question: no earlier question has score 'nothing' "
        "(earlier questions: support_quality, helpfulness)",
    ]
    assert result.stderr == "Error: 1 of 2 spec files invalid\n"
    assert "Traceback" not in result.output


def test_validate_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1, (result.output, result.exception)  # exit 2: an uncaught exception
    assert result.stderr.startswith(f"Error: no such spec file: {tmp_path / 'nope.yaml'}")
    assert result.stdout == ""


def test_validate_a_directory_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: {tmp_path}: a directory, not a spec file; give the files, e.g. {tmp_path}/*.yaml\n"
    )


def test_schema_output_validates_every_example_with_a_stock_validator() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    printed = json.loads(result.stdout)
    Draft202012Validator.check_schema(printed)
    validator = Draft202012Validator(printed)
    for path in EXAMPLES:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert list(validator.iter_errors(data)) == [], path
    # …and it rejects what the spec loader rejects on schema grounds.
    assert not validator.is_valid(
        {"version": 1, "campaign": "x", "title": "t", "target": "tracee", "questions": []}
    )


def test_init_writes_a_spec_that_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Wrote review.yaml. Check it with: hitl validate review.yaml\n"
    spec = load_spec(tmp_path / "review.yaml")
    assert spec.campaign == "my-review"
    # The same output passes a stock JSON Schema validator.
    printed = json.loads(runner.invoke(app, ["schema"]).stdout)
    assert Draft202012Validator(printed).is_valid(yaml.safe_load((tmp_path / "review.yaml").read_text()))
    again = runner.invoke(app, ["validate", "review.yaml"])
    assert again.exit_code == 0 and again.stdout == "✓ review.yaml\n"


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "specs" / "mine.yaml"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    target.write_text("edited\n")
    refused = runner.invoke(app, ["init", str(target)])
    assert refused.exit_code == 1
    assert (
        refused.stderr
        == f"Error: {target} already exists; choose another path or pass --force to overwrite it\n"
    )
    assert target.read_text() == "edited\n"
    forced = runner.invoke(app, ["init", str(target), "--force"])
    assert forced.exit_code == 0
    assert load_spec(target).title == "Review of support answers"


def test_run_refuses_an_invalid_spec_with_located_issues(hitl_home: Path) -> None:
    broken = BROKEN / "numeric_min_ge_max.yaml"
    result = runner.invoke(app, ["run", str(broken), "--dry-run"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: 1 problem in spec:\n")
    assert f"{broken}:22:10: questions[1].max: 1 is less than min 5" in result.stderr
    assert "Traceback" not in result.output


def test_run_rejects_an_unknown_source() -> None:
    result = runner.invoke(app, ["run", str(EXAMPLES[0]), "--source", "s3", "--dry-run"])
    assert result.exit_code == 1
    assert "Error: unknown source 's3': choose one of local, langfuse (option --source)" in result.stderr


def test_run_help_lists_its_options() -> None:
    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    for option in ("--source", "--dry-run", "--host", "--port", "--reviewer", "--home"):
        assert option in result.stdout


# ---- the error mapping, on a throwaway app built the way cli.py builds its own -----------------


def _probe_app() -> typer.Typer:
    probe = typer.Typer(cls=HitlGroup, pretty_exceptions_show_locals=False, add_completion=False)

    @probe.command()
    def user_error() -> None:
        """Raise a user error."""
        raise SpecError([SpecIssue("a.yaml", 3, 4, "title", "must not be empty")])

    @probe.command()
    def bug() -> None:
        """Raise a bug with a secret in a local variable."""
        secret_key = "sk-lf-SECRET-0123456789"  # noqa: F841 — must never be printed
        raise RuntimeError("boom")

    @probe.command()
    def where(home: HomeOption = DEFAULT_HOME) -> None:
        """Print the resolved state directory."""
        typer.echo(resolve_home(home))

    return probe


def test_user_errors_exit_1_without_traceback() -> None:
    result = runner.invoke(_probe_app(), ["user-error"])
    assert result.exit_code == 1
    assert result.stderr == "Error: 1 problem in spec:\na.yaml:3:4: title: must not be empty\n"
    assert result.stdout == ""


def test_bugs_exit_2_with_a_traceback_but_no_locals() -> None:
    result = runner.invoke(_probe_app(), ["bug"])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: boom" in result.stderr
    assert "This is a bug in hitl-pipeline" in result.stderr
    assert "sk-lf-SECRET" not in result.output


def test_usage_errors_stay_click_usage_errors() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output
    assert "This is a bug" not in result.output


def test_home_option_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HITL_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    probe = _probe_app()
    assert runner.invoke(probe, ["where"]).stdout.strip() == str(tmp_path / ".hitl")
    assert runner.invoke(probe, ["where"], env={"HITL_HOME": str(tmp_path / "h")}).stdout.strip() == str(
        tmp_path / "h"
    )
    assert runner.invoke(probe, ["where", "--home", "x"]).stdout.strip() == str(tmp_path / "x")


# ---- the real entry points, in a subprocess ------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}


def test_python_m_entry_point_maps_errors() -> None:
    broken = BROKEN / "target_enum.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "hitl_pipeline", "validate", str(broken)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == (
        f"{broken}:6:9: target: 'tracee' is not one of trace, observation, session, pair (did you mean 'trace'?)\n"
    )
    assert proc.stderr == "Error: 1 of 1 spec file invalid\n"


@pytest.mark.skipif(shutil.which("hitl") is None, reason="the hitl console script is not installed")
def test_console_script() -> None:
    proc = subprocess.run(["hitl", "--version"], capture_output=True, text=True, env=_env(), timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"hitl-pipeline {__version__}"


def test_bug_in_a_real_process_exits_2_without_locals(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(
        "import typer\n"
        "from hitl_pipeline.cli import HitlGroup\n"
        "app = typer.Typer(cls=HitlGroup, pretty_exceptions_show_locals=False, add_completion=False)\n"
        "@app.command()\n"
        "def boom() -> None:\n"
        "    secret_key = 'sk-lf-SECRET-0123456789'\n"
        "    raise ValueError('bad ' + str(len(secret_key)))\n"
        "@app.command()\n"
        "def other() -> None:\n"
        "    pass\n"
        "app(prog_name='probe')\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script), "boom"], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    assert "ValueError: bad 23" in proc.stderr
    assert "sk-lf-SECRET" not in proc.stderr  # no frame locals (rich's show_locals would print it)
    assert proc.stdout == ""


# ---- messages of the commands themselves ------------------------------------------------------


def test_reviewers_add_says_added_or_updated_by_what_happened(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path)]
    add = ["reviewers", "add", "alice", "--password-stdin", "--replace", *home]
    first = runner.invoke(app, add, input="password-1\n")
    assert first.exit_code == 0, first.output
    assert first.stdout == f"Added reviewer 'alice' in {tmp_path / 'reviewers.json'}\n"
    again = runner.invoke(app, add, input="password-2\n")
    assert again.stdout == f"Updated reviewer 'alice' in {tmp_path / 'reviewers.json'}\n"


def test_export_to_an_unwritable_path_names_that_path(tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "answers.csv"
    result = runner.invoke(
        app, ["export", str(EXAMPLES[0]), "--output", str(target), "--home", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot write {target}: No such file or directory; check the path and its folder\n"
    )


def test_the_starter_specs_own_instructions_get_it_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hitl_pipeline.campaign.lifecycle import open_campaign
    from hitl_pipeline.sources.local import LocalSource

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    home = tmp_path / "home"
    assert runner.invoke(app, ["init"]).exit_code == 0
    header = Path("review.yaml").read_text(encoding="utf-8").split("\nversion:")[0]
    steps = [line.split(":", 1)[1].split() for line in header.splitlines() if re.search(r":\s+hitl ", line)]
    assert [s[:2] for s in steps] == [["hitl", "validate"], ["hitl", "configs"], ["hitl", "run"]]
    for step in steps[:-1]:
        result = runner.invoke(app, [*step[1:], "--home", str(home)] if "configs" in step else step[1:])
        assert result.exit_code == 0, (step, result.output)
    # `hitl run` itself serves until Ctrl+C: open the campaign it would serve (configs resolved).
    store = LocalSource(home / "local.db")
    try:
        open_campaign(load_spec("review.yaml"), store, home=home, start=False, worker=False).close()
    finally:
        store.close()


def test_sync_of_a_campaign_that_never_ran_touches_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = runner.invoke(app, ["sync", str(EXAMPLES[0]), "--home", str(home), "--source", "local"])
    assert result.exit_code == 1
    campaign = load_spec(EXAMPLES[0]).campaign
    assert result.stderr == (
        f"Error: campaign {campaign!r} has no state in {home / 'campaigns'}; "
        f"start it with `hitl run {EXAMPLES[0]}`\n"
    )
    assert not home.exists()  # no demo store created on the way to the error
