"""The harness's parser on literal strings (DESIGN.md parsing policy).

The implementation lives in thinkgate.tasks.thinkparse (tests/tasks/test_thinkparse.py has
the full rule tables); this file checks the harness's import path and its call shapes.
"""

import pytest

from thinkgate.harness import parsing
from thinkgate.harness.parsing import parse_completion
from thinkgate.tasks import thinkparse


def test_harness_parsing_is_a_re_export():
    assert parsing.parse_completion is thinkparse.parse_completion
    assert parsing.Parsed is thinkparse.Parsed


def test_runner_call_shape_positional_without_mode():
    # harness/runner.py: parse_completion(prefix, raw.text, raw.reasoning_content, raw.finish_reason)
    p = parse_completion("<think>\n\n</think>\n\n", "4 <think>x", None, "stop")
    assert (p.answer, p.think_state, getattr(p, "leaked_think", None)) == ("4 <think>x", "closed", False)
    assert parse_completion("<think>\n\n</think>\n\n", "4 <think>x", None, "stop", mode="no_think").leaked_think


def test_judge_call_shape():
    # harness/judge.py: parse_completion("", g.text).answer
    assert parse_completion("", "<think>weigh it</think>\n\nScore: 7").answer == "Score: 7"


def test_closed_think_block():
    p = parse_completion("", "<think>\nadd 2 and 2\n</think>\n\nThe answer is 4.")
    assert (p.reasoning, p.answer, p.think_state, p.think_blocks) == ("add 2 and 2", "The answer is 4.", "closed", 1)


def test_unclosed_with_length_gives_empty_answer():
    p = parse_completion("", "<think>\nlet me see... the answer is 4 or maybe", finish_reason="length")
    assert p.think_state == "unclosed"
    assert p.answer == ""  # the trace is never the answer
    assert p.reasoning == "let me see... the answer is 4 or maybe"


def test_opening_tag_in_prefill_completion_has_only_close():
    p = parse_completion("<think>\n", "2+2 is 4.\n</think>\n\n**4**")
    assert (p.reasoning, p.answer, p.think_state) == ("2+2 is 4.", "**4**", "closed")


def test_opening_tag_in_prefill_never_closed():
    p = parse_completion("<think>\n", "still thinking about 4", finish_reason="length")
    assert (p.answer, p.think_state) == ("", "unclosed")


def test_no_tags_at_all():
    p = parse_completion("", "The answer is 4.")
    assert (p.reasoning, p.answer, p.think_state, p.think_blocks) == ("", "The answer is 4.", "absent", 0)


def test_second_block_is_answer_text():
    # only the block that opens the text is reasoning (was: both blocks joined as reasoning)
    p = parse_completion("", "<think>first</think>\nPartial. <think>second</think>\nFinal: 4")
    assert p.reasoning == "first"
    assert p.answer == "Partial. <think>second</think>\nFinal: 4"
    assert (p.think_state, p.think_blocks) == ("closed", 2)


def test_second_block_left_open_keeps_the_answer():
    # (was: an unclosed second block emptied the answer)
    p = parse_completion("", "<think>a</think>Answer 4 <think>wait, maybe", finish_reason="length")
    assert (p.reasoning, p.answer, p.think_state, p.think_blocks) == ("a", "Answer 4 <think>wait, maybe", "closed", 2)


def test_literal_think_inside_code_block_of_answer():
    completion = ("<think>write code</think>\nHere:\n```python\nprint('<think>')\nx = '</think>'\n```\nDone.")
    p = parse_completion("", completion, mode="no_think")
    assert p.reasoning == "write code"
    assert p.answer == "Here:\n```python\nprint('<think>')\nx = '</think>'\n```\nDone."
    assert (p.think_state, p.think_blocks, p.leaked_think) == ("closed", 1, False)


def test_empty_think_block_in_prefill_no_think():
    p = parse_completion("<think>\n\n</think>\n\n", "The answer is 4.")
    assert (p.reasoning, p.answer, p.think_state) == ("", "The answer is 4.", "closed")


def test_empty_think_block_generated():
    p = parse_completion("", "<think></think>4")
    assert (p.reasoning, p.answer, p.think_state) == ("", "4", "closed")


@pytest.mark.parametrize("completion", [
    "<think>r</think>4",
    "<think>\nr\n</think>\n4",
    "<think>\r\n r \r\n</think>\r\n\r\n4\r\n",
    "\n\n<think>r</think>   4  ",
    "<think>\n\nr\n\n</think>\n\n\n4",
])
def test_whitespace_and_newline_variants(completion):
    p = parse_completion("", completion)
    assert (p.reasoning, p.answer, p.think_state) == ("r", "4", "closed")


def test_close_without_open_means_prefix_was_reasoning():
    # e.g. a template that put <think> in the prompt, without telling us via the prefill
    p = parse_completion("", "I think it's 4.\n</think>\n\n4")
    assert (p.reasoning, p.answer, p.think_state) == ("I think it's 4.", "4", "closed")


def test_server_reasoning_content_is_preferred():
    p = parse_completion("", "The answer is 4.", reasoning_content="2+2=4")
    assert (p.reasoning, p.answer, p.think_state) == ("2+2=4", "The answer is 4.", "closed")


def test_server_reasoning_truncated():
    p = parse_completion("", "", reasoning_content="2+2 is", finish_reason="length")
    assert (p.answer, p.think_state) == ("", "unclosed")


def test_server_reasoning_empty_means_absent():
    p = parse_completion("", "4", reasoning_content="")
    assert (p.reasoning, p.answer, p.think_state) == ("", "4", "absent")
