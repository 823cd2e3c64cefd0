"""Longtail suites: rare-domain questions with short answers, scored by normalized match.

Five OpenAI Evals tasks (github.com/openai/evals, MIT) and the 4.4BSD `quiz(6)` databases
(bsd-games 2.17, BSD-3-Clause); the data are exact copies, see `data/*/ATTRIBUTION.md`.
None of these is "verifiable" in the math/code sense: a string match stands in for a grader.

- `sindarin`: Tolkien's Sindarin word -> English. Evals scores it with "includes"; here an
  answer passes when its normalized form equals an ideal or contains one as a whole word or
  phrase ("a man" passes for "man", "woman" does not). An ideal like "passage; neck" also
  accepts each `;`-separated part.
- `tort_law`: US tort law, A-D. The chosen letter is extracted ("Answer: B", "(C)", "D. No,
  because ...", a bare letter) and compared. Prompts carry the eval's 4 few-shot examples
  as user/assistant turns between the system prompt and the question (`TORT_FEW_SHOT`).
- `crossword`: letters only, uppercased, equal to the ideal; or the ideal spelled by
  consecutive whole words of the answer ("It's A TEAM." passes for ATEAM).
- `icelandic`: the first JSON object in the answer; score = the fraction of the 8 cells
  (et/ft x nf/þf/þgf/ef) equal to the ideal after collapsing whitespace and case (Evals
  demands the whole object; the fraction gives partial credit). Not binary.
- `unsolvable`: for "Unsolveable" (sic) items the right answer is to abstain: it passes when
  the answer says unsolvable / unanswerable / cannot be answered / not enough context. For
  "Solveable" items it passes when the answer says solvable and never abstains.
- `quiz`: field 0 of each record asks, field 1 is the answer pattern (see `quiz.py`); up to
  `QUIZ_PER_FILE` evenly spaced records per subject listed in `index`. An answer passes
  when it matches any expansion of the pattern (`answers.match_any`).

Text normalization for all of them is in `answers.py` (SQuAD-style).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

from thinkgate.tasks.answers import (contains_letter_run, extract_choice, first_json_object,
                                     letters_only, match_any)
from thinkgate.tasks.evals_format import data_path, evals_items, read_jsonl
from thinkgate.tasks.quiz import (PatternError, QuizQuestion, Subject, expand_pattern,
                                  questions_from_file, read_index, subsample)
from thinkgate.tasks.registry import register_scorer, register_suite
from thinkgate.tasks.types import Item, Score, Suite, chat

TORT_FEW_SHOT = 4
QUIZ_PER_FILE = 20
EVALS = "OpenAI Evals (github.com/openai/evals), eval"


def _evals_items(suite: str, folder: str, name: str = "samples.jsonl") -> list[Item]:
    return evals_items(suite, "longtail", folder, name)


def load_tort_law() -> list[Item]:
    roles = {"example_user": "user", "example_assistant": "assistant"}
    shots = [row["sample"] for _, row in read_jsonl(data_path("us_tort_law", "few_shot.jsonl"))]
    turns = tuple({"role": roles.get(t.get("name", ""), t["role"]), "content": t["content"]}
                  for sample in shots[:TORT_FEW_SHOT] for t in sample)
    return [Item(i.id, i.suite, i.domain, i.verifiable, i.messages[:-1] + turns + i.messages[-1:],
                 i.reference, i.group) for i in _evals_items("tort_law", "us_tort_law")]


def _quiz_subjects() -> list[Subject]:
    return read_index(data_path("bsdgames_quiz", "index").read_text(encoding="utf-8"))


def quiz_pool() -> tuple[list[QuizQuestion], Counter]:
    """Every askable record of the subjects in `index`, and counts of what was left out
    (`not_in_index` counts the records of data files that `index` does not list: `spell`)."""
    subjects = _quiz_subjects()
    skipped: Counter = Counter()
    pool: list[QuizQuestion] = []
    for subject in subjects:
        text = data_path("bsdgames_quiz", subject.file).read_text(encoding="utf-8")
        pool += questions_from_file(subject.file, text, skipped)
    listed = {s.file for s in subjects} | {"index", "LICENSE", "ATTRIBUTION.md"}
    for f in (resources.files("thinkgate.tasks") / "data" / "bsdgames_quiz").iterdir():
        if f.name not in listed and not f.name.startswith("."):
            skipped["not_in_index"] += sum(1 for ln in f.read_text(encoding="utf-8").splitlines() if ln)
    return pool, skipped


def load_quiz() -> list[Item]:
    pool, _ = quiz_pool()
    items: list[Item] = []
    for subject in _quiz_subjects():
        name = subject.file
        ask, give = (c.replace("-", " ") for c in subject.categories[:2])
        for q in subsample([q for q in pool if q.subject == name], QUIZ_PER_FILE):
            question = q.question if q.question.endswith("?") else q.question + "?"
            prompt = f"Quiz ({name}; {ask} \u2192 {give}): {question}\nAnswer briefly."
            item_id = f"quiz/{len(items):04d}"
            items.append(Item(item_id, "quiz", "longtail", False, chat(None, prompt),
                              {"pattern": q.pattern, "answer": q.answer}, f"quiz/{name}",
                              meta={"file": name, "line": q.line}))
    return items


def _data_error(name: str, reason: str) -> Score:
    return Score(name, None, None, "data_error", {"reason": reason})


@register_scorer("exact", domain="longtail", verifiable=False)
@dataclass(frozen=True)
class IncludesScorer:
    """Sindarin: any ideal equal to, or contained as a whole phrase in, the normalized answer."""

    name: str = "includes_match"
    version: str = "1"
    binary: bool = True

    def __call__(self, answer: str, item: Item) -> Score:
        ideals = [item.reference] if isinstance(item.reference, str) else item.reference
        if not isinstance(ideals, list) or not ideals or not all(isinstance(s, str) and s.strip() for s in ideals):
            return _data_error(self.name, f"reference must be a non-empty list of strings, got {item.reference!r}")
        accepted = list(dict.fromkeys(ideals + [p.strip() for s in ideals if ";" in s for p in s.split(";")]))
        m = match_any(answer, accepted)
        ok = m["matched"] is not None
        return Score(self.name, float(ok), ok, "ok", m)


@dataclass(frozen=True)
class ChoiceScorer:
    """Multiple choice: the letter extracted from the answer equals the ideal letter."""

    name: str = "choice_match"
    version: str = "1"
    binary: bool = True
    letters: str = "ABCD"

    def __call__(self, answer: str, item: Item) -> Score:
        gold = str(item.reference).strip().upper()
        if len(gold) != 1 or gold not in self.letters:
            return _data_error(self.name, f"reference {item.reference!r} is not one of {', '.join(self.letters)}")
        extracted = extract_choice(answer, self.letters)
        ok = extracted == gold
        return Score(self.name, float(ok), ok, "ok", {"extracted": extracted, "gold": gold})


@dataclass(frozen=True)
class CrosswordScorer:
    """Crossword: the answer's letters equal the ideal, or consecutive words spell it."""

    name: str = "crossword_match"
    version: str = "1"
    binary: bool = True

    def __call__(self, answer: str, item: Item) -> Score:
        gold = letters_only(str(item.reference))
        if not gold:
            return _data_error(self.name, f"reference {item.reference!r} has no letters")
        flat = letters_only(answer)
        how = "exact" if flat == gold else "word" if contains_letter_run(answer, gold) else None
        ok = how is not None
        return Score(self.name, float(ok), ok, "ok", {"extracted": flat[:80], "gold": gold, "how": how})


