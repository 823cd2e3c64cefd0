"""transformers engine: batched `generate` with left padding (the fallback engine).

Requests are grouped by sampling settings (one `generate` call takes one setting),
sorted by prompt length to waste little padding, and run `batch_size` at a time.
Sampling is seeded per batch from the first request's seed, so a sample is
reproducible for the same batch composition (vLLM's per-request seeds are stricter).
"""

from __future__ import annotations

import time
from itertools import groupby
from typing import Iterator, Sequence

from thinkgate.harness.backends.base import EngineConfig, EngineRequest, RawGeneration, error_generations
from thinkgate.harness.errors import UserError


class HFBackend:
    name = "hf"

    def __init__(self, model_path: str, config: EngineConfig):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise UserError(f"transformers backend needs torch and transformers ({e}); "
                            "run `pip install torch transformers`") from None
        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = config.dtype
        if dtype == "auto":  # bf16 matmuls are slow on most CPUs
            dtype = "bfloat16" if self.device == "cuda" else "float32"
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        self.model.to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.eos_ids.add(self.tokenizer.eos_token_id)
        self.config = config

    def generate(self, requests: Sequence[EngineRequest]) -> Iterator[list[RawGeneration]]:
        by_sampling = sorted(requests, key=lambda r: (_setting(r), len(r.prompt_token_ids)))
        for _, group in groupby(by_sampling, key=_setting):
            group = list(group)
            for start in range(0, len(group), self.config.batch_size):
                batch = group[start:start + self.config.batch_size]
                try:
                    yield self._generate_batch(batch)
                except Exception as e:  # OOM, a bad prompt: record, don't lose the run
                    yield error_generations(batch, e)

    def _generate_batch(self, batch: list[EngineRequest]) -> list[RawGeneration]:
        torch, s = self.torch, batch[0].sampling
        width = max(len(r.prompt_token_ids) for r in batch)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r.prompt_token_ids)) + list(r.prompt_token_ids) for r in batch])
        mask = torch.tensor([[0] * (width - len(r.prompt_token_ids)) + [1] * len(r.prompt_token_ids) for r in batch])
        sample = s.temperature > 0
        kwargs = dict(do_sample=sample, max_new_tokens=s.max_tokens, pad_token_id=pad,
                      eos_token_id=sorted(self.eos_ids))
        if sample:
            kwargs.update(temperature=s.temperature, top_p=s.top_p,
                          top_k=s.top_k if s.top_k > 0 else None, min_p=s.min_p or None)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if s.seed is not None:
            torch.manual_seed(s.seed)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs)
        latency = time.perf_counter() - t0
        results = []
        for r, row in zip(batch, out[:, width:].tolist()):
            stop = next((i for i, t in enumerate(row) if t in self.eos_ids), None)
            tokens = row if stop is None else row[:stop]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            reason = "stop" if stop is not None else "length"
            results.append(RawGeneration(r.key, text, reason, len(r.prompt_token_ids),
                                         len(tokens) + (stop is not None), latency))
        return results

    def close(self) -> None:
        self.model = None


def _setting(r: EngineRequest):
    s = r.sampling
    return (s.temperature, s.top_p, s.top_k, s.min_p, s.max_tokens)
