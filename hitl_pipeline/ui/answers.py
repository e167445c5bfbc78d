"""The form's answers, without gradio: widget values ↔ answers, ``when`` chains, what is missing.

A question's widget holds a *widget value* (a category label, ``"yes"``/``"no"``, a number or the
text of a scale button, a text); the service takes *answers* (label, bool, float, str; None =
unanswered). :func:`find_problems` says per question what keeps an answer from being submitted:
the form shows each message at its question, the API returns them all.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from hitl_pipeline.spec.model import Category, Question, ReviewSpec

#: A numeric question with at most this many values (min..max by step) is a row of buttons.
SCALE_MAX_VALUES = 10

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def md_escape(text: str) -> str:
    """Text that ``gr.Markdown`` shows literally (HTML-escaped, markdown specials backslashed)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False)).replace("\n", "  \n")


def humanise(label: str) -> str:
    """A score label as reviewers read it: ``minor_issues`` → ``Minor issues`` (other labels unchanged)."""
    if not re.fullmatch(r"[a-z0-9]+(?:[_-][a-z0-9]+)+|[a-z][a-z0-9]*", label):
        return label
    words = re.split(r"[_-]", label)
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def category_text(c: Category) -> str:
    """What the form shows for a category: its ``text``, else the humanised label."""
    return c.text or humanise(c.label)


def scale_values(q: Question) -> list[float] | None:
    """The values of a numeric question shown as a row of buttons (≤ :data:`SCALE_MAX_VALUES`), else None."""
    if q.type != "numeric" or q.min is None or q.max is None or q.max < q.min:
        return None
    step = q.step or 1.0
    count = (q.max - q.min) / step
    if abs(count - round(count)) > 1e-9 or round(count) + 1 > SCALE_MAX_VALUES:
        return None
    return [round(q.min + i * step, 9) for i in range(round(count) + 1)]


def number_text(x: float) -> str:
    """``4.0`` → ``4``, ``2.5`` → ``2.5`` (how a scale button is labelled)."""
    return f"{x:g}"


def to_answer(q: Question, value: Any) -> Any:
    """A widget value as the service's answer (None = unanswered): yes/no → bool, number → float."""
    if value is None:
        return None
    if q.type == "boolean":
        if isinstance(value, bool):
            return value
        return {"yes": True, "no": False}.get(str(value).strip().lower())
    if q.type == "numeric":
        if isinstance(value, str) and not value.strip():
            return None
        return float(value)
    if q.type in ("text", "correction"):
        text = str(value)
        return text if text.strip() else None
    return str(value) if str(value) else None


def to_widget(q: Question, answer: Any) -> Any:
    """A stored answer as the widget's value (the inverse of :func:`to_answer`)."""
    if answer is None:
        return None
    if q.type == "boolean":
        return "yes" if answer else "no"
    if q.type == "numeric":
        return float(answer)
    return str(answer)


def shown_answer(q: Question, answer: Any) -> str:
    """An answer as the form shows it (category text, yes/no, ``4``)."""
    if answer is None:
        return ""
    if q.type == "boolean":
        return "yes" if answer else "no"
    if q.type == "numeric":
        return number_text(float(answer))
    if q.type == "categorical":
        for c in q.categories:
            if c.label == answer:
                return category_text(c)
    return str(answer)


def active_questions(questions: Sequence[Question], answers: dict[str, Any]) -> list[Question]:
    """Questions asked given ``answers``: a ``when``-gated question only if its (active) condition matches."""
    active: dict[str, Question] = {}
    for q in questions:
        if q.when is None or (q.when.question in active and q.when.matches(answers.get(q.when.question))):
            active[q.score] = q
    return list(active.values())


def required_message(q: Question) -> str:
    """What the form says at a required question left unanswered."""
    how = "edit the output to correct it" if q.type == "correction" else "answer it"
    return f"“{q.label}” is required: {how} before submitting."


COMMENT_REQUIRED = "A comment is required: explain your judgment in the comment box."


def find_problems(
    spec: ReviewSpec, values: Sequence[Any], correction_original: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Widget values (in question order) → (answers to send, problem per score name).

    Hidden questions are dropped; a correction equal to the pre-filled output is not a correction
    and is dropped too.
    """
    raw = {q.score: to_answer(q, v) for q, v in zip(spec.questions, values, strict=True)}
    answers: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for q in active_questions(spec.questions, raw):
        value = raw[q.score]
        if q.type == "correction" and value is not None:
            if value.strip() == correction_original.get(q.score, "").strip():
                value = None
        if value is None:
            if q.required:
                problems[q.score] = required_message(q)
            continue
        answers[q.score] = value
    return answers, problems


def collect_answers(
    spec: ReviewSpec, values: Sequence[Any], correction_original: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """:func:`find_problems` with the problems as a list of messages, in question order."""
    answers, problems = find_problems(spec, values, correction_original)
    return answers, list(problems.values())


def comment_problem(spec: ReviewSpec, comment: str | None) -> str | None:
    """The problem with the comment (required but empty), if any."""
    if spec.comment == "required" and not (comment or "").strip():
        return COMMENT_REQUIRED
    return None
