"""Suites and scorers, each one `Registry` (see plugins.py).

A built-in suite is one module in `tasks/` with a `@register_suite(name)` factory (plus its
data in tasks/data/): every module of the package is imported on first lookup, so there is
no list to edit. A scorer is registered the same way, with the domain it belongs to:

    @register_scorer("math", domain="math", verifiable=True)
    class MathVerifyScorer: ...

Third-party packages add both through entry points (`thinkgate.suites`, `thinkgate.scorers`).
Factories import heavy dependencies lazily, so `import thinkgate.tasks` is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from thinkgate.tasks.plugins import Registry, UnknownNameError
from thinkgate.tasks.types import DOMAINS, Suite

SUITES: Registry[Callable[[], Suite]] = Registry("suite", modules=("thinkgate.tasks",),
                                                 entry_points="thinkgate.suites")


@dataclass(frozen=True)
class ScorerSpec:
    """A scorer by name: how to build it, the domain its suites belong to, verifiable or not."""

    name: str
    factory: Callable[[], Any]
    domain: str
    verifiable: bool
    description: str = ""


SCORERS: Registry[ScorerSpec] = Registry("scorer", modules=("thinkgate.tasks",),
                                         entry_points="thinkgate.scorers")

# kept for callers that catch it by its old name
UnknownSuiteError = UnknownNameError


def register_suite(name: str) -> Callable[[Callable[[], Suite]], Callable[[], Suite]]:
    return SUITES.register(name)


def register_scorer(name: str, *, domain: str, verifiable: bool) -> Callable[[Any], Any]:
    """Class decorator: the scorer class (built with no arguments) under `name`."""
    if domain not in DOMAINS:
        raise ValueError(f"scorer '{name}': domain must be one of {', '.join(DOMAINS)}, got '{domain}'")

    def deco(cls: Any) -> Any:
        doc = (cls.__doc__ or "").strip().splitlines()
        first = doc[0] if doc and not doc[0].startswith(f"{cls.__name__}(") else ""  # not dataclass's signature
        SCORERS.register(name, ScorerSpec(name, cls, domain, verifiable, first))
        return cls

    return deco


def suite_names() -> list[str]:
    return SUITES.names()


def get_suite(name: str) -> Suite:
    """Return the suite called `name`; an unknown name says which names exist (and the domains)."""
    if name not in SUITES:
        raise UnknownNameError("suite", name, SUITES.names() + list(DOMAINS),
                               SUITES.hint(f"`thinkgate list`; a domain name stands for all its suites: "
                                           f"{', '.join(DOMAINS)}"))
    return SUITES.get(name)()


def resolve_suites(names: list[str] | tuple[str, ...], lmeval_include: str | None = None) -> list[Suite]:
    """Suite names, domain names (a domain stands for all its suites), custom JSONL files
    (`file.jsonl:SCORER`), lm-eval tasks (`lmeval:TASK[:SCORER]`) and `all`, deduplicated.

        resolve_suites(["math"]) -> [gsm8k];  resolve_suites(["gsm8k", "math"]) -> [gsm8k]
    """
    from thinkgate.tasks.custom import custom_suite, is_custom
    from thinkgate.tasks.lmeval import is_lmeval, lmeval_suite

    out: dict[str, Suite] = {}
    for name in names:
        if is_custom(name) or is_lmeval(name):
            found = [custom_suite(name) if is_custom(name) else lmeval_suite(name, lmeval_include)]
        elif name == "all":
            found = [get_suite(n) for n in suite_names()]
        elif name in DOMAINS:
            found = [s for s in (get_suite(n) for n in suite_names()) if s.domain == name]
        else:
            found = [get_suite(name)]
        for suite in found:
            out.setdefault(suite.name, suite)
    return list(out.values())
