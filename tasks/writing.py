"""Writing suites (not verifiable): length targets and checkable writing constraints.

`longbench_write`: the 60 English prompts of LongBench-Write (Bai et al. 2024, LongWriter,
arXiv:2408.07055), each asking for a given length in words, scored by LongWriter's length
score S_l. `constraints`: generated IFEval-style prompts (see `constraints.py`), scored by
the fraction of their constraints met. Both scorers read the answer only; the quality of
the writing is left to the optional pairwise judge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from thinkgate.tasks import constraints as cons
from thinkgate.tasks.registry import register_scorer, register_suite
from thinkgate.tasks.types import Item, Score, Suite, chat

LONGBENCH_CITATION = (
    "Bai et al. 2024, LongWriter: Unleashing 10,000+ Word Generation from Long Context LLMs, "
    "arXiv:2408.07055 (LongBench-Write, THUDM/LongWriter)"
)


def word_count(text: str) -> int:
    """Whitespace-separated words: word_count("Two  words,\\n then three.") -> 4."""
    return len(text.split())


def length_score(words: int, target: int) -> float:
    """LongWriter's length score S_l, rescaled from [0, 100] to [0, 1].

    For output length l' and required length l (THUDM/LongWriter `evaluation/eval_length.py`,
    the same in evalscope's `longbench_write/eval.py`):
        S_l = 100 * max(0, 1 - (l'/l - 1) / 3)   if l' > l   (too long: gentler slope)
        S_l = 100 * max(0, 1 - (l/l' - 1) / 2)   if l' <= l  (too short)
    An empty answer (l' = 0) scores 0.

        length_score(1000, 1000) -> 1.0;  length_score(1300, 1000) -> 0.9
        length_score(800, 1000) -> 0.875;  length_score(0, 1000) -> 0.0
    """
    if words <= 0:
        return 0.0
    if words > target:
        return max(0.0, 1.0 - (words / target - 1.0) / 3.0)
    return max(0.0, 1.0 - (target / words - 1.0) / 2.0)


def load_longbench_write() -> list[Item]:
    path = resources.files("thinkgate.tasks") / "data" / "longbench_write" / "longbench_write_en.jsonl"
    items = []
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            row = json.loads(line)
            items.append(
                Item(
                    id=f"longbench_write/{i:02d}",
                    suite="longbench_write",
                    domain="writing",
                    verifiable=False,
                    messages=chat(None, row["prompt"]),
                    reference={"length": int(row["length"]), "type": row["type"]},
                    group=row["type"],  # items of one genre share a cluster
                )
            )
    return items


@register_scorer("length", domain="writing", verifiable=False)
@dataclass(frozen=True)
class LengthScorer:
    """How close the answer's word count is to the required length (`length_score`).

    Words are whitespace-separated tokens (the prompts are English). LongWriter itself
    counts `\\b[a-zA-Z]+\\b` matches, which skips numbers and splits "don't" in two; the
    two counts differ by a few percent on ordinary prose.
    """

    name: str = "length_ratio"
    version: str = "1"
    binary: bool = False

    def __call__(self, answer: str, item: Item) -> Score:
        ref = item.reference if isinstance(item.reference, dict) else {}
        target = ref.get("length")
        if not isinstance(target, int) or isinstance(target, bool) or target <= 0:
            return Score(self.name, None, None, "data_error",
                         {"reason": f"reference {item.reference!r} has no positive integer 'length'"})
        words = word_count(answer)
        return Score(self.name, length_score(words, target), None, "ok",
                     {"words": words, "target": target})


@register_suite("longbench_write")
def longbench_write() -> Suite:
    return Suite(
        name="longbench_write",
        domain="writing",
        verifiable=False,
        description="LongBench-Write (English), 60 long-form writing prompts with target "
                    "lengths of 100 to 12,000 words; LongWriter length score (Apache-2.0)",
        load=load_longbench_write,
        scorer=LengthScorer,
        citation=LONGBENCH_CITATION,
        license="Apache-2.0",
    )


def load_constraints(n: int = cons.N_ITEMS, seed: int = cons.SEED) -> list[Item]:
    """The generated items; an item is rebuilt from its `group` (topic) and `reference`."""
    items = []
    for i, (topic, constraints) in enumerate(cons.generate(n, seed)):
        items.append(
            Item(
                id=f"constraints/{i:03d}",
                suite="constraints",
                domain="writing",
                verifiable=False,
                messages=chat(None, cons.constraint_prompt(topic, constraints)),
                reference=constraints,
                group=topic,  # items on one topic share a cluster
                meta={"seed": seed},
            )
        )
    return items


@register_scorer("constraints", domain="writing", verifiable=False)
@dataclass(frozen=True)
class ConstraintScorer:
    """The fraction of the item's constraints the answer meets (IFEval's instruction-level
    accuracy, per item); `detail["all_met"]` is its prompt-level accuracy. The answer is
    checked as written (IFEval's "strict" variant: no markdown or first-line stripping).

    A blank answer meets none, even the vacuous ones ("no commas"). A reference that is not
    a list of known constraints is a data error, never a wrong answer.
    """

    name: str = "constraints"
    version: str = "1"
    binary: bool = False

    def __call__(self, answer: str, item: Item) -> Score:
        ref = item.reference
        if not isinstance(ref, list) or not ref:
            return Score(self.name, None, None, "data_error",
                         {"reason": f"reference {ref!r} is not a non-empty list of constraints"})
        blank = not answer.strip()
        try:
            results = [{**c, "met": cons.check(c, answer) and not blank} for c in ref]
        except (ValueError, TypeError) as e:  # unknown kind, missing or extra parameters
            return Score(self.name, None, None, "data_error", {"reason": f"bad constraint: {e}"})
        met = sum(r["met"] for r in results)
        detail = {"constraints": results, "met": met, "total": len(results),
                  "all_met": met == len(results)}
        if blank:
            detail["reason"] = "empty answer"
        return Score(self.name, met / len(results), None, "ok", detail)


@register_suite("constraints")
def constraints_suite() -> Suite:
    return Suite(
        name="constraints",
        domain="writing",
        verifiable=False,
        description=f"{cons.N_ITEMS} generated IFEval-style writing prompts (seed {cons.SEED}), "
                    f"1-3 checkable constraints each from {len(cons.KINDS)} kinds; fraction met",
        load=load_constraints,
        scorer=ConstraintScorer,
        citation="IFEval-style constraints after Zhou et al. 2023, Instruction-Following "
                 "Evaluation for Large Language Models, arXiv:2311.07911; generated by thinkgate",
        license="Apache-2.0",
    )
