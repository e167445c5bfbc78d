"""Judge alignment: how well an automated score (``compare_with``, e.g. an LLM judge) agrees with people.

For every question that names a ``compare_with`` score, the human consensus of each item (majority
label, or median/mean of numeric answers) is compared with the judge's score on the same item:

- **categorical**: Cohen's κ, plus linear-weighted κ (Cohen 1968) when the categories carry
  ordered values (more than two, distinct) — the headline then;
- **boolean**: κ, and the judge as a classifier of the human label: TPR, TNR, precision, F1
  (a numeric judge score counts as *true* from 0.5);
- **numeric**: Spearman's ρ (headline) and the mean absolute error in the question's units
  (the judge's scale mapped onto the question's with ``compare_range``);

each with a seeded bootstrap 95 % interval over items (Wilson intervals for the rates), a
confusion matrix (labels, or numeric values rounded to the question's scale), the headline per
stratum (``source.sample.by``, when the campaign state knows the strata) and the items where human
and judge differ most, with their Langfuse links.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from hitl_pipeline.campaign.consensus import decide
from hitl_pipeline.model.stats import (
    DEFAULT_RESAMPLES,
    binary_metrics,
    bootstrap_interval,
    weighted_kappa_table,
    wilson_interval,
)
from hitl_pipeline.quality.judge import answer_text, as_float, judge_label, judge_number
from hitl_pipeline.report.compute import AnswerRecord
from hitl_pipeline.report.trust import Estimate, JudgeAlignment, JudgeDisagreement, StratumAlignment
from hitl_pipeline.spec.model import Question, ReviewSpec

#: How many of the largest human–judge disagreements the report lists per question.
TOP_DISAGREEMENTS = 10
#: Strata with fewer compared items than this get no interval (too few to resample).
MIN_STRATUM_ITEMS = 5


_text = answer_text
_float = as_float


def is_ordinal(q: Question) -> bool:
    values = [c.value for c in q.categories]
    return q.type == "categorical" and len(values) > 2 and len(set(values)) == len(values)


def _kappa(h: np.ndarray, j: np.ndarray, k: int, weights: str | None) -> float | None:
    table = np.bincount(h * k + j, minlength=k * k).reshape(k, k).tolist()
    if weights is None:
        identity = [[0.0 if a == b else 1.0 for b in range(k)] for a in range(k)]
        return weighted_kappa_table(table, identity)
    return weighted_kappa_table(table, weights)  # type: ignore[arg-type]


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), 1-based."""
    sorter = np.argsort(a, kind="mergesort")
    inv = np.empty(len(a), dtype=np.intp)
    inv[sorter] = np.arange(len(a))
    s = a[sorter]
    first = np.concatenate(([True], s[1:] != s[:-1]))
    dense = np.cumsum(first)[inv]
    bounds = np.concatenate((np.nonzero(first)[0], [len(a)]))
    return np.asarray(0.5 * (bounds[dense] + bounds[dense - 1] + 1), dtype=float)


def spearman_np(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's ρ with average ranks for ties (None when either side has no variation)."""
    if len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    sx, sy = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float((sx * sx).sum()) * float((sy * sy).sum()))
    return None if den == 0 else float((sx * sy).sum()) / den


def _estimate(n: int, stat: Callable[[np.ndarray], float | None], seed: int, resamples: int) -> Estimate:
    value = stat(np.arange(n))
    if value is None:
        return Estimate(None)
    interval = bootstrap_interval(n, stat, resamples=resamples, seed=seed)
    return Estimate(value, *(interval or (None, None)))


def _wilson(successes: int, total: int) -> Estimate | None:
    if total == 0:
        return None
    interval = wilson_interval(successes, total)
    return Estimate(successes / total, *(interval or (None, None)))


