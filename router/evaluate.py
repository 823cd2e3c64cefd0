"""How good is a router? RouteLLM's metrics, with think as the strong and no-think as the
weak option, on a table of both options' outcomes per item.

Sweep: order items by router score, highest first; tied scores form one block (they are
decided together, never split arbitrarily). After each block the curve has a point
(think rate, mean score, mean tokens); between two points it is a straight line, which is
exactly the expected value of thinking on a random part of the next block.

- AUC: area under mean score vs think rate, rate in [0, 1].
- APGR = (AUC - AUC_never) / (AUC_always - AUC_never), with flat lines at the never- and
  always-think means. A random router scores 0.5; a good router can exceed 1 when thinking
  hurts some items. Never clipped. Undefined (NaN, with `apgr_reason`) unless always-think
  beats never-think: with a negative gain the scale turns upside down.
- CPT(x): the first think rate at which the curve reaches never + x * (always - never),
  found by scanning the points in order (the curve need not rise; no np.interp on it).
- Baselines: never, always, random at the router's think rate (expected value), oracle
  (thinks on items in order of their true gain; at a threshold: iff utility > 0).
- CIs: percentile bootstrap (seeded) resampling items, or whole groups when items share
  groups; a resample where a metric is undefined is counted and left out.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

GAIN_TOL = 1e-9  # always - never at or below this: no gain to recover (APGR, CPT undefined)
CURVE_POINTS = 201  # at most this many curve points in a report
MAX_UNDEFINED = 0.05  # more undefined resamples than this share: no CI


def blocks(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, ends): items by score descending (stable), and the cumulative item count at
    the end of each block of tied scores.

        >>> blocks(np.array([0.2, 0.9, 0.2]))
        (array([1, 0, 2]), array([1, 3]))
    """
    s = np.round(np.asarray(scores, dtype=float), 12)
    order = np.argsort(-s, kind="stable")
    so = s[order]
    ends = np.flatnonzero(np.r_[so[1:] != so[:-1], True]) + 1 if len(so) else np.zeros(0, int)
    return order, ends


def sweep(scores: np.ndarray, value_think: np.ndarray, value_no: np.ndarray,
          weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rates, values): the curve's points, rate 0 first. `weights` (B, n) gives B weighted
    curves at once (bootstrap counts); then both outputs are (B, blocks + 1).

        >>> sweep(np.array([0.9, 0.1]), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
        (array([0. , 0.5, 1. ]), array([0.5, 1. , 0.5]))
    """
    order, ends = blocks(scores)
    gain = (np.asarray(value_think, float) - np.asarray(value_no, float))[order]
    base = np.asarray(value_no, float)[order]
    w = np.ones((1, len(order))) if weights is None else np.atleast_2d(weights)[:, order]
    total = w.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.cumsum(w, 1)[:, ends - 1] / total
        values = ((w * base).sum(1, keepdims=True) + np.cumsum(w * gain, 1)[:, ends - 1]) / total
        start = (w * base).sum(1, keepdims=True) / total
    rates = np.hstack([np.zeros_like(start), rates])
    values = np.hstack([start, values])
    return (rates[0], values[0]) if weights is None else (rates, values)


def area(rates: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Area under the piecewise-linear curve (last axis), rate in [0, 1]."""
    return np.sum(np.diff(rates, axis=-1) * (values[..., 1:] + values[..., :-1]) / 2, axis=-1)


def apgr(rates: np.ndarray, values: np.ndarray) -> np.ndarray:
    """RouteLLM's APGR from curve(s); NaN where always - never <= GAIN_TOL."""
    never, always = values[..., 0], values[..., -1]
    gain = always - never
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gain > GAIN_TOL, (area(rates, values) - never) / gain, np.nan)


