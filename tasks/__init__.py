"""thinkgate.tasks: WHAT is asked and how it is scored (suites, bundled data, scorers).

Imports no other thinkgate room.
"""

from thinkgate.tasks.registry import (SCORERS, SUITES, UnknownSuiteError, get_suite, register_scorer,
                                      register_suite, resolve_suites, suite_names)
from thinkgate.tasks.types import DOMAINS, Item, Score, Scorer, Suite, chat

__all__ = [
    "DOMAINS", "SCORERS", "SUITES", "Item", "Score", "Scorer", "Suite", "UnknownSuiteError",
    "chat", "get_suite", "register_scorer", "register_suite", "resolve_suites", "suite_names",
]
