"""Thinking budgets on every backend: `budget:N` (early exit) and `budget:N+wait:M` (s1).

    engine = BudgetForcing(make_backend(...), encode)   # requests with a ThinkBudget are
    for batch in engine.generate(requests): ...         # forced; the others pass through

The two-pass mechanism, the same for vLLM, transformers and a served model:

1. **think**: generate with max_tokens = what is left of the budget N.
2. The model closed thinking itself (`</think>` in the text):
   - with waits left and budget left (s1), the close and what followed it are dropped, the
     profile's continuation word ("Wait") is appended, and thinking goes on (step 1);
   - otherwise it is done, or, when the answer was cut by the budget pass's cap, the
     answer continues (step 4).
3. The budget ran out with thinking open: the profile's early-exit phrase and end-of-
   thinking text (`</think>\\n\\n`) are appended — thinking is *forced* closed.
4. **answer**: continue from prompt + everything so far, with what is left of max_tokens.

Each pass continues the text exactly: a local engine gets prompt + text so far (re-encoded,
so a token boundary may differ from the engine's own split); a served model gets the text
as the assistant prefill it continues (`continue_final_message`). The generation stored is
the whole text, so the one think parser reads it like any other; `meta` records what the
mechanism did (budget, closed_by: model | forced | eos, thinking tokens it counted, passes).

Why not the engine's native budget: vLLM's per-request `thinking_token_budget` needs a
reasoning parser config and is ignored by its V2 runner (vllm #50473), and an ignored budget
is a wrong figure; the two-pass splice is enforced by construction on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

from thinkgate.harness.backends.base import Backend, EngineRequest, RawGeneration, ThinkBudget
from thinkgate.tasks.plugins import Registry
from thinkgate.tasks.thinkparse import CLOSE

MECHANISM = "two-pass"
# A budget holds when the thinking the mechanism counted is at most N + this: a pass stops at
# its max_tokens exactly, but a continued prompt is re-encoded, and a word can split into one
# more token than the engine produced.
BUDGET_TOLERANCE = 4
# name -> factory(backend, encode) -> Backend; the `thinkgate.budgets` entry point group adds more
BUDGET_MECHANISMS: Registry[Callable[..., Backend]] = Registry("budget mechanism", entry_points="thinkgate.budgets")


@dataclass
class BudgetRun:
    """One budgeted request, pass by pass: `next_request()` is what to send, `advance(g)`
    takes what came back (True: another pass is needed), `result()` is the whole generation.
    The same state machine drives a local or served backend (BudgetForcing) and the
    routing proxy's upstream calls."""

    request: EngineRequest
    encode: Callable[[str], list[int]] | None = None
    text: str = ""
    thinking: int = 0  # thinking tokens spent (the text before the close)
    generated: int = 0  # every token generated, dropped ones (s1) included: the compute
    latency: float = 0.0
    prompt_tokens: int = 0
    waits_used: int = 0
    passes: int = 0
    closed_by: str | None = None
    phase: str = "think"
    last: RawGeneration | None = field(default=None, repr=False)

    def answer_part(self) -> str:
        return self.text.split(CLOSE, 1)[1] if CLOSE in self.text else ""

    def next_request(self) -> EngineRequest:
        b, r = self.request.budget, self.request
        left = (b.tokens - self.thinking if self.phase == "think"
                else b.total - self.thinking - self._count(self.answer_part().strip()))
        seed = None if r.sampling.seed is None else (r.sampling.seed + self.passes) & 0x7FFFFFFF
        sampling = replace(r.sampling, max_tokens=max(1, left), seed=seed)
        if not self.text:
            return replace(r, sampling=sampling, budget=None)
        prompt = r.prompt + self.text
        ids = tuple(self.encode(prompt)) if (self.encode and r.prompt) else ()
        return replace(r, prompt=prompt, prompt_token_ids=ids, prefill=r.prefill + self.text,
                       sampling=sampling, budget=None)

    def advance(self, g: RawGeneration) -> bool:
        """Take one pass's output; True when the request needs another pass."""
        b = self.request.budget
        self.passes += 1
        self.last, self.latency = g, self.latency + g.latency_s
        self.prompt_tokens = self.prompt_tokens or g.prompt_tokens
        self.generated += g.completion_tokens
        if g.finish_reason == "error":
            return False
        if self.phase == "answer":
            self.text += _joined(g)
            return False
        text = self.text + _joined(g)
        if CLOSE in text:
            return self._closed(text, g)
        self.thinking, self.text = self.thinking + g.completion_tokens, text
        if g.finish_reason == "length" or self.thinking >= b.tokens:
            self.text += b.early_exit + b.end_think
            self.closed_by, self.phase = "forced", "answer"
            return True
        self.closed_by = "eos"  # the model stopped without closing: an unclosed trace, as it is
        return False

    def _closed(self, text: str, g: RawGeneration) -> bool:
        """The model closed its thinking in this pass."""
        b = self.request.budget
        head = text[: text.index(CLOSE)]
        self.thinking = self._count(head, fallback=self.thinking + g.completion_tokens)
        if self.waits_used < b.waits and self.thinking < b.tokens:  # s1: not yet, think more
            self.text, self.waits_used = head + b.continuation, self.waits_used + 1
            return True
        self.text, self.closed_by = text, "model"
        if g.finish_reason == "length" and self.thinking + self._count(self.answer_part().strip()) < b.total:
            self.phase = "answer"  # the budget pass's cap cut the answer: let it finish
            return True
        return False

    def result(self) -> RawGeneration:
        g, b = self.last, self.request.budget
        meta = {"budget": b.tokens, "budget_mechanism": MECHANISM, "closed_by": self.closed_by,
                "budget_thinking_tokens": self.thinking, "budget_passes": self.passes,
                "budget_waits": self.waits_used}
        if g.finish_reason == "error":
            return replace(g, key=self.request.key, meta=meta)
        return RawGeneration(self.request.key, self.text, g.finish_reason, self.prompt_tokens, self.generated,
                             self.latency, None, None, meta)

    def _count(self, text: str, fallback: int = 0) -> int:
        if not text:
            return 0
        if self.encode is None:  # a served model without a local tokenizer: ~4 characters a token
            return fallback or max(1, round(len(text) / 4))
        return len(self.encode(text))


