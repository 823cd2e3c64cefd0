"""ROUGE-L and chrF++ scorers on literal strings; the suites load their bundled data."""

import json

import pytest

from thinkgate.tasks import Item, get_suite
from thinkgate.tasks.summary import RougeLScorer
from thinkgate.tasks.translation import ChrFScorer, clean_translation


def _item(ref, domain="summary"):
    return Item("t/1", "t", domain, False, ({"role": "user", "content": "x"},), ref, "t/1")


def test_rouge_l_identical_partial_and_empty():
    s = RougeLScorer()
    assert s("Vaccines are highly effective.", _item("Vaccines are highly effective.")).value == pytest.approx(1.0)
    partial = s("vaccines work", _item("Vaccines are highly effective and they work.")).value
    assert 0 < partial < 1
    assert s("", _item("anything")).value == 0.0


def test_rouge_l_stems():
    # "effective" / "effectively", "vaccines" / "vaccine" share stems
    assert RougeLScorer()("vaccine effectively", _item("vaccines effective")).value == pytest.approx(1.0)


def test_chrf_plus_plus_matches_sacrebleu_and_takes_best_reference():
    from sacrebleu.metrics import CHRF

    hyp, refs = "The cat sat on the mat.", ["A cat was sitting on the mat.", "The cat sat on the mat."]
    s = ChrFScorer()(hyp, _item(refs, "translation"))
    assert s.value == pytest.approx(1.0)
    one = ChrFScorer()(hyp, _item(refs[0], "translation")).value
    assert one == pytest.approx(CHRF(word_order=2).sentence_score(hyp, [refs[0]]).score / 100)
    assert ChrFScorer()("", _item("x", "translation")).value == 0.0


@pytest.mark.parametrize("answer, clean", [
    ("Selamat pagi.", "Selamat pagi."),
    ('Translation: "Selamat pagi."\n\nThis means good morning.', "Selamat pagi."),
    ("«Добры дзень»", "Добры дзень"),
    ("\n\n  Malay: Terima kasih  \n", "Terima kasih"),
])
def test_clean_translation(answer, clean):
    assert clean_translation(answer) == clean


@pytest.mark.parametrize("name, n, domain", [
    ("consensus_summary", 362, "summary"), ("abstract2title", 254, "summary"),
    ("flores_en_ms", 1012, "translation"), ("be_ru_be", 100, "translation"), ("zh_en_hard", 21, "translation"),
])
def test_suites_load(name, n, domain):
    suite = get_suite(name)
    items = suite.items()
    assert len(items) == n and len({i.id for i in items}) == n
    assert suite.domain == domain and not suite.verifiable and suite.license
    json.dumps([i.reference for i in items])
    assert all(m["role"] in ("system", "user") for i in items for m in i.messages)


def test_corpus_bleu_and_chrf_in_the_report():
    import pandas as pd

    from thinkgate.reports.estimates import corpus_metrics

    rows = pd.DataFrame({"status": ["ok", "ok"], "reference": [json.dumps("a b c d"), json.dumps(["e f g h", "x"])],
                         "detail": [json.dumps({"hypothesis": "a b c d"}), json.dumps({"hypothesis": "e f g h"})]})
    m = corpus_metrics(rows)
    assert m["corpus_bleu"] == pytest.approx(1.0) and m["corpus_chrf++"] == pytest.approx(1.0)
