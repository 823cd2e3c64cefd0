"""Statistics as pure functions over arrays (DESIGN.md, "Statistics").

Everything is computed on per-item means s_i (an item's score averaged over its K
samples), never on the n*K samples as if they were independent.
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


def _is_binary(x: np.ndarray) -> bool:
    return bool(np.isin(x, (0.0, 1.0)).all())


def mean_ci(x: Sequence[float], level: float = 0.95, binary_k1: bool = False,
            bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean of item scores with a CI: Wilson for binary K=1 items, else Student t on item means.

        >>> mean_ci([1, 0, 1, 1], binary_k1=True).method
        'wilson'
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan, "none")
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    if binary_k1 and _is_binary(x):
        ci = stats.binomtest(int(x.sum()), n).proportion_ci(confidence_level=level, method="wilson")
        return Estimate(n, mean, se, float(ci.low), float(ci.high), "wilson")
    if n < 2:
        return Estimate(n, mean, se, math.nan, math.nan, "t")
    if se == 0 and mean in (0.0, 1.0):
        # Every item at the bound (all wrong or all right): a t interval collapses to a
        # point, which claims certainty n items cannot give. Wilson on n items does not.
        ci = stats.binomtest(round(mean * n), n).proportion_ci(confidence_level=level, method="wilson")
        return Estimate(n, mean, se, float(ci.low), float(ci.high), "wilson (all items at the bound)")
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    lo, hi = mean - half, mean + half
    if bounds is not None and (lo < bounds[0] or hi > bounds[1]):
        # A t interval can leave the metric's range when n is small; the range is certain.
        return Estimate(n, mean, se, max(lo, bounds[0]), min(hi, bounds[1]), "t (clipped to range)")
    return Estimate(n, mean, se, lo, hi, "t")


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95,
                      binary_k1: bool = False, seed: int = 0) -> PairedEstimate:
    """Paired a - b over the same items: t CI on d_i; exact McNemar (binary K=1) or a
    sign-flip permutation test (scipy.stats.permutation_test) for the p-value."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    d = a - b
    if n == 0:
        nan = math.nan
        return PairedEstimate(0, nan, nan, nan, nan, nan, nan, nan, nan, "none", None)
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se if n > 1 else math.nan
    corr = float(np.corrcoef(a, b)[0, 1]) if n > 2 and a.std() > 0 and b.std() > 0 else math.nan
    discordant = None
    if binary_k1 and _is_binary(a) and _is_binary(b):
        n10, n01 = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
        discordant = (n10, n01)
        p = float(stats.binomtest(n10, n10 + n01, 0.5).pvalue) if n10 + n01 else 1.0
        test = "exact McNemar"
    elif n > 1 and np.any(d != 0):
        res = stats.permutation_test((d,), np.mean, permutation_type="samples", vectorized=True,
                                     n_resamples=9999, alternative="two-sided",
                                     random_state=np.random.default_rng(seed))
        p, test = float(res.pvalue), "sign-flip permutation"
    else:
        p, test = 1.0, "sign-flip permutation"
    return PairedEstimate(n, float(a.mean()), float(b.mean()), mean, se, mean - half, mean + half,
                          corr, p, test, discordant)


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