NUMBERS, CASES = ("et", "ft"), ("nf", "þf", "þgf", "ef")


def inflection_cells(obj: Any) -> dict[str, str]:
    """The 8 cells of a declension table, keys lowercased, values whitespace/case-normalized:
    inflection_cells({"ET": {"nf": " Hestur "}}) -> {"et.nf": "hestur"}."""
    cells: dict[str, str] = {}
    if not isinstance(obj, dict):
        return cells
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    for number in NUMBERS:
        table = lowered.get(number)
        if isinstance(table, dict):
            table = {str(k).strip().lower(): v for k, v in table.items()}
            for case in CASES:
                if isinstance(table.get(case), str):
                    cells[f"{number}.{case}"] = " ".join(table[case].split()).casefold()
    return cells


@dataclass(frozen=True)
class InflectionScorer:
    """Icelandic: the fraction of the 8 case/number cells that match the ideal."""

    name: str = "inflection_cells"
    version: str = "1"
    binary: bool = False

    def __call__(self, answer: str, item: Item) -> Score:
        try:
            ref = json.loads(item.reference) if isinstance(item.reference, str) else item.reference
        except json.JSONDecodeError as e:
            return _data_error(self.name, f"reference is not JSON ({e.msg})")
        gold = inflection_cells(ref)
        if len(gold) != len(NUMBERS) * len(CASES):
            return _data_error(self.name, f"reference has {len(gold)} of the 8 cells et/ft x nf/þf/þgf/ef")
        pred = inflection_cells(first_json_object(answer))
        if not pred:
            return Score(self.name, 0.0, None, "ok", {"reason": "no JSON object with et/ft cells in the answer"})
        wrong = sorted(k for k in gold if pred.get(k) != gold[k])
        return Score(self.name, (len(gold) - len(wrong)) / len(gold), None, "ok",
                     {"cells_matched": len(gold) - len(wrong), "wrong_cells": wrong})


