"""Answer normalization and matching shared by the longtail scorers (pure functions).

`normalize` follows SQuAD's `normalize_answer` (Rajpurkar et al. 2016): lowercase, strip
punctuation, drop the articles a/an/the, collapse whitespace. Two departures, both made
so that both sides of a comparison normalize alike: punctuation becomes a space (so
"Porto-Novo" == "Porto Novo") except apostrophes, which are deleted ("summer's" ->
"summers"); Unicode punctuation and symbols count, not only ASCII; accents are folded
("São Tomé" == "Sao Tome").

Answers that are mostly symbols (Morse ".-", ed "1,$p", "n!") would normalize to nothing
or to something lossy, so `match_any` compares those with `light_normalize` (lowercase,
whitespace collapsed, quotes and backticks dropped) instead.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

ARTICLES = frozenset({"a", "an", "the"})
_APOSTROPHES = "'\u2019\u2018`\u00b4"


def normalize(text: str) -> str:
    """SQuAD-style normalization: normalize("The  Big-Apple!") -> "big apple";
    normalize("Lomé") -> "lome".
    """
    text = unicodedata.normalize("NFKD", text).lower()
    text = "".join("" if ch in _APOSTROPHES or unicodedata.category(ch) == "Mn" else
                   " " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return " ".join(w for w in text.split() if w not in ARTICLES)


def light_normalize(text: str) -> str:
    """Case and spacing only, for symbolic answers: light_normalize(' `1,$P` ') -> "1,$p"."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.sub(r"[`\"\u201c\u201d]", " ", text).split())


def is_symbolic(text: str) -> bool:
    """Fewer than 2/3 of the non-space characters are letters or digits.

    is_symbolic(".-") -> True;  is_symbolic("1,$p") -> True;  is_symbolic("Porto-Novo") -> False
    """
    chars = [c for c in text if not c.isspace()]
    return bool(chars) and sum(c.isalnum() for c in chars) * 3 < 2 * len(chars)


def contains_phrase(text: str, phrase: str) -> bool:
    """Whole-word containment of normalized strings: contains_phrase("a big man", "man") -> True,
    contains_phrase("woman", "man") -> False."""
    return bool(phrase) and f" {phrase} " in f" {text} "


def _contains_symbolic(text: str, phrase: str) -> bool:
    """`phrase` delimited by whitespace; one trailing sentence mark is allowed only after a
    phrase ending in a letter or digit (so ".-" is not found in the Morse ".-.")."""
    mark = "[.,;:!?]?" if phrase[-1:].isalnum() else ""
    return bool(phrase) and re.search(
        r"(?<!\S)" + re.escape(phrase) + rf"(?={mark}(?:\s|$))", text) is not None


def answer_candidates(answer: str) -> list[str]:
    """The whole answer, its last non-empty line, and what follows a final "Answer:".

    answer_candidates("Let me see.\\nAnswer: Paris") -> ["Let me see.\\nAnswer: Paris", "Answer: Paris", "Paris"]
    """
    out = [answer.strip()]
    lines = [ln.strip() for ln in answer.splitlines() if ln.strip()]
    if lines:
        out.append(lines[-1])
    tail = re.split(r"(?i)\banswer\s*(?:is)?\s*[:\-]\s*", answer)
    if len(tail) > 1:
        out.append(tail[-1].strip())
    return list(dict.fromkeys(c for c in out if c))


def match_any(answer: str, accepted: list[str]) -> dict[str, Any]:
    """Does `answer` give any accepted string? Exact (normalized) match of the whole answer,
    its last line or its "Answer: ..." tail first; then whole-word containment anywhere.

    match_any("It means father.", ["father"]) -> {"matched": "father", "how": "contains", ...}
    """
    candidates = answer_candidates(answer)
    keyed = [(acc, light_normalize(acc) if is_symbolic(acc) else normalize(acc), is_symbolic(acc))
             for acc in accepted]
    keyed = [k for k in keyed if k[1]]
    for cand in candidates:
        for acc, key, symbolic in keyed:
            if (light_normalize(cand) if symbolic else normalize(cand)) == key:
                return {"matched": acc, "how": "exact", "normalized": normalize(answer)}
    full_norm, full_light = normalize(answer), light_normalize(answer)
    for acc, key, symbolic in keyed:
        if (_contains_symbolic(full_light, key) if symbolic else contains_phrase(full_norm, key)):
            return {"matched": acc, "how": "contains", "normalized": full_norm}
    return {"matched": None, "how": None, "normalized": full_norm}


def extract_choice(answer: str, letters: str = "ABCD") -> str | None:
    """The chosen option letter: "Answer: B" / "(C)" / "D. No, because ..." / a bare letter.

    extract_choice("The answer is (c).") -> "C";  extract_choice("A court would say B") -> "B"
    """
    up, lo = f"[{letters}]", f"[{letters}{letters.lower()}]"
    patterns = [  # most explicit first; lowercase letters only inside parentheses
        rf"(?i:\banswer)\s*(?i:is|would be)?\s*:?\s*(?:\(({lo})\)|({up})(?![A-Za-z]))",
        rf"^\s*\(?({up})\)?\s*(?:[.):,]|$)",
        rf"(?i:\b(?:option|choice))\s*\(?({up})(?![A-Za-z])",
        rf"\(({lo})\)",
        rf"(?<![A-Za-z])({up})(?=[.):,]|\s*$)",
        rf"(?<![A-Za-z])(?!A\s+[a-z])({up})(?![A-Za-z])",  # not the article "A word"
    ]
    for pattern in patterns:
        m = re.search(pattern, answer.strip())
        if m:
            return next(g for g in m.groups() if g).upper()
    return None


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first `{...}` in `text` that parses as a JSON object (code fences and prose around
    it are fine): first_json_object('```json\\n{"a": 1}\\n```') -> {"a": 1}."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def letters_only(text: str) -> str:
    """Crossword form: letters_only("a-team!") -> "ATEAM"."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).upper() if c.isalpha())


def contains_letter_run(answer: str, target: str) -> bool:
    """Is `target` (letters_only form) spelled by consecutive whole words of `answer`?

    contains_letter_run("I think it's A TEAM.", "ATEAM") -> True;  ("GATEAMS", "ATEAM") -> False
    """
    words = [letters_only(w) for w in re.findall(r"[^\W\d_]+(?:['-][^\W\d_]+)*", answer)]
    words = [w for w in words if w]
    for i in range(len(words)):
        run = ""
        for w in words[i:]:
            run += w
            if run == target:
                return True
            if len(run) >= len(target):
                break
    return False
