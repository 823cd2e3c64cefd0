"""Model profiles: how one model family is switched between think and no-think.

A profile turns an item's chat into (messages, assistant prefill, chat-template kwargs)
for a mode, and knows the vendor's recommended sampling per mode. Modes:

- `think`     thinking on (the family's switch, or a prompt that asks for `<think>`)
- `no_think`  thinking off
- `default`   the model's own template with no switch: measures *spontaneous* thinking

`render_prompt` applies the tokenizer's chat template and the prefill, and returns the
exact prompt text plus the part of it the parser must see (the assistant prefix).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from thinkgate.harness.errors import UserError
from thinkgate.tasks.plugins import Registry, did_you_mean

MODES = ("think", "no_think", "default")
# `budget:N` (think at most N tokens, then the end of thinking is forced) and
# `budget:N+wait:M` (s1: a close before N is replaced by the continuation word, up to M times)
_BUDGET = re.compile(r"budget:(?P<n>[^+]*)(?:\+wait:(?P<m>.*))?")
EARLY_EXIT = ("\n\nConsidering the limited time by the user, I have to give the solution based on the "
              "thinking directly now.\n")  # Qwen3's vendor phrase

R1_ZERO_SYSTEM = (
    "A conversation between User and Assistant. The user asks a question, and the "
    "Assistant solves it. The Assistant first thinks about the reasoning process in the "
    "mind and then provides the User with the answer. The reasoning process is enclosed "
    "within <think> </think> tags, followed by the final answer, i.e., "
    "<think> reasoning process here </think> final answer here."
)
DIRECT_SYSTEM = (
    "A conversation between User and Assistant. The user asks a question, and the "
    "Assistant gives the final answer directly and concisely, without showing any reasoning."
)
NO_THINKING_PREFILL = "<think>\n\n</think>\n\n"  # NoThinking (Ma et al. 2025)


@dataclass(frozen=True)
class Sampling:
    """Decoding settings of one request. `seed` makes one sample reproducible."""

    temperature: float
    top_p: float = 1.0
    top_k: int = -1  # -1: off
    min_p: float = 0.0
    max_tokens: int = 2048
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "min_p": self.min_p, "max_tokens": self.max_tokens, "seed": self.seed}


@dataclass(frozen=True)
class Rendering:
    messages: tuple[dict[str, str], ...]
    prefill: str = ""
    template_kwargs: dict[str, Any] = field(default_factory=dict)
    # top-level fields of a chat-completions request (gpt-oss: `reasoning_effort`); only a
    # served model can take them, so a profile that sets them is `served_only`
    api_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    sampling: dict[str, Sampling]  # per mode: the vendor's recommendation
    render: Callable[[tuple[dict[str, str], ...], str], Rendering]
    source: str = ""
    served_only: bool = False  # output only a server can split (gpt-oss's harmony channels)
    # budget forcing: what is spliced in when thinking is cut (early exit + end of thinking),
    # and the s1 continuation word; `budgets=False`: the family's thinking cannot be spliced
    end_think: str = "</think>\n\n"
    early_exit: str = EARLY_EXIT
    continuation: str = "\nWait"  # s1: appended where the model closed too early
    budgets: bool = True

    def sampling_for(self, mode: str, matched: bool = False) -> Sampling:
        """The mode's recommended sampling; `matched` uses the think setting for every mode.
        A budget mode samples as think does."""
        return self.sampling["think" if matched else base_mode(mode)]

    def render_mode(self, messages: tuple[dict[str, str], ...], mode: str) -> Rendering:
        """The rendering of any mode: a budget mode starts exactly like think."""
        return self.render(messages, base_mode(mode))


def _merge_system_into_user(messages: tuple[dict[str, str], ...]) -> tuple[dict[str, str], ...]:
    """DeepSeek-R1 wants no system prompt: its text goes in front of the first user turn."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest:
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return tuple(rest)


def _with_system(messages: tuple[dict[str, str], ...], system: str) -> tuple[dict[str, str], ...]:
    """Put `system` first; an item's own system text follows it in the same turn."""
    own = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = tuple(m for m in messages if m["role"] != "system")
    return ({"role": "system", "content": f"{system}\n\n{own}" if own else system},) + rest


