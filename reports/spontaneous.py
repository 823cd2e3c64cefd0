"""Spontaneous thinking: left to itself (`default` mode), where does the model think?

A generation thinks when its think block is closed or unclosed and holds reasoning
(budgets.reasoning_present). Per item, the share of its K default samples that think;
then

- per domain: the mean share with a CI (stats.mean_ci; clustered by group, Miller 2024,
  where items of a domain share a source);
- verifiable vs non-verifiable: the mean of the verifiable domains' shares, of the others',
  and their difference (transfer.transfer_gap: stratified bootstrap over items within
  domains);
- does it pay where it happens: on items where default thought in at least one sample,
  the mean score of those thinking samples minus the item's no_think mean, paired
  (stats.paired_difference). These items are the model's own choice, so this is the
  gain where the model chose to think, not the gain thinking would give everywhere.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from thinkgate.reports.budgets import GENERATED, _ci, _clusters, reasoning_present
from thinkgate.reports.stats import paired_difference
from thinkgate.reports.transfer import transfer_gap


def _shares(df: pd.DataFrame) -> pd.DataFrame:
    """Per default item: key, domain, verifiable, group, share thinking, k generations."""
    d = df[(df["mode"] == "default") & df["finish_reason"].isin(GENERATED)]
    d = d.assign(thinks=reasoning_present(d).astype(float),
                 key=d["suite"] + "::" + d["item_id"].astype(str),
                 grp=d["suite"] + "::" + (d["group"] if "group" in d else d["item_id"]).fillna("").astype(str))
    return (d.groupby("key", sort=True)
             .agg(domain=("domain", "first"), verifiable=("verifiable", "first"), group=("grp", "first"),
                  share=("thinks", "mean"), k=("thinks", "size")).reset_index())


def _est(e: Any) -> dict[str, Any]:
    return {"n": e.n, "diff": e.mean, "se": e.se, "ci_low": e.ci_low, "ci_high": e.ci_high, "method": e.method}


def _pays(df: pd.DataFrame, seed: int) -> list[dict[str, Any]]:
    ok = df[(df["status"] == "ok") & df["mode"].isin(["default", "no_think"])]
    ok = ok.assign(key=ok["suite"] + "::" + ok["item_id"].astype(str),
                   grp=ok["suite"] + "::" + (ok["group"] if "group" in ok else ok["item_id"]).fillna("").astype(str))
    think = ok[(ok["mode"] == "default") & reasoning_present(ok)]
    a = think.groupby("key").agg(score=("score", "mean"), k=("score", "size"), domain=("domain", "first"),
                                 group=("grp", "first"))
    b = ok[ok["mode"] == "no_think"].groupby("key").agg(score=("score", "mean"), k=("score", "size"))
    both = a.join(b.add_suffix("_nt"), how="inner")
    out = []
    for dom, g in both.groupby("domain", sort=True):
        sa, sb = g["score"].to_numpy(float), g["score_nt"].to_numpy(float)
        k1 = bool((g["k"] == 1).all() and (g["k_nt"] == 1).all())
        p = paired_difference(sa, sb, binary_k1=k1, seed=seed, ci_method="auto", groups=_clusters(g["group"]))
        out.append({"domain": dom, "a": "default (thinking)", "b": "no_think", "n_items": p.n, "mean_a": p.mean_a,
                    "mean_b": p.mean_b, "diff": p.diff, "ci_low": max(p.ci_low, -1.0), "ci_high": min(p.ci_high, 1.0),
                    "ci_method": p.ci_method, "p_value": p.p_value, "test": p.test})
    return out


def spontaneous(df: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """{"domains": [...], "contrast": {...} (both groups present), "pays": [...]}."""
    s = _shares(df)
    if s.empty:
        return {}
    domains = []
    for dom, g in s.groupby("domain", sort=True):
        e = _ci(g["share"].to_numpy(float), g["k"].to_numpy(), g["group"], seed)
        domains.append({"domain": dom, "verifiable": bool(g["verifiable"].iat[0]), "n_generations": int(g["k"].sum()),
                        "share": e.pop("mean"), **e, "clustered": _clusters(g["group"]) is not None})
    out: dict[str, Any] = {"domains": domains, "pays": _pays(df, seed)}
    if s["verifiable"].nunique() == 2:
        gap = transfer_gap(s.rename(columns={"key": "item_id", "share": "d"})[["domain", "verifiable", "item_id", "d"]],
                           seed=seed, n_resamples=2000)
        out["contrast"] = {"verifiable": _est(gap.verifiable), "non_verifiable": _est(gap.non_verifiable),
                           "contrast": _est(gap.gap)}
    return out
