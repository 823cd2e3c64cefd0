"""Write a run directory's outputs from its store: items table, report, estimates."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from thinkgate.harness.store import Store
from thinkgate.reports import build_report


def write_outputs(store: Store, out: Path | None = None, others: Sequence[Store] = ()) -> Path:
    """Export items.csv / items.parquet, judgments.csv, and (re)write report.md,
    report.html and estimates.json into `out` (default: the run's own folder).
    `others` are further runs compared against this one on the same items."""
    out = Path(out or store.dir)
    out.mkdir(parents=True, exist_ok=True)
    items = store.items()
    items.to_csv(out / "items.csv", index=False)
    items.to_parquet(out / "items.parquet", index=False)
    judgments = store.judgments()
    if not judgments.empty:
        judgments.to_csv(out / "judgments.csv", index=False)
    seed = (store.get_meta("run") or {}).get("seed", 0)
    runs = None
    if others:
        runs = {_name(store): items}
        for other in others:
            runs[_name(other, taken=runs)] = other.items()
    router_eval = None
    if (store.dir / "router_eval.json").is_file():
        import json

        router_eval = json.loads((store.dir / "router_eval.json").read_text(encoding="utf-8"))
    for name, text in build_report(items, seed=seed, judgments=judgments, runs=runs,
                                   router_eval=router_eval).items():
        (out / name).write_text(text, encoding="utf-8")
    return out / "report.md"


def _name(store: Store, taken: dict | None = None) -> str:
    name = store.dir.resolve().name
    return name if not taken or name not in taken else str(store.dir)
