"""Longtail suites: normalization helpers, the quiz(6) parser, every scorer on literal strings,
and every suite loading its bundled data (counts as in shared/data/SOURCES.md)."""

import json
from collections import Counter

import pytest

from thinkgate.tasks import Item, get_suite
from thinkgate.tasks.answers import (answer_candidates, contains_letter_run, contains_phrase,
                                     extract_choice, first_json_object, is_symbolic, letters_only,
                                     light_normalize, match_any, normalize)
from thinkgate.tasks.longtail import (QUIZ_PER_FILE, AbstentionScorer, ChoiceScorer, CrosswordScorer,
                                      IncludesScorer, InflectionScorer, QuizScorer, abstention, quiz_pool)
from thinkgate.tasks.quiz import (PatternError, expand_pattern, first_expansion, join_continuations,
                                  parse_pattern, questions_from_file, read_index, resolve_overstrike,
                                  split_fields, subsample)


def _item(reference, suite="t") -> Item:
    return Item(f"{suite}/0", suite, "longtail", False, ({"role": "user", "content": "q"},), reference, f"{suite}/0")


# --- normalization -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("The  Big-Apple!", "big apple"),
    ("An apple, a pear", "apple pear"),
    ("Summer's day", "summers day"),
    ("Lomé", "lome"),
    ("  \tPorto-Novo.\n", "porto novo"),
    ("", ""),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_symbolic_answers_keep_their_punctuation():
    assert is_symbolic(".-") and is_symbolic("1,$p") and not is_symbolic("Porto-Novo")
    assert light_normalize(" `1,$P` ") == "1,$p"
    assert contains_phrase("a big man", "man") and not contains_phrase("woman", "man")


def test_match_any_exact_line_tail_and_containment():
    assert match_any("Father", ["father"])["how"] == "exact"
    assert match_any("Hmm, let me think.\nAnswer: Paris", ["paris"])["how"] == "exact"
    assert match_any("It means father.", ["father"])["how"] == "contains"
    assert match_any("grandfathers", ["father"])["matched"] is None
    assert match_any("A is .-", [".-"])["matched"] == ".-"
    assert match_any("R is .-.", [".-"])["matched"] is None  # no sentence mark after a symbol
    assert match_any("The command: 1,$p.", ["1,$p"])["matched"] == "1,$p"
    assert answer_candidates("x\nAnswer: Paris") == ["x\nAnswer: Paris", "Answer: Paris", "Paris"]


@pytest.mark.parametrize("answer, letter", [
    ("B", "B"), ("Answer: C", "C"), ("The answer is (d).", "D"), ("(A) Yes, because", "A"),
    ("D. No, because the duty...", "D"), ("**Answer: B**", "B"), ("Option A is correct", "A"),
    ("A court would likely choose C", "C"), ("I think it's B.", "B"),
    ("The answer is a tricky one", None), ("", None), ("none of them", None),
])
def test_extract_choice(answer, letter):
    assert extract_choice(answer) == letter


def test_first_json_object_and_letters():
    assert first_json_object('```json\n{"a": 1}\n```') == {"a": 1}
    assert first_json_object('{not json} then {"x": {"y": 2}}') == {"x": {"y": 2}}
    assert first_json_object("no braces") is None and first_json_object("[1, 2]") is None
    assert letters_only("a-team!") == "ATEAM"
    assert contains_letter_run("I think it's A TEAM.", "ATEAM")
    assert not contains_letter_run("GATEAMS", "ATEAM")


# --- quiz(6) format ------------------------------------------------------------------------

def test_continuation_lines_join_without_separator():
    text = "The quality of mercy is not strain['|e]d:\\\nIt droppeth:\\\n{The }Merchant:\\\nPortia\nnext:line\n"
    records = join_continuations(text)
    assert records == [(1, "The quality of mercy is not strain['|e]d:It droppeth:{The }Merchant:Portia"),
                       (5, "next:line")]
    assert split_fields(records[0][1]) == ["The quality of mercy is not strain['|e]d", "It droppeth",
                                           "{The }Merchant", "Portia"]


def test_escaped_colon_is_not_a_field_separator():
    assert split_fields("a\\:b:c") == ["a\\:b", "c"]
    assert expand_pattern("a\\:b")[0] == ["a:b"]
    assert expand_pattern("\\[x\\]")[0] == ["[x]"]