def cpt(rates: np.ndarray, values: np.ndarray, x: float, along: np.ndarray | None = None) -> np.ndarray:
    """Call-performance threshold: the first think rate at which values reach
    never + x * (always - never), scanning the points in order and interpolating inside
    the first segment that gets there. `along` (same shape as rates, e.g. mean tokens)
    reports that quantity at the same place instead of the rate. NaN without a gain.

        >>> float(cpt(np.array([0, .5, 1.]), np.array([0, 1., .5]), 0.5))  # rises, then falls
        0.125
    """
    single = np.ndim(rates) == 1
    rates, values = np.atleast_2d(rates), np.atleast_2d(values)
    along = rates if along is None else np.atleast_2d(along)
    never, always = values[:, 0], values[:, -1]
    target = never + x * (always - never)
    reached = values >= target[:, None] - 1e-12
    j = np.argmax(reached, axis=1)  # first point at or above the target
    rows = np.arange(len(j))
    prev = np.maximum(j - 1, 0)
    dv = values[rows, j] - values[rows, prev]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(j == 0, 0.0, (target - values[rows, prev]) / np.where(dv == 0, 1, dv))
    out = along[rows, prev] + np.clip(frac, 0, 1) * (along[rows, j] - along[rows, prev])
    out = np.where(always - never > GAIN_TOL, out, np.nan)
    return out[0] if single else out


def _boot_weights(n: int, groups: Sequence[Any] | None, n_boot: int, seed: int) -> tuple[np.ndarray, str]:
    rng = np.random.default_rng(seed)
    if groups is not None:
        codes, uniq = pd.factorize(pd.Series(list(groups)).astype(str))
        if 2 <= len(uniq) < n:
            g = rng.multinomial(len(uniq), np.full(len(uniq), 1 / len(uniq)), size=n_boot)
            return g[:, codes].astype(float), f"percentile bootstrap over {len(uniq)} groups (B={n_boot}, seed={seed})"
    w = rng.multinomial(n, np.full(n, 1 / n), size=n_boot).astype(float)
    return w, f"percentile bootstrap over {n} items (B={n_boot}, seed={seed})"


def _ci(boot: np.ndarray, name: str, out: dict[str, Any]) -> None:
    finite = boot[np.isfinite(boot)]
    undefined = 1 - len(finite) / len(boot) if len(boot) else 1.0
    if len(finite) == 0 or undefined > MAX_UNDEFINED:
        out[f"{name}_ci_low"] = out[f"{name}_ci_high"] = math.nan
        if len(boot):
            out[f"{name}_ci_reason"] = f"undefined in {undefined:.0%} of resamples (no gain to recover there)"
        return
    out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (float(v) for v in np.percentile(finite, [2.5, 97.5]))


def _apgr_reason(gain: float) -> str:
    if gain > GAIN_TOL:
        return ""
    if gain >= -GAIN_TOL:
        return "always-think scores the same as never-think: no gain to recover, APGR/CPT undefined"
    return (f"always-think scores {-gain:.3g} below never-think: APGR/CPT measure a share of a "
            "positive gain and are undefined here; read auc_over_never and the oracle instead")


