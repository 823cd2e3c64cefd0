"""Statistics as pure functions over arrays (DESIGN.md, "Statistics").

Everything is computed on per-item means s_i (an item's score averaged over its K
samples), never on the n*K samples as if they were independent. Every random step takes
an explicit seed. Power lives in reports/power.py, transfer analysis in reports/transfer.py;
tests/reports/test_stats_validation.py measures the coverage and type-I error quoted here.

Interval methods, and their 95% coverage (bench/coverage.py prints the tables; binary K=1
coverage is computed exactly, over p = 0.01..0.99, and tests/reports/test_coverage.py asserts it):
- "wilson-edge": binary K=1. The Wilson score interval, with a continuity correction for
  counts within EDGE_COUNTS = 3 of 0 or n (EDGE_CC_NEAR = 0.2 on the bound toward that edge,
  EDGE_CC_FAR = 0.1 on the other). Plain Wilson dips to 89.9% (n = 30) and 92.1% (n = 100)
  at those counts; no classic interval meets the goals (n >= 100: >= 92% of p in
  93.5-96.5%, none below 93%; n = 30: mean 94.5-95.5%, none below 92%), this one does:
  mean 95.4/95.2/95.1/95.0%, min 92.6/93.1/93.8/94.0% at n = 30/100/300/1000. Tuned on
  that grid: at some n between the listed ones the minimum is 92.7-93.0%.
- "t": Student t on item means. 94-95% for n in {30, 100, 1000} on continuous scores and on
  binary scores with p not near 0/1; binary K=1 at n = 30, p = 0.05 covers only 78%.
- "bca": scipy.stats.bootstrap(method="BCa"), seeded. 93.7/94.4/94.2% on Beta(2, 5) at
  n = 30/100/1000; better than t on skewed item means (very hard items, n = 50: 92.5% vs
  90%); like every bootstrap a little narrow at small n (90.6% at n = 10).
- "clustered t": Miller (2024) clustered SE, Student t with C - 1 degrees of freedom (the
  usual few-cluster correction; it tends to Miller's normal interval as C grows). 94.7-95.9%
  with C = 6..200 clusters, except binary scores in C = 6 clusters: 92.5%.
choose_interval picks among the first three (mean_ci(method="auto")) and says why.
Paired: t or BCa on d_i; exact McNemar (binary K=1, conservative with few discordant
pairs) or the sign-flip permutation test for the p-value.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    n: int
    mean: float
    se: float
    ci_low: float
    ci_high: float
    method: str
    reason: str = ""  # why this method (set when mean_ci chose it: method="auto")


@dataclass(frozen=True)
class PairedEstimate:
    n: int
    mean_a: float
    mean_b: float
    diff: float
    se: float
    ci_low: float
    ci_high: float
    corr: float
    p_value: float
    test: str
    discordant: tuple[int, int] | None  # (a right b wrong, a wrong b right) for binary K=1
    ci_method: str = "t"


SKEW_LIMIT = 0.1  # choose_interval: BCa when |skewness| >= 1 and |skewness| / sqrt(n) > this
BINARY = "wilson-edge"  # the binary K=1 interval (binary_interval)
EDGE_COUNTS, EDGE_CC_NEAR, EDGE_CC_FAR = 3, 0.2, 0.1  # binary_interval's edge correction


def _is_binary(x: np.ndarray) -> bool:
    return bool(np.isin(x, (0.0, 1.0)).all())


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- interval building blocks

def t_interval(x: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, SE = sd/sqrt(n) and Student-t interval along the last axis (batches allowed).

        >>> [round(float(v), 3) for v in t_interval([0.0, 1.0, 1.0, 1.0])]
        [0.75, 0.25, -0.046, 1.546]
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    mean = x.mean(axis=-1)
    se = x.std(axis=-1, ddof=1) / math.sqrt(n) if n > 1 else np.full_like(mean, math.nan)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * se if n > 1 else se
    return mean, se, mean - half, mean + half


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (scipy.stats.binomtest).

        >>> [round(v, 4) for v in wilson_interval(7, 20)]
        [0.1812, 0.5671]
    """
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def score_interval(successes: int, n: int, level: float = 0.95, cc_low: float = 0.0,
                   cc_high: float = 0.0) -> tuple[float, float]:
    """Wilson score interval with a continuity correction on each bound: the lower bound is
    Wilson's at successes - cc_low, the upper at successes + cc_high (cc = 0.5 on both is
    scipy's "wilsoncc"; 0 is plain Wilson). 0 successes give 0, n give 1.

        >>> [round(v, 4) for v in score_interval(7, 20)]
        [0.1812, 0.5671]
    """
    z2 = float(stats.norm.ppf(0.5 + level / 2)) ** 2

    def bound(x: float, sign: int) -> float:
        ph = min(max(x, 0.0), n) / n
        centre, half = ph + z2 / (2 * n), math.sqrt(z2 * ph * (1 - ph) / n + z2 * z2 / (4 * n * n))
        return (centre + sign * half) / (1 + z2 / n)

    lo = 0.0 if successes <= 0 else bound(successes - cc_low, -1)
    hi = 1.0 if successes >= n else bound(successes + cc_high, +1)
    return lo, hi


