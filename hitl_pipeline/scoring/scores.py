"""Turn a validated answer into the scores written back, with deterministic ids.

One score per answered question, on the item's subject (trace; observation with its trace id;
session). Ids are ``uuid5`` over (campaign, spec version, item key, question score name, reviewer),
so re-submitting, editing or re-running updates the same score instead of adding one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hitl_pipeline.errors import ScoreValidationError
from hitl_pipeline.model import CORRECTION_SCORE_NAME, Item, ItemRef, Score, ScoreConfig, ScoreWrite
from hitl_pipeline.model.score_rules import check_score
from hitl_pipeline.scoring.outbox_store import OutboxEntry
from hitl_pipeline.spec.model import Question, ReviewSpec

#: Namespace of hitl score ids (fixed forever: changing it would duplicate every score).
SCORE_NAMESPACE = uuid.UUID("6f1c2a0e-8b1f-5d7e-9a43-2c5b8e0d4f17")
#: Metadata key naming the question of a score whose name is not the question's (corrections).
QUESTION_KEY = "hitl_question"


def question_of(score: Score) -> str:
    """The question score name a stored score answers: the ``hitl_question`` metadata of a
    correction (stored as ``output``), else the score's name."""
    asked = (score.metadata or {}).get(QUESTION_KEY)
    return asked if isinstance(asked, str) and asked else score.name


def stored_names(spec: ReviewSpec, configs: Mapping[str, ScoreConfig] | None = None) -> list[str]:
    """The score names a campaign's answers are stored under: each question's (or its config's)
    name, and ``output`` when the spec asks for corrections. For reading them back."""
    names = {q.score_name for q in spec.questions}  # a per-side question's halves share one name
    names.update(c.name for c in (configs or {}).values())
    if any(q.type == "correction" for q in spec.questions):
        names.add(CORRECTION_SCORE_NAME)
    return sorted(names)


def score_id(campaign: str, spec_version: int, item_key: str, question: str, reviewer: str) -> str:
    """The deterministic id of one reviewer's score for one question on one item."""
    name = "\x1f".join((campaign, str(spec_version), item_key, question, reviewer))
    return str(uuid.uuid5(SCORE_NAMESPACE, name))


def score_value(data_type: str, value: Any) -> float | str:
    """A normalised answer as the value Langfuse takes: label, number, 0/1, or text."""
    if data_type == "BOOLEAN":
        return 1.0 if value else 0.0
    if data_type == "NUMERIC":
        return float(value)
    return str(value)


def score_metadata(
    *, campaign: str, reviewer: str, spec_hash: str, spec_version: int, git_commit: str | None
) -> dict[str, Any]:
    """The metadata every hitl score carries (how resume and reports find a campaign's scores).

    ``hitl_git_commit`` is left out when the spec is not in git: Langfuse stores metadata values
    as text, so a null would come back as the string ``"null"``.
    """
    metadata: dict[str, Any] = {
        "hitl_campaign": campaign,
        "hitl_reviewer": reviewer,
        "hitl_spec_hash": spec_hash,
        "hitl_spec_version": spec_version,
    }
    if git_commit:
        metadata["hitl_git_commit"] = git_commit
    return metadata


def item_environment(item: Item) -> str | None:
    """The environment of an item's subject: its trace's (trace and observation targets; an
    observation lives in its trace's environment) or its first turn's (sessions)."""
    if item.trace is not None:
        return item.trace.environment or None
    if item.session is not None and item.session.traces:
        return item.session.traces[0].environment or None
    return None


def score_environment(spec: ReviewSpec, environment: str | None) -> str | None:
    """The environment written on a score: the spec's ``langfuse.environment`` when set, else the
    item's (None: the server's default)."""
    return spec.langfuse.environment or environment


