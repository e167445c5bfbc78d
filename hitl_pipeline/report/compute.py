"""Build a campaign report from answer records: distributions, agreement, reviewers, disputes.

Input is a flat list of :class:`AnswerRecord` (one per reviewer × item × question), made from
the *stored* scores by :func:`records_from_scores` (local store or Langfuse) — so the report
shows what actually landed, not only what the local campaign state believes it sent.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hitl_pipeline.campaign.consensus import CONSENSUS_TYPES, decide, disagreement
from hitl_pipeline.model import Score
from hitl_pipeline.report.agreement import (
    Level,
    PairKappa,
    cohen_kappa,
    fleiss_counts,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen,
    pearson,
    reliability_matrix,
    spearman,
)
from hitl_pipeline.scoring.pairs import answers_pair
from hitl_pipeline.scoring.scores import question_of
from hitl_pipeline.spec.model import Question, ReviewSpec

if TYPE_CHECKING:
    from hitl_pipeline.report.trust import Trust

#: Gaps between two submissions of one reviewer longer than this are breaks, not review time.
MAX_ESTIMATED_SECONDS = 30 * 60
#: How many disputed items the report lists.
TOP_DISPUTED = 15


@dataclass(frozen=True)
class AnswerRecord:
    """One reviewer's answer to one question on one item.

    ``value``: categorical = label, boolean = True/False, numeric = float, text/correction = str.
    ``seconds`` is the time the reviewer spent on the item when known (campaign state);
    otherwise the report estimates it from submission times.
    """

    item_key: str
    reviewer: str
    question: str
    value: Any
    trace_id: str | None = None
    observation_id: str | None = None
    session_id: str | None = None
    submitted_at: datetime | None = None
    seconds: float | None = None
    spec_version: str | None = None


@dataclass(frozen=True)
class AutomatedComparison:
    """Human consensus vs an existing automated score (``compare_with``) on the same items."""

    score: str
    items: int
    pearson: float | None = None
    spearman: float | None = None
    agreement: float | None = None  # share of items where the labels match (categorical / boolean)
    kappa: float | None = None
    pairs: tuple[tuple[str, float | str, float | str], ...] = ()  # (item key, human, automated)


@dataclass(frozen=True)
class ReviewerAgreement:
    """How one reviewer agrees with the others on one question."""

    reviewer: str
    answers: int
    agreement: float | None  # share of (this reviewer, other reviewer, item) pairs with equal answers
    mean_abs_diff: float | None = None  # numeric questions: mean |this − other|


@dataclass(frozen=True)
class QuestionReport:
    score: str
    type: str
    label: str
    answers: int
    items: int
    multi_rated_items: int
    distribution: tuple[tuple[str, int], ...]
    numeric: dict[str, float] | None = None  # mean, median, min, max
    alpha: dict[str, float | None] = field(default_factory=dict)  # level → α
    fleiss_kappa: float | None = None
    pairwise_kappa: tuple[PairKappa, ...] = ()
    reviewers: tuple[ReviewerAgreement, ...] = ()
    observed_agreement: float | None = None  # share of agreeing pairs (categorical / boolean)
    automated: AutomatedComparison | None = None


@dataclass(frozen=True)
class ReviewerSummary:
    reviewer: str
    items: int
    answers: int
    median_seconds: float | None
    agreement: float | None  # mean over categorical/boolean questions of their agreement rate


@dataclass(frozen=True)
class DisputedItem:
    item_key: str
    url: str | None
    disagreement: float
    question: str
    answers: tuple[tuple[str, str], ...]  # (reviewer, answer as text)


@dataclass(frozen=True)
class ConsensusSummary:
    """The consensus scores written for one question: their distribution, how many by an adjudicator."""

    question: str
    items: int
    adjudicated: int
    distribution: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Report:
    campaign: str
    title: str
    target: str
    spec_hash: str
    spec_version: str | None
    generated_at: datetime
    items: int
    answers: int
    reviewers: tuple[ReviewerSummary, ...]
    questions: tuple[QuestionReport, ...]
    disputed: tuple[DisputedItem, ...]
    time_estimated: bool  # True when review times come from gaps between submissions
    consensus: tuple[ConsensusSummary, ...] = ()
    adjudications_open: int | None = None  # items waiting for an adjudicator (from the campaign state)
    scores_not_stored: int | None = None  # answers still in the local outbox (not in the report yet)
    # Judge alignment, α intervals, reviewer accuracy, overlap, throughput, gates (report/gates.py).
    trust: Trust | None = None
    #: target pair: arm B vs arm A (report/pairwise.py, a PairwiseReport).
    pairwise: Any = None


def answer_value(score: Score, question: Question) -> Any:
    """The answer a stored score holds, as the question's type reads it (shared with dataset exports)."""
    if question.type == "boolean":
        if isinstance(score.value, str):
            return score.value.strip().lower() in ("true", "1", "yes")
        return bool(score.value)
    if question.type == "numeric":
        return float(score.value) if score.value is not None else None
    if question.type == "categorical":
        if score.string_value is not None:
            return score.string_value
        if isinstance(score.value, str):
            return score.value
        # A categorical score read back with only its numeric value: map it through the categories.
        for c in question.categories:
            if score.value is not None and float(c.value) == float(score.value):
                return c.label
        return score.value
    return score.string_value if score.string_value is not None else score.value


