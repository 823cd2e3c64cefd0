"""Routing between many arms (no_think, budget:N..., think): the arms dataset, the
MultiArmRouter, its evaluation against every fixed arm at equal tokens, and the two-arm
special case, on a synthetic table where the best arm depends on the kind of prompt."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from thinkgate.router import (MultiArmRouter, Router, RouterVersionWarning, build_arms_dataset, build_dataset,
                              evaluate_router, leave_one_domain_out, load_router, save_router, train_router)
from thinkgate.router.dataset import arm_rank, best_index, is_arm
from thinkgate.router.evaluate_arms import frontier, lambda_grid
from tests.router.synthetic import ARM_P, ARMS, synthetic_arm_items, synthetic_items

LAM = 0.2  # a thousand tokens must buy 0.2 of score
BEST = {"lookup": "no_think", "arith": "budget:64", "word": "budget:256", "proof": "think", "writing": "no_think"}


@pytest.fixture(scope="module")
def data():
    return build_arms_dataset(synthetic_arm_items(40, seed=0), lam=LAM, T=1000)


@pytest.fixture(scope="module")
def fresh():
    return build_arms_dataset(synthetic_arm_items(40, seed=7), lam=LAM, T=1000)


@pytest.fixture(scope="module")
def router(data):
    return train_router(data, features="tfidf+hand", model="logreg", seed=0, n_boot=100)


@pytest.fixture(scope="module")
def report(router, fresh):
    return evaluate_router(router, fresh, seed=0, n_boot=300)


# ------------------------------------------------------------------------------ dataset

def test_arms_dataset_orders_arms_cheapest_first_and_ties_go_to_the_cheaper_arm(data):
    assert data.attrs["arms"] == list(ARMS) and data.attrs["multiarm"]
    assert len(data) == 40 * len(ARM_P)
    for col in ("score:budget:64", "tokens:budget:64", "k:budget:64", "utility:budget:64", "best_arm", "text"):
        assert col in data
    row = data.iloc[0]
    assert row["utility:think"] == pytest.approx(row["score:think"] - LAM * row["tokens:think"] / 1000)
    free = build_arms_dataset(synthetic_arm_items(10, seed=1, kinds=("lookup",)), lam=0.0)
    # every arm of a lookup item scores the same (one shared draw): a tie, the cheapest arm
    assert (free["best_arm"] == "no_think").all()
    assert sorted(["think", "budget:512", "no_think", "budget:64+wait:2", "budget:64"], key=arm_rank) == [
        "no_think", "budget:64", "budget:64+wait:2", "budget:512", "think"]
    assert best_index(np.array([[0.3, 0.3, 0.1], [0.0, 0.2, 0.2]])).tolist() == [0, 1]


def test_arms_dataset_drops_what_it_cannot_use_and_says_so():
    items = synthetic_arm_items(6, seed=2, kinds=("arith",))
    extra = items[items["mode"] == "think"].assign(mode="default")
    items = pd.concat([items, extra], ignore_index=True)
    gone = items.index[(items["mode"] == "budget:256") & (items["item_id"] == "arith/000")]
    ds = build_arms_dataset(items.drop(gone))
    assert ds.attrs["items_missing_arms"] == 1 and len(ds) == 5
    assert ds.attrs["modes_not_arms"] == ["default"] and "default" not in ds.attrs["arms"]
    assert is_arm("budget:8+wait:1") and not is_arm("budget:x") and not is_arm("default")
    assert "default" in build_arms_dataset(items, arms=["no_think", "default"]).attrs["arms"]
    with pytest.raises(ValueError, match="not modes of the runs"):
        build_arms_dataset(items, arms=["no_think", "budget:9"])
    with pytest.raises(ValueError, match="at least 2 arms"):
        build_arms_dataset(items[items["mode"] == "think"])


# ------------------------------------------------------------------------------- router

def test_router_picks_the_best_arm_per_kind_of_prompt(router, fresh):
    assert isinstance(router, MultiArmRouter) and router.arms == list(ARMS)
    chosen = pd.Series(router.choose(fresh["text"].tolist()), index=fresh.index)
    for kind, best in BEST.items():
        if kind == "lookup":
            continue  # a tie between all arms: any choice scores the same; tokens decide (below)
        share = (chosen[fresh["domain"] == kind] == best).mean()
        assert share >= 0.8, (kind, best, chosen[fresh["domain"] == kind].value_counts().to_dict())
    P = router.arm_scores(fresh["text"].tolist())
    assert P.shape == (len(fresh), len(ARMS)) and ((P >= 0) & (P <= 1)).all()
    proof = P[(fresh["domain"] == "proof").to_numpy()].mean(0)
    assert proof[-1] > 0.8 and proof[0] < 0.2  # calibrated-ish: true rates 0.9 and 0.05
    assert router.choose("Compute 3 + 4.") == [router.choose(["Compute 3 + 4."])[0]]
    assert router.choose([]) == []


def test_router_beats_every_fixed_arm_at_equal_tokens(report):
    ev = report["arm_eval"]
    assert [f["arm"] for f in ev["fixed"]] == list(ARMS)
    r = ev["router"]
    assert r["gain_vs_fixed_ci_low"] > 0, r  # the best mix of fixed arms spending as many tokens
    for f in ev["fixed"]:  # so every single arm, at the router's tokens or more, scores less
        if f["mean_tokens"] >= r["mean_tokens"]:
            assert r["mean_score"] > f["mean_score"]
    assert r["gain_utility_vs_best_fixed_ci_low"] > 0 and r["vs_random_ci_low"] > 0
    assert ev["auc"]["gain_ci_low"] > 0 and ev["auc"]["oracle"] >= ev["auc"]["router"] > ev["auc"]["fixed"]
    assert ev["oracle"]["mean_utility"] >= r["mean_utility"]
    assert math.isclose(sum(r["arm_shares"].values()), 1.0)
    tokens = [p["mean_tokens"] for p in ev["curve"]]
    assert tokens == sorted(tokens) and len(ev["curve"]) >= 3
    assert {d["domain"] for d in ev["per_domain"]} == set(ARM_P)
    json.dumps(report)


def test_ties_go_to_the_cheaper_arm():
    items = synthetic_arm_items(12, seed=3, kinds=("lookup", "arith"), p={"lookup": (1, 1, 1, 1),
                                                                           "arith": (1, 1, 1, 1)})
    r = train_router(build_arms_dataset(items, lam=0.0), features="hand", held_out=0, n_boot=0)
    assert r.constant  # every arm always right: P = 1 everywhere, a tie at any price
    assert r.choose(["Compute 2 + 2.", "anything"], lam=0.0) == ["no_think", "no_think"]
    assert not r.decide(["Compute 2 + 2."]).any() and r.score(["x"]).tolist() == [0.0]


def test_a_large_price_picks_the_cheapest_arm_and_no_price_the_best_scoring(router, fresh):
    texts = fresh["text"].tolist()
    assert set(router.choose(texts, lam=1e6)) == {"no_think"}
    assert set(router.choose(texts, lam=math.inf)) == {"no_think"}
    proof = fresh.loc[fresh["domain"] == "proof", "text"].tolist()
    assert set(router.choose(proof, lam=0.0)) == {"think"}
    spent = [np.mean([router.arms.index(a) for a in router.choose(texts, lam=x)]) for x in (0.0, 0.2, 1.0, 10.0)]
    assert spent == sorted(spent, reverse=True)  # a higher price never buys dearer arms on average


def test_score_and_decide_are_the_two_arm_view_of_choose(router, fresh):
    texts = fresh["text"].tolist()[:50]
    leave = np.array([c != router.arms[0] for c in router.choose(texts)])
    assert (router.decide(texts) == leave).all() and router.score(texts).shape == (50,)


def test_save_load_round_trip(router, fresh, tmp_path):
    texts = fresh["text"].tolist()
    path = save_router(router, tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "router.json").read_text())
    assert meta["arms"] == list(ARMS) and meta["kind"] == "multiarm" and meta["lam"] == LAM
    with warnings.catch_warnings():
        warnings.simplefilter("error", RouterVersionWarning)
        loaded = load_router(path)
    assert isinstance(loaded, MultiArmRouter) and loaded.arms == router.arms
    assert loaded.choose(texts) == router.choose(texts)
    assert np.allclose(loaded.arm_scores(texts), router.arm_scores(texts))
    # one request takes the fast path, and it gives what the model gives
    assert router.meta["fast_path"] and loaded.fast is not None
    P, tok = loaded.pipeline.predict(texts[:20])
    fast = [loaded.fast(t) for t in texts[:20]]
    assert np.allclose([p for p, _ in fast], P, atol=1e-6) and np.allclose([t for _, t in fast], tok, rtol=1e-6)
    assert [loaded.choose([t])[0] for t in texts[:20]] == loaded.choose(texts[:20])


def test_gbdt_heads_run_without_a_fast_path(data):
    r = train_router(data, features="hand", model="gbdt", held_out=0, n_boot=0)
    assert r.fast is None and not r.meta["fast_path"]
    assert set(r.choose(data["text"].tolist()[:10])) <= set(ARMS)


def test_auto_features_and_held_out_metrics(data):
    r = train_router(data, features="auto", candidates=("hand", "tfidf"), n_splits=3, n_boot=50)
    assert r.meta["features"] in ("hand", "tfidf")
    assert [row["features"] for row in r.meta["feature_selection"]] == ["hand", "tfidf"]
    held = r.meta["held_out"]
    assert held["n_items"] > 0 and "gain_vs_fixed" in held["router"]


def test_leave_one_domain_out(data):
    rows = leave_one_domain_out(data, features="hand", n_boot=50)
    assert [r["domain"] for r in rows] == sorted(ARM_P)
    for r in rows:
        assert r["domain"] not in r["train_domains"]
        for key in ("gain_vs_fixed", "gain_vs_fixed_ci_low", "arm_shares", "think_rate", "vs_random",
                    "never_mean_score", "always_mean_score", "oracle_mean_score", "apgr_reason"):
            assert key in r, key
    json.dumps(rows)


def test_report_reads_a_many_arm_evaluation(report):
    """The report's router section, written for two arms, renders a many-arm evaluation."""
    from thinkgate.reports import build_report
    from tests.reports.test_html_report import synthetic_items as report_items

    for key in ("never", "always", "oracle", "random", "router", "curve", "n_items", "ci_method"):
        assert key in report, key
    assert report["never"]["mean_score"] == report["arm_eval"]["fixed"][0]["mean_score"]
    files = build_report(report_items(n=10), router_eval={**report, "router_path": "r"})
    assert "Router" in files["report.md"]


