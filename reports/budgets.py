"""How much thinking pays: thinking budgets and inference-time scaling (DESIGN.md, "Budgets").

Pure functions of the items table. Arms are `mode` values: no_think, think, default,
budget:N and budget:N+wait:M. Columns used: suite, domain, verifiable, group, item_id,
mode, sample, status, finish_reason, think_state, reasoning_tokens, answer_tokens, score,
and, when present, passed, extracted, leaked_think, budget, budget_mechanism, budget_held,
closed_by (each optional: without it the audit derives what it can and says so).

- audit: per suite x arm, thinking tokens (mean, p90), budget held, closed by the model /
  forced / cut, no_think leaks, think skipped; an arm whose budget held in fewer than
  HOLD_MIN of its generations is flagged and left out of every curve's AUC.
- censoring: accuracy on all items (truncated = wrong), on completed generations only, the
  share cut by max_tokens, and the bounds with every truncated generation wrong / right.
- curves: score against mean thinking tokens per suite and per domain, one point per arm
  (stats.mean_ci), and the AUC; gains: the gain per 1k thinking tokens over no_think.
- smallest budget per item; maj@k of no_think at matched compute (reports/majority.py);
  spontaneous thinking of `default` (reports/spontaneous.py).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from thinkgate.reports.stats import adjust_pvalues, mean_ci, paired_difference

GENERATED = ("stop", "length")  # finish reasons of a generation that exists
TOL_ABS, TOL_FRAC = 8, 0.05  # a budget holds when thinking <= N + max(TOL_ABS, TOL_FRAC * N) tokens
HOLD_MIN = 0.99  # an arm is flagged when its budget held in fewer of its generations than this
LARGE_CUT = 0.05  # truncation this common gets its best/worst-case bounds stated in the report
SOLVED_AT = 0.5  # an item is solved by an arm when its mean score over the K samples is >= this
TOLERANCE = (f"thinking <= N + max({TOL_ABS}, {TOL_FRAC:.0%} of N) tokens (the reasoning is counted by "
             "re-tokenising the text, which can differ from the engine's count by a few tokens); the "
             "generation's own `budget_held` is used where recorded")
_BUDGET = re.compile(r"budget:(\d+)(?:\+wait:(\d+))?")


def parse_arm(mode: str) -> tuple[int | None, int]:
    """(N, M) of a budget arm, (None, 0) otherwise: parse_arm("budget:128+wait:2") -> (128, 2)."""
    m = _BUDGET.fullmatch(str(mode))
    return (int(m.group(1)), int(m.group(2) or 0)) if m else (None, 0)


def is_budget(mode: str) -> bool:
    return parse_arm(mode)[0] is not None


def arm_order(mode: str) -> tuple[int, float, int, str]:
    """Sort key: no_think, budgets by N (then waits), think; then default and anything else.

        >>> sorted(["think", "budget:96", "default", "no_think", "budget:32"], key=arm_order)
        ['no_think', 'budget:32', 'budget:96', 'think', 'default']
    """
    n, m = parse_arm(mode)
    if mode == "no_think":
        return 0, -1.0, 0, mode
    if n is not None:
        return 0, float(n), m, mode
    return (0 if mode == "think" else 1), math.inf, 0, mode


def reasoning_present(rows: pd.DataFrame) -> pd.Series:
    """A generation thinks when its think block is closed or unclosed and holds reasoning."""
    block = rows["think_state"].isin(["closed", "unclosed"])
    if "reasoning_tokens" in rows:
        block &= rows["reasoning_tokens"].fillna(1) > 0
    return block


def _budget_of(rows: pd.DataFrame, mode: str) -> pd.Series:
    n = parse_arm(mode)[0]
    if "budget" in rows:
        return pd.to_numeric(rows["budget"], errors="coerce").fillna(np.nan if n is None else n)
    return pd.Series(np.nan if n is None else float(n), index=rows.index)


def budget_held(rows: pd.DataFrame, mode: str) -> tuple[pd.Series, str]:
    """Per generation of a budget arm: did the budget hold (see TOLERANCE), and where that
    came from ("recorded" | "tokens" | "recorded + tokens")."""
    n = _budget_of(rows, mode)
    tokens = rows["reasoning_tokens"].astype(float) <= n + np.maximum(TOL_ABS, TOL_FRAC * n)
    if "budget_held" not in rows or rows["budget_held"].isna().all():
        return tokens, "tokens"
    rec = rows["budget_held"]
    held = rec.where(rec.notna(), tokens).astype(bool)
    return held, "recorded" if rec.notna().all() else "recorded + tokens"


def closed_by(rows: pd.DataFrame) -> tuple[pd.Series, str]:
    """Per generation: "model" | "forced" | "cut" | None (no think block). Without a
    recorded `closed_by` it is derived: closed -> model, unclosed -> cut."""
    derived = rows["think_state"].map({"closed": "model", "unclosed": "cut"})
    if "closed_by" not in rows or rows["closed_by"].isna().all():
        return derived, "derived from think_state (forced closes not told apart)"
    rec = rows["closed_by"]
    return rec.where(rec.notna(), derived), "recorded" if rec.notna().all() else "recorded + derived"


def _nan_mean(x: pd.Series) -> float:
    return float(x.mean()) if len(x) else math.nan


def audit(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Compliance per suite x arm, over the generations that exist."""
    rows = []
    for (suite, mode), g in df.groupby(["suite", "mode"], sort=True):
        gen = g[g["finish_reason"].isin(GENERATED)]
        tok = gen["reasoning_tokens"].astype(float).dropna()
        budget, waits = parse_arm(mode)
        thinks = reasoning_present(gen)
        by, by_source = closed_by(gen)
        r: dict[str, Any] = {
            "suite": suite, "domain": g["domain"].iat[0], "mode": mode, "budget": budget, "waits": waits,
            "mechanism": ", ".join(sorted(str(v) for v in gen["budget_mechanism"].dropna().unique()))
            if "budget_mechanism" in gen else "", "n_generations": int(len(gen)),
            "thinking_tokens_mean": _nan_mean(tok),
            "thinking_tokens_p90": float(np.percentile(tok, 90)) if len(tok) else math.nan,
            "closed_by_model": _nan_mean(by == "model"), "closed_by_forced": _nan_mean(by == "forced"),
            "closed_by_cut": _nan_mean(by == "cut"), "closed_by_source": by_source,
            "leak_rate": math.nan, "think_skipped_rate": math.nan, "budget_held_rate": math.nan,
            "held_source": "", "flagged": False, "flag_reason": ""}
        if mode == "no_think":
            leak = thinks | (gen["leaked_think"].fillna(False).astype(bool) if "leaked_think" in gen else False)
            r["leak_rate"] = _nan_mean(leak)
        elif mode != "default":  # think and budget arms are asked to think; default may not
            r["think_skipped_rate"] = _nan_mean(~thinks)
        if budget is not None and len(gen):
            held, r["held_source"] = budget_held(gen, mode)
            r["budget_held_rate"] = _nan_mean(held)
            if r["budget_held_rate"] < HOLD_MIN:
                r["flagged"] = True
                r["flag_reason"] = (f"budget held in {100 * r['budget_held_rate']:.1f}% of generations "
                                    f"(< {HOLD_MIN:.0%}); its points are marked and left out of the AUC")
        rows.append(r)
    return rows


