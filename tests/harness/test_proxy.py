"""The routing proxy against an in-process fake upstream that echoes what it received."""

import asyncio
import contextlib
import json
import logging
import socket
import time

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from thinkgate.harness.errors import UserError
from thinkgate.harness.profiles import DIRECT_SYSTEM, NO_THINKING_PREFILL, R1_ZERO_SYSTEM, get_profile
from thinkgate.harness.http_util import openai_base_url, scrub
from thinkgate.harness.proxy import ProxyConfig, apply_switch, background_server, create_app, forced_mode

PIECES = ["al", "pha", " beta"]
STREAM_GAP = 0.25  # seconds the fake upstream waits between stream chunks


class DigitRouter:
    """A stand-in router: thinking pays when the prompt has a digit."""

    threshold = 0.5
    meta = {"name": "digits", "trained_on": "nothing", "features": ["digit"]}

    def score(self, texts):
        return np.array([0.9 if any(c.isdigit() for c in t) else 0.1 for t in texts])


def _chunk(content):
    return "data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 0,
                                  "model": "fake", "choices": [{"index": 0, "delta": {"content": content},
                                                                "finish_reason": None}]}) + "\n\n"


def fake_upstream() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        if user.startswith("FAIL "):
            code = int(user.split()[1])
            return JSONResponse({"error": {"message": f"upstream refuses with {code}"}}, status_code=code,
                                headers={"retry-after": "7"} if code == 429 else {})
        if body.get("stream"):
            async def gen():
                for p in PIECES:
                    yield _chunk(p)
                    await asyncio.sleep(STREAM_GAP)
                yield "data: [DONE]\n\n"
            return StreamingResponse(gen(), media_type="text/event-stream")
        return {"id": "c1", "object": "chat.completion", "created": 0, "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                "echo": {"body": body, "authorization": request.headers.get("authorization")}}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0,
                                            "owned_by": "test"}]}

    return app


@pytest.fixture(scope="module")
def upstream():
    with background_server(fake_upstream()) as url:
        yield url


@pytest.fixture
def proxy(upstream):
    """proxy(**config) -> the base URL of a running proxy in front of the fake upstream."""
    with contextlib.ExitStack() as stack:
        def start(router=None, **cfg):
            cfg.setdefault("upstream", upstream + "/v1")
            app = create_app(ProxyConfig(**cfg), router or DigitRouter())
            return stack.enter_context(background_server(app))
        yield start


def chat(url, content="What is 2+3?", headers=None, **body):
    body = {"model": "m", "messages": [{"role": "user", "content": content}], **body}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_routes_by_score_and_applies_the_generic_switch(proxy):
    url = proxy(profile="generic")
    r = chat(url, "What is 2+3?")
    assert r.status_code == 200
    assert (r.headers["x-thinkgate-route"], r.headers["x-thinkgate-score"]) == ("think", "0.9000")
    assert "x-thinkgate-forced" not in r.headers
    sent = r.json()["echo"]["body"]
    assert sent["messages"][0] == {"role": "system", "content": R1_ZERO_SYSTEM}
    assert sent["messages"][-1] == {"role": "assistant", "content": "<think>\n"}
    assert (sent["continue_final_message"], sent["add_generation_prompt"]) == (True, False)

    r = chat(url, "Say hello")
    assert (r.headers["x-thinkgate-route"], r.headers["x-thinkgate-score"]) == ("no_think", "0.1000")
    sent = r.json()["echo"]["body"]
    assert sent["messages"] == [{"role": "system", "content": DIRECT_SYSTEM},
                                {"role": "user", "content": "Say hello"}]
    assert "continue_final_message" not in sent and "add_generation_prompt" not in sent


