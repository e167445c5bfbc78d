"""Inter-rater agreement: Krippendorff's α, Cohen's κ, Fleiss' κ, and simple correlations.

Krippendorff's α comes from the ``krippendorff`` package (PyPI, maintained, numpy-based);
this module only adapts our data to it and turns its "undefined" cases into ``None``.
The κ statistics and correlations are a few lines each, written out here so that the
report does not pull in scikit-learn or statsmodels for them; tests pin every function to
published reference values.

Conventions: a *reliability matrix* is coders × units (one row per reviewer, one column per
item), ``None`` marks a missing answer. Every function returns ``None`` when the statistic is
undefined (no unit with two answers, no variation at all, …) rather than a NaN.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import krippendorff
import numpy as np

Level = Literal["nominal", "ordinal", "interval", "ratio"]

__all__ = [
    "Level",
    "PairKappa",
    "cohen_kappa",
    "cohen_kappa_table",
    "fleiss_kappa",
    "fleiss_counts",
    "krippendorff_alpha",
    "pairwise_cohen",
    "pearson",
    "reliability_matrix",
    "spearman",
]


def reliability_matrix(
    units: Mapping[str, Mapping[str, Hashable]], coders: Sequence[str] | None = None
) -> tuple[list[str], list[str], list[list[Hashable | None]]]:
    """Turn ``unit → {coder: value}`` into ``(coders, units, coders × units matrix)``.

    Coders and units are sorted so that the matrix is deterministic.
    """
    coder_list = list(coders) if coders is not None else sorted({c for v in units.values() for c in v})
    unit_list = sorted(units)
    matrix = [[units[u].get(c) for u in unit_list] for c in coder_list]
    return coder_list, unit_list, matrix


def krippendorff_alpha(
    data: Sequence[Sequence[Hashable | None]],
    level: Level = "nominal",
    *,
    order: Sequence[Hashable] | None = None,
) -> float | None:
    """Krippendorff's α of a coders × units matrix (``None`` = missing answer).

    Args:
        data: one row per coder, one column per unit.
        level: level of measurement: ``nominal``, ``ordinal``, ``interval`` or ``ratio``.
            Interval and ratio need numeric values.
        order: for non-numeric ordinal data, the values from lowest to highest (e.g. category
            labels in the order of their config values). Ignored for other levels.

    Returns:
        α, or ``None`` when it is undefined: no unit has two answers, or all answers are equal
        (Krippendorff: α is then 0/0).
    """
    values = [v for row in data for v in row if v is not None]
    if not values or not any(sum(1 for row in data if row[j] is not None) >= 2 for j in range(len(data[0]))):
        return None
    if len(set(values)) < 2:
        return None
    if level in ("interval", "ratio") or (level == "ordinal" and order is None):
        matrix, domain = _numeric_matrix(data, level), None
    else:
        matrix, domain = _ranked_matrix(data, values, order)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 means "undefined": returned as None
        result = float(
            krippendorff.alpha(reliability_data=matrix, level_of_measurement=level, value_domain=domain)
        )
    return None if math.isnan(result) else result


def _numeric_matrix(data: Sequence[Sequence[Hashable | None]], level: Level) -> np.ndarray:
    try:
        numeric = [[math.nan if v is None else float(v) for v in row] for row in data]  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{level} α needs numeric values ({exc})") from exc
    return np.asarray(numeric, dtype=float)


def _ranked_matrix(
    data: Sequence[Sequence[Hashable | None]], values: list[Hashable], order: Sequence[Hashable] | None
) -> tuple[np.ndarray, list[int]]:
    """Nominal (any hashable) or ordinal over an explicit order: the values coded as their rank."""
    ranks = {v: i for i, v in enumerate(order)} if order is not None else {}
    if order is None:
        for v in sorted(set(values), key=repr):
            ranks.setdefault(v, len(ranks))
    unknown = set(values) - set(ranks)
    if unknown:
        raise ValueError(f"values {sorted(map(repr, unknown))} are not in the given order")
    matrix = np.asarray([[math.nan if v is None else float(ranks[v]) for v in row] for row in data])
    return matrix, list(range(len(ranks)))


def cohen_kappa_table(table: Sequence[Sequence[float]]) -> float | None:
    """Cohen's κ from a square contingency table (rows: rater 1's category, columns: rater 2's)."""
    k = len(table)
    if k == 0 or any(len(row) != k for row in table):
        raise ValueError("Cohen's κ needs a square table")
    n = sum(sum(row) for row in table)
    if n == 0:
        return None
    po = sum(table[i][i] for i in range(k)) / n
    pe = sum(sum(table[i]) * sum(table[j][i] for j in range(k)) for i in range(k)) / (n * n)
    if pe == 1:
        return None
    return (po - pe) / (1 - pe)


