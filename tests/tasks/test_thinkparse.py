"""The think parser's policy as tables and properties (DESIGN.md, "Parsing policy").

hypothesis is not a dependency, so the properties run on seeded random texts built from
fragments that sit next to the tags: near-miss tags, backticks, CR/LF, unicode whitespace.
"""

import ast
import doctest
import random
from pathlib import Path

import pytest

from thinkgate.tasks import thinkparse
from thinkgate.tasks.thinkparse import CLOSE, OPEN, outside_code, parse_completion, split_think

NO_THINK = "<think>\n\n</think>\n\n"  # the R1 / NoThinking prefill

# (prefill, completion, finish_reason) -> (reasoning, answer, think_state, think_blocks)
TEXT_CASES = {
    "closed": ("", "<think>\nadd 2 and 2\n</think>\n\n4", None, ("add 2 and 2", "4", "closed", 1)),
    "prefill with tag": ("<think>\n", "r\n</think>\n\n4", None, ("r", "4", "closed", 1)),
    "prefill without tag (template opened it)": ("", "r\n</think>\n\n4", None, ("r", "4", "closed", 1)),
    "prefill holds the whole block": (NO_THINK, "4", None, ("", "4", "closed", 1)),
    "tag split across prefill and completion": ("<thi", "nk>r</think>4", None, ("r", "4", "closed", 1)),
    "prefill is plain text": ("Answer: ", "4", None, ("", "Answer: 4", "absent", 0)),
    "nested-looking open does not nest": ("", "<think>a <think>b</think> c</think>d", None,
                                          ("a <think>b", "c</think>d", "closed", 1)),
    "second block is answer": ("", "<think>a</think>x <think>b</think> y", None,
                               ("a", "x <think>b</think> y", "closed", 2)),
    "unclosed second block is answer": ("", "<think>a</think>4 <think>wait", "length",
                                        ("a", "4 <think>wait", "closed", 2)),
    "three blocks": ("", "<think>a</think>1<think>b</think>2<think>c</think>3", None,
                     ("a", "1<think>b</think>2<think>c</think>3", "closed", 3)),
    "fence explaining tags": ("", "<think>a</think>\n```html\n<think>x</think>\n```\ndone", None,
                              ("a", "```html\n<think>x</think>\n```\ndone", "closed", 1)),
    "inline code explaining tags": ("", "<think>a</think>End with `</think>`, open with `<think>`.", None,
                                    ("a", "End with `</think>`, open with `<think>`.", "closed", 1)),
    "close in a fence of the reasoning still closes": ("", "<think>```\n</think>\n```</think>4", None,
                                                       ("```", "```</think>4", "closed", 1)),
    "closing tag only": ("", "I think 4.\n</think>\n\n4", None, ("I think 4.", "4", "closed", 1)),
    "closing tag only, blank before": ("", "\n</think>\n4", None, ("", "4", "closed", 1)),
    "bare closing tag": ("", CLOSE, None, ("", "", "closed", 1)),
    "closing tag only, later close is answer": ("", "r</think>a</think>b", None, ("r", "a</think>b", "closed", 1)),
    "closing tag only, later open is answer": ("", "r</think>4 <think>x", None, ("r", "4 <think>x", "closed", 2)),
    "open mid-text is not reasoning": ("", "Sure.\n<think>r</think>4", None,
                                       ("", "Sure.\n<think>r</think>4", "absent", 1)),
    "uppercase tags are text": ("", "<THINK>r</THINK>4", None, ("", "<THINK>r</THINK>4", "absent", 0)),
    "tag with attribute is text": ("", '<think type="x">r</think>4', None,
                                   ('<think type="x">r', "4", "closed", 1)),
    "tag with attribute, never closed": ("", '<think type="x">r', "length", ("", '<think type="x">r', "absent", 0)),
    "spaced tags are text": ("", "< think>r</ think>4", None, ("", "< think>r</ think>4", "absent", 0)),
    "empty text": ("", "", None, ("", "", "absent", 0)),
    "whitespace only": ("", "  \n\t", None, ("", "", "absent", 0)),
    "bare opening tag": ("", OPEN, "length", ("", "", "unclosed", 1)),
    "empty block": ("", "<think></think>", None, ("", "", "closed", 1)),
    "empty block then answer": ("", "<think></think>4", None, ("", "4", "closed", 1)),
    "length without close": ("", "<think>r and then", "length", ("r and then", "", "unclosed", 1)),
    "stop without close": ("", "<think>r and then", "stop", ("r and then", "", "unclosed", 1)),
    "length with close": ("", "<think>r</think>The ans", "length", ("r", "The ans", "closed", 1)),
    "length, no tags": ("", "The answer is", "length", ("", "The answer is", "absent", 0)),
    "unclosed with a nested open": ("", "<think>a <think>b", "length", ("a <think>b", "", "unclosed", 1)),
    "CRLF": ("", "<think>\r\nr\r\n</think>\r\n\r\nline1\r\nline2\r\n", None, ("r", "line1\r\nline2", "closed", 1)),
    "CRLF prefill": ("<think>\r\n", "r\r\n</think>\r\n4", None, ("r", "4", "closed", 1)),
    "unicode": ("", "<think>思考：2+2=4 ✓</think>\n答案是 4。😀", None,
                ("思考：2+2=4 ✓", "答案是 4。😀", "closed", 1)),
    "unicode whitespace before the tag": ("", "\u3000\u00a0<think>r</think>4", None, ("r", "4", "closed", 1)),
    "answer inside kept verbatim": ("", "<think>r</think>\n\n  a\n\n  b  \n", None, ("r", "a\n\n  b", "closed", 1)),
    "zero-width space is not whitespace": ("", "\u200b<think>r</think>4", None,
                                           ("", "\u200b<think>r</think>4", "absent", 1)),
}


