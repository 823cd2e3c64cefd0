"""arith: seeded arithmetic and two-step word problems on a difficulty ladder, exact integer answers.

Levels (each problem a pure function of its level, seed and index, so an id names it forever):

    1  two-digit addition                      47 + 38
    2  three-digit addition or subtraction     512 + 379, 803 - 467 (never negative)
    3  one-digit times two-digit               7 × 48
    4  two-step word problems                  23 apples, 4 boxes of 12 more -> 23 + 4 × 12

Splits are disjoint by seed: the suite `arith` is the held-out test split (seed 0, 100 items
per level, levels interleaved so `--limit N` takes a mixture); `arith_items("train")` draws
from seed 1 (and up) and drops every problem the test split holds, so training on the train
split never sees an evaluation item (a test checks it). Item ids read `arith/L{level}-s{seed}-{index:05d}`.

`worked_steps(item)` writes the procedural trace a cold-start SFT stage learns from: column by
column, from the ones up, each line ending in the digits found so far
("ones: 7 + 8 = 15, carry 1: 5" ... "tens: 4 + 3 + 1 = 8: 85"), so every step is a local
copy-and-prepend the model can follow.

Scored by the `integer` scorer: the last \\boxed{...} of the answer, else its last number,
compared as an exact integer (thousands separators allowed).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

from thinkgate.tasks.registry import register_scorer, register_suite
from thinkgate.tasks.rewards import register_split
from thinkgate.tasks.types import Item, Score, Suite, chat

LEVELS = (1, 2, 3, 4)
TEST_SEED, TRAIN_SEED = 0, 1
TEST_PER_LEVEL = 100
INSTRUCTION = "Put your final answer within \\boxed{}."
_PLACES = ("ones", "tens", "hundreds", "thousands")
_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Iris", "Jonas", "Kemi", "Liam")
_THINGS = ("apples", "marbles", "stickers", "pencils", "cards", "stamps", "shells", "coins")
_BOXES = ("boxes", "bags", "packs", "jars")


@dataclass(frozen=True)
class Problem:
    """`kind` is "add", "sub", "mul" (a op b), or a word template "w_add" (a + k × m),
    "w_sub" (k × m - a), "w_addsub" (a - b + c)."""

    level: int
    kind: str
    operands: tuple[int, ...]
    question: str
    answer: int


def make_problem(level: int, seed: int, index: int) -> Problem:
    """The problem at (level, seed, index): make_problem(1, 0, 0).question -> "What is 61 + 11?"-like."""
    if level not in LEVELS:
        raise ValueError(f"arith level must be one of {LEVELS}, got {level!r}")
    rng = random.Random(f"arith:{level}:{seed}:{index}")
    if level == 1:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        return Problem(1, "add", (a, b), f"What is {a} + {b}?", a + b)
    if level == 2:
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        if rng.random() < 0.5:
            return Problem(2, "add", (a, b), f"What is {a} + {b}?", a + b)
        a, b = max(a, b), min(a, b)
        return Problem(2, "sub", (a, b), f"What is {a} - {b}?", a - b)
    if level == 3:
        a, b = rng.randint(2, 9), rng.randint(10, 99)
        return Problem(3, "mul", (a, b), f"What is {a} × {b}?", a * b)
    name, things, box = rng.choice(_NAMES), rng.choice(_THINGS), rng.choice(_BOXES)
    kind = rng.choice(("w_add", "w_sub", "w_addsub"))
    if kind == "w_add":
        a, k, m = rng.randint(10, 99), rng.randint(2, 9), rng.randint(10, 99)
        q = (f"{name} has {a} {things}. {name} buys {k} {box} with {m} {things} in each. "
             f"How many {things} does {name} have now?")
        return Problem(4, kind, (a, k, m), q, a + k * m)
    if kind == "w_sub":
        k, m = rng.randint(2, 9), rng.randint(12, 99)
        a = rng.randint(10, k * m - 1)
        q = (f"{name} has {k} {box} with {m} {things} in each and gives away {a} {things}. "
             f"How many {things} are left?")
        return Problem(4, kind, (a, k, m), q, k * m - a)
    a = rng.randint(100, 999)
    b, c = rng.randint(10, a - 1), rng.randint(10, 999)
    q = f"{name} had {a} {things}, gave {b} to a friend, then found {c} more. How many {things} does {name} have?"
    return Problem(4, kind, (a, b, c), q, a - b + c)


def problem_key(p: Problem) -> tuple:
    """What makes two problems the same question (the numbers, the operation, the level)."""
    return (p.level, p.kind, p.operands)


def _item(p: Problem, seed: int, index: int) -> Item:
    item_id = f"arith/L{p.level}-s{seed}-{index:05d}"
    return Item(id=item_id, suite="arith", domain="math", verifiable=True,
                messages=chat(None, f"{p.question}\n\n{INSTRUCTION}"), reference=str(p.answer),
                group=item_id, meta={"level": p.level, "kind": p.kind, "operands": list(p.operands),
                                     "seed": seed, "index": index})


@lru_cache(maxsize=1)
def _test_keys() -> frozenset:
    return frozenset(problem_key(make_problem(lv, TEST_SEED, i)) for lv in LEVELS for i in range(TEST_PER_LEVEL))


def arith_items(split: str = "test", per_level: int | None = None, levels: tuple[int, ...] = LEVELS,
                seed: int | None = None) -> list[Item]:
    """Items of a split, levels interleaved (L1, L2, L3, L4, L1, ...).

    test: seed 0, `per_level` (default 100) problems per level. train: seed 1 unless given
    (any seed but 0), `per_level` (default 2000) problems per level, none equal to a test
    problem and none repeated (fewer where a level has fewer: level 3 has 720 in all).
    """
    if split not in ("train", "test"):
        raise ValueError(f"arith split must be 'train' or 'test', got {split!r}")
    if split == "test":
        if seed not in (None, TEST_SEED):
            raise ValueError("the arith test split is seed 0; pass split='train' for other seeds")
        seed, per_level = TEST_SEED, per_level or TEST_PER_LEVEL
    else:
        seed = TRAIN_SEED if seed is None else seed
        if seed == TEST_SEED:
            raise ValueError("seed 0 is the arith test split; train on any other seed")
        per_level = per_level or 2000
    columns = []
    for lv in levels:
        out, seen, index = [], set(), 0
        while len(out) < per_level:
            p = make_problem(lv, seed, index)
            key = problem_key(p)
            if split == "test" or (key not in _test_keys() and key not in seen):
                seen.add(key)
                out.append(_item(p, seed, index))
            index += 1
            if index > 20 * per_level + 1000:  # level 3 has 720 distinct problems in all
                break
        columns.append(out)
    return [col[i] for i in range(per_level) for col in columns if i < len(col)]


# ----------------------------------------------------------------- worked steps


def _add_lines(a: int, b: int) -> list[str]:
    """Column addition: _add_lines(47, 38) -> ["ones: 7 + 8 = 15, carry 1: 5", "tens: 4 + 3 + 1 = 8: 85"]."""
    da, db = str(a)[::-1], str(b)[::-1]
    n, carry, digits, lines = max(len(da), len(db)), 0, "", []
    for i in range(n):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        s = x + y + carry
        expr = f"{x} + {y}" + (f" + {carry}" if carry else "")
        last = i == n - 1
        if last:
            digits = str(s) + digits
            lines.append(f"{_PLACES[i]}: {expr} = {s}: {digits}")
        else:
            carry_out = s // 10
            digits = str(s % 10) + digits
            lines.append(f"{_PLACES[i]}: {expr} = {s}" + (f", carry {carry_out}" if carry_out else "") + f": {digits}")
            carry = carry_out
    return lines


def _sub_lines(a: int, b: int) -> list[str]:
    """Column subtraction (a >= b): _sub_lines(52, 17) -> ["ones: 2 - 7, borrow: 12 - 7 = 5: 5",
    "tens: 5 - 1 - 1 = 3: 35"]."""
    da, db = str(a)[::-1], str(b)[::-1]
    borrow, digits, lines = 0, "", []
    for i in range(len(da)):
        x, y = int(da[i]), int(db[i]) if i < len(db) else 0
        top = f"{x} - {borrow}" if borrow else f"{x}"
        t = x - borrow
        if t < y:
            digits = str(t + 10 - y) + digits
            lines.append(f"{_PLACES[i]}: {top} - {y}, borrow: {t + 10} - {y} = {t + 10 - y}: {digits}")
            borrow = 1
        else:
            digits = str(t - y) + digits
            lines.append(f"{_PLACES[i]}: {top} - {y} = {t - y}: {digits}")
            borrow = 0
    return lines


def _mul_lines(a: int, b: int) -> list[str]:
    """One digit times a number: _mul_lines(7, 48) -> ["ones: 7 × 8 = 56, carry 5: 6",
    "tens: 7 × 4 + 5 = 33: 336"]."""
    db = str(b)[::-1]
    carry, digits, lines = 0, "", []
    for i, ch in enumerate(db):
        p = a * int(ch) + carry
        expr = f"{a} × {ch}" + (f" + {carry}" if carry else "")
        if i == len(db) - 1:
            digits = str(p) + digits
            lines.append(f"{_PLACES[i]}: {expr} = {p}: {digits}")
        else:
            carry = p // 10
            digits = str(p % 10) + digits
            lines.append(f"{_PLACES[i]}: {expr} = {p}" + (f", carry {carry}" if carry else "") + f": {digits}")
    return lines


def _op(kind: str, a: int, b: int) -> tuple[str, int, list[str]]:
    if kind == "add":
        return f"{a} + {b}", a + b, _add_lines(a, b)
    if kind == "sub":
        return f"{a} - {b}", a - b, _sub_lines(a, b)
    return f"{a} × {b}", a * b, _mul_lines(a, b)


def _block(kind: str, a: int, b: int) -> tuple[list[str], int]:
    text, value, lines = _op(kind, a, b)
    return [f"{text}:"] + lines + [f"So {text} = {value}."], value


def worked_steps(item: Item) -> str:
    """The procedural reasoning for an arith item (what goes between <think> and </think>)."""
    kind, ops = item.meta["kind"], item.meta["operands"]
    if kind in ("add", "sub", "mul"):
        return "\n".join(_block(kind, ops[0], ops[1])[0])
    if kind == "w_add":
        a, k, m = ops
        first, p = _block("mul", k, m)
        second, _ = _block("add", a, p)
        return "\n".join([f"The total is {a} + {k} × {m}.", *first, *second])
    if kind == "w_sub":
        a, k, m = ops
        first, p = _block("mul", k, m)
        second, _ = _block("sub", p, a)
        return "\n".join([f"Left: {k} × {m} - {a}.", *first, *second])
    a, b, c = ops
    first, d = _block("sub", a, b)
    second, _ = _block("add", d, c)
    return "\n".join([f"Count: {a} - {b} + {c}.", *first, *second])


def final_answer(item: Item) -> str:
    """The answer text after the thinking: "The answer is \\boxed{85}."."""
    return f"The answer is \\boxed{{{item.reference}}}."


# ----------------------------------------------------------------- scoring

_BOXED = re.compile(r"\\boxed\{\s*([^{}]*?)\s*\}")
_NUMBER = re.compile(r"(?<![\w.])[-−]?\d{1,3}(?:,\d{3})+(?![\d,])|(?<![\w.])[-−]?\d+(?:\.\d+)?")


def extract_integer(answer: str) -> int | None:
    """The answer's integer: the last \\boxed{...}, else the last number.

    extract_integer("so \\boxed{1,443}.") -> 1443;  extract_integer("47 + 38 = 85") -> 85;
    extract_integer("\\boxed{8.5}") -> None (not an integer);  extract_integer("none") -> None
    """
    boxed = _BOXED.findall(answer)
    text = boxed[-1] if boxed else answer
    found = _NUMBER.findall(text)
    if not found or (boxed and not re.fullmatch(r"\s*" + re.escape(found[-1]) + r"\.?\s*", text)):
        return None
    token = found[-1].replace(",", "").replace("−", "-")
    if "." in token:
        whole, frac = token.split(".")
        return int(whole) if set(frac) == {"0"} else None
    return int(token)


@register_scorer("integer", domain="math", verifiable=True)
@dataclass(frozen=True)
class IntegerScorer:
    """Binary exact integer match: the last \\boxed{} of the answer, else its last number."""

    name: str = "integer_exact"
    version: str = "1"
    binary: bool = True

    def __call__(self, answer: str, item: Item) -> Score:
        try:
            gold = int(str(item.reference).strip().replace(",", ""))
        except ValueError:
            return Score(self.name, None, None, "data_error",
                         {"reason": f"reference {item.reference!r} is not an integer"})
        got = extract_integer(answer)
        ok = got == gold
        return Score(self.name, float(ok), ok, "ok", {"extracted": got, "gold": gold})


@register_split("arith", "train")
def arith_train() -> list[Item]:
    """The train split: seed 1, 2,000 problems per level, none in the test split."""
    return arith_items("train")


@register_suite("arith")
def arith() -> Suite:
    return Suite(
        name="arith",
        domain="math",
        verifiable=True,
        description="procedural arithmetic ladder, held-out test split: 4 levels x 100 (add, add/sub, 1x2-digit "
                    "multiply, two-step word problems), exact integers",
        load=arith_items,
        scorer=IntegerScorer,
        citation="thinkgate procedural generator (tasks/arith.py)",
        license="Apache-2.0 (generated)",
    )