def item_key_of(
    target: str, trace_id: str | None, observation_id: str | None, session_id: str | None
) -> str | None:
    """The campaign item key a score on this subject belongs to, for a spec's target (or None)."""
    if target == "trace":
        return f"trace:{trace_id}" if trace_id and not observation_id and not session_id else None
    if target == "observation":
        return f"observation:{observation_id}" if observation_id else None
    if target == "pair":
        return None  # a pair's scores name it in their metadata (hitl_pair)
    return f"session:{session_id}" if session_id else None


def records_from_scores(
    spec: ReviewSpec, scores: Iterable[Score], *, spec_version: str | int | None = None
) -> list[AnswerRecord]:
    """Answer records from stored scores of this campaign (metadata ``hitl_campaign``).

    Consensus scores (``hitl_consensus``) and scores of questions no longer in the spec are left
    out. With ``spec_version``, only scores of that campaign version (``hitl_spec_version``) are
    used; without it, only the newest version present — versions are never mixed.
    """
    by_name = {q.score: q for q in spec.questions}
    picked = [
        (s, str((s.metadata or {}).get("hitl_spec_version", "")))
        for s in scores
        if _is_campaign_answer(spec, s, by_name)
    ]
    if spec_version is None and picked:
        spec_version = max((v for _, v in picked), key=_version_key)
    wanted = None if spec_version is None else str(spec_version)
    out: list[AnswerRecord] = []
    for s, version in picked:
        if wanted is not None and version != wanted:
            continue
        key = _answer_item_key(spec, s)
        if key is not None:
            out.append(_answer_record(s, by_name[question_of(s)], key, version))
    return out


def _is_campaign_answer(spec: ReviewSpec, s: Score, by_name: Mapping[str, Question]) -> bool:
    """A reviewer's answer of this campaign to one of its questions."""
    md = s.metadata or {}
    # Consensus scores are not answers; answers on gold items (hitl_gold, only written with
    # quality.send_gold_answers) stay out of agreement statistics.
    if md.get("hitl_campaign") != spec.campaign or md.get("hitl_consensus") or md.get("hitl_gold"):
        return False
    return question_of(s) in by_name and bool(md.get("hitl_reviewer"))


def _answer_item_key(spec: ReviewSpec, s: Score) -> str | None:
    key = item_key_of(spec.target, s.trace_id, s.observation_id, s.session_id)
    if spec.target == "pair":  # B's score of a judgment; per-side: either arm's
        key = s.metadata.get("hitl_pair") if answers_pair(s.metadata) else None
    return key


