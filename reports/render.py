"""Render estimates as Markdown (Jinja2, StrictUndefined) and JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import jinja2


def _pct(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _signed(x: float) -> str:
    """_signed(0.123) -> '+12.3 pts'; a float error below the shown precision is not a sign: -1e-17 -> '+0.0 pts'."""
    if x is None or math.isnan(x):
        return "–"
    v = 100 * x
    return f"{v if round(v, 1) else 0.0:+.1f} pts"


def _pts(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.1f} pts"


def _num(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.0f}"


def _num2(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.2f}"


def _pval(p: float) -> str:
    return "–" if p is None or math.isnan(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _extras(r: dict[str, Any]) -> str:
    parts = [f"{k} {_pct(v)}" for k, v in r.items() if k.startswith(("pass@", "maj@"))]
    parts += [f"corpus {k[len('corpus_'):]} {_num2(100 * v)}" for k, v in r.items()
              if k.startswith("corpus_") and v is not None]
    return ", ".join(parts) or "–"


def _verdict(p: dict[str, Any]) -> str:
    from thinkgate.reports.headline import direction

    lo, hi = p["ci_low"], p["ci_high"]
    if lo is None or math.isnan(lo):
        return f"too few paired items ({p['n_items']}) for an interval."
    if direction(p) > 0:
        return f"{p['a']} scores higher by {_signed(p['diff'])} (CI excludes 0, p {_pval(p['p_value'])})."
    if direction(p) < 0:
        return f"{p['a']} scores lower by {_signed(p['diff'])} (CI excludes 0, p {_pval(p['p_value'])})."
    if lo > 0 or hi < 0:
        return (f"the interval excludes 0 but the {p['test']} test does not reject (p {_pval(p['p_value'])}); "
                f"with {p['n_items']} items, treat it as unresolved.")
    if p["se"] == 0 and p["diff"] == 0:
        return (f"every one of the {p['n_items']} items scored the same in both modes; "
                "the data cannot separate them (more, or easier, items are needed).")
    width = hi - lo
    if p.get("underpowered"):
        return (f"no detectable difference, and this n is underpowered: with {p['n_items']} items only "
                f"differences of at least {_pts(p['mde_80'])} are detected with 80% power; about "
                f"{p['n_for_5pts']} items would detect 5 points.")
    return (f"no detectable difference: the CI [{_signed(lo)}, {_signed(hi)}] includes 0 "
            f"(width {100 * width:.1f} pts; more items narrow it).")


def decoding_summary(estimates: dict[str, Any]) -> str:
    """The decoding settings used, grouped: "T=0.6 top_p=0.95 max_tokens=128 (every suite and mode)"."""
    decoding: dict[str, list[str]] = {}
    for r in estimates["suites"]:
        decoding.setdefault(r["decoding"], []).append(f"{r['suite']}/{r['mode']}")
    return ("; ".join(f"{d} ({', '.join(where)})" for d, where in decoding.items())
            if len(decoding) > 1 else f"{next(iter(decoding), '–')} (every suite and mode)")


def ci_methods_summary(estimates: dict[str, Any]) -> str:
    methods = sorted({r["ci_method"] for r in estimates["suites"]})
    names = {"t": "Student t on item means", "wilson": "Wilson (binary, K=1)",
             "wilson-edge": "Wilson, continuity-corrected near 0 and n (binary, K=1)",
             "bca": "BCa bootstrap (small n or skewed)"}
    return ", ".join(names.get(m, m) for m in methods) or "–"


def render_markdown(estimates: dict[str, Any], meta: dict[str, Any]) -> str:
    from thinkgate.reports.headline import headline

    env = jinja2.Environment(loader=jinja2.PackageLoader("thinkgate.reports", "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    tests = sorted({p["test"] for p in estimates["paired"]})
    return env.get_template("report.md.j2").render(
        suites=estimates["suites"], paired=estimates["paired"], judge=estimates.get("judge", []), meta=meta,
        comparison=estimates.get("comparison", []), transfer=estimates.get("transfer") or {},
        run_gains=estimates.get("run_gains", []), router=estimates.get("router") or {},
        budgets=estimates.get("budgets") or {}, spontaneous=estimates.get("spontaneous") or {},
        headline=headline(estimates["paired"], estimates.get("transfer")),
        ci_methods=ci_methods_summary(estimates), decoding=decoding_summary(estimates),
        tests=", ".join(tests) or "–",
        pct=_pct, signed=_signed, pts=_pts, num=_num, num2=_num2, pval=_pval, extras=_extras, verdict=_verdict)


def to_json(estimates: dict[str, Any], meta: dict[str, Any]) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean({"meta": meta, **estimates}), indent=1)