@pytest.mark.parametrize("pattern, expected", [
    ("Algiers", ["Algiers"]),
    ("{the }[Big|Great] Apple", ["the Big Apple", "the Great Apple", "Big Apple", "Great Apple"]),
    ("{G{eorge} }Washington", ["George Washington", "G Washington", "Washington"]),
    ("lady|gentlewoman", ["lady", "gentlewoman"]),
    ("{a|b}c", ["ac", "bc", "c"]),
    ("M[iddle{-}Earth|E]", ["Middle-Earth", "MiddleEarth", "ME"]),
    ("strain['|e]d", ["strain'd", "strained"]),
    ("1789-{17}97", ["1789-1797", "1789-97"]),
])
def test_expand_pattern(pattern, expected):
    assert expand_pattern(pattern) == (expected, False)
    assert first_expansion(pattern) == expected[0]
    assert parse_pattern(pattern)


def test_expansion_is_capped():
    accepted, cut = expand_pattern("{a|b}{c|d}{e|f}{g|h}", cap=10)
    assert len(accepted) == 10 and cut and accepted[0] == "aceg"


@pytest.mark.parametrize("bad", ["a]", "[a", "{a", "a}", "x{y[z}"])
def test_malformed_patterns_raise(bad):
    with pytest.raises(PatternError):
        parse_pattern(bad)


def test_overstrike_accents():
    assert resolve_overstrike("S~\bao Tom'\be") == "São Tomé"
    assert resolve_overstrike("K/\bobenhavn") == "København"
    assert expand_pattern("Lom['\be|e\b'|e]")[0] == ["Lomé", "Lome"]


def test_index_and_record_skipping():
    subjects = read_index("/usr/share/games/bsdgames/quiz/africa:Africa{n}:cap{ital}\n")
    assert subjects[0].file == "africa" and subjects[0].categories == ("African", "capital")
    skipped = Counter()
    qs = questions_from_file("t", "Algeria:Algiers\nlonely\n:empty\nbad]:x\n{x}y:\\\n{the }z\n", skipped)
    assert [(q.line, q.question, q.pattern, q.answer) for q in qs] == [(1, "Algeria", "Algiers", "Algiers"),
                                                                      (5, "xy", "{the }z", "the z")]
    assert skipped == {"fewer_than_2_fields": 1, "empty_expansion": 1, "malformed_pattern": 1}
    assert subsample(list(range(10)), 3) == [0, 3, 6] and subsample([1, 2], 5) == [1, 2]


# --- scorers -------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, ok", [
    ("prohibition", True), ("Refusal.", True), ("It means 'a refusal'", True),
    ("permission", False), ("", False), ("refusals", False),
])
def test_includes_scorer(answer, ok):
    s = IncludesScorer()(answer, _item(["prohibition", "refusal"]))
    assert (s.status, s.passed, s.value) == ("ok", ok, float(ok))


def test_includes_scorer_splits_semicolon_ideals_and_flags_bad_data():
    assert IncludesScorer()("neck", _item(["passage; neck"])).passed
    bad = IncludesScorer()("x", _item([]))
    assert bad.status == "data_error" and bad.value is None


@pytest.mark.parametrize("answer, ok", [("B", True), ("Answer: B", True), ("(b)", True), ("C", False), ("", False)])
def test_choice_scorer(answer, ok):
    s = ChoiceScorer()(answer, _item("B"))
    assert s.passed is ok and s.detail["gold"] == "B"
    assert ChoiceScorer()("B", _item("E")).status == "data_error"


@pytest.mark.parametrize("answer, ok", [
    ("AGLARE", True), ("aglare", True), ("The answer is AGLARE.", True), ("A-GLARE", True),
    ("AGLARES", False), ("GLARE", False), ("", False),
])
def test_crossword_scorer(answer, ok):
    assert CrosswordScorer()(answer, _item("AGLARE")).passed is ok
    assert CrosswordScorer()("x", _item("123")).status == "data_error"


ICE = {"et": {"nf": "hestur", "þf": "hest", "þgf": "hesti", "ef": "hests"},
       "ft": {"nf": "hestar", "þf": "hesta", "þgf": "hestum", "ef": "hesta"}}


def test_inflection_scorer_fraction_of_cells():
    ref = json.dumps(ICE, ensure_ascii=False)
    full = InflectionScorer()("```json\n" + ref + "\n```", _item(ref))
    assert full.value == 1.0 and full.passed is None and full.status == "ok"
    partial = dict(ICE, ft=dict(ICE["ft"], nf="hestir", ef=" HESTA "))
    s = InflectionScorer()("Svar: " + json.dumps(partial, ensure_ascii=False), _item(ref))
    assert s.value == 7 / 8 and s.detail["wrong_cells"] == ["ft.nf"]
    none = InflectionScorer()("hestur, hest, hesti", _item(ref))
    assert none.value == 0.0 and none.status == "ok" and "no JSON" in none.detail["reason"]
    assert InflectionScorer()("{}", _item('{"et": {}}')).status == "data_error"
    assert InflectionScorer()("{}", _item("not json")).status == "data_error"


