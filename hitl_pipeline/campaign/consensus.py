"""Consensus of an item's reviews, and when it needs an adjudicator.

Pure functions first (:func:`decide`, :func:`disagreement`): the report uses the same
definition of "disagreement" as the campaign, so the items it lists as most disputed are the
ones that went to adjudication. Consensus *scores* (deterministic ids, ``hitl_consensus``
metadata) are built by :func:`consensus_scores`.

Definitions (spec ``consensus``):

- categorical / boolean: the majority answer. Disagreement = share of reviewers who did not
  give the majority answer. A tie for the top answer always goes to adjudication.
- numeric: mean or median (``consensus.numeric``). Disagreement = spread (max − min) divided by
  the question's range (``max − min``); without a range, by the largest absolute answer.
- text / correction: no consensus.

An item goes to adjudication when a question ties or its disagreement is above
``consensus.max_disagreement``.
"""

from __future__ import annotations

import json
import logging
import statistics
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.campaign.types import Assignment, OtherAnswer
from hitl_pipeline.db import aware_us, from_us
from hitl_pipeline.errors import CampaignError, ScoreValidationError
from hitl_pipeline.model import Item, ItemRef, ScoreConfig, ScoreWrite
from hitl_pipeline.model.clock import Clock
from hitl_pipeline.model.score_rules import check_score
from hitl_pipeline.scoring.scores import (
    on_subjects,
    outbox_entries,
    score_environment,
    score_metadata,
    score_target,
    score_value,
)
from hitl_pipeline.spec.model import Question, ReviewSpec

log = logging.getLogger(__name__)

#: Question types that get a consensus value.
CONSENSUS_TYPES = ("categorical", "boolean", "numeric")

#: Namespace of consensus score ids (uuid5), distinct from the per-reviewer score ids.
CONSENSUS_NAMESPACE = uuid.UUID("6f1c1f62-56f5-4b8e-9d0e-2a4c6d0c5e11")

#: ``hitl_reviewer`` recorded on consensus scores decided by the rule (not by an adjudicator).
CONSENSUS_REVIEWER = "hitl:consensus"


@dataclass(frozen=True)
class Decision:
    """The consensus of one question on one item.

    ``value`` is None when the item needs an adjudicator (``needs_adjudication``).
    ``votes`` counts each answer (categorical labels, ``"true"``/``"false"``; empty for numeric).
    """

    question: str
    value: Any
    votes: dict[str, int] = field(default_factory=dict)
    disagreement: float = 0.0
    tie: bool = False
    needs_adjudication: bool = False
    answers: int = 0


def _vote_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def disagreement(question: Question, values: Sequence[Any]) -> float:
    """How much the answers to one question on one item disagree, from 0 (all equal) to 1."""
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return 0.0
    if question.type == "numeric":
        nums = [float(v) for v in present]
        spread = max(nums) - min(nums)
        if spread == 0:
            return 0.0
        if question.min is not None and question.max is not None and question.max > question.min:
            scale = question.max - question.min
        else:
            scale = max(abs(n) for n in nums)
        return min(1.0, spread / scale)
    counts = Counter(_vote_key(v) for v in present)
    return 1 - max(counts.values()) / len(present)


def decide(
    question: Question,
    values: Sequence[Any],
    *,
    numeric: Literal["mean", "median"] = "median",
    max_disagreement: float = 0.34,
) -> Decision:
    """The consensus of ``values`` (one per reviewer) for ``question``.

    Raises:
        ValueError: for text / correction questions, which have no consensus.
    """
    if question.type not in CONSENSUS_TYPES:
        raise ValueError(f"question {question.score!r} ({question.type}) has no consensus")
    present = [v for v in values if v is not None]
    spread = disagreement(question, present)
    if not present:
        return Decision(question.score, None, needs_adjudication=True)
    if question.type == "numeric":
        nums = [float(v) for v in present]
        value: Any = statistics.fmean(nums) if numeric == "mean" else statistics.median(nums)
        too_far = spread > max_disagreement
        return Decision(
            question.score,
            None if too_far else value,
            disagreement=spread,
            needs_adjudication=too_far,
            answers=len(present),
        )
    counts = Counter(_vote_key(v) for v in present)
    top = max(counts.values())
    leaders = [k for k, c in counts.items() if c == top]
    tie = len(leaders) > 1
    adjudicate = tie or spread > max_disagreement
    winner: Any = None
    if not adjudicate:
        winner = next(v for v in present if _vote_key(v) == leaders[0])
    return Decision(
        question.score,
        winner,
        votes=dict(sorted(counts.items())),
        disagreement=spread,
        tie=tie,
        needs_adjudication=adjudicate,
        answers=len(present),
    )