def build_scores(
    spec: ReviewSpec,
    ref: ItemRef,
    reviewer: str,
    answers: Mapping[str, Any],
    comment: str | None,
    configs: Mapping[str, ScoreConfig],
    *,
    timestamp: datetime | None = None,
    git_commit: str | None = None,
    spec_version: int | None = None,
    queue_id: str | None = None,
    environment: str | None = None,
) -> list[tuple[str, ScoreWrite]]:
    """Build (question, score) for each answered question and check each with Langfuse's rules.

    Args:
        spec: the campaign spec.
        ref: the item answered.
        reviewer: who answered.
        answers: normalised answers (see :func:`hitl_pipeline.scoring.answers.validate_answers`).
        comment: the reviewer's comment, put on every score.
        configs: question score name → resolved config (required for every non-correction question).
        timestamp: the score time; keep it stable across edits (the first answer's time).
        git_commit: the spec's git commit, when known.
        spec_version: the campaign's spec version (part of the score id; default ``spec.version``).
        queue_id: the Langfuse annotation queue the campaign is mirrored into, if any.
        environment: the item's environment (:func:`item_environment`); the spec's
            ``langfuse.environment`` wins when set.

    Raises:
        ScoreValidationError: a score breaks the server's rules (nothing is stored or sent then).
    """
    out: list[tuple[str, ScoreWrite]] = []
    problems: list[str] = []
    version = spec.version if spec_version is None else spec_version
    metadata = score_metadata(
        campaign=spec.campaign,
        reviewer=reviewer,
        spec_hash=spec.spec_hash,
        spec_version=version,
        git_commit=git_commit,
    )
    for q in spec.questions:
        if q.score not in answers:
            continue
        config = None if q.type == "correction" else configs.get(q.score)
        if q.type != "correction" and config is None:
            problems.append(f"{q.label}: no score config resolved for {q.score!r}; run `hitl configs sync`")
            continue
        own = dict(metadata)
        name = config.name if config else q.score
        if q.type == "correction":
            name = CORRECTION_SCORE_NAME
            own[QUESTION_KEY] = q.score
        score = ScoreWrite(
            id=score_id(spec.campaign, version, ref.key, q.score, reviewer),
            name=name,
            value=score_value(q.data_type, answers[q.score]),
            data_type=q.data_type,  # type: ignore[arg-type]
            comment=comment,
            metadata=own,
            config_id=config.id if config else None,
            source="ANNOTATION",
            environment=score_environment(spec, environment),
            timestamp=timestamp,
            queue_id=queue_id,
            **score_target(ref),
        )
        for problem in check_score(score, config):
            problems.append(f"{q.label}: {problem}")
        out.extend((q.score, s) for s in on_subjects(spec, ref, score, q))
    if problems:
        raise ScoreValidationError("\n".join(problems))
    return out


def on_subjects(
    spec: ReviewSpec, ref: ItemRef, score: ScoreWrite, q: Question | None = None
) -> list[ScoreWrite]:
    """The scores actually written for ``score`` (the answer to ``q``): itself, or for a pair one on
    each trace, or one on its arm's trace for a per-side question
    (:func:`hitl_pipeline.scoring.pairs.pair_scores`)."""
    if ref.kind != "pair":
        return [score]
    from hitl_pipeline.scoring.pairs import pair_scores

    return pair_scores(spec, ref, score, q)


def score_target(ref: ItemRef) -> dict[str, str | None]:
    """What a score on ``ref`` is attached to: its trace, observation (with its trace) or session
    (a pair: B's trace; :func:`on_subjects` adds A's)."""
    if ref.kind == "session":
        return {"session_id": ref.id}
    if ref.kind == "observation":
        return {"trace_id": ref.trace_id, "observation_id": ref.id}
    return {"trace_id": ref.id}


def outbox_entries(scores: Sequence[tuple[str, ScoreWrite]]) -> list[OutboxEntry]:
    """(question, score) pairs as the outbox entries stored with them."""
    return [OutboxEntry(score_id=s.id, question=q, payload=score_to_json(s)) for q, s in scores]


def score_to_json(score: ScoreWrite) -> dict[str, Any]:
    """A ScoreWrite as the JSON stored in the outbox."""
    return {
        "id": score.id,
        "name": score.name,
        "value": score.value,
        "data_type": score.data_type,
        "trace_id": score.trace_id,
        "observation_id": score.observation_id,
        "session_id": score.session_id,
        "comment": score.comment,
        "metadata": score.metadata,
        "config_id": score.config_id,
        "source": score.source,
        "queue_id": score.queue_id,
        "environment": score.environment,
        "timestamp": score.timestamp.isoformat() if score.timestamp else None,
    }


def score_from_json(data: Mapping[str, Any]) -> ScoreWrite:
    """The inverse of :func:`score_to_json`."""
    stamp = data.get("timestamp")
    return ScoreWrite(
        id=data["id"],
        name=data["name"],
        value=data["value"],
        data_type=data["data_type"],
        trace_id=data.get("trace_id"),
        observation_id=data.get("observation_id"),
        session_id=data.get("session_id"),
        comment=data.get("comment"),
        metadata=dict(data.get("metadata") or {}),
        config_id=data.get("config_id"),
        source=data.get("source", "ANNOTATION"),
        queue_id=data.get("queue_id"),
        environment=data.get("environment"),
        timestamp=datetime.fromisoformat(stamp) if stamp else None,
    )
