"""One registry for suites: a name maps to a factory that returns a `Suite`.

Factories import heavy dependencies lazily, so `import thinkgate.tasks` is cheap.
"""

from __future__ import annotations

import difflib
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
        close = difflib.get_close_matches(name, _SUITES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UnknownSuiteError(
            f"unknown suite '{name}'{hint}; known suites: {', '.join(sorted(_SUITES))}"
        )
    return _SUITES[name]()


def _load_builtin() -> None:
    # Importing the suite modules runs their @register_suite decorators.
    from thinkgate.tasks import math as _math  # noqa: F401
