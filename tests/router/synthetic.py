"""A synthetic items table with a known routing signal (for the router's tests).

Math-looking prompts (numbers and operators) gain from thinking (success 0.9 vs 0.2);
writing prompts lose (0.4 vs 0.6); elsewhere both modes succeed at 0.6. Both modes of an
item-sample share one uniform draw (common random numbers), so the sign of each gain is
exact: math >= 0, writing <= 0, others 0 (a tie: no-think). Think answers are longer.
Prompts are rendered ChatML with a mode-specific system prompt, as a real run would do.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

DOMAINS = ("math", "code", "summary", "translation", "writing", "longtail")
_WORDS = ("river", "garden", "market", "winter", "letter", "harbor", "forest", "engine", "castle", "school")


def _prompt(domain: str, rng: np.random.Generator) -> str:
    w = rng.choice(_WORDS, 3)
    a, b, c = rng.integers(2, 999, 3)
    if domain == "math":
        return f"A {w[0]} has {a} boxes with {b} apples each; {c} are sold. How many apples remain? Compute {a} * {b} - {c}."
    if domain == "code":
        return f"Write a Python function `{w[0]}_{w[1]}(xs)` that returns the {w[2]} items sorted."
    if domain == "summary":
        return f"Summarize this passage in one line: the {w[0]} near the {w[1]} was rebuilt after the {w[2]}."
    if domain == "translation":
        return f"Translate into Malay: The {w[0]} is next to the {w[1]} and the {w[2]}."
    if domain == "writing":
        return f"Write a short poem about the {w[0]}, the {w[1]} and the {w[2]}, in about {a} words."
    return f"In which year was the {w[0]} of {w[1].title()} first described?"


def _chatml(system: str, user: str) -> str:
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def synthetic_items(n_per_domain: int = 30, k: int = 1, seed: int = 0, messages: bool = True,
                    domains=DOMAINS) -> pd.DataFrame:
    """Items table rows (both modes, K samples) with the items-table columns a router needs."""
    rng = np.random.default_rng(seed)
    p_think = {"math": (0.9, 0.2), "writing": (0.4, 0.6)}  # (think, no_think) success rates
    rows = []
    for dom in domains:
        for i in range(n_per_domain):
            text = _prompt(dom, rng)
            pt, pn = p_think.get(dom, (0.6, 0.6))
            draws = rng.random(k)
            for mode, p, sys_prompt in (("think", pt, "Think first, then answer."),
                                        ("no_think", pn, "Answer directly.")):
                for s in range(k):
                    reasoning = int(rng.integers(200, 600)) if mode == "think" else 0
                    answer = int(rng.integers(20, 80))
                    rows.append({
                        "model": "m", "profile": "generic", "suite": f"{dom}-suite", "domain": dom,
                        "verifiable": dom in ("math", "code"), "group": f"{dom}/{i // 2:03d}",
                        "item_id": f"{dom}/{i:03d}", "mode": mode, "sample": s,
                        "prompt": _chatml(sys_prompt, text),
                        **({"messages": json.dumps([{"role": "user", "content": text}])} if messages else {}),
                        "score": float(draws[s] < p), "status": "ok",
                        "completion_tokens": reasoning + answer, "reasoning_tokens": reasoning,
                        "answer_tokens": answer,
                    })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ many arms

ARMS = ("no_think", "budget:64", "budget:256", "think")
# success rate per arm (cheapest first): the best arm depends on a visible kind of prompt
ARM_P = {
    "lookup": (0.8, 0.8, 0.8, 0.8),     # every arm alike: a tie, the cheapest wins
    "arith": (0.2, 0.9, 0.9, 0.9),      # a short think is enough: budget:64
    "word": (0.1, 0.3, 0.9, 0.9),       # a longer think: budget:256
    "proof": (0.05, 0.1, 0.3, 0.9),     # only full thinking: think
    "writing": (0.7, 0.5, 0.4, 0.3),    # thinking hurts: no_think
}
_THINK_TOKENS = {"lookup": (150, 300), "arith": (200, 400), "word": (300, 600), "proof": (800, 1500),
                 "writing": (300, 600)}


def _arm_prompt(kind: str, rng: np.random.Generator) -> str:
    w = rng.choice(_WORDS, 3)
    a, b, c = rng.integers(2, 999, 3)
    if kind == "lookup":
        return f"What is the capital city of the {w[0]} region near the {w[1]}?"
    if kind == "arith":
        return f"Compute {a} + {b}."
    if kind == "word":
        return (f"A {w[0]} sells {a} boxes of {b} apples; {c} apples spoil and the rest are split between "
                f"{int(a) % 7 + 2} shops. How many apples does each shop get?")
    if kind == "proof":
        return (f"Prove that for every integer n > {a}, the sum of the first n odd numbers equals n^2 "
                f"(the {w[0]} lemma).")
    return f"Write a short poem about the {w[0]}, the {w[1]} and the {w[2]}."


def _arm_tokens(kind: str, arm: str, rng: np.random.Generator) -> int:
    answer = int(rng.integers(20, 60))
    if arm == "no_think":
        return answer
    if arm.startswith("budget:"):
        return int(arm.split(":")[1]) + answer
    lo, hi = _THINK_TOKENS[kind]
    return int(rng.integers(lo, hi)) + answer


def synthetic_arm_items(n_per_kind: int = 40, k: int = 1, seed: int = 0, kinds=tuple(ARM_P),
                        arms=ARMS, p=None) -> pd.DataFrame:
    """Items table rows for several arms (K samples each). Every arm of an item-sample
    shares one uniform draw, so an arm with a higher success rate never does worse on it."""
    rng = np.random.default_rng(seed)
    probs = p or ARM_P
    rows = []
    for kind in kinds:
        for i in range(n_per_kind):
            text = _arm_prompt(kind, rng)
            draws = rng.random(k)
            for arm, pa in zip(ARMS, probs[kind]):
                if arm not in arms:
                    continue
                for s in range(k):
                    tokens = _arm_tokens(kind, arm, rng)
                    rows.append({
                        "model": "m", "profile": "generic", "suite": f"{kind}-suite", "domain": kind,
                        "verifiable": kind != "writing", "group": f"{kind}/{i // 2:03d}",
                        "item_id": f"{kind}/{i:03d}", "mode": arm, "sample": s,
                        "prompt": _chatml("Answer.", text),
                        "messages": json.dumps([{"role": "user", "content": text}]),
                        "score": float(draws[s] < pa), "status": "ok", "completion_tokens": tokens,
                    })
    return pd.DataFrame(rows)
