"""Statistics against scipy / closed forms, and by simulation."""

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from thinkgate.reports.stats import majority_correct, mean_ci, paired_difference, pass_at_k


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([0.1, 0.5, 0.9, 0.4, 0.6, 0.3])
    e = mean_ci(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert e.method == "t" and e.n == 6
    assert e.ci_low == pytest.approx(lo) and e.ci_high == pytest.approx(hi)


def test_wilson_for_binary_k1_matches_closed_form():
    x = [1] * 7 + [0] * 13
    e = mean_ci(x, binary_k1=True)
    n, p, z = 20, 7 / 20, stats.norm.ppf(0.975)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert e.method == "wilson"
    assert e.ci_low == pytest.approx(centre - half) and e.ci_high == pytest.approx(centre + half)


def test_wilson_all_zero_is_not_degenerate():
    e = mean_ci([0] * 10, binary_k1=True)
    assert e.ci_low == 0 and e.ci_high > 0.2


def test_t_interval_coverage_by_simulation():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        x = rng.beta(2, 5, size=40)
        e = mean_ci(x)
        hits += e.ci_low <= 2 / 7 <= e.ci_high
    assert 0.93 <= hits / 2000 <= 0.97


@pytest.mark.parametrize("n, c, k", [(5, 0, 1), (5, 2, 1), (5, 2, 2), (6, 3, 4), (4, 4, 2), (8, 1, 8)])
def test_pass_at_k_equals_brute_force(n, c, k):
    results = [1] * c + [0] * (n - c)
    subsets = list(combinations(range(n), k))
    brute = sum(any(results[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_1_is_the_mean():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)


def test_majority_vote():
    assert majority_correct(["4", "5", "4"], [True, False, True]) == 1.0
    assert majority_correct(["5", "4", "5"], [False, True, False]) == 0.0
    assert majority_correct([None, float("nan"), "4"], [False, False, True]) == 1.0
    assert majority_correct([None, None], [False, False]) == 0.0
    assert majority_correct(["5", "4"], [False, True]) == 0.0  # tie: first seen wins


def test_paired_mcnemar_is_exact_binomial_on_discordant_pairs():
    a = np.array([1, 1, 1, 1, 1, 0, 0, 1, 0, 1])
    b = np.array([0, 0, 0, 1, 1, 0, 1, 1, 0, 0])
    p = paired_difference(a, b, binary_k1=True)
    assert p.discordant == (4, 1)
    assert p.test == "exact McNemar"
    assert p.p_value == pytest.approx(stats.binomtest(4, 5, 0.5).pvalue)
    assert p.diff == pytest.approx(0.3)


def test_paired_ci_matches_one_sample_t_on_differences():
    rng = np.random.default_rng(0)
    a, b = rng.random(30), rng.random(30)
    p = paired_difference(a, b)
    lo, hi = stats.t.interval(0.95, 29, loc=(a - b).mean(), scale=stats.sem(a - b))
    assert p.ci_low == pytest.approx(lo) and p.ci_high == pytest.approx(hi)
    assert p.test == "sign-flip permutation"
    # the permutation p-value is close to the paired t-test on this well-behaved sample
    assert abs(p.p_value - stats.ttest_rel(a, b).pvalue) < 0.05


def test_paired_sign_flip_type1_error_under_null():
    rng = np.random.default_rng(2)
    rejections = 0
    for seed in range(200):
        a = rng.random(25)
        b = a + rng.normal(0, 0.2, 25)  # the null: E[a - b] = 0
        rejections += paired_difference(a, b, seed=seed).p_value < 0.05
    assert rejections / 200 < 0.09


def test_paired_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1, 0], [1])


def test_all_items_at_the_bound_do_not_give_a_zero_width_interval():
    e = mean_ci([0.0] * 20)
    assert e.method.startswith("wilson") and e.ci_low == 0 and e.ci_high > 0.1


def test_t_interval_is_clipped_to_the_metric_range():
    e = mean_ci([0.0, 0.9], bounds=(0.0, 1.0))
    assert e.method == "t (clipped to range)" and e.ci_low == 0.0 and e.ci_high == 1.0
