"""The proxy's budget arms: a many-arm router (or the client) picks budget:N, and the proxy
forces it against the upstream in passes built by the one request builder."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, Request

from thinkgate.harness.proxy import ProxyConfig, background_server, create_app


def thinker_upstream(seen: list[dict]) -> FastAPI:
    """Thinks forever (`step step ...` up to max_tokens, cut); after a forced close it answers."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        seen.append(body)
        last = body["messages"][-1]
        if last["role"] == "assistant" and last["content"].endswith("</think>\n\n"):
            text, finish = "The answer is 7.", "stop"
        else:
            text, finish = " ".join(["step"] * body["max_tokens"]), "length"
        return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 9, "completion_tokens": len(text.split()), "total_tokens": 0}}

    return app


class ArmRouter:
    """Three arms; long prompts get budget:8."""

    threshold = 0.0
    meta = {"name": "arms"}
    arms = ["no_think", "budget:8", "think"]

    def score(self, texts):
        return np.array([0.5 for _ in texts])

    def choose(self, texts):
        return ["budget:8" if len(t) > 10 else "no_think" for t in texts]


@pytest.fixture
def served():
    seen: list[dict] = []
    with background_server(thinker_upstream(seen)) as up:
        app = create_app(ProxyConfig(upstream=f"{up}/v1", profile="generic", model="m"), router=ArmRouter())
        with background_server(app) as url:
            yield url, seen


def test_a_many_arm_router_routes_to_a_budget_and_the_proxy_forces_it(served):
    url, seen = served
    r = httpx.post(f"{url}/v1/chat/completions", timeout=30,
                   json={"model": "c", "max_tokens": 40, "messages": [{"role": "user", "content": "a long question?"}]})
    assert r.status_code == 200, r.text
    assert r.headers["x-thinkgate-route"] == "budget:8" and r.headers["x-thinkgate-closed-by"] == "forced"
    msg = r.json()["choices"][0]["message"]
    assert msg["content"] == "The answer is 7." and "Considering the limited time" in msg["reasoning_content"]
    assert [b["max_tokens"] for b in seen] == [8, 40 - 8]  # thinking capped at N, the answer gets the rest
    assert seen[1]["continue_final_message"] is True and seen[1]["messages"][-1]["content"].startswith("<think>\nstep")


def test_a_client_can_force_a_budget_and_stream(served):
    url, seen = served
    r = httpx.post(f"{url}/v1/chat/completions", timeout=30, headers={"x-thinkgate-mode": "budget:4"},
                   json={"model": "c", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert '"content": "The answer is 7."' in r.text and r.text.rstrip().endswith("data: [DONE]")
    assert seen[0]["max_tokens"] == 4


def test_a_malformed_forced_budget_is_a_400(served):
    url, _ = served
    r = httpx.post(f"{url}/v1/chat/completions", timeout=30, headers={"x-thinkgate-mode": "budget:0"},
                   json={"model": "c", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and "budget:N" in r.json()["error"]["message"]


def test_the_short_prompt_stays_on_the_plain_path(served):
    url, seen = served
    r = httpx.post(f"{url}/v1/chat/completions", timeout=30,
                   json={"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.headers["x-thinkgate-route"] == "no_think" and len(seen) == 1