def decide_item(
    questions: Sequence[Question],
    answers_by_reviewer: Mapping[str, Mapping[str, Any]],
    *,
    numeric: Literal["mean", "median"] = "median",
    max_disagreement: float = 0.34,
) -> list[Decision]:
    """One :class:`Decision` per consensus-capable question that at least one reviewer answered."""
    out: list[Decision] = []
    for q in questions:
        if q.type not in CONSENSUS_TYPES:
            continue
        values = [a.get(q.score) for a in answers_by_reviewer.values()]
        if all(v is None for v in values):
            continue  # e.g. a `when` question nobody was asked
        out.append(decide(q, values, numeric=numeric, max_disagreement=max_disagreement))
    return out


def consensus_score_id(campaign: str, spec_version: int | str, item_key: str, score_name: str) -> str:
    """Deterministic id of the consensus score of one question on one item."""
    return str(uuid.uuid5(CONSENSUS_NAMESPACE, f"{campaign}\x1f{spec_version}\x1f{item_key}\x1f{score_name}"))


# -- consensus scores ------------------------------------------------------------------------------


def build_consensus_scores(
    spec: ReviewSpec,
    ref: ItemRef,
    decisions: Sequence[Decision],
    configs: Mapping[str, ScoreConfig],
    *,
    spec_version: int,
    values: Mapping[str, Any] | None = None,
    adjudicator: str | None = None,
    timestamp: datetime | None = None,
    git_commit: str | None = None,
    queue_id: str | None = None,
    environment: str | None = None,
) -> list[tuple[str, ScoreWrite]]:
    """(question, score) for each decided question, ready for the outbox.

    ``values`` overrides the decided values (an adjudicator's answers). The metadata marks the
    score as consensus (``hitl_consensus: true``) with the vote counts, the spread, and who
    decided (``hitl_reviewer``: the adjudicator, or ``hitl:consensus`` for the rule).

    Raises:
        ScoreValidationError: a consensus score would break its config (never sent then).
    """
    out: list[tuple[str, ScoreWrite]] = []
    problems: list[str] = []
    for d in decisions:
        q = spec.question(d.question)
        value = values.get(q.score) if values is not None else d.value
        if value is None:
            continue
        config = configs.get(q.score)
        metadata = score_metadata(
            campaign=spec.campaign,
            reviewer=adjudicator or CONSENSUS_REVIEWER,
            spec_hash=spec.spec_hash,
            spec_version=spec_version,
            git_commit=git_commit,
        )
        metadata.update(
            {
                "hitl_consensus": True,
                "hitl_consensus_method": "adjudicated"
                if adjudicator
                else (spec.consensus.numeric if q.type == "numeric" else "majority"),
                "hitl_votes": dict(d.votes),
                "hitl_answers": d.answers,
                "hitl_disagreement": round(d.disagreement, 6),
            }
        )
        score = ScoreWrite(
            id=consensus_score_id(spec.campaign, spec_version, ref.key, q.score),
            name=config.name if config else q.score_name,
            value=score_value(q.data_type, value),
            data_type=q.data_type,  # type: ignore[arg-type]
            metadata=metadata,
            config_id=config.id if config else None,
            source="ANNOTATION",
            environment=score_environment(spec, environment),
            timestamp=timestamp,
            queue_id=queue_id,
            **score_target(ref),
        )
        problems.extend(f"{q.label}: {p}" for p in check_score(score, config))
        out.extend((q.score, s) for s in on_subjects(spec, ref, score, q))
    if problems:
        raise ScoreValidationError("consensus score refused:\n" + "\n".join(problems))
    return out