@pytest.mark.parametrize("how", ["header", "body"])
@pytest.mark.parametrize("mode", ["think", "no_think"])
def test_client_forces_a_mode(proxy, how, mode):
    url = proxy(profile="qwen3")
    prompt = "Say hello" if mode == "think" else "What is 2+3?"  # the router would pick the other
    r = chat(url, prompt, headers={"x-thinkgate-mode": mode} if how == "header" else None,
             **({"thinkgate_mode": mode} if how == "body" else {}))
    assert r.status_code == 200
    assert (r.headers["x-thinkgate-route"], r.headers["x-thinkgate-forced"]) == (mode, "1")
    sent = r.json()["echo"]["body"]
    assert "thinkgate_mode" not in sent
    assert sent["chat_template_kwargs"] == {"enable_thinking": mode == "think"}


def test_auto_lets_the_router_decide_and_bad_modes_are_400(proxy):
    url = proxy()
    r = chat(url, headers={"x-thinkgate-mode": "auto"})
    assert r.headers["x-thinkgate-route"] == "think" and "x-thinkgate-forced" not in r.headers
    r = chat(url, headers={"x-thinkgate-mode": "maybe"})
    assert r.status_code == 400 and "think, no_think, auto" in r.json()["error"]["message"]
    r = chat(url, headers={"x-thinkgate-mode": "think"}, thinkgate_mode="no_think")
    assert r.status_code == 400 and "disagree" in r.json()["error"]["message"]


def test_qwen3_kwargs_merge_into_the_clients_own(proxy):
    url = proxy(profile="qwen3")
    r = chat(url, "Say hello", chat_template_kwargs={"custom": 1, "enable_thinking": True})
    sent = r.json()["echo"]["body"]
    assert sent["chat_template_kwargs"] == {"custom": 1, "enable_thinking": False}
    assert sent["messages"] == [{"role": "user", "content": "Say hello"}]
    assert "continue_final_message" not in sent


def test_r1_prefill_with_continue_final_message(proxy):
    url = proxy(profile="deepseek-r1")
    body = {"messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "Say "},
                                                      {"type": "text", "text": "hello"}]}]}
    sent = httpx.post(url + "/v1/chat/completions", json=body).json()["echo"]["body"]
    assert sent["messages"] == [{"role": "user", "content": "Be brief.\n\nSay hello"},
                                {"role": "assistant", "content": NO_THINKING_PREFILL}]
    assert (sent["continue_final_message"], sent["add_generation_prompt"]) == (True, False)
    sent = chat(url, "What is 2+3?").json()["echo"]["body"]
    assert sent["messages"][-1] == {"role": "assistant", "content": "<think>\n"}


def test_threshold_override_and_model_override(proxy):
    url = proxy(threshold=0.95, model="served-name")
    r = chat(url, "What is 2+3?")
    assert r.headers["x-thinkgate-route"] == "no_think"
    assert r.json()["echo"]["body"]["model"] == "served-name"


def test_streaming_passes_chunks_in_order_as_they_arrive(proxy):
    url = proxy()
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "1+1?"}]}
    t0, arrivals = time.perf_counter(), []
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=10) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-thinkgate-route"] == "think"
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.perf_counter() - t0, line[6:]))
    assert arrivals[-1][1] == "[DONE]"
    pieces = [json.loads(d)["choices"][0]["delta"]["content"] for _, d in arrivals[:-1]]
    assert pieces == PIECES
    # the first chunk came before the upstream had finished: relayed, not buffered
    assert arrivals[-1][0] - arrivals[0][0] > 2 * STREAM_GAP * 0.8


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("code", [500, 429])
def test_upstream_errors_pass_through(proxy, code, stream):
    r = chat(proxy(), f"FAIL {code}", stream=stream)
    assert r.status_code == code
    assert r.json() == {"error": {"message": f"upstream refuses with {code}"}}
    assert r.headers["x-thinkgate-route"] == "think"  # "FAIL 500" has digits
    if code == 429:
        assert r.headers["retry-after"] == "7"


