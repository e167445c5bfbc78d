"""Check a reviewer's answers against the spec's questions and the resolved score configs.

Runs on the server side of the form (never trust the browser): required questions, ``when``
conditions (a question whose condition does not hold must stay unanswered and is not scored),
categorical labels, numeric ranges, booleans, text length, corrections that really change the
output, and the comment policy. Values come back normalised to the form the campaign stores:
categorical → label ``str``, numeric → ``float``, boolean → ``bool``, text/correction → ``str``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from hitl_pipeline.errors import ScoreValidationError
from hitl_pipeline.model import Item, ScoreConfig
from hitl_pipeline.model.score_rules import TEXT_MAX_LENGTH
from hitl_pipeline.spec.model import Question, ReviewSpec

_TRUE = {"yes", "true", "1"}
_FALSE = {"no", "false", "0"}


def output_text(item: Item | None) -> str | None:
    """The item output as the text a correction starts from (and is compared with).

    Observation target → the observation's output; trace → the trace's output. A chat message
    (``{"role": …, "content": "…"}``) gives its content; other strings as they are; anything else
    as pretty JSON. None for sessions or when there is no output.
    """
    if item is None:
        return None
    if item.observation is not None:
        out = item.observation.output
    elif item.trace is not None and item.session is None:
        out = item.trace.output
    else:
        return None
    if out is None:
        return None
    if isinstance(out, str):
        return out
    if isinstance(out, Mapping) and isinstance(out.get("content"), str):
        return str(out["content"])
    return json.dumps(out, ensure_ascii=False, indent=2, sort_keys=True)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _normalise(
    q: Question, value: Any, config: ScoreConfig | None, original: str | None
) -> tuple[Any, str | None]:
    """(normalised value, problem). A value of None means "unanswered" (e.g. an unchanged correction)."""
    if q.type == "categorical":
        return _normalise_label(q, value, config)
    if q.type == "numeric":
        return _normalise_number(q, value, config)
    if q.type == "boolean":
        return _normalise_boolean(value)
    return _normalise_text(q, value, original)  # text and correction


def _normalise_label(q: Question, value: Any, config: ScoreConfig | None) -> tuple[Any, str | None]:
    labels = [label for label, _ in config.categories] if config else list(q.labels)
    if not isinstance(value, str) or value not in labels:
        return None, f"{value!r} is not one of: {', '.join(labels)}"
    return value, None


def _as_number(value: Any) -> float | None:
    """A number from a number or its text (None for anything else, booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _normalise_number(q: Question, value: Any, config: ScoreConfig | None) -> tuple[Any, str | None]:
    number = _as_number(value)
    if number is None:
        return None, f"needs a number, got {value!r}"
    if not math.isfinite(number):
        return None, f"needs a finite number, got {value!r}"
    low = config.min_value if config and config.min_value is not None else q.min
    high = config.max_value if config and config.max_value is not None else q.max
    if low is not None and number < low:
        return None, f"{number:g} is below the minimum {low:g}"
    if high is not None and number > high:
        return None, f"{number:g} is above the maximum {high:g}"
    return number, None


def _normalise_boolean(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value), None
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE, None
    return None, f"needs yes or no, got {value!r}"


def _normalise_text(q: Question, value: Any, original: str | None) -> tuple[Any, str | None]:
    if not isinstance(value, str):
        return None, f"needs text, got {value!r}"
    text = value.strip()
    if q.type == "correction" and original is not None and text == original.strip():
        return None, None  # unchanged: not a correction
    if len(text) > TEXT_MAX_LENGTH:
        return None, f"must be at most {TEXT_MAX_LENGTH} characters (it has {len(text)})"
    return text, None


def validate_answers(
    spec: ReviewSpec,
    configs: Mapping[str, ScoreConfig],
    answers: Mapping[str, Any],
    comment: str | None,
    *,
    original_output: str | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Validate one submission; return (normalised answers of the questions asked, comment).

    Args:
        spec: the campaign spec (questions, comment policy).
        configs: question score name → resolved score config (questions without one: none).
        answers: question score name → raw value from the form.
        comment: the reviewer's comment.
        original_output: the item's output text (see :func:`output_text`); a correction equal to it
            counts as unanswered.

    Raises:
        ScoreValidationError: every problem, one per line, phrased for the reviewer.
    """
    problems: list[str] = []
    known = {q.score for q in spec.questions}
    for name in answers:
        if name not in known:
            problems.append(f"{name}: not a question of this campaign")
    result: dict[str, Any] = {}
    for q in spec.questions:
        value, problem = _answer_of(spec, q, answers.get(q.score), result, configs, original_output)
        if problem:
            problems.append(problem)
        elif value is not None:
            result[q.score] = value
    text = comment.strip() if isinstance(comment, str) else None
    text = text or None
    if spec.comment == "off" and text:
        problems.append("comment: comments are turned off for this campaign")
    elif spec.comment == "required" and not text:
        problems.append("comment: a comment is required")
    if problems:
        raise ScoreValidationError("\n".join(problems))
    return result, text if spec.comment != "off" else None


def _answer_of(
    spec: ReviewSpec,
    q: Question,
    raw: Any,
    result: Mapping[str, Any],
    configs: Mapping[str, ScoreConfig],
    original_output: str | None,
) -> tuple[Any, str | None]:
    """(normalised answer or None when unanswered or not asked, the reviewer's problem with it)."""
    asked = q.when is None or q.when.matches(result.get(q.when.question))
    if not asked:
        if not _blank(raw):
            return None, f"{q.label}: must be left empty (it only applies when {_describe(spec, q)})"
        return None, None
    value = None
    if not _blank(raw):
        value, problem = _normalise(q, raw, configs.get(q.score), original_output)
        if problem:
            return None, f"{q.label}: {problem}"
    if value is None and q.required:
        hint = " (edit the output to correct it)" if q.type == "correction" and not _blank(raw) else ""
        return None, f"{q.label}: an answer is required{hint}"
    return value, None


def _describe(spec: ReviewSpec, q: Question) -> str:
    cond = q.when
    assert cond is not None
    try:
        label = spec.question(cond.question).label
    except KeyError:
        label = cond.question
    values = ", ".join(str(v) for v in cond.values)
    op = {"equals": "is", "not_equals": "is not", "in": "is one of"}[cond.op]
    return f"{label!r} {op} {values}"
