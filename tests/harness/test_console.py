"""The terminal's tables, progress bar and engine log (harness/console.py)."""

from __future__ import annotations

import io
import json
import logging
import math
import subprocess
import sys
import warnings

import pytest
from rich.console import Console

from thinkgate.harness.console import (engine_log, progress, results_table, router_eval_tables,
                                       router_train_table)
from thinkgate.reports.estimates import estimate
from tests.reports.test_html_report import synthetic_items


def render(*tables) -> str:
    c = Console(record=True, width=200, color_system=None, file=io.StringIO())
    for t in tables:
        c.print(t)
    return c.export_text()


def row(text: str, *starts: str) -> str:
    """The first rendered line holding every one of `starts`."""
    return next(line for line in text.splitlines() if all(s in line for s in starts))


@pytest.fixture(scope="module")
def items():
    df = synthetic_items(seed=3, n=12)
    think = (df["suite"] == "gsm8k") & (df["mode"] == "think")
    # two think generations never closed their thinking; one no_think request failed
    cut = df.index[think][:2]
    df.loc[cut, ["think_state", "finish_reason", "answer", "score", "passed"]] = ["unclosed", "length", "", 0.0, False]
    err = df.index[(df["suite"] == "gsm8k") & (df["mode"] == "no_think")][0]
    df.loc[err, ["finish_reason", "status", "score", "passed", "error"]] = ["error", "error", None, None, "boom"]
    return df


def test_results_table_has_a_row_per_suite_and_mode_from_the_reports_estimates(items):
    est = estimate(items, seed=0)
    text = render(results_table(items, est))
    by = {(r["suite"], r["mode"]): r for r in est["suites"]}
    for (suite, mode), r in by.items():
        line = row(text, f" {suite} ", f" {mode} ")
        assert f"{100 * r['mean']:.1f}% [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]" in line
        assert f" {r['n_items']} " in line and f" {r['k']} " in line
        assert f"{r['mean_reasoning_tokens']:.0f}" in line
        assert f"{100 * r['unclosed_think_rate']:.1f}%" in line
    think = row(text, " gsm8k ", " think ")
    assert "8.3%" in think  # 2 of 24 generations unclosed
    assert row(text, " gsm8k ", " no_think ").rstrip(" │").endswith("1")  # the failed request
    assert row(text, " gsm8k ", " think ").rstrip(" │").endswith("0")
    # think sorts before no_think within a suite, and a paired delta row follows
    lines = text.splitlines()
    assert lines.index(think) < lines.index(row(text, " gsm8k ", " no_think "))
    for p in est["paired"]:
        line = row(text, f" {p['suite']} ", "Δ think − no_think")
        assert f"{100 * p['diff']:+.1f} pts" in line and f" {p['n_items']} " in line
    assert "95% CI:" in text and "decoding: T=0.6" in text


def test_results_table_computes_estimates_itself_and_reads_estimates_json(items):
    from thinkgate.reports.render import to_json

    direct = render(results_table(items))
    assert direct == render(results_table(items, estimate(items, seed=0)))
    est = estimate(items, seed=0)
    for r in est["suites"]:  # an undefined CI (NaN) comes back from estimates.json as null
        r["ci_low"] = r["ci_high"] = math.nan
    est["paired"][0]["ci_low"] = math.nan
    back = json.loads(to_json(est, {}))
    text = render(results_table(items, back))
    assert "[" not in row(text, " gsm8k ", " think ")
    assert "Δ think − no_think" in text


def test_results_table_of_an_empty_run_says_so():
    text = render(results_table(synthetic_items(n=2).iloc[0:0]))
    assert "no scored items yet" in text


# ---------------------------------------------------------------- router

@pytest.fixture(scope="module")
def router_dicts():
    from thinkgate.router import build_dataset, evaluate_router, leave_one_domain_out, train_router
    from tests.router.synthetic import synthetic_items as router_items

    ds = build_dataset(router_items(16, k=1, seed=0))
    router = train_router(ds, features="hand", model="logreg", seed=0, n_splits=3, n_boot=50)
    fresh = build_dataset(router_items(16, k=1, seed=7))
    result = evaluate_router(router, fresh, seed=0, n_boot=50)
    result["leave_one_domain_out"] = leave_one_domain_out(fresh, features="hand", seed=0, n_boot=50)
    result["router_path"] = "routers/latest"
    return router, json.loads(json.dumps(result, default=str))  # as router_eval.json holds it


