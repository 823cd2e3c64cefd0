"""How good is a router over many arms? Its accuracy-vs-tokens curve against every fixed
arm, random assignment, and the oracle, on a table of every arm's outcome per item.

- Fixed arms: one point each (mean tokens, mean score).
- Fixed frontier F(t): the best mean score a random mix of fixed arms reaches spending at
  most t tokens on average (upper concave hull of the fixed points, flat after its top;
  below the cheapest arm it is that arm's score, which favours the fixed arms).
- Router curve: the router's (mean tokens, mean score) as the price lam varies at
  decision time (many arms), or as the threshold sweeps (two arms); R(t) is its frontier
  in the same sense (mixing two of the router's policies is a policy).
- At the operating point (the router's own lam or threshold): mean score and tokens,
  the share of each arm, `gain_vs_fixed` = score - F(router tokens) ("the gain over the
  best fixed arm at equal tokens"), `vs_random` = score - random assignment with the
  router's arm shares, `gain_utility_vs_best_fixed` = mean utility - best fixed arm's.
- AUC: the mean of R(t) and of F(t) over t in [cheapest, dearest fixed arm's mean tokens];
  `auc.gain` = mean of R - F. The oracle (per item the arm of the highest true utility,
  ties to the cheaper) gets a point and a curve too.
- CIs: percentile bootstrap (seeded) over items, or whole groups when items share them.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from thinkgate.router.dataset import TIE_TOL, best_index

GRID = 65  # token grid for the AUC
LAMBDA_POINTS = 60  # at most this many prices (or thresholds) on a curve


def frontier(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The best y reachable by mixing points (x, y) with mean x at most `at`.

        >>> frontier(np.array([0., 10, 20]), np.array([.2, .3, .8]), np.array([5., 10, 30]))
        array([0.35, 0.5 , 0.8 ])
    """
    order = np.lexsort((-np.asarray(y, float), np.asarray(x, float)))
    xs, ys = np.asarray(x, float)[order], np.asarray(y, float)[order]
    hull: list[int] = []
    for i in range(len(xs)):
        if hull and xs[hull[-1]] == xs[i]:
            continue  # same x, lower y (sorted)
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (ys[b] - ys[a]) * (xs[i] - xs[a]) <= (ys[i] - ys[a]) * (xs[b] - xs[a]):
                hull.pop()  # b lies on or under the chord a-i
            else:
                break
        hull.append(i)
    hx, hy = xs[hull], ys[hull]
    top = int(np.argmax(hy))
    hx, hy = hx[:top + 1], hy[:top + 1]
    return np.interp(np.asarray(at, float), hx, hy)


