"""The GSM8K suite and the math-verify scorer, on literal strings."""

import pytest

from thinkgate.tasks import Item, get_suite
from thinkgate.tasks.math import MathVerifyScorer, gsm8k_gold


def _item(gold: str) -> Item:
    return Item("t/1", "gsm8k", "math", True, ({"role": "user", "content": "q"},), gold, "t/1")


def test_gold_after_hashes():
    assert gsm8k_gold("so 3 + 4 = 7\n#### 7") == "7"
    assert gsm8k_gold("big\n#### 1,234") == "1234"
    assert gsm8k_gold("no final answer") == ""


def test_suite_loads_all_items_with_golds():
    suite = get_suite("gsm8k")
    items = suite.items()
    assert len(items) == 1319
    assert suite.verifiable and suite.domain == "math"
    assert items[0].reference == "18"
    assert all(i.reference for i in items)
    assert len({i.id for i in items}) == 1319


@pytest.mark.parametrize("answer, ok", [
    ("The answer is \\boxed{18}.", True),
    ("She makes $18 per day.", True),
    ("\\boxed{18.0}", True),
    ("\\boxed{\\frac{36}{2}}", True),
    ("\\boxed{17}", False),
    ("I don't know", False),
    ("", False),
])
def test_math_verify_scorer(answer, ok):
    s = MathVerifyScorer()(answer, _item("18"))
    assert s.status == "ok"
    assert s.passed is ok and s.value == float(ok)


def test_extracted_answer_is_recorded_for_majority_vote():
    s = MathVerifyScorer()("so \\boxed{18}", _item("18"))
    assert s.detail["extracted"] == "18"


def test_unparseable_gold_is_a_data_error_not_a_wrong_answer():
    s = MathVerifyScorer()("\\boxed{18}", _item("no number here"))
    assert s.status == "data_error" and s.value is None and s.passed is None
    assert "does not parse" in s.detail["reason"]


def test_unknown_suite_says_what_exists():
    from thinkgate.tasks import UnknownSuiteError

    with pytest.raises(UnknownSuiteError, match="did you mean .gsm8k.*known suites"):
        get_suite("gsm8")
