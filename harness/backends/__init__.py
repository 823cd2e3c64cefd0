"""Backends behind one contract (see base.py), in one registry; heavy imports are lazy.

    BACKENDS.get("vllm").factory(model_path, EngineConfig(...)) -> Backend

A third-party package adds a backend through the `thinkgate.backends` entry point group
(the entry point names a `BackendSpec`), or calls `BACKENDS.register(name, spec)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from thinkgate.harness.backends.base import Backend, EngineConfig, EngineRequest, RawGeneration
from thinkgate.harness.errors import UserError
from thinkgate.tasks.plugins import Registry


@dataclass(frozen=True)
class BackendSpec:
    """`factory(model, engine_config)`: model is a local folder (local engines) or the served
    model's name (`served`: a server applies the chat template; no local tokenizer needed)."""

    name: str
    factory: Callable[[str, EngineConfig], Backend]
    description: str
    served: bool = False


BACKENDS: Registry[BackendSpec] = Registry("backend", entry_points="thinkgate.backends")


def _vllm(model: str, config: EngineConfig) -> Backend:
    from thinkgate.harness.backends.vllm_backend import VLLMBackend

    return VLLMBackend(model, config)


def _hf(model: str, config: EngineConfig) -> Backend:
    from thinkgate.harness.backends.hf_backend import HFBackend

    return HFBackend(model, config)


def _auto(model: str, config: EngineConfig) -> Backend:
    return BACKENDS.get(resolve_backend_name("auto")).factory(model, config)


def _openai(model: str, config: EngineConfig) -> Backend:
    if not config.base_urls:
        raise UserError("--backend openai needs --base-url URL[,URL...] (the server(s) of the served model)")
    try:
        from thinkgate.harness.backends.openai_backend import OpenAIConfig, make_openai_backend
    except ImportError as e:
        raise UserError(f"the openai backend needs aiohttp ({e}); run `pip install aiohttp`") from None
    return make_openai_backend(model, OpenAIConfig(base_urls=config.base_urls, api_key_env=config.api_key_env,
                                                   concurrency=config.concurrency, timeout_s=config.request_timeout,
                                                   send_seed=config.send_seed))


for _spec in (
    BackendSpec("auto", _auto, "vLLM when importable, else transformers"),
    BackendSpec("vllm", _vllm, "vLLM in-process: one generate() over every pending request"),
    BackendSpec("hf", _hf, "transformers generate(), batched, left padding (the fallback engine)"),
    BackendSpec("openai", _openai, "a served model over the OpenAI-compatible chat API (--base-url)", served=True),
):
    BACKENDS.register(_spec.name, _spec)


def resolve_backend_name(name: str) -> str:
    """`auto` -> "vllm" when vLLM is importable, else "hf"; an unknown name says what exists."""
    BACKENDS.get(name)
    if name == "auto":
        from thinkgate.harness.backends.vllm_backend import vllm_available

        return "vllm" if vllm_available() else "hf"
    return name


def make_backend(name: str, model: str, config: EngineConfig) -> Backend:
    """The backend called `name` for `model` (a local folder, or a served model's name)."""
    return BACKENDS.get(name).factory(model, config)


def is_served(name: str) -> bool:
    return BACKENDS.get(name).served


__all__ = ["BACKENDS", "Backend", "BackendSpec", "EngineConfig", "EngineRequest", "RawGeneration",
           "is_served", "make_backend", "resolve_backend_name"]