def _k1_binary(scores: np.ndarray, k: np.ndarray) -> bool:
    return bool(len(k) and (k == 1).all() and np.isin(scores, (0.0, 1.0)).all())


def _clusters(groups: Sequence[Any]) -> list | None:
    """Cluster labels when items really share clusters (fewer clusters than items, at least 2)."""
    g = [str(v) for v in groups]
    return g if 2 <= len(set(g)) < len(g) else None


def _ci(scores: np.ndarray, k: np.ndarray, groups: Sequence[Any], seed: int) -> dict[str, Any]:
    e = mean_ci(scores, binary_k1=_k1_binary(scores, k), bounds=(0.0, 1.0), method="auto",
                groups=_clusters(groups), seed=seed)
    return {"n_items": e.n, "mean": e.mean, "ci_low": e.ci_low, "ci_high": e.ci_high, "ci_method": e.method}


def _item_scores(rows: pd.DataFrame, fill: float | None = None) -> pd.DataFrame:
    """Item means of scored rows (status ok); `fill` replaces the score of truncated ones."""
    ok = rows[rows["status"] == "ok"]
    score = ok["score"].astype(float)
    if fill is not None:
        score = score.where(ok["finish_reason"] != "length", fill)
    return (ok.assign(score=score, group=ok["group"] if "group" in ok else ok["item_id"])
              .groupby("item_id").agg(score=("score", "mean"), k=("score", "size"), group=("group", "first")))


