"""Decision latency of a router for one prompt at a time, per feature set and model.

What the serving proxy pays per request: `router.decide([prompt])` (features + model),
timed one prompt at a time after a warm-up, over a mix of short questions and ~2,000-
character passages. Goals on a CPU: p50 <= 1 ms with TF-IDF, <= 15 ms with MiniLM.
The routers are fit on a synthetic table (fitting time is not the point here; no CV).

    .venv/bin/python bench/router_latency.py [--features tfidf,hand,tfidf+hand,minilm,minilm+hand]
                                             [--models logreg,gbdt] [--repeats 300] [--items 600] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

WORDS = ("river garden market winter letter harbor forest engine castle school signal method "
         "protein layer device surface energy voltage network policy court treaty grammar").split()


def prompts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Mixed prompts (math, code, writing, long passages) and a label: math thinks."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        w = rng.choice(WORDS, 6)
        a, b, c = rng.integers(2, 999, 3)
        kind = i % 4
        if kind == 0:
            t = f"A {w[0]} has {a} boxes of {b} {w[1]}s; {c} are sold. How many remain? Compute {a} * {b} - {c}."
        elif kind == 1:
            t = f"Write a Python function `{w[0]}_{w[1]}(xs)` that returns the {w[2]} items sorted by {w[3]}."
        elif kind == 2:
            t = f"Write a short poem about the {w[0]}, the {w[1]} and the {w[2]}."
        else:  # a long passage to summarize, ~2,000 characters
            body = " ".join(rng.choice(WORDS, 260))
            t = f"Summarize this abstract in one title: {body}."
        texts.append(t)
        labels.append(kind == 0 if rng.random() < 0.85 else kind != 0)
    return texts, np.array(labels, int)


def time_router(router, texts: list[str], repeats: int) -> dict[str, float]:
    """p50/p99/mean over all calls, and p50 over short (< 500 characters) and long prompts."""
    for t in texts[:20]:  # warm-up: lazy loads, caches, allocator
        router.decide([t])
    times, long_ = [], []
    for i in range(repeats):
        t = texts[i % len(texts)]
        t0 = time.perf_counter()
        router.decide([t])
        times.append(time.perf_counter() - t0)
        long_.append(len(t) >= 500)
    ms, long_ = np.array(times) * 1e3, np.array(long_)
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()),
            "short": float(np.percentile(ms[~long_], 50)), "long": float(np.percentile(ms[long_], 50))}


GOAL_MS = {"tfidf": 1.0, "minilm": 15.0}  # p50 per decision on a CPU; by the text encoder


def bench_line(feats: str, model: str, path: str, r: dict[str, float], repeats: int) -> str:
    goal = GOAL_MS.get(feats.split("+")[0])
    return "BENCH " + json.dumps({
        "figure": f"router decision latency p50, {feats} {model} ({path})",
        "goal": f"<= {goal:g} ms" if goal else "none (hand features)", "value": round(r["p50"], 3),
        "unit": "ms", "pass": bool(r["p50"] <= goal) if goal else None,
        "detail": f"p99 {r['p99']:.2f} ms, short {r['short']:.2f} ms, long {r['long']:.2f} ms; {repeats} calls"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", default="tfidf,hand,tfidf+hand,minilm,minilm+hand")
    ap.add_argument("--models", default="logreg,gbdt")
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--no-fast", dest="fast", action="store_false",
                    help="time scikit-learn's own predict_proba, not the fast path (router/fast.py)")
    ap.add_argument("--quick", action="store_true", help="smoke sizes: tfidf and minilm, logreg, 50 calls")
    args = ap.parse_args()
    if args.quick:
        args.features, args.models, args.repeats, args.items = "tfidf,minilm", "logreg", 50, 200

    from thinkgate.router.fast import compile_fast
    from thinkgate.router.features import embedding_cache
    from thinkgate.router.model import Router, fit_pipeline

    train_texts, y = prompts(args.items, seed=0)
    test_texts, _ = prompts(100, seed=1)
    bench_lines = []
    print(f"{'features':<14} {'model':<7} {'path':<8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
          f"{'p50 short':>10} {'p50 long':>9} {'fit s':>6}")
    for feats in args.features.split(","):
        for model in args.models.split(","):
            t0 = time.perf_counter()
            with embedding_cache():
                pipe = fit_pipeline(feats, model, train_texts, y, seed=0)
            fit_s = time.perf_counter() - t0
            fast = compile_fast(pipe, train_texts) if args.fast else None
            router = Router(pipe, 0.5, {"features": feats, "model": model}, fast)
            r = time_router(router, test_texts, args.repeats)
            path = "fast" if fast is not None else "sklearn"
            print(f"{feats:<14} {model:<7} {path:<8} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['mean']:>8.2f} "
                  f"{r['short']:>10.2f} {r['long']:>9.2f} {fit_s:>6.1f}", flush=True)
            bench_lines.append(bench_line(feats, model, path, r, args.repeats))
    chars = np.array([len(t) for t in test_texts])
    print(f"prompts: {len(chars)}, {chars.min()}-{chars.max()} characters; {int((chars >= 500).sum())} long "
          f"(>= 500, median {int(np.median(chars[chars >= 500]))}), the others median "
          f"{int(np.median(chars[chars < 500]))}; one prompt per call, after 20 warm-up calls; "
          f"{args.repeats} calls per row")
    for line in bench_lines:
        print(line, flush=True)


if __name__ == "__main__":
    main()