def _answer_record(s: Score, q: Question, key: str, version: str) -> AnswerRecord:
    md = s.metadata
    seconds = md.get("hitl_seconds")
    return AnswerRecord(
        item_key=key,
        reviewer=str(md["hitl_reviewer"]),
        question=q.score,
        value=answer_value(s, q),
        trace_id=s.trace_id,
        observation_id=s.observation_id,
        session_id=s.session_id,
        submitted_at=s.timestamp,
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
        spec_version=version or None,
    )


def _version_key(v: str) -> tuple[int, str]:
    return (int(v), v) if v.isdigit() else (-1, v)


def _consensus_question(s: Score) -> str:
    """The question a consensus score decides: its name, or a per-side question's ``hitl_question``."""
    asked = question_of(s)
    return asked if asked.endswith(("@a", "@b")) else s.name


def stored_consensus(
    spec: ReviewSpec, scores: Iterable[Score], *, spec_version: str | int | None = None
) -> dict[tuple[str, str], Score]:
    """(question, item key) → the newest stored consensus score of the campaign, of one campaign
    version (the newest present if not given)."""
    questions = {q.score for q in spec.questions}
    picked: list[tuple[Score, str]] = []
    for s in scores:
        md = s.metadata or {}
        if (
            md.get("hitl_campaign") != spec.campaign
            or not md.get("hitl_consensus")
            or _consensus_question(s) not in questions
        ):
            continue
        picked.append((s, str(md.get("hitl_spec_version", ""))))
    if spec_version is None:
        wanted = max((v for _, v in picked), key=_version_key, default=None)
    else:
        wanted = str(spec_version)
    latest: dict[tuple[str, str], Score] = {}
    for s, version in picked:
        key = item_key_of(spec.target, s.trace_id, s.observation_id, s.session_id)
        if spec.target == "pair":
            key = s.metadata.get("hitl_pair") if answers_pair(s.metadata) else None
        if version != wanted or key is None:
            continue
        name = _consensus_question(s)
        old = latest.get((name, key))
        if old is None or s.timestamp > old.timestamp:
            latest[(name, key)] = s
    return latest


def consensus_summaries(
    spec: ReviewSpec, scores: Iterable[Score], *, spec_version: str | int | None = None
) -> tuple[ConsensusSummary, ...]:
    """Per question, the stored consensus scores of the campaign (one version; newest if not given)."""
    latest = stored_consensus(spec, scores, spec_version=spec_version)
    out: list[ConsensusSummary] = []
    for q in spec.questions:
        rows = [s for (name, _), s in latest.items() if name == q.score]
        if not rows:
            continue
        values = [answer_value(s, q) for s in rows]
        adjudicated = sum(1 for s in rows if s.metadata.get("hitl_consensus_method") == "adjudicated")
        out.append(ConsensusSummary(q.score, len(rows), adjudicated, _distribution(q, values)))
    return tuple(out)


def automated_from_scores(spec: ReviewSpec, scores: Iterable[Score]) -> dict[str, dict[str, float | str]]:
    """``compare_with`` score name → item key → its value, from existing (non-hitl) scores.

    When an item has several scores of that name, the newest wins.
    """
    wanted = {q.compare_with for q in spec.questions if q.compare_with}
    newest: dict[tuple[str, str], Score] = {}
    for s in scores:
        if s.name not in wanted or (s.metadata or {}).get("hitl_campaign"):
            continue
        key = item_key_of(spec.target, s.trace_id, s.observation_id, s.session_id)
        if key is None:
            continue
        old = newest.get((s.name, key))
        if old is None or s.timestamp > old.timestamp:
            newest[(s.name, key)] = s
    out: dict[str, dict[str, float | str]] = defaultdict(dict)
    for (name, key), s in newest.items():
        value = s.string_value if s.data_type == "CATEGORICAL" and s.string_value else s.value
        if value is not None:
            out[name][key] = value
    return dict(out)


