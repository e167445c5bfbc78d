"""Gold files: known answers for some items, versioned in git next to the spec (``quality.gold_file``).

YAML::

    items:
      trace:t-0001:
        answers: {support_quality: poor, helpfulness: 1, factually_correct: false}
        rationale: The refund window is 30 days, not 14.
      observation:o-0042:
        trace_id: t-0042            # observations: their trace (to fetch the item)
        timestamp: "2026-10-03T10:00:00Z"   # optional: the item's time (else looked up once at start)
        answers: {tool_call_correct: incorrect}

JSONL (one item per line)::

    {"item": "trace:t-0001", "answers": {"support_quality": "poor"}, "rationale": "…"}

Item keys are the campaign's: ``trace:<id>``, ``observation:<id>`` or ``session:<id>``, of the
spec's target. Answers are checked against the spec's questions like a reviewer's would be
(categorical labels, numeric ranges, booleans); every problem is a located
:class:`~hitl_pipeline.errors.SpecIssue` (``gold.yaml:4:27: items["trace:t-1"].answers.x: …``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hitl_pipeline.errors import SpecError, SpecIssue
from hitl_pipeline.model.json_text import decode_json
from hitl_pipeline.spec.loader import JsonPath, LoadedYaml, format_path, load_yaml
from hitl_pipeline.spec.model import Question, ReviewSpec, resolve_time
from hitl_pipeline.spec.validate import GRADED_TYPES

#: Largest gold file read (a gold set is hand-made: thousands of items at most).
MAX_GOLD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class GoldItem:
    """Known answers for one item: question score name → expected answer (normalised like a
    reviewer's: category label, float, bool), and why (shown in training mode)."""

    key: str
    answers: tuple[tuple[str, Any], ...]
    rationale: str | None = None
    trace_id: str | None = None
    timestamp: datetime | None = None

    @property
    def answer_map(self) -> dict[str, Any]:
        return dict(self.answers)


def gold_path(spec: ReviewSpec) -> Path | None:
    """The gold file of the spec, resolved against the spec file's folder (None without one)."""
    if spec.quality is None or not spec.quality.gold_file:
        return None
    p = Path(spec.quality.gold_file)
    if p.is_absolute() or spec.path.startswith("<"):
        return p
    return Path(spec.path).resolve().parent / p


def normalise_answer(q: Question, value: Any) -> tuple[Any, str | None]:
    """``(normalised value, problem)`` of a gold answer to ``q`` (problem None when it is fine)."""
    if q.type == "boolean":
        if isinstance(value, bool):
            return value, None
        return None, f"must be true or false, found {value!r}"
    if q.type == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None, f"must be a number, found {value!r}"
        if (q.min is not None and value < q.min) or (q.max is not None and value > q.max):
            return None, f"{value:g} is outside the question's range {q.min:g}…{q.max:g}"
        return float(value), None
    if q.type == "categorical":
        if not q.categories:  # categories from a score config: checked when the campaign resolves it
            return value, None if isinstance(value, str) else f"must be a category label, found {value!r}"
        if value in q.labels:
            return value, None
        return None, f"{value!r} is not a category of this question ({', '.join(q.labels)})"
    return None, f"{q.type} questions have no single right answer to grade"


def _key_problem(key: Any, target: str) -> str | None:
    if not isinstance(key, str):
        return f"item keys are strings like {target}:<id>, found {key!r}"
    kind, _, ident = key.partition(":")
    if kind != target or not ident:
        return f"{key!r} is not a {target} key: write {target}:<id> (the spec's target is {target})"
    return None


def _check_entry(
    spec: ReviewSpec, key: Any, entry: Any, at: JsonPath, issue: Any
) -> Iterator[SpecIssue | GoldItem]:
    problem = _key_problem(key, spec.target)
    if problem:
        yield issue(at, problem, True)
        return
    if not isinstance(entry, Mapping):
        yield issue(at, "must be a mapping with answers (and optionally rationale)", False)
        return
    unknown = set(entry) - {"answers", "rationale", "trace_id", "timestamp", "item"}
    for name in sorted(unknown, key=str):
        yield issue(
            (*at, name), f"unknown key {name!r} (allowed: answers, rationale, trace_id, timestamp)", True
        )
    stamp = entry.get("timestamp")
    when = None
    if stamp is not None:
        try:
            when = resolve_time(str(stamp), datetime.now(UTC))
        except ValueError:
            yield issue(
                (*at, "timestamp"), f"{stamp!r} is not an ISO date-time (e.g. 2026-10-03T10:00:00Z)", False
            )
    answers = entry.get("answers")
    if not isinstance(answers, Mapping) or not answers:
        yield issue((*at, "answers"), "needs answers: {question score name: expected answer, …}", False)
        return
    rationale = entry.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        yield issue((*at, "rationale"), "must be text", False)
    trace_id = entry.get("trace_id")
    if spec.target == "observation" and not isinstance(trace_id, str):
        yield issue(at, "observation gold items need their trace_id (to fetch the item)", False)
    by_name = {q.score: q for q in spec.questions}
    normalised: list[tuple[str, Any]] = []
    bad = False
    for name, value in answers.items():
        q = by_name.get(name)
        path = (*at, "answers", name)
        if q is None:
            yield issue(path, f"no question writes score {name!r} ({', '.join(by_name)})", True)
            bad = True
            continue
        norm, problem = normalise_answer(q, value)
        if problem:
            yield issue(path, problem, False)
            bad = True
        else:
            normalised.append((name, norm))
    if not bad:
        yield GoldItem(
            key=key,
            answers=tuple(sorted(normalised)),
            rationale=rationale if isinstance(rationale, str) else None,
            trace_id=trace_id if isinstance(trace_id, str) else None,
            timestamp=when,
        )


def parse_gold(spec: ReviewSpec, text: str, file: str) -> tuple[list[GoldItem], list[SpecIssue]]:
    """Gold items of a gold file's text and every located problem (JSONL when ``file`` ends in .jsonl)."""
    if file.endswith(".jsonl"):
        return _parse_jsonl(spec, text, file)
    try:
        loaded = load_yaml(text, file)
    except SpecError as exc:
        return [], exc.issues
    issues = list(loaded.issues)

    def issue(path: JsonPath, message: str, key: bool) -> SpecIssue:
        return loaded.issue(path, message, key=key)

    data = loaded.data
    if not isinstance(data, dict) or not isinstance(data.get("items"), dict):
        issues.append(
            loaded.issue((), "a gold file is a mapping with items: {<item key>: {answers: {…}}, …}")
        )
        return [], issues
    for extra in sorted(set(data) - {"items"}, key=str):
        issues.append(loaded.issue((extra,), f"unknown key {extra!r} (allowed here: items)", key=True))
    items: list[GoldItem] = []
    for key, entry in data["items"].items():
        for got in _check_entry(spec, key, entry, ("items", key), issue):
            (items if isinstance(got, GoldItem) else issues).append(got)  # type: ignore[arg-type]
    issues.sort(key=lambda i: (i.line, i.column))
    return items, issues


def _parse_jsonl(spec: ReviewSpec, text: str, file: str) -> tuple[list[GoldItem], list[SpecIssue]]:
    items: list[GoldItem] = []
    issues: list[SpecIssue] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        entry, problem = decode_json(line)
        if problem is not None:
            message = f"not valid JSON: {problem.message}" if problem.syntax else problem.message
            issues.append(SpecIssue(file, n, problem.column, "", message))
            continue

        def issue(path: JsonPath, message: str, key: bool, n: int = n) -> SpecIssue:
            return SpecIssue(file, n, 1, format_path(path), message)

        if not isinstance(entry, dict) or "item" not in entry:
            issues.append(SpecIssue(file, n, 1, "", 'each line is {"item": "<item key>", "answers": {…}}'))
            continue
        key = entry["item"]
        if isinstance(key, str) and key in seen:
            issues.append(SpecIssue(file, n, 1, "item", f"{key!r} is listed twice (also line {seen[key]})"))
            continue
        if isinstance(key, str):
            seen[key] = n
        for got in _check_entry(spec, key, entry, (), issue):
            (items if isinstance(got, GoldItem) else issues).append(got)  # type: ignore[arg-type]
    return items, issues


def load_gold_file(spec: ReviewSpec) -> tuple[list[GoldItem], list[SpecIssue]]:
    """The spec's gold file, parsed and checked: ``(items, issues)``; ``([], [])`` without one."""
    path = gold_path(spec)
    if path is None:
        return [], []
    shown = spec.quality.gold_file if spec.quality and spec.quality.gold_file else str(path)
    if not path.is_file():
        return [], [
            SpecIssue(
                spec.path,
                1,
                1,
                "quality.gold_file",
                f"gold file {shown} not found (looked for {path}; it is relative to the spec file)",
            )
        ]
    if path.stat().st_size > MAX_GOLD_BYTES:
        return [], [SpecIssue(str(path), 1, 1, "", f"gold file larger than {MAX_GOLD_BYTES // 2**20} MiB")]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [], [SpecIssue(str(path), 1, 1, "", "the gold file is not UTF-8 text; save it as UTF-8")]
    return parse_gold(spec, text, str(path))


def gold_issues(spec: ReviewSpec, loaded: LoadedYaml | None = None) -> list[SpecIssue]:
    """Every problem of the spec's gold file (what ``hitl validate`` adds for a spec with one), and
    a qualification round longer than the gold file when it is the only source of gold answers
    (located in the spec when its ``loaded`` YAML is given)."""
    items, issues = load_gold_file(spec)
    quality = spec.quality
    if issues or quality is None or quality.gold_scores or not quality.gold_file:
        return issues
    qual = quality.qualification
    if qual is not None and len(items) < qual.items:
        path: JsonPath = ("quality", "qualification", "items")
        message = (
            f"a qualification round of {qual.items} gold items, but the gold file has {len(items)}; "
            "add gold items or shorten the round"
        )
        issues.append(
            loaded.issue(path, message)
            if loaded is not None
            else SpecIssue(spec.path, 1, 1, format_path(path), message)
        )
    return issues


__all__ = [
    "GRADED_TYPES",
    "GoldItem",
    "gold_issues",
    "gold_path",
    "load_gold_file",
    "normalise_answer",
    "parse_gold",
]