@pytest.mark.parametrize("body,says", [
    (b"{not json", "not valid JSON"),
    ([1, 2], "JSON object"),
    ({"model": "m"}, "non-empty list"),
    ({"messages": "hi"}, "non-empty list"),
    ({"messages": [{"content": "hi"}]}, "messages[0] must be an object"),
    ({"messages": [{"role": "system", "content": "be nice"}]}, "no user turn"),
    ({"messages": [{"role": "user", "content": None}]}, "has no content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "text parts"),
])
def test_bad_body_is_400_with_a_reason(proxy, body, says):
    url = proxy()
    kw = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) \
        else {"json": body}
    r = httpx.post(url + "/v1/chat/completions", **kw)
    assert r.status_code == 400
    assert says in r.json()["error"]["message"]


def test_unreachable_upstream_is_502_and_health_says_so(proxy):
    url = proxy(upstream=f"http://127.0.0.1:{free_port()}/v1", timeout=5)
    r = chat(url)
    assert r.status_code == 502 and "unreachable" in r.json()["error"]["message"]
    h = httpx.get(url + "/health")
    assert h.status_code == 503 and h.json()["upstream"]["reachable"] is False


def test_health_and_models(proxy):
    url = proxy(profile="qwen3")
    h = httpx.get(url + "/health").json()
    assert h["ok"] is True and h["profile"] == "qwen3"
    assert h["router"] == {"kind": "DigitRouter", "threshold": 0.5, "name": "digits", "trained_on": "nothing"}
    assert httpx.get(url + "/v1/models").json()["data"][0]["id"] == "fake-model"


def test_openai_client_works_unchanged(proxy):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=proxy(profile="qwen3") + "/v1", api_key="client-key", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "Say hello"}], extra_body={"thinkgate_mode": "think"})
    assert raw.headers["x-thinkgate-route"] == "think" and raw.headers["x-thinkgate-forced"] == "1"
    assert raw.parse().choices[0].message.content == "ok"
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "2+2"}],
                                            stream=True)
    assert [c.choices[0].delta.content for c in stream] == PIECES
    assert [m.id for m in client.models.list()] == ["fake-model"]
    with pytest.raises(openai.BadRequestError, match="no user turn"):
        client.chat.completions.create(model="m", messages=[{"role": "system", "content": "x"}])
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "FAIL 429"}])


def test_api_key_is_forwarded_but_never_shown(proxy, monkeypatch, caplog):
    secret = "sk-planted-0123456789"
    monkeypatch.setenv("TG_TEST_UPSTREAM_KEY", secret)
    caplog.set_level(logging.DEBUG, logger="thinkgate.proxy")
    url = proxy(api_key_env="TG_TEST_UPSTREAM_KEY")
    r = chat(url, headers={"authorization": "Bearer client-key"})
    assert r.json()["echo"]["authorization"] == f"Bearer {secret}"
    dead = proxy(api_key_env="TG_TEST_UPSTREAM_KEY", upstream=f"http://127.0.0.1:{free_port()}/v1")
    for resp in (chat(dead), httpx.get(dead + "/health"), chat(url, "FAIL 500"),
                 httpx.post(url + "/v1/chat/completions", json={"messages": []})):
        assert resp.status_code >= 400 and secret not in resp.text and secret not in str(resp.headers)
    assert secret not in caplog.text
    monkeypatch.delenv("TG_TEST_UPSTREAM_KEY")
    with pytest.raises(UserError, match="TG_TEST_UPSTREAM_KEY is empty or unset"):
        create_app(ProxyConfig("http://x/v1", api_key_env="TG_TEST_UPSTREAM_KEY"), DigitRouter())


def test_without_a_key_the_clients_authorization_passes(proxy):
    r = chat(proxy(), headers={"authorization": "Bearer client-key"})
    assert r.json()["echo"]["authorization"] == "Bearer client-key"


def test_config_errors_say_what_to_do():
    with pytest.raises(UserError, match="--router PATH"):
        create_app(ProxyConfig("http://x/v1"))
    with pytest.raises(UserError, match="did you mean 'qwen3'"):
        create_app(ProxyConfig("http://x/v1", profile="qwen"), DigitRouter())
    with pytest.raises(UserError, match="outside"):
        create_app(ProxyConfig("http://x/v1", threshold=1.5), DigitRouter())
    with pytest.raises(UserError, match="not an http"):
        create_app(ProxyConfig("x:8000"), DigitRouter())


