"""Several runs on the same items (checkpoint A vs B): paired differences per suite x mode.

A pure function of items tables, one per run. Items are paired by (suite, item_id); only
items scored in both runs count, and the report says how many that is.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from thinkgate.reports.estimates import item_means
from thinkgate.reports.stats import paired_difference


def compare_runs(runs: dict[str, pd.DataFrame], seed: int = 0) -> list[dict[str, Any]]:
    """Each run against the first (the baseline): other − baseline per suite and mode."""
    names = list(runs)
    if len(names) < 2:
        return []
    base_name, base = names[0], item_means(runs[names[0]])
    out = []
    for name in names[1:]:
        other = item_means(runs[name])
        both = base.merge(other, on=["suite", "mode", "item_id"], suffixes=("_base", "_other"))
        for (suite, mode), g in both.groupby(["suite", "mode"], sort=True):
            binary = bool(g["score_base"].isin([0, 1]).all() and g["score_other"].isin([0, 1]).all())
            k1 = bool((g["k_base"] == 1).all() and (g["k_other"] == 1).all())
            p = paired_difference(g["score_other"].to_numpy(), g["score_base"].to_numpy(),
                                  binary_k1=binary and k1, seed=seed)
            out.append({"baseline": base_name, "run": name, "suite": suite, "mode": mode,
                        "n_items": p.n, "mean_baseline": p.mean_b, "mean_run": p.mean_a, "diff": p.diff,
                        "ci_low": max(p.ci_low, -1.0), "ci_high": min(p.ci_high, 1.0),
                        "p_value": p.p_value, "test": p.test})
    return out
