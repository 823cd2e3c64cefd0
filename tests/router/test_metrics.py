"""Routing metrics on hand-built tables with known answers (RouteLLM's AUC / APGR / CPT)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from thinkgate.router.evaluate import apgr, area, blocks, cpt, routing_metrics, sweep
from thinkgate.router.train import choose_threshold


def test_sweep_points_and_area_by_hand():
    # item:        a    b    c    d
    scores = [0.9, 0.7, 0.5, 0.1]
    think = [1.0, 1.0, 0.0, 0.0]
    no = [0.0, 0.0, 1.0, 0.0]
    rates, values = sweep(np.array(scores), np.array(think), np.array(no))
    assert rates.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert values.tolist() == [0.25, 0.5, 0.75, 0.5, 0.5]
    # trapezoids: .25*(.25+.5)/2 + .25*(.5+.75)/2 + .25*(.75+.5)/2 + .25*(.5+.5)/2
    assert float(area(rates, values)) == pytest.approx(0.53125)
    assert float(apgr(rates, values)) == pytest.approx(1.125)


def test_oracle_apgr_exceeds_one_when_thinking_hurts_some_items():
    think = np.array([1.0, 1.0, 0.0, 0.0])
    no = np.array([0.0, 0.0, 1.0, 0.0])  # thinking hurts item 2
    m = routing_metrics(think - no, think, no, n_boot=0)
    # oracle curve: .25 -> .75 (items 0, 1 as one tied block) -> .75 (item 3) -> .5 (item 2)
    # AUC = .5*(.25+.75)/2 + .25*.75 + .25*(.75+.5)/2 = .59375; APGR = (.59375-.25)/.25
    assert m["oracle"]["apgr"] == pytest.approx(1.375)
    assert m["router"]["apgr"] == pytest.approx(1.375)  # never clipped to 1
    assert m["oracle"]["mean_score"] == 0.75 > m["always"]["mean_score"] == 0.5


def test_random_router_apgr_is_one_half_in_expectation():
    rng = np.random.default_rng(0)
    n = 200
    think = (rng.random(n) < 0.7).astype(float)
    no = (rng.random(n) < 0.4).astype(float)
    values = [routing_metrics(rng.random(n), think, no, n_boot=0)["router"]["apgr"] for _ in range(300)]
    assert np.mean(values) == pytest.approx(0.5, abs=0.02)
    # A constant score is one tied block: exactly the random router's expected value.
    m = routing_metrics(np.full(n, 0.3), think, no, n_boot=0)
    assert m["router"]["apgr"] == pytest.approx(0.5)
    assert m["router"]["auc"] == pytest.approx(m["random"]["auc"])


def test_cpt_scans_a_non_monotone_curve_in_order():
    rates = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    values = np.array([0.0, 0.8, 0.3, 0.9, 1.0])  # up, down, up
    assert float(cpt(rates, values, 0.5)) == pytest.approx(0.25 * 0.5 / 0.8)   # inside the first segment
    assert float(cpt(rates, values, 0.8)) == pytest.approx(0.25)               # exactly at a point
    assert float(cpt(rates, values, 0.85)) == pytest.approx(0.5 + 0.25 * 0.55 / 0.6)  # after the dip
    # np.interp assumes rising values: here it answers 0.708 where the curve got there at 0.25
    assert np.interp(0.8, values, rates) == pytest.approx(0.7083, abs=1e-3)
    assert float(cpt(np.array([0, 1.0]), np.array([0.5, 1.0]), 0.0)) == 0.0  # starts at the target


def test_cpt_from_items_matches_by_hand():
    # scores give the order a, b, c, d; gains +1, -1, +1, 0 on a base of 0 except b
    think = np.array([1.0, 0.0, 1.0, 1.0])
    no = np.array([0.0, 1.0, 0.0, 1.0])
    m = routing_metrics(np.array([4.0, 3, 2, 1]), think, no, n_boot=0)
    # curve: .5 -> .75 -> .5 -> .75 -> .75; always - never = .25
    assert m["router"]["cpt50"] == pytest.approx(0.125)   # target .625: half way to the first point
    assert m["router"]["cpt80"] == pytest.approx(0.2)     # target .7
    tokens = m["router"]["cpt50_tokens"]
    assert math.isfinite(tokens)


def test_tied_scores_are_decided_as_blocks():
    order, ends = blocks(np.array([0.5, 0.9, 0.5, 0.1, 0.5]))
    assert ends.tolist() == [1, 4, 5]
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 3, 60).astype(float) / 2  # three tied blocks
    think = (rng.random(60) < 0.6).astype(float)
    no = (rng.random(60) < 0.4).astype(float)
    m = routing_metrics(scores, think, no, n_boot=0)
    assert m["n_distinct_scores"] == 3 and len(m["curve"]) == 4
    perm = rng.permutation(60)  # the order of rows within a tie must not matter
    m2 = routing_metrics(scores[perm], think[perm], no[perm], n_boot=0)
    assert m2["router"]["auc"] == pytest.approx(m["router"]["auc"])
    assert m2["router"]["cpt50"] == pytest.approx(m["router"]["cpt50"])


def test_apgr_undefined_without_a_gain():
    think = np.array([1.0, 0.0, 1.0, 0.0])
    m = routing_metrics(np.array([0.9, 0.1, 0.5, 0.4]), think, think[::-1].copy(), n_boot=50)
    assert math.isnan(m["router"]["apgr"]) and math.isnan(m["router"]["cpt50"])
    assert "no gain" in m["router"]["apgr_reason"]
    worse = routing_metrics(np.array([0.9, 0.1]), np.array([0.0, 0.0]), np.array([1.0, 0.0]), n_boot=0)
    assert math.isnan(worse["router"]["apgr"]) and "below never-think" in worse["router"]["apgr_reason"]
    assert math.isfinite(worse["router"]["auc_over_never"])


def test_bootstrap_ci_is_seeded_and_covers_the_estimate():
    rng = np.random.default_rng(2)
    n = 120
    think = (rng.random(n) < 0.7).astype(float)
    no = (rng.random(n) < 0.3).astype(float)
    scores = (think - no) + rng.normal(0, 0.8, n)
    a = routing_metrics(scores, think, no, threshold=0.5, seed=3, n_boot=300)
    b = routing_metrics(scores, think, no, threshold=0.5, seed=3, n_boot=300)
    c = routing_metrics(scores, think, no, threshold=0.5, seed=4, n_boot=300)
    r = a["router"]
    assert r["apgr_ci_low"] == b["router"]["apgr_ci_low"] != c["router"]["apgr_ci_low"]
    assert r["apgr_ci_low"] < r["apgr"] < r["apgr_ci_high"]
    assert r["cpt50_ci_low"] <= r["cpt50"] <= r["cpt50_ci_high"]
    at = r["at_threshold"]
    assert at["mean_score_ci_low"] <= at["mean_score"] <= at["mean_score_ci_high"]
    assert at["vs_random"] == pytest.approx(at["mean_score"] - at["random_mean_score"])
    assert "items" in a["ci_method"]
    grouped = routing_metrics(scores, think, no, groups=np.arange(n) // 4, n_boot=100)
    assert "30 groups" in grouped["ci_method"]
    json.dumps(a)  # JSON-able


def test_threshold_point_and_baselines():
    think = np.array([1.0, 1.0, 0.0, 1.0])
    no = np.array([0.0, 1.0, 0.0, 0.0])
    m = routing_metrics(np.array([0.9, 0.8, 0.2, 0.1]), think, no,
                        tokens_think=np.full(4, 500.0), tokens_no_think=np.full(4, 50.0), threshold=0.5, n_boot=0)
    at = m["router"]["at_threshold"]
    assert at["think_rate"] == 0.5 and at["mean_score"] == 0.5 and at["mean_tokens"] == 275.0
    assert at["random_mean_score"] == pytest.approx(0.25 + 0.5 * 0.5)
    assert m["oracle"]["think_rate"] == 0.5 and m["oracle"]["mean_score"] == 0.75


def test_choose_threshold_prefers_thinking_less_on_ties():
    assert choose_threshold(np.array([0.9, 0.6, 0.2]), np.array([1.0, -0.5, 0.1]))[0] == pytest.approx(0.75)
    assert choose_threshold(np.array([0.9, 0.6]), np.array([0.0, 0.0]))[0] == 1.0  # nothing pays: never
    assert choose_threshold(np.array([0.9, 0.6]), np.array([1.0, 1.0]))[0] == 0.0
