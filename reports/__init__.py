"""thinkgate.reports: what the numbers mean. Pure functions of an items table (pandas)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from thinkgate.reports.estimates import estimate, item_means
from thinkgate.reports.judge import judge_estimates
from thinkgate.reports.render import render_markdown, to_json


def build_report(items: pd.DataFrame, seed: int = 0, judgments: pd.DataFrame | None = None) -> tuple[str, str]:
    """(report.md text, estimates.json text) for an items table (and optional judgments)."""
    est = estimate(items, seed=seed)
    est["judge"] = judge_estimates(judgments)
    meta: dict[str, Any] = {
        "model": ", ".join(sorted(items["model"].dropna().unique())) if len(items) else "–",
        "revision": ", ".join(sorted(items["model_revision"].dropna().unique())) if len(items) else "–",
        "profile": ", ".join(sorted(items["profile"].dropna().unique())) if len(items) else "–",
        "backends": ", ".join(sorted(items["backend"].dropna().unique())) or "–" if len(items) else "–",
        "n_rows": int(len(items)),
        "n_ok": int((items["status"] == "ok").sum()) if len(items) else 0,
        "n_error": int((items["status"] == "error").sum()) if len(items) else 0,
        "n_pending": int((items["status"] == "pending").sum()) if len(items) else 0,
        "seed": seed,
    }
    return render_markdown(est, meta), to_json(est, meta)


__all__ = ["build_report", "estimate", "item_means", "judge_estimates", "render_markdown", "to_json"]
