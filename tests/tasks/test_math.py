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


# ------------------------------------------------------------------ how math-verify is fed
def _asked(gold: str, question: str) -> Item:
    return Item("t/1", "math", "math", True, ({"role": "user", "content": question},), gold, "t/1")


@pytest.mark.parametrize("text, out", [
    ("She paid \\$1,250, i.e. 2.5e-4 of −π%", "She paid 1250, i.e. 0.00025 of -\\pi "),
    ("−2π×√3", "-2\\pi \\times \\sqrt{3}"),
    ("costs $1,250.", "costs 1250."),
    ("$18$", "$18$"),                                  # math, not money
    ("$19, 46, and 82$", "$19, 46, and 82$"),          # a list in math, not money
    ("25\\%", "25"), ("12.5 percent", "12.5"),
    ("paid 1,250 for (2,500, 3)", "paid 1250 for (2,500, 3)"),
    ("(1, 4]", "(1, 4]"), ("\\boxed{1,000,000}", "\\boxed{1000000}"), ("10,\\!080", "10080"),
    ("1.5E+3.", "1500."), ("3e8 m/s", "300000000 m/s"),
    ("0.1\\overline{6}", "\\frac{1}{6}"),
    ("pages 3–5", "pages 3–5"),                         # an en dash is a range, not a minus
])
def test_normalize_math(text, out):
    from thinkgate.tasks.answers import normalize_math

    assert normalize_math(text) == out


@pytest.mark.parametrize("gold, out", [
    ("(1, 4]", "$(1, 4]$"), ("18", "$18$"), ("y = 3x - 2", "$y = 3x - 2$"),
    ("5\\text{ cm}", "$5\\text{ cm}$"), ("$x$", "$x$"), ("\\boxed{2}", "\\boxed{2}"),
    ("no number here", "no number here"), ("sqrt(2)", "sqrt(2)"),
])
def test_bare_latex_gold_is_wrapped(gold, out):
    from thinkgate.tasks.answers import as_latex_gold

    assert as_latex_gold(gold) == out


@pytest.mark.parametrize("answer, out", [
    ("So the answer is 2\\pi.", "So the answer is $2\\pi$."),
    ("So the area is 9\\pi square units.", "So the area is $9\\pi$ square units."),
    ("So the answer is \\pi/2, I think", "So the answer is $\\pi/2$, I think"),
    ("The answer is $2\\pi$.", "The answer is $2\\pi$."),
    ("The answer is 18.", "The answer is 18."),
])
def test_bare_latex_tail_of_an_answer_is_wrapped(answer, out):
    from thinkgate.tasks.answers import wrap_bare_latex

    assert wrap_bare_latex(answer) == out


@pytest.mark.parametrize("gold, answer, ok", [
    ("(1, 4]", "\\boxed{(1, 4]}", True), ("(1, 4]", "\\boxed{4}", False),
    ("\\{2, 4, 6\\}", "\\boxed{\\{6,4,2\\}}", True), ("y = 3x - 2", "\\boxed{2}", False),
    ("4 \\times 10^{6}", "\\boxed{4000000}", True),
    ("1250", "The total is \\$1,250.", True), ("-3", "The answer is −3.", True),
])
def test_bare_latex_golds_are_read_whole(gold, answer, ok):
    assert MathVerifyScorer()(answer, _item(gold)).passed is ok


@pytest.mark.parametrize("gold, answer, ok", [
    ("25", "The discount is 25%.", True),
    ("25", "\\boxed{25\\%}", True),
    ("25\\%", "\\boxed{25}", True),
    ("25\\%", "\\boxed{0.25}", False),     # math-verify alone says True
    ("0.25", "\\boxed{25\\%}", False),     # math-verify alone says True
])
def test_percent_is_a_unit_on_both_sides(gold, answer, ok):
    assert MathVerifyScorer()(answer, _item(gold)).passed is ok


@pytest.mark.parametrize("gold, answer, question, ok, rule", [
    ("\\frac{2}{7}", "\\boxed{0.285714}", "q", False, "decimal_for_exact_gold"),
    ("\\sqrt{2}", "\\boxed{1.41421356}", "q", False, "decimal_for_exact_gold"),
    ("\\frac{1}{4}", "\\boxed{0.2500001}", "q", False, "decimal_for_exact_gold"),
    ("\\frac{1}{4}", "\\boxed{0.25}", "q", True, None),
    ("\\frac{1}{12}", "\\boxed{0.0833333333333333}", "q", True, None),
    ("\\frac{2}{7}", "\\boxed{0.285714}", "Round to six decimal places.", True, None),
    ("\\frac{2}{7}", "\\boxed{0.29}", "Give it to the nearest hundredth.", True, "rounded_as_asked"),
    ("\\frac{2}{7}", "\\boxed{0.28}", "Give it to the nearest hundredth.", False, None),
    ("\\pi", "\\boxed{3.14}", "Round to the nearest hundredth.", True, "rounded_as_asked"),
    ("0.29", "\\boxed{\\frac{2}{7}}", "q", False, None),  # a decimal gold is left to math-verify
])
def test_a_decimal_is_not_the_exact_number_it_approximates(gold, answer, question, ok, rule):
    s = MathVerifyScorer()(answer, _asked(gold, question))
    assert s.passed is ok
    assert s.detail.get("rule") == rule


def test_gsm8k_honest_answers_are_right_in_every_common_form():
    items = get_suite("gsm8k").items()[::20]
    scorer = MathVerifyScorer()
    for item in items:
        n = int(item.reference)
        for answer in (f"\\boxed{{{n}}}", f"The answer is {n:,}.", f"So she has ${n:,} left.",
                       f"\\boxed{{{n:,}}}", f"#### {n}"):
            assert scorer(answer, item).passed, (item.id, answer)
        assert not scorer(f"\\boxed{{{n + 1}}}", item).passed, item.id
