"""From the items table to estimates: per suite x mode, and paired think - no_think.

A pure function of a pandas DataFrame with the items-table columns (suite, domain,
verifiable, item_id, mode, sample, score, status, finish_reason, think_state,
reasoning_tokens, answer_tokens, passed, extracted). It never opens a store.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from thinkgate.reports.budgets import budget_estimates
from thinkgate.reports.power import minimum_detectable_effect, n_for_effect, underpowered
from thinkgate.reports.stats import adjust_pvalues, majority_correct, mean_ci, paired_difference, pass_at_k
from thinkgate.reports.transfer import domain_deltas, transfer_gap

PAIRS = (("think", "no_think"), ("default", "no_think"), ("think", "default"))


def item_means(df: pd.DataFrame) -> pd.DataFrame:
    """One row per suite x mode x item: the mean score over its scored samples, K, and
    the item's cluster (`group`, the item itself when the table has none)."""
    ok = df[df["status"] == "ok"]
    if "group" not in ok:
        ok = ok.assign(group=ok["item_id"])
    return (ok.groupby(["suite", "mode", "item_id"], sort=True)
              .agg(score=("score", "mean"), k=("score", "size"), group=("group", "first"))
              .reset_index())


def _clusters(groups: pd.Series) -> list | None:
    """Cluster labels when items really share clusters (fewer clusters than items, at least 2)."""
    g = groups.fillna("").astype(str).tolist()
    c = len(set(g))
    return g if 2 <= c < len(g) else None


def _suite_mode(rows: pd.DataFrame, means: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    ok = rows[rows["status"] == "ok"]
    gen = rows[rows["finish_reason"].isin(["stop", "length"])]
    k_values = means["k"].to_numpy()
    k = int(k_values.max()) if len(k_values) else 0
    binary = bool(ok["passed"].notna().all()) and len(ok) > 0
    scores = means["score"].to_numpy()
    # the proportion interval is for data that are {0, 1} with one sample per item (K=1)
    binary_k1 = k == 1 and bool(np.isin(scores, (0.0, 1.0)).all())
    est = mean_ci(scores, binary_k1=binary_k1, bounds=(0.0, 1.0),
                  method="auto", groups=_clusters(means["group"]), seed=seed)
    out: dict[str, Any] = {
        "suite": rows["suite"].iat[0], "domain": rows["domain"].iat[0],
        "verifiable": bool(rows["verifiable"].iat[0]), "mode": rows["mode"].iat[0],
        "n_items": est.n, "k": k, "k_min": int(k_values.min()) if len(k_values) else 0,
        "mean": est.mean, "se": est.se, "ci_low": est.ci_low, "ci_high": est.ci_high,
        "ci_method": est.method, "ci_reason": est.reason,
        "n_samples": int(len(ok)),
        "errors": int((rows["status"] == "error").sum()),
        "data_errors": int((rows["status"] == "data_error").sum()),
        "other_unscored": int((~rows["status"].isin(["ok", "error", "data_error"])).sum()),
        "truncation_rate": float((gen["finish_reason"] == "length").mean()) if len(gen) else math.nan,
        "unclosed_think_rate": float((gen["think_state"] == "unclosed").mean()) if len(gen) else math.nan,
        "think_present_rate": float((gen["think_state"] != "absent").mean()) if len(gen) else math.nan,
        "mean_reasoning_tokens": float(gen["reasoning_tokens"].mean()) if len(gen) else math.nan,
        "mean_answer_tokens": float(gen["answer_tokens"].mean()) if len(gen) else math.nan,
        "decoding": _decoding(rows),
    }
    if binary and k >= 1:
        per_item = ok.groupby("item_id")
        n_c = per_item["passed"].agg(["size", "sum"])
        kk = int(k_values.min())
        out["pass@1"] = est.mean  # pass@1 is the mean over the K samples of each item
        if kk > 1:
            out[f"pass@{kk}"] = float(np.mean([pass_at_k(int(n), int(c), kk) for n, c in n_c.to_numpy()]))
        if "extracted" in ok and ok["extracted"].notna().any():
            maj = [majority_correct(g["extracted"].where(g["extracted"].notna(), None).tolist(),
                                    g["passed"].astype(bool).tolist()) for _, g in per_item]
            out[f"maj@{k}"] = float(np.mean(maj))
    return out


def _decoding(rows: pd.DataFrame) -> str:
    """The sampling settings a suite x mode ran with, e.g. "T=0.6 top_p=0.95 max_tokens=256"."""
    cols = [c for c in ("temperature", "top_p", "top_k", "max_tokens") if c in rows]
    parts = []
    for c in cols:
        vals = sorted({v for v in rows[c].dropna().tolist() if not (c == "top_k" and v in (-1, 0))})
        if vals:
            name = "T" if c == "temperature" else c
            parts.append(f"{name}={'/'.join(f'{v:g}' for v in vals)}")
    return " ".join(parts)


def corpus_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """Corpus BLEU and chrF++ (sacrebleu) of one suite x mode's translations.

    Uses the scorer's cleaned hypothesis (`detail.hypothesis`) and the `reference` column
    (a string, or a JSON list of references); corpus statistics, not a mean of sentences.
    """
    import json

    from sacrebleu.metrics import BLEU, CHRF

    ok = rows[rows["status"] == "ok"]
    if ok.empty or "reference" not in ok:
        return {}
    hyps = [json.loads(d).get("hypothesis", "") if isinstance(d, str) else "" for d in ok["detail"]]
    refs = [json.loads(r) for r in ok["reference"]]
    refs = [r if isinstance(r, list) else [r] for r in refs]
    width = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else r[0] for r in refs] for i in range(width)]
    return {"corpus_bleu": BLEU().corpus_score(hyps, streams).score / 100,
            "corpus_chrf++": CHRF(word_order=2).corpus_score(hyps, streams).score / 100}