# ------------------------------------------------------------------------ two arms

def test_two_arm_router_keeps_its_api_and_gains_arms_and_choose():
    ds = build_dataset(synthetic_items(20, seed=0))
    r = train_router(ds, features="tfidf+hand", n_boot=0, held_out=0)
    assert type(r) is Router and r.arms == ["no_think", "think"]
    texts = ds["text"].tolist()
    assert r.choose(texts) == ["think" if d else "no_think" for d in r.decide(texts)]
    assert r.choose(texts, threshold=0.0) == ["think"] * len(texts)
    ev = evaluate_router(r, build_dataset(synthetic_items(20, seed=7)), n_boot=100)
    for key in ("never", "always", "oracle", "random", "router", "curve", "per_domain", "threshold"):
        assert key in ev  # the two-arm keys, unchanged
    assert ev["arms"] == ["no_think", "think"] and ev["arm_eval"]["knob"] == "threshold"
    at = ev["router"]["at_threshold"]
    assert ev["arm_eval"]["router"]["mean_score"] == pytest.approx(at["mean_score"])
    assert ev["arm_eval"]["router"]["mean_tokens"] == pytest.approx(at["mean_tokens"])
    assert ev["arm_eval"]["fixed"][1]["mean_score"] == pytest.approx(ev["always"]["mean_score"])
    json.dumps(ev)
    with pytest.raises(ValueError, match="pairs one with the other"):
        evaluate_router(r, build_arms_dataset(synthetic_arm_items(4, seed=1)), n_boot=0)


