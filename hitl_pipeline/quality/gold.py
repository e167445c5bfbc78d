"""The gold set of a campaign and grading against it.

Gold answers come from the spec's gold file (:mod:`hitl_pipeline.spec.gold`) and/or from scores
already in the source (``quality.gold_scores``: question → score name, e.g. an expert's scores);
the gold file wins where both answer a question of an item. Answers are graded per question:
categorical and boolean must equal the gold answer, numeric ones be within the question's
``quality.tolerance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from hitl_pipeline.errors import SpecError
from hitl_pipeline.model import ItemRef, Score
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.gold import GoldItem, load_gold_file, normalise_answer
from hitl_pipeline.spec.model import Filters, Question, ReviewSpec

#: ItemRef timestamps of gold items (gold items are fetched by id; their time is not used).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class GoldSet:
    """Gold items by key."""

    items: Mapping[str, GoldItem]
    #: Item times found by :meth:`resolve_times` for gold items that do not give one.
    times: Mapping[str, datetime] = field(default_factory=dict)

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def __len__(self) -> int:
        return len(self.items)

    def ref(self, spec: ReviewSpec, key: str) -> ItemRef:
        """The source reference of a gold item (to fetch it like any item)."""
        gold = self.items[key]
        ident = key.partition(":")[2]
        trace_id = ident if spec.target == "trace" else gold.trace_id
        stamp = gold.timestamp or self.times.get(key) or _EPOCH
        return ItemRef(kind=spec.target, id=ident, timestamp=stamp, trace_id=trace_id)

    def resolve_times(self, spec: ReviewSpec, source: Source, now: datetime) -> GoldSet:
        """A copy knowing the time (and trace) of every gold item without one, looked up in the
        source's listing (the Langfuse backend fetches an item within a window around its time)."""
        missing = {k for k, g in self.items.items() if g.timestamp is None}
        if not missing:
            return self
        times: dict[str, datetime] = {}
        items = dict(self.items)
        wide = Filters(time_from="1970-01-01", time_to="now")
        for ref in source.iter_candidates(spec.target, wide, now=now):
            if ref.key in missing:
                times[ref.key] = ref.timestamp
                g = items[ref.key]
                if g.trace_id is None and ref.trace_id:
                    items[ref.key] = replace(g, trace_id=ref.trace_id)
                if len(times) == len(missing):
                    break
        return GoldSet(items=items, times=times)


def gold_from_scores(spec: ReviewSpec, scores: Iterable[Score]) -> dict[str, GoldItem]:
    """Gold items from existing scores (``quality.gold_scores``); the newest score of a name wins."""
    if spec.quality is None or not spec.quality.gold_scores:
        return {}
    by_score = {score: spec.question(question) for question, score in spec.quality.gold_scores}
    newest: dict[tuple[str, str], Score] = {}
    for s in scores:
        if s.name not in by_score or (s.metadata or {}).get("hitl_campaign"):
            continue
        key = _key(spec.target, s)
        if key is None:
            continue
        old = newest.get((key, s.name))
        if old is None or s.timestamp > old.timestamp:
            newest[(key, s.name)] = s
    answers: dict[str, dict[str, Any]] = {}
    traces: dict[str, str | None] = {}
    times: dict[str, datetime] = {}
    for (key, name), s in newest.items():
        q = by_score[name]
        value, problem = normalise_answer(q, _score_answer(q, s))
        if problem is None:
            answers.setdefault(key, {})[q.score] = value
            traces[key] = s.trace_id
            times[key] = min(times.get(key, s.timestamp), s.timestamp)
    return {
        key: GoldItem(key=key, answers=tuple(sorted(a.items())), trace_id=traces.get(key))
        for key, a in answers.items()
    }


def _key(target: str, s: Score) -> str | None:
    if target == "trace":
        return f"trace:{s.trace_id}" if s.trace_id and not s.observation_id and not s.session_id else None
    if target == "observation":
        return f"observation:{s.observation_id}" if s.observation_id else None
    return f"session:{s.session_id}" if s.session_id else None


def _score_answer(q: Question, s: Score) -> Any:
    if q.type == "boolean":
        if isinstance(s.value, str):
            return s.value.strip().lower() in ("true", "1")
        return bool(s.value) if s.value is not None else None
    if q.type == "categorical":
        if s.string_value:
            return s.string_value
        for c in q.categories:
            if s.value is not None and not isinstance(s.value, str) and float(s.value) == c.value:
                return c.label
        return s.value
    return s.value


