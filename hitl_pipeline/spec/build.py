"""Validated spec data → the frozen :class:`~hitl_pipeline.spec.model.ReviewSpec`.

Only called on data that passed :func:`hitl_pipeline.spec.validate.check`, so it trusts shapes
and types; its job is defaults and normalisation (lists to tuples, category values, labels).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from hitl_pipeline.spec.model import (
    Category,
    Condition,
    Consensus,
    Display,
    Filters,
    LangfuseOptions,
    Question,
    Review,
    ReviewSpec,
    Sample,
    ScoreThreshold,
)


def spec_hash(data: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON (sorted keys, no spaces) of validated spec data."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def build_spec(data: dict[str, Any], path: str) -> ReviewSpec:
    """The typed model of validated ``data`` read from ``path``."""
    source = data.get("source", {})
    return ReviewSpec(
        campaign=data["campaign"],
        title=data["title"],
        target=data["target"],
        questions=tuple(_question(q) for q in data["questions"]),
        guidelines=data.get("guidelines", ""),
        filters=_filters(source.get("filters", {})),
        sample=_sample(source.get("sample", {})),
        display=_display(data.get("display", {})),
        comment=data.get("comment", "optional"),
        review=_review(data.get("review", {})),
        consensus=_consensus(data.get("consensus", {})),
        langfuse=LangfuseOptions(
            annotation_queue=data.get("langfuse", {}).get("annotation_queue", False),
            environment=data.get("langfuse", {}).get("environment"),
        ),
        version=int(data["version"]),
        path=path,
        spec_hash=spec_hash(data),
    )


def _filters(f: dict[str, Any]) -> Filters:
    metadata = tuple(
        (key, tuple(value) if isinstance(value, list) else (value,))
        for key, value in sorted(f.get("metadata", {}).items())
    )
    defaults = Filters()
    return Filters(
        trace_name=_strings(f.get("trace_name")),
        user_id=_strings(f.get("user_id")),
        session_id=_strings(f.get("session_id")),
        tags=_strings(f.get("tags")),
        exclude_tags=_strings(f.get("exclude_tags")),
        environment=_strings(f.get("environment")),
        release=_strings(f.get("release")),
        version=_strings(f.get("version")),
        time_from=f.get("from", defaults.time_from),
        time_to=f.get("to", defaults.time_to),
        metadata=metadata,
        observation_type=_strings(f.get("observation_type")),
        observation_name=_strings(f.get("observation_name")),
        scores=tuple(ScoreThreshold(s["name"], s["op"], s["value"]) for s in f.get("scores", [])),
    )


def _sample(s: dict[str, Any]) -> Sample:
    return Sample(
        # JSON Schema counts 10.0 as an integer; the model promises ints.
        size=None if s.get("size") is None else int(s["size"]),
        strategy=s.get("strategy", "random"),
        by=s.get("by"),
        seed=int(s.get("seed", 0)),
    )


def _display(d: dict[str, Any]) -> Display:
    defaults = Display()
    return Display(
        parts=tuple(d.get("parts", defaults.parts)),
        metadata_keys=_strings(d.get("metadata_keys")),
        scores=_strings(d.get("scores")),
    )


def _question(q: dict[str, Any]) -> Question:
    categories = tuple(
        Category(c, float(i)) if isinstance(c, str) else Category(c["label"], float(c["value"]))
        for i, c in enumerate(q.get("categories", []))
    )
    when = q.get("when")
    condition = None
    if when is not None:
        op: Literal["equals", "not_equals", "in"] = (
            "equals" if "equals" in when else "not_equals" if "not_equals" in when else "in"
        )
        values = tuple(when[op]) if op == "in" else (when[op],)
        condition = Condition(question=when["question"], op=op, values=values)
    return Question(
        score=q["score"],
        type=q["type"],
        label=q.get("label", q["score"]),
        config_id=q.get("config_id"),
        categories=categories,
        min=_float(q.get("min")),
        max=_float(q.get("max")),
        step=_float(q.get("step")),
        description=q.get("description"),
        required=q.get("required", True),
        help=q.get("help"),
        when=condition,
        compare_with=q.get("compare_with"),
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _review(r: dict[str, Any]) -> Review:
    return Review(
        reviewers_per_item=int(r.get("reviewers_per_item", 1)),
        blind=r.get("blind", True),
        allow_skip=r.get("allow_skip", True),
        lease_minutes=float(r.get("lease_minutes", 30)),
        reviewers=_strings(r.get("reviewers")),
        adjudicators=_strings(r.get("adjudicators")),
    )


def _consensus(c: dict[str, Any]) -> Consensus:
    defaults = Consensus()
    return Consensus(
        enabled=c.get("enabled", defaults.enabled),
        numeric=c.get("numeric", defaults.numeric),
        max_disagreement=float(c.get("max_disagreement", defaults.max_disagreement)),
    )