def routing_metrics(scores: Sequence[float], score_think: Sequence[float], score_no_think: Sequence[float], *,
                    tokens_think: Sequence[float] | None = None, tokens_no_think: Sequence[float] | None = None,
                    utility: Sequence[float] | None = None, threshold: float | None = None,
                    groups: Sequence[Any] | None = None, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """Every routing metric of one router on one table of outcomes, as a JSON-able dict."""
    s = np.asarray(scores, float)
    st, sn = np.asarray(score_think, float), np.asarray(score_no_think, float)
    n = len(s)
    tt = np.zeros(n) if tokens_think is None else np.nan_to_num(np.asarray(tokens_think, float))
    tn = np.zeros(n) if tokens_no_think is None else np.nan_to_num(np.asarray(tokens_no_think, float))
    u = st - sn if utility is None else np.asarray(utility, float)
    if n == 0:
        return {"n_items": 0, "apgr": math.nan, "apgr_reason": "no items"}
    rates, values = sweep(s, st, sn)
    _, tokens = sweep(s, tt, tn)
    never, always = float(values[0]), float(values[-1])
    gain = always - never
    out: dict[str, Any] = {
        "n_items": n,
        "never": {"think_rate": 0.0, "mean_score": never, "mean_tokens": float(tn.mean())},
        "always": {"think_rate": 1.0, "mean_score": always, "mean_tokens": float(tt.mean())},
        "gain_always": gain, "score_spread": float(np.std(s)), "n_distinct_scores": int(len(rates) - 1),
    }
    r = {"auc": float(area(rates, values)), "apgr": float(apgr(rates, values)),
         "apgr_reason": _apgr_reason(gain)}
    r["auc_over_never"] = r["auc"] - never
    for x in (50, 80):
        r[f"cpt{x}"] = float(cpt(rates, values, x / 100))
        r[f"cpt{x}_tokens"] = float(cpt(rates, values, x / 100, along=tokens))
    o_rates, o_values = sweep(st - sn, st, sn)
    oracle = {"auc": float(area(o_rates, o_values)), "apgr": float(apgr(o_rates, o_values)),
              "cpt50": float(cpt(o_rates, o_values, 0.5)), "cpt80": float(cpt(o_rates, o_values, 0.8))}
    think_o = u > 1e-9
    oracle.update(_point(think_o, st, sn, tt, tn, u))
    out["oracle"] = oracle
    out["random"] = {"auc": (never + always) / 2, "apgr": 0.5 if gain > GAIN_TOL else math.nan}
    if threshold is not None:
        think = s >= float(threshold)  # as Router.decide
        at = _point(think, st, sn, tt, tn, u)
        at["threshold"] = float(threshold)
        rate = at["think_rate"]
        at["random_mean_score"] = never + rate * gain
        at["random_mean_tokens"] = float(tn.mean() + rate * (tt.mean() - tn.mean()))
        at["vs_random"] = at["mean_score"] - at["random_mean_score"]
        at["accuracy"] = float(np.mean(think == (u > 1e-9)))
        r["at_threshold"] = at
    out["router"] = r
    if n_boot > 0:
        w, method = _boot_weights(n, groups, n_boot, seed)
        out["ci_method"] = method
        boot: dict[str, list] = {}
        for lo in range(0, n_boot, 200):  # chunks bound the memory: 200 x n weights at a time
            _boot_chunk(w[lo:lo + 200], s, st, sn, tt, tn, threshold, boot)
        for name, vals in boot.items():
            target = r["at_threshold"] if name.startswith("at_") else r
            _ci(np.concatenate(vals), name.removeprefix("at_"), target)
    out["curve"] = _curve(rates, values, tokens, s)
    return out


def _point(think, st, sn, tt, tn, u) -> dict[str, float]:
    return {"think_rate": float(think.mean()),
            "mean_score": float(np.where(think, st, sn).mean()),
            "mean_tokens": float(np.where(think, tt, tn).mean()),
            "mean_utility_over_never": float(np.where(think, u, 0.0).mean())}


def _boot_chunk(w, s, st, sn, tt, tn, threshold, acc: dict[str, list]) -> None:
    rates, values = sweep(s, st, sn, weights=w)
    _, tokens = sweep(s, tt, tn, weights=w)
    found = {"auc": area(rates, values), "apgr": apgr(rates, values)}
    for x in (50, 80):
        found[f"cpt{x}"] = cpt(rates, values, x / 100)
        found[f"cpt{x}_tokens"] = cpt(rates, values, x / 100, along=tokens)
    if threshold is not None:
        think = s >= float(threshold)
        tot = w.sum(1)
        mean = (w * np.where(think, st, sn)).sum(1) / tot
        rate = (w * think).sum(1) / tot
        never, always = (w * sn).sum(1) / tot, (w * st).sum(1) / tot
        found["at_mean_score"] = mean
        found["at_vs_random"] = mean - (never + rate * (always - never))
    for k, v in found.items():
        acc.setdefault(k, []).append(np.asarray(v, float))


def _curve(rates, values, tokens, scores) -> list[dict[str, float]]:
    order, ends = blocks(scores)
    s = np.round(scores[order], 12)
    thresholds = np.r_[math.inf, s[ends - 1]]  # think iff score >= threshold
    idx = np.unique(np.linspace(0, len(rates) - 1, min(len(rates), CURVE_POINTS)).round().astype(int))
    return [{"threshold": float(thresholds[i]) if i else None, "think_rate": float(rates[i]),
             "mean_score": float(values[i]), "mean_tokens": float(tokens[i])} for i in idx]


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """ROC AUC, log loss, Brier score of P(think pays) against the labels."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(labels, int)
    p = np.clip(np.asarray(scores, float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {"roc_auc": float(roc_auc_score(y, p)) if both else math.nan,
            "log_loss": float(log_loss(y, p, labels=[0, 1])) if len(y) else math.nan,
            "brier": float(brier_score_loss(y, p)) if len(y) else math.nan,
            "positive_rate": float(y.mean()) if len(y) else math.nan}


def dataset_metrics(scores: np.ndarray, dataset: pd.DataFrame, threshold: float | None,
                    seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """routing_metrics + classification_metrics on a dataset from build_dataset."""
    out = routing_metrics(scores, dataset["score_think"], dataset["score_no_think"],
                          tokens_think=dataset["tokens_think"], tokens_no_think=dataset["tokens_no_think"],
                          utility=dataset["utility"], threshold=threshold,
                          groups=dataset["group"] if "group" in dataset else None, seed=seed, n_boot=n_boot)
    out["classification"] = classification_metrics(scores, dataset["label"].to_numpy())
    return out


def evaluate_router(router, dataset: pd.DataFrame, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """The router's routing metrics on `dataset` (from build_dataset), overall and per
    domain, with bootstrap CIs. JSON-able (NaN where a metric is undefined).

    Besides the two-arm keys: `arms` (cheapest first) and `arm_eval` (router/evaluate_arms.py:
    every fixed arm's point, the curve, oracle, random, gain over the best fixed arms at equal
    tokens and the AUC gain, with CIs). A MultiArmRouter on a build_arms_dataset table gets
    the same keys, its two-arm ones from the "leave the cheapest arm" view."""
    from thinkgate.router.evaluate_arms import evaluate_arms, two_arm_metrics

    if dataset.attrs.get("multiarm") or getattr(router, "meta", {}).get("kind") == "multiarm":
        if not dataset.attrs.get("multiarm") or getattr(router, "meta", {}).get("kind") != "multiarm":
            raise ValueError("a many-arm router is evaluated on build_arms_dataset(items) and a two-arm one on "
                             "build_dataset(items); this pairs one with the other")
        return evaluate_arms(router, dataset, seed, n_boot)
    scores = router.score(dataset["text"].tolist())
    meta = getattr(router, "meta", {}) or {}
    out = {"features": meta.get("features"), "model": meta.get("model"),
           "threshold": float(router.threshold), "lam": dataset.attrs.get("lam", meta.get("lam")),
           "T": dataset.attrs.get("T", meta.get("T")), "seed": seed,
           **dataset_metrics(scores, dataset, router.threshold, seed, n_boot)}
    per = []
    ds = dataset.reset_index(drop=True)
    if "domain" in ds and ds["domain"].nunique() > 1:
        for dom, idx in sorted(ds.groupby("domain").indices.items()):
            m = dataset_metrics(scores[idx], ds.iloc[idx], router.threshold, seed, n_boot)
            per.append({"domain": str(dom), **domain_row(m)})
    out["per_domain"] = per
    arms = getattr(router, "arms", ["no_think", "think"])
    out["arms"] = list(arms)
    out["arm_eval"] = two_arm_metrics(scores, router.threshold, ds, arms, seed, n_boot) if len(ds) else {}
    return out


def domain_row(m: dict[str, Any]) -> dict[str, Any]:
    """The flat summary of one routing_metrics result (one table row)."""
    r, at = m["router"], m["router"].get("at_threshold", {})
    keys = ("auc", "apgr", "apgr_ci_low", "apgr_ci_high", "apgr_reason", "cpt50", "cpt50_ci_low",
            "cpt50_ci_high", "cpt80", "cpt80_ci_low", "cpt80_ci_high")
    return {"n_items": m["n_items"], **{k: r.get(k, math.nan) for k in keys},
            "think_rate": at.get("think_rate", math.nan), "mean_score": at.get("mean_score", math.nan),
            "mean_score_ci_low": at.get("mean_score_ci_low", math.nan),
            "mean_score_ci_high": at.get("mean_score_ci_high", math.nan),
            "vs_random": at.get("vs_random", math.nan), "vs_random_ci_low": at.get("vs_random_ci_low", math.nan),
            "vs_random_ci_high": at.get("vs_random_ci_high", math.nan),
            "never_mean_score": m["never"]["mean_score"], "always_mean_score": m["always"]["mean_score"],
            "oracle_mean_score": m["oracle"]["mean_score"], "oracle_apgr": m["oracle"]["apgr"],
            "score_spread": m["score_spread"], "roc_auc": m.get("classification", {}).get("roc_auc", math.nan)}
