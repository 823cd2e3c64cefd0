"""The backend contract: a batch of requests in, raw generations out, as they finish.

A backend has ONE method that matters, `generate`. It sees every pending request of a
run at once (so the engine can batch and schedule), and yields lists of finished
generations as soon as it has them, so the runner can write them to the store while
the rest are still running. Backends never parse think tags: that is
`thinkgate.harness.parsing`'s job. A request that fails comes back with
`finish_reason="error"` and the error text, never as an empty answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol, Sequence

from thinkgate.harness.profiles import Sampling


@dataclass(frozen=True)
class EngineRequest:
    """What an engine needs: a key to answer under, the prompt, the decoding settings.

    Local engines use `prompt` / `prompt_token_ids` (the chat template already applied).
    A chat API gets the profile's rendering instead: `messages`, the assistant `prefill`
    to continue, `template_kwargs` (e.g. Qwen3's enable_thinking) and `api_params`
    (top-level request fields such as gpt-oss's reasoning_effort).
    """

    key: str
    prompt: str
    prompt_token_ids: tuple[int, ...]
    sampling: Sampling
    messages: tuple[dict[str, str], ...] = ()
    prefill: str = ""
    template_kwargs: tuple[tuple[str, object], ...] = ()  # hashable: dict(template_kwargs)
    api_params: tuple[tuple[str, object], ...] = ()  # top-level chat API fields (reasoning_effort)
    budget: "ThinkBudget | None" = None  # budget:N modes: carried out by harness/budget.py


@dataclass(frozen=True)
class ThinkBudget:
    """A budget mode's contract, with the profile's splice texts: think at most `tokens`;
    a close before that is replaced by `continuation` up to `waits` times (s1); a trace cut
    at the budget gets `early_exit` + `end_think`; the answer gets what is left of `total`."""

    tokens: int
    total: int  # max_tokens of the whole generation (thinking + answer)
    waits: int = 0
    end_think: str = "</think>\n\n"
    early_exit: str = ""
    continuation: str = "Wait"


@dataclass(frozen=True)
class RawGeneration:
    key: str
    text: str
    finish_reason: str  # stop | length | error
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    reasoning_content: str | None = None  # a server's separate reasoning field
    error: str | None = None
    # what a budget mechanism observed: budget, budget_mechanism, closed_by, passes, ...
    meta: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class EngineConfig:
    """Backend settings: what vLLM / transformers take, and where a served model lives.

    Every backend factory takes (model, EngineConfig), so the model under test and the
    judge are built the same way from the same registry.
    """

    dtype: str = "auto"
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    batch_size: int = 16  # transformers only: prompts per generate() call
    max_requests_in_flight: int = 4096  # vLLM: chunk only to bound host memory
    seed: int = 0
    # served models (--backend openai): the server applies the chat template
    base_urls: tuple[str, ...] = ()
    api_key_env: str | None = None  # NAME of the env var with the key; the key is never stored
    concurrency: int = 16
    request_timeout: float = 600.0
    send_seed: bool = True  # send each sample's seed to the server


class Backend(Protocol):
    name: str

    def generate(self, requests: Sequence[EngineRequest]) -> Iterator[list[RawGeneration]]:
        """Generate every request; yield lists of finished generations as they come."""
        ...

    def close(self) -> None: ...


def error_generations(requests: Sequence[EngineRequest], error: BaseException | str) -> list[RawGeneration]:
    """Every request of a failed batch, recorded as an error (never as an empty answer)."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return [RawGeneration(r.key, "", "error", len(r.prompt_token_ids), 0, 0.0, None, text)
            for r in requests]