def langfuse_linker(host: str, project_id: str) -> Callable[[AnswerRecord], str | None]:
    """Link builder for Langfuse: ``{host}/project/{projectId}/traces/{traceId}`` (sessions: ``/sessions/{id}``)."""
    base = f"{host.rstrip('/')}/project/{quote(project_id, safe='')}"

    def link(r: AnswerRecord) -> str | None:
        if r.session_id and not r.trace_id:
            return f"{base}/sessions/{quote(r.session_id, safe='')}"
        if r.trace_id and r.observation_id:
            return (
                f"{base}/traces/{quote(r.trace_id, safe='')}?observation={quote(r.observation_id, safe='')}"
            )
        if r.trace_id:
            return f"{base}/traces/{quote(r.trace_id, safe='')}"
        return None

    return link


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _levels(q: Question) -> list[Level]:
    if q.type == "numeric":
        return ["interval", "ordinal"]
    if q.type == "categorical":
        values = [c.value for c in q.categories]
        # Ordinal only means something when the categories carry distinct ordered values.
        return ["nominal", "ordinal"] if len(set(values)) == len(values) > 2 else ["nominal"]
    return ["nominal"]


def _distribution(q: Question, values: list[Any]) -> tuple[tuple[str, int], ...]:
    counts = Counter(_as_text(v) for v in values)
    if q.type == "categorical":
        order = list(q.labels) + sorted(set(counts) - set(q.labels))
        return tuple((label, counts.get(label, 0)) for label in order)
    if q.type == "boolean":
        return (("true", counts.get("true", 0)), ("false", counts.get("false", 0)))
    if q.type == "numeric":
        return tuple(sorted(counts.items(), key=lambda kv: float(kv[0])))
    return ()


def _reviewer_agreement(q: Question, units: Mapping[str, Mapping[str, Any]]) -> tuple[ReviewerAgreement, ...]:
    same: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    diffs: defaultdict[str, list[float]] = defaultdict(list)
    answers: Counter[str] = Counter()
    for by_reviewer in units.values():
        for r, v in by_reviewer.items():
            answers[r] += 1
            for other, w in by_reviewer.items():
                if other == r:
                    continue
                pairs[r] += 1
                same[r] += int(_as_text(v) == _as_text(w))
                if q.type == "numeric":
                    diffs[r].append(abs(float(v) - float(w)))
    return tuple(
        ReviewerAgreement(
            reviewer=r,
            answers=answers[r],
            agreement=same[r] / pairs[r] if pairs[r] else None,
            mean_abs_diff=statistics.fmean(diffs[r]) if diffs[r] else None,
        )
        for r in sorted(answers)
    )


def _correlations(
    q: Question, pairs: Sequence[tuple[str, Any, float | str]]
) -> tuple[float | None, float | None]:
    """Pearson and Spearman of human (consensus) against automated values, when both are numbers."""
    human_num = [_numeric(q, h) for _, h, _ in pairs]
    auto_num = [_to_float(a) for _, _, a in pairs]
    if any(h is None for h in human_num) or any(a is None for a in auto_num):
        return None, None
    hx = [float(h) for h in human_num if h is not None]
    ax = [float(a) for a in auto_num if a is not None]
    return pearson(hx, ax), spearman(hx, ax)


def _label_agreement(
    q: Question, pairs: Sequence[tuple[str, Any, float | str]]
) -> tuple[float | None, float | None]:
    """Share of equal labels and Cohen's κ, for categorical and boolean questions."""
    if q.type not in ("categorical", "boolean"):
        return None, None
    h_txt = [_as_text(h) for _, h, _ in pairs]
    a_txt = [_auto_as_text(q, a) for _, _, a in pairs]
    agreement = sum(x == y for x, y in zip(h_txt, a_txt, strict=True)) / len(pairs)
    return agreement, cohen_kappa(h_txt, a_txt)


