"""The self-contained HTML report: one file, figures inline as SVG, no URL of any kind."""

from __future__ import annotations

from typing import Any

import jinja2
import pandas as pd

from thinkgate.reports import plots
from thinkgate.reports.headline import direction, headline
from thinkgate.reports.render import _extras, _num, _num2, _pct, _pts, _pval, _signed


def render_html(estimates: dict[str, Any], items: pd.DataFrame, meta: dict[str, Any],
                decoding: str, ci_methods: str) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("thinkgate.reports", "templates"),
                             undefined=jinja2.StrictUndefined, autoescape=True)
    paired = estimates["paired"]
    transfer = estimates.get("transfer")
    contrasts = []
    if transfer and transfer.get("contrast"):
        contrasts = [{"label": "Δ verifiable", **transfer["verifiable"]},
                     {"label": "Δ non-verifiable", **transfer["non_verifiable"]},
                     {"label": "verifiable − non-verifiable", **transfer["contrast"]}]
    think_rows = [p for p in paired if p["a"] == "think" and p["b"] == "no_think"]
    budgets = estimates.get("budgets") or {}
    return env.get_template("report.html.j2").render(
        meta=meta, headline=headline(paired, transfer), paired=paired, suites=estimates["suites"],
        judge=estimates.get("judge", []), comparison=estimates.get("comparison", []), transfer=transfer or {},
        run_gains=estimates.get("run_gains", []), router=estimates.get("router") or {},
        routing=plots.routing_curve(estimates["router"]) if estimates.get("router") else "",
        has_adjusted=any("p_holm" in p for p in paired), decoding=decoding, ci_methods=ci_methods,
        forest=plots.forest_plot(think_rows, contrasts), scaling=plots.score_vs_tokens(estimates["suites"]),
        tokens=plots.reasoning_tokens_by_domain(items),
        budgets=budgets, spontaneous=estimates.get("spontaneous") or {}, num=_num,
        budget_figure=plots.score_vs_thinking_tokens(budgets["curves"]) if budgets else "",
        pct=_pct, signed=lambda x: _signed(x).replace(" pts", ""), pts=_pts, pval=_pval, num2=_num2, extras=_extras, direction=direction)