def censoring(df: pd.DataFrame, seed: int = 0, flagged: dict[tuple[str, str], bool] | None = None
              ) -> list[dict[str, Any]]:
    """Truncation as censoring per suite x arm: all items (every generation as scored: a
    truncated one scores what its cut answer earns, usually 0), completed generations only,
    the share cut, and the worst/best case (every truncated generation 0 / 1)."""
    out, flagged = [], flagged or {}
    for (suite, mode), g in df.groupby(["suite", "mode"], sort=True):
        gen = g[g["finish_reason"].isin(GENERATED)]
        every, done = _item_scores(g), _item_scores(g[g["finish_reason"] != "length"])
        worst, best = _item_scores(g, 0.0)["score"].mean(), _item_scores(g, 1.0)["score"].mean()
        cut = _nan_mean(gen["finish_reason"] == "length")
        a = _ci(every["score"].to_numpy(), every["k"].to_numpy(), every["group"], seed)
        c = _ci(done["score"].to_numpy(), done["k"].to_numpy(), done["group"], seed)
        out.append({"suite": suite, "domain": g["domain"].iat[0], "mode": mode, "share_cut": cut,
                    "n_items": a["n_items"], "accuracy_all": a["mean"], "all_ci_low": a["ci_low"],
                    "all_ci_high": a["ci_high"], "n_items_completed": c["n_items"],
                    "accuracy_completed": c["mean"], "completed_ci_low": c["ci_low"],
                    "completed_ci_high": c["ci_high"], "worst_case": float(worst), "best_case": float(best),
                    "large": bool(cut >= LARGE_CUT), "flagged": flagged.get((suite, mode), False)})
    return out


def item_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per suite x arm x item: key (suite::item_id), domain, verifiable, group,
    score (mean over scored samples), k, tokens (mean reasoning tokens), total (reasoning
    + answer tokens), held (every sample of a budget arm held; True for other arms)."""
    gen = df[df["finish_reason"].isin(GENERATED)].copy()
    gen["total"] = gen["reasoning_tokens"].astype(float) + gen["answer_tokens"].fillna(0).astype(float)
    gen["held"] = True
    for mode in [m for m in gen["mode"].unique() if is_budget(m)]:
        at = gen["mode"] == mode
        gen.loc[at, "held"] = budget_held(gen[at], mode)[0].to_numpy()
    if "group" not in gen:
        gen["group"] = gen["item_id"]
    keys = ["suite", "mode", "item_id"]
    tok = gen.groupby(keys).agg(domain=("domain", "first"), verifiable=("verifiable", "first"),
                                group=("group", "first"), tokens=("reasoning_tokens", "mean"),
                                total=("total", "mean"), held=("held", "all"))
    ok = gen[gen["status"] == "ok"]
    sc = ok.groupby(keys).agg(score=("score", "mean"), k=("score", "size"))
    t = tok.join(sc, how="left").reset_index()
    t["key"] = t["suite"] + "::" + t["item_id"].astype(str)
    t["group"] = t["suite"] + "::" + t["group"].fillna("").astype(str)
    t["verifiable"] = t["verifiable"].astype(bool)
    return t


def auc(tokens: Sequence[float], scores: Sequence[float]) -> tuple[float, float, float]:
    """(normalised AUC, lowest, highest tokens): the trapezoid area under score against
    mean thinking tokens, over the arms sorted by tokens, divided by the token range, so it
    is the curve's mean score over the range (in the score's units). NaN below two arms
    or with no range.

        >>> auc([0, 100, 300], [0.2, 0.5, 0.6])[0]  # (100 * 0.35 + 200 * 0.55) / 300
        0.48333333333333334
    """
    x, y = np.asarray(tokens, dtype=float), np.asarray(scores, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan, (float(x.min()) if len(x) else math.nan), (float(x.max()) if len(x) else math.nan)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0])), float(x[0]), float(x[-1])


def in_auc(mode: str, flagged: bool) -> bool:
    """The AUC's arms: no_think, held budget:N without waits (s1 forcing is another curve), think."""
    n, m = parse_arm(mode)
    return mode in ("no_think", "think") or (n is not None and m == 0 and not flagged)


