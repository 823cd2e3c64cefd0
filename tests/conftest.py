"""Shared fixtures. The real tiny model is the embedded default (converted once, cached)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

from thinkgate.harness.backends.base import EngineRequest, RawGeneration

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    from thinkgate.harness.models import prepare_default_model

    return prepare_default_model()


@pytest.fixture(scope="session")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


class ScriptedBackend:
    """A fake engine for unit tests of the runner: answers from a function of the request.
    Never a default, never a demo: real runs use vLLM or transformers."""

    name = "scripted"

    def __init__(self, answer: Callable[[EngineRequest], RawGeneration | str], batch: int = 4):
        self.answer, self.batch, self.calls = answer, batch, []

    def generate(self, requests: Sequence[EngineRequest]) -> Iterator[list[RawGeneration]]:
        self.calls.append([r.key for r in requests])
        for i in range(0, len(requests), self.batch):
            out = []
            for r in requests[i:i + self.batch]:
                a = self.answer(r)
                out.append(a if isinstance(a, RawGeneration) else
                           RawGeneration(r.key, a, "stop", len(r.prompt_token_ids), 3, 0.01))
            yield out

    def close(self) -> None:
        pass


@pytest.fixture
def scripted():
    return ScriptedBackend


def run_cli(*args: str, env: dict | None = None, timeout: int = 600, pre: str = ""):
    """Run `thinkgate ARGS` in a fresh interpreter; `pre` is Python run first (to hide a package)."""
    import subprocess

    code = f"{pre}\nimport sys\nfrom thinkgate.harness.cli import main\nsys.argv = ['thinkgate', *{list(args)!r}]\nmain()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
