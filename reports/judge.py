"""Judge estimates: a pure function of a judgments table (one row per pair x order).

Columns used: suite, domain, item_id, sample, order (think_first | no_think_first),
verdict (A | B | T | invalid), winner (think | no_think | tie | invalid).
A pair's outcome for think is 1 (win), 0.5 (tie) or 0 (loss); outcomes are averaged over
orders and samples into one value per item, and the CI is over items.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from thinkgate.reports.stats import mean_ci

_OUTCOME = {"think": 1.0, "tie": 0.5, "no_think": 0.0}


def judge_estimates(j: pd.DataFrame) -> list[dict[str, Any]]:
    if j is None or j.empty:
        return []
    out = []
    for suite, g in j.groupby("suite", sort=True):
        valid = g[g["winner"].isin(list(_OUTCOME))].assign(outcome=lambda d: d["winner"].map(_OUTCOME))
        per_item = valid.groupby("item_id")["outcome"].mean()
        est = mean_ci(per_item.to_numpy())
        both = g.pivot_table(index=["item_id", "sample"], columns="order", values="winner", aggfunc="first")
        agree = None
        if {"think_first", "no_think_first"} <= set(both.columns):
            pair = both.dropna()
            pair = pair[(pair != "invalid").all(axis=1)]
            agree = float((pair["think_first"] == pair["no_think_first"]).mean()) if len(pair) else None
        out.append({"suite": suite, "domain": g["domain"].iat[0], "n_items": est.n,
                    "n_verdicts": int(len(g)), "think_win_rate": est.mean, "ci_low": est.ci_low,
                    "ci_high": est.ci_high, "order_agreement": agree,
                    "first_position_rate": float((g["verdict"] == "A").mean()),
                    "invalid_rate": float((g["winner"] == "invalid").mean()),
                    "judge_model": ", ".join(sorted(g["judge_model"].unique()))})
    return out