@pytest.mark.parametrize("answer, label, ok", [
    ("Unsolveable", "Unsolveable", True), ("unsolvable.", "Unsolveable", True),
    ("The question cannot be answered from the context.", "Unsolveable", True),
    ("Not answerable", "Unsolveable", True), ("Solveable", "Unsolveable", False),
    ("Solveable", "Solveable", True), ("It is solvable", "Solveable", True),
    ("Unsolvable", "Solveable", False), ("Solvable? No: unsolvable", "Solveable", False),
    ("", "Solveable", False), ("", "Unsolveable", False),
])
def test_abstention_scorer(answer, label, ok):
    s = AbstentionScorer()(answer, _item(label))
    assert s.passed is ok and s.status == "ok"
    assert set(s.detail) >= {"abstained", "claimed_solvable", "expected"}


def test_abstention_detail_and_bad_label():
    assert abstention("Unsolvable.") == {"abstained": True, "claimed_solvable": False}
    assert abstention("Solveable") == {"abstained": False, "claimed_solvable": True}
    assert AbstentionScorer()("x", _item("Maybe")).status == "data_error"


@pytest.mark.parametrize("answer, ok", [
    ("Great Apple", True), ("the big apple", True), ("It's the Big Apple.", True),
    ("Big Orange", False), ("", False),
])
def test_quiz_scorer(answer, ok):
    s = QuizScorer()(answer, _item({"pattern": "{the }[Big|Great] Apple", "answer": "the Big Apple"}))
    assert s.passed is ok and s.status == "ok"


def test_quiz_scorer_symbolic_and_bad_patterns():
    assert QuizScorer()(".-", _item({"pattern": ".-"})).passed
    assert not QuizScorer()(".-.", _item({"pattern": ".-"})).passed
    assert QuizScorer()("x", _item({"pattern": "a]"})).status == "data_error"
    assert QuizScorer()("x", _item({"pattern": ""})).status == "data_error"


# --- suites --------------------------------------------------------------------------------

COUNTS = {"sindarin": 150, "tort_law": 340, "crossword": 100, "icelandic": 100, "unsolvable": 300}


@pytest.mark.parametrize("name", [*COUNTS, "quiz"])
def test_suite_loads(name):
    suite = get_suite(name)
    assert suite.domain == "longtail" and suite.verifiable is False and suite.license and suite.citation
    items = suite.items()
    if name in COUNTS:
        assert len(items) == COUNTS[name]
    assert len({i.id for i in items}) == len(items)
    assert all(i.id.startswith(f"{name}/") and i.suite == name and i.group for i in items)
    json.dumps([i.reference for i in items])
    for i in items:
        assert all(set(m) == {"role", "content"} for m in i.messages) and i.messages[-1]["role"] == "user"


@pytest.mark.parametrize("name, gold", [
    ("sindarin", lambda r: r[0]), ("tort_law", lambda r: f"Answer: {r}"), ("crossword", lambda r: r),
    ("icelandic", lambda r: r), ("unsolvable", lambda r: r), ("quiz", lambda r: r["answer"]),
])
def test_the_reference_answer_scores_full_marks(name, gold):
    suite = get_suite(name)
    scorer = suite.scorer()
    scores = [scorer(gold(i.reference), i) for i in suite.items()]
    assert all(s.status == "ok" and s.value == 1.0 for s in scores)


def test_tort_law_carries_the_four_few_shot_examples():
    msgs = get_suite("tort_law").items()[0].messages
    assert [m["role"] for m in msgs] == ["system"] + ["user", "assistant"] * 4 + ["user"]
    assert msgs[2]["content"] == "D"


def test_quiz_pool_counts_match_sources():
    pool, skipped = quiz_pool()
    # SOURCES.md: 1610 records in 33 files, 1608 in the 32 files `index` lists (`spell` is not)
    assert len(pool) + sum(skipped.values()) == 1610
    assert skipped == {"empty_expansion": 3, "not_in_index": 2}
    items = get_suite("quiz").items()
    assert len(items) == 582
    groups = {i.group for i in items}
    assert len(groups) == 32 and "quiz/spell" not in groups
    assert max(sum(i.group == g for i in items) for g in groups) == QUIZ_PER_FILE
    assert items[0].messages[0]["content"] == "Quiz (africa; African \u2192 capital): Algeria?\nAnswer briefly."
    assert "\b" not in "".join(i.messages[0]["content"] for i in items)
