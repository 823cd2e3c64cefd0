"""Summary suites: OpenAI Evals `consensus_summary` and `abstract2title`, scored with ROUGE-L.

ROUGE-L F1 (Lin 2004) with Porter stemming, from Google's `rouge-score` package, per
answer against the reference; an optional pairwise judge comes on top (see the judge).
"""

from __future__ import annotations

from dataclasses import dataclass

from thinkgate.tasks.evals_format import evals_items
from thinkgate.tasks.registry import register_scorer, register_suite
from thinkgate.tasks.types import Item, Score, Suite


@register_scorer("rouge", domain="summary", verifiable=False)
@dataclass(frozen=True)
class RougeLScorer:
    name: str = "rougeL_f1"
    version: str = "1"
    binary: bool = False

    def __call__(self, answer: str, item: Item) -> Score:
        from rouge_score import rouge_scorer

        refs = item.reference if isinstance(item.reference, list) else [item.reference]
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        best = max(scorer.score(str(ref), answer)["rougeL"].fmeasure for ref in refs) if answer.strip() else 0.0
        return Score(self.name, float(best), None, "ok", {})


def _loader(folder: str, suite: str):
    return lambda: evals_items(suite, "summary", folder)


@register_suite("consensus_summary")
def consensus_summary() -> Suite:
    return Suite("consensus_summary", "summary", False,
                 "OpenAI Evals consensus_summary: a brief answer using only given claims (362)",
                 _loader("consensus_summary", "consensus_summary"), RougeLScorer,
                 "OpenAI Evals consensus_summary.dev.v0", "MIT")


@register_suite("abstract2title")
def abstract2title() -> Suite:
    return Suite("abstract2title", "summary", False,
                 "OpenAI Evals abstract2title: a title for a scientific abstract (254)",
                 _loader("abstract2title", "abstract2title"), RougeLScorer,
                 "OpenAI Evals abstract2title.test.v1", "MIT")