def load_gold(spec: ReviewSpec, scores: Iterable[Score] = ()) -> GoldSet:
    """The campaign's gold set: the gold file over gold answers from ``scores``.

    Raises:
        SpecError: the gold file has problems (every one, located).
    """
    items, issues = load_gold_file(spec)
    if issues:
        raise SpecError(issues)
    merged: dict[str, GoldItem] = dict(gold_from_scores(spec, scores))
    for g in items:
        old = merged.get(g.key)
        if old is not None:  # the file wins question by question; its rationale and trace id too
            answers = {**old.answer_map, **g.answer_map}
            g = GoldItem(
                g.key,
                tuple(sorted(answers.items())),
                g.rationale,
                g.trace_id or old.trace_id,
                g.timestamp or old.timestamp,
            )
        merged[g.key] = g
    return GoldSet(items=merged)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def is_correct(q: Question, answer: Any, expected: Any, tolerance: float = 0.0) -> bool:
    """Whether ``answer`` matches the gold answer (numeric: within ``tolerance``)."""
    if answer is None:
        return False
    if q.type == "numeric":
        try:
            return abs(float(answer) - float(expected)) <= tolerance + 1e-9
        except (TypeError, ValueError):
            return False
    if q.type == "boolean":
        return bool(answer) == bool(expected) and isinstance(answer, bool)
    return str(answer) == str(expected)


def grade(spec: ReviewSpec, gold: GoldItem, answers: Mapping[str, Any]) -> dict[str, bool]:
    """Question → correct, for every question the gold item answers (unanswered = wrong)."""
    quality = spec.quality
    out: dict[str, bool] = {}
    for name, expected in gold.answers:
        q = spec.question(name)
        tolerance = quality.tolerance_of(name) if quality else 0.0
        out[name] = is_correct(q, answers.get(name), expected, tolerance)
    return out


def _kappa(a: Sequence[str], b: Sequence[str | None]) -> float | None:
    """Cohen's κ of two label sequences (pairs with a missing answer left out; None when undefined)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if y is not None]
    n = len(pairs)
    if n == 0:
        return None
    po = sum(x == y for x, y in pairs) / n
    labels = {x for p in pairs for x in p}
    pe = sum(sum(x == c for x, _ in pairs) * sum(y == c for _, y in pairs) for c in labels) / (n * n)
    return None if pe == 1 else (po - pe) / (1 - pe)


@dataclass(frozen=True)
class RoundResult:
    """A qualification round's outcome, per question and overall."""

    passed: bool
    per_question: tuple[tuple[str, int, int, float | None], ...]  # (question, correct, graded, κ)

    def summary(self) -> str:
        parts = []
        for name, correct, graded, kappa in self.per_question:
            k = f", κ {kappa:.2f}" if kappa is not None else ""
            parts.append(f"{name}: {correct}/{graded} correct{k}")
        return "; ".join(parts)


def judge_round(
    spec: ReviewSpec,
    answered: Sequence[tuple[GoldItem, Mapping[str, Any]]],
    *,
    min_accuracy: float,
    min_kappa: float | None,
) -> RoundResult:
    """Pass when every graded question's accuracy reaches ``min_accuracy`` (and, for categorical and
    boolean questions, Cohen's κ against the gold answers reaches ``min_kappa`` where it is defined)."""
    rows: list[tuple[str, int, int, float | None]] = []
    passed = True
    for q in spec.questions:
        pairs = [
            (dict(g.answers)[q.score], a.get(q.score)) for g, a in answered if q.score in dict(g.answers)
        ]
        if not pairs:
            continue
        tolerance = spec.quality.tolerance_of(q.score) if spec.quality else 0.0
        correct = sum(is_correct(q, given, expected, tolerance) for expected, given in pairs)
        kappa = None
        if q.type in ("categorical", "boolean"):
            kappa = _kappa([_text(e) for e, _ in pairs], [None if g is None else _text(g) for _, g in pairs])
        ok = correct / len(pairs) >= min_accuracy
        if min_kappa is not None and kappa is not None and kappa < min_kappa:
            ok = False
        passed = passed and ok
        rows.append((q.score, correct, len(pairs), kappa))
    return RoundResult(passed=passed, per_question=tuple(rows))


__all__ = ["GoldSet", "RoundResult", "gold_from_scores", "grade", "is_correct", "judge_round", "load_gold"]