_ABSTAIN = re.compile(
    r"\bun[\s-]?solv(?:e)?able\b|\bnot\s+(?:be\s+)?solv(?:e)?able\b|\bun[\s-]?answerable\b"
    r"|\bnot\s+(?:be\s+)?answerable\b"
    r"|\b(?:cannot|can\s*not|can't)\s+(?:be\s+)?(?:answered|solved|determined|answer)\b"
    r"|\b(?:not\s+enough|insufficient)\s+(?:context|information)\b|\bunable\s+to\s+(?:answer|determine)\b"
    r"|\bi\s+(?:do\s+not|don't)\s+know\b")
_SOLVABLE = re.compile(r"\bsolv(?:e)?able\b|\banswerable\b|\bcan\s+be\s+(?:answered|solved)\b")


def abstention(answer: str) -> dict[str, bool]:
    """abstention("Unsolvable.") -> {"abstained": True, "claimed_solvable": False};
    abstention("Solveable") -> {"abstained": False, "claimed_solvable": True}."""
    text = answer.lower().replace("\u2019", "'")
    rest = _ABSTAIN.sub(" ", text)
    return {"abstained": rest != text, "claimed_solvable": _SOLVABLE.search(rest) is not None}


@dataclass(frozen=True)
class AbstentionScorer:
    """Unsolvable questions: abstain on "Unsolveable" items, say "solvable" on the others."""

    name: str = "abstention"
    version: str = "1"
    binary: bool = True

    def __call__(self, answer: str, item: Item) -> Score:
        label = str(item.reference).strip().lower().replace("solveable", "solvable")
        if label not in ("solvable", "unsolvable"):
            return _data_error(self.name, f"reference {item.reference!r} is not Solveable or Unsolveable")
        said = abstention(answer)
        ok = said["abstained"] if label == "unsolvable" else said["claimed_solvable"] and not said["abstained"]
        return Score(self.name, float(ok), ok, "ok", {"expected": label, **said})


@dataclass(frozen=True)
class QuizScorer:
    """bsd quiz: the answer matches any expansion of the record's answer pattern."""

    name: str = "quiz_pattern"
    version: str = "1"
    binary: bool = True

    def __call__(self, answer: str, item: Item) -> Score:
        ref = item.reference
        pattern = ref.get("pattern") if isinstance(ref, dict) else ref
        try:
            accepted, cut = expand_pattern(str(pattern))
        except PatternError as e:
            return _data_error(self.name, str(e))
        if not any(a.strip() for a in accepted):
            return _data_error(self.name, f"answer pattern {pattern!r} accepts only the empty string")
        m = match_any(answer, accepted)
        ok = m["matched"] is not None
        return Score(self.name, float(ok), ok, "ok", {**m, "accepted": len(accepted), "truncated": cut})


def _suite(name: str, description: str, load: Callable[[], list[Item]], scorer: type,
           citation: str, license: str = "MIT") -> Suite:
    return Suite(name, "longtail", False, description, load, scorer, citation, license)


@register_suite("sindarin")
def sindarin() -> Suite:
    return _suite("sindarin", "Sindarin (Tolkien) word -> English, 150 nouns, includes-match",
                  lambda: _evals_items("sindarin", "sindarin_fluency", "sindarin_nouns.jsonl"),
                  IncludesScorer, f"{EVALS} sindarin-fluency.dev.v0")


@register_suite("tort_law")
def tort_law() -> Suite:
    return _suite("tort_law", f"US tort law multiple choice A-D, 340 questions, {TORT_FEW_SHOT}-shot",
                  load_tort_law, ChoiceScorer, f"{EVALS} us-tort-law.dev.v0")


@register_suite("crossword")
def crossword() -> Suite:
    return _suite("crossword", "Crossword clues with some letters placed, 100 clues",
                  lambda: _evals_items("crossword", "crossword"), CrosswordScorer,
                  f"{EVALS} partially_solved_crossword_clues.dev.v0")


@register_suite("icelandic")
def icelandic() -> Suite:
    return _suite("icelandic", "Icelandic noun-phrase declension as JSON, 100 phrases, per-cell score",
                  lambda: _evals_items("icelandic", "icelandic_inflection"), InflectionScorer,
                  f"{EVALS} icelandic-inflection-easy.dev.v0")


@register_suite("unsolvable")
def unsolvable() -> Suite:
    return _suite("unsolvable", "Is the question answerable from the context? 300 (half not: abstain)",
                  lambda: _evals_items("unsolvable", "unsolvable_questions"), AbstentionScorer,
                  f"{EVALS} unsolvable_questions.dev.v0 (SQuAD-2.0-style Wikipedia contexts, CC BY-SA)",
                  "MIT (Wikipedia contexts CC BY-SA)")


@register_suite("quiz")
def quiz() -> Suite:
    return _suite("quiz", f"bsd-games quiz(6) trivia, up to {QUIZ_PER_FILE} records from each of 32 subjects",
                  load_quiz, QuizScorer,
                  "bsd-games 2.17 quiz(6) data (4.4BSD quiz, Jim R. Oldroyd and Keith Gabryelski), "
                  "Copyright (c) The Regents of the University of California", "BSD-3-Clause")
