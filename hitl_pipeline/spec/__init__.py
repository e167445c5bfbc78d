"""Review specs: the JSON Schema, YAML loading with located errors, the typed model.

::

    from hitl_pipeline.spec import load_spec
    spec = load_spec("specs/support_qa.yaml")   # ReviewSpec, or SpecError listing every problem
    for q in spec.questions:
        print(q.score, q.type)

The format is defined once, by ``schema/v1.json`` (see :func:`schema`); the rules a JSON Schema
cannot express (references between questions, Langfuse's limits, cross-field rules) live in
:mod:`hitl_pipeline.spec.validate`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from hitl_pipeline.errors import ConfigError, SpecError, SpecIssue
from hitl_pipeline.spec.builder import build_spec
from hitl_pipeline.spec.loader import MAX_SPEC_CHARS, load_yaml, too_big_message
from hitl_pipeline.spec.model import ReviewSpec
from hitl_pipeline.spec.validate import check

#: Where editors and ``$schema`` keys can point (the schema's ``$id``).
SCHEMA_ID = "https://hitl-pipeline.dev/schema/review-spec-v1.json"


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("hitl_pipeline.spec").joinpath("schema/v1.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of the review spec format, version 1 (a fresh copy)."""
    return copy.deepcopy(_schema())


def check_text(text: str, path: str = "<string>") -> tuple[dict[str, Any] | None, list[SpecIssue]]:
    """Load and validate spec text: ``(data, issues)``; ``data`` is None when the YAML is unusable."""
    try:
        loaded = load_yaml(text, path)
    except SpecError as exc:
        return None, exc.issues
    return loaded.data, check(loaded)


def load_spec_text(text: str, path: str = "<string>") -> ReviewSpec:
    """Load a spec from YAML text.

    Raises:
        SpecError: with every located problem, when the text is not a valid spec.
    """
    data, issues = check_text(text, path)
    if issues or not isinstance(data, dict):
        raise SpecError(issues)
    return build_spec(data, path)


def _read(path: str | Path) -> tuple[str, str]:
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise ConfigError(f"spec file {name} does not exist (working directory: {Path.cwd()})")
    if p.is_dir():
        raise ConfigError(
            f"{name} is a directory; give the path of a spec file (e.g. {name}/support_qa.yaml)"
        )
    # Refused before reading: a huge file would take minutes and gigabytes to parse.
    with p.open("rb") as handle:
        raw = handle.read(MAX_SPEC_CHARS * 4 + 4)  # a character is at most 4 bytes of UTF-8
    if len(raw) > MAX_SPEC_CHARS * 4 + 3:
        raise SpecError([SpecIssue(name, 1, 1, "", too_big_message())])
    try:
        return name, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError(
            [SpecIssue(name, line, column, "", "the file is not UTF-8 text; save it as UTF-8")]
        ) from None


def load_spec(path: str | Path) -> ReviewSpec:
    """Load and validate a spec file into a :class:`ReviewSpec` (``spec.path`` is ``str(path)``).

    Raises:
        ConfigError: the file does not exist or is a directory.
        SpecError: with every located problem, when the file is not a valid spec.
    """
    name, text = _read(path)
    return load_spec_text(text, name)


def validate_spec(path: str | Path) -> list[SpecIssue]:
    """Every problem of a spec file, sorted by position (empty when valid).

    Raises:
        ConfigError: the file does not exist or is a directory.
    """
    try:
        name, text = _read(path)
    except SpecError as exc:
        return exc.issues
    data, issues = check_text(text, name)
    if not issues and isinstance(data, dict) and isinstance(data.get("quality"), dict):
        from hitl_pipeline.spec.gold import gold_issues  # the gold file next to the spec (quality.gold_file)

        issues = gold_issues(build_spec(data, name), load_yaml(text, name))
    return issues


def validate_specs(paths: Iterable[str | Path]) -> list[tuple[str, list[SpecIssue]]]:
    """``(path, issues)`` for each file, in the order given (what ``hitl validate`` prints).

    Raises:
        ConfigError: listing every path that does not exist (checked before any validation).
    """
    paths = list(paths)
    folders = [str(p) for p in paths if Path(p).is_dir()]
    if folders:
        raise ConfigError(
            f"{', '.join(folders)}: a directory, not a spec file; give the files, e.g. {folders[0]}/*.yaml"
        )
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise ConfigError("no such spec file: " + ", ".join(missing) + f" (working directory: {Path.cwd()})")
    return [(str(p), validate_spec(p)) for p in paths]


__all__ = [
    "SCHEMA_ID",
    "ReviewSpec",
    "SpecError",
    "SpecIssue",
    "check_text",
    "load_spec",
    "load_spec_text",
    "schema",
    "validate_spec",
    "validate_specs",
]