def estimate(df: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """All estimates of an items table, as plain JSON-able dicts."""
    if df.empty:
        return {"suites": [], "paired": []}
    means = item_means(df)
    rows = []
    for (suite, mode), g in df.groupby(["suite", "mode"], sort=True):
        m = means[(means["suite"] == suite) & (means["mode"] == mode)]
        row = _suite_mode(g, m, seed)
        if (g["scorer"] == "chrf++").any():
            row.update(corpus_metrics(g))
        rows.append(row)
    paired = []
    dom = df.groupby("suite")["domain"].first().to_dict()
    ver = df.groupby("suite")["verifiable"].first().astype(bool).to_dict()
    for suite, m in means.groupby("suite", sort=True):
        wide = m.pivot(index="item_id", columns="mode", values="score")
        kmax = m.pivot(index="item_id", columns="mode", values="k")
        for a, b in PAIRS:
            if a not in wide or b not in wide:
                continue
            both = wide[[a, b]].dropna()
            if both.empty:
                continue
            k1 = bool((kmax.loc[both.index, [a, b]] == 1).all().all())
            groups = m[m["mode"] == a].set_index("item_id")["group"].reindex(both.index)
            p = paired_difference(both[a].to_numpy(), both[b].to_numpy(), binary_k1=k1, seed=seed,
                                  ci_method="auto", groups=_clusters(groups))
            sd = p.se * math.sqrt(p.n) if p.n > 1 else math.nan
            paired.append({"suite": suite, "domain": dom[suite], "verifiable": ver[suite], "a": a, "b": b, "n_items": p.n, "mean_a": p.mean_a,
                           "mean_b": p.mean_b, "diff": p.diff, "se": p.se,
                           # a difference of [0, 1] scores lies in [-1, 1]; a small-n t interval may not
                           "ci_low": max(p.ci_low, -1.0), "ci_high": min(p.ci_high, 1.0), "corr": p.corr, "p_value": p.p_value,
                           "test": p.test, "ci_method": p.ci_method, "discordant": p.discordant,
                           # no spread in d (every item tied): the formula's 0 would claim any
                           # effect is detectable; the MDE is undefined instead
                           "mde_80": minimum_detectable_effect(sd, p.n) if p.n > 1 and sd > 0 else math.nan,
                           "n_for_5pts": n_for_effect(0.05, sd) if p.n > 1 and sd > 0 else None,
                           "underpowered": bool(p.n > 1 and underpowered(sd, p.n, 0.05))})
    holm, bh = adjust_pvalues([p["p_value"] for p in paired]) if paired else ([], [])
    for p, h, b in zip(paired, holm, bh):
        p["p_holm"], p["p_bh"] = float(h), float(b)
    out = {"suites": rows, "paired": paired, "transfer": transfer(means, df, seed)}
    # budgets, spontaneous thinking (reports/budgets.py); re-adjusts p over the new comparisons too
    return {**out, **budget_estimates(df, paired, seed)}


def transfer_frame(means: pd.DataFrame, df: pd.DataFrame) -> pd.DataFrame:
    """Per item d = think - no_think (item means), with domain and verifiable."""
    wide = means.pivot_table(index=["suite", "item_id"], columns="mode", values="score")
    if "think" not in wide or "no_think" not in wide:
        return pd.DataFrame(columns=["domain", "verifiable", "item_id", "d"])
    d = (wide["think"] - wide["no_think"]).dropna().rename("d").reset_index()
    info = df.groupby("suite").agg(domain=("domain", "first"), verifiable=("verifiable", "first"))
    d = d.join(info, on="suite")
    d["item_id"] = d["suite"] + "::" + d["item_id"]
    return d[["domain", "verifiable", "item_id", "d"]]


def _est(e: Any) -> dict[str, Any]:
    return {"n": e.n, "diff": e.mean, "se": e.se, "ci_low": e.ci_low, "ci_high": e.ci_high, "method": e.method}


def transfer(means: pd.DataFrame, df: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """Delta per domain, Delta over verifiable vs non-verifiable domains, and their gap."""
    frame = transfer_frame(means, df)
    if frame.empty:
        return {}
    out: dict[str, Any] = {"domains": domain_deltas(frame, seed=seed).to_dict("records")}
    if frame["verifiable"].nunique() == 2:
        gap = transfer_gap(frame, seed=seed, n_resamples=2000)
        out.update(verifiable=_est(gap.verifiable), non_verifiable=_est(gap.non_verifiable),
                   contrast=_est(gap.gap))
    return out