def lambda_grid(P: np.ndarray, tokens: np.ndarray, T: float, points: int = LAMBDA_POINTS) -> np.ndarray:
    """Prices at which some item's choice changes (quantiles of them), with 0 and inf."""
    dp = P[:, :, None] - P[:, None, :]
    dt = tokens[:, :, None] - tokens[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        lam = T * dp / dt
    lam = lam[(dp > 0) & (dt > 0) & np.isfinite(lam)]
    mids = np.unique(np.quantile(lam, np.linspace(0, 1, points))) if len(lam) else np.zeros(0)
    return np.r_[0.0, mids * (1 + 1e-9), math.inf]


def _choices(P: np.ndarray, tokens: np.ndarray, lams: np.ndarray, T: float) -> np.ndarray:
    from thinkgate.router.multiarm import utility

    return np.stack([best_index(utility(P, tokens, lam, T)) for lam in lams])


def _weights(n: int, groups: Sequence[Any] | None, n_boot: int, seed: int) -> tuple[np.ndarray, str]:
    from thinkgate.router.evaluate import _boot_weights

    w, method = _boot_weights(n, groups, n_boot, seed) if n_boot > 0 else (np.zeros((0, n)), "")
    return np.vstack([np.ones((1, n)), w]), method  # row 0: the estimate itself


def _ci(values: np.ndarray, name: str, out: dict[str, Any]) -> None:
    boot = values[1:]
    finite = boot[np.isfinite(boot)]
    out[name] = float(values[0])
    if len(boot):
        lo, hi = np.percentile(finite, [2.5, 97.5]) if len(finite) else (math.nan, math.nan)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(lo), float(hi)


def _shares(choice: np.ndarray, arms: list[str]) -> dict[str, float]:
    return {a: float(np.mean(choice == i)) for i, a in enumerate(arms)} if len(choice) else {}


def policy_metrics(op: np.ndarray, curve: np.ndarray, knob: Sequence[float], S: np.ndarray, Tok: np.ndarray,
                   arms: Sequence[str], lam: float, T: float, *, knob_name: str = "lam",
                   groups: Sequence[Any] | None = None, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """Metrics of a router given its arm choice per item at the operating point (`op`,
    indices into `arms`) and along its curve (`curve`, one row of choices per `knob` value)."""
    from thinkgate.router.multiarm import utility

    arms = list(arms)
    n, k = S.shape
    if n == 0:
        return {"arms": arms, "n_items": 0, "reason": "no items"}
    W, method = _weights(n, groups, n_boot, seed)
    tot = W.sum(1)
    mean = lambda M: (W @ M) / tot[:, None]  # noqa: E731  (n, m) -> (B+1, m)
    U = utility(S, Tok, lam, T)
    fixed_s, fixed_t, fixed_u = mean(S), mean(Tok), mean(U)
    rows = np.arange(n)
    oracle = best_index(U)
    pol = np.vstack([op[None], curve, oracle[None], best_index(S)[None]])  # op, curve..., oracle, oracle at lam=0
    ps, pt, pu = (mean(M[rows, pol].T) for M in (S, Tok, U))
    onehot = np.stack([(op == a).astype(float) for a in range(k)], 1)
    share = mean(onehot)  # (B+1, k)
    rand_s, rand_t = (share * fixed_s).sum(1), (share * fixed_t).sum(1)
    L = len(curve)
    # the oracle's own cost curve: its choices over a grid of prices on the true outcomes
    o_lams = lambda_grid(S, Tok, T)
    o_curve = _choices(S, Tok, o_lams, T)
    os_, ot_ = (mean(M[rows, o_curve].T) for M in (S, Tok))

    fx_at, gain_auc, auc_r, auc_f, auc_o = (np.full(len(W), np.nan) for _ in range(5))
    for b in range(len(W)):
        fx_at[b] = frontier(fixed_t[b], fixed_s[b], pt[b, :1])[0]
        lo, hi = fixed_t[b].min(), fixed_t[b].max()
        if hi - lo > 1e-9:
            grid = np.linspace(lo, hi, GRID)
            f = frontier(fixed_t[b], fixed_s[b], grid)
            r = frontier(pt[b, 1:L + 1], ps[b, 1:L + 1], grid)
            o = frontier(ot_[b], os_[b], grid)
            auc_f[b], auc_r[b], auc_o[b] = np.trapezoid(f, grid) / (hi - lo), np.trapezoid(r, grid) / (hi - lo), \
                np.trapezoid(o, grid) / (hi - lo)
            gain_auc[b] = auc_r[b] - auc_f[b]

    out: dict[str, Any] = {"arms": arms, "n_items": int(n), "lam": float(lam), "T": float(T), "knob": knob_name}
    fixed = []
    for a in range(k):
        row = {"arm": arms[a], "mean_tokens": float(fixed_t[0, a]), "mean_utility": float(fixed_u[0, a])}
        _ci(fixed_s[:, a], "mean_score", row)
        fixed.append(row)
    out["fixed"] = fixed
    best_u = int(best_index(fixed_u[:1])[0])
    out["best_fixed_arm"] = arms[best_u]  # by mean utility at lam (ties: the cheaper)
    out["best_fixed_score_arm"] = arms[int(best_index(fixed_s[:1])[0])]
    r: dict[str, Any] = {"arm_shares": _shares(op, arms), "accuracy": float(np.mean(op == oracle)),
                         "leave_cheapest_rate": float(np.mean(op != 0))}
    _ci(ps[:, 0], "mean_score", r)
    _ci(pt[:, 0], "mean_tokens", r)
    _ci(pu[:, 0], "mean_utility", r)
    r["fixed_at_tokens"] = float(fx_at[0])
    _ci(ps[:, 0] - fx_at, "gain_vs_fixed", r)
    r["random_mean_score"], r["random_mean_tokens"] = float(rand_s[0]), float(rand_t[0])
    _ci(ps[:, 0] - rand_s, "vs_random", r)
    _ci(pu[:, 0] - fixed_u[:, best_u], "gain_utility_vs_best_fixed", r)
    out["router"] = r
    out["random"] = {"arm_shares": r["arm_shares"], "mean_score": r["random_mean_score"],
                     "mean_tokens": r["random_mean_tokens"],
                     "note": "each item gets an arm at random with the router's arm shares (expected value)"}
    out["oracle"] = {"mean_score": float(ps[0, -2]), "mean_tokens": float(pt[0, -2]),
                     "mean_utility": float(pu[0, -2]), "arm_shares": _shares(oracle, arms)}
    out["oracle_max_score"] = {"mean_score": float(ps[0, -1]), "mean_tokens": float(pt[0, -1]),
                               "arm_shares": _shares(best_index(S), arms)}
    auc: dict[str, Any] = {"tokens_range": [float(fixed_t[0].min()), float(fixed_t[0].max())],
                           "router": float(auc_r[0]), "fixed": float(auc_f[0]), "oracle": float(auc_o[0])}
    _ci(gain_auc, "gain", auc)
    if not np.isfinite(auc_r[0]):
        auc["reason"] = "every fixed arm spends the same mean tokens: no token range to integrate over"
    out["auc"] = auc
    pts = [{knob_name: (None if not np.isfinite(x) else float(x)), "mean_tokens": float(pt[0, 1 + i]),
            "mean_score": float(ps[0, 1 + i]), "arm_shares": _shares(curve[i], arms)}
           for i, x in enumerate(knob)]
    out["curve"] = sorted(pts, key=lambda p: (p["mean_tokens"], p["mean_score"]))
    out["oracle_curve"] = sorted(({"mean_tokens": float(ot_[0, i]), "mean_score": float(os_[0, i])}
                                  for i in range(len(o_lams))), key=lambda p: p["mean_tokens"])
    if n_boot > 0:
        out["ci_method"] = method
    return out


def arm_metrics(router, dataset: pd.DataFrame, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """policy_metrics of a MultiArmRouter on an arms dataset: its choices at its own lam,
    and its curve as lam varies at decision time."""
    from thinkgate.router.multiarm import arm_matrices, utility

    ds = dataset.reset_index(drop=True)
    arms, S, Tok = arm_matrices(ds, router.arms)
    P, tok = router.predict(ds["text"].tolist()) if len(ds) else (np.zeros((0, len(arms))),) * 2
    lam_r, T = router.lam, router.T
    lam_true = float(ds.attrs.get("lam", lam_r))
    lams = lambda_grid(P, tok, T) if len(ds) else np.zeros(0)
    op = best_index(utility(P, tok, lam_r, T)) if len(ds) else np.zeros(0, int)
    curve = _choices(P, tok, lams, T) if len(ds) else np.zeros((0, 0), int)
    groups = ds["group"] if "group" in ds else None
    return policy_metrics(op, curve, lams, S, Tok, arms, lam_true, T, groups=groups, seed=seed, n_boot=n_boot)


def two_arm_metrics(scores: np.ndarray, threshold: float, ds: pd.DataFrame, arms: Sequence[str],
                    seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """policy_metrics of a two-arm router on a build_dataset table: think iff score >= threshold,
    its curve the threshold sweep."""
    ds = ds.reset_index(drop=True)
    S = np.column_stack([ds["score_no_think"].to_numpy(float), ds["score_think"].to_numpy(float)])
    Tok = np.nan_to_num(np.column_stack([ds["tokens_no_think"].to_numpy(float), ds["tokens_think"].to_numpy(float)]))
    s = np.asarray(scores, float)
    qs = np.unique(np.round(s, 12))
    if len(qs) > LAMBDA_POINTS:
        qs = np.unique(np.quantile(qs, np.linspace(0, 1, LAMBDA_POINTS)))
    thresholds = np.r_[math.inf, qs[::-1]]
    curve = np.stack([(s >= t).astype(int) for t in thresholds]) if len(s) else np.zeros((0, 0), int)
    op = (s >= float(threshold)).astype(int)
    lam, T = float(ds.attrs.get("lam", 0.0)), float(ds.attrs.get("T", 1000.0))
    return policy_metrics(op, curve, thresholds, S, Tok, arms, lam, T, knob_name="threshold",
                          groups=ds["group"] if "group" in ds else None, seed=seed, n_boot=n_boot)


def legacy_view(router, ds: pd.DataFrame, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """The two-arm metrics (never / always / oracle / random / router, AUC, APGR, CPT) of a
    many-arm router seen as "leave the cheapest arm": weak = the cheapest arm, strong =
    per item the arm the router would pick among the others, score = router.score."""
    from thinkgate.router.evaluate import routing_metrics
    from thinkgate.router.multiarm import arm_matrices, utility

    ds = ds.reset_index(drop=True)
    arms, S, Tok = arm_matrices(ds, router.arms)
    P, tok = router.predict(ds["text"].tolist())
    u = utility(P, tok, router.lam, router.T)
    up = 1 + best_index(u[:, 1:])
    rows = np.arange(len(ds))
    lam = float(ds.attrs.get("lam", router.lam))
    st, tt = S[rows, up], Tok[rows, up]
    utility_gain = (st - lam * tt / router.T) - (S[:, 0] - lam * Tok[:, 0] / router.T)
    score = u[:, 1:].max(axis=1) - u[:, 0]
    out = routing_metrics(score, st, S[:, 0], tokens_think=tt, tokens_no_think=Tok[:, 0], utility=utility_gain,
                          threshold=float(np.nextafter(router.threshold + TIE_TOL, math.inf)),
                          groups=ds["group"] if "group" in ds else None, seed=seed, n_boot=n_boot)
    out["legacy_view"] = (f"two-arm view: no-think = {arms[0]} (the cheapest arm), think = the arm the router "
                          "would pick among the others; read arm_eval for the many-arm evaluation")
    return out


def arm_row(ev: dict[str, Any]) -> dict[str, Any]:
    """The flat summary of one policy_metrics result (a table row), with the two-arm
    row's keys (think rate = share leaving the cheapest arm; never / always = the cheapest
    / dearest arm) so a two-arm table can show it."""
    if not ev.get("n_items"):
        return {"n_items": 0}
    r, fixed = ev["router"], ev["fixed"]
    keys = ("mean_score", "mean_score_ci_low", "mean_score_ci_high", "mean_tokens", "gain_vs_fixed",
            "gain_vs_fixed_ci_low", "gain_vs_fixed_ci_high", "vs_random", "vs_random_ci_low", "vs_random_ci_high",
            "gain_utility_vs_best_fixed", "gain_utility_vs_best_fixed_ci_low", "gain_utility_vs_best_fixed_ci_high",
            "fixed_at_tokens", "accuracy", "arm_shares")
    return {"n_items": ev["n_items"], **{k: r.get(k, math.nan) for k in keys},
            "auc_gain": ev["auc"].get("gain", math.nan), "auc_gain_ci_low": ev["auc"].get("gain_ci_low", math.nan),
            "auc_gain_ci_high": ev["auc"].get("gain_ci_high", math.nan),
            "think_rate": r["leave_cheapest_rate"], "never_mean_score": fixed[0]["mean_score"],
            "always_mean_score": fixed[-1]["mean_score"], "oracle_mean_score": ev["oracle"]["mean_score"],
            "best_fixed_arm": ev["best_fixed_arm"], "apgr": math.nan, "apgr_ci_low": math.nan,
            "apgr_ci_high": math.nan, "apgr_reason": "many arms: read gain_vs_fixed (the gain over the best "
            "fixed arms at equal tokens)", "oracle_apgr": math.nan}


def evaluate_arms(router, dataset: pd.DataFrame, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """evaluate_router for a MultiArmRouter: the two-arm view's keys (so a report made for
    two arms still reads it), `arms`, and `arm_eval` (overall, with per_domain rows)."""
    meta = router.meta or {}
    ds = dataset.reset_index(drop=True)
    ds.attrs = dict(dataset.attrs)
    out = {"features": meta.get("features"), "model": meta.get("model"), "threshold": float(router.threshold),
           "lam": ds.attrs.get("lam", meta.get("lam")), "T": ds.attrs.get("T", meta.get("T")), "seed": seed,
           "kind": "multiarm", "arms": router.arms, **legacy_view(router, ds, seed, n_boot)}
    ev = arm_metrics(router, ds, seed, n_boot)
    per = []
    if "domain" in ds and ds["domain"].nunique() > 1:
        for dom, idx in sorted(ds.groupby("domain").indices.items()):
            sub = ds.iloc[idx].reset_index(drop=True)
            sub.attrs = dict(ds.attrs)
            row = {"domain": str(dom), **arm_row(arm_metrics(router, sub, seed, n_boot))}
            per.append(row)
    ev["per_domain"] = per
    out["arm_eval"] = ev
    out["per_domain"] = per
    return out
