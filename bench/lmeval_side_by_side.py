"""thinkgate vs lm-evaluation-harness's vLLM backend, same GSM8K items, one run.

Both harnesses read the same GSM8K items (the first `--items` of thinkgate's bundled
test set) through the same lm-eval task (a local YAML, `dataset_path: json`, zero-shot,
`Question: ...\\nAnswer:`) and apply the model's chat template, so the prompts are the
same token ids (checked, not assumed). Both decode greedily (temperature 0) with the
same `--max-tokens` and stop only at the end-of-turn token (the task's until is that
token alone, since thinkgate has no stop strings). Each harness builds its own vLLM
engine on the embedded model the way a user's command would (lm-eval: `VLLM(pretrained,
dtype="auto", batch_size="auto")`; thinkgate: `make_backend("vllm")`), both in this
process, each loaded once and timed apart.

Timed, per pass (engine load excluded, everything else in):
- lm-eval: `simple_evaluate(model=<the VLLM LM>, tasks=[...], task_manager=TaskManager(...))`
  (task build, requests, generate_until, filters, exact_match);
- thinkgate: `evaluate(RunConfig(suites=("lmeval:...",), modes=("default",)), backend=...)`
  into a fresh run directory (task load, render, store, generate, parse, score; no report).
Each engine first runs one full pass (warm-up: allocator, prefix cache); then `--repeats`
alternating pairs (lm-eval/thinkgate, thinkgate/lm-eval, ...). Generated tokens are
counted the same way for both: the engine's output token ids (`len(output.token_ids)`).
Prints wall and generated tokens/s per harness (median and range), the time spent inside
the engine, and the wall ratio thinkgate / lm-eval (goal: <= 0.85).

    .venv/bin/python bench/lmeval_side_by_side.py [--items 32] [--max-tokens 256] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from importlib import metadata, resources
from pathlib import Path

TASK = "thinkgate_bench_gsm8k"
YAML = """task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{answer.split('#### ')[-1]}}}}"
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
generation_kwargs:
  until: ["{eos}"]
  do_sample: false
  temperature: 0.0
  max_gen_toks: {max_tokens}
filter_list:
  - name: flexible-extract
    filter:
      - function: regex
        group_select: -1
        regex_pattern: "(-?[$0-9.,]{{2,}})|(-?[0-9]+)"
      - function: take_first
"""


def cpu_env() -> None:
    """vLLM's CPU recipe, before vllm is imported (the runner sets the same defaults)."""
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")


def make_vllm_version_resolvable() -> str:
    """lm-eval's vllm backend calls importlib.metadata.version("vllm") at import time and
    in VLLM.__init__; the CPU build is distributed as `vllm-cpu`, so that lookup raises
    PackageNotFoundError although `import vllm` works. Answer "vllm" with vllm-cpu's
    version, in this process only (lm_eval.models.vllm_causallms binds `version` when
    imported, so this must run first)."""
    real = metadata.version
    try:
        return real("vllm")
    except metadata.PackageNotFoundError:
        pass
    cpu_version = real("vllm-cpu")
    metadata.version = lambda name: cpu_version if name == "vllm" else real(name)
    return f"{cpu_version} (vllm-cpu, resolved as 'vllm' for lm-eval)"


def write_task(folder: Path, n: int, max_tokens: int, eos: str) -> Path:
    src = resources.files("thinkgate.tasks") / "data" / "gsm8k" / "test.jsonl"
    lines = src.read_text(encoding="utf-8").splitlines()[:n]
    data = folder / "gsm8k_head.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tasks = folder / "tasks"
    tasks.mkdir()
    (tasks / f"{TASK}.yaml").write_text(YAML.format(task=TASK, data=data, eos=eos, max_tokens=max_tokens))
    return tasks


