"""One registry for suites: a name maps to a factory that returns a `Suite`.

Factories import heavy dependencies lazily, so `import thinkgate.tasks` is cheap.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Callable

from thinkgate.tasks.types import Suite

_SUITES: dict[str, Callable[[], Suite]] = {}


class UnknownSuiteError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def register_suite(name: str) -> Callable[[Callable[[], Suite]], Callable[[], Suite]]:
    def deco(factory: Callable[[], Suite]) -> Callable[[], Suite]:
        _SUITES[name] = factory
        return factory

    return deco


def suite_names() -> list[str]:
    _load_builtin()
    return sorted(_SUITES)


def get_suite(name: str) -> Suite:
    """Return the suite called `name`; an unknown name says which names exist."""
    _load_builtin()
    if name not in _SUITES:
        from thinkgate.tasks.types import DOMAINS

        close = difflib.get_close_matches(name, list(_SUITES) + list(DOMAINS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UnknownSuiteError(
            f"unknown suite '{name}'{hint}; known suites: {', '.join(sorted(_SUITES))}; "
            f"domains (all their suites): {', '.join(DOMAINS)}"
        )
    return _SUITES[name]()


# One module per domain; importing it runs its @register_suite decorators.
_BUILTIN = ("math", "code", "summary", "translation", "writing", "longtail")


def resolve_suites(names: list[str] | tuple[str, ...], lmeval_include: str | None = None) -> list[Suite]:
    """Suite names, domain names (a domain stands for all its suites), custom JSONL files
    (`file.jsonl:SCORER`), lm-eval tasks (`lmeval:TASK[:SCORER]`) and `all`, deduplicated.

        resolve_suites(["math"]) -> [gsm8k];  resolve_suites(["gsm8k", "math"]) -> [gsm8k]
    """
    from thinkgate.tasks.custom import custom_suite, is_custom
    from thinkgate.tasks.lmeval import is_lmeval, lmeval_suite
    from thinkgate.tasks.types import DOMAINS

    out: dict[str, Suite] = {}
    for name in names:
        if is_custom(name) or is_lmeval(name):
            suite = custom_suite(name) if is_custom(name) else lmeval_suite(name, lmeval_include)
            out.setdefault(suite.name, suite)
        elif name == "all":
            for suite in (get_suite(n) for n in suite_names()):
                out.setdefault(suite.name, suite)
        elif name in DOMAINS:
            found = [get_suite(n) for n in suite_names()]
            for suite in (s for s in found if s.domain == name):
                out.setdefault(suite.name, suite)
        else:
            suite = get_suite(name)
            out.setdefault(suite.name, suite)
    return list(out.values())


def _load_builtin() -> None:
    for module in _BUILTIN:
        importlib.import_module(f"thinkgate.tasks.{module}")