# -- adjudication queue on the campaign state -----------------------------------------------------

# The table (adjudications) is in the campaign database's migrations (campaign/state/schema.py).


@dataclass(frozen=True)
class Adjudication:
    """An item whose reviews did not reach consensus (``reasons``: one line per disputed question)."""

    item_key: str
    status: Literal["open", "resolved"]
    reasons: tuple[str, ...]
    adjudicator: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)


class ReviewItems(Protocol):
    """What the consensus manager needs from the review service: items and answer validation."""

    def item(self, key: str) -> Item:
        """The item in full (for the adjudicator's screen)."""
        ...

    def validate(
        self, item_key: str, answers: Mapping[str, Any], comment: str | None
    ) -> tuple[dict[str, Any], str | None]:
        """An adjudicator's answers normalised and checked against the item (ScoreValidationError)."""
        ...

    def environment_of(self, key: str) -> str | None:
        """The environment written on the item's scores."""
        ...


class ConsensusManager:
    """Consensus and adjudication for a campaign's review service.

    The service calls :meth:`on_submitted` in the transaction that stores an answer, asks
    :meth:`open_next` first when an adjudicator wants work, and routes an adjudicator's answer
    through :meth:`submit`.
    Consensus scores go to the campaign outbox (same worker, same exactly-once guarantee) under
    the reviewer name ``hitl:consensus``. The adjudication queue lives in its own table of the
    campaign database.

    Args:
        spec: the campaign's spec (questions, reviewers per item, consensus rules, adjudicators).
        state: the campaign state (reviews, adjudications, the outbox).
        items: the review service's items and answer validation (:class:`ReviewItems`).
        configs: question score name → resolved score config.
        spec_version: the campaign version (part of every score id).
        git_commit: the spec's git commit, recorded on every score.
        clock: the time source.
        queue_id: the Langfuse annotation queue the campaign mirrors into, read when a score is
            built (the mirror is attached after the service is created).
        notify: called after consensus scores were queued (wakes the outbox worker).
    """

    def __init__(
        self,
        spec: ReviewSpec,
        state: CampaignState,
        items: ReviewItems,
        *,
        configs: Mapping[str, ScoreConfig],
        spec_version: int,
        git_commit: str | None,
        clock: Clock,
        queue_id: Callable[[], str | None] = lambda: None,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self.spec = spec
        self.state = state
        self._items = items
        self._configs = configs
        self._spec_version = spec_version
        self._git_commit = git_commit
        self._clock = clock
        self._queue_id = queue_id
        self._notify = notify
        self.catch_up()

    @property
    def n(self) -> int:
        """Distinct reviewers each item needs before its consensus is decided."""
        return self.spec.review.reviewers_per_item

    def catch_up(self) -> int:
        """Decide every complete item that has neither consensus scores nor an adjudication yet.

        Consensus is decided in the transaction of the answer that completes an item; this covers
        campaigns that turned consensus on later, and decisions that failed (logged by
        :meth:`on_submitted`). Returns how many items it decided or sent to adjudication.
        """
        rows = self.state.db.query(
            """SELECT key FROM items WHERE done >= ?
               AND key NOT IN (SELECT item_key FROM adjudications)
               AND key NOT IN (SELECT item_key FROM outbox WHERE reviewer = ?)
               ORDER BY position""",
            (self.n, CONSENSUS_REVIEWER),
        )
        for (key,) in rows:
            self.on_submitted(key)  # one bad item must not keep the campaign from opening
        return len(rows)

    # -- helpers --------------------------------------------------------------------------------

    def _reviews(self, item_key: str) -> dict[str, Mapping[str, Any]]:
        return {r.reviewer: r.answers for r in self.state.reviews(item_key=item_key)}

    def _decisions(self, item_key: str) -> list[Decision]:
        return decide_item(
            self.spec.questions,
            self._reviews(item_key),
            numeric=self.spec.consensus.numeric,
            max_disagreement=self.spec.consensus.max_disagreement,
        )

    def _scores(
        self, item_key: str, decisions: Sequence[Decision], now: datetime, **by: Any
    ) -> list[tuple[str, ScoreWrite]]:
        """:func:`build_consensus_scores` for one of the campaign's items (``by``: an adjudicator's
        ``values`` and name)."""
        row = self.state.item(item_key)
        assert row is not None
        return build_consensus_scores(
            self.spec,
            row.ref,
            decisions,
            self._configs,
            spec_version=self._spec_version,
            timestamp=now,
            git_commit=self._git_commit,
            queue_id=self._queue_id(),
            environment=self._items.environment_of(item_key),
            **by,
        )

    def adjudication(self, item_key: str) -> Adjudication | None:
        """The item's adjudication entry, if it has one."""
        row = self.state.db.one(
            "SELECT status, reasons_json, adjudicator, answers_json FROM adjudications WHERE item_key = ?",
            (item_key,),
        )
        if row is None:
            return None
        return Adjudication(
            item_key=item_key,
            status=row[0],
            reasons=tuple(json.loads(row[1])),
            adjudicator=row[2],
            answers=json.loads(row[3]) if row[3] else {},
        )

    def open_adjudications(self) -> list[str]:
        """Keys of items waiting for an adjudicator, oldest first."""
        rows = self.state.db.query(
            """SELECT a.item_key FROM adjudications a JOIN items i ON i.key = a.item_key
               WHERE a.status = 'open' ORDER BY a.created_at, i.position"""
        )
        return [r[0] for r in rows]

    # -- hooks ----------------------------------------------------------------------------------

    def after_submit(self, item_key: str) -> Adjudication | None:
        """Once the item has all its reviews: queue consensus scores, or open an adjudication.

        Re-runs on every edit of a complete item, so the consensus follows edited answers; an
        item an adjudicator already resolved keeps the adjudicator's answer. Reads and writes are
        one transaction (inside the answer's own, on the service's submit path).
        """
        with self.state.transaction():
            return self._decide(item_key)

    def _decide(self, item_key: str) -> Adjudication | None:
        reviews = self._reviews(item_key)
        if len(reviews) < self.n:
            return None
        existing = self.adjudication(item_key)
        if existing is not None and existing.status == "resolved":
            return existing
        decisions = self._decisions(item_key)
        disputed = [d for d in decisions if d.needs_adjudication]
        now = self._clock()
        if disputed:
            reasons = [
                f"{d.question}: "
                + ("tie " if d.tie else f"disagreement {d.disagreement:.2f} ")
                + (json.dumps(d.votes, sort_keys=True) if d.votes else "")
                for d in disputed
            ]
            with self.state.transaction() as c:
                c.execute(
                    """INSERT INTO adjudications (item_key, status, reasons_json, created_at)
                       VALUES (?, 'open', ?, ?)
                       ON CONFLICT (item_key) DO UPDATE SET reasons_json = excluded.reasons_json""",
                    (item_key, json.dumps(reasons), aware_us(now)),
                )
            return self.adjudication(item_key)
        scores = self._scores(item_key, decisions, now)
        with self.state.transaction() as c:
            # An edit may have settled a dispute: the item leaves the adjudication queue.
            c.execute("DELETE FROM adjudications WHERE item_key = ? AND status = 'open'", (item_key,))
            self.state.queue_scores(item_key, CONSENSUS_REVIEWER, outbox_entries(scores), now)
        self._notify()
        return None

    def on_submitted(self, item_key: str) -> None:
        """:meth:`after_submit` for the service's submit path: a consensus problem is logged (and
        retried by :meth:`catch_up`), never raised, and rolls back only the consensus writes, so the
        reviewer's answer is stored all the same."""
        try:
            self.after_submit(item_key)
        except Exception:
            log.exception("consensus of %s could not be decided; it is retried at the next start", item_key)

    def is_adjudicating(self, reviewer: str, item_key: str) -> bool:
        """True when ``item_key`` is an adjudication leased to (or resolved by) this adjudicator."""
        if reviewer not in self.spec.review.adjudicators:
            return False
        row = self.state.db.one(
            "SELECT status, leased_by, adjudicator FROM adjudications WHERE item_key = ?", (item_key,)
        )
        if row is None:
            return False
        return bool(
            (row[0] == "open" and row[1] == reviewer) or (row[0] == "resolved" and row[2] == reviewer)
        )

    def open_next(self, reviewer: str) -> Assignment | None:
        """The next open adjudication for an adjudicator (leased to them), with every review shown."""
        if reviewer not in self.spec.review.adjudicators:
            return None
        now = self._clock()
        expires = now + timedelta(minutes=self.spec.review.lease_minutes)
        with self.state.transaction() as c:
            row = c.execute(
                """SELECT a.item_key FROM adjudications a JOIN items i ON i.key = a.item_key
                   WHERE a.status = 'open'
                   AND (a.leased_by = ? OR a.leased_by IS NULL OR a.lease_expires < ?)
                   ORDER BY CASE WHEN a.leased_by = ? THEN 0 ELSE 1 END, a.created_at, i.position LIMIT 1""",
                (reviewer, aware_us(now), reviewer),
            ).fetchone()
            if row is None:
                return None
            key = row[0]
            c.execute(
                "UPDATE adjudications SET leased_by = ?, lease_expires = ? WHERE item_key = ?",
                (reviewer, aware_us(expires), key),
            )
        item_row = self.state.item(key)
        assert item_row is not None
        return Assignment(
            item_key=key,
            ref=item_row.ref,
            item=self._items.item(key),
            lease_expires=from_us(aware_us(expires)),
            adjudication=True,
            others=self._others(key),
        )

    def _others(self, key: str) -> tuple[OtherAnswer, ...]:
        return tuple(
            OtherAnswer(reviewer=r.reviewer, answers=dict(r.answers), comment=r.comment)
            for r in self.state.reviews(item_key=key)
        )

    def release(self, reviewer: str, item_key: str) -> None:
        """Give an open adjudication back (skip)."""
        with self.state.transaction() as c:
            c.execute(
                """UPDATE adjudications SET leased_by = NULL, lease_expires = NULL
                   WHERE item_key = ? AND leased_by = ? AND status = 'open'""",
                (item_key, reviewer),
            )

    def submit(self, reviewer: str, item_key: str, answers: dict[str, Any], comment: str | None) -> None:
        """The adjudicator's answer becomes the consensus of every consensus question of the item."""
        if not self.is_adjudicating(reviewer, item_key):
            raise CampaignError(f"{item_key!r} is not an adjudication assigned to {reviewer!r}; press Next")
        normalised, text = self._items.validate(item_key, answers, comment)
        now = self._clock()
        decisions = self._decisions(item_key)
        scores = self._scores(item_key, decisions, now, values=normalised, adjudicator=reviewer)
        with self.state.transaction() as c:
            # Checked again with the write lock held: the lease may have expired and been taken since.
            if not self.is_adjudicating(reviewer, item_key):
                raise CampaignError(f"{item_key!r} is no longer assigned to {reviewer!r}; press Next")
            c.execute(
                """UPDATE adjudications SET status = 'resolved', adjudicator = ?, answers_json = ?, comment = ?,
                   resolved_at = ?, leased_by = NULL, lease_expires = NULL WHERE item_key = ?""",
                (reviewer, json.dumps(normalised), text, aware_us(now), item_key),
            )
            self.state.queue_scores(item_key, CONSENSUS_REVIEWER, outbox_entries(scores), now)
        self._notify()