class EngineMeter:
    """Wraps one harness's call into its engine: time inside, prompts seen, tokens out."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.seconds, self.tokens, self.by_prompt = 0.0, 0, {}

    def record(self, prompt_ids, n_tokens: int) -> None:
        self.tokens += n_tokens
        self.by_prompt[tuple(prompt_ids)] = n_tokens


def meter_lmeval(lm, meter: EngineMeter) -> None:
    inner = lm._model_generate

    def generate(requests, generate=False, sampling_params=None):
        t0 = time.perf_counter()
        outs = inner(requests=requests, generate=generate, sampling_params=sampling_params)
        meter.seconds += time.perf_counter() - t0
        if generate:
            for o in outs:
                meter.record(o.prompt_token_ids, len(o.outputs[0].token_ids))
        return outs

    lm._model_generate = generate


class MeteredBackend:
    """thinkgate's backend with the time spent inside `generate` (the engine) counted."""

    def __init__(self, inner, meter: EngineMeter):
        self.inner, self.meter, self.name = inner, meter, inner.name

    def generate(self, requests):
        ids = {r.key: r.prompt_token_ids for r in requests}
        it = iter(self.inner.generate(requests))
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                self.meter.seconds += time.perf_counter() - t0
                return
            self.meter.seconds += time.perf_counter() - t0
            for g in batch:
                self.meter.record(ids[g.key], g.completion_tokens)
            yield batch

    def close(self) -> None:
        self.inner.close()


def run_lmeval(lm, tasks_dir: Path) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    t0 = time.perf_counter()
    out = simple_evaluate(model=lm, tasks=[TASK], task_manager=TaskManager(include_path=str(tasks_dir)),
                          num_fewshot=0, apply_chat_template=True, log_samples=False)
    wall = time.perf_counter() - t0
    score = out["results"][TASK].get("exact_match,flexible-extract")
    return {"wall": wall, "score": score}


def run_thinkgate(backend, tasks_dir: Path, n: int, max_tokens: int) -> dict:
    from thinkgate.harness.runner import RunConfig, evaluate
    from thinkgate.harness.store import Store

    with tempfile.TemporaryDirectory() as d:
        cfg = RunConfig(out=d, profile="generic", suites=(f"lmeval:{TASK}",), modes=("default",),
                        samples=1, max_tokens=max_tokens, temperature=0.0, top_p=1.0,
                        lmeval_include=str(tasks_dir))
        t0 = time.perf_counter()
        res = evaluate(cfg, backend=backend, progress=False, write_report=False)
        wall = time.perf_counter() - t0
        items = Store(d).items()
    if res.generated != n or res.errors:
        raise SystemExit(f"thinkgate generated {res.generated}/{n} with {res.errors} errors")
    return {"wall": wall, "score": float(items["score"].mean())}


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.2f}  [{min(xs):.2f}, {max(xs):.2f}]"


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def load_engines(max_tokens: int):
    """lm-eval's VLLM LM and thinkgate's vLLM backend on the embedded model, each as its
    harness builds it; returns (lm, backend, load seconds, dtypes)."""
    from lm_eval.models.vllm_causallms import VLLM

    from thinkgate.harness.backends import EngineConfig, make_backend
    from thinkgate.harness.models import prepare_default_model, resolve_model

    prepare_default_model()
    model = resolve_model(None)
    t0 = time.perf_counter()
    lm = VLLM(pretrained=model.path, dtype="auto", batch_size="auto", max_gen_toks=max_tokens, seed=0,
              enforce_eager=True)
    t1 = time.perf_counter()
    backend = make_backend("vllm", model.path, EngineConfig(seed=0))
    loads = (t1 - t0, time.perf_counter() - t1)
    dtypes = (str(lm.model.llm_engine.model_config.dtype), str(backend.llm.llm_engine.model_config.dtype))
    return lm, backend, loads, dtypes


def alternate(runs: dict, meters: dict, repeats: int) -> dict[str, list[dict]]:
    """One untimed full pass each, then `repeats` pairs in alternating order."""
    for name in runs:
        meters[name].reset()
        r = runs[name]()
        print(f"warm-up   {name:<9} {r['wall']:7.2f} s  {meters[name].tokens} tokens", flush=True)
    got: dict[str, list[dict]] = {name: [] for name in runs}
    names = list(runs)
    for rep in range(repeats):
        for name in names if rep % 2 == 0 else names[::-1]:
            meters[name].reset()
            r = runs[name]()
            m = meters[name]
            r.update(tokens=m.tokens, engine=m.seconds, by_prompt=dict(m.by_prompt))
            got[name].append(r)
            print(f"repeat {rep + 1}  {name:<9} {r['wall']:7.2f} s  {m.tokens} tokens  "
                  f"({m.tokens / r['wall']:.0f} tok/s; engine {m.seconds:.2f} s)", flush=True)
    return got


