"""thinkgate.router: WHEN to think next time.

A pure function of items tables (pandas), like `thinkgate.reports`; it never imports
`thinkgate.harness`, never opens a store and never calls a model.

    from thinkgate.router import build_dataset, train_router, evaluate_router, save_router
    ds = build_dataset(items, lam=0.0, T=1000)       # one row per item, both modes
    router = train_router(ds, features="auto", model="logreg", seed=0)
    report = evaluate_router(router, other_ds, seed=0, n_boot=1000)   # AUC, APGR, CPT, CIs
    save_router(router, "routers/r1")                 # router.joblib + router.json
    load_router("routers/r1").decide(["What is 17 * 23?"])

Many arms (no_think, budget:N..., think): the same calls on `build_arms_dataset(items,
lam, T)` give a MultiArmRouter; `router.arms` (cheapest first) and `router.choose(texts)`
(an arm name per prompt) work on every router, two-arm ones included.

The router's score is P(thinking is worth it); the decision is score >= threshold.
Heavy libraries (scikit-learn, sentence-transformers) load only when used.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "build_dataset", "train_router", "evaluate_router", "leave_one_domain_out", "cross_validate",
    "save_router", "load_router", "Router", "RouterVersionWarning", "routing_metrics",
    "build_arms_dataset", "build_router_dataset", "MultiArmRouter",
]

_WHERE = {
    "build_dataset": "dataset", "build_arms_dataset": "dataset", "build_router_dataset": "dataset",
    "MultiArmRouter": "multiarm",
    "train_router": "train", "leave_one_domain_out": "train", "cross_validate": "train",
    "evaluate_router": "evaluate", "routing_metrics": "evaluate",
    "save_router": "model", "load_router": "model", "Router": "model", "RouterVersionWarning": "model",
}


def __getattr__(name: str) -> Any:
    """Lazy exports: `import thinkgate.router` stays cheap (no scikit-learn until used)."""
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"thinkgate.router.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'thinkgate.router' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