@pytest.mark.parametrize("prefill, completion, finish, want", TEXT_CASES.values(), ids=TEXT_CASES.keys())
def test_text_table(prefill, completion, finish, want):
    p = parse_completion(prefill, completion, None, finish)
    assert (p.reasoning, p.answer, p.think_state, p.think_blocks) == want


# (prefill, completion, reasoning_content, finish_reason) -> (reasoning, answer, think_state, think_blocks)
SERVER_CASES = {
    "split": ("", "4", "2+2=4", "stop", ("2+2=4", "4", "closed", 1)),
    "reasoning padded": ("", "\n\n4\n", "\n r \n", "stop", ("r", "4", "closed", 1)),
    "truncated, length": ("", "", "2+2 is", "length", ("2+2 is", "", "unclosed", 1)),
    "truncated whatever the finish reason": ("", "", "2+2 is", "stop", ("2+2 is", "", "unclosed", 1)),
    "blank content": ("", "\n\n", "r", None, ("r", "", "unclosed", 1)),
    "None reasoning: text parsed": ("", "<think>r</think>4", None, None, ("r", "4", "closed", 1)),
    "empty reasoning: text parsed": ("", "<think>r</think>4", "", None, ("r", "4", "closed", 1)),
    "whitespace reasoning: text parsed": ("", "<think>r</think>4", " \n\t", None, ("r", "4", "closed", 1)),
    "whitespace reasoning, no tags": ("", "4", "\n", "stop", ("", "4", "absent", 0)),
    "whitespace reasoning, prefill open, nothing": ("<think>\n", "", "  ", "length", ("", "", "unclosed", 1)),
    "tags in content stay answer": ("", "<think>x</think>4", "r", None, ("r", "<think>x</think>4", "closed", 2)),
    "close in content stays answer": ("", "</think>4", "r", None, ("r", "</think>4", "closed", 1)),
    "fenced tags in content": ("", "```\n<think>\n```", "r", None, ("r", "```\n<think>\n```", "closed", 1)),
    "prefill opened, server split": ("<think>\n", "4", "r", None, ("r", "4", "closed", 1)),
    "prefill closed: server field is misfiled answer": (NO_THINK, "", "4", "stop", ("", "4", "closed", 1)),
    "prefill closed: both fields are answer": (NO_THINK, " tail", "4", "stop", ("", "4 tail", "closed", 1)),
    "prefill closed, empty reasoning": (NO_THINK, "4", "", "stop", ("", "4", "closed", 1)),
    "non-string reasoning is absent": ("", "4", 0, None, ("", "4", "absent", 0)),
}


@pytest.mark.parametrize("prefill, completion, rc, finish, want", SERVER_CASES.values(), ids=SERVER_CASES.keys())
def test_server_table(prefill, completion, rc, finish, want):
    p = parse_completion(prefill, completion, rc, finish)
    assert (p.reasoning, p.answer, p.think_state, p.think_blocks) == want


