"""Label-quality statistics against published values and independent computations (scipy)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats as sps

from hitl_pipeline.model.stats import (
    BinaryMetrics,
    binary_metrics,
    bootstrap_interval,
    confusion_matrix,
    disagreement_weights,
    mean_absolute_error,
    weighted_kappa,
    weighted_kappa_table,
    wilson_interval,
    z_value,
)
from hitl_pipeline.report.agreement import cohen_kappa, cohen_kappa_table, spearman

# SAS PROC FREQ documentation example (as reproduced in statsmodels' test suite): a 3 × 3 table
# with simple κ 0.4842 and weighted κ (Cicchetti-Allison = linear weights) 0.4701.
SAS_TABLE = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]

# R package irr, data set `anxiety` (20 subjects × 3 raters); kappa2(anxiety[, 2:3], weight)
# gives -0.006289308 (unweighted), 0.1459075 ("equal" = linear), 0.2520325 ("squared" = quadratic).
ANXIETY_RATER_2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_RATER_3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]


def test_kappa_reproduces_the_sas_example() -> None:
    assert cohen_kappa_table(SAS_TABLE) == pytest.approx(0.4842, abs=5e-5)
    assert weighted_kappa_table(SAS_TABLE, "linear") == pytest.approx(0.4701, abs=5e-5)


@pytest.mark.parametrize(
    ("weights", "expected"), [("linear", 0.1459075), ("quadratic", 0.2520325)], ids=["linear", "quadratic"]
)
def test_weighted_kappa_reproduces_r_irr_on_the_anxiety_data(weights: str, expected: float) -> None:
    levels = sorted(set(ANXIETY_RATER_2) | set(ANXIETY_RATER_3))  # irr uses the levels present: 1 2 3 4 6
    got = weighted_kappa(ANXIETY_RATER_2, ANXIETY_RATER_3, levels, weights)  # type: ignore[arg-type]
    assert got == pytest.approx(expected, abs=5e-7)
    assert cohen_kappa(ANXIETY_RATER_2, ANXIETY_RATER_3) == pytest.approx(-0.006289308, abs=5e-9)


def test_weighted_kappa_with_0_1_weights_is_cohens_kappa() -> None:
    # Cohen (1968): κ is the special case of κ_w where every disagreement weighs the same.
    rng = random.Random(3)
    table = [[rng.randint(0, 9) + (6 if i == j else 0) for j in range(4)] for i in range(4)]
    identity = [[0.0 if i == j else 1.0 for j in range(4)] for i in range(4)]
    assert weighted_kappa_table(table, identity) == pytest.approx(cohen_kappa_table(table), abs=1e-12)
    # With two categories linear and quadratic weights are both 0/1: all three coincide.
    two = [[20, 5], [10, 15]]
    assert weighted_kappa_table(two, "linear") == pytest.approx(cohen_kappa_table(two), abs=1e-12)
    assert weighted_kappa_table(two, "quadratic") == pytest.approx(cohen_kappa_table(two), abs=1e-12)


def test_quadratic_weighted_kappa_equals_the_concordance_correlation_form() -> None:
    # Independent identity: quadratic κ_w = 2·cov(x, y) / (var x + var y + (mean x − mean y)²)
    # with population moments (Fleiss & Cohen 1973), on the category ranks.
    rng = random.Random(11)
    x = [rng.randint(0, 4) for _ in range(300)]
    y = [min(4, max(0, v + rng.choice([-2, -1, 0, 0, 0, 1]))) for v in x]
    mx, my = np.mean(x), np.mean(y)
    ccc = 2 * np.mean((np.array(x) - mx) * (np.array(y) - my)) / (np.var(x) + np.var(y) + (mx - my) ** 2)
    assert weighted_kappa(x, y, list(range(5)), "quadratic") == pytest.approx(float(ccc), abs=1e-12)


def test_weighted_kappa_edge_cases() -> None:
    assert weighted_kappa_table([[0, 0], [0, 0]]) is None
    assert weighted_kappa_table([[5, 0], [0, 0]]) is None  # one category only: 0/0
    assert weighted_kappa(["a", None, "b"], ["a", "b", "b"], ["a", "b"]) == 1.0  # missing pair left out
    with pytest.raises(ValueError, match="square"):
        weighted_kappa_table([[1, 2]])
    assert disagreement_weights(3, "linear") == [[0, 0.5, 1], [0.5, 0, 0.5], [1, 0.5, 0]]
    assert disagreement_weights(3, "quadratic")[0] == [0, 0.25, 1]


def test_confusion_matrix_counts_pairs_in_label_order() -> None:
    human = ["good", "bad", "good", "ok", None, "good"]
    judge = ["good", "good", "bad", "ok", "ok", "weird"]
    assert confusion_matrix(human, judge, ["bad", "ok", "good"]) == [[0, 0, 1], [0, 1, 0], [1, 0, 1]]


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3.
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_reproduces_newcombe_1998(successes: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(successes, n)
    assert got is not None
    assert got[0] == pytest.approx(low, abs=5e-5)
    assert got[1] == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(("successes", "n"), [(0, 1), (3, 7), (7, 7), (50, 100), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_interval_matches_scipy(successes: int, n: int, confidence: float) -> None:
    ref = sps.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    got = wilson_interval(successes, n, confidence)
    assert got == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_wilson_interval_edge_cases() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
    assert z_value(0.95) == pytest.approx(1.959963984540054, abs=1e-12)


def test_bootstrap_interval_of_a_mean_matches_scipy() -> None:
    rng = np.random.default_rng(42)
    data = rng.normal(10.0, 2.0, size=200)
    ours = bootstrap_interval(len(data), lambda idx: float(np.mean(data[idx])), resamples=4000, seed=1)
    ref = sps.bootstrap((data,), np.mean, method="percentile", n_resamples=4000, rng=7).confidence_interval
    assert ours is not None
    # Two independent Monte Carlo runs: equal within the Monte Carlo error of a 2.5 % quantile
    # (well under 0.05 here, where the interval is ≈ 1.1 wide) ...
    assert ours[0] == pytest.approx(ref.low, abs=0.05)
    assert ours[1] == pytest.approx(ref.high, abs=0.05)
    # ... and both close to the normal-theory interval of a mean.
    se = float(np.std(data, ddof=1) / math.sqrt(len(data)))
    assert ours[0] == pytest.approx(float(np.mean(data)) - 1.96 * se, abs=0.06)
    assert ours[1] == pytest.approx(float(np.mean(data)) + 1.96 * se, abs=0.06)


def test_bootstrap_interval_of_kappa_matches_scipy_paired() -> None:
    rng = random.Random(5)
    truth = [rng.choice("abc") for _ in range(150)]
    judge = [t if rng.random() < 0.7 else rng.choice("abc") for t in truth]
    a, b = np.array(truth), np.array(judge)

    def kappa(idx: np.ndarray) -> float | None:
        return cohen_kappa(list(a[idx]), list(b[idx]))

    ours = bootstrap_interval(len(a), kappa, resamples=2000, seed=3)
    ref = sps.bootstrap(
        (a, b),
        lambda x, y: cohen_kappa(list(x), list(y)),
        paired=True,
        vectorized=False,
        method="percentile",
        n_resamples=2000,
        rng=9,
    ).confidence_interval
    assert ours is not None
    assert ours[0] == pytest.approx(ref.low, abs=0.03)
    assert ours[1] == pytest.approx(ref.high, abs=0.03)
    point = cohen_kappa(truth, judge)
    assert point is not None and ours[0] < point < ours[1]


def test_bootstrap_interval_is_seeded_and_handles_undefined_statistics() -> None:
    data = np.arange(30, dtype=float)

    def mean(idx: np.ndarray) -> float:
        return float(np.mean(data[idx]))

    assert bootstrap_interval(30, mean, seed=4) == bootstrap_interval(30, mean, seed=4)
    assert bootstrap_interval(30, mean, seed=4) != bootstrap_interval(30, mean, seed=5)
    assert bootstrap_interval(1, mean) is None
    assert bootstrap_interval(30, lambda idx: None) is None


def test_spearman_matches_scipy_with_ties() -> None:
    rng = random.Random(8)
    x = [rng.randint(1, 5) for _ in range(80)]
    y = [v + rng.choice([-1, 0, 0, 1, 2]) for v in x]
    assert spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-12)


def test_mean_absolute_error() -> None:
    assert mean_absolute_error([1.0, 2.0, 4.0], [1.5, 2.0, 1.0]) == pytest.approx(3.5 / 3)
    assert mean_absolute_error([], []) is None


def test_binary_metrics_reproduce_altman_and_bland_1994() -> None:
    # Altman & Bland (1994), BMJ "Diagnostic tests 1 and 2": liver scan vs pathology, 344 patients:
    # sensitivity 231/258 = 0.895, specificity 54/86 = 0.628, positive predictive value 231/263 = 0.878.
    reference = [True] * 231 + [False] * 32 + [True] * 27 + [False] * 54
    predicted = [True] * 231 + [True] * 32 + [False] * 27 + [False] * 54
    m = binary_metrics(reference, predicted)
    assert (m.tp, m.fp, m.fn, m.tn) == (231, 32, 27, 54)
    assert m.tpr == pytest.approx(0.895, abs=5e-4)
    assert m.tnr == pytest.approx(0.628, abs=5e-4)
    assert m.precision == pytest.approx(0.878, abs=5e-4)
    assert m.f1 == pytest.approx(2 * 231 / (2 * 231 + 32 + 27))
    assert m.accuracy == pytest.approx(285 / 344)
    assert BinaryMetrics(0, 0, 0, 5).tpr is None and BinaryMetrics(0, 0, 0, 5).tnr == 1.0
