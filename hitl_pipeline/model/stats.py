"""Statistics for label quality: weighted κ, confusion matrices, binary metrics, intervals.

Companion of :mod:`hitl_pipeline.report.agreement` (α, Cohen's/Fleiss' κ, correlations): what
judge alignment, reviewer accuracy and CI gates need on top of it. Pure functions (numpy only), in
the bottom layer so that campaign-time policies (honeypot accuracy) and the report share them. Every function returns
``None`` for an undefined statistic (no data, no variation) rather than a NaN, and every random
computation takes a seed, so the same data always give the same numbers.

- :func:`weighted_kappa_table` / :func:`weighted_kappa`: Cohen's (1968) weighted κ with linear or
  quadratic disagreement weights (or any weight matrix); unweighted κ is the 0/1 special case.
- :func:`confusion_matrix`, :func:`binary_metrics`: TPR, TNR, precision, F1 of a judge against
  human labels.
- :func:`wilson_interval`: the Wilson score interval of a proportion (accuracy, TPR…).
- :func:`bootstrap_interval`: a seeded percentile bootstrap over units (items) for anything else.
- :func:`mean_absolute_error`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

Interval = tuple[float, float]
Weights = Literal["linear", "quadratic"]

#: Bootstrap resamples used by the report (enough for stable 95 % percentile bounds).
DEFAULT_RESAMPLES = 2000

__all__ = [
    "DEFAULT_RESAMPLES",
    "BinaryMetrics",
    "Interval",
    "Weights",
    "binary_metrics",
    "bootstrap_interval",
    "confusion_matrix",
    "disagreement_weights",
    "mean_absolute_error",
    "weighted_kappa",
    "weighted_kappa_table",
    "wilson_interval",
    "z_value",
]


def z_value(confidence: float = 0.95) -> float:
    """The two-sided standard normal quantile for ``confidence`` (1.959964 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def confusion_matrix(
    rows: Sequence[Hashable], columns: Sequence[Hashable], labels: Sequence[Hashable]
) -> list[list[int]]:
    """Counts ``table[i][j]`` of units rated ``labels[i]`` by the first rater and ``labels[j]`` by
    the second. Pairs with a value outside ``labels`` (or a missing one, ``None``) are left out."""
    if len(rows) != len(columns):
        raise ValueError("both raters need one entry per unit")
    index = {label: i for i, label in enumerate(labels)}
    table = [[0] * len(labels) for _ in labels]
    for a, b in zip(rows, columns, strict=True):
        i, j = index.get(a), index.get(b)
        if i is not None and j is not None:
            table[i][j] += 1
    return table


def disagreement_weights(k: int, weights: Weights) -> list[list[float]]:
    """Cohen's (1968) disagreement weights for ``k`` ordered categories: ``|i−j|/(k−1)`` (linear)
    or ``((i−j)/(k−1))²`` (quadratic); 0 on the diagonal."""
    if k < 2:
        return [[0.0] * k for _ in range(k)]
    power = 1 if weights == "linear" else 2
    return [[(abs(i - j) / (k - 1)) ** power for j in range(k)] for i in range(k)]


def weighted_kappa_table(
    table: Sequence[Sequence[float]], weights: Weights | Sequence[Sequence[float]] = "linear"
) -> float | None:
    """Weighted κ of a square contingency table (rows: rater 1, columns: rater 2, categories in order).

    ``κ_w = 1 − Σ w·p_observed / Σ w·p_expected`` with disagreement weights ``w`` (Cohen 1968):
    ``"linear"``, ``"quadratic"``, or a k × k matrix. With 0/1 weights it is Cohen's κ.
    """
    k = len(table)
    if k == 0 or any(len(row) != k for row in table):
        raise ValueError("weighted κ needs a square table")
    w = disagreement_weights(k, weights) if isinstance(weights, str) else [list(r) for r in weights]
    if len(w) != k or any(len(row) != k for row in w):
        raise ValueError("the weight matrix must have the table's shape")
    n = sum(sum(row) for row in table)
    if n == 0:
        return None
    row_tot = [sum(row) for row in table]
    col_tot = [sum(table[i][j] for i in range(k)) for j in range(k)]
    observed = sum(w[i][j] * table[i][j] for i in range(k) for j in range(k)) / n
    expected = sum(w[i][j] * row_tot[i] * col_tot[j] for i in range(k) for j in range(k)) / (n * n)
    if expected == 0:
        return None  # no room for disagreement by chance: κ is 0/0
    return 1 - observed / expected


def weighted_kappa(
    a: Sequence[Hashable | None],
    b: Sequence[Hashable | None],
    order: Sequence[Hashable],
    weights: Weights = "linear",
) -> float | None:
    """Weighted κ of two raters over the same units, categories ranked by ``order`` (lowest first).

    Units where either answer is missing or not in ``order`` are left out.
    """
    return weighted_kappa_table(confusion_matrix(a, b, order), weights)


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> Interval | None:
    """Wilson score interval of the proportion ``successes / n`` (None when ``n`` is 0).

    Unlike the normal (Wald) interval it stays inside [0, 1] and is sensible at 0 or n successes
    and for small n, which is what reviewer accuracy on a handful of gold items needs.
    """
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    z = z_value(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(
    n_units: int,
    statistic: Callable[[np.ndarray], float | None],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval | None:
    """Seeded percentile bootstrap interval of a statistic over ``n_units`` units.

    ``statistic`` receives an array of unit indices (a resample with replacement, the same length
    as the data) and returns the statistic on those units, or None when it is undefined there.
    Resamples where it is undefined are dropped; when more than half are, the interval is None
    (the data cannot support one). Units are resampled as wholes (an item with all its answers),
    so the interval reflects the variation between items.
    """
    if n_units < 2:
        return None
    rng = np.random.default_rng(seed)
    values: list[float] = []
    for _ in range(resamples):
        value = statistic(rng.integers(0, n_units, size=n_units))
        if value is not None and not math.isnan(value):
            values.append(float(value))
    if len(values) * 2 < resamples:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.asarray(values), [tail, 100 - tail])
    return float(low), float(high)


def mean_absolute_error(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Mean |x − y| over paired values (None when there are none)."""
    if len(x) != len(y):
        raise ValueError("x and y need the same length")
    if not x:
        return None
    return sum(abs(a - b) for a, b in zip(x, y, strict=True)) / len(x)


@dataclass(frozen=True)
class BinaryMetrics:
    """A binary classifier (e.g. an LLM judge) against reference labels (e.g. human consensus).

    Rates are None when their denominator is 0 (no positives, nothing predicted positive…).
    """

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def tpr(self) -> float | None:
        """Recall / sensitivity: share of reference positives the classifier calls positive."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def tnr(self) -> float | None:
        """Specificity: share of reference negatives the classifier calls negative."""
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def precision(self) -> float | None:
        """Share of the classifier's positives that are reference positives."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall (2TP / (2TP + FP + FN))."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def accuracy(self) -> float | None:
        return _ratio(self.tp + self.tn, self.n)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def binary_metrics(reference: Sequence[bool], predicted: Sequence[bool]) -> BinaryMetrics:
    """Confusion counts of ``predicted`` against ``reference`` (True = positive)."""
    if len(reference) != len(predicted):
        raise ValueError("both need one entry per unit")
    tp = fp = fn = tn = 0
    for r, p in zip(reference, predicted, strict=True):
        if r and p:
            tp += 1
        elif p:
            fp += 1
        elif r:
            fn += 1
        else:
            tn += 1
    return BinaryMetrics(tp=tp, fp=fp, fn=fn, tn=tn)