def binary_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The binary K=1 interval ("wilson-edge"): Wilson score interval; a count within
    EDGE_COUNTS of 0 or n gets a continuity correction, EDGE_CC_NEAR on the bound toward
    that edge and EDGE_CC_FAR on the other. Chosen by exact coverage (bench/coverage.py):
    plain Wilson under-covers at those counts (its known dips near p = 0 and 1), Clopper-
    Pearson and Agresti-Coull over-cover everywhere, mid-p and Jeffreys dip below 92%.

        >>> [round(v, 4) for v in binary_interval(1, 30)]
        [0.004, 0.1716]
    """
    near_low, near_high = successes <= EDGE_COUNTS, n - successes <= EDGE_COUNTS
    cc_low = EDGE_CC_NEAR if near_low else EDGE_CC_FAR if near_high else 0.0
    cc_high = EDGE_CC_NEAR if near_high else EDGE_CC_FAR if near_low else 0.0
    return score_interval(successes, n, level, cc_low, cc_high)


def bca_interval(x: Any, level: float = 0.95, seed: int = 0,
                 n_resamples: int = 9999) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BCa bootstrap interval of the mean along the last axis (leading axes are a batch):
    returns (low, high, bootstrap SE). Resamples are drawn in chunks of ~4M values.

        >>> lo, hi, se = bca_interval([0.1, 0.4, 0.2, 0.9, 0.3, 0.5], seed=0)
        >>> bool(lo < 0.4 < hi)
        True
    """
    x = np.asarray(x, dtype=float)
    batch = max(1, min(n_resamples, 4_000_000 // max(1, x.size)))
    res = stats.bootstrap((x,), np.mean, n_resamples=n_resamples, batch=batch, vectorized=True,
                          axis=-1, confidence_level=level, method="BCa", random_state=_rng(seed))
    return res.confidence_interval.low, res.confidence_interval.high, res.standard_error


def clustered_se(x: Any, groups: Sequence[Any]) -> Any:
    """Clustered SE of the mean (Miller 2024, arXiv 2411.00640):
    sqrt(sum_c (sum_{i in c} (s_i - mean))^2) / n * sqrt(C / (C - 1)).
    One group label per item (last axis; leading axes are a batch). With one item per
    cluster it equals sd/sqrt(n); with one cluster it is NaN.

        >>> round(clustered_se([1, 1, 0, 0], ["a", "a", "b", "b"]), 3)
        0.5
    """
    x = np.asarray(x, dtype=float)
    labels = np.asarray(groups)
    if labels.shape != x.shape[-1:]:
        raise ValueError(f"groups has {labels.size} labels for {x.shape[-1]} items; "
                         "pass one label per item")
    order = np.argsort(labels, kind="stable")
    starts = np.unique(labels[order], return_index=True)[1]
    c, n = len(starts), x.shape[-1]
    if c < 2:
        return math.nan if x.ndim == 1 else np.full(x.shape[:-1], math.nan)
    resid = x - x.mean(axis=-1, keepdims=True)
    sums = np.add.reduceat(resid[..., order], starts, axis=-1)
    se = np.sqrt((sums ** 2).sum(axis=-1)) / n * math.sqrt(c / (c - 1))
    return float(se) if x.ndim == 1 else se


def choose_interval(x: Sequence[float], binary_k1: bool = False, n_small: int = 30) -> tuple[str, str]:
    """Which interval suits these item means, and why: ("wilson-edge" | "bca" | "t", reason).
    binary_interval for binary K=1 (scores in {0, 1}, one sample per item); BCa for n < n_small, or when the item means are skewed for
    their n (|g1| >= 1 and |g1|/sqrt(n) > 0.1: t's coverage error from skew shrinks like
    g1/sqrt(n); e.g. hard items, most at 0, g1 ~ 3.5 at n = 100: t covers 90%, BCa 94%);
    else t.

        >>> choose_interval([0.5] * 40)
        ('t', 'n=40 >= 30: Student t on item means (CLT)')
        >>> choose_interval([0.25, 0.5, 1.0])[0]
        'bca'
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if binary_k1 and _is_binary(x):
        return BINARY, (f"binary scores, one sample per item (K=1), n={n}: Wilson score interval, "
                        f"continuity-corrected within {EDGE_COUNTS} of 0 or n (exact coverage, "
                        "bench/coverage.py)")
    if n < n_small:
        return "bca", f"n={n} < {n_small}: BCa bootstrap (skew-corrected, stays in the data range)"
    g1 = float(stats.skew(x)) if x.std() > 0 else 0.0
    if abs(g1) >= 1 and abs(g1) / math.sqrt(n) > SKEW_LIMIT:
        return "bca", (f"skewness {g1:.2f} at n={n} (|g1|/sqrt(n) > {SKEW_LIMIT}): "
                       "BCa bootstrap corrects the t interval's skew error")
    return "t", f"n={n} >= {n_small}: Student t on item means (CLT)"


# ---------------------------------------------------------------------------- one sample

def mean_ci(x: Sequence[float], level: float = 0.95, binary_k1: bool = False,
            bounds: tuple[float, float] | None = None, *, method: str = "t",
            groups: Sequence[Any] | None = None, seed: int = 0, n_resamples: int = 9999,
            n_small: int = 30) -> Estimate:
    """Mean of item scores with a CI.

    method: "t" (default), "bca", or "auto" (choose_interval decides and Estimate.reason says
    why). binary_k1 (scores in {0, 1}, one sample per item): binary_interval, whatever
    `method` says. groups: one cluster label per item -> clustered SE with a t interval on
    C - 1 df, whatever `method` says. Fallbacks: non-binary scores all at 0 or all at 1 ->
    Wilson on n items; a t interval leaving `bounds` is clipped to them.

        >>> mean_ci([1, 0, 1, 1], binary_k1=True).method
        'wilson-edge'
        >>> mean_ci([0.2, 0.9, 0.4], method="auto").method
        'bca'
    """
    if method not in ("t", "bca", "auto"):
        raise ValueError(f"unknown interval method {method!r}; use 't', 'bca' or 'auto'")
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan, "none")
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    chosen, reason = _pick_interval(x, method, binary_k1, groups, n_small)
    if chosen == BINARY:
        lo, hi = binary_interval(int(x.sum()), n, level)
        return Estimate(n, mean, se, lo, hi, chosen, reason)
    if chosen == "clustered t":
        se, lo, hi, chosen = _clustered_t(x, groups, level)
    else:
        lo, hi, chosen = _location_interval(x, chosen, level, seed, n_resamples)
    if bounds is not None and not chosen.startswith(("bca", "wilson")) and (lo < bounds[0] or hi > bounds[1]):
        # A t interval can leave the metric's range when n is small; the range is certain.
        lo, hi, chosen = max(lo, bounds[0]), min(hi, bounds[1]), f"{chosen} (clipped to range)"
    return Estimate(n, mean, se, lo, hi, chosen, reason)


def _pick_interval(x: np.ndarray, method: str, binary_k1: bool, groups: Sequence[Any] | None,
                   n_small: int) -> tuple[str, str]:
    """mean_ci's choice: clustered t when there are groups, else binary K=1 data get
    binary_interval, else `method` (choose_interval's pick for "auto"). Returns (name, why)."""
    if groups is not None:
        c = len(np.unique(np.asarray(groups)))
        return "clustered t", f"items in {c} clusters: Miller (2024) clustered SE, t with C-1 df"
    if method == "auto":
        return choose_interval(x, binary_k1, n_small)
    return (BINARY if binary_k1 and _is_binary(x) else method), ""


def _clustered_t(x: np.ndarray, groups: Sequence[Any], level: float) -> tuple[float, float, float, str]:
    """(clustered SE, low, high, method) with t on C - 1 df; NaN bounds with one cluster."""
    se = clustered_se(x, groups)
    if math.isnan(se):
        return se, math.nan, math.nan, "clustered t (one cluster)"
    half = float(stats.t.ppf(0.5 + level / 2, len(np.unique(np.asarray(groups))) - 1)) * se
    return se, float(x.mean()) - half, float(x.mean()) + half, "clustered t"


def _location_interval(x: np.ndarray, chosen: str, level: float, seed: int,
                       n_resamples: int) -> tuple[float, float, str]:
    """(low, high, method) of a t or BCa interval, with the fallbacks for data that cannot
    carry one: one item -> NaN; every item at 0 or 1 -> Wilson (a t interval would be a
    point, claiming a certainty n items cannot give); other equal values -> t (a point);
    BCa not computable -> t."""
    n = len(x)
    if n < 2:
        return math.nan, math.nan, chosen
    if np.all(x == x[0]):
        if x[0] in (0.0, 1.0):
            return (*wilson_interval(round(x[0] * n), n, level), "wilson (all items at the bound)")
        chosen = "t" if chosen == "bca" else chosen  # a bootstrap of equal values is a point
    if chosen == "bca":
        lo, hi, _ = bca_interval(x, level, seed, n_resamples)
        if not (math.isnan(lo) or math.isnan(hi)):
            return float(lo), float(hi), "bca"
        chosen = "t (BCa not computable)"  # scipy warned; fall back to t
    _, _, lo, hi = (float(v) for v in t_interval(x, level))
    return lo, hi, chosen


# ---------------------------------------------------------------------------------- paired

def mcnemar_exact(n10: int, n01: int) -> float:
    """Exact McNemar p-value: two-sided binomial(n10; n10 + n01, 1/2) on the discordant pairs.

        >>> round(mcnemar_exact(4, 1), 4)
        0.375
    """
    return float(stats.binomtest(int(n10), int(n10 + n01), 0.5).pvalue) if n10 + n01 else 1.0


def sign_flip_test(d: Any, seed: int = 0, n_resamples: int = 9999) -> Any:
    """Two-sided paired permutation p-value for mean(d) = 0: flip the sign of each d_i and
    count |sum| >= |observed| (ties count, so the test is never anti-conservative). Exact
    over all 2^n patterns when 2^n <= n_resamples, else (count + 1) / (n_resamples + 1).
    Last axis = items; leading axes are a batch (sharing the random sign patterns). Same
    definition as scipy.stats.permutation_test(permutation_type="samples"), which the
    tests check it against; written out because scipy's loop is ~10x slower at 10k items.

        >>> float(sign_flip_test([0.5, 0.25, 0.75, 1.0, 0.5]))  # all 32 sign patterns
        0.0625
    """
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    flat = d.reshape(-1, n).T  # items x datasets
    total = flat.sum(axis=0)
    cut = np.abs(total) - 1e-9 * np.maximum(1.0, np.abs(flat).sum(axis=0))
    exact = n <= 20 and 2 ** n <= n_resamples
    draws = 2 ** n if exact else n_resamples
    step = max(1, 4_000_000 // (n + flat.shape[1]))
    rng, count = _rng(seed), np.zeros(flat.shape[1])
    for start in range(0, draws, step):
        b = min(step, draws - start)
        if exact:  # row r flips the items whose bit is set in r
            bits = (np.arange(start, start + b)[:, None] >> np.arange(n)) & 1
        else:
            bits = np.unpackbits(np.frombuffer(rng.bytes(-(-b * n // 8)), np.uint8))[:b * n].reshape(b, n)
        count += (np.abs(total - 2 * (bits @ flat)) >= cut).sum(axis=0)
    p = count / draws if exact else (count + 1) / (n_resamples + 1)
    p = np.minimum(p, 1.0).reshape(d.shape[:-1])
    return float(p) if d.ndim == 1 else p


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95,
                      binary_k1: bool = False, seed: int = 0, *, ci_method: str = "t",
                      groups: Sequence[Any] | None = None, n_resamples: int = 9999,
                      n_small: int = 30) -> PairedEstimate:
    """Paired a - b over the same items (any two runs, aligned by item).

    CI on d_i = a_i - b_i: "t" (default), "bca" (paired bootstrap: resampling items, i.e.
    the pairs (a_i, b_i) together, which for a mean is resampling d_i), or "auto" (BCa when
    n < n_small). groups: clustered SE of d, t on C - 1 df. p-value: exact McNemar for
    binary K=1, else the sign-flip permutation test.

        >>> p = paired_difference([1, 1, 1, 0], [0, 1, 0, 0], binary_k1=True)
        >>> p.diff, p.discordant, p.test
        (0.5, (2, 0), 'exact McNemar')
    """
    if ci_method not in ("t", "bca", "auto"):
        raise ValueError(f"unknown interval method {ci_method!r}; use 't', 'bca' or 'auto'")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    d = a - b
    if n == 0:
        nan = math.nan
        return PairedEstimate(0, nan, nan, nan, nan, nan, nan, nan, nan, "none", None, "none")
    use_bca = ci_method == "bca" or (ci_method == "auto" and n < n_small)
    if n > 1 and np.all(d == d[0]):  # no item differs from the others: a point, not Wilson
        est = Estimate(n, float(d[0]), 0.0, float(d[0]), float(d[0]), "t (no variation in d)")
    elif groups is not None:
        est = mean_ci(d, level, groups=groups)
    else:
        est = mean_ci(d, level, method="bca" if use_bca else "t", seed=seed, n_resamples=n_resamples)
    corr = float(np.corrcoef(a, b)[0, 1]) if n > 2 and a.std() > 0 and b.std() > 0 else math.nan
    discordant = None
    if binary_k1 and _is_binary(a) and _is_binary(b):
        n10, n01 = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
        discordant = (n10, n01)
        p, test = mcnemar_exact(n10, n01), "exact McNemar"
    elif n > 1 and np.any(d != 0):
        p, test = float(sign_flip_test(d, seed, n_resamples)), "sign-flip permutation"
    else:
        p, test = 1.0, "sign-flip permutation"
    return PairedEstimate(n, float(a.mean()), float(b.mean()), est.mean, est.se, est.ci_low,
                          est.ci_high, corr, p, test, discordant, est.method)


# ---------------------------------------------------------------------- many comparisons

def adjust_pvalues(p: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Holm (family-wise, statsmodels multipletests) and Benjamini-Hochberg (FDR,
    scipy.stats.false_discovery_control) adjusted p-values; NaN stays NaN, not counted.

        >>> holm, bh = adjust_pvalues([0.01, 0.04, 0.03])
        >>> [round(float(v), 2) for v in holm], [round(float(v), 2) for v in bh]
        ([0.03, 0.06, 0.06], [0.03, 0.04, 0.04])
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    holm, bh = np.full_like(p, math.nan), np.full_like(p, math.nan)
    ok = ~np.isnan(p)
    if ok.any():
        holm[ok] = multipletests(p[ok], method="holm")[1]
        bh[ok] = stats.false_discovery_control(p[ok], method="bh")
    return holm, bh


# --------------------------------------------------------------------- pass@k and maj@k

def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).

        >>> round(pass_at_k(10, 3, 1), 3)
        0.3
    """
    if k > n:
        raise ValueError(f"k={k} exceeds the n={n} samples")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_correct(extracted: Sequence[Any], correct: Sequence[bool]) -> float:
    """maj@k for one item: is the most frequent extracted answer correct? Ties go to the
    answer seen first; samples with no extracted answer (None, NaN) do not vote.

        >>> majority_correct(["4", "5", "4"], [True, False, True])
        1.0
    """
    votes = [(e, c) for e, c in zip(extracted, correct) if isinstance(e, str)]
    if not votes:
        return 0.0
    counts = Counter(e for e, _ in votes)
    top = max(counts.values())
    winner = next(e for e, _ in votes if counts[e] == top)
    return float(next(c for e, c in votes if e == winner))
