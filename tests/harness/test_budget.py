"""Thinking budgets: the two-pass mechanism forces budget:N on any backend, s1 waits."""

from __future__ import annotations

import pytest

from thinkgate.harness.backends.base import EngineRequest, RawGeneration, ThinkBudget
from thinkgate.harness.budget import BUDGET_MECHANISMS, BudgetForcing
from thinkgate.harness.errors import UserError
from thinkgate.harness.profiles import Sampling
from thinkgate.tasks.thinkparse import parse_completion

EXIT = "\nTime is up.\n"


def encode(text: str) -> list[int]:
    return list(range(len(text.split())))  # one token a word


class WordEngine:
    """Emits a script word by word: stops at max_tokens ("length") or at the script's end
    ("stop"); records each request it got (the prompt it continued from)."""

    name = "words"

    def __init__(self, script: str):
        self.script, self.seen = script.split(" "), []

    def generate(self, requests):
        out = []
        for r in requests:
            self.seen.append(r)
            done = len(r.prompt.split()) - 1  # words already emitted after the 1-word prompt
            words = self.script[done:done + r.sampling.max_tokens]
            reason = "length" if done + len(words) < len(self.script) else "stop"
            out.append(RawGeneration(r.key, " ".join(words) + (" " if reason == "length" else ""), reason,
                                     1, len(words), 0.01))
        yield out

    def close(self):
        pass


def request(budget: ThinkBudget | None) -> EngineRequest:
    return EngineRequest("k", "Q: ", (0,), Sampling(temperature=0.6, max_tokens=budget.total if budget else 50, seed=1),
                         prefill="<think>\n", budget=budget)


def run(script: str, budget: ThinkBudget):
    engine = WordEngine(script)
    (g,), = list(BudgetForcing(engine, encode).generate([request(budget)]))
    return g, engine


def test_a_trace_cut_at_the_budget_is_forced_closed_and_answered():
    script = "a b c d e f g h i j </think> 42"
    g, engine = run(script, ThinkBudget(4, 20, early_exit=EXIT, end_think="</think>\n\n"))
    assert engine.seen[0].sampling.max_tokens == 4  # thinking pass capped at the budget
    assert g.text.startswith("a b c d " + EXIT + "</think>\n\n")
    assert g.meta["closed_by"] == "forced" and g.meta["budget_thinking_tokens"] == 4
    p = parse_completion("<think>\n", g.text)
    assert p.think_state == "closed" and "Time is up." in p.reasoning
    assert engine.seen[1].prompt.startswith("Q: a b c d") and engine.seen[1].prefill.startswith("<think>\na b c d")
    assert engine.seen[1].sampling.max_tokens == 20 - 4  # the answer gets what is left
    assert engine.seen[1].sampling.seed != engine.seen[0].sampling.seed


def test_a_model_that_closes_within_budget_is_left_alone():
    g, engine = run("a b </think> 42", ThinkBudget(10, 20))
    assert len(engine.seen) == 1 and g.text == "a b </think> 42" and g.meta["closed_by"] == "model"
    assert parse_completion("<think>\n", g.text).answer == "42"


def test_the_answer_cut_by_the_thinking_cap_continues():
    g, engine = run("a b </think> x y z w", ThinkBudget(4, 20))
    assert len(engine.seen) == 2 and g.meta["closed_by"] == "model"
    assert parse_completion("<think>\n", g.text).answer == "x y z w"


class Closer(WordEngine):
    """Closes its thinking at once, every time it is asked."""

    def generate(self, requests):
        self.seen.extend(requests)
        yield [RawGeneration(r.key, "hmm </think> 1", "stop", 1, 3, 0.01) for r in requests]


def test_s1_waits_replace_an_early_close():
    engine = Closer("")
    (g,), = list(BudgetForcing(engine, encode).generate([request(ThinkBudget(10, 30, waits=2, continuation="Wait"))]))
    assert g.meta["budget_waits"] == 2 and len(engine.seen) == 3
    assert g.text == "hmm Waithmm Waithmm </think> 1"
    assert engine.seen[2].prompt == "Q: hmm Waithmm Wait"
    p = parse_completion("<think>\n", g.text)
    assert p.answer == "1" and p.reasoning.count("Wait") == 2


