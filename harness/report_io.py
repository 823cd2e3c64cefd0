"""Write a run directory's outputs from its store: items table, report, estimates."""

from __future__ import annotations

from pathlib import Path

from thinkgate.harness.store import Store
from thinkgate.reports import build_report



def write_outputs(store: Store) -> Path:
    """Export items.csv / items.parquet and (re)write report.md and estimates.json."""
    items = store.items()
    out = store.dir
    items.to_csv(out / "items.csv", index=False)
    items.to_parquet(out / "items.parquet", index=False)
    judgments = store.judgments()
    if not judgments.empty:
        judgments.to_csv(out / "judgments.csv", index=False)
    seed = (store.get_meta("run") or {}).get("seed", 0)
    md, js = build_report(items, seed=seed, judgments=judgments)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "estimates.json").write_text(js, encoding="utf-8")
    return out / "report.md"