def _render_generic(messages, mode):
    if mode == "think":
        return Rendering(_with_system(messages, R1_ZERO_SYSTEM), "<think>\n")
    if mode == "no_think":
        return Rendering(_with_system(messages, DIRECT_SYSTEM))
    return Rendering(messages)


def _render_r1(messages, mode):
    messages = _merge_system_into_user(messages)
    if mode == "think":
        return Rendering(messages, "<think>\n")
    if mode == "no_think":
        return Rendering(messages, NO_THINKING_PREFILL)
    return Rendering(messages)


def _template_switch(kwarg: str):
    """Hybrid models switched by one boolean chat-template kwarg (Qwen3: `enable_thinking`,
    DeepSeek-V3.1: `thinking`); `default` passes none."""
    def render(messages, mode):
        if mode == "default":
            return Rendering(messages)
        return Rendering(messages, "", {kwarg: mode == "think"})
    return render


def _render_qwen3_soft(messages, mode):
    if mode == "default":
        return Rendering(messages)
    switch = " /think" if mode == "think" else " /no_think"
    msgs = [dict(m) for m in messages]
    last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
    msgs[last_user]["content"] += switch
    return Rendering(tuple(msgs))


def _render_gpt_oss(messages, mode):
    # gpt-oss cannot switch reasoning off: no_think is the lowest effort it has.
    if mode == "default":
        return Rendering(messages)
    return Rendering(messages, api_params={"reasoning_effort": "high" if mode == "think" else "low"})


_R1 = Sampling(temperature=0.6, top_p=0.95)
_GPT_OSS = Sampling(temperature=1.0, top_p=1.0)
_QWEN3_THINK = Sampling(temperature=0.6, top_p=0.95, top_k=20)
_QWEN3_NOTHINK = Sampling(temperature=0.7, top_p=0.8, top_k=20)

# Profiles are plug-ins: a third-party package adds one through the `thinkgate.profiles`
# entry point group (the entry point names a `Profile`), or calls PROFILES.register(name, p).
PROFILES: Registry[Profile] = Registry("profile", entry_points="thinkgate.profiles")

for _p in [
    Profile("generic",
            "any chat or base model: R1-Zero system prompt + `<think>` prefill for think, "
            "a direct-answer prompt for no_think (used for the embedded default)",
            {"think": _R1, "no_think": _R1, "default": _R1}, _render_generic,
            "DeepSeek-R1 paper (R1-Zero template); T=0.6/p=0.95 in every mode"),
    Profile("deepseek-r1",
            "DeepSeek-R1 and R1-Distill: no system prompt; prefill `<think>\\n` (think) "
            "or `<think>\\n\\n</think>\\n\\n` (no_think, NoThinking)",
            {"think": _R1, "no_think": _R1, "default": _R1}, _render_r1,
            "DeepSeek-R1 model card: T=0.6, top-p 0.95, never greedy"),
    Profile("qwen3",
            "Qwen3 hybrid models: `enable_thinking` through the chat template",
            {"think": _QWEN3_THINK, "no_think": _QWEN3_NOTHINK, "default": _QWEN3_THINK},
            _template_switch("enable_thinking"),
            "Qwen3 model card: think T=0.6/p=0.95/k=20; no-think T=0.7/p=0.8/k=20"),
    Profile("qwen3-soft",
            "Qwen3 hybrid models, soft switch: `/think` or `/no_think` after the user turn",
            {"think": _QWEN3_THINK, "no_think": _QWEN3_NOTHINK, "default": _QWEN3_THINK},
            _render_qwen3_soft, "Qwen3 model card (soft switch)"),
    Profile("deepseek-v3.1",
            "DeepSeek-V3.1 hybrid: `thinking` through the chat template",
            {"think": _R1, "no_think": _R1, "default": _R1}, _template_switch("thinking"),
            "DeepSeek-V3.1 model card (thinking template kwarg); T=0.6/p=0.95"),
    Profile("gpt-oss",
            "gpt-oss: `reasoning_effort` high (think) / low (no_think; it cannot turn "
            "reasoning off); served models only (--backend openai), the server splits "
            "the harmony reasoning channel into reasoning_content",
            {"think": _GPT_OSS, "no_think": _GPT_OSS, "default": _GPT_OSS}, _render_gpt_oss,
            "OpenAI gpt-oss model card: T=1.0, top-p 1.0", served_only=True, budgets=False),
]:
    PROFILES.register(_p.name, _p)