def test_requests_without_a_budget_pass_through_untouched():
    engine = WordEngine("x y")
    (g,), = list(BudgetForcing(engine, encode).generate([request(None)]))
    assert g.text == "x y" and g.meta == {} and engine.seen[0].budget is None


def test_an_error_pass_is_an_error():
    class Broken(WordEngine):
        def generate(self, requests):
            yield [RawGeneration(r.key, "", "error", 1, 0, 0.0, None, "boom") for r in requests]

    (g,), = list(BudgetForcing(Broken(""), encode).generate([request(ThinkBudget(4, 20))]))
    assert g.finish_reason == "error" and g.error == "boom" and g.meta["budget"] == 4


def test_the_mechanism_is_a_registered_plugin():
    assert BUDGET_MECHANISMS.get("two-pass") is BudgetForcing


@pytest.mark.parametrize("modes, max_tokens, needle", [
    (("budget:0",), 64, "must be a positive integer"),
    (("budget:x",), 64, "must be a positive integer"),
    (("budget:8+wait:-1",), 64, "non-negative integer"),
    (("budget:64",), 64, "must be below max_tokens"),
    (("budgt:8",), 64, "unknown mode 'budgt:8'"),
])
def test_bad_budgets_are_user_errors(modes, max_tokens, needle):
    from thinkgate.harness.config import RunConfig

    with pytest.raises(UserError, match=needle):
        RunConfig(modes=modes, max_tokens=max_tokens)


def test_a_profile_that_cannot_be_spliced_refuses_budgets():
    from thinkgate.harness.backends import EngineConfig
    from thinkgate.harness.config import RunConfig

    with pytest.raises(UserError, match="cannot take a thinking budget"):
        RunConfig(profile="gpt-oss", backend="openai", model="m", modes=("budget:8",),
                  engine=EngineConfig(base_urls=("http://x/v1",)))


def test_budget_arms_end_to_end_through_the_runner(tmp_path, scripted):
    """The runner plans budget arms like think, forces them, and the items table audits them."""
    from thinkgate.harness.config import RunConfig
    from thinkgate.harness.runner import evaluate
    from thinkgate.harness.store import Store

    def long_thinker(req):
        if req.prompt.endswith("</think>\n\n"):  # the answer pass after a forced close
            return "\\boxed{18}"
        n = req.sampling.max_tokens  # never closes on its own: thinks until it is cut
        return RawGeneration(req.key, " ".join(["step"] * n), "length", len(req.prompt_token_ids), n, 0.01)

    cfg = RunConfig(out=str(tmp_path / "run"), suites=("gsm8k",), modes=("no_think", "budget:8", "think"),
                    limit=2, max_tokens=48)
    res = evaluate(cfg, backend=scripted(long_thinker), progress=False)
    assert res.errors == 0 and res.planned == 6
    store = Store(cfg.out)
    try:
        items = store.items()
    finally:
        store.close()
    b = items[items["mode"] == "budget:8"]
    assert len(b) == 2 and set(b["closed_by"]) == {"forced"} and b["budget_held"].all()
    assert set(b["budget"]) == {8} and set(b["budget_mechanism"]) == {"two-pass"}
    assert set(b["think_state"]) == {"closed"} and (b["answer"] == "\\boxed{18}").all()
    assert set(items.loc[items["mode"] == "think", "closed_by"]) == {"cut"}  # 48 tokens, never closed
    assert items.loc[items["mode"] == "no_think", "budget"].isna().all()
    # resume: adding an arm generates only that arm
    cfg2 = cfg.with_updates(modes=("no_think", "budget:8", "think", "budget:16"))
    res2 = evaluate(cfg2, backend=scripted(long_thinker), progress=False)
    assert res2.generated == 2
