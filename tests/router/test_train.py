"""Training, evaluation, leave-one-domain-out and persistence, end to end on a synthetic
items table where math-looking prompts gain from thinking."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from thinkgate.router import (RouterVersionWarning, build_dataset, evaluate_router, leave_one_domain_out,
                              load_router, save_router, train_router)
from tests.router.synthetic import DOMAINS, synthetic_items


@pytest.fixture(scope="module")
def data():
    return build_dataset(synthetic_items(20, k=1, seed=0))


@pytest.fixture(scope="module")
def router(data):
    return train_router(data, features="tfidf+hand", model="logreg", seed=0, n_boot=100)


def test_router_learns_the_math_signal_and_generalizes(router):
    fresh = build_dataset(synthetic_items(40, k=1, seed=7))
    s = router.score(fresh["text"].tolist())
    assert s.shape == (len(fresh),) and ((s >= 0) & (s <= 1)).all()
    by = fresh.assign(s=s).groupby("domain")["s"].mean()
    assert by["math"] > by.drop("math").max()
    report = evaluate_router(router, fresh, seed=0, n_boot=200)
    r = report["router"]
    assert report["gain_always"] > 0 and r["apgr"] > 0.8  # a random router would score 0.5
    assert r["apgr_ci_low"] > 0.5
    assert report["oracle"]["apgr"] > 1  # thinking hurts the writing items
    assert {d["domain"] for d in report["per_domain"]} == set(DOMAINS)
    json.dumps(report)
    decided = router.decide(fresh["text"].tolist())
    assert decided.dtype == bool and router.decide(["x"], threshold=0.0).tolist() == [True]
    assert router.decide("What is 3 * 4?").shape == (1,)


def test_meta_records_what_a_user_needs(router, data):
    m = router.meta
    for key in ("features", "model", "lam", "T", "threshold_rule", "versions", "held_out", "cv", "runs",
                "n_items", "domains", "dataset"):
        assert key in m, key
    assert m["versions"]["scikit-learn"] and m["versions"]["numpy"]
    assert m["held_out"]["n_items"] + m["cv"]["n_items"] == len(data)
    assert 0 <= router.threshold <= 1


def test_auto_features_are_chosen_by_cv(data):
    r = train_router(data, features="auto", candidates=("hand", "tfidf"), held_out=0, n_splits=3, n_boot=0)
    assert r.meta["features"] in ("hand", "tfidf")
    assert [row["features"] for row in r.meta["feature_selection"]] == ["hand", "tfidf"]
    assert all(math.isfinite(row["cv_auc_net"]) for row in r.meta["feature_selection"])


def test_gbdt_runs(data):
    r = train_router(data, features="hand", model="gbdt", held_out=0, n_splits=2, n_boot=0)
    s = r.score(data["text"].tolist())
    assert ((s >= 0) & (s <= 1)).all() and r.meta["model"] == "gbdt"


@pytest.mark.parametrize("label", [False, True])
def test_degenerate_labels_give_a_constant_router(data, label):
    ds = data.copy()
    ds["label"] = label
    r = train_router(ds, features="tfidf", n_boot=0)
    assert r.constant and "constant router" in r.meta["degenerate"]
    assert r.score(["a", "b"]).tolist() == [float(label)] * 2
    assert r.decide(["a"]).tolist() == [label]


def test_leave_one_domain_out(data):
    rows = leave_one_domain_out(data, features="hand", model="logreg", seed=0, n_boot=100, n_splits=3)
    assert [r["domain"] for r in rows] == sorted(DOMAINS)
    assert sum(r["n_items"] for r in rows) == len(data)
    for r in rows:
        assert r["domain"] not in r["train_domains"] and 0 <= r["think_rate"] <= 1
        assert "apgr_ci_low" in r and "vs_random" in r
    json.dumps(rows)
    with pytest.raises(ValueError, match="2 domains"):
        leave_one_domain_out(data[data["domain"] == "math"])


def test_save_load_round_trip_and_version_warning(router, data, tmp_path):
    texts = data["text"].tolist()[:10]
    path = save_router(router, tmp_path / "r1")
    assert path.name == "router.joblib" and (tmp_path / "r1" / "router.json").is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RouterVersionWarning)
        loaded = load_router(tmp_path / "r1")
    assert np.allclose(loaded.score(texts), router.score(texts)) and loaded.threshold == router.threshold
    assert router.meta["fast_path"] and loaded.fast is not None  # one request: the fast path
    assert loaded.score(texts[0])[0] == pytest.approx(router.pipeline.predict_proba(texts[:1])[0, 1], abs=1e-6)
    json.loads((tmp_path / "r1" / "router.json").read_text())

    router.meta["versions"] = {**router.meta["versions"], "scikit-learn": "0.0.1"}
    try:
        save_router(router, tmp_path / "old.joblib")
    finally:
        router.meta["versions"]["scikit-learn"] = loaded.meta["versions"]["scikit-learn"]
    with pytest.warns(RouterVersionWarning, match=r"scikit-learn 0\.0\.1 \(now "):
        load_router(tmp_path / "old.joblib")
    with pytest.raises(FileNotFoundError, match="train one"):
        load_router(tmp_path / "nowhere")
    (tmp_path / "bad.joblib").write_bytes(b"not a pickle")
    with pytest.raises(RuntimeError, match="retrain"):
        load_router(tmp_path / "bad.joblib")


def test_unknown_names_say_what_exists(data):
    with pytest.raises(ValueError, match="did you mean 'logreg'"):
        train_router(data, features="hand", model="logref")
    with pytest.raises(ValueError, match="known router feature sets: hand, minilm, tfidf"):
        train_router(data, features="words")


def test_router_room_never_imports_the_harness():
    code = ("import sys, thinkgate.router as r\n"
            "from thinkgate.router import train, evaluate, dataset, features, model\n"
            "assert not [m for m in sys.modules if m.startswith('thinkgate.harness')], 'harness imported'\n"
            "assert 'sentence_transformers' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_report_says_why_apgr_is_undefined_when_thinking_never_pays(router):
    """A model whose thinking only hurts (the embedded tiny model is one): the report's router
    section says APGR/CPT are undefined and why, and gives the AUC over never-think instead."""
    from thinkgate.reports import build_report

    items = synthetic_items(20, k=1, seed=3, domains=("writing", "summary"))
    ev = evaluate_router(router, build_dataset(items), seed=0, n_boot=50)
    assert ev["gain_always"] < 0 and math.isnan(ev["router"]["apgr"]) and ev["router"]["apgr_reason"]
    from tests.reports.test_html_report import synthetic_items as report_items

    files = build_report(report_items(n=10), router_eval={**ev, "router_path": "r"})
    for name in ("report.md", "report.html"):
        text = files[name]
        assert "APGR and CPT are undefined: always-think scores" in text and "AUC over never-think" in text
        assert "APGR – [–, –]" not in text and "APGR – [" not in text