def get_profile(name: str) -> Profile:
    return PROFILES.get(name)


def guess_profile(model_name: str) -> str:
    """A profile from a model's name: guess_profile("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B") -> "deepseek-r1"."""
    low = model_name.lower()
    if "deepseek-r1" in low or "r1-distill" in low:
        return "deepseek-r1"
    if "qwen3" in low and "2507" not in low:
        return "qwen3"
    if "deepseek-v3.1" in low:
        return "deepseek-v3.1"
    if "gpt-oss" in low:
        return "gpt-oss"
    return "generic"


@dataclass(frozen=True)
class BudgetSpec:
    """`budget:N[+wait:M]`: at most N thinking tokens; M s1-style continuations."""

    tokens: int
    waits: int = 0


def parse_budget(mode: str) -> BudgetSpec | None:
    """parse_budget("budget:512+wait:2") -> BudgetSpec(512, 2); None for a plain mode;
    a malformed budget raises a UserError that says how to write one."""
    m = _BUDGET.fullmatch(mode)
    if not m:
        return None
    n, waits = m.group("n"), m.group("m")
    how = "write budget:N or budget:N+wait:M with N a positive and M a non-negative integer"
    if not n.isdigit() or int(n) < 1:
        raise UserError(f"mode '{mode}': the thinking budget must be a positive integer of tokens; {how}")
    if waits is not None and not waits.isdigit():
        raise UserError(f"mode '{mode}': the number of waits must be a non-negative integer; {how}")
    return BudgetSpec(int(n), int(waits or 0))


def base_mode(mode: str) -> str:
    """The plain mode a mode starts as: base_mode("budget:128") -> "think"."""
    return "think" if parse_budget(mode) else mode


def check_modes(modes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The modes, validated: check_modes(("thnk",)) raises "unknown mode 'thnk' (did you mean 'think'?)"."""
    modes = tuple(modes)
    if not modes:
        raise UserError(f"no modes given; modes are: {', '.join(MODES)}, budget:N, budget:N+wait:M")
    for m in modes:
        if m not in MODES and parse_budget(m) is None:
            raise did_you_mean("mode", m, MODES, " (or budget:N, budget:N+wait:M)")
    if len(set(modes)) != len(modes):
        raise UserError(f"modes {', '.join(modes)} name one mode twice; give each once")
    return modes


def parse_modes(text: str) -> tuple[str, ...]:
    return check_modes(tuple(m.strip() for m in text.split(",") if m.strip()))


_TEMPLATE_TAIL = re.compile(r"<think>\s*(</think>\s*)?$")


def render_prompt(tokenizer: Any, rendering: Rendering) -> tuple[str, str]:
    """Apply the chat template and the prefill.

    Returns (prompt, assistant_prefix): the full prompt text, and its tail that belongs
    to the assistant turn (a think tag put there by the template or by the profile),
    which the parser must see. A template that already ends in `<think>` is not given a
    second one: the profile's prefill replaces the template's tag.
    """
    head = tokenizer.apply_chat_template(
        list(rendering.messages), tokenize=False, add_generation_prompt=True,
        **rendering.template_kwargs,
    )
    tail = _TEMPLATE_TAIL.search(head)
    if tail and rendering.prefill.lstrip().startswith("<think>"):
        head, tail = head[: tail.start()], None
    template_prefix = tail.group() if tail else ""
    return head + rendering.prefill, template_prefix + rendering.prefill


def with_overrides(s: Sampling, **overrides: Any) -> Sampling:
    return replace(s, **{k: v for k, v in overrides.items() if v is not None})
