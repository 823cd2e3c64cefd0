"""The writing suites: LongBench-Write with the length score, generated constraints with
their checkers, all on literal strings."""

import hashlib
import json
from importlib import resources

import pytest

from thinkgate.tasks import Item, get_suite, suite_names
from thinkgate.tasks import constraints as cons
from thinkgate.tasks.writing import ConstraintScorer, LengthScorer, length_score, word_count


def _item(reference, suite="constraints") -> Item:
    return Item("t/1", suite, "writing", False, ({"role": "user", "content": "q"},), reference, "g")


# ---- LongBench-Write ----------------------------------------------------------------

def test_word_count_is_whitespace_separated():
    assert word_count("Two  words,\n then three.") == 4
    assert word_count("") == 0 and word_count(" \n\t") == 0


@pytest.mark.parametrize("words, target, expected", [
    (1000, 1000, 1.0),
    (1300, 1000, 0.9),        # too long: 1 - (1.3 - 1) / 3
    (800, 1000, 0.875),       # too short: 1 - (1.25 - 1) / 2
    (4000, 1000, 0.0),        # 1 - 3/3, the edge of the long side
    (10000, 100, 0.0),        # clipped, never negative
    (333, 1000, 0.0),         # 1 - (3.003 - 1)/2 < 0, clipped
    (500, 1000, 0.5),
    (0, 1000, 0.0),           # empty answer
])
def test_length_score_is_longwriters_formula(words, target, expected):
    assert length_score(words, target) == pytest.approx(expected)


