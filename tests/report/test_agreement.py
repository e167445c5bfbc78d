"""Agreement statistics against published reference values and an independent α implementation."""

from __future__ import annotations

import math
from collections import Counter
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitl_pipeline.report.agreement import (
    cohen_kappa,
    cohen_kappa_table,
    fleiss_counts,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen,
    pearson,
    spearman,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
# 4 observers × 12 units with missing data.
N = None
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


@pytest.mark.parametrize(
    ("level", "expected"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_reproduces_krippendorff_2011(level: str, expected: float) -> None:
    assert krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(expected, abs=5e-4)  # type: ignore[arg-type]


def test_alpha_on_labels_uses_the_given_order_for_ordinal() -> None:
    names = {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}
    labelled = [[None if v is None else names[v] for v in row] for row in KRIPPENDORFF_2011]
    assert krippendorff_alpha(labelled, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(labelled, "ordinal", order=list("abcde")) == pytest.approx(0.815, abs=5e-4)
    # A different order is a different ordinal metric, hence a different α.
    assert krippendorff_alpha(labelled, "ordinal", order=list("edcab")) != pytest.approx(0.815, abs=5e-3)


def test_alpha_undefined_cases_are_none() -> None:
    assert krippendorff_alpha([[1, None], [None, 2]], "nominal") is None  # no unit with two answers
    assert krippendorff_alpha([[1, 1], [1, 1]], "interval") is None  # no variation at all
    assert krippendorff_alpha([[None, None]], "nominal") is None


def test_alpha_perfect_and_systematic_disagreement() -> None:
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]], "interval") == pytest.approx(1.0)
    assert krippendorff_alpha([["x", "y"], ["y", "x"]], "nominal") < 0  # type: ignore[operator]


def _reference_alpha(data: list[list[float | None]], level: str) -> float | None:
    """Krippendorff's coincidence-matrix definition, written out independently of the library."""
    o: Counter[tuple[float, float]] = Counter()
    for j in range(len(data[0])):
        vals = [row[j] for row in data if row[j] is not None]
        m = len(vals)
        if m < 2:
            continue
        for a, b in permutations(range(m), 2):
            o[(vals[a], vals[b])] += 1 / (m - 1)  # type: ignore[index]
    n_c: Counter[float] = Counter()
    for (c, _k), w in o.items():
        n_c[c] += w
    n = sum(n_c.values())
    cats = sorted(n_c)
    if len(cats) < 2:
        return None

    def delta(c: float, k: float) -> float:
        if level == "nominal":
            return 0.0 if c == k else 1.0
        if level == "interval":
            return (c - k) ** 2
        if level == "ratio":
            return ((c - k) / (c + k)) ** 2 if c + k else 0.0
        lo, hi = min(c, k), max(c, k)
        return (sum(n_c[g] for g in cats if lo <= g <= hi) - (n_c[c] + n_c[k]) / 2) ** 2

    do = sum(w * delta(c, k) for (c, k), w in o.items())
    de = sum(n_c[c] * n_c[k] * delta(c, k) for c in cats for k in cats if c != k) / (n - 1)
    return None if de == 0 else 1 - do / de


def test_reference_implementation_matches_the_paper_too() -> None:
    ref = _reference_alpha(KRIPPENDORFF_2011, "interval")  # type: ignore[arg-type]
    assert ref == pytest.approx(0.849, abs=5e-4)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(min_value=1, max_value=5)), min_size=6, max_size=6),
        min_size=2,
        max_size=4,
    ),
    st.sampled_from(["nominal", "ordinal", "interval", "ratio"]),
)
def test_alpha_matches_independent_computation(data: list[list[int | None]], level: str) -> None:
    ours = krippendorff_alpha(data, level)  # type: ignore[arg-type]
    ref = _reference_alpha(data, level)  # type: ignore[arg-type]
    assert (ours is None) == (ref is None)  # both agree on when α is undefined
    if ours is not None and ref is not None:
        assert math.isclose(ours, ref, abs_tol=1e-9)


def test_cohen_kappa_wikipedia_examples() -> None:
    # Wikipedia "Cohen's kappa": 50 grant proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15 → κ = 0.4.
    assert cohen_kappa_table([[20, 5], [10, 15]]) == pytest.approx(0.4)
    # Same article, "same percentages, different numbers": κ = 0.1304 and 0.2593.
    assert cohen_kappa_table([[45, 15], [25, 15]]) == pytest.approx(0.1304, abs=5e-5)
    assert cohen_kappa_table([[25, 35], [5, 35]]) == pytest.approx(0.2593, abs=5e-5)


def test_cohen_kappa_from_rater_lists_equals_table() -> None:
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a + [None], b + ["y"]) == pytest.approx(0.4)  # missing pairs are left out
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None  # chance agreement 1: undefined


# Wikipedia "Fleiss' kappa" worked example (after Fleiss 1971): 10 subjects, 14 raters, 5 categories.
FLEISS_EXAMPLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example() -> None:
    assert fleiss_kappa(FLEISS_EXAMPLE) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_requires_equal_raters() -> None:
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[1, 1], [3, 0]])
    assert fleiss_counts({"u1": {"a": "x", "b": "y"}, "u2": {"a": "x"}}) is None
    table = fleiss_counts({"u1": {"a": "x", "b": "y"}, "u2": {"a": "x", "c": "x"}})
    assert table == [[1, 1], [2, 0]]


def test_pairwise_cohen_lists_pairs_with_shared_units() -> None:
    units = {"u1": {"a": 1, "b": 1, "c": 2}, "u2": {"a": 2, "b": 2}, "u3": {"a": 1, "b": 2, "c": 1}}
    pairs = pairwise_cohen(units)
    assert [(p.rater_a, p.rater_b, p.units) for p in pairs] == [("a", "b", 3), ("a", "c", 2), ("b", "c", 2)]
    ab = pairs[0]
    # a = [1,2,1], b = [1,2,2]: po = 2/3, pe = (2/3·1/3 + 1/3·2/3) = 4/9 → κ = (2/3-4/9)/(5/9) = 0.4
    assert ab.kappa == pytest.approx(0.4)


def test_correlations() -> None:
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 1], [1, 2]) is None
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == pytest.approx(1.0)
    # Ties get their average rank: ranks x = [1.5, 1.5, 3], y = [1, 2, 3].
    assert spearman([5, 5, 7], [1, 2, 3]) == pytest.approx(pearson([1.5, 1.5, 3], [1, 2, 3]))  # type: ignore[arg-type]