def summarize(got: dict[str, list[dict]], args, dtypes: tuple[str, str]) -> str:
    """Print the table; return the BENCH line."""
    le, tgr = got["lm-eval"][-1], got["thinkgate"][-1]
    same_prompts = set(le["by_prompt"]) == set(tgr["by_prompt"])
    same_lengths = sum(le["by_prompt"].get(p) == n for p, n in tgr["by_prompt"].items())
    med = {k: {f: statistics.median(r[f] for r in v) for f in ("wall", "engine")} for k, v in got.items()}
    rate = {k: statistics.median(r["tokens"] / r["wall"] for r in v) for k, v in got.items()}
    pairs = [t["wall"] / x["wall"] for t, x in zip(got["thinkgate"], got["lm-eval"])]
    ratio = med["thinkgate"]["wall"] / med["lm-eval"]["wall"]
    print(f"\n{args.items} GSM8K items, greedy, max {args.max_tokens} new tokens, zero-shot, chat template; "
          f"{args.repeats} alternating pairs after a full warm-up pass each; median [min, max]")
    print(f"prompts identical (token ids): {same_prompts} ({len(tgr['by_prompt'])} distinct); "
          f"same output length on {same_lengths}/{len(tgr['by_prompt'])} prompts; "
          f"tokens last pass: lm-eval {le['tokens']}, thinkgate {tgr['tokens']}; dtype {dtypes[0]} / {dtypes[1]}")
    for k, v in got.items():
        print(f"{k:<10} wall {spread([r['wall'] for r in v])} s   {rate[k]:6.0f} tok/s   "
              f"engine {spread([r['engine'] for r in v])} s   score {v[-1]['score']}")
    print(f"ratio thinkgate/lm-eval (wall, medians) {ratio:.3f}; per pair {', '.join(f'{x:.3f}' for x in pairs)}"
          f" (goal <= 0.85)")
    return "BENCH " + json.dumps({
        "figure": "thinkgate vs lm-eval vLLM, wall on equal GSM8K work", "goal": "<= 0.85",
        "value": round(ratio, 3), "unit": "x lm-eval wall", "pass": bool(ratio <= 0.85 and same_prompts),
        "detail": (f"{args.items} items, {args.max_tokens} max tokens, {args.repeats} pairs; lm-eval "
                   f"{med['lm-eval']['wall']:.2f} s ({med['lm-eval']['engine']:.2f} s in the engine) "
                   f"{rate['lm-eval']:.0f} tok/s, thinkgate {med['thinkgate']['wall']:.2f} s "
                   f"({med['thinkgate']['engine']:.2f} s in the engine) {rate['thinkgate']:.0f} tok/s; "
                   f"prompts identical: {same_prompts}; same output length {same_lengths}/{len(tgr['by_prompt'])}; "
                   f"dtype {dtypes[0]} / {dtypes[1]}")})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3, help="alternating pairs after the warm-up")
    ap.add_argument("--quick", action="store_true", help="smoke sizes: 4 items, 32 tokens, 1 pair")
    args = ap.parse_args()
    if args.quick:
        args.items, args.max_tokens, args.repeats = 4, 32, 1

    cpu_env()
    vllm_version = make_vllm_version_resolvable()
    import logging

    from thinkgate.harness.runner import evaluate  # noqa: F401  (fail here, not after two engine loads)

    for name in ("lm-eval", "lm_eval"):
        logging.getLogger(name).setLevel(logging.WARNING)
    print(f"load average before: {loadavg()}; vllm {vllm_version}; lm-eval {metadata.version('lm_eval')}", flush=True)
    lm, backend, loads, dtypes = load_engines(args.max_tokens)
    print(f"engine load: lm-eval {loads[0]:.1f} s ({dtypes[0]}), thinkgate {loads[1]:.1f} s ({dtypes[1]})", flush=True)
    meters = {"lm-eval": EngineMeter(), "thinkgate": EngineMeter()}
    meter_lmeval(lm, meters["lm-eval"])
    tg = MeteredBackend(backend, meters["thinkgate"])
    with tempfile.TemporaryDirectory() as d:
        tasks_dir = write_task(Path(d), args.items, args.max_tokens, lm.tokenizer.decode(lm.eot_token_id))
        got = alternate({"lm-eval": lambda: run_lmeval(lm, tasks_dir),
                         "thinkgate": lambda: run_thinkgate(tg, tasks_dir, args.items, args.max_tokens)},
                        meters, args.repeats)
    line = summarize(got, args, dtypes)
    print(f"load average after: {loadavg()}")
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
