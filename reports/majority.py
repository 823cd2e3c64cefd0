"""Majority vote at matched compute: is a budget worth more than voting without thinking?

For a thinking arm (budget:N, think) of a suite, k = round(T_arm / T_no_think), where T is
the mean generated tokens (reasoning + answer) per generation; maj@k of no_think then
spends about the arm's compute. maj@k of an item votes over its first k no_think samples
(by sample index; stats.majority_correct). Compared paired with the arm's item means
(stats.paired_difference: exact McNemar for binary K=1, else sign-flip; CI t or BCa).
Needs pass/fail scores with extracted answers and K > 1 no_think samples; otherwise the
row carries a note saying why it is n/a.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from thinkgate.reports.budgets import arm_order, is_budget
from thinkgate.reports.stats import majority_correct, paired_difference


def _maj_at(rows: pd.DataFrame, k: int) -> pd.Series:
    """maj@k per item over its first k samples."""
    def one(g: pd.DataFrame) -> float:
        g = g.sort_values("sample").head(k)
        return majority_correct(g["extracted"].where(g["extracted"].notna(), None).tolist(),
                                g["passed"].astype(bool).tolist())

    return pd.Series({item: one(g) for item, g in rows.groupby("item_id", sort=True)}, dtype=float)


def _why_not(g: pd.DataFrame, nt: pd.DataFrame) -> tuple[str, int]:
    if "extracted" not in g or "passed" not in g or nt["passed"].isna().any() or nt["extracted"].isna().all():
        return "n/a: maj@k needs a pass/fail scorer with extracted answers", 0
    k0 = int(nt.groupby("item_id").size().min())
    if k0 < 2:
        return f"n/a: no_think has K={k0} sample per item; maj@k needs K > 1 (run with more samples)", k0
    return "", k0


def matched_majority(df: pd.DataFrame, items: pd.DataFrame, flagged: dict[tuple[str, str], bool],
                     seed: int = 0) -> list[dict[str, Any]]:
    """One row per suite x thinking arm: k, tokens, arm vs maj@k of no_think (or a note)."""
    out = []
    for suite, g in df.groupby("suite", sort=True):
        nt = g[(g["mode"] == "no_think") & (g["status"] == "ok")]
        arms = sorted((m for m in g["mode"].unique() if is_budget(m) or m == "think"), key=arm_order)
        if nt.empty or not arms:
            continue
        note, k0 = _why_not(g, nt)
        it = items[items["suite"] == suite]
        t0 = float(it.loc[it["mode"] == "no_think", "total"].mean())
        for mode in arms:
            arm = it[(it["mode"] == mode) & it["score"].notna()].set_index("item_id")
            ta = float(arm["total"].mean()) if len(arm) else math.nan
            k = max(1, round(ta / t0)) if t0 > 0 and not math.isnan(ta) else None
            row: dict[str, Any] = {"suite": suite, "domain": g["domain"].iat[0], "a": mode, "b": "no_think maj@k",
                                   "k": k, "k_available": k0, "tokens_arm": ta, "tokens_no_think": t0,
                                   "tokens_matched": k * t0 if k else math.nan,
                                   "flagged": flagged.get((suite, mode), False), "note": note}
            if not note and k is None:
                row["note"] = "n/a: no_think generated no tokens to match"
            elif not note and k > k0:
                row["note"] = f"n/a: matching needs k={k} no_think samples per item; the run has {k0}"
            if row["note"]:
                out.append(row)
                continue
            maj = _maj_at(nt, k)
            both = arm.join(maj.rename("maj"), how="inner")
            k1 = bool((both["k"] == 1).all() and both["score"].isin((0.0, 1.0)).all())
            p = paired_difference(both["score"].to_numpy(float), both["maj"].to_numpy(float), binary_k1=k1,
                                  seed=seed, ci_method="auto")
            row.update({"n_items": p.n, "mean_a": p.mean_a, "mean_b": p.mean_b, "diff": p.diff,
                        "ci_low": max(p.ci_low, -1.0), "ci_high": min(p.ci_high, 1.0), "ci_method": p.ci_method,
                        "p_value": p.p_value, "test": p.test})
            out.append(row)
    return out
