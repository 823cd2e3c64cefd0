"""Paired BCa bootstrap: 10,000 resamples on 10,000 items (goal: <= 2 s on a laptop core).

Times `thinkgate.reports.stats.bca_interval` on d = think - no_think (resampling items,
i.e. pairs, is resampling d_i for a mean difference), then the whole `paired_difference`
with ci_method="bca" (which adds the sign-flip permutation p-value). Checks that the
interval equals scipy's two-sample paired bootstrap with the same seed.

    .venv/bin/python bench/stats.py [--items 10000] [--resamples 10000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import stats

from thinkgate.reports.stats import bca_interval, paired_difference


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--resamples", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one round (the sizes stay: the goal is stated at them)")
    args = ap.parse_args()
    if args.quick:
        args.rounds = 1

    rng = np.random.default_rng(0)
    p = rng.beta(0.7, 0.7, args.items)  # item difficulty; K = 4 samples per item and mode
    think = rng.binomial(4, np.clip(p + 0.05, 0, 1)) / 4
    no_think = rng.binomial(4, p) / 4

    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        lo, hi, _ = bca_interval(think - no_think, seed=1, n_resamples=args.resamples)
        times.append(time.perf_counter() - t0)
    ref = stats.bootstrap((think, no_think), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                          paired=True, vectorized=True, n_resamples=args.resamples, batch=400,
                          method="BCa", random_state=np.random.default_rng(1))
    same = np.isclose(lo, ref.confidence_interval.low) and np.isclose(hi, ref.confidence_interval.high)

    t0 = time.perf_counter()
    est = paired_difference(think, no_think, ci_method="bca", n_resamples=args.resamples, seed=1)
    full = time.perf_counter() - t0

    print(f"paired BCa, {args.resamples} resamples x {args.items} items: "
          f"best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
          f"over {args.rounds} rounds (goal <= 2 s)")
    print(f"  diff {est.diff:.4f}  95% CI [{float(lo):.4f}, {float(hi):.4f}]  "
          f"same as scipy paired two-sample bootstrap: {bool(same)}")
    print(f"paired_difference(ci_method='bca') incl. sign-flip p-value ({args.resamples} flips): "
          f"{full:.2f} s, p = {est.p_value:.4g}")
    median = sorted(times)[len(times) // 2]
    print("BENCH " + json.dumps({
        "figure": f"paired BCa bootstrap, {args.resamples} resamples x {args.items} items", "goal": "<= 2 s",
        "value": round(median, 3), "unit": "s", "pass": bool(median <= 2.0 and same),
        "detail": (f"median of {args.rounds} rounds, best {min(times):.2f} s; same interval as scipy: {bool(same)}; "
                   f"with the sign-flip p-value {full:.2f} s")}), flush=True)


if __name__ == "__main__":
    main()