def curves(items: pd.DataFrame, flagged: dict[tuple[str, str], bool], seed: int = 0) -> list[dict[str, Any]]:
    """Per suite and per domain: one point per arm (mean thinking tokens, score with CI) and the AUC."""
    out = []
    for level, col in (("suite", "suite"), ("domain", "domain")):
        for name, g in items.groupby(col, sort=True):
            points = []
            for mode in sorted(g["mode"].unique(), key=arm_order):
                a = g[(g["mode"] == mode) & g["score"].notna()]
                if a.empty:
                    continue
                flag = any(flagged.get((s, mode), False) for s in a["suite"].unique())
                points.append({"mode": mode, "budget": parse_arm(mode)[0], "tokens": float(a["tokens"].mean()),
                               **_ci(a["score"].to_numpy(), a["k"].to_numpy(), a["group"], seed),
                               "flagged": flag, "in_auc": in_auc(mode, flag)})
            used = [p for p in points if p["in_auc"]]
            area, lo, hi = auc([p["tokens"] for p in used], [p["mean"] for p in used])
            out.append({"level": level, "name": name, "verifiable": bool(g["verifiable"].iat[0]), "points": points,
                        "auc": area, "auc_arms": [p["mode"] for p in used], "tokens_low": lo, "tokens_high": hi})
    return out


