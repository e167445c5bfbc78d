"""Golden datasets built by humans: reviewed items whose consensus meets a condition.

``hitl export SPEC --to-dataset NAME --where support_quality=excellent`` takes every item of the
campaign whose consensus answer satisfies all conditions and writes it as a dataset item:

- on Langfuse: a dataset ``NAME`` (created if missing) with one item per reviewed item, linked to
  its source trace/observation; item ids are deterministic, so re-exporting updates the same items;
- on the local backend: ``<home>/datasets/NAME.jsonl`` (or ``--output``), one JSON object per line
  with the same fields.

The consensus of an item is its stored consensus score (``hitl_consensus``) when there is one,
otherwise it is decided from the reviewers' stored answers with the spec's consensus rule; items
still waiting for an adjudicator have no consensus and are never exported. ``expected_output`` is
the reviewers' correction when the spec has a correction question and someone gave one, else the
item's own output.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hitl_pipeline.campaign.consensus import CONSENSUS_TYPES, decide
from hitl_pipeline.errors import ConfigError
from hitl_pipeline.model import Item, ItemRef, Score
from hitl_pipeline.report.compute import AnswerRecord, answer_value, records_from_scores, stored_consensus
from hitl_pipeline.scoring.scores import stored_names
from hitl_pipeline.sources.base import Datasets, Source
from hitl_pipeline.spec.model import Question, ReviewSpec

#: Namespace of dataset item ids (uuid5 over campaign, version, dataset name, item key).
DATASET_NAMESPACE = uuid.UUID("3b0f6a52-9c2e-4d41-8f36-7a5e2c1d9b04")

Op = Literal["=", "!=", ">=", "<=", ">", "<"]
_YES, _NO = ("true", "1", "yes"), ("false", "0", "no")
_CONDITION = re.compile(r"^\s*([^=!<>]+?)\s*(!=|>=|<=|=|>|<)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Condition:
    """``question op value`` on an item's consensus answer, e.g. ``support_quality=excellent``."""

    question: str
    op: Op
    value: str

    def holds(self, q: Question, answer: Any) -> bool:
        """Whether the consensus ``answer`` to ``q`` satisfies the condition."""
        if answer is None:
            return False
        if q.type == "boolean":
            want = self.value.lower() in _YES
            return (bool(answer) == want) == (self.op == "=") if self.op in ("=", "!=") else False
        if q.type == "numeric" or (q.type == "categorical" and self.op not in ("=", "!=")):
            left = _numeric(q, answer)
            right = _numeric(q, self.value)
            if left is None or right is None:
                return False
            return {
                "=": left == right,
                "!=": left != right,
                ">=": left >= right,
                "<=": left <= right,
                ">": left > right,
                "<": left < right,
            }[self.op]
        return (str(answer) == self.value) == (self.op == "=")


def _numeric(q: Question, value: Any) -> float | None:
    for c in q.categories:
        if c.label == value:
            return c.value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_condition(text: str, spec: ReviewSpec) -> Condition:
    """Parse ``question<op>value`` (ops ``= != >= <= > <``) against the spec's questions.

    Raises:
        ConfigError: the text does not parse, names no consensus question, or an unknown category.
    """
    m = _CONDITION.match(text)
    if not m:
        raise ConfigError(
            f"--where {text!r}: write it as QUESTION=VALUE (or != >= <= > <), e.g. support_quality=excellent"
        )
    name, op, value = m.group(1), m.group(2), m.group(3)
    try:
        q = spec.question(name)
    except KeyError:
        names = ", ".join(q.score for q in spec.questions if q.type in CONSENSUS_TYPES)
        raise ConfigError(
            f"--where {text!r}: {name!r} is not a question of {spec.path} (choose from {names})"
        ) from None
    if q.type not in CONSENSUS_TYPES:
        raise ConfigError(f"--where {text!r}: {q.type} questions have no consensus to filter on")
    if q.type == "boolean":
        if op not in ("=", "!=") or value.lower() not in _YES + _NO:
            raise ConfigError(f"--where {text!r}: {name} is yes/no: write {name}=yes, {name}=no or use !=")
    elif q.type == "categorical" and op in ("=", "!="):
        if value not in q.labels:
            raise ConfigError(
                f"--where {text!r}: {value!r} is not a category of {name} ({', '.join(q.labels)})"
            )
    elif _numeric(q, value) is None:
        what = (
            "a number" if q.type == "numeric" else f"a number or a category of {name} ({', '.join(q.labels)})"
        )
        raise ConfigError(f"--where {text!r}: {op} needs {what}, not {value!r}")
    return Condition(name, op, value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DatasetRow:
    """One dataset item."""

    id: str
    item_key: str
    input: Any
    expected_output: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    source_trace_id: str | None = None
    source_observation_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": self.input,
            "expectedOutput": self.expected_output,
            "metadata": self.metadata,
            "sourceTraceId": self.source_trace_id,
            "sourceObservationId": self.source_observation_id,
        }


