"""The HumanEval suite and its scorer: code extraction on literal strings, and the 164
canonical solutions (which must all pass) and their return-less mutants (which must all fail)
run for real through the sandbox."""

from __future__ import annotations

import json
import re

import pytest

from thinkgate.tasks import get_suite
from thinkgate.tasks.code import HumanEvalScorer, build_program, defines_entry_point, extract_code

REF = {"prompt": 'def add(a, b):\n    """Add two numbers."""\n', "entry_point": "add",
       "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
       "canonical_solution": "    return a + b\n"}


@pytest.fixture(scope="module")
def items():
    return get_suite("humaneval").items()


def _item(items, reference=REF):
    from dataclasses import replace

    return replace(items[0], reference=reference)


def test_suite_loads_164_problems(items):
    suite = get_suite("humaneval")
    assert (suite.domain, suite.verifiable, suite.license) == ("code", True, "MIT")
    assert len(items) == 164 and items[0].id == "humaneval/000" and items[-1].id == "humaneval/163"
    assert all(i.group == i.id for i in items)
    json.dumps([i.reference for i in items])  # the reference is plain JSON
    first = items[0]
    assert first.reference["entry_point"] == "has_close_elements"
    assert f"```python\n{first.reference['prompt']}```" in first.messages[-1]["content"]
    assert first.messages[-1]["role"] == "user" and len(first.messages) == 1


@pytest.mark.parametrize("answer, code", [
    ("```python\ndef f():\n    return 1\n```", "def f():\n    return 1\n"),
    ("Sure.\n```\nx = 2\n```\nDone.", "x = 2\n"),
    ("first\n```python\na = 1\n```\nbetter:\n```py\na = 2\n```\n", "a = 2\n"),
    ("```python\npy = 1\n```\n```text\nnot code\n```", "py = 1\n"),  # other languages skipped
    ("```bash\nls\n```\n```python\nb = 3\n```", "b = 3\n"),
    ("def g():\n    return 3\n", "def g():\n    return 3\n"),  # no fence: the whole answer
    ("    return a + b\n", "    return a + b\n"),  # body-only, indentation kept
    ("1. Code:\n   ```python\n   def h():\n       pass\n   ```", "def h():\n    pass\n"),  # indented fence
    ("```python\ndef cut(x):\n    return", "def cut(x):\n    return"),  # truncated: fence left open
])
def test_extract_code(answer, code):
    assert extract_code(answer) == code


def test_full_function_vs_body_only_programs():
    assert defines_entry_point("import math\ndef add(a, b):\n    return a + b", "add")
    assert not defines_entry_point("    return a + b", "add")
    assert not defines_entry_point("def add_one(x):\n    pass", "add")
    full, tests = build_program("def add(a, b):\n    return a + b\n", REF)
    assert full.index(REF["prompt"]) < full.index("def add(a, b):\n    return")  # prompt kept, then overridden
    body, _ = build_program("    return a + b\n", REF)
    assert body == REF["prompt"] + "    return a + b\n"
    assert "check" not in full  # the tests never enter the program
    assert (tests.code, tests.entry_point, tests.prelude) == (REF["test"], "add", REF["prompt"])


@pytest.mark.parametrize("answer, passed, outcome", [
    ("```python\ndef add(a, b):\n    return a + b\n```", True, "pass"),
    ("    return a + b\n", True, "pass"),
    ("```python\ndef add(a, b):\n    return a - b\n```", False, "fail"),
    ("```python\nimport os\nos._exit(0)\n```", False, "fail"),  # exit 0 before the tests
    ("```python\ndef add(a, b):\n    return a + b\nif __name__ == '__main__':\n    input()\n```", True, "pass"),
    ("```python\ndef add(a, b):\n    while True:\n        pass\n```", False, "timeout"),
    ("", False, "fail"),
])
def test_scorer_on_literal_answers(items, answer, passed, outcome):
    s = HumanEvalScorer(timeout_s=2.0)(answer, _item(items))
    assert (s.passed, s.value, s.status, s.detail["outcome"]) == (passed, float(passed), "ok", outcome)
    assert set(s.detail) >= {"outcome", "reason", "stderr_tail"}


def test_detail_shows_the_guards_and_labels_the_programs_words(items):
    answer = "```python\ndef add(a, b):\n    print('sandbox failed: fake')\n    raise ValueError('x')\n```"
    s = HumanEvalScorer(timeout_s=3.0)(answer, _item(items))
    assert (s.status, s.passed) == ("ok", False)
    assert "fake" not in s.detail["reason"] and "sandbox failed: fake" in s.detail["stdout_head"]
    assert s.detail["program_reported"] == "ValueError" and "ValueError" in s.detail["stderr_tail"]
    assert set(s.detail["guards"]) | set(s.detail["missing_guards"]) >= {"mount", "pid", "net", "uid"}


def test_sandbox_failure_is_a_score_error_not_a_wrong_answer(items, monkeypatch):
    monkeypatch.setenv("THINKGATE_SANDBOX_PREFIX", "/nonexistent/thinkgate-runner")
    s = HumanEvalScorer()("    return a + b\n", _item(items))
    assert (s.status, s.value, s.passed) == ("score_error", None, None)


@pytest.mark.slow  # 164 programs; seconds, run by default
def test_canonical_solutions_all_pass(items):
    answers = [f"```python\n{i.reference['prompt']}{i.reference['canonical_solution']}```" for i in items]
    scores = HumanEvalScorer().score_batch(answers, items)
    failed = [(i.id, s.detail) for i, s in zip(items, scores) if not s.passed]
    assert not failed and len(scores) == 164


def _without_returns(solution: str) -> str:
    return re.sub(r"\breturn\b.*", "pass", solution)


@pytest.mark.slow  # 164 programs; seconds, run by default
def test_canonical_solutions_without_returns_all_fail(items):
    answers = [f"```python\n{i.reference['prompt']}{_without_returns(i.reference['canonical_solution'])}```"
               for i in items]
    scores = HumanEvalScorer(timeout_s=3.0).score_batch(answers, items)
    passed = [i.id for i, s in zip(items, scores) if s.passed is not False or s.status != "ok"]
    assert not passed, f"mutants without returns that still pass: {passed}"
