"""The texts and vocabularies of the demo data set, read from package data.

``demo_data/demo.json`` (installed with the package) holds everything the generator in
:mod:`hitl_pipeline.sources.demo` picks from: the score configs the example specs use, topics,
languages, plans and models with their weights, products, customer questions and assistant answers
per topic and language, follow-up turns, error messages, knowledge-base titles, judge comments and
the system prompts. Editing it changes the demo data (``tests/sources/test_demo.py`` pins its hash).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from hitl_pipeline.model import ScoreConfig

#: ``(kind, customer message, assistant answer)``; kind is ``middle``, ``angry`` or ``final``.
Followup = tuple[str, str, str]


@dataclass(frozen=True)
class DemoTexts:
    """The contents of ``demo_data/demo.json``, typed."""

    score_configs: tuple[ScoreConfig, ...]
    topics: tuple[str, ...]
    languages: tuple[str, ...]
    language_weights: tuple[int, ...]
    plans: tuple[str, ...]
    plan_weights: tuple[int, ...]
    models: tuple[str, ...]
    model_weights: tuple[int, ...]
    products: tuple[str, ...]
    #: topic → language → texts. Placeholders: {order} {product} {amount} {date} {email}.
    questions: dict[str, dict[str, list[str]]]
    answers: dict[str, dict[str, list[str]]]
    #: language → follow-up turns ("middle" keep the conversation going, "angry" escalates, "final" closes).
    followups: dict[str, list[Followup]]
    #: language → the answer given when something failed.
    fallback: dict[str, str]
    #: Content meant to test safe rendering: markup in user text must be shown, never executed.
    hostile: tuple[str, ...]
    #: A ``<thinking>`` preamble some answers carry ({topic}).
    thinking: str
    #: observation name → (status message, error kind).
    errors: dict[str, tuple[str, str]]
    kb_titles: dict[str, list[str]]
    judge_comments: tuple[str, ...]
    carriers: tuple[str, ...]
    #: The classifier's system prompt ({topics}) and the answering model's.
    classify_prompt: str
    answer_prompt: str


def _weighted(pairs: list[list[Any]]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    return tuple(str(p[0]) for p in pairs), tuple(int(p[1]) for p in pairs)


def _config(d: dict[str, Any]) -> ScoreConfig:
    return ScoreConfig(
        id=d["id"],
        name=d["name"],
        data_type=d["data_type"],
        categories=tuple((str(label), float(value)) for label, value in d.get("categories") or ()),
        min_value=d.get("min_value"),
        max_value=d.get("max_value"),
        description=d.get("description"),
    )


def parse_demo_texts(raw: dict[str, Any]) -> DemoTexts:
    """Build :class:`DemoTexts` from the file's JSON object."""
    languages, language_weights = _weighted(raw["languages"])
    plans, plan_weights = _weighted(raw["plans"])
    models, model_weights = _weighted(raw["models"])
    return DemoTexts(
        score_configs=tuple(_config(c) for c in raw["score_configs"]),
        topics=tuple(raw["topics"]),
        languages=languages,
        language_weights=language_weights,
        plans=plans,
        plan_weights=plan_weights,
        models=models,
        model_weights=model_weights,
        products=tuple(raw["products"]),
        questions=raw["questions"],
        answers=raw["answers"],
        followups={lang: [(k, m, a) for k, m, a in turns] for lang, turns in raw["followups"].items()},
        fallback=raw["fallback"],
        hostile=tuple(raw["hostile"]),
        thinking=raw["thinking"],
        errors={name: (message, kind) for name, (message, kind) in raw["errors"].items()},
        kb_titles=raw["kb_titles"],
        judge_comments=tuple(raw["judge_comments"]),
        carriers=tuple(raw["carriers"]),
        classify_prompt=raw["prompts"]["classify"],
        answer_prompt=raw["prompts"]["answer"],
    )


@cache
def demo_texts() -> DemoTexts:
    """The packaged demo texts (read once)."""
    text = (
        resources.files("hitl_pipeline.sources").joinpath("demo_data/demo.json").read_text(encoding="utf-8")
    )
    return parse_demo_texts(json.loads(text))
