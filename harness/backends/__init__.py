"""Backends behind one contract (see base.py), chosen by name; heavy imports are lazy."""

from __future__ import annotations

import difflib

from thinkgate.harness.backends.base import Backend, EngineConfig, EngineRequest, RawGeneration
from thinkgate.harness.errors import UserError

BACKENDS = ("auto", "vllm", "hf", "openai")  # openai: built by the runner from its --base-url settings


def resolve_backend_name(name: str) -> str:
    """`auto` -> "vllm" when vLLM is importable, else "hf"."""
    if name not in BACKENDS:
        close = difflib.get_close_matches(name, BACKENDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserError(f"unknown backend '{name}'{hint}; backends: {', '.join(BACKENDS)}")
    if name == "auto":
        from thinkgate.harness.backends.vllm_backend import vllm_available

        return "vllm" if vllm_available() else "hf"
    return name


def make_backend(name: str, model_path: str, config: EngineConfig) -> Backend:
    name = resolve_backend_name(name)
    if name == "vllm":
        from thinkgate.harness.backends.vllm_backend import VLLMBackend

        return VLLMBackend(model_path, config)
    from thinkgate.harness.backends.hf_backend import HFBackend

    return HFBackend(model_path, config)


__all__ = ["BACKENDS", "Backend", "EngineConfig", "EngineRequest", "RawGeneration",
           "make_backend", "resolve_backend_name"]