def test_router_train_table_shows_held_out_and_cv_metrics(router_dicts):
    router, _ = router_dicts
    m = router.meta
    text = render(router_train_table(m, threshold=router.threshold))
    held = row(text, "held-out ")
    h = m["held_out"]["router"]
    assert f"{h['auc']:.2f}" in held and f"{100 * m['held_out']['never']['mean_score']:.1f}%" in held
    assert f"{m['held_out']['n_items']}" in held
    assert "│ CV " in text and "lean optimistic" in text
    assert f"threshold {router.threshold:.2f}" in text and "features hand" in text
    # CIs sit on the line under the values
    below = text.splitlines()[text.splitlines().index(held) + 1]
    assert f"[{h['auc_ci_low']:.2f}, {h['auc_ci_high']:.2f}]" in below


def test_router_eval_tables_show_policies_metrics_domains_and_loo(router_dicts):
    _, result = router_dicts
    policies, metrics, loo = router_eval_tables(result)
    text = render(policies, metrics, loo)
    assert "routers/latest" in text
    at = result["router"]["at_threshold"]
    assert f"{100 * at['think_rate']:.1f}%" in row(text, "router at threshold")
    assert f"{100 * result['oracle']['mean_score']:.1f}%" in row(text, "oracle ")
    assert f"{100 * at['random_mean_score']:.1f}%" in row(text, "random at the router's rate")
    overall = row(text, "overall")
    r = result["router"]
    assert f"{r['auc']:.2f}" in overall and f"{r['apgr']:.2f}" in overall and f"{100 * r['cpt50']:.1f}%" in overall
    for d in result["per_domain"]:
        assert f" {d['domain']} " in text
    assert "Leave one domain out" in text
    for d in result["leave_one_domain_out"]:
        loo_part = text.split("Leave one domain out")[1].splitlines()
        assert any(line.startswith(f"│ {d['domain']} ") for line in loo_part)


def test_undefined_router_values_print_as_dashes():
    nan = math.nan
    result = {"n_items": 4, "threshold": None, "never": {"mean_score": 0.5, "mean_tokens": 10.0},
              "always": {"think_rate": 1.0, "mean_score": 0.5},
              "router": {"auc": 0.5, "apgr": nan, "apgr_reason": "always-think scores the same as never-think",
                         "cpt50": None, "at_threshold": {}},
              "per_domain": [{"domain": "math", "n_items": 2, "apgr": None}],
              "leave_one_domain_out": [{"domain": "math"}]}
    text = render(*router_eval_tables(result))
    assert "–" in row(text, "overall") and "always-think scores the same" in text
    never = row(text, "never think")
    assert "0.0%" in never and "50.0%" in never and " 10 " in never
    assert row(text, "always think").rstrip(" │").endswith("–")  # no mean tokens
    assert row(text, "router at threshold").count("–") == 3
    assert row(text, "│ math ").count("–") >= 10
    text = render(*router_eval_tables({}))  # nothing at all: still tables, no crash
    assert "never think" in text
    meta = {"features": "tfidf", "n_items": 10, "n_positive": 10, "degenerate": "all 10 items have label 1",
            "held_out": {"reason": "only 3 groups: too few for a held-out split"}}
    text = render(router_train_table(meta))
    assert "degenerate: all 10 items" in text and "too few for a held-out split" in text


# ---------------------------------------------------------------- progress and engine log

def test_progress_shows_rate_eta_and_counts():
    c = Console(record=True, width=160, color_system=None, force_terminal=False)
    with progress(console=c) as prog:
        t = prog.add_task("generating", total=10)
        prog.advance(t, 4)
        prog.refresh()
    text = c.export_text()
    assert "generating" in text and "4/10" in text and "items/s" in text and "eta" in text
    assert prog.live._redirect_stderr is False  # stderr stays the engine log's


