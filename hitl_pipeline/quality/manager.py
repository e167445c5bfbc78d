"""Qualification rounds and honeypots inside a running campaign (the service's quality hooks).

:class:`QualityManager` hooks into :class:`~hitl_pipeline.campaign.service.CampaignService` at
four points, like consensus does: ``open_next`` (a gold item first, when one is due), ``submit``
(an answer on a gold item is graded and kept apart), ``skip`` and ``progress`` (a blocked
reviewer's note). Gold items look exactly like live ones in the form.

- **Qualification** (``quality.qualification``): a reviewer's first ``items`` items are gold.
  Once the round is answered it is judged (:func:`~hitl_pipeline.quality.gold.judge_round`): on a
  pass the reviewer gets live items; on a fail they see their result and the guidelines, and —
  while ``retries`` remain — a new round on other gold items (when there are enough) after pressing
  Next; with none left they are stopped (``hitl status`` shows it).
- **Honeypots** (``quality.honeypots``): each further item is a gold one with probability
  ``rate``, decided by a hash of (seed, reviewer, position): reproducible, independent of timing.
  The running accuracy on honeypots is watched: below ``min_accuracy`` the reviewer is flagged
  (drift warning); with ``stop_below``, a reviewer whose whole Wilson interval is below it gets no
  more live items.
- **Training** (``quality.training``): after a gold item the reviewer sees the expected answers
  and the rationale, above the next item.

Answers on gold items are stored in ``gold_serves`` only: never in ``reviews``/``answers``/the
outbox, so never in agreement statistics nor in the source. Gold items that are also in the live
queue are not used as gold (a reviewer would otherwise meet them twice).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from hitl_pipeline.campaign.state import CampaignState
from hitl_pipeline.campaign.types import Assignment
from hitl_pipeline.db import aware_us, from_us
from hitl_pipeline.errors import CampaignError
from hitl_pipeline.model import ScoreConfig
from hitl_pipeline.model.stats import wilson_interval
from hitl_pipeline.quality.gold import GoldSet, grade, judge_round, load_gold
from hitl_pipeline.scoring.answers import output_text, validate_answers
from hitl_pipeline.scoring.scores import build_scores, outbox_entries
from hitl_pipeline.sources.base import Source
from hitl_pipeline.spec.gold import GoldItem
from hitl_pipeline.spec.model import ReviewSpec


def unit(seed: int, *parts: object) -> float:
    """A reproducible number in [0, 1) from a seed and some parts (sha256)."""
    text = ":".join([str(seed), *map(str, parts)])
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:15], 16) / 16**15


@dataclass(frozen=True)
class ReviewerQuality:
    """One reviewer's standing on gold items (for ``hitl status`` and the report)."""

    reviewer: str
    status: str  # qualifying | passed | failed | retry | stopped | none
    round: int
    graded: int
    correct: int
    honeypot_graded: int
    honeypot_correct: int
    flagged: bool
    note: str = ""

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.graded if self.graded else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.correct, self.graded) if self.graded else None


