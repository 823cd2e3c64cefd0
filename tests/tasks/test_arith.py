"""The arith suite: a seeded, stable ladder; disjoint splits; traces that are right; the integer scorer."""

from __future__ import annotations

import re

import pytest

from thinkgate.tasks import get_suite, resolve_suites
from thinkgate.tasks.arith import (LEVELS, IntegerScorer, arith_items, extract_integer, final_answer,
                                   make_problem, problem_key, worked_steps)
from thinkgate.tasks.thinkparse import parse_completion


@pytest.fixture(scope="module")
def test_split():
    return arith_items("test")


@pytest.fixture(scope="module")
def train_split():
    return arith_items("train")


def test_suite_is_a_normal_math_suite(test_split):
    suite = get_suite("arith")
    assert (suite.domain, suite.verifiable, len(suite.items())) == ("math", True, 400)
    assert "arith" in [s.name for s in resolve_suites(["math"])]
    assert [it.meta["level"] for it in test_split[:8]] == [1, 2, 3, 4, 1, 2, 3, 4]  # --limit takes a mixture
    assert test_split[0].id == "arith/L1-s0-00000" and len({it.id for it in test_split}) == 400


def test_problems_are_a_function_of_level_seed_index():
    assert make_problem(3, 7, 11) == make_problem(3, 7, 11)
    assert make_problem(3, 7, 11) != make_problem(3, 7, 12)
    assert [it.id for it in arith_items("test", per_level=5)] == [it.id for it in arith_items("test")[:20]]
    with pytest.raises(ValueError, match="level"):
        make_problem(5, 0, 0)
    with pytest.raises(ValueError, match="test split"):
        arith_items("train", seed=0)


def test_references_are_the_exact_answers(test_split, train_split):
    for it in test_split + train_split:
        kind, ops = it.meta["kind"], it.meta["operands"]
        expected = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
                    "w_add": lambda a, k, m: a + k * m, "w_sub": lambda a, k, m: k * m - a,
                    "w_addsub": lambda a, b, c: a - b + c}[kind](*ops)
        assert int(it.reference) == expected >= 0, it.id


def test_train_split_never_holds_a_test_problem(test_split, train_split):
    test_keys = {problem_key(make_problem(it.meta["level"], 0, it.meta["index"])) for it in test_split}
    train_keys = [problem_key(make_problem(it.meta["level"], it.meta["seed"], it.meta["index"])) for it in train_split]
    assert not test_keys & set(train_keys)
    assert len(train_keys) == len(set(train_keys))  # no repeats either
    assert {it.meta["seed"] for it in train_split} == {1}
    assert not {it.messages[-1]["content"] for it in test_split} & {it.messages[-1]["content"] for it in train_split}


def test_train_split_holds_no_gsm8k_test_question(train_split):
    gsm = {it.messages[-1]["content"].split("\n\n")[0] for it in get_suite("gsm8k").items()}
    assert not gsm & {it.messages[-1]["content"].split("\n\n")[0] for it in train_split}


def _lines_of(steps: str) -> list[str]:
    return [ln for ln in steps.splitlines() if ln.startswith("So ")]


def test_every_worked_trace_arrives_at_the_reference(test_split, train_split):
    for it in test_split + train_split:
        steps = worked_steps(it)
        last = _lines_of(steps)[-1]
        assert int(re.search(r"= (-?\d+)\.$", last).group(1)) == int(it.reference), (it.id, steps)
        for line in _lines_of(steps):  # every intermediate "So a op b = c." is true
            a, op, b, c = re.fullmatch(r"So (\d+) ([-+×]) (\d+) = (\d+)\.", line).groups()
            assert {"+": int(a) + int(b), "-": int(a) - int(b), "×": int(a) * int(b)}[op] == int(c)


def test_worked_steps_read_column_by_column():
    it = next(i for i in arith_items("test") if i.meta["kind"] == "add" and i.meta["level"] == 1)
    a, b = it.meta["operands"]
    steps = worked_steps(it).splitlines()
    assert steps[0] == f"{a} + {b}:" and steps[1].startswith("ones: ") and steps[2].startswith("tens: ")
    assert final_answer(it) == f"The answer is \\boxed{{{it.reference}}}."


def test_a_trace_in_think_tags_parses_and_scores_right(test_split):
    scorer = IntegerScorer()
    for it in test_split[:8]:
        p = parse_completion("<think>\n", f"{worked_steps(it)}\n</think>\n\n{final_answer(it)}")
        assert p.think_state == "closed" and scorer(p.answer, it).passed
        assert not scorer(p.reasoning.replace(it.reference, "x"), it).passed


@pytest.mark.parametrize("answer,expected", [
    ("The answer is \\boxed{85}.", 85), ("so \\boxed{1,443}.", 1443), ("47 + 38 = 85", 85),
    ("The answer is 85.", 85), ("\\boxed{ 12 }", 12), ("-12", -12), ("\\boxed{12.0}", 12),
    ("\\boxed{8.5}", None), ("\\boxed{12 apples}", None), ("no number", None), ("", None),
    ("\\boxed{3} then \\boxed{4}", 4), ("x2 is not a number", None),
])
def test_extract_integer(answer, expected):
    assert extract_integer(answer) == expected


def test_integer_scorer_on_literal_answers(test_split):
    it = test_split[0]
    s = IntegerScorer()
    assert s(f"\\boxed{{{it.reference}}}", it).value == 1.0
    assert s(f"\\boxed{{{int(it.reference) + 1}}}", it).value == 0.0
    assert s("", it).value == 0.0
    from dataclasses import replace

    broken = s("\\boxed{3}", replace(it, reference="three"))
    assert broken.status == "data_error" and broken.value is None


def test_levels_are_a_difficulty_ladder(test_split):
    lengths = {lv: sum(len(worked_steps(i)) for i in test_split if i.meta["level"] == lv) for lv in LEVELS}
    assert lengths[1] < lengths[2] and lengths[3] < lengths[4]