# (mode, prefill, completion, reasoning_content) -> leaked_think
LEAK_CASES = {
    "clean answer": ("no_think", NO_THINK, "4", None, False),
    "answer opens a block": ("no_think", NO_THINK, "4 <think>more", None, True),
    "answer holds a whole second block": ("no_think", NO_THINK, "<think>x</think>4", None, True),
    "answer closes a block it never opened": ("no_think", NO_THINK, "4</think>", None, True),
    "closing tag only, with text before it": ("no_think", "", "x</think>4", None, False),
    "block opens the text: reasoning, not a leak": ("no_think", "", "<think>r</think>4", None, False),
    "fenced tags": ("no_think", NO_THINK, "```\n<think>\n</think>\n```", None, False),
    "fenced with language": ("no_think", NO_THINK, "See:\n```xml\n<think>a</think>\n```\nok", None, False),
    "unclosed fence runs to the end": ("no_think", NO_THINK, "```\n<think>", None, False),
    "tag after a closed fence": ("no_think", NO_THINK, "```\ncode\n```\n<think>", None, True),
    "inline code": ("no_think", NO_THINK, "Use `</think>` to end.", None, False),
    "double-backtick inline code": ("no_think", NO_THINK, "``a ` <think> b``", None, False),
    "unmatched backtick is not code": ("no_think", NO_THINK, "a ` b <think>", None, True),
    "inline code does not span lines": ("no_think", NO_THINK, "`a\n<think>\nb`", None, True),
    "uppercase is text": ("no_think", NO_THINK, "<THINK>x</THINK>", None, False),
    "attribute is text": ("no_think", NO_THINK, '<think type="x">', None, False),
    "server content opens a block": ("no_think", "", "<think>x</think>4", "r", True),
    "server content with inline code": ("no_think", "", "`<think>`", "r", False),
    "think mode never leaks": ("think", NO_THINK, "4 <think>b", None, False),
    "default mode never leaks": ("default", NO_THINK, "4 <think>b", None, False),
    "budget mode never leaks": ("budget:64", NO_THINK, "4 <think>b", None, False),
    "no mode never leaks": (None, NO_THINK, "4 <think>b", None, False),
    "mode names are exact": ("NO_THINK", NO_THINK, "4 <think>b", None, False),
}


@pytest.mark.parametrize("mode, prefill, completion, rc, want", LEAK_CASES.values(), ids=LEAK_CASES.keys())
def test_leak_table(mode, prefill, completion, rc, want):
    p = parse_completion(prefill, completion, rc, "stop", mode=mode)
    assert p.leaked_think is want


def test_leak_never_changes_the_split():
    a = parse_completion(NO_THINK, "4 <think>x</think>", mode="no_think")
    b = parse_completion(NO_THINK, "4 <think>x</think>")
    assert (a.reasoning, a.answer, a.think_state, a.think_blocks) == (b.reasoning, b.answer, b.think_state,
                                                                       b.think_blocks)
    assert (a.leaked_think, b.leaked_think) == (True, False)


def test_doctests():
    assert doctest.testmod(thinkparse).failed == 0


def test_imports_no_other_room():
    tree = ast.parse(Path(thinkparse.__file__).read_text())
    names = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in names if m.startswith("thinkgate.") and not m.startswith("thinkgate.tasks")]


# --- properties on seeded random texts ---

PIECES = ["a", "4", "x y", " ", "\n", "\r\n", "\t", "<", ">", "/", "think", "<thin", "k>", "</", "<THINK>",
          "</THINK>", "<think ", '<think type="x">', "< think>", "</ think>", "</think", "`", "``", "```",
          "思", "é", "\u00a0", "\u3000", "\u200b", "😀", "\\", "\r"]
TAGGED = PIECES + [OPEN, CLOSE, OPEN, CLOSE]
SPACE = [" ", "\n", "\r\n", "\t", "\u3000", "\u00a0"]
SEEDS = range(8)
N = 150


def _text(rng, pieces=TAGGED, n=12):
    return "".join(rng.choice(pieces) for _ in range(rng.randrange(n)))


def _without(rng, *tags):
    """A random text that contains none of `tags` (near-misses that join into one are redrawn)."""
    while True:
        t = _text(rng, PIECES + [tag for tag in (OPEN, CLOSE) if tag not in tags])
        if not any(tag in t for tag in tags):
            return t


def _split(rng, text):
    k = rng.randrange(len(text) + 1)
    return text[:k], text[k:]


