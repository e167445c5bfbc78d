"""Langfuse's own validation rules for scores and score configs, applied before anything is sent or stored.

The server checks a score against its config only *after* answering 200 to ``POST /scores`` (the
checks run later, in its ingestion worker), and silently drops a score that fails (seen on Langfuse
v3.225 and v4.16). So we run the same checks first: whatever passes here is stored by the server;
whatever fails never leaves the machine. Score configs follow the server's
create rules (:func:`score_config_problems`), so both backends refuse the same configs alike.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence

from hitl_pipeline.model.scores import ScoreConfig, ScoreWrite

#: TEXT (and CORRECTION) values must be 1–500 characters (server TEXT_SCORE_MAX_LENGTH).
TEXT_MAX_LENGTH = 500
#: Score config names: 1–35 characters of letters, digits, ``_ .()-`` and space.
CONFIG_NAME_MAX_LENGTH = 35
_NAME_EXTRA = set("_ .()-")
#: The data types a score config may have (CORRECTION exists only on scores).
CONFIG_DATA_TYPES = ("NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT")


def config_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Langfuse score config name, or None if it is."""
    if not 1 <= len(name) <= CONFIG_NAME_MAX_LENGTH:
        return f"must be 1–{CONFIG_NAME_MAX_LENGTH} characters long (it has {len(name)})"
    for ch in name:
        cat = unicodedata.category(ch)
        if not (cat.startswith("L") or cat.startswith("N") or ch in _NAME_EXTRA):
            return f"may only contain letters, digits, spaces and _ . ( ) - (found {ch!r})"
    return None


def score_config_problems(
    name: str,
    data_type: str,
    categories: Sequence[tuple[str, float]] = (),
    min_value: float | None = None,
    max_value: float | None = None,
) -> list[str]:
    """Every reason Langfuse would refuse to create this score config (empty list = valid).

    Both backends check this before creating (the local store, and the Langfuse source before
    sending), and the JSONL importer for the configs it reads."""
    problems: list[str] = []
    name_problem = config_name_problem(name)
    if name_problem:
        problems.append(f"name {name!r} {name_problem}")
    if data_type not in CONFIG_DATA_TYPES:
        problems.append(f"data type {data_type!r} must be one of {', '.join(CONFIG_DATA_TYPES)}")
        return problems
    has_range = min_value is not None or max_value is not None
    if data_type == "NUMERIC":
        if categories:
            problems.append("a NUMERIC config takes no categories")
        if min_value is not None and max_value is not None and not max_value > min_value:
            problems.append(f"max ({max_value:g}) must be greater than min ({min_value:g})")
    elif data_type == "CATEGORICAL":
        if has_range:
            problems.append("a CATEGORICAL config takes no min/max")
        problems.extend(_category_problems(categories))
    else:  # BOOLEAN, TEXT
        if categories:
            always = " (they are always True = 1, False = 0)" if data_type == "BOOLEAN" else ""
            problems.append(f"a {data_type} config takes no categories{always}")
        if has_range:
            problems.append(f"a {data_type} config takes no min/max")
    return problems


def _category_problems(categories: Sequence[tuple[str, float]]) -> list[str]:
    """What is wrong with a CATEGORICAL config's categories."""
    problems: list[str] = []
    if not categories:
        problems.append("a CATEGORICAL config needs at least one category")
    labels = [label for label, _ in categories]
    values = [value for _, value in categories]
    if any(not isinstance(label, str) or not label for label in labels):
        problems.append("category labels must be non-empty strings")
    if len(set(labels)) != len(labels):
        problems.append("category labels must be unique")
    if len(set(values)) != len(values):
        problems.append("category values must be unique")
    return problems


def check_score(score: ScoreWrite, config: ScoreConfig | None) -> list[str]:
    """Every reason the server would refuse or drop ``score``; an empty list means it is valid.

    ``config`` must be the config named by ``score.config_id`` (None when there is no config id,
    or when the id is unknown — which is itself an error if an id was given).
    """
    problems = _subject_problems(score)
    if score.data_type == "CORRECTION":
        if score.config_id:
            problems.append("a CORRECTION score cannot have a config")
        if score.session_id:
            problems.append("a CORRECTION score cannot target a session")
        problems.extend(_text_problems(score.value, "correction"))
        return problems
    if score.source == "ANNOTATION" and not score.config_id:
        problems.append("an ANNOTATION score needs a config id")
    if score.config_id:
        mismatch, usable = _config_problems(score, config)
        problems.extend(mismatch)
        if not usable:
            return problems
    problems.extend(_value_problems(score.data_type, score.value, config))
    return problems


def _subject_problems(score: ScoreWrite) -> list[str]:
    problems: list[str] = []
    targets = [t for t in (score.trace_id, score.session_id) if t]
    if len(targets) != 1:
        problems.append("a score needs exactly one of trace id or session id")
    if score.observation_id and not score.trace_id:
        problems.append("an observation score needs its trace id")
    if not score.name:
        problems.append("the score name is empty")
    return problems


def _config_problems(score: ScoreWrite, config: ScoreConfig | None) -> tuple[list[str], bool]:
    """How ``score`` disagrees with its config, and whether its value can still be checked
    against it (not when the config is missing or of another data type)."""
    if config is None or config.id != score.config_id:
        return [f"score config {score.config_id!r} does not exist"], False
    problems: list[str] = []
    if config.is_archived:
        problems.append(f"score config {config.name!r} is archived; restore it in Langfuse first")
    if score.name != config.name:
        problems.append(f"score name {score.name!r} differs from its config's name {config.name!r}")
    if score.data_type != config.data_type:
        problems.append(
            f"data type mismatch: the config says {config.data_type}, the score is {score.data_type}"
        )
        return problems, False
    return problems, True


def _numeric_problems(value: object, config: ScoreConfig | None) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return [f"a numeric score needs a finite number, got {value!r}"]
    problems = []
    if config is not None:
        if config.max_value is not None and value > config.max_value:
            problems.append(f"{value:g} is above the maximum {config.max_value:g}")
        if config.min_value is not None and value < config.min_value:
            problems.append(f"{value:g} is below the minimum {config.min_value:g}")
    return problems


def _boolean_problems(value: object, config: ScoreConfig | None) -> list[str]:
    if isinstance(value, bool) or value not in (0, 1) or isinstance(value, str):
        return [f"a boolean score must be the number 0 or 1, got {value!r}"]
    return []


def _categorical_problems(value: object, config: ScoreConfig | None) -> list[str]:
    if not isinstance(value, str):
        return [f"a categorical score is sent as its label (a string), got {value!r}"]
    if config is not None and value not in {label for label, _ in config.categories}:
        labels = ", ".join(label for label, _ in config.categories)
        return [f"{value!r} is not one of the categories: {labels}"]
    return []


_VALUE_RULES: dict[str, Callable[[object, ScoreConfig | None], list[str]]] = {
    "NUMERIC": _numeric_problems,
    "BOOLEAN": _boolean_problems,
    "CATEGORICAL": _categorical_problems,
    "TEXT": lambda value, _config: _text_problems(value, "text"),
}


def _value_problems(data_type: str, value: object, config: ScoreConfig | None) -> list[str]:
    rule = _VALUE_RULES.get(data_type)
    return rule(value, config) if rule is not None else []


def _text_problems(value: object, kind: str) -> list[str]:
    if not isinstance(value, str):
        return [f"a {kind} score needs a string, got {value!r}"]
    if not 1 <= len(value) <= TEXT_MAX_LENGTH:
        return [f"a {kind} answer must be 1–{TEXT_MAX_LENGTH} characters (it has {len(value)})"]
    return []
