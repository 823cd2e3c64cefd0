r"""Math suite: GSM8K test (Cobbe et al. 2021, arXiv:2110.14168), scored with math-verify.

The gold answer is the text after `####` in the worked solution. Scoring follows
math-verify's contract: `parse` the gold first, then `verify(gold, prediction)`, each
with a timeout. A gold that does not parse is a defect of the data: the score says
`status="data_error"` and the report counts it apart, never as a wrong answer.

How the scorer feeds math-verify (the text rewrites are in thinkgate.tasks.answers):

1. Both sides are normalized alike (`normalize_math`): the Unicode minus U+2212 -> "-";
   π, √, ×, ∞ -> \pi, \sqrt{}, \times, \infty; currency dollars dropped (`\$` always,
   `$` before a number that no more math follows: "$1,250." but not "$18$"); e-notation
   written out (2.5e-4 -> 0.00025); a repeating decimal becomes its fraction
   (0.1\overline{6} -> \frac{1}{6}); thousands separators dropped outside brackets
   (1,000,000 -> 1000000; the interval "(1,400]" keeps its comma).
2. A bare LaTeX gold (MATH-style, no $…$/\(…\)/\boxed) is wrapped in `$…$`, else
   math-verify reads a fragment ("(1, 4]" would be 4). Prose golds are left as they are,
   so a broken gold is still a data error. A prediction whose last line ends in
   undelimited LaTeX ("the answer is 2\pi") gets that tail wrapped too.
3. Percent is a unit. `%`, `\%` and "percent" after a number are dropped from gold and
   prediction alike, and the numbers compared: gold 25 = "25%", gold "25\%" = 25, but
   gold "25\%" != 0.25 and gold 0.25 != "25%" (math-verify alone accepts both).
4. A decimal is not an exact number it approximates. math-verify rounds both sides to 6
   decimals when either is a decimal, so it takes 0.285714 for 2/7. Here, when the gold
   is exact (no decimal point in it: integers, fractions, roots, π) and the prediction
   writes a decimal, math-verify's verdict must hold with 12 decimals too: 0.25 for 1/4,
   18.0 for 18 and 0.0833333333333333 for 1/12 are right; 0.285714 for 2/7, 1.4142 for
   √2 and 0.2500001 for 1/4 are wrong. Exception: when the question asks for rounding
   (round, nearest, decimal places, significant figures, approximately, estimate),
   math-verify's 6-decimal verdict stands, and a single decimal that is the gold
   correctly rounded at its own last digit is right too (0.29 for 2/7, "to the nearest
   hundredth"). A gold that is itself a decimal is left to math-verify.

`detail` records the extracted answer, the gold, math-verify's own verdict on the
normalized texts (`math_verify`) and, where rule 4 changed it, `rule`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from thinkgate.tasks.answers import as_latex_gold, normalize_math, wrap_bare_latex
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


_ROUNDING = re.compile(
    r"(?i)\b(?:round(?:ed|ing)?|nearest|decimal places?|significant (?:figures?|digits?)"
    r"|approximat\w*|estimate)\b")


def asks_rounding(item: Item) -> bool:
    """Does the question ask for a rounded answer? ("... to the nearest tenth" -> True)."""
    return any(_ROUNDING.search(str(m.get("content", ""))) for m in item.messages
               if m.get("role") == "user")


def _has_float(expr: Any) -> bool:
    from sympy import Basic, Float
    from sympy.matrices import MatrixBase

    return isinstance(expr, (Basic, MatrixBase)) and bool(expr.atoms(Float))


def _is_exact(expr: Any) -> bool:
    from sympy import Basic
    from sympy.matrices import MatrixBase

    return isinstance(expr, (Basic, MatrixBase)) and not _has_float(expr)


def _rounded_correctly(gold: Any, pred_text: str) -> bool:
    """Is the decimal `pred_text` the number `gold` rounded at its last digit?
    _rounded_correctly(Rational(2, 7), "0.29") -> True;  (Rational(2, 7), "0.28") -> False
    """
    from decimal import Decimal

    m = re.fullmatch(r"\s*(-?\d*\.(\d+))\s*", pred_text)
    if not m:
        return False
    try:
        value = complex(gold.evalf(30))
    except (TypeError, ValueError, AttributeError):
        return False
    half_ulp = Decimal(5) * Decimal(10) ** -(len(m.group(2)) + 1)
    return value.imag == 0 and abs(Decimal(repr(value.real)) - Decimal(m.group(1))) <= half_ulp


@register_scorer("math", domain="math", verifiable=True)
@dataclass(frozen=True)
class MathVerifyScorer:
    """Binary correctness by math-verify, fed as the module docstring says. Timeouts are
    per call, in seconds."""

    name: str = "math_verify"
    version: str = "2"
    binary: bool = True
    timeout_s: int = 5

    def __call__(self, answer: str, item: Item) -> Score:
        from math_verify import parse, verify

        gold = parse(as_latex_gold(normalize_math(str(item.reference))),
                     parsing_timeout=self.timeout_s)
        if not gold:
            return Score(self.name, None, None, "data_error",
                         {"reason": f"gold answer {item.reference!r} does not parse"})
        text = wrap_bare_latex(normalize_math(answer))
        pred = parse(text, parsing_timeout=self.timeout_s) if text.strip() else []
        if not pred:
            return Score(self.name, 0.0, False, "ok", {"extracted": None, "gold": str(gold[-1])})
        detail: dict[str, Any] = {"extracted": str(pred[-1]), "gold": str(gold[-1])}
        try:
            ok = bool(verify(gold, pred, timeout_seconds=self.timeout_s))
            detail["math_verify"] = ok
            if _is_exact(gold[0]) and _has_float(pred[0]):  # rule 4
                if not asks_rounding(item):
                    if ok and not verify(gold, pred, float_rounding=12, timeout_seconds=self.timeout_s):
                        ok, detail["rule"] = False, "decimal_for_exact_gold"
                elif not ok and _rounded_correctly(gold[0], str(pred[-1])):
                    ok, detail["rule"] = True, "rounded_as_asked"
        except Exception as e:  # math-verify raises on pathological expressions
            return Score(self.name, 0.0, False, "ok", {**detail, "verify_error": repr(e)})
        return Score(self.name, float(ok), ok, "ok", detail)


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
