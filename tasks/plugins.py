"""One registry type for every plug-in kind: suites, scorers, backends, profiles, router
featurizers and models (and later budget mechanisms).

    SUITES = Registry("suite", entry_points="thinkgate.suites")

    @SUITES.register("gsm8k")          # a decorator ...
    def gsm8k() -> Suite: ...

    SUITES.register("mine", factory)   # ... or a plain call
    SUITES.get("gsm8k")                # unknown names raise UnknownNameError with one
    SUITES.names()                     #   "did you mean" message, the same everywhere

Third-party packages add plug-ins through Python entry points, one group per kind
(`thinkgate.suites`, `thinkgate.scorers`, `thinkgate.backends`, `thinkgate.profiles`,
`thinkgate.router_features`, `thinkgate.router_models`). An entry point names either the
object itself (registered under the entry point's name) or a module whose decorators
register what it holds:

    [project.entry-points."thinkgate.suites"]
    my_suite = "my_pkg.suites:my_suite"     # a factory returning a Suite
    more = "my_pkg.more_suites"             # a module of @register_suite factories

This module lives in `tasks` (the room every other room may import); it imports nothing
of thinkgate itself.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import threading
from importlib.metadata import entry_points
from types import ModuleType
from typing import Callable, Generic, Iterable, Iterator, TypeVar, overload

T = TypeVar("T")


class UserError(Exception):
    """Bad input or a missing piece the user can fix; the message says how. The CLI prints
    it on one line (no traceback) and exits 2. `thinkgate.harness.errors.UserError` is this
    class, so library code in every room raises the same type."""


class UnknownNameError(UserError, KeyError, ValueError):
    """A name no registry entry has: the message names the kind, a close match and the list.
    A KeyError (a failed lookup) and a ValueError (a bad argument) too, for callers that
    catch either."""

    def __init__(self, kind: str, name: str, known: Iterable[str], extra: str = ""):
        self.kind, self.name, self.known = kind, name, sorted(known)
        close = difflib.get_close_matches(str(name), self.known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        message = f"unknown {kind} '{name}'{hint}; known {kind}s: {', '.join(self.known) or '(none)'}{extra}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def did_you_mean(kind: str, name: str, known: Iterable[str], extra: str = "") -> UnknownNameError:
    """The one "unknown X 'y' (did you mean 'z'?)" error, for name lists that are not a Registry
    (modes, domains)."""
    return UnknownNameError(kind, name, known, extra)


class Registry(Generic[T]):
    """Names -> plug-ins of one kind.

    `modules`: modules (or packages, every module of which is imported) whose import
    registers the built-ins; they are imported on first lookup, so importing thinkgate
    stays cheap. `entry_points`: the group third-party packages register into.
    `see`: what the error message points the user to (e.g. "`thinkgate list`").
    """

    def __init__(self, kind: str, *, modules: Iterable[str] = (), entry_points: str | None = None,
                 see: str = "`thinkgate list`"):
        self.kind = kind
        self.group = entry_points
        self._modules = tuple(modules)
        self._see = see
        self._entries: dict[str, T] = {}
        self._loaded = False
        self._lock = threading.RLock()
        self.plugin_errors: dict[str, str] = {}  # entry point -> why it failed to load

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj=None, *, replace: bool = False):
        """Register `obj` under `name` (as a decorator when `obj` is omitted). A second
        registration of a taken name is an error unless `replace=True`."""

        def deco(o: T) -> T:
            with self._lock:
                if name in self._entries and self._entries[name] is not o and not replace:
                    raise ValueError(f"{self.kind} '{name}' is registered twice; pass replace=True "
                                     "to override a built-in on purpose")
                self._entries[name] = o
            return o

        return deco if obj is None else deco(obj)

    def get(self, name: str) -> T:
        self.load()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries, self.hint()) from None

    def names(self) -> list[str]:
        self.load()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self.load()
        return sorted(self._entries.items())

    def values(self) -> list[T]:
        return [v for _, v in self.items()]

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def hint(self, see: str | None = None) -> str:
        """The tail of an unknown-name message: where to look, and any plug-in that failed to load."""
        see = self._see if see is None else see
        broken = "".join(f"; plug-in {ep} failed to load: {why}" for ep, why in self.plugin_errors.items())
        return f" (see {see}){broken}" if see else broken

    def load(self) -> None:
        """Import the built-in modules and the entry-point plug-ins, once."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self._loaded = True  # set first: built-in modules look names up while importing
            for module in self._modules:
                _import_all(module)
            if self.group:
                self._load_entry_points()

    def _load_entry_points(self) -> None:
        for ep in entry_points(group=self.group):
            try:
                obj = ep.load()
            except Exception as e:  # a broken plug-in must not break the built-ins
                self.plugin_errors[f"{ep.name} = {ep.value}"] = f"{type(e).__name__}: {e}"
                continue
            if not isinstance(obj, ModuleType):  # a module registers itself by decorators
                self.register(ep.name, obj, replace=True)

    def reload(self) -> None:
        """Look at entry points again (after installing a plug-in in a running process)."""
        with self._lock:
            self._loaded = False
            self.plugin_errors.clear()
        self.load()


def _import_all(name: str) -> None:
    """Import a module; for a package, import every module in it (that is how a new
    built-in suite module is found without a list to edit)."""
    module = importlib.import_module(name)
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        if not info.name.startswith("_"):
            importlib.import_module(f"{name}.{info.name}")
