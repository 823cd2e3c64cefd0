"""Statistics against scipy / closed forms, and by simulation."""

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from thinkgate.reports.stats import majority_correct, mean_ci, paired_difference, pass_at_k


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([0.1, 0.5, 0.9, 0.4, 0.6, 0.3])
    e = mean_ci(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert e.method == "t" and e.n == 6
    assert e.ci_low == pytest.approx(lo) and e.ci_high == pytest.approx(hi)


def test_wilson_for_binary_k1_matches_closed_form():
    x = [1] * 7 + [0] * 13
    e = mean_ci(x, binary_k1=True)
    n, p, z = 20, 7 / 20, stats.norm.ppf(0.975)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert e.method == "wilson-edge"  # 7 of 20 is no edge count: plain Wilson
    assert e.ci_low == pytest.approx(centre - half) and e.ci_high == pytest.approx(centre + half)


def test_wilson_all_zero_is_not_degenerate():
    e = mean_ci([0] * 10, binary_k1=True)
    assert e.ci_low == 0 and e.ci_high > 0.2


def test_t_interval_coverage_by_simulation():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        x = rng.beta(2, 5, size=40)
        e = mean_ci(x)
        hits += e.ci_low <= 2 / 7 <= e.ci_high
    assert 0.93 <= hits / 2000 <= 0.97


@pytest.mark.parametrize("n, c, k", [(5, 0, 1), (5, 2, 1), (5, 2, 2), (6, 3, 4), (4, 4, 2), (8, 1, 8)])
def test_pass_at_k_equals_brute_force(n, c, k):
    results = [1] * c + [0] * (n - c)
    subsets = list(combinations(range(n), k))
    brute = sum(any(results[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_1_is_the_mean():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)


def test_majority_vote():
    assert majority_correct(["4", "5", "4"], [True, False, True]) == 1.0
    assert majority_correct(["5", "4", "5"], [False, True, False]) == 0.0
    assert majority_correct([None, float("nan"), "4"], [False, False, True]) == 1.0
    assert majority_correct([None, None], [False, False]) == 0.0
    assert majority_correct(["5", "4"], [False, True]) == 0.0  # tie: first seen wins


def test_paired_mcnemar_is_exact_binomial_on_discordant_pairs():
    a = np.array([1, 1, 1, 1, 1, 0, 0, 1, 0, 1])
    b = np.array([0, 0, 0, 1, 1, 0, 1, 1, 0, 0])
    p = paired_difference(a, b, binary_k1=True)
    assert p.discordant == (4, 1)
    assert p.test == "exact McNemar"
    assert p.p_value == pytest.approx(stats.binomtest(4, 5, 0.5).pvalue)
    assert p.diff == pytest.approx(0.3)


def test_paired_ci_matches_one_sample_t_on_differences():
    rng = np.random.default_rng(0)
    a, b = rng.random(30), rng.random(30)
    p = paired_difference(a, b)
    lo, hi = stats.t.interval(0.95, 29, loc=(a - b).mean(), scale=stats.sem(a - b))
    assert p.ci_low == pytest.approx(lo) and p.ci_high == pytest.approx(hi)
    assert p.test == "sign-flip permutation"
    # the permutation p-value is close to the paired t-test on this well-behaved sample
    assert abs(p.p_value - stats.ttest_rel(a, b).pvalue) < 0.05


def test_paired_sign_flip_type1_error_under_null():
    rng = np.random.default_rng(2)
    rejections = 0
    for seed in range(200):
        a = rng.random(25)
        b = a + rng.normal(0, 0.2, 25)  # the null: E[a - b] = 0
        rejections += paired_difference(a, b, seed=seed).p_value < 0.05
    assert rejections / 200 < 0.09


def test_paired_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1, 0], [1])


def test_all_items_at_the_bound_do_not_give_a_zero_width_interval():
    e = mean_ci([0.0] * 20)
    assert e.method.startswith("wilson") and e.ci_low == 0 and e.ci_high > 0.1


def test_t_interval_is_clipped_to_the_metric_range():
    e = mean_ci([0.0, 0.9], bounds=(0.0, 1.0))
    assert e.method == "t (clipped to range)" and e.ci_low == 0.0 and e.ci_high == 1.0


# ---------------------------------------------------------------- interval choice (issue 4)

from thinkgate.reports.power import (diff_variance, minimum_detectable_effect, n_for_effect,  # noqa: E402
                                     power_of, underpowered, variance_components)
from thinkgate.reports.stats import (adjust_pvalues, bca_interval, choose_interval,  # noqa: E402
                                     clustered_se, sign_flip_test)


def test_choose_interval_records_what_and_why():
    rng = np.random.default_rng(0)
    assert choose_interval([1, 0, 1], binary_k1=True)[0] == "wilson-edge"
    method, why = choose_interval(rng.random(12))
    assert method == "bca" and "n=12 < 30" in why
    assert choose_interval(rng.random(40))[0] == "t"
    skewed = np.r_[np.zeros(90), np.ones(5), [0.5] * 5]  # hard suite: most items at 0
    method, why = choose_interval(skewed)
    assert method == "bca" and "skewness" in why
    assert choose_interval(rng.random(12), n_small=10)[0] == "t"


def test_mean_ci_auto_uses_the_choice_and_stays_in_the_data_range():
    x = [0.0, 0.25, 0.25, 0.5, 1.0, 0.0, 0.0, 0.75]
    e = mean_ci(x, method="auto", bounds=(0.0, 1.0), seed=3)
    assert e.method == "bca" and e.reason.startswith("n=8 < 30")
    assert 0.0 <= e.ci_low < e.mean < e.ci_high <= 1.0
    assert e == mean_ci(x, method="auto", bounds=(0.0, 1.0), seed=3)  # seeded: reproducible
    assert mean_ci([1, 0, 1, 1], binary_k1=True, method="auto").method == "wilson-edge"
    assert mean_ci(np.linspace(0, 1, 50), method="auto").method == "t"


def test_bca_of_equal_values_is_a_point_and_unknown_methods_are_refused():
    e = mean_ci([0.5] * 6, method="bca")
    assert e.method == "t" and e.ci_low == e.ci_high == 0.5
    assert mean_ci([0.0] * 6, method="auto").method == "wilson (all items at the bound)"
    with pytest.raises(ValueError, match="'t', 'bca' or 'auto'"):
        mean_ci([0.1, 0.2], method="wald")


def test_bca_interval_is_vectorized_over_datasets():
    x = np.random.default_rng(1).random((3, 20))
    lo, hi, se = bca_interval(x, seed=2, n_resamples=500)
    assert lo.shape == hi.shape == se.shape == (3,)
    assert np.all(lo < x.mean(axis=1)) and np.all(x.mean(axis=1) < hi)


def test_clustered_se_formula_batches_and_mean_ci_option():
    x = np.array([0.2, 0.4, 0.9, 1.0, 0.1, 0.3])
    g = ["a", "a", "b", "b", "c", "c"]
    resid = x - x.mean()
    sums = np.array([resid[:2].sum(), resid[2:4].sum(), resid[4:].sum()])
    expected = math.sqrt((sums ** 2).sum()) / 6 * math.sqrt(3 / 2)
    assert clustered_se(x, g) == pytest.approx(expected)
    assert clustered_se(np.stack([x, x[::-1]]), g)[0] == pytest.approx(expected)
    e = mean_ci(x, groups=g)
    half = stats.t.ppf(0.975, 2) * expected
    assert e.method == "clustered t" and e.ci_high == pytest.approx(x.mean() + half)
    assert math.isnan(clustered_se(x, ["a"] * 6))
    with pytest.raises(ValueError, match="one label per item"):
        clustered_se(x, ["a", "b"])


def test_paired_bca_and_auto_and_identical_runs():
    rng = np.random.default_rng(4)
    a = rng.random(20)
    b = np.clip(a - 0.1 + rng.normal(0, 0.1, 20), 0, 1)
    p = paired_difference(a, b, ci_method="bca", seed=5)
    lo, hi, _ = bca_interval(a - b, seed=5)
    assert p.ci_method == "bca"
    assert p.ci_low == pytest.approx(float(lo)) and p.ci_high == pytest.approx(float(hi))
    assert paired_difference(a, b, ci_method="auto").ci_method == "bca"  # n = 20 < 30
    assert paired_difference(a, b).ci_method == "t"
    same = paired_difference(a, a, ci_method="bca")
    assert same.diff == same.ci_low == same.ci_high == 0.0 and same.p_value == 1.0
    g = np.repeat(np.arange(5), 4)
    pc = paired_difference(a, b, groups=g)
    assert pc.ci_method == "clustered t" and pc.se == pytest.approx(clustered_se(a - b, g))


def test_sign_flip_is_seeded_and_vectorized():
    d = np.random.default_rng(6).normal(0.2, 1, (4, 40))
    p = sign_flip_test(d, seed=1, n_resamples=999)
    assert p.shape == (4,)
    assert np.array_equal(p, sign_flip_test(d, seed=1, n_resamples=999))
    assert float(p[0]) == pytest.approx(float(sign_flip_test(d[0], seed=1, n_resamples=999)), abs=0.03)


def test_adjust_pvalues_edge_cases():
    holm, bh = adjust_pvalues([])
    assert holm.size == bh.size == 0
    holm, bh = adjust_pvalues([math.nan, 0.01])
    assert math.isnan(holm[0]) and holm[1] == pytest.approx(0.01) and bh[1] == pytest.approx(0.01)
    holm, bh = adjust_pvalues([0.01, 0.02, 0.03, 0.04])
    assert np.all(bh <= holm + 1e-12)  # FDR control is never stricter than family-wise


# ---------------------------------------------------------------------------------- power

def test_power_formulas_are_consistent():
    sd, n = 0.25, 200
    mde = minimum_detectable_effect(sd, n)
    assert n_for_effect(mde, sd) in (n, n + 1)
    assert power_of(mde, sd, n) == pytest.approx(0.8, abs=1e-6)
    assert underpowered(sd, n, mde * 0.9) and not underpowered(sd, n, mde * 1.1)
    assert minimum_detectable_effect(sd, 4 * n) == pytest.approx(mde / 2)
    with pytest.raises(ValueError, match="non-zero"):
        n_for_effect(0.0, sd)


def test_variance_components_recover_the_simulated_design():
    rng = np.random.default_rng(7)
    n, ka, kb = 4000, 4, 2
    p = rng.beta(1, 1, n)
    q = np.clip(p + rng.normal(0.05, 0.1, n), 0, 1)  # item-level differences: omega^2 > 0
    a = (rng.random((n, ka)) < p[:, None]).astype(float)
    b = (rng.random((n, kb)) < q[:, None]).astype(float)
    c = variance_components(a, b)
    assert c["k_a"] == 4 and c["k_b"] == 2
    assert c["var_a"] == pytest.approx(np.mean(p * (1 - p)), rel=0.05)
    assert c["var_d"] == pytest.approx(diff_variance(c["omega2"], c["var_a"], ka, c["var_b"], kb))
    assert 0 < c["omega2"] < c["var_d"]
    a[0, 1:] = np.nan  # ragged K: harmonic mean of the counts
    assert variance_components(a, b)["k_a"] == pytest.approx(n / (1 + (n - 1) / 4))
    k1 = variance_components(a, b[:, :1])  # K = 1: within-item variance not identifiable
    assert math.isnan(k1["var_b"]) and math.isnan(k1["omega2"]) and k1["var_d"] > 0


# ------------------------------------------------------------------------------- transfer

def _transfer_frame(rng, spec, prefix=""):
    rows = [(dom, ver, f"{prefix}{dom}/{i}", float(np.clip(rng.normal(mu, 0.3), -1, 1)))
            for dom, ver, n, mu in spec for i in range(n)]
    return pd.DataFrame(rows, columns=["domain", "verifiable", "item_id", "d"])


SPEC = [("math", True, 200, 0.2), ("code", True, 20, 0.0), ("summary", False, 60, 0.05),
        ("writing", False, 40, -0.05)]


def test_transfer_uses_the_mean_of_domain_means():
    from thinkgate.reports.transfer import domain_deltas, transfer_gap

    df = _transfer_frame(np.random.default_rng(8), SPEC)
    per = domain_deltas(df).set_index("domain")
    assert list(per.columns) == ["verifiable", "n_items", "delta", "se", "ci_low", "ci_high", "ci_method"]
    assert per.loc["code", "ci_method"] == "bca" and per.loc["math", "ci_method"] in ("t", "bca")
    g = transfer_gap(df, n_resamples=2000)
    ver = per.loc[["math", "code"], "delta"].mean()  # not pooled: code counts as much as math
    non = per.loc[["summary", "writing"], "delta"].mean()
    assert g.verifiable.mean == pytest.approx(ver) and g.non_verifiable.mean == pytest.approx(non)
    assert g.gap.mean == pytest.approx(ver - non)
    assert g.gap.ci_low < g.gap.mean < g.gap.ci_high and g.gap.method == "stratified bootstrap BCa"
    assert g == transfer_gap(df, n_resamples=2000)  # seeded
    assert g.gap != transfer_gap(df, n_resamples=2000, seed=1).gap


def test_transfer_edge_cases_and_input_errors():
    from thinkgate.reports.transfer import transfer_gap

    rng = np.random.default_rng(9)
    only_ver = _transfer_frame(rng, SPEC[:2])
    g = transfer_gap(only_ver, n_resamples=500)
    assert math.isnan(g.gap.mean) and g.gap.method == "none"
    tiny = pd.concat([only_ver, _transfer_frame(rng, [("longtail", False, 1, 0.1)])])
    g = transfer_gap(tiny, n_resamples=500)  # a one-item domain: a constant, no interval of its own
    assert g.non_verifiable.method.startswith("none") and math.isnan(g.non_verifiable.ci_low)
    assert "one-item" in g.gap.method and g.gap.ci_low < g.gap.mean < g.gap.ci_high
    flat = only_ver.assign(d=0.0)  # no variation at all: BCa impossible, percentile is a point
    g = transfer_gap(flat, n_resamples=500).verifiable
    assert "percentile" in g.method and g.ci_low == g.ci_high == 0.0
    from thinkgate.reports.transfer import domain_deltas

    per = domain_deltas(flat)  # d = 0 everywhere is no bound: no Wilson fallback here
    assert (per["ci_method"] == "t (no variation in d)").all() and (per["ci_high"] == 0).all()
    with pytest.raises(ValueError, match="lacks columns"):
        transfer_gap(only_ver.drop(columns="verifiable"))
    with pytest.raises(ValueError, match="twice"):
        transfer_gap(pd.concat([only_ver, only_ver.iloc[:1]]))
    mixed = only_ver.copy()
    mixed.loc[mixed.index[0], "verifiable"] = False
    with pytest.raises(ValueError, match="both verifiable and not"):
        transfer_gap(mixed)


def test_run_gains_pairs_items_only_when_ids_match():
    from thinkgate.reports.transfer import run_gains

    rng = np.random.default_rng(10)
    base = _transfer_frame(rng, SPEC)
    shift = np.where(base["verifiable"], 0.1, 0.02) + rng.normal(0, 0.1, len(base))
    rl = base.assign(d=np.clip(base["d"] + shift, -1, 1))
    partial = rl[~((rl["domain"] == "math") & (rl["item_id"].str.endswith("7")))]
    out = run_gains({"base": base, "rl": rl, "partial": partial}, "base", n_resamples=1000)
    assert len(out) == 6
    row = out[(out["run"] == "rl") & (out["group"] == "verifiable")].iloc[0]
    assert row["paired"] == "all" and row["gain"] == pytest.approx(row["delta_run"] - row["delta_baseline"])
    assert row["ci_low"] < row["gain"] < row["ci_high"]
    part = out[out["run"] == "partial"].set_index("group")["paired"]
    assert part["verifiable"] == "some" and part["non_verifiable"] == "all"
    # paired resampling is tighter than treating the same items as independent samples
    renamed = rl.assign(item_id="x" + rl["item_id"])
    unpaired = run_gains({"base": base, "rl": renamed}, "base", n_resamples=1000)
    assert unpaired["paired"].iat[0] == "none" and unpaired["se"].iat[0] > row["se"]
    with pytest.raises(ValueError, match="not among the runs"):
        run_gains({"rl": rl}, "base")


def test_estimates_json_records_the_interval_method_and_why():
    from thinkgate.reports.estimates import estimate

    rng = np.random.default_rng(11)
    rows = []
    for suite, k, binary in (("binary_k1", 1, True), ("k4", 4, True), ("graded", 1, False)):
        for i in range(40):
            for s in range(k):
                score = float(rng.random() < 0.6) if binary else float(rng.random())
                rows.append({"suite": suite, "domain": "math", "verifiable": True, "item_id": f"q{i}",
                             "mode": "think", "sample": s, "score": score, "status": "ok",
                             "finish_reason": "stop", "think_state": "closed", "reasoning_tokens": 10,
                             "answer_tokens": 5, "passed": (score == 1.0) if binary else None,
                             "extracted": None, "scorer": "exact"})
    rows.append({**rows[-1], "item_id": "q_one", "score": 1.0})  # graded scores can touch 0 and 1
    suites = {r["suite"]: r for r in estimate(pd.DataFrame(rows))["suites"]}
    assert suites["binary_k1"]["ci_method"] == "wilson-edge"
    assert "K=1" in suites["binary_k1"]["ci_reason"] and "coverage" in suites["binary_k1"]["ci_reason"]
    assert suites["k4"]["ci_method"] in ("t", "bca") and suites["k4"]["ci_reason"]
    assert suites["graded"]["ci_method"] == "t" and "CLT" in suites["graded"]["ci_reason"]


def test_binary_detection_is_by_the_data_not_by_all_items_at_the_bound():
    x = [1.0] * 12 + [0.0] * 18  # binary K=1 data, not all at one bound
    assert mean_ci(x, binary_k1=True).method == "wilson-edge"
    assert mean_ci([1.0, 0.5, 0.0] * 10, binary_k1=True).method == "t"  # not {0, 1}: no proportion interval
    assert mean_ci(x, binary_k1=True, groups=np.repeat(np.arange(6), 5)).method == "clustered t"
