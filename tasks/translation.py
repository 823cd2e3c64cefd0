"""Translation suites, scored per sentence with chrF++ (sacrebleu).

- `flores_en_ms`: FLORES+ devtest English -> Standard Malay (1,012; NLLB Team 2022; OLDI).
- `be_ru_be`: OpenAI Evals Belarusian -> Russian -> Belarusian round trip (100).
- `zh_en_hard`: OpenAI Evals hard Chinese -> English (puns, slang; 21, several references).

Sentence-level chrF++ (chrF with word bigrams, Popovic 2017) is the per-item score so
think and no-think can be paired item by item; the report adds corpus BLEU and corpus
chrF++ per suite and mode (sacrebleu's corpus statistics, not a mean of sentences).
"""

from __future__ import annotations

from dataclasses import dataclass

from thinkgate.tasks.evals_format import data_path, evals_items
from thinkgate.tasks.registry import register_scorer, register_suite
from thinkgate.tasks.types import Item, Score, Suite, chat


def clean_translation(answer: str) -> str:
    """The translation out of a chatty answer: first non-empty line, quotes and a label off.

        >>> clean_translation('Translation: "Selamat pagi."\\n\\nThis means good morning.')
        'Selamat pagi.'
    """
    lines = [ln.strip() for ln in answer.strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    for label in ("translation:", "malay:", "english:", "belarusian:"):
        if text.lower().startswith(label):
            text = text[len(label):].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”«»":
        text = text[1:-1].strip()
    elif len(text) >= 2 and (text[0], text[-1]) in (("“", "”"), ("«", "»")):
        text = text[1:-1].strip()
    return text


@register_scorer("chrf", domain="translation", verifiable=False)
@dataclass(frozen=True)
class ChrFScorer:
    """Sentence chrF++ / 100 against the references (the best when there are several)."""

    name: str = "chrf++"
    version: str = "1"
    binary: bool = False

    def __call__(self, answer: str, item: Item) -> Score:
        from sacrebleu.metrics import CHRF

        refs = item.reference if isinstance(item.reference, list) else [item.reference]
        hyp = clean_translation(answer)
        if not hyp:
            return Score(self.name, 0.0, None, "ok", {"hypothesis": ""})
        chrf = CHRF(word_order=2)
        value = max(chrf.sentence_score(hyp, [str(r)]).score for r in refs) / 100
        return Score(self.name, float(value), None, "ok", {"hypothesis": hyp})


FLORES_PROMPT = ("Translate the following English sentence into Standard Malay (Bahasa Melayu). "
                 "Reply with the Malay translation only.\n\n{src}")


def load_flores() -> list[Item]:
    with data_path("flores_en_ms", "flores.eng").open(encoding="utf-8") as f:
        src = f.read().splitlines()
    with data_path("flores_en_ms", "flores.ms").open(encoding="utf-8") as f:
        ref = f.read().splitlines()
    if len(src) != len(ref):
        raise ValueError(f"FLORES files are not line-aligned: {len(src)} vs {len(ref)} lines")
    # FLORES sentences come in short runs from one article, but the bundled files carry no
    # article ids: each sentence is its own cluster.
    return [Item(f"flores_en_ms/{i:04d}", "flores_en_ms", "translation", False,
                 chat(None, FLORES_PROMPT.format(src=s)), r, f"flores_en_ms/{i:04d}",
                 {"source": s}) for i, (s, r) in enumerate(zip(src, ref))]


def _evals_loader(folder: str, suite: str):
    return lambda: evals_items(suite, "translation", folder)


@register_suite("flores_en_ms")
def flores_en_ms() -> Suite:
    return Suite("flores_en_ms", "translation", False, "FLORES+ devtest English -> Malay (1,012)",
                 load_flores, ChrFScorer,
                 "NLLB Team 2022, No Language Left Behind; FLORES+ by OLDI", "CC-BY-SA-4.0")


@register_suite("be_ru_be")
def be_ru_be() -> Suite:
    return Suite("be_ru_be", "translation", False,
                 "OpenAI Evals Belarusian -> Russian -> Belarusian round trip (100)",
                 _evals_loader("belarusian_russian", "be_ru_be"), ChrFScorer,
                 "OpenAI Evals belarusian-russian-translation.dev.v0", "MIT")


@register_suite("zh_en_hard")
def zh_en_hard() -> Suite:
    return Suite("zh_en_hard", "translation", False,
                 "OpenAI Evals hard Chinese -> English translations (21)",
                 _evals_loader("chinese_hard", "zh_en_hard"), ChrFScorer,
                 "OpenAI Evals chinese_hard_translations.dev.v0", "MIT")
