"""Rebuild what a campaign has done from the scores it already wrote (its state was lost, or a new machine)."""

from __future__ import annotations

from typing import Any

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.model import Score, ScoreWrite
from hitl_pipeline.scoring.pairs import answers_pair
from hitl_pipeline.scoring.scores import outbox_entries, question_of, stored_names
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.model import Question, ReviewSpec


def _answer_from_score(q: Question, score: Score) -> Any:
    if q.type == "boolean":
        value = score.value
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)
    if q.type == "numeric":
        return float(score.value) if score.value is not None else None
    if q.type == "categorical":
        return score.string_value if isinstance(score.string_value, str) else str(score.value)
    return str(score.value if score.value is not None else score.string_value)


def _score_key(score: Score) -> str | None:
    pair = (score.metadata or {}).get("hitl_pair")
    if isinstance(pair, str) and pair:
        # A pair judgment is stored on both traces; B's score holds the answer (B's outcome).
        # A per-side question's score is on its own arm's trace (scoring/pairs.py).
        return pair if answers_pair(score.metadata or {}) else None
    if score.observation_id:
        return f"observation:{score.observation_id}"
    if score.session_id:
        return f"session:{score.session_id}"
    if score.trace_id:
        return f"trace:{score.trace_id}"
    return None


def _questions_by_score_name(spec: ReviewSpec, configs: dict[str, Any]) -> dict[str, Question]:
    """Score name → question: each question's own name and the name of its resolved score config."""
    by_name: dict[str, Question] = {}
    for q in spec.questions:
        by_name[q.score] = q
        if q.score in configs:
            by_name[configs[q.score].name] = q
    return by_name


def _reviewer_of(score: Score, campaign: str, version: int) -> str | None:
    """The reviewer who wrote ``score`` in this campaign version (None: not a reviewer's answer here)."""
    meta = score.metadata or {}
    if meta.get("hitl_campaign") != campaign or not meta.get("hitl_reviewer"):
        return None
    if meta.get("hitl_consensus") or str(meta.get("hitl_spec_version", 1)) != str(version):
        return None  # consensus scores and other campaign versions are not reviewers' answers here
    return str(meta["hitl_reviewer"])


def _answered_slots(
    spec: ReviewSpec, source: Source, state: CampaignState
) -> dict[tuple[str, str], dict[str, Score]]:
    """(item key, reviewer) → question → the latest score of this campaign found in the source."""
    configs = state.load_configs()
    version = state.meta().spec_version
    by_name = _questions_by_score_name(spec, configs)
    keys = {row.key for row in state.items()}
    slots: dict[tuple[str, str], dict[str, Score]] = {}
    for score in source.iter_scores(names=stored_names(spec, configs)):
        reviewer = _reviewer_of(score, spec.campaign, version)
        key = _score_key(score)
        asked = by_name.get(question_of(score))
        if reviewer is None or key is None or key not in keys or asked is None:
            continue
        slot = slots.setdefault((key, reviewer), {})
        if asked.score not in slot or slot[asked.score].timestamp < score.timestamp:
            slot[asked.score] = score
    return slots


def resume_from_source(spec: ReviewSpec, source: Source, state: CampaignState) -> int:
    """Mark review slots done from the scores this campaign already wrote (state lost or new machine).

    Reads the source's scores with the questions' names, keeps those whose metadata names this
    campaign, and records each (item, reviewer) found as answered, its scores as confirmed.
    Returns the number of slots restored.
    """
    slots = _answered_slots(spec, source, state)
    restored = 0
    # One transaction: the restore is all or nothing, and one commit (not one a slot) at start-up.
    with state.transaction():
        for (key, reviewer), scores in sorted(slots.items()):
            if state.review(key, reviewer) is not None:
                continue
            answers = {name: _answer_from_score(spec.question(name), s) for name, s in scores.items()}
            first = min(s.timestamp for s in scores.values())
            comment = next((s.comment for s in scores.values() if s.comment), None)
            state.record_submission(
                item_key=key,
                reviewer=reviewer,
                answers=answers,
                comment=comment,
                now=first,
                duration_s=None,
                entries=outbox_entries([(name, _as_write(s)) for name, s in scores.items()]),
                origin="source",
                outbox_status="confirmed",
            )
            restored += 1
        state.mark_resumed()
    return restored


def _as_write(s: Score) -> ScoreWrite:
    value: float | str = s.value if isinstance(s.value, str | int | float) else (s.string_value or "")
    if s.data_type == "CATEGORICAL" and s.string_value:
        value = s.string_value
    return ScoreWrite(
        id=s.id,
        name=s.name,
        value=value,
        data_type=s.data_type,
        trace_id=s.trace_id,
        observation_id=s.observation_id,
        session_id=s.session_id,
        comment=s.comment,
        metadata=dict(s.metadata),
        config_id=s.config_id,
        source=s.source,
        environment=s.environment,
        timestamp=s.timestamp,
    )


__all__ = ["resume_from_source"]
