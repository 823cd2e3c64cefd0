"""The statistics, proven: agreement with scipy/statsmodels, simulated coverage of every
95% interval, type-I error of the paired tests under the null (DESIGN.md, "Statistics").

Bands: coverage in [93.5%, 96.5%], type-I error in [3.5%, 6.5%]. Simulations are seeded and
vectorized (thousands of datasets per call); 2,000 replicates give a Monte-Carlo SE of
about 0.5 points at 95%. Where a method is not meant to work, the miss is tested as a
documented exception (its assertion states the weaker, known behaviour) rather than skipped:
- t on binary K=1 scores at n = 30 with p = 0.05 (covers ~78%): Wilson is chosen there;
- the binary K=1 interval ("wilson-edge": Wilson, continuity-corrected within 3 counts of
  0 or n) oscillates with p like every count-based interval: the band holds for coverage
  averaged over p; pointwise it stays >= 92.5% (plain Wilson dips to ~90% at n = 30;
  Brown, Cai & DasGupta 2001). tests/reports/test_coverage.py asserts the issue-12 goals;
- bootstrap intervals are a little narrow at small n (the plug-in variance divides by n):
  BCa ~90% at n = 10, 93.4-94.5% at n = 30 (floor 92.5% there), and the stratified
  bootstrap with 30-60 items per domain ~93.5-94%;
- on very skewed item means (most items at 0) t misses badly (~90% at n = 50); BCa, which
  choose_interval picks there, recovers most of it (~92.5%);
- clustered t with only C = 6 clusters of binary scores: ~92.5%;
- exact McNemar is conservative: type-I error <= 5% always, in the band only when there are
  many discordant pairs (~2-3% at n = 100); the sign-flip test on discrete item means
  (K = 4) likewise (~3% at n <= 100: ties in the permutation distribution count as extreme);
- an unclustered t interval on clustered items under-covers (that is why clustered SE exists).
Binary K=1 coverage of t and Wilson is computed exactly (a sum over the binomial outcomes).
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from thinkgate.reports.power import minimum_detectable_effect, n_for_effect, power_of
from thinkgate.reports.stats import (adjust_pvalues, bca_interval, clustered_se, mcnemar_exact,
                                     mean_ci, paired_difference, sign_flip_test, t_interval,
                                     wilson_interval)
from thinkgate.reports.transfer import stratified_bootstrap

LOW, HIGH = 0.935, 0.965
TYPE1_LOW, TYPE1_HIGH = 0.035, 0.065
NS = (30, 100, 1000)


def covered(lo, hi, truth) -> float:
    lo, hi = np.asarray(lo), np.asarray(hi)
    return float(np.mean((lo <= truth) & (truth <= hi)))


def bca_floor(n: int) -> float:
    """Documented: bootstrap intervals run slightly narrow at n <= 30."""
    return 0.925 if n <= 30 else LOW


def reps(n: int) -> int:
    """Replicates per cell: 2,000, fewer for the costly bootstrap cells at n = 1000."""
    return 2000 if n < 1000 else 1000


def hard_items(rng, size, k=4):
    """Item means over K samples of items that are mostly hard (p ~ Beta(0.2, 1)): skewed
    and discrete, like a difficult suite. True mean 1/6."""
    return rng.binomial(k, rng.beta(0.2, 1.0, size=size)) / k, 0.2 / 1.2


# ------------------------------------------------------------------ agreement with references

def test_wilson_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    for n in (1, 7, 30, 101):
        for level in (0.9, 0.95):
            for k in range(n + 1):
                lo, hi = wilson_interval(k, n, level)
                rlo, rhi = proportion_confint(k, n, alpha=1 - level, method="wilson")
                assert abs(lo - rlo) < 1e-9 and abs(hi - rhi) < 1e-9


def test_exact_mcnemar_matches_statsmodels():
    from statsmodels.stats.contingency_tables import mcnemar

    for n10 in range(31):
        for n01 in range(31):
            ref = mcnemar([[5, n10], [n01, 7]], exact=True).pvalue
            assert abs(mcnemar_exact(n10, n01) - ref) < 1e-9
    a = np.array([1] * 12 + [0] * 5 + [1] * 20 + [0] * 13)
    b = np.array([0] * 12 + [1] * 5 + [1] * 20 + [0] * 13)
    p = paired_difference(a, b, binary_k1=True)
    assert abs(p.p_value - mcnemar([[20, 12], [5, 13]], exact=True).pvalue) < 1e-9


def test_clustered_se_matches_statsmodels_cluster_robust_ols():
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    x = rng.random(60)
    groups = rng.integers(0, 9, 60)
    fit = sm.OLS(x, np.ones(60)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert abs(clustered_se(x, groups) - fit.bse[0]) < 1e-9  # CR1 with K=1: C/(C-1)
    assert abs(clustered_se(x, np.arange(60)) - stats.sem(x)) < 1e-9


def test_t_bca_and_sign_flip_match_scipy():
    rng = np.random.default_rng(1)
    x = rng.beta(2, 5, size=25)
    e = mean_ci(x)
    lo, hi = stats.t.interval(0.95, 24, loc=x.mean(), scale=stats.sem(x))
    assert abs(e.ci_low - lo) < 1e-9 and abs(e.ci_high - hi) < 1e-9
    ref = stats.bootstrap((x,), np.mean, method="BCa", random_state=np.random.default_rng(3))
    e = mean_ci(x, method="bca", seed=3)
    assert abs(e.ci_low - ref.confidence_interval.low) < 1e-9
    assert abs(e.ci_high - ref.confidence_interval.high) < 1e-9
    d = rng.normal(0.1, 1, size=8)  # 2^8 = 256 sign patterns: exact, compare with enumeration
    signs = np.array(np.meshgrid(*[[-1, 1]] * 8)).reshape(8, -1).T
    brute = np.mean(np.abs((signs * d).mean(axis=1)) >= abs(d.mean()) - 1e-12)
    assert abs(float(sign_flip_test(d)) - brute) < 1e-9


def _scipy_sign_flip(d, **kw):
    return stats.permutation_test((d,), np.mean, permutation_type="samples", vectorized=True,
                                  axis=-1, **kw).pvalue


def test_sign_flip_matches_scipy_permutation_test():
    rng = np.random.default_rng(2)
    for n in (3, 6, 10, 13):  # exact regime, with zeros and ties (item means on a K=4 grid)
        for _ in range(10):
            d = rng.integers(-4, 5, n) / 4
            assert abs(sign_flip_test(d) - _scipy_sign_flip(d)) < 1e-9
    d = rng.normal(0.3, 1, (4, 40))  # random regime: the same p-value up to Monte-Carlo error
    ref = _scipy_sign_flip(d, n_resamples=20000, random_state=np.random.default_rng(0))
    assert np.allclose(sign_flip_test(d, n_resamples=20000), ref, atol=0.015)


def test_holm_and_bh_match_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.001, 0.02, 0.04, 0.03, 0.5, 0.012, math.nan])
    holm, bh = adjust_pvalues(p)
    ok = ~np.isnan(p)
    order = np.argsort(p[ok])
    m = ok.sum()
    manual = np.maximum.accumulate(np.minimum(1, (m - np.arange(m)) * p[ok][order]))
    assert np.allclose(holm[ok][order], manual, atol=1e-12)
    assert np.allclose(bh[ok], multipletests(p[ok], method="fdr_bh")[1], atol=1e-12)
    assert math.isnan(holm[-1]) and math.isnan(bh[-1])


def test_power_matches_statsmodels():
    from statsmodels.stats.power import NormalIndPower

    sd, delta = 0.3, 0.05
    nobs = NormalIndPower().solve_power(effect_size=delta / sd, alpha=0.05, power=0.8, ratio=0)
    assert n_for_effect(delta, sd) == math.ceil(nobs - 1e-6)
    ref = NormalIndPower().power(effect_size=delta / sd, nobs1=150, alpha=0.05, ratio=0)
    assert abs(power_of(delta, sd, 150) - ref) < 1e-9
    assert abs(power_of(minimum_detectable_effect(sd, 150), sd, 150) - 0.8) < 1e-6


# ------------------------------------------------------------------ one-sample coverage

@pytest.mark.parametrize("n", NS)
def test_t_coverage_continuous(n):
    x = np.random.default_rng(n).beta(2, 5, size=(4000, n))
    _, _, lo, hi = t_interval(x)
    assert LOW <= covered(lo, hi, 2 / 7) <= HIGH


def _binary_coverage(n, p, interval):
    """Exact coverage of an interval for k ~ Binomial(n, p): sum of P(k) over covered k."""
    k = np.arange(n + 1)
    bounds = np.array([interval(kk) for kk in k])
    return float((stats.binom.pmf(k, n, p) * ((bounds[:, 0] <= p) & (p <= bounds[:, 1]))).sum())


def _t_binary(n):
    return lambda k: t_interval(np.r_[np.ones(k), np.zeros(n - k)])[2:]


@pytest.mark.parametrize("n", NS)
def test_t_coverage_binary_away_from_the_bounds(n):
    assert LOW <= _binary_coverage(n, 0.3, _t_binary(n)) <= HIGH


def test_documented_exception_t_on_rare_binary_at_small_n():
    # ~78%: with p = 0.05 and 30 items, k = 0 (21% likely) gives a zero-width interval.
    assert _binary_coverage(30, 0.05, _t_binary(30)) < 0.85


@pytest.mark.parametrize("n", NS)
def test_wilson_coverage_averaged_over_p(n):
    table = {k: (e.ci_low, e.ci_high) for k in range(n + 1)
             for e in [mean_ci([1] * k + [0] * (n - k), binary_k1=True)]}
    cov = [_binary_coverage(n, p, table.__getitem__) for p in np.linspace(0.02, 0.98, 49)]
    assert LOW <= np.mean(cov) <= HIGH
    assert mean_ci([1] * 3 + [0] * (n - 3), binary_k1=True).method == "wilson-edge"
    assert min(cov) > 0.925  # documented: pointwise dips (plain Wilson: ~0.90 at n = 30)


@pytest.mark.parametrize("n", NS)
def test_bca_coverage_continuous(n):
    x = np.random.default_rng(n).beta(2, 5, size=(reps(n), n))
    lo, hi, _ = bca_interval(x, seed=1, n_resamples=999)
    assert bca_floor(n) <= covered(lo, hi, 2 / 7) <= HIGH


@pytest.mark.parametrize("n", (30, 100))
def test_bca_coverage_on_skewed_discrete_item_means(n):
    x, truth = hard_items(np.random.default_rng(n), (reps(n), n))
    x = x[x.std(axis=1) > 0]
    lo, hi, _ = bca_interval(x, seed=1, n_resamples=999)
    assert bca_floor(n) <= covered(lo, hi, truth) <= HIGH


def test_documented_exception_bca_narrow_at_n10():
    x = np.random.default_rng(10).beta(2, 5, size=(2000, 10))
    lo, hi, _ = bca_interval(x, seed=1, n_resamples=999)
    assert 0.87 <= covered(lo, hi, 2 / 7) < LOW


def test_auto_picks_bca_where_t_misses_on_skewed_items():
    rng = np.random.default_rng(5)
    p = rng.beta(0.1, 2.0, size=(2000, 50))  # very hard items: most item means are 0
    x, truth = rng.binomial(8, p) / 8, 0.1 / 2.1
    _, _, tlo, thi = t_interval(x)
    t_cov = covered(tlo, thi, truth)
    assert t_cov < 0.91  # t misses on the skewed side (~90%)
    assert mean_ci(x[0], method="auto").method == "bca"
    lo, hi, _ = bca_interval(x[x.std(axis=1) > 0], seed=1, n_resamples=999)
    bca_cov = covered(lo, hi, truth)  # ~92.5%: better, not yet nominal (documented)
    assert bca_cov >= 0.92 and bca_cov - t_cov >= 0.015


# ------------------------------------------------------------------ clustered coverage

def _clustered(rng, n, binary, size=5):
    """n items in clusters of `size` sharing an effect; returns (scores, labels, truth)."""
    c = n // size
    labels = np.repeat(np.arange(c), size)
    if binary:
        p = np.repeat(rng.beta(2, 3, size=(2000, c)), size, axis=1)
        return (rng.random((2000, n)) < p).astype(float), labels, 0.4
    effect = np.repeat(rng.normal(0, 1, size=(2000, c)), size, axis=1)
    return effect + rng.normal(0, 1, size=(2000, n)), labels, 0.0


@pytest.mark.parametrize("binary", (False, True), ids=("continuous", "binary"))
@pytest.mark.parametrize("n", NS)
def test_clustered_t_coverage(n, binary):
    x, labels, truth = _clustered(np.random.default_rng(n), n, binary)
    c = n // 5
    se = clustered_se(x, labels)
    half = stats.t.ppf(0.975, c - 1) * se
    m = x.mean(axis=1)
    floor = 0.90 if binary and c < 10 else LOW  # documented: few clusters of binary scores
    assert floor <= covered(m - half, m + half, truth) <= HIGH
    e = mean_ci(x[0], groups=labels)
    assert e.method == "clustered t" and abs(e.ci_high - m[0] - half[0]) < 1e-9
    if n == 100:  # documented: ignoring the clusters under-covers
        _, _, lo, hi = t_interval(x)
        assert covered(lo, hi, truth) < 0.90  # ~74% continuous, ~88% binary


# ------------------------------------------------------------------ paired tests under the null

def _paired_null(rng, r, n, kind):
    """Two modes on the same items with no true difference (exchangeable within items)."""
    if kind == "continuous":
        item = rng.beta(2, 5, size=(r, n))
        return item + rng.normal(0, 0.1, (r, n)), item + rng.normal(0, 0.1, (r, n))
    p = rng.beta(0.5, 0.5, size=(r, n))  # K = 4 samples per item and mode
    return rng.binomial(4, p) / 4, rng.binomial(4, p) / 4


@pytest.mark.parametrize("kind", ("continuous", "k4"))
@pytest.mark.parametrize("n", NS)
def test_paired_t_type1(n, kind):
    a, b = _paired_null(np.random.default_rng(n), 4000, n, kind)
    _, _, lo, hi = t_interval(a - b)
    assert TYPE1_LOW <= 1 - covered(lo, hi, 0.0) <= TYPE1_HIGH


@pytest.mark.parametrize("kind", ("continuous", "k4"))
@pytest.mark.parametrize("n", NS)
def test_paired_bca_type1(n, kind):
    a, b = _paired_null(np.random.default_rng(n + 1), reps(n), n, kind)
    lo, hi, _ = bca_interval(a - b, seed=2, n_resamples=999 if n < 1000 else 499)
    assert TYPE1_LOW <= 1 - covered(lo, hi, 0.0) <= 1 - bca_floor(n)


@pytest.mark.parametrize("kind", ("continuous", "k4"))
@pytest.mark.parametrize("n", NS)
def test_sign_flip_type1(n, kind):
    a, b = _paired_null(np.random.default_rng(n + 2), 2000, n, kind)
    p = sign_flip_test(a - b, seed=3, n_resamples=999)
    floor = 0.02 if kind == "k4" and n < 1000 else TYPE1_LOW  # documented: conservative on ties
    assert floor <= np.mean(p < 0.05) <= TYPE1_HIGH


def _mcnemar_size(n, discordant):
    """Exact type-I error of exact McNemar: D ~ Bin(n, q), n10 | D ~ Bin(D, 1/2)."""
    size = 0.0
    for d in range(1, n + 1):
        k = np.arange(d + 1)
        p = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(k, d - k), d, 0.5))
        size += stats.binom.pmf(d, n, discordant) * stats.binom.pmf(k, d, 0.5)[p < 0.05].sum()
    return size


def test_mcnemar_closed_form_used_above_is_the_test():
    for d in range(1, 41):
        for k in range(d + 1):
            closed = min(1.0, 2 * stats.binom.cdf(min(k, d - k), d, 0.5))
            assert abs(closed - mcnemar_exact(k, d - k)) < 1e-9


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("discordant", (0.1, 0.3))
def test_exact_mcnemar_type1_is_at_most_alpha(n, discordant):
    size = _mcnemar_size(n, discordant)
    assert size <= 0.05
    if n == 1000:
        assert TYPE1_LOW <= size  # many discordant pairs: close to 5%
    else:
        assert size < TYPE1_LOW  # documented: conservative with few discordant pairs


def test_paired_power_by_simulation():
    rng = np.random.default_rng(7)
    sd, n = 0.3, 100
    delta = minimum_detectable_effect(sd, n)
    d = rng.normal(delta, sd, size=(4000, n))
    _, _, lo, hi = t_interval(d)
    assert 0.77 <= np.mean(lo > 0) <= 0.83  # ~0.79: the t test is a hair below the z formula


# ------------------------------------------------------------------ transfer (stratified bootstrap)

@pytest.mark.parametrize("sizes", [(30, 40, 30, 50, 60), (100, 60, 80, 150, 120)],
                         ids=("small-domains", "larger-domains"))
def test_transfer_gap_coverage(sizes):
    """Gap = mean of 2 verifiable domain means - mean of 3 others, resampled within domains."""
    rng = np.random.default_rng(sum(sizes))
    shapes = [(0.5, 0.5), (2, 5), (0.3, 1.0), (2, 2), (1, 3)]  # per-domain skews differ
    samples, truths = [], []
    for (al, be), n in zip(shapes, sizes):
        p = rng.beta(al, be, size=(2000, n))
        samples.append(rng.binomial(4, p) / 4 - rng.binomial(4, p * 0.8) / 4)  # d = think - no_think
        truths.append(0.2 * al / (al + be))
    w = [0.5, 0.5, -1 / 3, -1 / 3, -1 / 3]
    truth = sum(wj * t for wj, t in zip(w, truths))
    _, _, lo, hi = stratified_bootstrap(samples, w, seed=4, n_resamples=999)
    assert bca_floor(min(sizes)) <= covered(lo, hi, truth) <= HIGH


def test_transfer_gap_on_a_frame_recovers_the_truth():
    from thinkgate.reports.transfer import transfer_gap

    rng = np.random.default_rng(8)
    rows = [(dom, ver, f"{dom}/{i}", rng.normal(mu, 0.3))
            for dom, ver, n, mu in [("math", True, 400, 0.2), ("code", True, 100, 0.1),
                                    ("summary", False, 200, 0.0), ("writing", False, 50, 0.0)]
            for i in range(n)]
    g = transfer_gap(pd.DataFrame(rows, columns=["domain", "verifiable", "item_id", "d"]),
                     n_resamples=2000)
    assert g.gap.ci_low < 0.15 < g.gap.ci_high  # (0.2 + 0.1) / 2 - 0
    assert g.verifiable.ci_low < 0.15 < g.verifiable.ci_high
