"""Resuming a finished 100k-row run: how long before the engine would load (goal: <= 3 s).

Builds a finished run through the real Store API: GSM8K (1,319 items) x think/no_think x
38 samples = 100,244 requests planned by `plan_requests` with the embedded model's
tokenizer, each with a generation and a score from the current math scorer. Then times
the resume path `evaluate` walks before it would load an engine:

  open      Store(run) (lock, schema check)
  plan      plan_requests(..., token_ids=False): render, key and seed every request
  add       store.add_requests: the planned rows the store already has are skipped
  done      store.done_keys() once, and the pending list
  unscored  the answers with no current score (one SQL query)

and prints each step, the total and rows/s. `--evaluate` also times a real
`thinkgate.harness.runner.evaluate` on the finished run (the tokenizer load included,
the report left out), with a backend that fails the bench if it is ever asked.

The last line is machine-readable (a `BENCH {...}` line, see bench/run_all.py).

    .venv/bin/python bench/resume.py [--samples 38] [--keep DIR] [--evaluate] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def build(run: Path, cfg, model, tokenizer, suites) -> int:
    from thinkgate.harness.pipeline import Scoring
    from thinkgate.harness.profiles import get_profile
    from thinkgate.harness.runner import check_fingerprint, plan_requests, run_fingerprint
    from thinkgate.harness.store import GenerationRow, ScoreRow, Store

    planned = plan_requests(cfg, model, get_profile(cfg.profile), tokenizer, suites, token_ids=False)
    scorer = Scoring(suites).scorers["gsm8k"]
    with Store(run) as store:
        check_fingerprint(store, run_fingerprint(cfg, model))
        store.add_requests(p.row for p in planned)
        for start in range(0, len(planned), 5000):  # batches, as a run writes them
            part = planned[start:start + 5000]
            store.put_generations(GenerationRow(
                key=p.row.key, backend="bench", text=f"...</think>\n\n\\boxed{{{i % 97}}}",
                reasoning="...", answer=f"\\boxed{{{i % 97}}}", think_state="closed", think_blocks=1,
                finish_reason="stop", prompt_tokens=100, completion_tokens=20, reasoning_tokens=12,
                answer_tokens=8, latency_s=1.0, error=None) for i, p in enumerate(part))
            store.put_scores(ScoreRow(key=p.row.key, scorer=scorer.name, scorer_version=scorer.version,
                                      value=0.0, passed=False, status="ok", detail="{}") for p in part)
    return len(planned)


def time_resume(run: Path, cfg, model, tokenizer, suites) -> dict[str, float]:
    from thinkgate.harness.pipeline import Scoring
    from thinkgate.harness.profiles import get_profile
    from thinkgate.harness.runner import plan_requests
    from thinkgate.harness.store import Store

    t = {}
    t0 = time.perf_counter()
    store = Store(run)
    t["open"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    planned = plan_requests(cfg, model, get_profile(cfg.profile), tokenizer, suites, token_ids=False)
    t["plan"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    new = store.add_requests(p.row for p in planned)
    t["add"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = store.done_keys()
    pending = [p for p in planned if p.row.key not in done]
    t["done"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    unscored = Scoring(suites).unscored(store)
    t["unscored"] = time.perf_counter() - t0
    store.close()
    if new or pending or unscored:
        raise SystemExit(f"the built run is not finished: {new} new, {len(pending)} pending, {len(unscored)} unscored")
    t["rows"] = len(planned)
    return t


class MustNotGenerate:
    name = "must-not-generate"

    def generate(self, requests):
        raise SystemExit(f"resume asked the engine for {len(requests)} requests")

    def close(self):
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=38, help="samples per item and mode (38: 100,244 rows)")
    ap.add_argument("--keep", type=Path, help="build the run here (reused if it exists) instead of a temp dir")
    ap.add_argument("--evaluate", action="store_true", help="also time a real evaluate() on the finished run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smoke size: 4 samples (10,552 rows), 1 repeat")
    args = ap.parse_args()
    if args.quick:
        args.samples, args.repeats = 4, 1

    from thinkgate.harness.config import RunConfig
    from thinkgate.harness.models import resolve_model
    from thinkgate.harness.runner import evaluate, load_suites, load_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        run = args.keep or Path(tmp) / "run"
        cfg = RunConfig(out=str(run), profile="generic", suites=("gsm8k",), modes=("think", "no_think"),
                        samples=args.samples, max_tokens=256)
        model = resolve_model(None)
        t0 = time.perf_counter()
        tokenizer = load_tokenizer(model)
        t_tok = time.perf_counter() - t0
        suites = load_suites(cfg.suites)
        if not (run / "thinkgate.sqlite").is_file():
            t0 = time.perf_counter()
            n = build(run, cfg, model, tokenizer, suites)
            print(f"built a finished run of {n:,} rows through the Store API in {time.perf_counter() - t0:.1f} s "
                  f"({(run / 'thinkgate.sqlite').stat().st_size / 2**20:.0f} MiB)")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; tokenizer load {t_tok:.1f} s "
              "(not in the figures below)")
        best = None
        for _ in range(args.repeats):
            t = time_resume(run, cfg, model, tokenizer, suites)
            total = sum(v for k, v in t.items() if k != "rows")
            print("resume path: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items() if k != "rows")
                  + f" -> total {total:.2f} s, {t['rows'] / total:,.0f} rows/s")
            best = total if best is None else min(best, total)
        print(f"best of {args.repeats}: {best:.2f} s for {t['rows']:,} rows ({t['rows'] / best:,.0f} rows/s); goal <= 3 s")
        if args.evaluate:
            t0 = time.perf_counter()
            res = evaluate(cfg, backend=MustNotGenerate(), progress=False, write_report=False)
            print(f"evaluate() on the finished run (model/tokenizer resolve + load included, no report): "
                  f"{time.perf_counter() - t0:.2f} s, generated {res.generated}")
        goal = 3.0  # for 100k rows (smaller runs plan the same 2,638 prompts, so not pro rata)
        print("BENCH " + json.dumps({
            "figure": f"resume a finished run of {t['rows']:,} rows: plan + done + unscored, before the engine",
            "goal": f"<= {goal:.2f}", "value": round(best, 3), "unit": "s", "pass": best <= goal,
            "detail": f"{t['rows'] / best:,.0f} rows/s; best of {args.repeats}; load {os.getloadavg()[0]:.1f}"}))


if __name__ == "__main__":
    main()