def cohen_kappa(a: Sequence[Hashable | None], b: Sequence[Hashable | None]) -> float | None:
    """Cohen's κ of two raters over the same units; units where either answer is missing are left out."""
    if len(a) != len(b):
        raise ValueError("both raters need one entry per unit")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not pairs:
        return None
    cats = sorted({v for p in pairs for v in p}, key=repr)
    index = {c: i for i, c in enumerate(cats)}
    table = [[0.0] * len(cats) for _ in cats]
    for x, y in pairs:
        table[index[x]][index[y]] += 1
    return cohen_kappa_table(table)


@dataclass(frozen=True)
class PairKappa:
    """Cohen's κ of one pair of raters and how many units they both answered."""

    rater_a: str
    rater_b: str
    kappa: float | None
    units: int


def pairwise_cohen(units: Mapping[str, Mapping[str, Hashable]]) -> list[PairKappa]:
    """Cohen's κ for every pair of raters that share at least one unit (sorted by rater names)."""
    # Unit by unit (not over a raters × units matrix): with many raters, most pairs share few units.
    shared: defaultdict[tuple[str, str], tuple[list[Hashable], list[Hashable]]] = defaultdict(
        lambda: ([], [])
    )
    for by_coder in units.values():
        answered = sorted(c for c, v in by_coder.items() if v is not None)
        for a, b in combinations(answered, 2):
            xs, ys = shared[(a, b)]
            xs.append(by_coder[a])
            ys.append(by_coder[b])
    return [PairKappa(a, b, cohen_kappa(xs, ys), len(xs)) for (a, b), (xs, ys) in sorted(shared.items())]


def fleiss_counts(units: Mapping[str, Mapping[str, Hashable]]) -> list[list[int]] | None:
    """Subjects × categories count table for Fleiss' κ, or None unless every unit has the same
    number (≥ 2) of ratings — Fleiss' κ only applies then."""
    sizes = {len(v) for v in units.values()}
    if len(sizes) != 1 or min(sizes) < 2:
        return None
    cats = sorted({x for v in units.values() for x in v.values()}, key=repr)
    table: list[list[int]] = []
    for u in sorted(units):
        c = Counter(units[u].values())
        table.append([c.get(cat, 0) for cat in cats])
    return table


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' κ from a subjects × categories table of rating counts (same raters per subject)."""
    if not counts:
        return None
    per_subject = {sum(row) for row in counts}
    if len(per_subject) != 1:
        raise ValueError("Fleiss' κ needs the same number of ratings for every subject")
    n = per_subject.pop()
    if n < 2:
        return None
    n_subjects = len(counts)
    k = len(counts[0])
    p_j = [sum(row[j] for row in counts) / (n_subjects * n) for j in range(k)]
    p_i = [(sum(x * x for x in row) - n) / (n * (n - 1)) for row in counts]
    p_bar = sum(p_i) / n_subjects
    pe = sum(p * p for p in p_j)
    if pe == 1:
        return None
    return (p_bar - pe) / (1 - pe)


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r; None with fewer than two pairs or no variation."""
    if len(x) != len(y):
        raise ValueError("x and y need the same length")
    if len(x) < 2:
        return None
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):  # ties share their average rank
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's ρ (Pearson's r of the ranks, ties averaged)."""
    if len(x) != len(y):
        raise ValueError("x and y need the same length")
    return pearson(_ranks(x), _ranks(y))