@pytest.mark.parametrize("seed", SEEDS)
def test_property_opening_block_then_verbatim_answer(seed):
    rng = random.Random(seed)
    for _ in range(N):
        r, a = _without(rng, CLOSE), _text(rng)  # r may hold <think>: it does not nest
        text = _text(rng, SPACE, 3) + OPEN + r + CLOSE + a
        p = parse_completion(*_split(rng, text), None, rng.choice([None, "stop", "length"]))
        assert (p.reasoning, p.answer, p.think_state) == (r.strip(), a.strip(), "closed"), repr(text)
        assert p.think_blocks == 1 + outside_code(a.strip()).count(OPEN)


@pytest.mark.parametrize("seed", SEEDS)
def test_property_unclosed_block_has_empty_answer(seed):
    rng = random.Random(seed)
    for _ in range(N):
        r = _without(rng, CLOSE)
        text = _text(rng, SPACE, 3) + OPEN + r
        p = parse_completion(*_split(rng, text), None, rng.choice([None, "stop", "length"]), mode="no_think")
        assert (p.reasoning, p.answer, p.think_state, p.think_blocks, p.leaked_think) == (
            r.strip(), "", "unclosed", 1, False), repr(text)


@pytest.mark.parametrize("seed", SEEDS)
def test_property_closing_tag_only(seed):
    rng = random.Random(seed)
    for _ in range(N):
        r, a = _without(rng, OPEN, CLOSE), _text(rng)
        p = parse_completion(*_split(rng, r + CLOSE + a))
        assert (p.reasoning, p.answer, p.think_state) == (r.strip(), a.strip(), "closed"), repr(r + CLOSE + a)


@pytest.mark.parametrize("seed", SEEDS)
def test_property_tagless_text_is_all_answer(seed):
    rng = random.Random(seed)
    for _ in range(N):
        t = _without(rng, OPEN, CLOSE)
        p = parse_completion(*_split(rng, t), None, "stop", mode="no_think")
        assert (p.reasoning, p.answer, p.think_state, p.think_blocks, p.leaked_think) == (
            "", t.strip(), "absent", 0, False), repr(t)


@pytest.mark.parametrize("seed", SEEDS)
def test_property_server_split(seed):
    rng = random.Random(seed)
    for _ in range(N):
        rc = _text(rng) + rng.choice("ab思")  # never blank
        c = _text(rng)
        p = parse_completion(rng.choice(["", "<think>\n"]), c, rc, rng.choice([None, "stop", "length"]))
        want = "unclosed" if not c.strip() else "closed"
        assert (p.reasoning, p.answer, p.think_state) == (rc.strip(), c.strip(), want), repr((rc, c))


@pytest.mark.parametrize("seed", SEEDS)
def test_property_blank_server_reasoning_is_absent(seed):
    rng = random.Random(seed)
    for _ in range(N):
        prefill, completion = _split(rng, _text(rng))
        blank = rng.choice([None, "", _text(rng, SPACE, 4)])
        assert parse_completion(prefill, completion, blank) == parse_completion(prefill, completion)


@pytest.mark.parametrize("seed", SEEDS)
def test_property_fenced_tags_never_leak(seed):
    rng = random.Random(seed)
    code = [p for p in TAGGED if "`" not in p]
    for _ in range(N):
        body = _text(rng, code)
        before = _without(rng, OPEN, CLOSE, "`")
        a = before + "\n```\n" + body + "\n```\n"
        assert not parse_completion(NO_THINK, a, mode="no_think").leaked_think, repr(a)
        assert parse_completion(NO_THINK, a + rng.choice([OPEN, CLOSE]), mode="no_think").leaked_think, repr(a)


@pytest.mark.parametrize("seed", SEEDS)
def test_property_invariants_on_any_text(seed):
    rng = random.Random(seed)
    for _ in range(N):
        prefill, completion = _split(rng, _text(rng, n=20))
        mode = rng.choice([None, "think", "no_think", "default"])
        p = parse_completion(prefill, completion, None, rng.choice([None, "stop", "length"]), mode=mode)
        text = prefill + completion
        assert text.rstrip().endswith(p.answer)  # the answer is never rewritten, only trimmed
        assert p.reasoning in text
        assert p.answer == p.answer.strip() and p.reasoning == p.reasoning.strip()
        assert p.think_state != "unclosed" or p.answer == ""
        assert (p.think_blocks >= 1) == (p.think_state != "absent" or OPEN in outside_code(p.answer))
        assert not p.leaked_think or mode == "no_think"
        assert split_think(text)[2] == p.think_state
