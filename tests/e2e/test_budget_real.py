"""budget:N on the real tiny model through transformers: thinking is cut at N and forced
closed, the answer comes in a second pass, and the items table audits it."""

import pytest

from thinkgate.harness.config import RunConfig
from thinkgate.harness.runner import evaluate
from thinkgate.harness.store import Store


@pytest.mark.slow
def test_budget_forcing_on_the_real_model(tmp_path, tiny_model):
    cfg = RunConfig(out=str(tmp_path / "run"), backend="hf", suites=("gsm8k",), modes=("budget:16",),
                    limit=2, max_tokens=64, temperature=0.0)
    res = evaluate(cfg, progress=False)
    assert res.errors == 0 and res.generated == 2
    store = Store(cfg.out)
    try:
        items = store.items()
    finally:
        store.close()
    assert set(items["budget"]) == {16} and items["budget_held"].all(), items[["closed_by", "reasoning_tokens"]]
    forced = items[items["closed_by"] == "forced"]
    assert len(forced) >= 1  # SmolLM2 does not close a trace in 16 tokens on its own
    assert (forced["think_state"] == "closed").all()
    assert forced["reasoning"].str.contains("Considering the limited time").all()
    assert (items["completion_tokens"] <= 64 + 16).all()
