"""How much does thinkgate add on top of the raw engine?

The same requests (the embedded model, GSM8K prompts rendered by the `generic` profile in
think and no_think modes, greedy by default so both paths do the same work) go through
the raw engine (`LLM.generate` on the prompt token ids, the same SamplingParams the
backend builds) and through thinkgate's runner (`evaluate`: load suites, render, key,
store, generate, parse, token-count, write). Both use one already-loaded engine.

Held up against a noisy machine:
- warm-up: one full-batch pass of each path before anything is timed, so neither path
  pays for the allocator, the first large batch or an empty prefix cache;
- `--repeats` (>= 3) alternating pairs: raw/thinkgate, thinkgate/raw, ...; the figure is
  the ratio of the medians, with the spread and each pair's ratio shown;
- thinkgate's generation (everything up to the last generation written) is timed apart
  from its scoring, which is reported but not counted in the ratio;
- the load average is printed before and after.
Goal: thinkgate's generation wall <= 1.10 x the raw engine's.

    python bench/engine_overhead.py --backend vllm --items 16 --samples 2 --max-tokens 128 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")  # no effect with a GPU build (the runner sets the same)
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def raw_vllm(backend, requests) -> int:
    """`LLM.generate` with exactly the SamplingParams VLLMBackend builds; returns tokens out."""
    from vllm import SamplingParams

    prompts = [{"prompt_token_ids": list(r.prompt_token_ids)} for r in requests]
    params = [SamplingParams(n=1, temperature=r.sampling.temperature, top_p=r.sampling.top_p,
                             top_k=r.sampling.top_k if r.sampling.top_k > 0 else 0, min_p=r.sampling.min_p,
                             max_tokens=r.sampling.max_tokens, skip_special_tokens=True,
                             seed=r.sampling.seed if backend.per_request_seed else None)
              for r in requests]
    out = backend.llm.generate(prompts, params, use_tqdm=False)
    return sum(len(o.outputs[0].token_ids) for o in out)


def raw_hf(backend, requests) -> int:
    # the transformers engine's own batched generate, without the runner around it
    return sum(g.completion_tokens for batch in backend.generate(requests) for g in batch)


class GenerationClock:
    """Wraps the backend: notes when the runner hands it the requests, and when the last
    batch has been taken (and so written)."""

    def __init__(self, inner):
        self.inner, self.name, self.started_at, self.done_at = inner, inner.name, None, None

    def generate(self, requests):
        self.started_at = time.perf_counter()
        yield from self.inner.generate(requests)
        self.done_at = time.perf_counter()  # the runner asks for more only after writing the last batch

    def close(self) -> None:
        self.inner.close()


def spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):7.2f} s  [{min(xs):.2f}, {max(xs):.2f}]"


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["vllm", "hf"], default="vllm")
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3, help="alternating pairs (at least 3)")
    ap.add_argument("--temperature", type=float, default=0.0,
                    help="0 (greedy): both paths generate the same tokens; the profile's own is 0.6")
    ap.add_argument("--quick", action="store_true", help="smoke sizes: 2 items, 1 sample, 16 tokens")
    args = ap.parse_args()
    if args.quick:
        args.items, args.samples, args.max_tokens = 2, 1, 16
    if args.repeats < 3:
        raise SystemExit(f"--repeats must be at least 3 (a median needs them), got {args.repeats}")

    from thinkgate.harness.backends import EngineConfig, make_backend
    from thinkgate.harness.models import prepare_default_model, resolve_model
    from thinkgate.harness.profiles import get_profile
    from thinkgate.harness.runner import RunConfig, evaluate, load_suites, load_tokenizer, plan_requests
    from thinkgate.harness.store import Store

    print(f"load average before: {loadavg()}", flush=True)
    prepare_default_model()
    model = resolve_model(None)
    tok = load_tokenizer(model)

    def config(out: str) -> RunConfig:
        return RunConfig(out=out, profile="generic", suites=("gsm8k",), samples=args.samples,
                         limit=args.items, max_tokens=args.max_tokens, backend=args.backend,
                         temperature=args.temperature,
                         engine=EngineConfig(batch_size=args.items * args.samples * 2))

    planned = plan_requests(config("unused"), model, get_profile("generic"), tok, load_suites(["math"]))
    requests = [p.engine for p in planned]
    t = time.perf_counter()
    inner = make_backend(args.backend, model.path, config("unused").engine)
    print(f"engine load: {time.perf_counter() - t:.1f} s ({args.backend}); {len(requests)} requests, "
          f"max {args.max_tokens} new tokens each, temperature {args.temperature:g}", flush=True)
    raw = raw_vllm if args.backend == "vllm" else raw_hf
    backend = GenerationClock(inner)

    def run_raw() -> dict:
        t0 = time.perf_counter()
        tokens = raw(inner, requests)
        return {"gen": time.perf_counter() - t0, "tokens": tokens}

    def run_thinkgate() -> dict:
        backend.started_at = backend.done_at = None
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            res = evaluate(config(d), backend=backend, progress=False, write_report=False)
            end = time.perf_counter()
            if res.generated != len(requests) or res.errors:
                raise SystemExit(f"thinkgate generated {res.generated}/{len(requests)}, {res.errors} errors")
            tokens = int(Store(d).items()["completion_tokens"].sum())
        return {"gen": backend.done_at - t0, "setup": backend.started_at - t0, "score": end - backend.done_at,
                "tokens": tokens}

    paths = {"raw": run_raw, "thinkgate": run_thinkgate}
    for name, fn in paths.items():  # warm-up at full batch, both paths, untimed
        r = fn()
        print(f"warm-up   {name:<9} {r['gen']:7.2f} s  ({r['tokens']} tokens)", flush=True)
    got: dict[str, list[dict]] = {"raw": [], "thinkgate": []}
    for rep in range(args.repeats):
        order = ("raw", "thinkgate") if rep % 2 == 0 else ("thinkgate", "raw")
        for name in order:
            r = paths[name]()
            got[name].append(r)
            extra = (f"; of which {r['setup']:.2f} s before the engine starts; scoring {r['score']:.2f} s apart"
                     if "score" in r else "")
            print(f"repeat {rep + 1}  {name:<9} {r['gen']:7.2f} s  ({r['tokens']} tokens, "
                  f"{r['tokens'] / r['gen']:.0f} tok/s{extra})", flush=True)

    gen = {k: [r["gen"] for r in v] for k, v in got.items()}
    rate = {k: [r["tokens"] / r["gen"] for r in v] for k, v in got.items()}
    ratio = statistics.median(gen["thinkgate"]) / statistics.median(gen["raw"])
    pairs = [t["gen"] / r["gen"] for t, r in zip(got["thinkgate"], got["raw"])]
    per_token = statistics.median(rate["raw"]) / statistics.median(rate["thinkgate"])
    print(f"\n{args.repeats} alternating pairs after a full-batch warm-up of each path; median [min, max]")
    print(f"raw engine        {spread(gen['raw'])}  ({statistics.median(rate['raw']):.0f} tok/s)")
    print(f"thinkgate runner  {spread(gen['thinkgate'])}  ({statistics.median(rate['thinkgate']):.0f} tok/s; "
          f"generation only)")
    print(f"thinkgate setup   {spread([r['setup'] for r in got['thinkgate']])}  (suites, tokenizer, render, "
          f"store: before the engine starts; in the ratio)")
    print(f"thinkgate scoring {spread([r['score'] for r in got['thinkgate']])}  (apart, not in the ratio)")
    print(f"ratio (wall)      {ratio:7.3f}  per pair {', '.join(f'{x:.3f}' for x in pairs)}  (goal <= 1.10)")
    print(f"ratio (per token) {per_token:7.3f}")
    print(f"load average after: {loadavg()}")
    print("BENCH " + json.dumps({
        "figure": f"engine overhead ({args.backend}): thinkgate runner / raw engine", "goal": "<= 1.10",
        "value": round(ratio, 3), "unit": "x raw wall", "pass": bool(ratio <= 1.10),
        "detail": (f"{len(requests)} requests, {args.max_tokens} max tokens, {args.repeats} pairs; pair ratios "
                   f"{min(pairs):.3f}-{max(pairs):.3f}; raw {statistics.median(gen['raw']):.2f} s, thinkgate "
                   f"{statistics.median(gen['thinkgate']):.2f} s (+ scoring "
                   f"{statistics.median([r['score'] for r in got['thinkgate']]):.2f} s apart)")}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
