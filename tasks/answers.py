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

The math helpers at the end (`normalize_math`, `as_latex_gold`, `wrap_bare_latex`) rewrite
an answer's text before math-verify parses it; the rules are stated in
thinkgate.tasks.math, which uses them.
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


# --------------------------------------------------------------------------- math answers
_DELIMITED = re.compile(r"(?<!\\)\$|\\\(|\\\[|\\boxed|\\fbox")
_MINUS = "\u2212\ufe63\uff0d"  # minus sign, small and fullwidth hyphen-minus (not en dash: 3–5 is a range)
_NUMBER = r"\d+(?:\.\d+)?|\.\d+"


def _unicode_math(text: str) -> str:
    """_unicode_math("−2π×√3") -> "-2\\pi \\times \\sqrt{3}"."""
    text = re.sub(f"[{_MINUS}](?=\\s*[\\d.(\\\\a-zA-Z\u03c0\u221a])", "-", text)
    text = re.sub(r"\u221a\s*(\d+(?:\.\d+)?|[a-zA-Z])", r"\\sqrt{\1}", text)
    text = re.sub(r"\u221a\s*\(([^()]*)\)", r"\\sqrt{\1}", text)
    return (text.replace("\u03c0", "\\pi ").replace("\u00d7", "\\times ")
            .replace("\u221e", "\\infty "))


def _drop_currency(text: str) -> str:
    r"""Dollar signs that mark money, not math: `\$` always, and a `$` before a number that
    is not followed by more math (an operator, a backslash, a closing `$`).

    _drop_currency("costs $1,250.") -> "costs 1,250.";  _drop_currency("$18$") -> "$18$"
    """
    text = text.replace("\\$", "")
    money = re.compile(  # then a word, or sentence punctuation and no further number
        r"(?<!\\)\$(?=\s?-?\d[\d,]*(?:\.\d+)?(?:\s*[A-Za-z]|[.,;:!?)]?(?:\s(?!\s*[-\d$])|$)))")
    return money.sub("", text)


def _drop_percent(text: str) -> str:
    r"""A percent is a unit: _drop_percent("25\\%") -> "25";  ("12.5 percent") -> "12.5"."""
    text = re.sub(r"\\text\{\s*(?:\\%|percent)\s*\}", "", text)
    text = re.sub(r"\\?%", "", text)
    return re.sub(r"(?<=[\d}$])(\s*)(?:percent|per cent|pct)\b", "", text)


def _expand_e_notation(text: str) -> str:
    """Scientific e-notation written out: _expand_e_notation("2.5e-4") -> "0.00025"."""
    from decimal import Decimal

    def out(m: re.Match[str]) -> str:
        if abs(int(m.group(2))) > 100:
            return m.group(0)
        return format(Decimal(f"{m.group(1)}e{m.group(2)}"), "f")

    return re.sub(rf"(?<![\w.\\^{{])({_NUMBER})[eE]([+-]?\d+)(?!\w|\.\d)", out, text)


def _repeating_decimal(text: str) -> str:
    r"""A repeating decimal is exact: _repeating_decimal("0.1\overline{6}") -> "\frac{1}{6}"."""
    from fractions import Fraction

    def out(m: re.Match[str]) -> str:
        whole, fixed, rep = m.group(1) or "0", m.group(2), m.group(3)
        value = (Fraction(int(whole + fixed), 10 ** len(fixed))
                 + Fraction(int(rep), 10 ** len(fixed) * (10 ** len(rep) - 1)))
        return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"

    return re.sub(r"(?<![\d.])(\d*)\.(\d*)\\overline\s*\{(\d+)\}", out, text)


