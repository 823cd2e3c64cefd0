"""IFEval-style writing constraints: checkers, their instructions, and a seeded generator.

In the spirit of IFEval (Zhou et al. 2023, Instruction-Following Evaluation for Large
Language Models, arXiv:2311.07911): instructions whose compliance a program can check.
A constraint is a JSON-ready dict, its kind plus parameters:
`{"kind": "line_count", "n": 4}`. Each kind is declared once, below, with its checker (a
pure function of the answer), its English instruction and the way its parameters are
drawn, side by side so the text and the check cannot drift apart.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable

SEED = 20240807
N_ITEMS = 120


@dataclass(frozen=True)
class Kind:
    """One kind of constraint: `check(answer, **params)`, `text(**params)`, `draw(rng, drawn)`.

    `draw` gets the constraints drawn so far for the same item (to stay satisfiable).
    """

    name: str
    check: Callable[..., bool]
    text: Callable[..., str]
    draw: Callable[[random.Random, list[dict[str, Any]]], dict[str, Any]]


KINDS: dict[str, Kind] = {}

# Pairs never drawn together: a title line cannot also start with a given word, and a
# line count fights a bullet count.
CONFLICTS = {frozenset({"title", "starts_with"}), frozenset({"line_count", "bullets"})}

REQUIRED_WORDS = ("window", "silver", "promise", "river", "lantern", "echo", "orange",
                  "journey", "quiet", "marble", "thunder", "garden", "mirror", "compass")
FORBIDDEN_WORDS = ("very", "really", "just", "thing", "good", "nice", "beautiful", "also")
START_WORDS = ("imagine", "yesterday", "sometimes", "listen", "once", "today", "perhaps")
FORBIDDEN_LETTERS = "bcdfgkmpvwy"


def _kind(name: str, text: Callable[..., str], draw: Callable[..., dict[str, Any]]):
    def deco(check: Callable[..., bool]) -> Callable[..., bool]:
        KINDS[name] = Kind(name, check, text, draw)
        return check

    return deco


def has_word(text: str, word: str) -> bool:
    """Whole word, any case: has_word("Every day", "day") -> True;
    has_word("every", "very") -> False."""
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None


def _quoted(words: list[str]) -> str:
    """_quoted(["a", "b"]) -> '"a" and "b"'."""
    q = [f'"{w}"' for w in words]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + " and " + q[-1]


# ---- the kinds: checker, instruction, parameters --------------------------------------

@_kind("line_count",
       text=lambda n: f"Your answer must have exactly {n} lines (blank lines do not count).",
       draw=lambda r, drawn: {"n": r.randint(3, 8)})
def exact_lines(answer: str, n: int) -> bool:
    """Exactly n non-blank lines: exact_lines("a\\n\\nb\\n", 2) -> True;
    exact_lines("a b", 2) -> False."""
    return sum(1 for line in answer.splitlines() if line.strip()) == n


def _range_draw(r: random.Random, drawn: list[dict[str, Any]]) -> dict[str, Any]:
    low = r.choice((50, 80, 100, 150))
    return {"low": low, "high": low + r.choice((50, 100, 150))}


@_kind("word_range",
       text=lambda low, high: f"Your answer must be between {low} and {high} words long.",
       draw=_range_draw)
def words_between(answer: str, low: int, high: int) -> bool:
    """Whitespace-separated words in [low, high]: words_between("one two three", 2, 3) -> True."""
    return low <= len(answer.split()) <= high


@_kind("include_words",
       text=lambda words: f"Include the words {_quoted(words)} (any capitalisation).",
       draw=lambda r, drawn: {"words": r.sample(REQUIRED_WORDS, 2)})
def includes_words(answer: str, words: list[str]) -> bool:
    """Every word present, whole-word, any case: includes_words("The River.", ["river"]) -> True."""
    return all(has_word(answer, w) for w in words)


@_kind("forbidden_word",
       text=lambda word: f'Do not use the word "{word}" anywhere, in any capitalisation.',
       draw=lambda r, drawn: {"word": r.choice(FORBIDDEN_WORDS)})
def avoids_word(answer: str, word: str) -> bool:
    """The word absent (whole-word, any case): avoids_word("Every day", "very") -> True."""
    return not has_word(answer, word)


def _letter_draw(r: random.Random, drawn: list[dict[str, Any]]) -> dict[str, Any]:
    """A letter absent from the words this item already requires, so it stays satisfiable."""
    used = "".join(w for c in drawn for w in c.get("words", []) + [c.get("start", "")])
    return {"letter": r.choice([x for x in FORBIDDEN_LETTERS if x not in used.lower()])}


@_kind("forbidden_letter",
       text=lambda letter: f'Do not use the letter "{letter}" anywhere, in either case.',
       draw=_letter_draw)
def avoids_letter(answer: str, letter: str) -> bool:
    """The letter absent in either case: avoids_letter("Apple", "p") -> False;
    avoids_letter("Sun", "p") -> True."""
    return letter.lower() not in answer.lower()


@_kind("end_punct",
       text=lambda mark: f'The very last character of your answer must be "{mark}".',
       draw=lambda r, drawn: {"mark": r.choice("?!")})
def ends_with(answer: str, mark: str) -> bool:
    """Last non-whitespace character is `mark`: ends_with("Why?\\n", "?") -> True;
    ends_with("Why?)", "?") -> False."""
    return answer.rstrip().endswith(mark)


@_kind("title",
       text=lambda: ("The first line of your answer must be a title in double angular brackets, "
                     "such as <<morning light>>, and nothing else."),
       draw=lambda r, drawn: {})
def has_title(answer: str) -> bool:
    """First non-blank line is <<title>>: has_title("\\n<<Rain>>\\nIt rained.") -> True;
    has_title("Rain") -> False."""
    first = next((line.strip() for line in answer.splitlines() if line.strip()), "")
    return re.fullmatch(r"<<[^<>\n]*\S[^<>\n]*>>", first) is not None


@_kind("lowercase",
       text=lambda: "Write your entire answer in lowercase letters; no capital letters at all.",
       draw=lambda r, drawn: {})
def all_lowercase(answer: str) -> bool:
    """No uppercase letter anywhere: all_lowercase("a quiet day.") -> True;
    all_lowercase("a Quiet day") -> False."""
    return answer == answer.lower()


@_kind("starts_with",
       text=lambda start: f'Begin your answer with the word "{start}" (capitalised or not).',
       draw=lambda r, drawn: {"start": r.choice(START_WORDS)})
def starts_with_word(answer: str, start: str) -> bool:
    """First word, past leading punctuation, any case:
    starts_with_word('"Imagine, then', "imagine") -> True."""
    m = re.match(r"\W*(\w+)", answer)
    return m is not None and m.group(1).lower() == start.lower()


@_kind("bullets",
       text=lambda n: f'Use exactly {n} bullet points, each on its own line starting with "* ".',
       draw=lambda r, drawn: {"n": r.randint(2, 5)})
def exact_bullets(answer: str, n: int) -> bool:
    """Lines starting "* " (markdown bullets; "**bold**" is not one):
    exact_bullets("* a\\n* b\\n**c**", 2) -> True."""
    return len(re.findall(r"^[ \t]*\*[ \t]+\S", answer, re.MULTILINE)) == n


@_kind("no_commas",
       text=lambda: "Do not use any commas.",
       draw=lambda r, drawn: {})
def no_commas(answer: str) -> bool:
    """No comma, ASCII or full-width: no_commas("a; b.") -> True; no_commas("a, b") -> False."""
    return "," not in answer and "，" not in answer


# ---- constraint dicts ----------------------------------------------------------------

def params(constraint: dict[str, Any]) -> dict[str, Any]:
    """params({"kind": "line_count", "n": 4}) -> {"n": 4}."""
    return {k: v for k, v in constraint.items() if k != "kind"}


def _kind_of(constraint: dict[str, Any]) -> Kind:
    name = constraint.get("kind") if isinstance(constraint, dict) else None
    if name not in KINDS:
        raise ValueError(f"unknown constraint {constraint!r}; kinds: {', '.join(KINDS)}")
    return KINDS[name]


def instruction(constraint: dict[str, Any]) -> str:
    """instruction({"kind": "no_commas"}) -> "Do not use any commas."."""
    return _kind_of(constraint).text(**params(constraint))


def check(constraint: dict[str, Any], answer: str) -> bool:
    """check({"kind": "end_punct", "mark": "!"}, "Go!") -> True."""
    return bool(_kind_of(constraint).check(answer, **params(constraint)))


# ---- the generated suite -------------------------------------------------------------

TOPICS = (
    "a rainy afternoon in a small town", "your favourite kitchen tool",
    "learning to ride a bicycle", "a night in the life of a lighthouse keeper",
    "why people keep houseplants", "the first day at a new job", "a market at dawn",
    "the life of a library book", "an old photograph found in a drawer",
    "a train journey through the mountains", "the smell of fresh bread",
    "a letter to your future self", "a city park in winter", "the history of the umbrella",
    "a dog waiting at the door", "planting a vegetable garden",
    "a power cut on a summer evening", "the sound of the sea", "a chess game between friends",
    "moving to a new country", "a street musician", "the night sky far from city lights",
    "a family recipe", "a broken clock", "the first snowfall of the year",
    "a bicycle repair shop", "a school science fair", "a walk through an autumn forest",
    "a robot learning to paint", "the last day of the summer holidays",
)


def constraint_prompt(topic: str, constraints: list[dict[str, Any]]) -> str:
    """The user turn, rebuilt from an item's group and reference:

        constraint_prompt("a broken clock", [{"kind": "no_commas"}])
        -> "Write a short piece about a broken clock. Follow every rule below.\\n"
           "1. Do not use any commas."
    """
    rules = "\n".join(f"{i}. {instruction(c)}" for i, c in enumerate(constraints, 1))
    return f"Write a short piece about {topic}. Follow every rule below.\n{rules}"


def generate(n: int = N_ITEMS, seed: int = SEED) -> list[tuple[str, list[dict[str, Any]]]]:
    """`n` (topic, constraints) pairs, the same for the same seed.

    Item i's first kind cycles through all kinds (so each appears once per 11 items);
    0-2 more kinds are drawn at random, never a conflicting pair. Topics are balanced.
    """
    rng = random.Random(seed)
    names = list(KINDS)
    topics = [TOPICS[j % len(TOPICS)] for j in range(n)]
    rng.shuffle(topics)
    out = []
    for i in range(n):
        kinds = [names[i % len(names)]]
        for _ in range(rng.randint(0, 2)):
            options = [k for k in names if k not in kinds
                       and not any(frozenset((k, o)) in CONFLICTS for o in kinds)]
            kinds.append(rng.choice(options))
        kinds.sort(key=lambda k: k == "forbidden_letter")  # last: it avoids the chosen words
        drawn: list[dict[str, Any]] = []
        for k in kinds:
            drawn.append({"kind": k, **KINDS[k].draw(rng, drawn)})
        out.append((topics[i], drawn))
    return out