class BudgetForcing:
    """A Backend around a Backend: budget requests are forced in passes (all pending
    requests of a pass in one batch), the rest pass through."""

    def __init__(self, inner: Backend, encode: Callable[[str], list[int]] | None = None):
        self.inner, self.encode = inner, encode
        self.name = inner.name

    def close(self) -> None:
        self.inner.close()

    def generate(self, requests: Sequence[EngineRequest]) -> Iterator[list[RawGeneration]]:
        plain = [r for r in requests if r.budget is None]
        if plain:
            yield from self.inner.generate(plain)
        active = [BudgetRun(r, self.encode) for r in requests if r.budget is not None]
        while active:
            by_key = {run.request.key: run for run in active}
            finished, active = [], []
            for batch in self.inner.generate([run.next_request() for run in by_key.values()]):
                for g in batch:
                    run = by_key[g.key]
                    (active if run.advance(g) else finished).append(run)
            if finished:
                yield [run.result() for run in finished]


BUDGET_MECHANISMS.register(MECHANISM, BudgetForcing)


def _joined(g: RawGeneration) -> str:
    """One pass's text. A server that splits reasoning out (vLLM's reasoning parsers) is
    joined back: its reasoning, then, when it returned an answer, the close and the answer."""
    if g.reasoning_content and g.reasoning_content.strip():
        return g.reasoning_content + (CLOSE + g.text if g.text.strip() else "")
    return g.text


def think_budget(mode_budget, profile, max_tokens: int) -> ThinkBudget:
    """The ThinkBudget of a `budget:N[+wait:M]` mode for a profile."""
    return ThinkBudget(mode_budget.tokens, max_tokens, mode_budget.waits, profile.end_think,
                       profile.early_exit, profile.continuation)
