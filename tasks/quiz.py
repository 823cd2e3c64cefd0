"""The bsd-games `quiz(6)` data format (4.4BSD quiz by Jim R. Oldroyd and Keith Gabryelski).

Semantics follow quiz.c and rxp.c of the original program:

- one record per line; a line ending in `\\` continues on the next one (the `\\` is dropped,
  nothing is inserted);
- fields are separated by unescaped `:`; `\\x` is a literal `x` (so `\\:` is a colon);
- in a field, `[a|b]` groups alternatives, `{x}` is optional (rxp reads it as `[x|]`), `|` at
  top level separates whole alternatives; `}` and `]` each close any open group;
- the question shown is the *first* expansion (rxp_expand picks the first alternative, so
  optional parts are included); an answer is right when it matches any expansion of the
  answer field, case-insensitively;
- `index` lines are `<data file path>:<category>:<category>...`; field i of a data record
  belongs to category i.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Union

Part = Union[str, "Alternatives"]
Alternatives = tuple[tuple[Part, ...], ...]

EXPANSION_CAP = 256


class PatternError(ValueError):
    """A field that rxp would reject (an unmatched `]`/`}` or an unclosed group)."""


def join_continuations(text: str) -> list[tuple[int, str]]:
    """(first line number, record) pairs; a trailing backslash joins the next line.

    join_continuations("a:\\\\\\nb\\nc:d") -> [(1, "a:b"), (3, "c:d")]
    """
    records: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if records and records[-1][1].endswith("\\"):
            records[-1] = (records[-1][0], records[-1][1][:-1] + line)
        else:
            records.append((lineno, line))
    return records


def split_fields(record: str) -> list[str]:
    """Split on unescaped colons, keeping escapes for the pattern parser.

    split_fields("1-103:rules\\\\: general") -> ["1-103", "rules\\\\: general"]
    """
    fields, cur, i = [], [], 0
    while i < len(record):
        if record[i] == "\\" and i + 1 < len(record):
            cur.append(record[i:i + 2])
            i += 2
            continue
        if record[i] == ":":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(record[i])
        i += 1
    fields.append("".join(cur))
    return fields


def parse_pattern(pattern: str) -> Alternatives:
    """Parse one field: parse_pattern("{the }cat") -> (((("the ",), ()), "cat"),)."""
    return _parse(pattern, 0, 0)[0]


def _parse(s: str, i: int, depth: int) -> tuple[Alternatives, int]:
    alts: list[tuple[Part, ...]] = []
    seq: list[Part] = []

    def add(ch: str) -> None:
        if seq and isinstance(seq[-1], str):
            seq[-1] += ch
        else:
            seq.append(ch)

    while i < len(s):
        ch = s[i]
        if ch == "\\":
            if i + 1 < len(s):
                add(s[i + 1])
            i += 2
        elif ch in "{[":
            group, i = _parse(s, i + 1, depth + 1)
            seq.append(group)
        elif ch == "|":
            alts.append(tuple(seq))
            seq = []
            i += 1
        elif ch in "}]":
            if depth == 0:
                raise PatternError(f"unmatched {ch!r} at position {i} in quiz pattern {s!r}")
            alts.append(tuple(seq))
            if ch == "}":
                alts.append(())  # {x} is [x|]
            return tuple(alts), i + 1
        else:
            add(ch)
            i += 1
    if depth > 0:
        raise PatternError(f"unclosed '{{' or '[' in quiz pattern {s!r}")
    alts.append(tuple(seq))
    return tuple(alts), i


def expand_pattern(pattern: str, cap: int = EXPANSION_CAP) -> tuple[list[str], bool]:
    """Every string the pattern accepts, the rxp_expand one first, deduplicated, at most
    `cap` of them; the flag says whether the list was cut at `cap`.

    expand_pattern("{the }[Big|Great] Apple") -> (["the Big Apple", "the Great Apple",
                                                   "Big Apple", "Great Apple"], False)
    """
    cut = [False]
    out = _expand_alts(parse_pattern(pattern), cap, cut)
    return list(dict.fromkeys(resolve_overstrike(" ".join(s.split())) for s in out)), cut[0]


_ACCENTS = {"~": "\u0303", "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308",
            ",": "\u0327", "\u00b0": "\u030a"}
_SLASHED = {"o": "\u00f8", "O": "\u00d8"}


def resolve_overstrike(text: str) -> str:
    """Typewriter accents (`x BACKSPACE accent`, either order) become letters:
    resolve_overstrike("S~\\bao Tom'\\be") -> "São Tomé";  "K/\\bobenhavn" -> "København"."""

    def combine(m: re.Match) -> str:
        a, b = m.group(1), m.group(2)
        for mark, letter in ((a, b), (b, a)):
            if mark == "/" and letter in _SLASHED:
                return _SLASHED[letter]
            if mark in _ACCENTS and letter.isalpha():
                return unicodedata.normalize("NFC", letter + _ACCENTS[mark])
        return b  # a plain overstrike prints the later character

    return re.sub(r"(.)\x08(.)", combine, text)


def _expand_alts(alts: Alternatives, cap: int, cut: list[bool]) -> list[str]:
    out: dict[str, None] = {}
    for seq in alts:
        for s in _expand_seq(seq, cap, cut):
            if len(out) >= cap:
                cut[0] = True
                return list(out)
            out.setdefault(s)
    return list(out)


def _expand_seq(seq: tuple[Part, ...], cap: int, cut: list[bool]) -> list[str]:
    acc = [""]
    for part in seq:
        options = [part] if isinstance(part, str) else _expand_alts(part, cap, cut)
        acc = [a + o for a in acc for o in options]
        if len(acc) > cap:
            acc, cut[0] = acc[:cap], True
    return acc


def first_expansion(pattern: str) -> str:
    """What quiz prints for a field: first_expansion("{G{eorge} }Washington") -> "George Washington"."""
    return expand_pattern(pattern, cap=1)[0][0]


@dataclass(frozen=True)
class Subject:
    """One `index` line: the data file (by basename) and its category names (first expansions)."""

    file: str
    categories: tuple[str, ...]


def read_index(text: str) -> list[Subject]:
    """read_index("/usr/share/games/bsdgames/quiz/africa:Africa{n}:cap{ital}")
    -> [Subject("africa", ("African", "capital"))]"""
    subjects = []
    for _, record in join_continuations(text):
        if not record.strip():
            continue
        fields = split_fields(record)
        path = first_expansion(fields[0])
        subjects.append(Subject(path.rsplit("/", 1)[-1], tuple(first_expansion(f) for f in fields[1:])))
    return subjects


@dataclass(frozen=True)
class QuizQuestion:
    subject: str
    line: int
    question: str
    pattern: str
    answer: str  # the first expansion, what quiz prints when you give up


def questions_from_file(subject: str, text: str, skipped: Counter) -> list[QuizQuestion]:
    """Field 0 asks, field 1 answers. Records quiz itself would skip (empty first expansion)
    and records with fewer than two fields or a broken pattern are counted in `skipped`."""
    out = []
    for line, record in join_continuations(text):
        fields = split_fields(record)
        if len(fields) < 2:
            skipped["fewer_than_2_fields"] += 1
            continue
        try:
            question, answer = first_expansion(fields[0]), first_expansion(fields[1])
        except PatternError:
            skipped["malformed_pattern"] += 1
            continue
        if not question.strip() or not answer.strip():
            skipped["empty_expansion"] += 1
            continue
        out.append(QuizQuestion(subject, line, question, fields[1], answer))
    return out


def subsample(seq: list, k: int) -> list:
    """k evenly spaced elements in order: subsample(list(range(10)), 3) -> [0, 3, 6]."""
    n = len(seq)
    return list(seq) if n <= k else [seq[(i * n) // k] for i in range(k)]
