"""thinkgate.reports: what the numbers mean. Pure functions of items tables (pandas).

`build_report(items)` returns the text of every report file; nothing here opens a store
or calls a model, so any table with the items-table columns can be reported.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from thinkgate.reports.budgets import budget_estimates
from thinkgate.reports.compare import compare_runs
from thinkgate.reports.estimates import estimate, item_means
from thinkgate.reports.judge import judge_estimates
from thinkgate.reports.render import ci_methods_summary, decoding_summary, render_markdown, to_json


def _meta(items: pd.DataFrame, seed: int, runs: list[str]) -> dict[str, Any]:
    def join(col: str) -> str:
        return ", ".join(sorted(str(v) for v in items[col].dropna().unique())) or "–" if len(items) else "–"

    status = items["status"] if len(items) else pd.Series(dtype=str)
    return {"model": join("model"), "revision": join("model_revision"), "profile": join("profile"),
            "backends": join("backend"), "n_rows": int(len(items)), "n_ok": int((status == "ok").sum()),
            "n_error": int((status == "error").sum()), "n_pending": int((status == "pending").sum()),
            "seed": seed, "runs": ", ".join(runs)}


def _run_gains(runs: dict[str, pd.DataFrame], seed: int) -> list[dict[str, Any]]:
    """Each run's gain from thinking per domain group, relative to the first run."""
    from thinkgate.reports.estimates import transfer_frame
    from thinkgate.reports.transfer import run_gains

    frames = {name: transfer_frame(item_means(df), df) for name, df in runs.items()}
    if any(f.empty for f in frames.values()):
        return []
    return run_gains(frames, baseline=next(iter(frames)), seed=seed, n_resamples=2000).to_dict("records")


def build_report(items: pd.DataFrame, seed: int = 0, judgments: pd.DataFrame | None = None,
                 runs: dict[str, pd.DataFrame] | None = None, html: bool = True,
                 router_eval: dict[str, Any] | None = None) -> dict[str, str]:
    """{file name: text} for report.md, estimates.json and report.html.

    `items` is the main run; `runs` (name -> items table, the main run first) adds a
    comparison of every other run against the first on the same items.
    """
    est = estimate(items, seed=seed)
    est["judge"] = judge_estimates(judgments)
    est["comparison"] = compare_runs(runs, seed=seed) if runs and len(runs) > 1 else []
    est["run_gains"] = _run_gains(runs, seed) if runs and len(runs) > 1 else []
    est["router"] = router_eval or {}  # written by `thinkgate router eval` (thinkgate.router)
    meta = _meta(items, seed, list(runs) if runs else ["this run"])
    files = {"report.md": render_markdown(est, meta), "estimates.json": to_json(est, meta)}
    if html:
        from thinkgate.reports.html import render_html

        files["report.html"] = render_html(est, items, meta, decoding_summary(est), ci_methods_summary(est))
    return files


__all__ = ["budget_estimates", "build_report", "compare_runs", "estimate", "item_means", "judge_estimates", "render_markdown",
           "to_json"]
