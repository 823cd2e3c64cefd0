"""`thinkgate router train` then `router eval` on a run: the report gains its router section."""

import json

from .conftest import run_cli
from .reports.test_golden_report import fixed_store


def test_router_train_eval_and_report(tmp_path):
    run = tmp_path / "run"
    fixed_store(run).close()
    res = run_cli("router", "train", str(run), "--out", str(tmp_path / "router"), "--features", "hand")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "router" / "router.joblib").is_file()
    res = run_cli("router", "eval", str(tmp_path / "router"), str(run), "--n-boot", "50")
    assert res.returncode == 0, res.stderr
    ev = json.loads((run / "router_eval.json").read_text())
    assert {"never", "always", "oracle", "random", "router", "curve", "leave_one_domain_out"} <= set(ev)
    assert "## Router: think only where it pays" in (run / "report.md").read_text()
    assert "Router: think only where it pays" in (run / "report.html").read_text()


def test_router_train_on_a_folder_without_a_run(tmp_path):
    res = run_cli("router", "train", str(tmp_path))
    assert res.returncode == 2 and res.stderr.startswith("error: ") and "Traceback" not in res.stderr