def test_two_arms_through_the_many_arm_path():
    items = synthetic_arm_items(30, seed=4, kinds=("proof", "writing"), arms=("no_think", "think"))
    r = train_router(build_arms_dataset(items, lam=0.1), features="tfidf+hand", n_boot=0, held_out=0)
    assert r.arms == ["no_think", "think"]
    fresh = build_arms_dataset(synthetic_arm_items(20, seed=5, kinds=("proof", "writing"),
                                                   arms=("no_think", "think")), lam=0.1)
    chosen = np.array(r.choose(fresh["text"].tolist()))
    assert (chosen[(fresh["domain"] == "proof").to_numpy()] == "think").mean() > 0.9
    assert (chosen[(fresh["domain"] == "writing").to_numpy()] == "no_think").mean() > 0.9


# ------------------------------------------------------------------------ pieces

def test_frontier_by_hand():
    x, y = np.array([0.0, 10, 20, 30]), np.array([0.2, 0.3, 0.8, 0.7])
    # hull: (0, .2) -> (20, .8); (10, .3) lies under it; flat after the top at 20
    assert frontier(x, y, np.array([-5, 0, 10, 20, 25, 40])).tolist() == pytest.approx([0.2, 0.2, 0.5, 0.8, 0.8, 0.8])
    assert frontier(np.array([5.0, 5.0]), np.array([0.1, 0.4]), np.array([5.0]))[0] == pytest.approx(0.4)


def test_lambda_grid_holds_the_switch_points():
    P = np.array([[0.2, 0.8]])
    tok = np.array([[100.0, 600.0]])
    grid = lambda_grid(P, tok, T=1000)
    assert grid[0] == 0 and math.isinf(grid[-1])
    assert grid[1] == pytest.approx(1000 * 0.6 / 500)  # the price at which think stops paying


def test_build_router_dataset_picks_the_path_by_the_arms_present():
    from thinkgate.router import build_router_dataset

    two = synthetic_arm_items(4, seed=1, arms=("no_think", "think"))
    assert "label" in build_router_dataset(two) and not build_router_dataset(two).attrs.get("multiarm")
    many = synthetic_arm_items(4, seed=1)
    assert build_router_dataset(many, lam=0.1).attrs["arms"] == list(ARMS)
    assert "label" in build_router_dataset(many, arms=["think", "no_think"])


def test_evaluating_on_runs_without_one_of_the_routers_arms_says_so(router):
    fewer = build_arms_dataset(synthetic_arm_items(4, seed=1, arms=("no_think", "think")), lam=LAM)
    with pytest.raises(ValueError, match="every one of its modes"):
        evaluate_router(router, fewer, n_boot=0)
