"""Budgets, inference-time scaling and spontaneous thinking, on tables with known answers."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from thinkgate.reports import build_report
from thinkgate.reports.budgets import (TOL_ABS, arm_order, auc, budget_held, item_table, parse_arm,
                                       smallest_budget)
from thinkgate.reports.estimates import estimate
from thinkgate.reports.stats import adjust_pvalues, clustered_se

from .test_html_report import Collector, synthetic_items

OPTIONAL = ["budget", "budget_mechanism", "budget_held", "closed_by", "leaked_think"]


def row(suite="gsm8k", domain="math", verifiable=True, item=0, mode="think", sample=0, score=1.0,
        reasoning=50, answer=20, finish="stop", group=None, extracted=None, **extra):
    """One items-table row with every column the report reads."""
    n, _ = parse_arm(mode)
    thinks = mode != "no_think" and (reasoning or 0) > 0
    r = {"model": "tiny", "model_revision": "r1", "profile": "generic", "backend": "hf", "suite": suite,
         "domain": domain, "verifiable": verifiable, "group": group or f"{suite}/{item}",
         "item_id": f"{item:03d}", "mode": mode, "sample": sample, "key": f"{suite}{item}{mode}{sample}",
         "status": "ok", "finish_reason": finish, "think_state": "closed" if thinks else "absent",
         "reasoning_tokens": reasoning, "answer_tokens": answer, "score": score,
         "passed": bool(score) if verifiable and score is not None else None, "scorer": "math_verify" if verifiable else "chrf++",
         "extracted": extracted if extracted is not None else (str(int(score)) if verifiable and score is not None else None),
         "detail": "{}", "temperature": 0.6, "top_p": 0.95, "top_k": -1, "max_tokens": 256,
         "budget": n, "budget_mechanism": "two-pass" if n else None, "budget_held": None,
         "closed_by": "model" if thinks else None, "leaked_think": False}
    r.update(extra)
    return r


def curve_table(n=10):
    """no_think right on 20% of items at 0 thinking tokens, budget:100 on 50% at 100, think
    on 60% at 300 (K=1; the items each arm gets right are nested)."""
    rows = []
    for i in range(n):
        rows.append(row(item=i, mode="no_think", score=float(i < 0.2 * n), reasoning=0))
        rows.append(row(item=i, mode="budget:100", score=float(i < 0.5 * n), reasoning=100))
        rows.append(row(item=i, mode="think", score=float(i < 0.6 * n), reasoning=300))
    return pd.DataFrame(rows)


def test_parse_and_order_arms():
    assert parse_arm("budget:128") == (128, 0) and parse_arm("budget:128+wait:2") == (128, 2)
    assert parse_arm("think") == (None, 0) and parse_arm("budget:x") == (None, 0)
    modes = ["default", "think", "budget:512", "budget:64+wait:1", "no_think", "budget:64"]
    assert sorted(modes, key=arm_order) == ["no_think", "budget:64", "budget:64+wait:1", "budget:512",
                                            "think", "default"]


def test_auc_by_hand():
    # trapezoids: 100 * (0.2 + 0.5) / 2 + 200 * (0.5 + 0.6) / 2 = 145, over a range of 300
    assert auc([300, 0, 100], [0.6, 0.2, 0.5])[0] == pytest.approx(145 / 300)
    assert math.isnan(auc([50], [0.3])[0]) and math.isnan(auc([5, 5], [0.1, 0.9])[0])


def test_curve_points_and_auc_from_a_table():
    b = estimate(curve_table(), seed=0)["budgets"]
    c = next(c for c in b["curves"] if c["level"] == "suite")
    assert [(p["mode"], p["tokens"], p["mean"]) for p in c["points"]] == [
        ("no_think", 0, 0.2), ("budget:100", 100, 0.5), ("think", 300, 0.6)]
    assert c["auc"] == pytest.approx(145 / 300) and c["auc_arms"] == ["no_think", "budget:100", "think"]
    assert c["tokens_low"] == 0 and c["tokens_high"] == 300
    # each point's CI is the report's own interval (binary K=1)
    assert all(p["ci_method"] == "wilson-edge" and p["ci_low"] < p["mean"] < p["ci_high"] for p in c["points"])
    assert [d["name"] for d in b["curves"] if d["level"] == "domain"] == ["math"]


def test_gain_per_1k_thinking_tokens_with_a_paired_ci():
    b = estimate(curve_table(20), seed=0)["budgets"]
    g = next(g for g in b["gains"] if g["a"] == "budget:100")
    assert g["diff"] == pytest.approx(0.3) and g["delta_tokens"] == 100
    assert g["gain_per_1k"] == pytest.approx(3.0)  # 0.3 of score per 100 tokens = 3.0 per 1k
    assert g["gain_ci_low"] < 3.0 < g["gain_ci_high"] and g["gain_ci_method"].startswith("paired bootstrap")
    assert g["test"] == "exact McNemar" and g["p_value"] == pytest.approx(sps.binomtest(6, 6).pvalue)


def test_a_budget_that_did_not_hold_is_flagged_marked_and_left_out_of_the_auc():
    df = curve_table()
    over = (df["mode"] == "budget:100") & (df["item_id"] < "002")
    df.loc[over, "reasoning_tokens"] = 100 + TOL_ABS + 1  # 2 of 10 generations over N + tolerance
    est = estimate(df, seed=0)
    b = est["budgets"]
    a = next(r for r in b["audit"] if r["mode"] == "budget:100")
    assert a["budget_held_rate"] == pytest.approx(0.8) and a["flagged"] and a["held_source"] == "tokens"
    assert b["flagged"] == ["gsm8k/budget:100"]
    c = next(c for c in b["curves"] if c["level"] == "suite")
    point = next(p for p in c["points"] if p["mode"] == "budget:100")
    assert point["flagged"] and not point["in_auc"] and c["auc_arms"] == ["no_think", "think"]
    assert next(g for g in b["gains"] if g["a"] == "budget:100")["flagged"]
    files = build_report(df, seed=0)
    assert "**Budget not held: gsm8k/budget:100.**" in files["report.md"]
    assert "⚠ budget not held" in files["report.md"] and "(not held)" in files["report.html"]


def test_budget_held_tolerance_and_recorded_flag():
    df = pd.DataFrame([row(mode="budget:32", reasoning=32 + TOL_ABS), row(mode="budget:32", reasoning=33 + TOL_ABS)])
    held, source = budget_held(df, "budget:32")
    assert held.tolist() == [True, False] and source == "tokens"
    df["budget_held"] = [False, None]  # the mechanism's own record wins where it exists
    held, source = budget_held(df, "budget:32")
    assert held.tolist() == [False, False] and source == "recorded + tokens"


def test_audit_closed_by_leak_and_skip():
    rows = [row(item=i, mode="budget:64", reasoning=64, closed_by="forced" if i < 3 else "model") for i in range(4)]
    rows += [row(item=i, mode="think", reasoning=0 if i == 0 else 80) for i in range(4)]  # one skipped
    rows += [row(item=i, mode="no_think", reasoning=0, leaked_think=i == 1) for i in range(4)]  # one leak
    rows.append(row(item=3, mode="think", sample=1, reasoning=256, finish="length", score=0.0,
                    think_state="unclosed", closed_by=None))
    aud = {r["mode"]: r for r in estimate(pd.DataFrame(rows), seed=0)["budgets"]["audit"]}
    assert aud["budget:64"]["closed_by_forced"] == 0.75 and aud["budget:64"]["closed_by_model"] == 0.25
    assert aud["think"]["think_skipped_rate"] == pytest.approx(0.2) and aud["think"]["closed_by_cut"] == pytest.approx(0.2)
    assert aud["no_think"]["leak_rate"] == 0.25 and math.isnan(aud["no_think"]["think_skipped_rate"])
    assert aud["think"]["thinking_tokens_p90"] == pytest.approx(np.percentile([0, 80, 80, 80, 256], 90))


def test_truncation_as_censoring_bounds():
    rows = [row(item=i, mode="budget:64", reasoning=60) for i in range(10)]
    rows += [row(item=i, mode="think", reasoning=250, finish="length", score=0.0) for i in range(3)]
    rows += [row(item=i, mode="think", reasoning=100, score=float(i < 7)) for i in range(3, 10)]  # 4 of 7 right
    cen = {r["mode"]: r for r in estimate(pd.DataFrame(rows), seed=0)["budgets"]["censoring"]}["think"]
    assert cen["share_cut"] == pytest.approx(0.3) and cen["large"]
    assert cen["accuracy_all"] == pytest.approx(0.4) and cen["accuracy_completed"] == pytest.approx(4 / 7)
    assert cen["n_items_completed"] == 7
    assert cen["worst_case"] == pytest.approx(0.4) and cen["best_case"] == pytest.approx(0.7)
    md = build_report(pd.DataFrame(rows), seed=0, html=False)["report.md"]
    assert "30.0% of generations were cut by max_tokens; its true score lies between 40.0% and 70.0%" in md


def test_smallest_budget_per_item():
    arms = ("no_think", "budget:32", "budget:128", "think")
    solves = {0: "no_think", 1: "budget:128", 2: "think", 3: None, 4: "budget:32"}
    rows = []
    for i, first in solves.items():
        for a in arms:
            ok = first is not None and arms.index(a) >= arms.index(first)
            tok = {"no_think": 0, "budget:32": 30, "budget:128": 120, "think": 300}[a]
            if i == 4 and a == "budget:32":
                tok = 90  # solved at budget:32, but thinking ran past the budget: not a solve at 32
            rows.append(row(item=i, mode=a, score=float(ok), reasoning=tok))
    got = {r["item_id"]: (r["smallest_arm"], r["smallest_budget"]) for r in smallest_budget(item_table(pd.DataFrame(rows)))}
    assert got == {"000": ("no_think", 0), "001": ("budget:128", 128), "002": ("think", None),
                   "003": (None, None), "004": ("budget:128", 128)}
    summary = estimate(pd.DataFrame(rows), seed=0)["budgets"]["smallest_budget_summary"]
    assert summary == [{"suite": "gsm8k", "n_items": 5,
                        "counts": {"no_think": 1, "budget:128": 2, "think": 1, "unsolved": 1}}]


def test_majority_at_matched_compute():
    rows = []
    for i in range(12):
        for s in range(4):  # no_think: 20 tokens per generation; sample 0 right on items 0..8
            rows.append(row(item=i, mode="no_think", sample=s, reasoning=0, score=float(s == 0 and i < 9),
                            extracted="4" if s == 0 and i < 9 else f"x{s}"))
        rows.append(row(item=i, mode="budget:20", reasoning=20, score=float(i < 3)))  # 40 tokens: k = 2
    m = estimate(pd.DataFrame(rows), seed=0)["budgets"]["matched_majority"][0]
    # maj@2 over samples 0 and 1: a tie, which goes to the first answer seen (sample 0)
    assert m["k"] == 2 and m["tokens_matched"] == 40 and m["note"] == ""
    assert m["mean_b"] == pytest.approx(0.75) and m["mean_a"] == pytest.approx(0.25)
    assert m["diff"] == pytest.approx(-0.5) and m["test"] == "exact McNemar" and "p_holm" in m
    one = pd.DataFrame([r for r in rows if r["sample"] == 0])
    m1 = estimate(one, seed=0)["budgets"]["matched_majority"][0]
    assert m1["note"].startswith("n/a: no_think has K=1") and "diff" not in m1
    assert "n/a: no_think has K=1" in build_report(one, seed=0, html=False)["report.md"]


def thinks_on(domain, i):
    """math: 3 of 4 items in sources 0-4, 1 of 4 in sources 5-9 (share 0.5); translation: items 0-4."""
    if domain == "math":
        return i % 4 < (3 if i // 4 < 5 else 1)
    return i < 5


def spontaneous_table(n=40):
    """default and no_think on two domains, items in sources of 4 (the `group`)."""
    rows = []
    for dom, ver, suite in (("math", True, "gsm8k"), ("translation", False, "flores")):
        for i in range(n):
            g = f"src{i // 4}"
            rows.append(row(suite, dom, ver, i, "default", reasoning=40 if thinks_on(dom, i) else 0, group=g,
                            score=float(i % 2 == 0) if ver else 0.5))
            rows.append(row(suite, dom, ver, i, "no_think", reasoning=0, group=g,
                            score=float(i % 4 == 0) if ver else 0.4))
    return pd.DataFrame(rows)


def test_spontaneous_share_with_clustered_ci_and_contrast():
    sp = estimate(spontaneous_table(), seed=0)["spontaneous"]
    math_row = next(d for d in sp["domains"] if d["domain"] == "math")
    x = np.array([thinks_on("math", i) for i in range(40)], float)
    groups = [f"gsm8k::src{i // 4}" for i in range(40)]
    # by hand: every source's residuals sum to +-1, so SE = sqrt(10) / 40 * sqrt(10 / 9)
    assert clustered_se(x, groups) == pytest.approx(math.sqrt(10) / 40 * math.sqrt(10 / 9))
    half = sps.t.ppf(0.975, 9) * clustered_se(x, groups)  # 10 clusters: t on 9 df
    assert math_row["share"] == 0.5 and math_row["ci_method"] == "clustered t" and math_row["clustered"]
    assert math_row["ci_low"] == pytest.approx(0.5 - half) and math_row["ci_high"] == pytest.approx(0.5 + half)
    assert math_row["n_items"] == 40 and math_row["n_generations"] == 40
    c = sp["contrast"]
    assert c["verifiable"]["diff"] == 0.5 and c["non_verifiable"]["diff"] == 0.125
    assert c["contrast"]["diff"] == pytest.approx(0.375) and c["contrast"]["ci_low"] > 0
    pays = next(p for p in sp["pays"] if p["domain"] == "math")
    # 20 items thought; default right on 15 of them, no_think on 10
    assert pays["n_items"] == 20 and pays["mean_a"] == 0.75 and pays["mean_b"] == 0.5
    assert pays["diff"] == pytest.approx(0.25) and pays["ci_method"] == "clustered t"


def test_default_alone_adds_the_spontaneous_section_and_joins_the_holm_family():
    df = spontaneous_table()
    est = estimate(df, seed=0)
    assert est["budgets"] == {} and est["spontaneous"]
    fam = [p["p_value"] for p in est["paired"]] + [p["p_value"] for p in est["spontaneous"]["pays"]]
    holm, bh = adjust_pvalues(fam)
    got = [p["p_holm"] for p in est["paired"]] + [p["p_holm"] for p in est["spontaneous"]["pays"]]
    assert got == pytest.approx(list(holm), nan_ok=True)
    files = build_report(df, seed=0)
    assert "## Spontaneous thinking (default mode)" in files["report.md"]
    assert "How much thinking pays" not in files["report.md"]
    h = Collector()
    h.feed(files["report.html"])
    assert "Spontaneous thinking (default mode)" in h.h2 and "How much thinking pays" not in h.h2


def test_think_no_think_only_keeps_the_old_report():
    items = synthetic_items(n=12)
    est = estimate(items, seed=0)
    assert est["budgets"] == {} and est["spontaneous"] == {}
    holm, bh = adjust_pvalues([p["p_value"] for p in est["paired"]])
    assert [p["p_holm"] for p in est["paired"]] == pytest.approx(list(holm))
    files = build_report(items, seed=0)
    for text in (files["report.md"], files["report.html"]):
        assert "How much thinking pays" not in text and "Spontaneous thinking" not in text


def test_works_without_the_optional_columns_and_renders():
    df = pd.concat([curve_table(), spontaneous_table()], ignore_index=True).drop(columns=OPTIONAL)
    files = build_report(df, seed=0)
    est = json.loads(files["estimates.json"])
    aud = next(r for r in est["budgets"]["audit"] if r["mode"] == "budget:100")
    assert aud["held_source"] == "tokens" and aud["closed_by_source"].startswith("derived")
    assert aud["mechanism"] == "" and est["spontaneous"]["domains"]
    html = files["report.html"]
    h = Collector()
    h.feed(html)
    assert {"How much thinking pays", "Spontaneous thinking (default mode)"} <= set(h.h2)
    assert html.count("<svg") == 4 and "//" not in html.replace("<!--", "")


def test_new_comparisons_share_one_holm_family_with_the_paired_ones():
    est = estimate(curve_table(20), seed=0)
    new = [g for g in est["budgets"]["gains"] if g["a"] != "think"]  # suite think rows repeat `paired`
    holm, _ = adjust_pvalues([p["p_value"] for p in est["paired"]] + [g["p_value"] for g in new])
    assert [g["p_holm"] for g in new] == pytest.approx(list(holm[len(est["paired"]):]))
    think = next(g for g in est["budgets"]["gains"] if g["a"] == "think")
    twin = next(p for p in est["paired"] if p["a"] == "think" and p["b"] == "no_think")
    assert think["p_holm"] == twin["p_holm"] and think["p_value"] == pytest.approx(twin["p_value"])


def test_estimates_json_keys():
    est = json.loads(build_report(pd.concat([curve_table(), spontaneous_table()], ignore_index=True),
                                  seed=0, html=False)["estimates.json"])
    assert set(est["budgets"]) == {"tolerance", "tolerance_tokens", "hold_min", "large_cut", "solved_at", "arms",
                                   "flagged", "audit", "censoring", "curves", "gains", "matched_majority",
                                   "smallest_budget", "smallest_budget_summary"}
    assert set(est["spontaneous"]) == {"domains", "pays", "contrast"}
    item = est["budgets"]["smallest_budget"][0]
    assert set(item) == {"suite", "item_id", "domain", "smallest_arm", "smallest_budget", "solved_by", "arms_tried"}
