"""How an automated score (``compare_with``, e.g. an LLM judge) reads as an answer to a question.

Shared by adaptive overlap (does the first reviewer disagree with the judge?) and the report's
judge alignment, so both read a judge score the same way:

- boolean: a numeric score counts as *true* from 0.5 (``"true"``/``"false"`` strings as such);
- categorical: a label as is, or a number mapped through the categories' values;
- numeric: the score, with ``compare_range`` mapped linearly onto the question's min–max.
"""

from __future__ import annotations

import math
from typing import Any

from hitl_pipeline.spec.model import Question


def as_float(v: Any) -> float | None:
    """A finite float, or None."""
    if isinstance(v, bool):
        return float(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def judge_label(q: Question, value: Any) -> str | None:
    """The judge's score as an answer to a categorical/boolean ``q``: a label, ``true``/``false``, or None."""
    if q.type == "boolean":
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "false"):
                return low
        f = as_float(value)
        return None if f is None else ("true" if f >= 0.5 else "false")
    if q.type == "categorical":
        if isinstance(value, str) and value in q.labels:
            return value
        f = as_float(value)
        for c in q.categories:
            if f is not None and c.value == f:
                return c.label
        return None
    return None


def judge_number(q: Question, value: Any) -> float | None:
    """A numeric judge score in the question's units (``compare_range`` mapped onto min–max)."""
    f = as_float(value)
    if f is None:
        return None
    if q.compare_range is not None and q.min is not None and q.max is not None:
        lo, hi = q.compare_range
        return q.min + (f - lo) / (hi - lo) * (q.max - q.min)
    return f


def answer_text(v: Any) -> str:
    """An answer as comparable text (booleans as true/false, whole floats without .0)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


__all__ = ["answer_text", "as_float", "judge_label", "judge_number"]
