"""`--backend openai` against a fault-injecting loopback server (raw asyncio HTTP/1.1).

The server answers per request key (the user message) and attempt number: 500s, 429 with
Retry-After, hangs past the client's timeout, connection resets, malformed JSON, SSE
streams cut before [DONE], final 400s. Every key must come back exactly once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable

from thinkgate.harness.backends.base import EngineRequest
import pytest

from thinkgate.harness.backends.openai_backend import (OpenAIBackend, OpenAIConfig, make_openai_backend,
                                                       parse_retry_after, request_body)
from thinkgate.harness.errors import UserError
from thinkgate.harness.profiles import Sampling

SECRET = "sk-planted-secret-0123456789"


class FaultServer:
    """`plan(key, attempt) -> action`; records every request (body, headers, time)."""

    def __init__(self, plan: Callable[[str, int], str], hang_s: float = 3.0):
        self.plan, self.hang_s = plan, hang_s
        self.attempts: dict[str, int] = defaultdict(int)
        self.log: list[dict] = []
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = json.loads(await reader.readexactly(int(headers.get("content-length", 0))))
                key = body["messages"][0]["content"]
                attempt = self.attempts[key]
                self.attempts[key] += 1
                self.log.append({"key": key, "attempt": attempt, "body": body, "headers": headers,
                                 "t": time.monotonic()})
                action = self.plan(key, attempt)
                if not await self._respond(action, key, body, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def _respond(self, action: str, key: str, body: dict, writer) -> bool:
        def send(status: str, payload: bytes, ctype="application/json", extra=""):
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                         f"{extra}\r\n".encode() + payload)

        ok = {"choices": [{"message": {"content": f"answer:{key}", "reasoning_content": "hmm"},
                           "finish_reason": "length" if key.endswith("-len") else "stop"}],
              "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
        if action == "ok":
            send("200 OK", json.dumps(ok).encode())
        elif action == "500":
            send("500 Internal Server Error", b'{"error": {"message": "boom"}}')
        elif action == "400":
            send("400 Bad Request", json.dumps({"error": {"message": f"bad request, key {SECRET}"}}).encode())
        elif action == "429":
            send("429 Too Many Requests", b'{"error": "slow down"}', extra="Retry-After: 1\r\n")
        elif action == "badjson":
            send("200 OK", b'{"choices": [{"message": ')
        elif action == "hang":
            await asyncio.sleep(self.hang_s)
            return False
        elif action == "reset":
            writer.transport.abort()
            return False
        elif action in ("stream", "cut"):
            chunks = [{"choices": [{"delta": {"reasoning": "r"}}]},
                      {"choices": [{"delta": {"content": "answer:"}}]},
                      {"choices": [{"delta": {"content": key}, "finish_reason": "stop"}]},
                      {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}]
            data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
            if action == "cut":
                data = data[: len(data) // 2]
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                             + data.encode())
                await writer.drain()
                return False
            send("200 OK", (data + "data: [DONE]\n\n").encode(), ctype="text/event-stream")
        await writer.drain()
        return True

    @contextmanager
    def running(self):
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        handlers: set = set()

        async def handle(reader, writer):
            handlers.add(asyncio.current_task())
            try:
                await self._handle(reader, writer)
            except asyncio.CancelledError:
                writer.transport.abort()
            finally:
                handlers.discard(asyncio.current_task())

        async def main():
            self._stop = asyncio.Event()
            server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stop.wait()
            server.close()
            for t in list(handlers):
                t.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await server.wait_closed()

        t = threading.Thread(target=lambda: (loop.run_until_complete(main()), loop.close()), daemon=True)
        t.start()
        assert ready.wait(10)
        try:
            yield f"http://127.0.0.1:{self.port}"
        finally:
            loop.call_soon_threadsafe(self._stop.set)
            t.join(timeout=5)


def req(key: str, prefill: str = "", kwargs=(), top_k: int = -1) -> EngineRequest:
    return EngineRequest(key, f"<prompt {key}>", (1, 2, 3, 4), Sampling(0.6, 0.95, top_k, 0.0, 32, 5),
                         messages=({"role": "user", "content": key},), prefill=prefill, template_kwargs=kwargs)


def cfg(urls, **kw) -> OpenAIConfig:
    base = dict(concurrency=16, timeout_s=0.5, max_retries=4, retry_budget=1000, backoff_base_s=0.01,
                backoff_max_s=0.05, breaker_cooldown_s=0.2, flush_every_s=0.1)
    return OpenAIConfig(base_urls=tuple(urls), **{**base, **kw})


def collect(backend: OpenAIBackend, requests) -> tuple[dict, int]:
    got: dict = {}
    batches = 0
    for batch in backend.generate(requests):
        batches += 1
        for g in batch:
            assert g.key not in got, f"{g.key} came back twice"
            got[g.key] = g
    return got, batches


def test_body_prefill_template_kwargs_and_sampling():
    c = OpenAIConfig(base_urls=("http://x",), extra_body={"chat_template_kwargs": {"a": 1}, "foo": 2})
    b = request_body("m", req("k", prefill="<think>\n", kwargs=(("enable_thinking", True),), top_k=20), c)
    assert b["messages"] == [{"role": "user", "content": "k"}, {"role": "assistant", "content": "<think>\n"}]
    assert b["continue_final_message"] is True and b["add_generation_prompt"] is False
    assert b["chat_template_kwargs"] == {"a": 1, "enable_thinking": True}
    assert (b["model"], b["top_k"], b["seed"], b["max_tokens"], b["foo"]) == ("m", 20, 5, 32, 2)
    plain = request_body("m", req("k"), OpenAIConfig(base_urls=("http://x",)))
    assert "top_k" not in plain and "continue_final_message" not in plain and "chat_template_kwargs" not in plain
    assert "reasoning_effort" not in plain
    unseeded = request_body("m", req("k"), OpenAIConfig(base_urls=("http://x",), send_seed=False))
    assert "seed" not in unseeded and plain["seed"] == 5


def test_body_carries_the_profiles_top_level_fields():
    from dataclasses import replace

    r = replace(req("k"), api_params=(("reasoning_effort", "low"),))
    assert request_body("m", r, OpenAIConfig(base_urls=("http://x",)))["reasoning_effort"] == "low"


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    from email.utils import formatdate
    assert 5 < parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10


FAULTS = ["500", "reset", "badjson", "cut", "hang", "429"]


def chaos_plan(key: str, attempt: int) -> str:
    i = int(key.split("-")[1])
    if i % 10 == 9:
        return "400"  # final, never retried
    if i % 20 == 3:
        return "500"  # always fails: error after the last attempt
    if i % 4 == 0 and attempt == 0:
        return "stream"  # streaming-only upstream
    if attempt < i % 3:
        # a few of each fault, 429 only for a handful (each costs ~1 s)
        fault = FAULTS[i % 5] if i % 37 else "429"
        return fault
    return "ok"


def test_chaos_every_key_once(monkeypatch):
    monkeypatch.setenv("THINKGATE_TEST_KEY", SECRET)
    server = FaultServer(chaos_plan, hang_s=2.0)
    with server.running() as url:
        backend = make_openai_backend("tiny", cfg([url], concurrency=32, api_key_env="THINKGATE_TEST_KEY",
                                                  breaker_failures=10_000))
        requests = [req(f"k-{i}", prefill="<think>\n" if i % 2 else "", kwargs=(("enable_thinking", True),))
                    for i in range(300)]
        t0 = time.monotonic()
        got, batches = collect(backend, requests)
        elapsed = time.monotonic() - t0
    assert set(got) == {r.key for r in requests}
    assert batches > 1 and elapsed < 30
    for i in range(300):
        g = got[f"k-{i}"]
        if i % 10 == 9:
            assert g.finish_reason == "error" and "HTTP 400" in g.error
            assert server.attempts[g.key] == 1  # not retried
        elif i % 20 == 3:
            assert g.finish_reason == "error" and "HTTP 500" in g.error and "5 attempt" in g.error
        else:
            assert g.finish_reason == "stop", (g.key, g.error)
            assert g.text == f"answer:k-{i}" and g.prompt_tokens == 7 and g.completion_tokens == 3
            assert g.reasoning_content in ("hmm", "r")
    for g in got.values():
        assert SECRET not in (g.error or "")
    assert all(e["headers"]["authorization"] == f"Bearer {SECRET}" for e in server.log)
    odd = [e["body"] for e in server.log if e["key"] == "k-1"][0]
    assert odd["messages"][-1] == {"role": "assistant", "content": "<think>\n"}
    assert odd["continue_final_message"] is True and odd["add_generation_prompt"] is False
    assert odd["chat_template_kwargs"] == {"enable_thinking": True}


def test_retry_after_is_honoured():
    server = FaultServer(lambda k, a: "429" if a == 0 else "ok")
    with server.running() as url:
        got, _ = collect(OpenAIBackend("m", cfg([url], timeout_s=5)), [req("k-0")])
    assert got["k-0"].finish_reason == "stop"
    t = [e["t"] for e in server.log]
    assert len(t) == 2 and t[1] - t[0] >= 0.95


def test_hang_times_out_then_error_with_reason():
    server = FaultServer(lambda k, a: "hang", hang_s=1.0)
    with server.running() as url:
        t0 = time.monotonic()
        got, _ = collect(OpenAIBackend("m", cfg([url], timeout_s=0.3, max_retries=1)), [req("k-0")])
    assert got["k-0"].finish_reason == "error" and "timeout" in got["k-0"].error
    assert time.monotonic() - t0 < 3


def test_retry_budget_bounds_total_retries():
    server = FaultServer(lambda k, a: "500")
    with server.running() as url:
        backend = OpenAIBackend("m", cfg([url], retry_budget=5, breaker_failures=10_000))
        got, _ = collect(backend, [req(f"k-{i}") for i in range(20)])
    assert all(g.finish_reason == "error" for g in got.values())
    assert len(server.log) == 20 + 5
    # each error says why it stopped: out of attempts, or out of budget
    assert all("5 attempt(s)" in g.error or "(retry budget exhausted)" in g.error for g in got.values())
    assert sum("(retry budget exhausted)" in g.error for g in got.values()) >= 15


def test_fleet_one_endpoint_down_other_carries_the_load():
    bad, good = FaultServer(lambda k, a: "500"), FaultServer(lambda k, a: "ok")
    with bad.running() as bad_url, good.running() as good_url:
        backend = OpenAIBackend("m", cfg([bad_url, good_url], breaker_failures=2, breaker_cooldown_s=5))
        got, _ = collect(backend, [req(f"k-{i}") for i in range(200)])
    assert len(got) == 200 and all(g.finish_reason == "stop" for g in got.values())
    assert len(bad.log) <= 10 and len(good.log) == 200


def test_a_retry_goes_to_another_endpoint():
    """Failover without the breaker: the retry of a failed attempt avoids the endpoint that failed."""
    bad, good = FaultServer(lambda k, a: "500"), FaultServer(lambda k, a: "ok")
    with bad.running() as bad_url, good.running() as good_url:
        backend = OpenAIBackend("m", cfg([bad_url, good_url], max_retries=1, breaker_failures=10_000))
        got, _ = collect(backend, [req(f"k-{i}") for i in range(40)])
    assert all(g.finish_reason == "stop" for g in got.values())
    assert len(good.log) == 40 and bad.log and all(bad.attempts[k] == 1 for k in bad.attempts)


def test_retry_after_is_capped():
    server = FaultServer(lambda k, a: "429" if a == 0 else "ok")  # Retry-After: 1
    with server.running() as url:
        got, _ = collect(OpenAIBackend("m", cfg([url], timeout_s=5, retry_after_max_s=0.1)), [req("k-0")])
    t = [e["t"] for e in server.log]
    assert got["k-0"].finish_reason == "stop" and t[1] - t[0] < 0.8


def test_base_urls_are_normalised_and_checked():
    b = OpenAIBackend("m", cfg(["http://h:8000", "http://h:8001/v1/", "https://api.x/openai/v1"]))
    assert b._urls == ["http://h:8000/v1", "http://h:8001/v1", "https://api.x/openai/v1"]
    with pytest.raises(UserError, match="not an http"):
        OpenAIBackend("m", cfg(["h:8000"]))


def test_early_close_stops_the_worker():
    server = FaultServer(lambda k, a: "ok")
    with server.running() as url:
        backend = OpenAIBackend("m", cfg([url], concurrency=4, flush_every_n=1))
        gen = backend.generate([req(f"k-{i}") for i in range(500)])
        first = next(gen)
        gen.close()
        assert first and len(server.log) < 500


def test_connection_refused_is_an_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    got, _ = collect(OpenAIBackend("m", cfg([f"http://127.0.0.1:{port}"], max_retries=1)), [req("k-0")])
    assert got["k-0"].finish_reason == "error" and "Connect" in got["k-0"].error
