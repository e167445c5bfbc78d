"""Validated spec data → the frozen :class:`~hitl_pipeline.spec.model.ReviewSpec`.

Only called on data that passed :func:`hitl_pipeline.spec.validate.check`, so it trusts shapes
and types; its job is defaults and normalisation (lists to tuples, category values, labels).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any, Literal

from hitl_pipeline.spec.model import (
    AdaptiveOverlap,
    Category,
    Condition,
    Consensus,
    Display,
    Filters,
    Gate,
    Honeypots,
    LangfuseOptions,
    PairArm,
    PairSpec,
    Qualification,
    Quality,
    Question,
    Review,
    ReviewSpec,
    Sample,
    ScoreThreshold,
)


def canonical_json(data: dict[str, Any]) -> str:
    """The canonical JSON (sorted keys, no spaces) of validated spec data."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(data: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON (sorted keys, no spaces) of validated spec data."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


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
        questions=tuple(x for q in data["questions"] for x in _questions(q)),
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
        quality=_quality(data["quality"]) if "quality" in data else None,
        gates=tuple(_gate(g) for g in data.get("gates", [])),
        pair=_pair(data["pair"], source.get("filters", {})) if "pair" in data else None,
        version=int(data["version"]),
        path=path,
        spec_hash=spec_hash(data),
        data_json=canonical_json(data),
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
        reveal_scores=d.get("reveal_scores", defaults.reveal_scores),
    )


def _pair(p: dict[str, Any], common: dict[str, Any]) -> PairSpec:
    def arm(name: str) -> PairArm:
        own = p["arms"][name]
        return PairArm(
            filters=_filters({**common, **own.get("filters", {})}), label=own.get("label", name.upper())
        )

    return PairSpec(
        a=arm("a"),
        b=arm("b"),
        match=p["match"],
        reveal_arms=p.get("reveal_arms", False),
        report_by=p.get("report_by"),
    )


def _preference_categories(q: dict[str, Any]) -> tuple[Category, ...]:
    from hitl_pipeline.model.pairs import BOTH_BAD, OUTCOME_VALUES

    outcomes = (*OUTCOME_VALUES, BOTH_BAD) if q.get("both_bad", False) else OUTCOME_VALUES
    return tuple(Category(label, value) for label, value in outcomes)


def _questions(q: dict[str, Any]) -> tuple[Question, ...]:
    """The question of ``q``; a per-side question (``per_side: true``) as two, arm A's then arm B's."""
    one = _question(q)
    if not q.get("per_side", False):
        return (one,)
    return tuple(
        replace(one, score=f"{one.score}@{arm}", label=f"{one.label} ({arm.upper()})", arm=arm)
        for arm in ("a", "b")
    )


def _question(q: dict[str, Any]) -> Question:
    if q["type"] == "preference":
        return Question(
            score=q["score"],
            type="categorical",
            label=q.get("label", q["score"]),
            config_id=q.get("config_id"),
            categories=_preference_categories(q),
            description=q.get("description"),
            required=q.get("required", True),
            help=q.get("help"),
            when=None,
            hard=q.get("hard", False),
            preference=True,
            both_bad=q.get("both_bad", False),
        )
    categories = tuple(
        (
            Category(c, float(i))
            if isinstance(c, str)
            else Category(c["label"], float(c["value"]), c.get("text"))
        )
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
        hard=q.get("hard", False),
        compare_range=(
            (float(q["compare_range"][0]), float(q["compare_range"][1])) if "compare_range" in q else None
        ),
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _review(r: dict[str, Any]) -> Review:
    per_item = r.get("reviewers_per_item", 1)
    adaptive = None
    if isinstance(per_item, dict):
        adaptive = AdaptiveOverlap(
            min=int(per_item["min"]),
            max=int(per_item["max"]),
            spot_check=float(per_item.get("spot_check", AdaptiveOverlap.spot_check)),
            seed=int(per_item.get("seed", 0)),
        )
        per_item = adaptive.max
    return Review(
        adaptive=adaptive,
        reviewers_per_item=int(per_item),
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


def _quality(q: dict[str, Any]) -> Quality:
    qual, honey = q.get("qualification"), q.get("honeypots")
    return Quality(
        gold_file=q.get("gold_file"),
        gold_scores=tuple(sorted(q.get("gold_scores", {}).items())),
        tolerance=tuple(sorted((k, float(v)) for k, v in q.get("tolerance", {}).items())),
        qualification=(
            Qualification(
                items=int(qual["items"]),
                min_accuracy=float(qual.get("min_accuracy", 0.8)),
                min_kappa=_float(qual.get("min_kappa")),
                retries=int(qual.get("retries", 0)),
            )
            if qual is not None
            else None
        ),
        honeypots=(
            Honeypots(
                rate=float(honey["rate"]),
                seed=int(honey.get("seed", 0)),
                min_accuracy=float(honey.get("min_accuracy", 0.8)),
                stop_below=honey.get("stop_below", False),
            )
            if honey is not None
            else None
        ),
        training=q.get("training", False),
        send_gold_answers=q.get("send_gold_answers", False),
    )


def _gate(g: dict[str, Any]) -> Gate:
    return Gate(
        metric=g["metric"], min=float(g["min"]), question=g.get("question"), on=g.get("on", "estimate")
    )