CHILD = r"""
import logging, os, subprocess, sys, warnings
from pathlib import Path
from thinkgate.harness.console import engine_log

run = Path(sys.argv[1]); verbose = sys.argv[2] == "1"
print("before", flush=True)
try:
    with engine_log(run, verbose) as log:
        os.write(2, b"C-LEVEL NOISE\n")
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'CHILD PROCESS NOISE\\n')"])
        warnings.warn("a FutureWarning from the engine", FutureWarning)
        print("sys.stderr noise", file=sys.stderr)
        logging.getLogger("vllm.engine").warning("vllm says skip it")
        logging.getLogger("torch").warning("torch says hi")
        print("stdout still here", flush=True)
        raise RuntimeError("engine died")
except RuntimeError:
    pass
os.write(2, b"after\n")
warnings.warn("after warning", UserWarning)
logging.getLogger("vllm.engine").warning("vllm after")
print("vllm handlers", logging.getLogger("vllm").handlers, logging.getLogger("vllm").propagate)
print("VLLM_LOGGING_STREAM" in os.environ)
"""

NOISE = ("C-LEVEL NOISE", "CHILD PROCESS NOISE", "a FutureWarning from the engine", "sys.stderr noise",
         "vllm says skip it", "torch says hi")


@pytest.mark.parametrize("verbose", [False, True])
def test_engine_log_takes_the_noise_and_restores_everything(tmp_path, verbose):
    # a vLLM-style logger already configured to print on stdout before the block
    pre = "import logging, sys; h = logging.StreamHandler(sys.stdout); logging.getLogger('vllm').addHandler(h)\n"
    p = subprocess.run([sys.executable, "-c", pre + CHILD, str(tmp_path / "run"), str(int(verbose))],
                       capture_output=True, text=True, timeout=60)
    log = (tmp_path / "run" / "engine.log").read_text()
    for s in NOISE:
        assert s in log, s
        assert (s in p.stderr) == verbose, (s, p.stderr)
        assert s not in p.stdout, s
    assert "before" in p.stdout and "stdout still here" in p.stdout
    # restored after an exception: fd 2, warnings, the vllm handler back on stdout, env
    assert "after" in p.stderr and "after warning" in p.stderr and "vllm after" in p.stdout
    assert "after\n" not in log and "after warning" not in log and "vllm after" not in log
    assert "[<StreamHandler <stdout> (NOTSET)>] True" in p.stdout and p.stdout.strip().endswith("False")


def test_engine_log_in_process_restores_warnings_and_loggers(tmp_path):
    torch_logger = logging.getLogger("torch")
    before = (list(torch_logger.handlers), torch_logger.propagate, warnings.showwarning)
    with pytest.raises(ValueError), engine_log(tmp_path, verbose=False):
        warnings.warn("inside", UserWarning)
        raise ValueError("x")
    assert (list(torch_logger.handlers), torch_logger.propagate, warnings.showwarning) == before
    assert "inside" in (tmp_path / "engine.log").read_text()


def test_a_library_that_configures_its_logger_inside_keeps_its_setup(tmp_path):
    """vLLM configures its logger when the engine starts (dictConfig): inside the block it
    gets VLLM_LOGGING_STREAM=ext://sys.stderr, which is the log; after it, it stays as set."""
    import logging.config

    lg = logging.getLogger("vllm")
    saved = (list(lg.handlers), lg.propagate)
    try:
        with engine_log(tmp_path, verbose=False):
            import os

            stream = os.environ["VLLM_LOGGING_STREAM"]
            logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,
                                       "handlers": {"v": {"class": "logging.StreamHandler", "stream": stream}},
                                       "loggers": {"vllm": {"handlers": ["v"], "propagate": False}}})
            lg.warning("configured inside")
        assert lg.propagate is False and len(lg.handlers) == 1
        assert "configured inside" in (tmp_path / "engine.log").read_text()
    finally:
        lg.handlers[:], lg.propagate = saved
