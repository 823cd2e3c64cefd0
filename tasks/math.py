"""Math suite: GSM8K test (Cobbe et al. 2021, arXiv:2110.14168), scored with math-verify.

The gold answer is the text after `####` in the worked solution. Scoring follows
math-verify's contract: `parse` the gold first, then `verify(gold, prediction)`, each
with a timeout. A gold that does not parse is a defect of the data: the score says
`status="data_error"` and the report counts it apart, never as a wrong answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from thinkgate.tasks.registry import register_scorer, register_suite
from thinkgate.tasks.types import Item, Score, Suite, chat

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def gsm8k_gold(solution: str) -> str:
    """The final answer of a GSM8K solution: gsm8k_gold("...\\n#### 1,234") -> "1234"."""
    if "####" not in solution:
        return ""
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


def load_gsm8k() -> list[Item]:
    path = resources.files("thinkgate.tasks") / "data" / "gsm8k" / "test.jsonl"
    items = []
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            row = json.loads(line)
            item_id = f"gsm8k/{i:04d}"
            items.append(
                Item(
                    id=item_id,
                    suite="gsm8k",
                    domain="math",
                    verifiable=True,
                    messages=chat(None, f"{row['question']}\n\n{INSTRUCTION}"),
                    reference=gsm8k_gold(row["answer"]),
                    group=item_id,  # every GSM8K problem is its own cluster
                    meta={"solution": row["answer"]},
                )
            )
    return items


@register_scorer("math", domain="math", verifiable=True)
@dataclass(frozen=True)
class MathVerifyScorer:
    """Binary correctness by math-verify. Timeouts are per call, in seconds."""

    name: str = "math_verify"
    version: str = "1"
    binary: bool = True
    timeout_s: int = 5

    def __call__(self, answer: str, item: Item) -> Score:
        from math_verify import parse, verify

        gold = parse(str(item.reference), parsing_timeout=self.timeout_s)
        if not gold:
            return Score(self.name, None, None, "data_error",
                         {"reason": f"gold answer {item.reference!r} does not parse"})
        pred = parse(answer, parsing_timeout=self.timeout_s) if answer.strip() else []
        if not pred:
            return Score(self.name, 0.0, False, "ok", {"extracted": None, "gold": str(gold[-1])})
        try:
            ok = bool(verify(gold, pred, timeout_seconds=self.timeout_s))
        except Exception as e:  # math-verify raises on pathological expressions
            return Score(self.name, 0.0, False, "ok",
                         {"extracted": str(pred[-1]), "gold": str(gold[-1]), "verify_error": repr(e)})
        return Score(self.name, float(ok), ok, "ok",
                     {"extracted": str(pred[-1]), "gold": str(gold[-1])})


@register_suite("gsm8k")
def gsm8k() -> Suite:
    return Suite(
        name="gsm8k",
        domain="math",
        verifiable=True,
        description="GSM8K test split, 1,319 grade-school math word problems (MIT)",
        load=load_gsm8k,
        scorer=MathVerifyScorer,
        citation="Cobbe et al. 2021, Training Verifiers to Solve Math Word Problems, arXiv:2110.14168",
        license="MIT",
    )