def test_length_score_penalises_short_more_than_long():
    assert length_score(1200, 1000) > length_score(1000 * 1000 // 1200, 1000)


def test_length_scorer_detail_and_empty_answer():
    item = _item({"length": 100, "type": "News Report"}, "longbench_write")
    s = LengthScorer()(" ".join(["word"] * 90), item)
    assert s.status == "ok" and s.passed is None
    assert s.value == pytest.approx(1 - (100 / 90 - 1) / 2)
    assert s.detail == {"words": 90, "target": 100}
    empty = LengthScorer()("", item)
    assert empty.value == 0.0 and empty.detail == {"words": 0, "target": 100}


@pytest.mark.parametrize("reference", [{"type": "x"}, {"length": 0}, {"length": "100"}, None, [1]])
def test_length_scorer_bad_reference_is_a_data_error(reference):
    s = LengthScorer()("some words", _item(reference, "longbench_write"))
    assert s.status == "data_error" and s.value is None and "length" in s.detail["reason"]


def test_longbench_write_suite():
    suite = get_suite("longbench_write")
    assert suite.domain == "writing" and not suite.verifiable and suite.license == "Apache-2.0"
    assert "2408.07055" in suite.citation
    items = suite.items()
    assert len(items) == 60 and len({i.id for i in items}) == 60
    assert items[0].id == "longbench_write/00" and items[-1].id == "longbench_write/59"
    first = items[0]
    assert first.reference == {"length": 100, "type": "Community Forum"}
    assert first.group == "Community Forum"
    assert first.messages == ({"role": "user", "content": "Write an outline for a short 100-word "
                               "blog post about why Christmas Cactus are a great buy."},)
    assert all(i.group == i.reference["type"] and i.reference["length"] >= 100 for i in items)
    assert len({i.group for i in items}) == 7
    json.dumps([i.reference for i in items])
    assert isinstance(suite.scorer(), LengthScorer)


def test_bundled_longbench_data_is_the_pinned_file_with_attribution():
    folder = resources.files("thinkgate.tasks") / "data" / "longbench_write"
    data = (folder / "longbench_write_en.jsonl").read_bytes()
    digest = "87800927761f340e48899e4df5d47fb7211ad4936a63420dbfa979660414259f"
    assert hashlib.sha256(data).hexdigest() == digest
    attribution = (folder / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "THU-KEG & Zhipu-AI" in attribution and "Alibaba ModelScope" in attribution
    assert digest in attribution
    assert "Apache License" in (folder / "LICENSE").read_text(encoding="utf-8")


# ---- constraint checkers, each passing and failing -----------------------------------

CHECKER_CASES = [
    # line_count: blank lines and trailing newlines do not count
    ({"kind": "line_count", "n": 2}, "one\ntwo", True),
    ({"kind": "line_count", "n": 2}, "one\ntwo\n\n", True),
    ({"kind": "line_count", "n": 2}, "one\n\n  \ntwo", True),
    ({"kind": "line_count", "n": 2}, "one\r\ntwo\r\n", True),
    ({"kind": "line_count", "n": 2}, "one two", False),
    ({"kind": "line_count", "n": 2}, "a\nb\nc", False),
    # word_range: inclusive bounds, whitespace words
    ({"kind": "word_range", "low": 2, "high": 3}, "one two", True),
    ({"kind": "word_range", "low": 2, "high": 3}, " one\ntwo  three ", True),
    ({"kind": "word_range", "low": 2, "high": 3}, "one", False),
    ({"kind": "word_range", "low": 2, "high": 3}, "one two three four", False),
    # include_words: whole word, any case, punctuation around it is fine
    ({"kind": "include_words", "words": ["river", "echo"]}, "The RIVER made an Echo.", True),
    ({"kind": "include_words", "words": ["river", "echo"]}, "river-side echo!", True),
    ({"kind": "include_words", "words": ["river", "echo"]}, "The river was silent.", False),
    ({"kind": "include_words", "words": ["river", "echo"]}, "rivers echoed", False),
    # forbidden_word: whole word, any case
    ({"kind": "forbidden_word", "word": "very"}, "Every day is new.", True),
    ({"kind": "forbidden_word", "word": "very"}, "It was VERY cold.", False),
    ({"kind": "forbidden_word", "word": "very"}, "Very.", False),
    # forbidden_letter: either case
    ({"kind": "forbidden_letter", "letter": "p"}, "The sun is out.", True),
    ({"kind": "forbidden_letter", "letter": "p"}, "Paris", False),
    ({"kind": "forbidden_letter", "letter": "p"}, "an apple", False),
    # end_punct: trailing whitespace ignored; anything after the mark fails
    ({"kind": "end_punct", "mark": "?"}, "Why not?", True),
    ({"kind": "end_punct", "mark": "?"}, "Why not?  \n\n", True),
    ({"kind": "end_punct", "mark": "!"}, "What?!", True),
    ({"kind": "end_punct", "mark": "?"}, "Why not.", False),
    ({"kind": "end_punct", "mark": "?"}, '"Why not?"', False),
    ({"kind": "end_punct", "mark": "!"}, "", False),
    # title: first non-blank line is exactly <<...>>
    ({"kind": "title"}, "<<morning light>>\nThe sun rose.", True),
    ({"kind": "title"}, "\n  <<Rain>>  \nIt rained.", True),
    ({"kind": "title"}, "Rain\n<<Rain>>", False),
    ({"kind": "title"}, "<<>>\ntext", False),
    ({"kind": "title"}, "<<Rain>> fell all day", False),
    ({"kind": "title"}, "# Rain", False),
    # lowercase: no uppercase letter anywhere (digits, punctuation fine)
    ({"kind": "lowercase"}, "a quiet day, 9 a.m.", True),
    ({"kind": "lowercase"}, "café in zürich", True),
    ({"kind": "lowercase"}, "a Quiet day", False),
    ({"kind": "lowercase"}, "<<RAIN>>\nrain", False),
    # starts_with: first word after leading punctuation/markup, any case
    ({"kind": "starts_with", "start": "imagine"}, "Imagine a world.", True),
    ({"kind": "starts_with", "start": "imagine"}, '  **"imagine," she said', True),
    ({"kind": "starts_with", "start": "imagine"}, "Imagined worlds", False),
    ({"kind": "starts_with", "start": "imagine"}, "So, imagine", False),
    ({"kind": "starts_with", "start": "imagine"}, "", False),
    # bullets: lines starting "* ", markdown bold is not a bullet
    ({"kind": "bullets", "n": 2}, "Intro\n* one\n  * two\n", True),
    ({"kind": "bullets", "n": 2}, "* one\n* two\n**bold** line", True),
    ({"kind": "bullets", "n": 2}, "* one\n- two", False),
    ({"kind": "bullets", "n": 2}, "* one\n* two\n* three", False),
    # no_commas: ASCII and full-width
    ({"kind": "no_commas"}, "A; B. C!", True),
    ({"kind": "no_commas"}, "A, B", False),
    ({"kind": "no_commas"}, "A，B", False),
]


@pytest.mark.parametrize("constraint, answer, ok", CHECKER_CASES)
def test_checker(constraint, answer, ok):
    assert cons.check(constraint, answer) is ok


def test_every_kind_has_a_passing_and_a_failing_case():
    cases = {(c["kind"], ok) for c, _, ok in CHECKER_CASES}
    assert cases == {(k, ok) for k in cons.KINDS for ok in (True, False)}


@pytest.mark.parametrize("constraint, words", [
    ({"kind": "line_count", "n": 7}, ["exactly 7 lines"]),
    ({"kind": "word_range", "low": 80, "high": 180}, ["between 80 and 180 words"]),
    ({"kind": "include_words", "words": ["river", "echo"]}, ['"river" and "echo"']),
    ({"kind": "forbidden_word", "word": "very"}, ['"very"']),
    ({"kind": "forbidden_letter", "letter": "k"}, ['letter "k"']),
    ({"kind": "end_punct", "mark": "!"}, ['"!"']),
    ({"kind": "title"}, ["<<", ">>", "first line"]),
    ({"kind": "lowercase"}, ["lowercase"]),
    ({"kind": "starts_with", "start": "listen"}, ['"listen"']),
    ({"kind": "bullets", "n": 3}, ["exactly 3 bullet points", '"* "']),
    ({"kind": "no_commas"}, ["commas"]),
])
def test_instruction_names_the_parameters(constraint, words):
    text = cons.instruction(constraint)
    assert all(w in text for w in words), text


def test_unknown_kind_says_which_kinds_exist():
    with pytest.raises(ValueError, match="unknown constraint.*kinds: line_count"):
        cons.check({"kind": "rhymes"}, "text")


# ---- the generator --------------------------------------------------------------------

def test_generator_is_deterministic():
    assert cons.generate(50, seed=7) == cons.generate(50, seed=7)
    assert cons.generate(50, seed=7) != cons.generate(50, seed=8)
    assert cons.generate() == cons.generate(cons.N_ITEMS, cons.SEED)


PINNED = "23dbebeac834f9e0"


def test_default_generation_is_pinned():
    """An edited pool or kind, or a change in Python's `random`, would silently change every
    item: make such a change deliberately, then update this digest."""
    generated = [(t, c, cons.constraint_prompt(t, c)) for t, c in cons.generate()]
    blob = json.dumps(generated, sort_keys=True).encode()
    assert hashlib.sha256(blob).hexdigest()[:16] == PINNED


def test_generated_items_are_well_formed():
    generated = cons.generate()
    assert len(generated) == cons.N_ITEMS
    kinds_seen = set()
    for topic, constraints in generated:
        assert topic in cons.TOPICS
        kinds = [c["kind"] for c in constraints]
        assert 1 <= len(kinds) <= 3 and len(set(kinds)) == len(kinds)
        assert not any(frozenset((a, b)) in cons.CONFLICTS for a in kinds for b in kinds)
        kinds_seen.update(kinds)
        by_kind = {c["kind"]: c for c in constraints}
        if "forbidden_letter" in by_kind:  # never forbid a letter of a required word
            letter = by_kind["forbidden_letter"]["letter"]
            required = by_kind.get("include_words", {}).get("words", [])
            required += [by_kind.get("starts_with", {}).get("start", "")]
            assert all(letter not in w for w in required)
        for c in constraints:
            cons.instruction(c)  # every drawn parameter set is valid
    assert kinds_seen == set(cons.KINDS) and len(cons.KINDS) >= 6
    assert {t for t, _ in generated} == set(cons.TOPICS)


def test_constraints_suite_items_are_reconstructible():
    suite = get_suite("constraints")
    assert suite.domain == "writing" and not suite.verifiable
    items = suite.items()
    assert len(items) == cons.N_ITEMS and len({i.id for i in items}) == cons.N_ITEMS
    assert items[0].id == "constraints/000"
    for item in items:
        reference = json.loads(json.dumps(item.reference))  # as the store keeps it
        assert reference == item.reference
        assert item.messages == ({"role": "user",
                                  "content": cons.constraint_prompt(item.group, reference)},)
    assert isinstance(suite.scorer(), ConstraintScorer)
    assert {"constraints", "longbench_write"} <= set(suite_names())


# ---- the constraint scorer ----------------------------------------------------------

REF = [{"kind": "line_count", "n": 2}, {"kind": "lowercase"}, {"kind": "end_punct", "mark": "!"}]


def test_constraint_scorer_fraction_and_detail():
    s = ConstraintScorer()("first line\nSecond line.", _item(REF))
    assert s.status == "ok" and s.passed is None
    assert s.value == pytest.approx(1 / 3)
    assert [c["met"] for c in s.detail["constraints"]] == [True, False, False]
    assert s.detail["constraints"][0] == {"kind": "line_count", "n": 2, "met": True}
    assert s.detail["met"] == 1 and s.detail["total"] == 3 and not s.detail["all_met"]
    full = ConstraintScorer()("first line\nsecond line!\n", _item(REF))
    assert full.value == 1.0 and full.detail["all_met"]


def test_blank_answer_meets_nothing_not_even_vacuous_constraints():
    s = ConstraintScorer()("  \n", _item([{"kind": "no_commas"}, {"kind": "lowercase"}]))
    assert s.value == 0.0 and s.detail["reason"] == "empty answer"


@pytest.mark.parametrize("reference", [
    [], "no_commas", None, [{"kind": "rhymes"}], [{"kind": "line_count"}],
    [{"kind": "no_commas", "extra": 1}], ["no_commas"],
])
def test_bad_reference_is_a_data_error(reference):
    for answer in ("some text", ""):
        s = ConstraintScorer()(answer, _item(reference))
        assert s.status == "data_error" and s.value is None and s.detail["reason"]


def test_a_compliant_answer_scores_one_on_a_generated_item():
    item = get_suite("constraints").items()[0]
    assert [c["kind"] for c in item.reference] == ["line_count", "lowercase", "forbidden_letter"]
    answer = "rows of old spines wait on the shelf\na child opens me at last\nand i am read again\n"
    assert ConstraintScorer()(answer, item).value == 1.0
