"""The task-side contract: an `Item` is one question, a `Score` is one graded answer.

Suites produce Items; scorers turn an answer string (never the reasoning) into a Score.
Nothing here knows how a model is asked: that is the harness's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Protocol

Domain = Literal["math", "code", "summary", "translation", "writing", "longtail"]
DOMAINS: tuple[str, ...] = ("math", "code", "summary", "translation", "writing", "longtail")


@dataclass(frozen=True)
class Item:
    """One question of a suite.

    `messages` is the chat to send (system/user turns, no assistant prefill);
    `reference` is whatever the scorer needs (gold answer, tests, reference text);
    `group` clusters items that share a source (for clustered standard errors).
    """

    id: str
    suite: str
    domain: str
    verifiable: bool
    messages: tuple[dict[str, str], ...]
    reference: Any
    group: str = ""
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Score:
    """A graded answer.

    `value` lies in [0, 1] for the scorers shipped here; `passed` is set by binary
    scorers; `status` is "ok", or "data_error" when the item's own reference is broken
    (reported as such, never counted as a wrong answer); `detail` says why
    (extracted answer, failing test, ...).
    """

    scorer: str
    value: float | None
    passed: bool | None = None
    status: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)


class Scorer(Protocol):
    """Grades one answer. Sees the answer only, never the reasoning.

    `binary` scorers set `Score.passed` (pass@k and maj@k are computed for them). A scorer
    may also offer `score_batch(answers, items) -> list[Score]` to grade many at once
    (e.g. in parallel); the runner prefers it when present. Changing `version` makes the
    runner re-score stored answers.
    """

    name: str
    version: str
    binary: bool

    def __call__(self, answer: str, item: Item) -> Score: ...


@dataclass(frozen=True)
class Suite:
    """A named set of items with the scorer that grades them."""

    name: str
    domain: str
    verifiable: bool
    description: str
    load: Callable[[], list[Item]]
    scorer: Callable[[], Scorer]
    citation: str = ""
    license: str = ""

    def items(self, limit: int | None = None) -> list[Item]:
        items = self.load()
        return items if limit is None else items[:limit]


def chat(system: str | None, user: str) -> tuple[dict[str, str], ...]:
    """Build a chat: chat(None, "2+2?") -> ({"role": "user", "content": "2+2?"},)."""
    turns = [] if system is None else [{"role": "system", "content": system}]
    return tuple(turns + [{"role": "user", "content": user}])


def first(iterable: Iterable[Any], default: Any = None) -> Any:
    return next(iter(iterable), default)