def test_pure_helpers():
    assert openai_base_url("http://h:8000") == "http://h:8000/v1"
    assert openai_base_url("https://h/api/v1/") == "https://h/api/v1"
    assert openai_base_url("http://h:8000/v1") == "http://h:8000/v1"
    assert scrub("key sk-1 and sk-1", "sk-1") == "key *** and ***" and scrub("sk-1", None) == "sk-1"
    assert forced_mode(None, None) is None and forced_mode("auto", None) is None
    assert forced_mode("think", "think") == "think"
    body = {"model": "m", "thinkgate_mode": "think", "messages": [{"role": "user", "content": "q"},
                                                                   {"role": "assistant", "content": "A:"}],
            "continue_final_message": True}
    out = apply_switch(body, body["messages"], get_profile("deepseek-r1"), "think")
    assert out["messages"][-1] == {"role": "assistant", "content": "<think>\nA:"}  # the client's prefill kept
    assert "thinkgate_mode" not in out and body["thinkgate_mode"] == "think"  # input not mutated
    plain = {"model": "m", "messages": [{"role": "user", "content": "q"}]}
    out = apply_switch(plain, plain["messages"], get_profile("gpt-oss"), "no_think")
    assert out["reasoning_effort"] == "low" and out["messages"] == plain["messages"]


class BrokenRouter(DigitRouter):
    def score(self, texts):
        raise RuntimeError("model file truncated")


def test_a_failing_router_is_a_500_that_says_how_to_bypass_it(proxy):
    url = proxy(router=BrokenRouter())
    r = chat(url)
    assert r.status_code == 500 and "x-thinkgate-mode" in r.json()["error"]["message"]
    assert "model file truncated" in r.json()["error"]["message"]


def test_tool_call_turns_without_content_pass(proxy):
    msgs = [{"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function",
                                                  "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "sunny"}]
    r = httpx.post(proxy(profile="qwen3") + "/v1/chat/completions", json={"messages": msgs},
                   headers={"x-thinkgate-mode": "No_Think"})
    assert r.status_code == 200 and r.headers["x-thinkgate-route"] == "no_think"
    assert r.json()["echo"]["body"]["messages"][1]["tool_calls"][0]["id"] == "t1"


class RecordingRouter(DigitRouter):
    def __init__(self):
        self.seen = []

    def score(self, texts):
        self.seen.extend(texts)
        return super().score(texts)


ROUTER_CHATS = [
    [{"role": "user", "content": "What is 2+2? /no_think"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "first"},
     {"role": "assistant", "content": "ok"}, {"role": "user", "content": "  Solve x^2 = 4\n"}],
    [{"role": "user", "content": [{"type": "text", "text": "Say "},
                                  {"type": "text", "text": "hello /think"}]}],
    [{"role": "user", "content": "weather in 2 cities?"},
     {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function",
                                           "function": {"name": "w", "arguments": "{}"}}]},
     {"role": "tool", "tool_call_id": "t1", "content": "sunny"}],
]


def test_the_router_sees_the_text_it_was_trained_on(proxy):
    """The proxy scores the same text build_dataset gives the router for the same chat."""
    pd = pytest.importorskip("pandas")
    from thinkgate.router import build_dataset

    router = RecordingRouter()
    url = proxy(router=router, profile="qwen3-soft")
    for msgs in ROUTER_CHATS:
        assert httpx.post(url + "/v1/chat/completions", json={"messages": msgs}).status_code == 200
    rows = [{"suite": "s", "item_id": f"i{i}", "mode": mode, "score": 1.0, "status": "ok",
             "completion_tokens": 10, "prompt": "unused", "messages": json.dumps(msgs)}
            for i, msgs in enumerate(ROUTER_CHATS) for mode in ("think", "no_think")]
    trained = build_dataset(pd.DataFrame(rows))["text"].tolist()
    assert router.seen == trained
    assert trained == ["What is 2+2?", "Solve x^2 = 4", "Say hello", "weather in 2 cities?"]
