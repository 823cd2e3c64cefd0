"""How much does thinkgate add on top of the raw engine?

The same requests (the embedded model, GSM8K prompts rendered by the `generic` profile in
think and no_think modes) go once through the raw engine and once through thinkgate's
runner (render, key, store, generate, parse, token-count, write; scoring and the report
are timed apart). Both use one already-loaded engine, after a warm-up call, in
alternating order. Prints both wall times and the ratio (goal: <= 1.10).

    python bench/engine_overhead.py --backend vllm --items 16 --samples 2 --max-tokens 128
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")


def raw_vllm(backend, requests):
    from vllm import SamplingParams

    prompts = [{"prompt_token_ids": list(r.prompt_token_ids)} for r in requests]
    params = [SamplingParams(temperature=r.sampling.temperature, top_p=r.sampling.top_p,
                             max_tokens=r.sampling.max_tokens,
                             seed=r.sampling.seed if backend.per_request_seed else None)
              for r in requests]
    out = backend.llm.generate(prompts, params, use_tqdm=False)
    return sum(len(o.outputs[0].token_ids) for o in out)


def raw_hf(backend, requests):
    # the transformers engine's own batched generate, without the runner around it
    return sum(g.completion_tokens for batch in backend.generate(requests) for g in batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["vllm", "hf"], default="vllm")
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from thinkgate.harness.backends import EngineConfig, make_backend
    from thinkgate.harness.models import resolve_model
    from thinkgate.harness.profiles import get_profile
    from thinkgate.harness.runner import RunConfig, evaluate, load_suites, load_tokenizer, plan_requests
    from thinkgate.harness.store import Store

    model = resolve_model(None)
    tok = load_tokenizer(model)

    def config(out: str) -> RunConfig:
        return RunConfig(out=out, profile="generic", suites=("math",), samples=args.samples,
                         limit=args.items, max_tokens=args.max_tokens, backend=args.backend,
                         engine=EngineConfig(batch_size=args.items * args.samples * 2))

    planned = plan_requests(config("unused"), model, get_profile("generic"), tok, load_suites(["math"]))
    requests = [p.engine for p in planned]
    t = time.perf_counter()
    backend = make_backend(args.backend, model.path, config("unused").engine)
    print(f"engine load: {time.perf_counter() - t:.1f} s ({args.backend}); {len(requests)} requests, "
          f"max {args.max_tokens} new tokens each", flush=True)
    raw = raw_vllm if args.backend == "vllm" else raw_hf
    raw(backend, requests[:4])  # warm-up

    raw_times, tg_times, raw_rates, tg_rates, tokens = [], [], [], [], 0
    for rep in range(args.repeats):
        t = time.perf_counter()
        tokens = raw(backend, requests)
        raw_times.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            res = evaluate(config(d), backend=backend, progress=False, write_report=False)
            tg_times.append(time.perf_counter() - t)
            assert res.generated == len(requests) and res.errors == 0
            tg_tokens = int(Store(d).items()["completion_tokens"].sum())
        raw_rates.append(tokens / raw_times[-1])
        tg_rates.append(tg_tokens / tg_times[-1])
        print(f"repeat {rep}: raw {raw_times[-1]:.1f} s ({tokens} tokens), thinkgate {tg_times[-1]:.1f} s "
              f"({tg_tokens} tokens; scoring included)", flush=True)
    r, g = min(raw_times), min(tg_times)
    # Sampling makes the two runs stop at different lengths, so the per-token ratio is shown too.
    print(f"\nraw engine       {r:7.1f} s  best of {args.repeats}  ({max(raw_rates):.0f} tok/s)")
    print(f"thinkgate runner {g:7.1f} s  best of {args.repeats}  ({max(tg_rates):.0f} tok/s)")
    print(f"ratio (wall)     {g / r:7.3f}  (goal <= 1.10)")
    print(f"ratio (per token){max(raw_rates) / max(tg_rates):7.3f}")


if __name__ == "__main__":
    sys.exit(main())
