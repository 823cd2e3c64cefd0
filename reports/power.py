"""Power of the paired think - no-think design (DESIGN.md, "Statistics").

For items i = 1..n with K_A and K_B samples per item in the two modes,

    var(d_i) = omega^2 + sigma_A^2 / K_A + sigma_B^2 / K_B
    n        = (z_{alpha/2} + z_beta)^2 * var(d_i) / delta^2

omega^2 is the between-item variance of the true differences, sigma^2 the within-item
(sample-to-sample) variance of one score. When only the item means are at hand, the
sample variance of d_i already estimates the whole sum at the run's K_A, K_B, so
sd_diff = sd(d_i) is all the functions below need; `variance_components` splits it from
the samples when they are available, so `diff_variance` can project to another K.
Normal approximation throughout (for n >= 30 the t correction changes n by about 1-2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats


def _z(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def diff_variance(omega2: float, var_a: float, k_a: float, var_b: float, k_b: float) -> float:
    """var(d_i) = omega^2 + sigma_A^2/K_A + sigma_B^2/K_B.

        >>> diff_variance(0.01, 0.2, 4, 0.2, 1)
        0.26
    """
    return omega2 + var_a / k_a + var_b / k_b


def variance_components(a_samples: Any, b_samples: Any) -> dict[str, float]:
    """Split var(d_i) into omega^2 and the within-item variances, from per-item samples:
    arrays of shape (n_items, K) per mode, NaN for a missing sample. sigma^2 is the mean
    within-item variance (ddof=1), K the harmonic mean of the per-item counts, and
    omega^2 = var(d_i) - sigma_A^2/K_A - sigma_B^2/K_B, floored at 0. A mode with one
    sample per item has sigma^2 = NaN (not identifiable), and then omega^2 is NaN too.

        >>> c = variance_components([[1, 0], [1, 1], [0, 0]], [[0, 0], [1, 0], [0, 0]])
        >>> round(c["var_d"], 4), round(c["var_a"], 4), c["k_a"]
        (0.0833, 0.1667, 2.0)
    """
    a, b = np.asarray(a_samples, dtype=float), np.asarray(b_samples, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise ValueError("pass two (n_items, K) arrays over the same items, one row per item")
    out: dict[str, float] = {}
    for name, x in (("a", a), ("b", b)):
        k = (~np.isnan(x)).sum(axis=1)
        if (k == 0).any():
            raise ValueError(f"mode {name}: an item has no samples; drop it from both modes")
        out[f"k_{name}"] = float(len(k) / np.sum(1.0 / k))
        multi = k >= 2
        out[f"var_{name}"] = float(np.nanvar(x[multi], axis=1, ddof=1).mean()) if multi.any() else math.nan
    d = np.nanmean(a, axis=1) - np.nanmean(b, axis=1)
    out["var_d"] = float(d.var(ddof=1)) if len(d) > 1 else math.nan
    noise = out["var_a"] / out["k_a"] + out["var_b"] / out["k_b"]
    out["omega2"] = math.nan if math.isnan(noise) else max(0.0, out["var_d"] - noise)
    return out


def minimum_detectable_effect(sd_diff: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean difference a two-sided level-alpha paired test detects with the
    given power: (z_{alpha/2} + z_beta) * sd_diff / sqrt(n).

        >>> round(minimum_detectable_effect(0.3, 100), 4)
        0.084
    """
    return _z(alpha, power) * sd_diff / math.sqrt(n)


def n_for_effect(delta: float, sd_diff: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Items needed to detect a mean difference delta: ceil((z_{alpha/2}+z_beta)^2 sd^2 / delta^2).

        >>> n_for_effect(0.05, 0.3)
        283
    """
    if delta == 0:
        raise ValueError("delta must be non-zero: the difference you want to be able to detect")
    return math.ceil((_z(alpha, power) * sd_diff / delta) ** 2)


def power_of(delta: float, sd_diff: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired z test to detect delta with n items.

        >>> round(power_of(0.084, 0.3, 100), 2)
        0.8
    """
    shift = abs(delta) * math.sqrt(n) / sd_diff
    zc = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.cdf(shift - zc) + stats.norm.cdf(-shift - zc))


def underpowered(sd_diff: float, n: int, delta: float, alpha: float = 0.05, power: float = 0.8) -> bool:
    """True when n items cannot detect a difference of size delta with the given power.

        >>> underpowered(0.3, 100, 0.05), underpowered(0.3, 400, 0.05)
        (True, False)
    """
    return minimum_detectable_effect(sd_diff, n, alpha, power) > abs(delta)