class QualityManager:
    """Gold items for one campaign (see the module docstring); the review service passes what it
    needs through the constructor (its spec, state, source, configs, clock, the outbox notifier)."""

    def __init__(
        self,
        spec: ReviewSpec,
        state: CampaignState,
        source: Source,
        *,
        configs: Mapping[str, ScoreConfig],
        clock: Callable[[], datetime],
        reviewers_per_item: int,
        spec_version: int | None = None,
        git_commit: str | None = None,
        notify: Callable[[], None] = lambda: None,
        gold: GoldSet | None = None,
    ) -> None:
        self.spec = spec
        self.state = state
        self.source = source
        self.configs = configs
        self.clock = clock
        self.n = reviewers_per_item
        self.spec_version = spec_version
        self.git_commit = git_commit
        self.notify = notify  # the outbox worker, when gold answers are sent
        assert spec.quality is not None
        self.quality = spec.quality
        if gold is None:
            names = [score for _, score in self.quality.gold_scores]
            scores = list(source.iter_scores(names=names)) if names else []
            gold = load_gold(spec, scores)
        self.gold = gold.resolve_times(spec, source, clock())
        live = {row.key for row in self.state.items()}
        #: Gold items usable as gold: those not in the live queue, found in the source.
        self.pool = sorted(
            k for k, g in self.gold.items.items() if k not in live and (g.timestamp or k in self.gold.times)
        )
        needed = (
            self.quality.qualification.items
            if self.quality.qualification
            else (1 if self.quality.honeypots else 0)
        )
        if len(self.pool) < needed:
            in_queue = sum(1 for k in self.gold.items if k in live)
            raise CampaignError(
                f"campaign {spec.campaign!r}: {len(self.pool)} of the {len(self.gold.items)} gold items can be "
                f"used as gold ({in_queue} are in the live queue, "
                f"{len(self.gold.items) - in_queue - len(self.pool)} were not found in the {source.name} source), "
                f"but {'the qualification round needs' if self.quality.qualification else 'honeypots need'} "
                f"{needed}; keep gold items out of the sample (e.g. another environment) or add more"
            )
        self._lock = threading.RLock()
        self._score_names = list(self.spec.display.scores) or None

    # -- state -----------------------------------------------------------------------------------

    def _row(self, reviewer: str) -> dict[str, Any]:
        with self.state.transaction() as c:
            row = c.execute("SELECT * FROM reviewer_quality WHERE reviewer = ?", (reviewer,)).fetchone()
            if row is None:
                status = "qualifying" if self.quality.qualification is not None and self.pool else "passed"
                c.execute(
                    "INSERT INTO reviewer_quality (reviewer, status, round, updated_at) VALUES (?, ?, 0, ?)",
                    (reviewer, status, aware_us(self.clock())),
                )
                row = c.execute("SELECT * FROM reviewer_quality WHERE reviewer = ?", (reviewer,)).fetchone()
            return {k: row[k] for k in row.keys()}

    def _set(self, reviewer: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.state.transaction() as c:
            c.execute(
                f"UPDATE reviewer_quality SET {sets}, updated_at = ? WHERE reviewer = ?",
                (*fields.values(), aware_us(self.clock()), reviewer),
            )

    def _open_serve(self, reviewer: str) -> dict[str, Any] | None:
        with self.state.transaction() as c:
            row = c.execute(
                "SELECT * FROM gold_serves WHERE reviewer = ? AND answered_at IS NULL ORDER BY seq LIMIT 1",
                (reviewer,),
            ).fetchone()
            return {k: row[k] for k in row.keys()} if row else None

    def _served(self, reviewer: str) -> dict[str, int]:
        """Gold key → how many times it was served to the reviewer."""
        with self.state.transaction() as c:
            rows = c.execute(
                "SELECT item_key, COUNT(*) FROM gold_serves WHERE reviewer = ? GROUP BY item_key", (reviewer,)
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def _count(self, reviewer: str, kind: str, round_: int | None = None, answered: bool = True) -> int:
        sql = "SELECT COUNT(*) FROM gold_serves WHERE reviewer = ? AND kind = ?"
        params: list[Any] = [reviewer, kind]
        if round_ is not None:
            sql += " AND round = ?"
            params.append(round_)
        if answered:
            sql += " AND answers_json IS NOT NULL"
        with self.state.transaction() as c:
            return int(c.execute(sql, params).fetchone()[0])

    # -- serving ---------------------------------------------------------------------------------

    def _pick(self, reviewer: str, *, fresh_only: bool = False) -> str | None:
        """The next gold item for the reviewer: never served to them first, else (``fresh_only``
        False: a retry round on a small gold set) the least served, in a seeded order per reviewer."""
        served = self._served(reviewer)
        candidates = [k for k in self.pool if not fresh_only or k not in served]
        if not candidates:
            return None
        seed = self.quality.honeypots.seed if self.quality.honeypots else 0
        return min(candidates, key=lambda k: (served.get(k, 0), unit(seed, "gold", reviewer, k)))

    def _serve(self, reviewer: str, key: str, kind: str, round_: int) -> Assignment:
        now = self.clock()
        with self.state.transaction() as c:
            seq = c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM gold_serves").fetchone()[0]
            c.execute(
                """INSERT INTO gold_serves (reviewer, item_key, kind, round, seq, served_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (reviewer, item_key, round) DO UPDATE SET
                     kind = excluded.kind, seq = excluded.seq, served_at = excluded.served_at,
                     answered_at = NULL""",
                (reviewer, key, kind, round_, seq, aware_us(now)),
            )
        return self._assignment(reviewer, key, now)

    def _assignment(self, reviewer: str, key: str, opened: datetime) -> Assignment:
        ref = self.gold.ref(self.spec, key)
        item = self.source.get_item(ref, score_names=self._score_names)
        expires = opened + timedelta(minutes=self.spec.review.lease_minutes)
        return Assignment(item_key=key, ref=ref, item=item, lease_expires=expires)

    def open_next(self, reviewer: str) -> tuple[Assignment | None, bool]:
        """``(gold assignment or None, blocked)``: a gold item when one is due; ``blocked`` when the
        reviewer may not get live items (failed qualification, stopped by honeypots)."""
        with self._lock:
            row = self._row(reviewer)
            open_serve = self._open_serve(reviewer)
            if open_serve is not None:
                return self._with_notice(
                    reviewer,
                    self._assignment(reviewer, open_serve["item_key"], from_us(int(open_serve["served_at"]))),
                ), False
            status, round_ = row["status"], int(row["round"])
            if status in ("failed", "stopped"):
                return None, True
            if status == "retry":
                round_ += 1
                status = "qualifying"
                self._set(reviewer, status=status, round=round_)
            qual = self.quality.qualification
            if status == "qualifying" and qual is not None:
                if self._count(reviewer, "qualification", round_) < qual.items:
                    key = self._pick(reviewer)
                    if key is not None:
                        return self._with_notice(
                            reviewer, self._serve(reviewer, key, "qualification", round_)
                        ), False
                self._set(reviewer, status="passed")  # no gold left to qualify on: let them work
            honey = self.quality.honeypots
            now = self.clock()
            # A honeypot only among live work: not while a live item is open, not once none is left.
            if (
                honey is not None
                and self.state.current_lease(reviewer, now) is None
                and self.state.peek_next(reviewer, self.n, now, 1)
            ):
                position = len(self.state.reviews(reviewer=reviewer)) + self._count(
                    reviewer, "honeypot", answered=False
                )
                if unit(honey.seed, "honeypot", reviewer, position) < honey.rate:
                    key = self._pick(reviewer, fresh_only=True)  # a reviewer never meets a honeypot twice
                    if key is not None:
                        return self._with_notice(
                            reviewer, self._serve(reviewer, key, "honeypot", round_)
                        ), False
            return None, False

    def _with_notice(self, reviewer: str, a: Assignment) -> Assignment:
        notice = self.take_notice(reviewer)
        return replace(a, notice=notice) if notice else a

    def take_notice(self, reviewer: str) -> str:
        """The one-time message for the reviewer's next screen (training feedback, a round's result)."""
        with self.state.transaction() as c:
            row = c.execute("SELECT notice FROM reviewer_quality WHERE reviewer = ?", (reviewer,)).fetchone()
            if row is None or not row[0]:
                return ""
            c.execute("UPDATE reviewer_quality SET notice = NULL WHERE reviewer = ?", (reviewer,))
            return str(row[0])

    def is_gold(self, reviewer: str, key: str) -> bool:
        """Whether ``key`` is a gold item open for the reviewer (so its answer is kept apart)."""
        if key not in self.gold:
            return False
        open_serve = self._open_serve(reviewer)
        return open_serve is not None and open_serve["item_key"] == key

    # -- answers ---------------------------------------------------------------------------------

    def submit(self, reviewer: str, key: str, answers: Mapping[str, Any], comment: str | None) -> None:
        """Validate, grade and store an answer on an open gold item; judge a finished round."""
        with self._lock:
            serve = self._open_serve(reviewer)
            if serve is None or serve["item_key"] != key:
                raise CampaignError(f"{key!r} is not open for {reviewer!r}; press Next for a new item")
            gold: GoldItem = self.gold.items[key]
            original = None
            if any(q.type == "correction" for q in self.spec.questions):
                original = output_text(self._assignment(reviewer, key, self.clock()).item)
            normalised, text = validate_answers(
                self.spec, self.configs, answers, comment, original_output=original
            )
            grades = grade(self.spec, gold, normalised)
            now = self.clock()
            duration = max(0.0, (now - from_us(int(serve["served_at"]))).total_seconds())
            with self.state.transaction() as c:
                c.execute(
                    """UPDATE gold_serves SET answered_at = ?, answers_json = ?, comment = ?, duration_s = ?,
                       graded = ?, correct = ?, grades_json = ? WHERE reviewer = ? AND item_key = ? AND round = ?""",
                    (
                        aware_us(now),
                        json.dumps(normalised),
                        text,
                        duration,
                        len(grades),
                        sum(grades.values()),
                        json.dumps(grades),
                        reviewer,
                        key,
                        serve["round"],
                    ),
                )
            if self.quality.send_gold_answers:
                self._queue_gold_scores(reviewer, key, serve["kind"], normalised, text, now)
            notices: list[str] = []
            if self.quality.training:
                notices.append(_feedback(gold, normalised, grades))
            if serve["kind"] == "qualification":
                notices.extend(self._after_qualification(reviewer, int(serve["round"])))
            else:
                self._after_honeypot(reviewer)
            if notices:
                self._set(reviewer, notice="\n\n".join(notices))

    def _queue_gold_scores(
        self,
        reviewer: str,
        key: str,
        kind: str,
        answers: Mapping[str, Any],
        comment: str | None,
        now: datetime,
    ) -> None:
        """``quality.send_gold_answers``: the answer's scores go through the outbox like any answer,
        with metadata ``hitl_gold: true`` (and ``hitl_gold_kind``), which keeps them out of reports."""
        scores = build_scores(
            self.spec,
            self.gold.ref(self.spec, key),
            reviewer,
            answers,
            comment,
            self.configs,
            timestamp=now,
            git_commit=self.git_commit,
            spec_version=self.spec_version,
        )
        marked = [
            (q, replace(s, metadata={**(s.metadata or {}), "hitl_gold": True, "hitl_gold_kind": kind}))
            for q, s in scores
        ]
        self.state.queue_scores(key, reviewer, outbox_entries(marked), now)
        self.notify()

    def _after_qualification(self, reviewer: str, round_: int) -> list[str]:
        qual = self.quality.qualification
        assert qual is not None
        if self._count(reviewer, "qualification", round_) < min(qual.items, len(self.pool)):
            return []
        with self.state.transaction() as c:
            rows = c.execute(
                "SELECT item_key, answers_json FROM gold_serves WHERE reviewer = ? AND kind = 'qualification' "
                "AND round = ? AND answers_json IS NOT NULL ORDER BY seq",
                (reviewer, round_),
            ).fetchall()
        answered = [(self.gold.items[r[0]], json.loads(r[1])) for r in rows if r[0] in self.gold]
        result = judge_round(self.spec, answered, min_accuracy=qual.min_accuracy, min_kappa=qual.min_kappa)
        if result.passed:
            self._set(reviewer, status="passed", note=f"qualified: {result.summary()}")
            return [f"✅ **Qualification passed** ({result.summary()}). Thank you — on to the live items."]
        guidelines = self.spec.guidelines.strip()
        message = (
            f"❌ **Qualification not passed** ({result.summary()}; needed {qual.min_accuracy:.0%} correct"
            + (f" and κ ≥ {qual.min_kappa:g}" if qual.min_kappa is not None else "")
            + " per question)."
        )
        if round_ < qual.retries:
            self._set(reviewer, status="retry", note=f"round {round_ + 1} failed: {result.summary()}")
            left = qual.retries - round_
            return [
                message + f" Please read the guidelines again; press **Next** to start another round ({left} "
                f"attempt{'s' if left != 1 else ''} left).\n\n" + (guidelines or "")
            ]
        note = f"failed qualification: {result.summary()}"
        self._set(reviewer, status="failed", note=note)
        return []  # shown as the blocked note (progress) from now on

    def _after_honeypot(self, reviewer: str) -> None:
        honey = self.quality.honeypots
        if honey is None or not honey.stop_below:
            return
        correct, graded = self._honeypot_score(reviewer)
        interval = wilson_interval(correct, graded) if graded else None
        if interval is not None and interval[1] < honey.min_accuracy:
            self._set(
                reviewer,
                status="stopped",
                note=f"stopped: honeypot accuracy {correct}/{graded} (interval up to {interval[1]:.2f}) "
                f"below {honey.min_accuracy:g}",
            )

    def _honeypot_score(self, reviewer: str) -> tuple[int, int]:
        with self.state.transaction() as c:
            row = c.execute(
                "SELECT COALESCE(SUM(correct), 0), COALESCE(SUM(graded), 0) FROM gold_serves "
                "WHERE reviewer = ? AND kind = 'honeypot' AND answers_json IS NOT NULL",
                (reviewer,),
            ).fetchone()
        return int(row[0]), int(row[1])

    def skip(self, reviewer: str, key: str) -> bool:
        """Skipping a gold item: closed unanswered (another gold item comes next). True if it was one."""
        with self._lock:
            if not self.is_gold(reviewer, key):
                return False
            with self.state.transaction() as c:  # closed without an answer: counts as served, not answered
                c.execute(
                    "UPDATE gold_serves SET answered_at = ? WHERE reviewer = ? AND item_key = ? AND answered_at IS NULL",
                    (aware_us(self.clock()), reviewer, key),
                )
            return True

    def blocked_note(self, reviewer: str) -> str:
        """What a blocked reviewer is told (their result and the guidelines); empty otherwise."""
        with self.state.transaction() as c:
            row = c.execute(
                "SELECT status, note FROM reviewer_quality WHERE reviewer = ?", (reviewer,)
            ).fetchone()
        if row is None or row[0] not in ("failed", "stopped"):
            return ""
        guidelines = self.spec.guidelines.strip()
        head = (
            "❌ You did not pass the qualification round"
            if row[0] == "failed"
            else "⏸ Your answers on check items fell below the campaign's accuracy"
        )
        return (
            f"{head} ({row[1]}). No further items are assigned to you; the campaign owner sees this in "
            "`hitl status`." + (f"\n\n**Guidelines**\n\n{guidelines}" if guidelines else "")
        )


def _feedback(gold: GoldItem, answers: Mapping[str, Any], grades: Mapping[str, bool]) -> str:
    lines = ["**Training feedback on your last item**"]
    for name, expected in gold.answers:
        mark = "✅" if grades.get(name) else "❌"
        given = answers.get(name)
        lines.append(f"- {mark} `{name}`: expected **{_shown(expected)}**, you answered {_shown(given)}")
    if gold.rationale:
        lines.append(f"\n{gold.rationale}")
    return "\n".join(lines)


def _shown(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def reviewer_quality(spec: ReviewSpec, state: CampaignState) -> list[ReviewerQuality]:
    """Every reviewer's standing on gold items, from the campaign state (status, accuracy, flag)."""
    if spec.quality is None:
        return []
    honey = spec.quality.honeypots
    with state.transaction() as c:
        totals = {
            r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4]))
            for r in c.execute(
                """SELECT reviewer, COALESCE(SUM(correct), 0), COALESCE(SUM(graded), 0),
                          COALESCE(SUM(CASE WHEN kind = 'honeypot' THEN correct END), 0),
                          COALESCE(SUM(CASE WHEN kind = 'honeypot' THEN graded END), 0)
                   FROM gold_serves WHERE answers_json IS NOT NULL GROUP BY reviewer"""
            )
        }
        states = {
            r[0]: (r[1], int(r[2]), r[3] or "")
            for r in c.execute("SELECT reviewer, status, round, note FROM reviewer_quality")
        }
    out = []
    for reviewer in sorted(set(totals) | set(states)):
        correct, graded, h_correct, h_graded = totals.get(reviewer, (0, 0, 0, 0))
        status, round_, note = states.get(reviewer, ("none", 0, ""))
        flagged = bool(honey and h_graded and h_correct / h_graded < honey.min_accuracy)
        out.append(
            ReviewerQuality(reviewer, status, round_, graded, correct, h_graded, h_correct, flagged, note)
        )
    return out


__all__ = ["QualityManager", "ReviewerQuality", "reviewer_quality", "unit"]
