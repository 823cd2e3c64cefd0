"""The task-side contract: an `Item` is one question, a `Score` is one graded answer.

Suites produce Items; scorers turn an answer string (never the reasoning) into a Score.
Nothing here knows how a model is asked: that is the harness's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
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


class Status(StrEnum):
    """What became of a request: the items table's `status`, and `Score.status` (a scorer
    returns OK, DATA_ERROR or SCORE_ERROR). A str enum: `Status.OK == "ok"`, and the store and
    the items table hold the plain strings.

    ok: scored. error: the request failed (retried on resume, never scored).
    data_error: the item's own reference is broken. score_error: the scorer failed (a bug,
    a sandbox that could not start), never a wrong answer. unscored: generated, not yet
    scored. pending: not yet generated.
    """

    OK = "ok"
    ERROR = "error"
    DATA_ERROR = "data_error"
    SCORE_ERROR = "score_error"
    UNSCORED = "unscored"
    PENDING = "pending"


SCORE_STATUSES = (Status.OK, Status.DATA_ERROR, Status.SCORE_ERROR)  # what a scorer may return


@dataclass(frozen=True)
class Score:
    """A graded answer.

    `value` lies in [0, 1] for the scorers shipped here; `passed` is set by binary
    scorers; `status` is Status.OK, or DATA_ERROR when the item's own reference is broken,
    or SCORE_ERROR when the scorer could not grade (each reported as such, never counted
    as a wrong answer; plain strings "ok", ... are accepted); `detail` says why
    (extracted answer, failing test, ...).
    """

    scorer: str
    value: float | None
    passed: bool | None = None
    status: Status = Status.OK
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in SCORE_STATUSES:
            raise ValueError(f"Score.status {self.status!r} is not one of "
                             f"{', '.join(s.value for s in SCORE_STATUSES)}")
        object.__setattr__(self, "status", Status(self.status))


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