def _drop_thousands_separators(text: str) -> str:
    r"""1,000,000 -> 1000000 (also 1{,}000 and 1,\!000), but only outside brackets, so a
    tuple or interval keeps its commas: "(1,400]" stays, and "1, 4" (a list) stays.

    _drop_thousands_separators("paid 1,250 for (2,500, 3)") -> "paid 1250 for (2,500, 3)"
    """
    text = re.sub(r"(?<=\d)(?:\{,\}|,\\!)(?=\d{3})", ",", text)
    number = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d]|,\d|\.\d*,)")
    out, depth, i = [], 0, 0
    while i < len(text):
        m = number.match(text, i) if depth == 0 else None
        if m:
            out.append(m.group(0).replace(",", ""))
            i = m.end()
            continue
        two = text[i:i + 2]
        if two in ("\\{", "\\}"):
            depth = max(0, depth + (1 if two == "\\{" else -1))
            out.append(two)
            i += 2
            continue
        ch = text[i]
        depth = depth + 1 if ch in "([" else max(0, depth - 1) if ch in ")]" else depth
        out.append(ch)
        i += 1
    return "".join(out)


def normalize_math(text: str) -> str:
    r"""Notation math-verify misreads, rewritten: Unicode minus, π, √, ×, ∞; currency
    dollars; percent signs (a percent is a unit, dropped alike from gold and prediction);
    e-notation; repeating decimals (0.\\overline{3} -> \\frac{1}{3}); thousands separators
    outside brackets.

    normalize_math("She paid \\$1,250, i.e. 2.5e-4 of −π%") -> "She paid 1250, i.e. 0.00025 of -\\pi "
    """
    text = _unicode_math(text)
    text = _drop_currency(text)
    text = _drop_percent(text)
    text = _expand_e_notation(text)
    text = _repeating_decimal(text)
    return _drop_thousands_separators(text)


def is_delimited(text: str) -> bool:
    r"""Does `text` mark its math ($…$, \(…\), \[…\], \boxed{…})? is_delimited("$x$") -> True."""
    return _DELIMITED.search(text) is not None


def _prose_words(text: str) -> list[str]:
    """Words of 3+ letters outside LaTeX commands and \\text{...} groups."""
    text = re.sub(r"\\(?:text|mathrm|textbf|mbox|operatorname)\s*\{[^{}]*\}", " ", text)
    text = re.sub(r"\\[A-Za-z]+", " ", text)
    return re.findall(r"[A-Za-z]{3,}", text)


def as_latex_gold(gold: str) -> str:
    r"""A bare LaTeX gold in `$…$`, so math-verify reads all of it, not its last number:
    as_latex_gold("(1, 4]") -> "$(1, 4]$";  as_latex_gold("18") -> "$18$".
    Golds already delimited, and prose or code-like golds ("no answer", "sqrt(2)"), are
    returned as they are.
    """
    gold = gold.strip()
    if not gold or is_delimited(gold) or _prose_words(gold):
        return gold
    return f"${gold}$"


# a math run: no word of 2+ letters except LaTeX commands, no sentence-ending period
_MATH_RUN = re.compile(r"\s*((?:\\[A-Za-z]+|[A-Za-z](?![A-Za-z])|[^A-Za-z\s.,]|\.(?=\d)"
                       r"|,(?!\s*[A-Za-z])|\s+(?=[^A-Za-z\s]|[A-Za-z](?![A-Za-z])))+)")


def wrap_bare_latex(answer: str) -> str:
    r"""The undelimited LaTeX that ends an answer gets `$…$`: the math after the last
    "is", ":" or "=" of the final line, up to the first word of prose.

    wrap_bare_latex("So the area is 9\\pi square units.") -> "So the area is $9\\pi$ square units."
    Answers that delimit their math anywhere, or have no LaTeX command, are returned as they are.
    """
    if is_delimited(answer) or "\\" not in answer:
        return answer
    lines = answer.rstrip().split("\n")
    head, sep, tail = lines[-1].rpartition(" is ")
    if not sep:
        m = re.match(r"^(.*[:=]\s*)(.*)$", lines[-1])
        head, sep, tail = (m.group(1), "", m.group(2)) if m else ("", "", lines[-1])
    m = _MATH_RUN.match(tail)
    if not m or "\\" not in m.group(1):
        return answer
    math = m.group(1).strip()
    lines[-1] = f"{head}{sep}{tail[:m.start(1)]}${math}${tail[m.start(1) + len(m.group(1).rstrip()):]}"
    return "\n".join(lines)
