"""Does thinking help beyond verifiable domains? (DESIGN.md, "Statistics", Transfer.)

Input: one row per item with columns domain, verifiable, item_id, d, where d is the item's
think - no_think difference of item means. Then

- per domain: Delta = mean of d with a CI (stats.mean_ci, method="auto");
- Delta_verifiable = the mean of the verifiable domains' Deltas (each domain counts once,
  so a big domain does not dominate), Delta_non_verifiable likewise, and their gap;
- across runs (base vs RL'd vs distilled): each group's gain over a baseline run.

Every group statistic is a weighted sum of per-domain means, sum_j w_j mean(x_j), so one
function gives all the CIs: `stratified_bootstrap` resamples items within each domain
(each domain keeps its size) with scipy.stats.bootstrap over the domains as separate
samples, BCa by default (scipy's multi-sample BCa jackknifes within each sample). Runs are
paired within a domain when both have exactly the same item_ids there (the sample is then
the per-item difference of d); otherwise the two runs' items are resampled independently.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from thinkgate.reports.stats import Estimate, mean_ci

COLUMNS = ("domain", "verifiable", "item_id", "d")
GROUPS = ("verifiable", "non_verifiable", "gap")


@dataclass(frozen=True)
class TransferGap:
    verifiable: Estimate
    non_verifiable: Estimate
    gap: Estimate  # verifiable - non_verifiable


def stratified_bootstrap(samples: Sequence[Any], weights: Sequence[float], level: float = 0.95,
                         seed: int = 0, n_resamples: int = 9999, method: str = "BCa"
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CI of sum_j w_j * mean(samples[j]), resampling items within each sample (stratum).
    Last axis = items; leading axes are a batch. Returns (estimate, se, low, high).

        >>> est, se, lo, hi = stratified_bootstrap([[0.1, 0.3, 0.2], [0.5, 0.4, 0.9, 0.6]], [1, -1])
        >>> round(float(est), 3), bool(lo < est < hi)
        (-0.4, True)
    """
    xs = tuple(np.asarray(s, dtype=float) for s in samples)
    w = [float(v) for v in weights]
    if len(xs) != len(w) or not xs:
        raise ValueError(f"{len(xs)} samples but {len(w)} weights; pass one weight per sample")

    def statistic(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        return sum(wj * x.mean(axis=axis) for wj, x in zip(w, arrays))

    point = statistic(*xs)
    size = sum(x.size for x in xs)
    batch = max(1, min(n_resamples, 4_000_000 // max(1, size)))
    res = stats.bootstrap(xs, statistic, n_resamples=n_resamples, batch=batch, vectorized=True,
                          paired=False, axis=-1, confidence_level=level, method=method,
                          random_state=np.random.default_rng(seed))
    return point, res.standard_error, res.confidence_interval.low, res.confidence_interval.high


def _ci(samples: list[np.ndarray], weights: list[float], level: float, seed: int,
        n_resamples: int, method: str) -> Estimate:
    """stratified_bootstrap as an Estimate. A one-item sample cannot be resampled: it enters
    as a constant (the method string says so). BCa falls back to the percentile interval
    when it cannot be computed (too little variation), and the method string says that too."""
    n = int(sum(len(s) for s in samples))
    if not samples:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan, "none")
    const = sum(w * float(s.mean()) for s, w in zip(samples, weights) if len(s) < 2)
    keep = [(s, w) for s, w in zip(samples, weights) if len(s) >= 2]
    fixed = len(samples) - len(keep)
    notes = [f"{fixed} one-item sample(s) held fixed"] if fixed else []
    if not keep:
        return Estimate(n, const, math.nan, math.nan, math.nan, "none (" + notes[0] + ")")
    xs, ws = [s for s, _ in keep], [w for _, w in keep]
    used = method
    if method == "BCa" and all(np.ptp(s) == 0 for s in xs):
        used = "percentile"
    else:
        with warnings.catch_warnings():  # a degenerate BCa is handled just below
            warnings.simplefilter("ignore", category=RuntimeWarning)
            warnings.simplefilter("ignore", category=stats.DegenerateDataWarning)
            est, se, lo, hi = stratified_bootstrap(xs, ws, level, seed, n_resamples, used)
        if np.isnan(lo) or np.isnan(hi):
            used = "percentile"
    if used != method:
        notes.append(f"{method} not computable")
        est, se, lo, hi = stratified_bootstrap(xs, ws, level, seed, n_resamples, used)
    label = f"stratified bootstrap {used}" + (f" ({'; '.join(notes)})" if notes else "")
    return Estimate(n, const + float(est), float(se), const + float(lo), const + float(hi), label)


def _check(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in df]
    if missing:
        raise ValueError(f"transfer input lacks columns {missing}; it needs {list(COLUMNS)}")
    df = df.dropna(subset=["d"])
    if df.duplicated(["domain", "item_id"]).any():
        raise ValueError("an item_id appears twice in a domain; pass one row (its mean d) per item")
    mixed = df.groupby("domain")["verifiable"].nunique()
    if (mixed > 1).any():
        raise ValueError(f"domains {list(mixed[mixed > 1].index)} are both verifiable and not; "
                         "fix the domain labels")
    return df


def _domains(df: pd.DataFrame) -> dict[str, tuple[bool, pd.Series]]:
    """domain -> (verifiable, d indexed by item_id, sorted)."""
    return {dom: (bool(g["verifiable"].iat[0]), g.set_index("item_id")["d"].sort_index())
            for dom, g in df.groupby("domain", sort=True)}


def _group_weights(verifiable: Sequence[bool]) -> dict[str, list[float]]:
    """Weights over domains that make each group's statistic a mean of domain means."""
    n_v, n_n = sum(verifiable), len(verifiable) - sum(verifiable)
    wv = [1 / n_v if v else 0.0 for v in verifiable] if n_v else []
    wn = [0.0 if v else 1 / n_n for v in verifiable] if n_n else []
    return {"verifiable": wv, "non_verifiable": wn,
            "gap": [a - b for a, b in zip(wv, wn)] if n_v and n_n else []}


def domain_deltas(df: pd.DataFrame, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per domain: Delta = mean d with a CI (mean_ci, method="auto": BCa below 30 items).

    Input rows (domain, verifiable, item_id, d); output one row per domain with columns
    domain, verifiable, n_items, delta, se, ci_low, ci_high, ci_method.
    """
    rows = []
    for dom, (ver, d) in _domains(_check(df)).items():
        x = d.to_numpy()
        if len(x) > 1 and np.all(x == x[0]):  # not mean_ci: its Wilson fallback is for scores
            e = Estimate(len(x), float(x[0]), 0.0, float(x[0]), float(x[0]), "t (no variation in d)")
        else:
            e = mean_ci(x, level, method="auto", bounds=(-1.0, 1.0), seed=seed)
        rows.append({"domain": dom, "verifiable": ver, "n_items": e.n, "delta": e.mean, "se": e.se,
                     "ci_low": e.ci_low, "ci_high": e.ci_high, "ci_method": e.method})
    return pd.DataFrame(rows)


def transfer_gap(df: pd.DataFrame, level: float = 0.95, seed: int = 0, n_resamples: int = 9999,
                 method: str = "BCa") -> TransferGap:
    """Delta_verifiable, Delta_non_verifiable (means of domain Deltas) and their gap, each
    with a stratified-bootstrap CI (items resampled within domains, same seed for all).

    Input rows (domain, verifiable, item_id, d). A group with no domain gives NaN.
    """
    doms = _domains(_check(df))
    samples = [d.to_numpy() for _, d in doms.values()]
    weights = _group_weights([v for v, _ in doms.values()])
    out = {}
    for group in GROUPS:
        keep = [j for j, wj in enumerate(weights[group]) if wj != 0]
        out[group] = _ci([samples[j] for j in keep], [weights[group][j] for j in keep],
                         level, seed, n_resamples, method)
    return TransferGap(**out)


def run_gains(runs: Mapping[str, pd.DataFrame], baseline: str, level: float = 0.95, seed: int = 0,
              n_resamples: int = 9999, method: str = "BCa") -> pd.DataFrame:
    """Each run's gain over `baseline` per domain group: Delta_run(group) - Delta_base(group)
    over the domains both runs have, with a stratified-bootstrap CI.

    Input: run name -> rows (domain, verifiable, item_id, d). Output one row per run x group
    (verifiable, non_verifiable, gap) with columns run, baseline, group, n_domains, delta_run,
    delta_baseline, gain, se, ci_low, ci_high, ci_method, paired ("all" | "some" | "none":
    domains whose item_ids match exactly are paired item by item).
    """
    if baseline not in runs:
        raise ValueError(f"baseline {baseline!r} is not among the runs {sorted(runs)}")
    base = _domains(_check(runs[baseline]))
    rows = []
    for name, frame in runs.items():
        if name == baseline:
            continue
        doms = _domains(_check(frame))
        common = [dom for dom in doms if dom in base and doms[dom][0] == base[dom][0]]
        weights = _group_weights([doms[dom][0] for dom in common])
        for group in GROUPS:
            used = [(dom, wj) for dom, wj in zip(common, weights[group]) if wj != 0]
            samples, w, paired = [], [], []
            for dom, wj in used:
                run_d, base_d = doms[dom][1], base[dom][1]
                paired.append(run_d.index.equals(base_d.index))
                if paired[-1]:
                    samples.append((run_d - base_d).to_numpy())
                    w.append(wj)
                else:
                    samples += [run_d.to_numpy(), base_d.to_numpy()]
                    w += [wj, -wj]
            est = _ci(samples, w, level, seed, n_resamples, method)
            rows.append({"run": name, "baseline": baseline, "group": group, "n_domains": len(used),
                         "delta_run": _weighted(doms, used), "delta_baseline": _weighted(base, used),
                         "gain": est.mean, "se": est.se, "ci_low": est.ci_low,
                         "ci_high": est.ci_high, "ci_method": est.method,
                         "paired": "all" if used and all(paired) else ("some" if any(paired) else "none")})
    return pd.DataFrame(rows)


def _weighted(doms: dict[str, tuple[bool, pd.Series]], used: list[tuple[str, float]]) -> float:
    """sum_j w_j * mean d of domain j (NaN when no domain is used)."""
    return float(sum(wj * doms[dom][1].mean() for dom, wj in used)) if used else math.nan