def _compare(
    q: Question, consensus: Mapping[str, Any], automated: Mapping[str, float | str]
) -> AutomatedComparison | None:
    assert q.compare_with is not None
    keys = sorted(k for k in consensus if k in automated and consensus[k] is not None)
    pairs = tuple((k, consensus[k], automated[k]) for k in keys)
    if not pairs:
        return AutomatedComparison(score=q.compare_with, items=0)
    pr, sp = _correlations(q, pairs)
    agreement, kappa = _label_agreement(q, pairs)
    return AutomatedComparison(
        score=q.compare_with,
        items=len(pairs),
        pearson=pr,
        spearman=sp,
        agreement=agreement,
        kappa=kappa,
        pairs=tuple((k, _plain(h), _plain(a)) for k, h, a in pairs),
    )


def _plain(v: Any) -> float | str:
    if isinstance(v, bool):
        return float(v)
    return v if isinstance(v, int | float | str) else str(v)


def _to_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _numeric(q: Question, v: Any) -> float | None:
    if q.type == "categorical":
        for c in q.categories:
            if c.label == v:
                return c.value
        return None
    return _to_float(v)


def _auto_as_text(q: Question, v: float | str) -> str:
    if q.type == "boolean" and isinstance(v, int | float):
        return "true" if v >= 0.5 else "false"
    if q.type == "categorical" and isinstance(v, int | float):
        for c in q.categories:
            if c.value == float(v):
                return c.label
    return _as_text(v)


def _review_seconds(records: Sequence[AnswerRecord]) -> tuple[dict[tuple[str, str], float], bool]:
    """Seconds per (reviewer, item): recorded ones, else gaps between a reviewer's submissions."""
    recorded: dict[tuple[str, str], float] = {}
    submitted: dict[tuple[str, str], datetime] = {}
    for r in records:
        if r.seconds is not None:
            recorded[(r.reviewer, r.item_key)] = r.seconds
        if r.submitted_at is not None:
            k = (r.reviewer, r.item_key)
            submitted[k] = min(submitted.get(k, r.submitted_at), r.submitted_at)
    if recorded:
        return recorded, False
    estimated: dict[tuple[str, str], float] = {}
    by_reviewer: defaultdict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for (reviewer, key), at in submitted.items():
        by_reviewer[reviewer].append((at, key))
    for reviewer, subs in by_reviewer.items():
        subs.sort()
        for (prev, _), (cur, key) in zip(subs, subs[1:], strict=False):
            gap = (cur - prev).total_seconds()
            if 0 < gap <= MAX_ESTIMATED_SECONDS:
                estimated[(reviewer, key)] = gap
    return estimated, True


def _unit_tables(
    spec: ReviewSpec, records: Sequence[AnswerRecord]
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, AnswerRecord]]:
    """Per question: item key → reviewer → value (the latest record wins); and each item's first record."""
    units: dict[str, dict[str, dict[str, Any]]] = {q.score: {} for q in spec.questions}
    first_record: dict[str, AnswerRecord] = {}
    for r in sorted(records, key=lambda r: r.submitted_at or datetime.min.replace(tzinfo=UTC)):
        if r.question in units and r.value is not None:
            units[r.question].setdefault(r.item_key, {})[r.reviewer] = r.value
            first_record.setdefault(r.item_key, r)
    return units, first_record


Table = Mapping[str, Mapping[str, Any]]  # item key → reviewer → value


def _coded(q: Question, table: Table) -> dict[str, dict[str, Any]]:
    """The values as agreement statistics take them: floats for numeric questions, else text."""
    return {
        k: {r: float(v) if q.type == "numeric" else _as_text(v) for r, v in by.items()}
        for k, by in table.items()
    }


