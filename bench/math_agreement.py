"""Math answers judged right: thinkgate's math scorer against raw math-verify (goal: >=).

Runs `MathVerifyScorer` and raw math-verify (`verify(parse(gold), parse(pred))`, every
default) over the (gold, prediction, verdict) table in tests/data/math_cases.tsv and prints
the share of rows each gets right, per category and overall, then the rows where either
misses and a `BENCH` line. The scorer's rules are stated in thinkgate.tasks.math.

    .venv/bin/python bench/math_agreement.py [--table tests/data/math_cases.tsv] [--misses]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

from thinkgate.tasks.math import MathVerifyScorer
from thinkgate.tasks.types import Item

TABLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "math_cases.tsv"


def read_table(path: Path = TABLE) -> list[dict[str, str]]:
    """Rows of the table as dicts (category, gold, prediction, verdict, question)."""
    with path.open(encoding="utf-8", newline="") as f:
        lines = [ln for ln in f if ln.strip() and not ln.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


def as_item(row: dict[str, str]) -> Item:
    return Item("table/1", "math-table", "math", True,
                ({"role": "user", "content": row["question"] or "q"},), row["gold"], "table/1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--misses", action="store_true", help="list every row either side misses")
    args = ap.parse_args()

    from math_verify import parse, verify

    scorer = MathVerifyScorer()
    rows = read_table(args.table)
    hits: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    misses = []
    for row in rows:
        want = row["verdict"] == "1"
        ours = scorer(row["prediction"], as_item(row)).passed is want
        raw = bool(verify(parse(row["gold"]), parse(row["prediction"]))) is want
        hits[row["category"]].append((ours, raw))
        if not (ours and raw):
            misses.append((row, ours, raw))

    print(f"{'category':<12}{'rows':>5}{'scorer':>9}{'raw':>7}")
    for cat, pairs in hits.items():
        print(f"{cat:<12}{len(pairs):>5}{sum(o for o, _ in pairs):>9}{sum(r for _, r in pairs):>7}")
    n = len(rows)
    ours = sum(o for pairs in hits.values() for o, _ in pairs) / n
    raw = sum(r for pairs in hits.values() for _, r in pairs) / n
    print(f"{'all':<12}{n:>5}{ours:>9.3f}{raw:>7.3f}  (share of rows judged right)")
    if args.misses:
        for row, o, r in misses:
            print(f"  miss by {'both' if not (o or r) else 'scorer' if not o else 'raw'}: "
                  f"gold={row['gold']!r} pred={row['prediction']!r} verdict={row['verdict']}")
    else:
        print(f"scorer misses {sum(not o for _, o, _ in misses)}, raw misses "
              f"{sum(not r for _, _, r in misses)} (--misses lists them)")
    print("BENCH " + json.dumps({
        "figure": "math scorer agreement", "goal": ">= raw math-verify", "value": round(ours, 3),
        "unit": "share", "pass": bool(ours >= raw),
        "detail": f"{n} rows in {args.table.name}; raw math-verify {raw:.3f}"}), flush=True)


if __name__ == "__main__":
    main()