@dataclass(frozen=True)
class DatasetExport:
    """What :func:`export_dataset` did: ``target`` is the Langfuse dataset name or the JSONL path."""

    name: str
    target: str
    rows: tuple[DatasetRow, ...]
    considered: int  # items with a consensus


def consensus_by_item(
    spec: ReviewSpec, scores: Iterable[Score], *, spec_version: int | None = None
) -> tuple[dict[str, dict[str, Any]], list[AnswerRecord]]:
    """Item key → question → consensus answer, from stored scores; plus the answer records used.

    Stored consensus scores win; otherwise the consensus is decided from the answers (items that
    would need an adjudicator are left out).
    """
    scores = list(scores)
    records = records_from_scores(spec, scores, spec_version=spec_version)
    version = next((r.spec_version for r in records if r.spec_version), None)
    by_item: defaultdict[str, defaultdict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        by_item[r.item_key][r.question][r.reviewer] = r.value
    out: dict[str, dict[str, Any]] = {}
    for key, questions in by_item.items():
        decided: dict[str, Any] = {}
        for q in spec.questions:
            if q.type not in CONSENSUS_TYPES or q.score not in questions:
                continue
            d = decide(
                q,
                list(questions[q.score].values()),
                numeric=spec.consensus.numeric,
                max_disagreement=spec.consensus.max_disagreement,
            )
            if d.needs_adjudication:
                decided = {}
                break
            decided[q.score] = d.value
        if decided:
            out[key] = decided
    by_name = {q.score: q for q in spec.questions}
    for (name, key), s in stored_consensus(spec, scores, spec_version=version).items():
        out.setdefault(key, {})[name] = answer_value(s, by_name[name])
    return out, records


def _refs(spec: ReviewSpec, source: Source, keys: set[str], home: str | Path | None) -> dict[str, ItemRef]:
    refs: dict[str, ItemRef] = {}
    if home is not None:
        from hitl_pipeline.report import campaign_state_for

        state = campaign_state_for(spec, home)
        if state is not None:
            try:
                refs = {row.key: row.ref for row in state.items() if row.key in keys}
            finally:
                state.close()
    missing = keys - set(refs)
    if missing:
        # No campaign state here: find the items again through the spec's own filters.
        for ref in source.iter_candidates(spec.target, spec.filters, now=datetime.now(UTC)):
            if ref.key in missing:
                refs[ref.key] = ref
                missing.discard(ref.key)
                if not missing:
                    break
    return refs


def _io(item: Item) -> tuple[Any, Any]:
    if item.observation is not None:
        return item.observation.input, item.observation.output
    if item.session is not None:
        turns = [{"input": t.input, "output": t.output} for t in item.session.traces]
        return turns, None
    if item.trace is not None:
        return item.trace.input, item.trace.output
    return None, None


def golden_rows(
    spec: ReviewSpec,
    source: Source,
    name: str,
    conditions: Sequence[Condition] = (),
    *,
    home: str | Path | None = None,
    spec_version: int | None = None,
) -> tuple[list[DatasetRow], int]:
    """The dataset rows for the items whose consensus meets every condition, and how many had one."""
    scores = list(source.iter_scores(names=stored_names(spec)))
    consensus, records = consensus_by_item(spec, scores, spec_version=spec_version)
    version = next((r.spec_version for r in records if r.spec_version), "1")
    corrections: dict[str, str] = {}
    correction_q = [q.score for q in spec.questions if q.type == "correction"]
    for r in sorted(records, key=lambda r: r.submitted_at or datetime.min.replace(tzinfo=UTC)):
        if r.question in correction_q and isinstance(r.value, str):
            corrections[r.item_key] = r.value  # the latest correction wins
    chosen = sorted(
        key
        for key, answers in consensus.items()
        if all(c.holds(spec.question(c.question), answers.get(c.question)) for c in conditions)
    )
    refs = _refs(spec, source, set(chosen), home)
    rows: list[DatasetRow] = []
    for key in chosen:
        ref = refs.get(key)
        if ref is None:
            continue  # the item is gone from the source
        item = source.get_item(ref)
        given, output = _io(item)
        answers = consensus[key]
        rows.append(
            DatasetRow(
                id=str(uuid.uuid5(DATASET_NAMESPACE, f"{spec.campaign}\x1f{version}\x1f{name}\x1f{key}")),
                item_key=key,
                input=given,
                expected_output=corrections.get(key, output),
                metadata={
                    "hitl_campaign": spec.campaign,
                    "hitl_spec_version": version,
                    "hitl_item": key,
                    "hitl_consensus": {k: v for k, v in answers.items()},
                    "hitl_corrected": key in corrections,
                },
                source_trace_id=ref.trace_id
                if ref.kind == "observation"
                else (ref.id if ref.kind == "trace" else None),
                source_observation_id=ref.id if ref.kind == "observation" else None,
            )
        )
    return rows, len(consensus)


def _write_dataset(source: Datasets, name: str, spec: ReviewSpec, rows: Sequence[DatasetRow]) -> None:
    if not source.dataset_exists(name):
        source.create_dataset(
            name,
            description=f"Golden set from the hitl campaign {spec.campaign!r}: {spec.title}",
            metadata={"hitl_campaign": spec.campaign},
        )
    for row in rows:
        source.upsert_dataset_item(
            name,
            item_id=row.id,
            input=row.input,
            expected_output=row.expected_output,
            metadata=row.metadata,
            source_trace_id=row.source_trace_id,
            source_observation_id=row.source_observation_id,
        )


def export_dataset(
    spec: ReviewSpec,
    source: Source,
    name: str,
    conditions: Sequence[Condition] = (),
    *,
    home: str | Path,
    output: str | Path | None = None,
) -> DatasetExport:
    """Export the reviewed items meeting ``conditions`` as a dataset (Langfuse, or JSONL locally).

    Raises:
        ConfigError: a bad dataset name.
        SourceError: Langfuse refused to create the dataset or an item.
    """
    if not name.strip() or "/" in name:
        raise ConfigError(f"dataset name {name!r}: give a non-empty name without '/'")
    if spec.target == "pair":
        raise ConfigError(
            f"{spec.path}: a pair campaign has no single output per item to put in a dataset; "
            "export the answers with `hitl export` instead"
        )
    rows, considered = golden_rows(spec, source, name, conditions, home=home)
    if isinstance(source, Datasets) and output is None:
        _write_dataset(source, name, spec, rows)
        target = name
    else:
        path = Path(output) if output is not None else Path(home) / "datasets" / f"{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row.to_json(), ensure_ascii=False, sort_keys=True, default=str) + "\n")
        tmp.replace(path)  # all or nothing: a crash never leaves half a dataset
        target = str(path)
    return DatasetExport(name=name, target=target, rows=tuple(rows), considered=considered)


def export_campaign_dataset(
    spec_path: str | Path,
    name: str,
    where: Sequence[str] = (),
    *,
    home: str | Path,
    source_name: str | None = None,
    output: str | Path | None = None,
) -> DatasetExport:
    """What ``hitl export SPEC --to-dataset NAME [--where …]`` does."""
    from hitl_pipeline.settings import Settings
    from hitl_pipeline.sources import get_source
    from hitl_pipeline.spec import load_spec

    spec = load_spec(spec_path)
    conditions = [parse_condition(w, spec) for w in where]
    settings = Settings.from_env(home)
    source = get_source(source_name, settings, create_demo=False)
    try:
        return export_dataset(spec, source, name, conditions, home=settings.home, output=output)
    finally:
        source.close()


def read_jsonl(path: str | Path) -> list[Mapping[str, Any]]:
    """The rows of a local dataset file (tests and scripts)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
