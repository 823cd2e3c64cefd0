"""The pairwise judge, with the real tiny model as judge (its verdicts are poor; the
mechanics are real)."""

import pandas as pd
import pytest

from thinkgate.harness.backends import EngineConfig
from thinkgate.harness.judge import JudgeConfig, parse_verdict, run_judge
from thinkgate.harness.report_io import write_outputs
from thinkgate.harness.runner import RunConfig, evaluate
from thinkgate.harness.store import Store
from thinkgate.reports.judge import judge_estimates


@pytest.mark.parametrize("text, verdict", [("A", "A"), ("**B** is better.", "B"), ("T", "T"),
                                           ("Answer A is better", "A"), ("Both are fine", "invalid")])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


def test_judge_estimates_counts_ties_as_half_and_order_agreement():
    j = pd.DataFrame({
        "suite": ["s"] * 4, "domain": ["summary"] * 4, "item_id": ["a", "a", "b", "b"], "sample": [0] * 4,
        "order": ["think_first", "no_think_first"] * 2, "verdict": ["A", "B", "A", "A"],
        "winner": ["think", "think", "think", "no_think"], "judge_model": ["m"] * 4})
    [e] = judge_estimates(j)
    assert e["think_win_rate"] == pytest.approx(0.75)  # item a: 1.0, item b: 0.5
    assert e["order_agreement"] == pytest.approx(0.5) and e["first_position_rate"] == pytest.approx(0.75)


@pytest.mark.slow
def test_tiny_model_judges_both_orders_and_the_report_shows_it(tmp_path, tiny_model):
    out = tmp_path / "run"
    cfg = RunConfig(out=str(out), backend="hf", suites=("abstract2title",), modes=("think", "no_think"),
                    samples=1, limit=2, max_tokens=48, engine=EngineConfig(batch_size=8))
    evaluate(cfg, progress=False)
    store = Store(out)
    n = run_judge(store, JudgeConfig(None, "hf", max_tokens=8, engine=EngineConfig(batch_size=8)))
    assert n == 4  # 2 items x 2 orders
    j = store.judgments()
    assert set(j["order"]) == {"think_first", "no_think_first"}
    assert set(j["winner"]) <= {"think", "no_think", "tie", "invalid"}
    assert run_judge(store, JudgeConfig(None, "hf", max_tokens=8)) == 0  # resumable
    write_outputs(store)
    assert "## Pairwise judge" in (out / "report.md").read_text()
    assert (out / "judgments.csv").is_file()
