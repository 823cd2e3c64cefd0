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
class _State:
    request: EngineRequest
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


class BudgetForcing:
    """A Backend around a Backend: budget requests are forced in passes, the rest pass through."""

    def __init__(self, inner: Backend, encode: Callable[[str], list[int]] | None = None):
        self.inner, self.encode = inner, encode
        self.name = inner.name

    def close(self) -> None:
        self.inner.close()

    def generate(self, requests: Sequence[EngineRequest]) -> Iterator[list[RawGeneration]]:
        plain = [r for r in requests if r.budget is None]
        if plain:
            yield from self.inner.generate(plain)
        active = [_State(r) for r in requests if r.budget is not None]
        while active:
            by_key = {s.request.key: s for s in active}
            finished, active = [], []
            for batch in self.inner.generate([self._next_request(s) for s in by_key.values()]):
                for g in batch:
                    s = by_key[g.key]
                    (active if self._advance(s, g) else finished).append(s)
            if finished:
                yield [self._result(s) for s in finished]

    # ------------------------------------------------------------------ one step

    def _next_request(self, s: _State) -> EngineRequest:
        b, r = s.request.budget, s.request
        left = b.tokens - s.thinking if s.phase == "think" else b.total - s.thinking - self._count(s.answer_part())
        sampling = replace(r.sampling, max_tokens=max(1, left),
                           seed=None if r.sampling.seed is None else (r.sampling.seed + s.passes) & 0x7FFFFFFF)
        if not s.text:
            return replace(r, sampling=sampling, budget=None)
        prompt = r.prompt + s.text
        ids = tuple(self.encode(prompt)) if (self.encode and r.prompt) else ()
        return replace(r, prompt=prompt, prompt_token_ids=ids, prefill=r.prefill + s.text,
                       sampling=sampling, budget=None)

    def _advance(self, s: _State, g: RawGeneration) -> bool:
        """Take one pass's output; True when the request needs another pass."""
        b = s.request.budget
        s.passes += 1
        s.last, s.latency = g, s.latency + g.latency_s
        s.prompt_tokens = s.prompt_tokens or g.prompt_tokens
        s.generated += g.completion_tokens
        if g.finish_reason == "error":
            return False
        if s.phase == "answer":
            s.text += _joined(g)
            return False
        text = s.text + _joined(g)
        if CLOSE in text:
            head = text[: text.index(CLOSE)]
            s.thinking = self._count(head, fallback=s.thinking + g.completion_tokens)
            if s.waits_used < b.waits and s.thinking < b.tokens:  # s1: not yet, think more
                s.text, s.waits_used = head + b.continuation, s.waits_used + 1
                return True
            s.text, s.closed_by = text, "model"
            if g.finish_reason == "length" and s.thinking + self._count(s.answer_part()) < b.total:
                s.phase = "answer"  # the budget pass's cap cut the answer: let it finish
                return True
            return False
        s.thinking, s.text = s.thinking + g.completion_tokens, text
        if g.finish_reason == "length" or s.thinking >= b.tokens:
            s.text += b.early_exit + b.end_think
            s.closed_by, s.phase = "forced", "answer"
            return True
        s.closed_by = "eos"  # the model stopped without closing: an unclosed trace, as it is
        return False

    def _result(self, s: _State) -> RawGeneration:
        g, b = s.last, s.request.budget
        meta = {"budget": b.tokens, "budget_mechanism": MECHANISM, "closed_by": s.closed_by,
                "budget_thinking_tokens": s.thinking, "budget_passes": s.passes, "budget_waits": s.waits_used}
        if g.finish_reason == "error":
            return replace(g, key=s.request.key, meta=meta)
        return RawGeneration(s.request.key, s.text, g.finish_reason, s.prompt_tokens, s.generated,
                             s.latency, None, None, meta)

    def _count(self, text: str, fallback: int = 0) -> int:
        if not text:
            return 0
        if self.encode is None:  # a served model without a local tokenizer: ~4 characters a token
            return fallback or max(1, round(len(text) / 4))
        return len(self.encode(text))


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