def _alpha(q: Question, coded: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Krippendorff's α at each measurement level that means something for ``q``."""
    _, _, matrix = reliability_matrix(coded)
    alpha: dict[str, float | None] = {}
    for level in _levels(q):
        order = None
        level_matrix = matrix
        if level == "ordinal" and q.type == "categorical":
            order = [c.label for c in sorted(q.categories, key=lambda c: c.value)]
            # A stored label the spec no longer has (its config changed) has no rank: missing here.
            ranked = set(order)
            level_matrix = [[v if v in ranked else None for v in row] for row in matrix]
        alpha[level] = krippendorff_alpha(level_matrix, level, order=order) if matrix else None
    return alpha


def _observed_agreement(multi: Table) -> float | None:
    """The share of agreeing answer pairs over the items answered more than once."""
    agree = total = 0
    for by in multi.values():
        vals = list(by.values())
        for i in range(len(vals)):
            for j in range(i + 1, len(vals)):
                total += 1
                agree += int(_as_text(vals[i]) == _as_text(vals[j]))
    return agree / total if total else None


# -- one function per question kind: the statistics of its QuestionReport -----------------------


def _categorical_stats(q: Question, table: Table, multi: Table) -> dict[str, Any]:
    """Categorical and boolean questions: α, Fleiss' κ, pairwise Cohen's κ, observed agreement."""
    coded = _coded(q, table)
    counts = fleiss_counts(multi) if multi else None
    return {
        "alpha": _alpha(q, coded),
        "fleiss_kappa": fleiss_kappa(counts) if counts else None,
        "pairwise_kappa": tuple(pairwise_cohen(coded)),
        "observed_agreement": _observed_agreement(multi),
    }


def _numeric_stats(q: Question, table: Table, multi: Table) -> dict[str, Any]:
    """Numeric questions: α (interval, ordinal) and mean, median, min, max of the answers."""
    nums = [float(v) for by in table.values() for v in by.values()]
    summary = None
    if nums:
        summary = {
            "mean": statistics.fmean(nums),
            "median": statistics.median(nums),
            "min": min(nums),
            "max": max(nums),
        }
    return {"alpha": _alpha(q, _coded(q, table)), "numeric": summary}


def _free_text_stats(q: Question, table: Table, multi: Table) -> dict[str, Any]:
    """Text and correction questions: no agreement statistics (only counts)."""
    return {}


_STATS: dict[str, Callable[[Question, Table, Table], dict[str, Any]]] = {
    "categorical": _categorical_stats,
    "boolean": _categorical_stats,
    "numeric": _numeric_stats,
    "text": _free_text_stats,
    "correction": _free_text_stats,
}


def _disputes(
    q: Question,
    multi: Table,
    first_record: Mapping[str, AnswerRecord],
    link: Callable[[AnswerRecord], str | None] | None,
) -> list[DisputedItem]:
    """The items of ``q`` whose reviewers disagree."""
    disputes = []
    for key, by in multi.items():
        d = disagreement(q, list(by.values()))
        if d > 0:
            rec = first_record.get(key)
            disputes.append(
                DisputedItem(
                    item_key=key,
                    url=link(rec) if (link and rec) else None,
                    disagreement=d,
                    question=q.score,
                    answers=tuple((r, _as_text(v)) for r, v in sorted(by.items())),
                )
            )
    return disputes


def _automated_comparison(
    spec: ReviewSpec, q: Question, table: Table, automated: Mapping[str, Mapping[str, float | str]]
) -> AutomatedComparison | None:
    """The reviewers' consensus against the automated score ``q.compare_with`` (None without one)."""
    if not q.compare_with:
        return None
    consensus = {
        key: decide(q, list(by.values()), numeric=spec.consensus.numeric, max_disagreement=1.0).value
        for key, by in table.items()
    }
    return _compare(q, consensus, automated.get(q.compare_with, {}))


def _question_report(
    spec: ReviewSpec,
    q: Question,
    table: Table,
    first_record: Mapping[str, AnswerRecord],
    automated: Mapping[str, Mapping[str, float | str]],
    link: Callable[[AnswerRecord], str | None] | None,
) -> tuple[QuestionReport, list[DisputedItem]]:
    """The dispatcher: the report of one question (its kind's statistics) and its disputed items."""
    values = [v for by in table.values() for v in by.values()]
    multi = {k: v for k, v in table.items() if len(v) >= 2}
    scored = q.type in CONSENSUS_TYPES
    report = QuestionReport(
        score=q.score,
        type=q.type,
        label=q.label,
        answers=len(values),
        items=len(table),
        multi_rated_items=len(multi),
        distribution=_distribution(q, values),
        reviewers=_reviewer_agreement(q, table) if scored else (),
        automated=_automated_comparison(spec, q, table, automated) if scored else None,
        **_STATS[q.type](q, table, multi),
    )
    return report, _disputes(q, multi, first_record, link) if scored else []


def _reviewer_summaries(
    records: Sequence[AnswerRecord], questions: Sequence[QuestionReport]
) -> tuple[tuple[ReviewerSummary, ...], bool]:
    """Each reviewer's items, answers, median review time and agreement; whether times are estimated."""
    seconds, estimated = _review_seconds(records)
    # Grouped once by reviewer (not a pass over every record per reviewer).
    answers_of: Counter[str] = Counter(r.reviewer for r in records)
    items_of: defaultdict[str, set[str]] = defaultdict(set)
    for r in records:
        items_of[r.reviewer].add(r.item_key)
    times_of: defaultdict[str, list[float]] = defaultdict(list)
    for (rv, _), s in seconds.items():
        times_of[rv].append(s)
    rates_of: defaultdict[str, list[float]] = defaultdict(list)
    for qr in questions:
        if qr.type in ("categorical", "boolean"):
            for ra in qr.reviewers:
                if ra.agreement is not None:
                    rates_of[ra.reviewer].append(ra.agreement)
    summaries = tuple(
        ReviewerSummary(
            reviewer=name,
            items=len(items_of[name]),
            answers=answers_of[name],
            median_seconds=statistics.median(times_of[name]) if times_of[name] else None,
            agreement=statistics.fmean(rates_of[name]) if rates_of[name] else None,
        )
        for name in sorted(answers_of)
    )
    return summaries, estimated


def build_report(
    spec: ReviewSpec,
    records: Sequence[AnswerRecord],
    *,
    automated: Mapping[str, Mapping[str, float | str]] | None = None,
    link: Callable[[AnswerRecord], str | None] | None = None,
    now: datetime | None = None,
) -> Report:
    """Compute the campaign report.

    Args:
        spec: the campaign's spec (questions, their types, categories and ranges).
        records: every answer, e.g. from :func:`records_from_scores`.
        automated: ``compare_with`` score name → item key → value (see :func:`automated_from_scores`).
        link: item → URL (e.g. :func:`langfuse_linker`), for the disputed items.
        now: the report time (default: now, UTC).
    """
    units, first_record = _unit_tables(spec, records)
    question_reports: list[QuestionReport] = []
    disputes: list[DisputedItem] = []
    for q in spec.questions:
        report, disputed = _question_report(spec, q, units[q.score], first_record, automated or {}, link)
        question_reports.append(report)
        disputes.extend(disputed)
    summaries, estimated = _reviewer_summaries(records, question_reports)
    disputes.sort(key=lambda d: (-d.disagreement, d.item_key, d.question))
    versions = {r.spec_version for r in records if r.spec_version}
    return Report(
        campaign=spec.campaign,
        title=spec.title,
        target=spec.target,
        spec_hash=spec.spec_hash,
        spec_version=",".join(sorted(versions)) or None,
        generated_at=now or datetime.now(UTC),
        items=len({r.item_key for r in records}),
        answers=len(records),
        reviewers=summaries,
        questions=tuple(question_reports),
        disputed=tuple(disputes[:TOP_DISPUTED]),
        time_estimated=estimated,
    )