def align(
    q: Question,
    consensus: Mapping[str, Any],
    automated: Mapping[str, Any],
    *,
    strata: Mapping[str, str | None] | None = None,
    urls: Mapping[str, str | None] | None = None,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> JudgeAlignment | None:
    """Alignment of ``q``'s human consensus (item key → answer) with its ``compare_with`` score
    (item key → value). None when the question has no ``compare_with`` or is not gradeable."""
    if q.compare_with is None or q.type not in ("categorical", "boolean", "numeric"):
        return None
    strata = strata or {}
    urls = urls or {}
    keys, human_v, judge_v = _paired_answers(q, consensus, automated)
    if q.type == "numeric":
        return _align_numeric(q, keys, human_v, judge_v, strata, urls, seed, resamples)
    return _align_labels(q, keys, human_v, judge_v, strata, urls, seed, resamples)


def _paired_answers(
    q: Question, consensus: Mapping[str, Any], automated: Mapping[str, Any]
) -> tuple[list[str], list[Any], list[Any]]:
    """The items with both a human consensus and a judge value: keys, human values, judge values."""
    keys: list[str] = []
    human_v: list[Any] = []
    judge_v: list[Any] = []
    for key in sorted(consensus):
        answer = consensus[key]
        if answer is None or key not in automated:
            continue
        jv: Any = judge_number(q, automated[key]) if q.type == "numeric" else judge_label(q, automated[key])
        hv: Any = _float(answer) if q.type == "numeric" else _text(answer)
        if jv is None or hv is None:
            continue
        keys.append(key)
        human_v.append(hv)
        judge_v.append(jv)
    return keys, human_v, judge_v


def _value_ranks(q: Question, k: int) -> np.ndarray:
    """Each category's rank by its value, lowest first, whatever order the spec lists them in."""
    by_value = sorted(range(k), key=lambda i: q.categories[i].value)
    rank = np.empty(k, dtype=np.intp)
    rank[by_value] = np.arange(k)
    return rank


def _boolean_metrics(
    h: np.ndarray, j: np.ndarray, n: int, seed: int, resamples: int
) -> tuple[Estimate | None, Estimate | None, Estimate | None, Estimate]:
    """The judge as a classifier of the human label (index 0 = "true"): TPR, TNR, precision, F1."""
    m = binary_metrics([bool(v == 0) for v in h], [bool(v == 0) for v in j])
    tpr, tnr = _wilson(m.tp, m.tp + m.fn), _wilson(m.tn, m.tn + m.fp)
    precision = _wilson(m.tp, m.tp + m.fp)
    hb, jb = h == 0, j == 0

    def f1_of(idx: np.ndarray) -> float | None:
        tp = int((hb[idx] & jb[idx]).sum())
        den = tp * 2 + int((~hb[idx] & jb[idx]).sum()) + int((hb[idx] & ~jb[idx]).sum())
        return 2 * tp / den if den else None

    return tpr, tnr, precision, _estimate(n, f1_of, seed, resamples)


def _align_labels(
    q: Question,
    keys: list[str],
    human_v: list[Any],
    judge_v: list[Any],
    strata: Mapping[str, str | None],
    urls: Mapping[str, str | None],
    seed: int,
    resamples: int,
) -> JudgeAlignment:
    """Alignment of a categorical or boolean question: κ (weighted when ordinal) and a confusion matrix."""
    assert q.compare_with is not None
    n = len(keys)
    labels = list(q.labels) if q.type == "categorical" else ["true", "false"]
    extra = sorted({v for v in human_v if v not in labels})
    labels += extra  # a stored label the spec no longer has still counts, as its own category
    index = {label: i for i, label in enumerate(labels)}
    h = np.asarray([index[v] for v in human_v], dtype=np.intp)
    j = np.asarray([index[v] for v in judge_v], dtype=np.intp)
    k = len(labels)
    ordinal = is_ordinal(q) and not extra
    if ordinal:
        rank = _value_ranks(q, k)
        h_rank, j_rank = rank[h], rank[j]
    kappa = _estimate(n, lambda idx: _kappa(h[idx], j[idx], k, None), seed, resamples)
    weighted = (
        _estimate(n, lambda idx: _kappa(h_rank[idx], j_rank[idx], k, "linear"), seed, resamples)
        if ordinal
        else None
    )
    agree = int((h == j).sum())
    table = np.bincount(h * k + j, minlength=k * k).reshape(k, k) if n else np.zeros((k, k), dtype=int)
    tpr = tnr = precision = f1 = None
    if q.type == "boolean":
        tpr, tnr, precision, f1 = _boolean_metrics(h, j, n, seed, resamples)
    headline_name, headline = ("weighted_kappa", weighted) if weighted is not None else ("kappa", kappa)

    def stratum_stat(idx: np.ndarray) -> float | None:
        if ordinal:
            return _kappa(h_rank[idx], j_rank[idx], k, "linear")
        return _kappa(h[idx], j[idx], k, None)

    if ordinal:
        gaps = [float(abs(int(a) - int(b))) for a, b in zip(h_rank, j_rank, strict=True)]
    else:
        gaps = [float(a != b) for a, b in zip(h, j, strict=True)]
    return JudgeAlignment(
        question=q.score,
        score=q.compare_with,
        kind="ordinal" if ordinal else q.type,
        items=n,
        headline_name=headline_name,
        headline=headline,
        kappa=kappa,
        weighted_kappa=weighted,
        label_agreement=_wilson(agree, n),
        tpr=tpr,
        tnr=tnr,
        precision=precision,
        f1=f1,
        labels=tuple(labels),
        confusion=tuple(tuple(int(x) for x in row) for row in table),
        strata=_strata(keys, strata, stratum_stat, seed, resamples),
        disagreements=_top(keys, human_v, judge_v, gaps, urls),
    )


def _align_numeric(
    q: Question,
    keys: list[str],
    human_v: list[Any],
    judge_v: list[Any],
    strata: Mapping[str, str | None],
    urls: Mapping[str, str | None],
    seed: int,
    resamples: int,
) -> JudgeAlignment:
    assert q.compare_with is not None
    n = len(keys)
    x = np.asarray(human_v, dtype=float)
    y = np.asarray(judge_v, dtype=float)

    def rho(idx: np.ndarray) -> float | None:
        return spearman_np(x[idx], y[idx])

    def mae(idx: np.ndarray) -> float | None:
        return float(np.abs(x[idx] - y[idx]).mean()) if len(idx) else None

    spearman = _estimate(n, rho, seed, resamples)
    # Confusion over the question's scale: both sides rounded to the nearest step (or integer).
    labels: tuple[str, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = ()
    if q.min is not None and q.max is not None:
        step = q.step or 1.0
        count = int(round((q.max - q.min) / step)) + 1
        low = q.min
        if 2 <= count <= 11 and n:
            labels = tuple(f"{low + i * step:g}" for i in range(count))

            def bucket(v: np.ndarray) -> np.ndarray:
                return np.clip(np.rint((v - low) / step), 0, count - 1).astype(np.intp)

            table = np.bincount(bucket(x) * count + bucket(y), minlength=count * count).reshape(count, count)
            confusion = tuple(tuple(int(c) for c in row) for row in table)
    return JudgeAlignment(
        question=q.score,
        score=q.compare_with,
        kind="numeric",
        items=n,
        headline_name="spearman",
        headline=spearman,
        spearman=spearman,
        mae=_estimate(n, mae, seed, resamples),
        labels=labels,
        confusion=confusion,
        strata=_strata(keys, strata, rho, seed, resamples),
        disagreements=_top(keys, human_v, judge_v, [abs(a - b) for a, b in zip(x, y, strict=True)], urls),
    )


def _strata(
    keys: Sequence[str],
    strata: Mapping[str, str | None],
    stat: Callable[[np.ndarray], float | None],
    seed: int,
    resamples: int,
) -> tuple[StratumAlignment, ...]:
    groups: defaultdict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        s = strata.get(key)
        if s is not None:
            groups[s].append(i)
    if len(groups) < 2:
        return ()
    out = []
    for name in sorted(groups):
        members = np.asarray(groups[name], dtype=np.intp)
        value = stat(members)
        interval = None
        if len(members) >= MIN_STRATUM_ITEMS and value is not None:

            def within(idx: np.ndarray, m: np.ndarray = members) -> float | None:
                return stat(m[idx])

            interval = bootstrap_interval(len(members), within, resamples=resamples, seed=seed)
        out.append(StratumAlignment(name, len(members), Estimate(value, *(interval or (None, None)))))
    return tuple(out)


def _top(
    keys: Sequence[str],
    human: Sequence[Any],
    judge: Sequence[Any],
    gaps: Sequence[float],
    urls: Mapping[str, str | None],
) -> tuple[JudgeDisagreement, ...]:
    order = sorted((i for i in range(len(keys)) if gaps[i] > 0), key=lambda i: (-gaps[i], keys[i]))
    return tuple(
        JudgeDisagreement(keys[i], urls.get(keys[i]), _plain(human[i]), _plain(judge[i]), float(gaps[i]))
        for i in order[:TOP_DISAGREEMENTS]
    )


def _plain(v: Any) -> float | str:
    if isinstance(v, float | int) and not isinstance(v, bool):
        return float(v)
    return str(v)


def human_consensus(spec: ReviewSpec, records: Sequence[AnswerRecord]) -> dict[str, dict[str, Any]]:
    """Question → item key → the consensus of its reviewers' latest answers (majority label, or
    median/mean per ``consensus.numeric``; ties have none), for categorical/boolean/numeric questions."""
    units: defaultdict[str, defaultdict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    oldest = datetime.min.replace(tzinfo=UTC)
    for r in sorted(records, key=lambda r: r.submitted_at or oldest):  # the latest answer wins
        if r.value is not None:
            units[r.question][r.item_key][r.reviewer] = r.value
    out: dict[str, dict[str, Any]] = {}
    for q in spec.questions:
        if q.type not in ("categorical", "boolean", "numeric"):
            continue
        out[q.score] = {
            item: decide(q, list(by.values()), numeric=spec.consensus.numeric, max_disagreement=1.0).value
            for item, by in units[q.score].items()
        }
    return out


def alignments(
    spec: ReviewSpec,
    records: Sequence[AnswerRecord],
    automated: Mapping[str, Mapping[str, Any]],
    *,
    strata: Mapping[str, str | None] | None = None,
    link: Callable[[AnswerRecord], str | None] | None = None,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> tuple[JudgeAlignment, ...]:
    """:func:`align` for every question with a ``compare_with`` score (what ``hitl report`` shows)."""
    if not any(q.compare_with for q in spec.questions):
        return ()
    consensus = human_consensus(spec, records)
    urls: dict[str, str | None] = {}
    if link is not None:
        for r in records:
            if r.item_key not in urls:
                urls[r.item_key] = link(r)
    out = []
    for q in spec.questions:
        if q.compare_with and q.score in consensus:
            a = align(
                q,
                consensus[q.score],
                automated.get(q.compare_with, {}),
                strata=strata,
                urls=urls,
                seed=seed,
                resamples=resamples,
            )
            if a is not None:
                out.append(a)
    return tuple(out)


__all__ = [
    "align",
    "alignments",
    "human_consensus",
    "is_ordinal",
    "judge_label",
    "judge_number",
    "spearman_np",
]