def _ratio_ci(sa: np.ndarray, sb: np.ndarray, ta: np.ndarray, tb: np.ndarray, seed: int,
              n_resamples: int = 2000) -> tuple[float, float, str]:
    """Paired bootstrap (items resampled, all four columns together) of
    1000 * (mean sa - mean sb) / (mean ta - mean tb): BCa, else percentile."""
    def stat(sa, sb, ta, tb, axis=-1):
        dt = ta.mean(axis=axis) - tb.mean(axis=axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(dt != 0, 1000 * (sa.mean(axis=axis) - sb.mean(axis=axis)) / dt, np.nan)

    if len(sa) < 3:
        return math.nan, math.nan, "none (fewer than 3 items)"
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((sa, sb, ta, tb), stat, paired=True, vectorized=True, n_resamples=n_resamples,
                                  method=method, random_state=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isnan(lo) or math.isnan(hi)):
            return lo, hi, f"paired bootstrap {method}"
    return math.nan, math.nan, "none (bootstrap not computable: thinking tokens do not vary)"


def gains(items: pd.DataFrame, flagged: dict[tuple[str, str], bool], seed: int = 0) -> list[dict[str, Any]]:
    """Per suite (and per domain with several suites), each thinking arm against no_think on
    the same items: the score difference (stats.paired_difference: CI and p) and the gain
    per 1k thinking tokens with a paired bootstrap CI."""
    out = []
    multi = items.groupby("domain")["suite"].nunique()
    for level, col in (("suite", "suite"), ("domain", "domain")):
        for name, g in items.groupby(col, sort=True):
            if level == "domain" and multi[name] < 2:
                continue
            wide = g[g["score"].notna()].pivot(index="key", columns="mode", values=["score", "tokens", "k"])
            if "no_think" not in wide["score"]:
                continue
            for mode in sorted((m for m in wide["score"] if m not in ("no_think", "default")), key=arm_order):
                both = wide.loc[wide["score"][[mode, "no_think"]].notna().all(axis=1)]
                if both.empty:
                    continue
                sa, sb = both["score"][mode].to_numpy(float), both["score"]["no_think"].to_numpy(float)
                ta, tb = both["tokens"][mode].to_numpy(float), both["tokens"]["no_think"].to_numpy(float)
                k1 = bool((both["k"][[mode, "no_think"]] == 1).all().all())
                groups = g[g["mode"] == mode].set_index("key")["group"].reindex(both.index)
                p = paired_difference(sa, sb, binary_k1=k1, seed=seed, ci_method="auto",
                                      groups=_clusters(groups))
                dt = float(ta.mean() - tb.mean())
                lo, hi, how = _ratio_ci(sa, sb, ta, tb, seed)
                out.append({"level": level, "name": name, "a": mode, "b": "no_think", "n_items": p.n,
                            "mean_a": p.mean_a, "mean_b": p.mean_b, "diff": p.diff,
                            "ci_low": max(p.ci_low, -1.0), "ci_high": min(p.ci_high, 1.0), "ci_method": p.ci_method,
                            "p_value": p.p_value, "test": p.test, "delta_tokens": dt,
                            "gain_per_1k": 1000 * p.diff / dt if dt else math.nan,
                            "gain_ci_low": lo, "gain_ci_high": hi, "gain_ci_method": how,
                            "flagged": any(flagged.get((s, mode), False) for s in g["suite"].unique())})
    return out


def smallest_budget(items: pd.DataFrame) -> list[dict[str, Any]]:
    """Per item: the cheapest arm that solves it (mean score >= SOLVED_AT, and for a budget
    arm every sample held its budget), in arm_order: no_think counts as budget 0, think as
    no budget (None). Default and +wait arms are left out (not a budget of N alone)."""
    arms = sorted((m for m in items["mode"].unique()
                   if m in ("no_think", "think") or (is_budget(m) and parse_arm(m)[1] == 0)), key=arm_order)
    out = []
    for (suite, item), g in items[items["mode"].isin(arms)].groupby(["suite", "item_id"], sort=True):
        by = g.set_index("mode")
        solved = [m for m in arms if m in by.index and by.at[m, "score"] >= SOLVED_AT and bool(by.at[m, "held"])]
        first = solved[0] if solved else None
        out.append({"suite": suite, "item_id": item, "domain": g["domain"].iat[0], "smallest_arm": first,
                    "smallest_budget": 0 if first == "no_think" else parse_arm(first)[0] if first else None,
                    "solved_by": solved, "arms_tried": [m for m in arms if m in by.index]})
    return out


def smallest_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per suite: how many items each arm is the cheapest solver of, and how many none solves."""
    out = []
    for suite in sorted({r["suite"] for r in rows}):
        mine = [r for r in rows if r["suite"] == suite]
        arms = [r["smallest_arm"] or "unsolved" for r in mine]
        counts = {a: arms.count(a) for a in sorted(set(arms) - {"unsolved"}, key=arm_order)}
        if "unsolved" in arms:
            counts["unsolved"] = arms.count("unsolved")
        out.append({"suite": suite, "n_items": len(mine), "counts": counts})
    return out


def adjust_jointly(paired: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """Holm and BH over the existing paired comparisons and the new ones together (in place).
    A new row that repeats a paired one (suite think - no_think) takes that row's p values."""
    family = paired + [r for r in new if not r.get("repeats_paired")]
    holm, bh = adjust_pvalues([r["p_value"] for r in family])
    for r, h, b in zip(family, holm, bh):
        r["p_holm"], r["p_bh"] = float(h), float(b)
    for r in new:
        if r.get("repeats_paired"):
            twin = next((p for p in paired if p["suite"] == r["name"] and p["a"] == r["a"] and p["b"] == r["b"]), {})
            r["p_holm"], r["p_bh"] = twin.get("p_holm", math.nan), twin.get("p_bh", math.nan)


def budget_estimates(df: pd.DataFrame, paired: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """{"budgets": ..., "spontaneous": ...} for estimates.json; each {} when its arms are
    absent (no budget:N arm; no default arm). Re-adjusts `paired`'s p_holm / p_bh (in place)
    over the new comparisons too, so every comparison in the report is one family."""
    from thinkgate.reports.majority import matched_majority
    from thinkgate.reports.spontaneous import spontaneous

    if df.empty:
        return {"budgets": {}, "spontaneous": {}}
    spont = spontaneous(df, seed) if (df["mode"] == "default").any() else {}
    new = list(spont.get("pays", []))
    budgets: dict[str, Any] = {}
    if any(is_budget(m) for m in df["mode"].unique()):
        aud = audit(df)
        flagged = {(r["suite"], r["mode"]): r["flagged"] for r in aud}
        items = item_table(df)
        gain_rows = gains(items, flagged, seed)
        for r in gain_rows:
            r["repeats_paired"] = r["level"] == "suite" and r["a"] == "think"
        small = smallest_budget(items)
        budgets = {"tolerance": TOLERANCE, "tolerance_tokens": {"abs": TOL_ABS, "frac": TOL_FRAC},
                   "hold_min": HOLD_MIN, "large_cut": LARGE_CUT, "solved_at": SOLVED_AT,
                   "arms": sorted((m for m in df["mode"].unique()), key=arm_order),
                   "flagged": [f"{s}/{m}" for (s, m), f in flagged.items() if f],
                   "audit": aud, "censoring": censoring(df, seed, flagged), "curves": curves(items, flagged, seed),
                   "gains": gain_rows, "matched_majority": matched_majority(df, items, flagged, seed),
                   "smallest_budget": small, "smallest_budget_summary": smallest_summary(small)}
        new += gain_rows + [r for r in budgets["matched_majority"] if "p_value" in r]
    if new:
        adjust_jointly(paired, new)
    return {"budgets": budgets, "spontaneous": spont}
