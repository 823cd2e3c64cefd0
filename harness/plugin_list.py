"""`thinkgate list`: one table per plug-in kind, read from the registries themselves.

What a third-party package registers through an entry point shows up here like a built-in
(its `source` column says which package it came from).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from rich.table import Table

from thinkgate.harness.errors import UserError
from thinkgate.tasks.plugins import Registry, did_you_mean


def _origin(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    if module.startswith("thinkgate."):
        return "built-in"
    return module.split(".")[0]


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def _suites() -> Table:
    from thinkgate.tasks import SUITES

    t = Table("suite", "domain", "verifiable", "items", "scorer", "license", "source", "what", title="suites")
    for name, factory in SUITES.items():
        s = factory()
        t.add_row(name, s.domain, "yes" if s.verifiable else "no", str(len(s.items())), s.scorer().name,
                  s.license, _origin(factory), s.description)
    t.caption = ("A domain name (math, code, ...) stands for all its suites. Custom: FILE.jsonl:SCORER; "
                 "lm-eval: lmeval:TASK[:SCORER].")
    return t


def _scorers() -> Table:
    from thinkgate.tasks import SCORERS

    t = Table("scorer", "domain", "verifiable", "source", "what", title="scorers (for FILE.jsonl:SCORER)")
    for name, spec in SCORERS.items():
        t.add_row(name, spec.domain, "yes" if spec.verifiable else "no", _origin(spec.factory), spec.description)
    return t


def _backends() -> Table:
    from thinkgate.harness.backends import BACKENDS

    t = Table("backend", "served", "source", "what", title="backends")
    for name, spec in BACKENDS.items():
        t.add_row(name, "yes" if spec.served else "no", _origin(spec.factory), spec.description)
    return t


def _profiles() -> Table:
    from thinkgate.harness.profiles import PROFILES

    t = Table("profile", "how it switches", "sampling think / no_think", "source", title="profiles")
    for p in PROFILES.values():
        s = lambda m: ", ".join(f"{k}={v}" for k, v in p.sampling[m].as_dict().items()  # noqa: E731
                                if k in ("temperature", "top_p", "top_k") and v not in (-1,))
        t.add_row(p.name, p.description, f"{s('think')}\n{s('no_think')}\n({p.source})", _origin(p.render))
    return t


def _router_parts(registry: Registry, title: str) -> Table:
    t = Table("name", "source", "what", title=title)
    for name, factory in registry.items():
        t.add_row(name, _origin(factory), _first_line(getattr(factory, "__doc__", "")))
    return t


def _router_features() -> Table:
    from thinkgate.router.features import FEATURIZERS

    return _router_parts(FEATURIZERS, "router feature sets (combine with '+')")


def _router_models() -> Table:
    from thinkgate.router.model import ROUTER_MODELS

    return _router_parts(ROUTER_MODELS, "router models")


KINDS: dict[str, Callable[[], Table]] = {
    "suites": _suites, "scorers": _scorers, "backends": _backends, "profiles": _profiles,
    "router-features": _router_features, "router-models": _router_models,
}


def plugin_tables(kind: str | None = None) -> Iterator[Table]:
    if kind is not None and kind not in KINDS:
        raise did_you_mean("kind", kind, KINDS)
    for name, make in KINDS.items():
        if kind in (None, name):
            yield make()


__all__ = ["KINDS", "UserError", "plugin_tables"]
