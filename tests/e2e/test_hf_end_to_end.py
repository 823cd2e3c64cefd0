"""The real tiny model through transformers, end to end (CI runs these)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from thinkgate.harness.backends import EngineConfig
from thinkgate.harness.runner import RunConfig, evaluate
from thinkgate.harness.store import Store

from ..conftest import ROOT, run_cli

pytestmark = pytest.mark.slow


def test_hf_eval_both_modes_then_rerun_is_a_no_op(tmp_path, tiny_model):
    cfg = RunConfig(out=str(tmp_path / "run"), backend="hf", suites=("gsm8k",), modes=("think", "no_think"),
                    samples=2, limit=2, max_tokens=32, engine=EngineConfig(batch_size=8))
    res = evaluate(cfg, progress=False)
    assert (res.planned, res.generated, res.errors, res.backend) == (8, 8, 0, "hf")
    items = Store(res.out).items()
    assert set(items["finish_reason"]) <= {"stop", "length"}
    assert (items["prompt_tokens"] > 0).all() and (items["completion_tokens"] <= 32).all()
    assert (items["latency_s"] > 0).all() and set(items["status"]) == {"ok"}
    think = items[items["mode"] == "think"]
    assert (think["prefill"] == "<think>\n").all()
    # a think generation cut at 32 tokens without </think> has no answer, and scored 0
    unclosed = think[think["think_state"] == "unclosed"]
    assert (unclosed["answer"] == "").all() and (unclosed["score"] == 0).all()
    report = (res.out / "report.md").read_text()
    assert "| gsm8k | think |" in report and "| gsm8k | no_think |" in report
    assert "think − no_think" in report
    again = evaluate(cfg, progress=False)
    assert again.generated == 0 and again.backend is None
    assert (res.out / "report.md").read_text() == report
    assert pd.read_csv(res.out / "items.csv").shape[0] == 8


def test_kill_mid_run_then_resume_has_no_duplicates_and_no_gaps(tmp_path, tiny_model):
    out = tmp_path / "run"
    args = ["eval", "--backend", "hf", "--suites", "gsm8k", "--modes", "think,no_think", "--samples", "2",
            "--limit", "4", "--max-tokens", "24", "--batch-size", "1", "--out", str(out)]
    code = f"import sys\nfrom thinkgate.harness.cli import main\nsys.argv = ['thinkgate', *{args!r}]\nmain()"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    db_path = out / "thinkgate.sqlite"
    deadline = time.time() + 300
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if db_path.exists():
            try:
                done = sqlite3.connect(db_path).execute("SELECT COUNT(*) FROM generations").fetchone()[0]
            except sqlite3.OperationalError:
                done = 0
            if done >= 3:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = dict(sqlite3.connect(db_path).execute("SELECT key, text || '|' || created FROM generations"))
    assert 3 <= len(before) < 16

    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT key, text || '|' || created FROM generations").fetchall()
    assert len(rows) == 16 and len({k for k, _ in rows}) == 16
    assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 16
    assert all(dict(rows)[k] == v for k, v in before.items())  # nothing generated twice
    assert "16 requests: " + str(16 - len(before)) + " generated now" in res.stdout
