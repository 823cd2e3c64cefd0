"""`thinkgate router serve`: an OpenAI-compatible proxy that decides per request whether to think.

    client (openai SDK, curl, ...) --> thinkgate proxy --> any OpenAI-compatible upstream
                                       score the chat with the saved router,
                                       think iff score >= threshold, apply the profile's switch

The router scores `thinkgate.router.dataset.router_text(chat)`, the text it was trained
on (the last user turn, soft switch removed). The switch is the one evaluation uses
(`get_profile(name).render(messages, mode)`), mapped onto the client's body by
`thinkgate.harness.chat_request.build_chat_body`, the function the openai backend uses:

- template kwargs (qwen3: `enable_thinking`) are merged into `chat_template_kwargs`;
- a prefill (deepseek-r1, generic: `<think>\\n` or `<think>\\n\\n</think>\\n\\n`) becomes a final
  assistant message, with vLLM's `continue_final_message: true, add_generation_prompt: false`
  (checked on vLLM 0.32: the prompt ends exactly with the prefill, whitespace kept; an
  upstream without these fields may ignore them). The upstream answers with the
  continuation only: a think answer has no opening `<think>`, so a client that parses
  think blocks must allow for that (vLLM's `deepseek_r1` reasoning parser does);
- top-level fields (gpt-oss: `reasoning_effort`) are set on the body;
- a system prompt (generic) or a soft switch (qwen3-soft) is in the rendered messages.

A client forces a mode with the header `x-thinkgate-mode: think|no_think|auto` or the body
field `thinkgate_mode` (removed before forwarding; the openai SDK sends it with
`extra_body`). Every answer carries `x-thinkgate-route`, `x-thinkgate-score` (the router's
score, forced or not) and, when forced, `x-thinkgate-forced: 1`. The upstream's status and
body pass through unchanged; an unreachable upstream is a 502, a silent one a 504. The
proxy has no authentication of its own: it binds loopback unless told otherwise.
"""

import contextlib
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator

from thinkgate.harness.chat_request import build_chat_body
from thinkgate.harness.errors import UserError
from thinkgate.harness.http_util import openai_base_url, scrub
from thinkgate.harness.profiles import get_profile, parse_budget
from thinkgate.router.dataset import router_text

log = logging.getLogger("thinkgate.proxy")

FORCE_MODES = ("think", "no_think", "auto")
_PASS_HEADERS = ("content-type", "retry-after", "x-request-id")


@dataclass(frozen=True)
class ProxyConfig:
    """Everything the proxy needs. `upstream` is an OpenAI base URL (`http://host:8000/v1`;
    a bare `http://host:8000` gets `/v1`). `api_key_env` names the environment variable
    holding the upstream's key (read once at startup, sent as `Authorization: Bearer`);
    without it a client's own Authorization header is passed on. `model` replaces the
    body's model name (one upstream model behind any client name)."""

    upstream: str
    profile: str = "generic"
    router_path: str | None = None
    threshold: float | None = None  # None: the router's own
    timeout: float = 600.0
    api_key_env: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Decision:
    mode: str  # think | no_think
    score: float
    forced: bool

    def headers(self) -> dict[str, str]:
        h = {"x-thinkgate-route": self.mode, "x-thinkgate-score": f"{self.score:.4f}"}
        if self.forced:
            h["x-thinkgate-forced"] = "1"
        return h


class BadRequest(ValueError):
    """A client error: the message says what to send instead."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def _text(content: Any, where: str) -> str | None:
    """A message's content as text: a string, a list of text parts (joined), or None."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise BadRequest(f"{where}.content must be a string or a list of text parts "
                     f"({{'type': 'text', 'text': ...}}); thinkgate routes text chats only", where)


def parse_messages(body: Any) -> list[dict[str, Any]]:
    """Validate a chat body's messages; text-part lists become strings (profiles edit text)."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object with a 'messages' list")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise BadRequest("'messages' must be a non-empty list of {role, content} objects", "messages")
    out = []
    for i, m in enumerate(msgs):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise BadRequest(f"{where} must be an object with a string 'role' and a 'content'", where)
        text = _text(m.get("content"), where)
        if text is None and m["role"] in ("system", "user"):
            raise BadRequest(f"{where} ({m['role']}) has no content; send a string", where)
        out.append({**m, "content": text})
    if not any(m["role"] == "user" for m in out):
        raise BadRequest("'messages' has no user turn: the router scores the last user message",
                         "messages")
    return out


def forced_mode(header: str | None, field: Any) -> str | None:
    """The client's forced mode (None: let the router decide)."""
    header = header.strip().lower() if header is not None else None
    vals = {v for v in (header, field) if v is not None}
    bad = [v for v in vals if v not in FORCE_MODES and not _is_budget(v)]
    if bad:
        raise BadRequest(f"thinkgate mode {bad[0]!r} is unknown; use one of {', '.join(FORCE_MODES)} "
                         "or budget:N (header x-thinkgate-mode or body field thinkgate_mode)", "thinkgate_mode")
    if len(vals) > 1:
        raise BadRequest(f"header x-thinkgate-mode={header!r} and body thinkgate_mode={field!r} "
                         "disagree; send one of them", "thinkgate_mode")
    mode = vals.pop() if vals else None
    return None if mode == "auto" else mode


def _is_budget(mode: Any) -> bool:
    try:
        return isinstance(mode, str) and parse_budget(mode) is not None
    except UserError:
        return False


def apply_switch(body: dict[str, Any], messages: list[dict[str, Any]], profile, mode: str,
                 model: str | None = None) -> dict[str, Any]:
    """The body to forward: `profile`'s switch for `mode` applied to the client's own body
    (its sampling kept), thinkgate's own field removed; `body` is not changed."""
    client = {k: v for k, v in body.items() if k != "thinkgate_mode"}
    return build_chat_body(model, profile.render(tuple(messages), mode), None, extra=client)


def _error(status: int, message: str, kind: str, param: str | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": status}},
                        status_code=status)


def _passed_headers(upstream_headers) -> dict[str, str]:
    return {k: v for k, v in upstream_headers.items()
            if k.lower() in _PASS_HEADERS or k.lower().startswith("x-ratelimit-")}


def _router_summary(router, threshold: float) -> dict[str, Any]:
    meta = getattr(router, "meta", {}) or {}
    flat = {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool)) or v is None}
    return {"kind": type(router).__name__, "threshold": threshold, **flat}


class _Proxy:
    """One proxy: its settings, checked once at startup, and the three routes' handlers."""

    def __init__(self, config: ProxyConfig, router=None):
        self.config = config
        self.profile = get_profile(config.profile)
        self.base = openai_base_url(config.upstream)
        self.router = router if router is not None else _load_router(config.router_path)
        self.threshold = float(self.router.threshold if config.threshold is None else config.threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise UserError(f"threshold {self.threshold} is outside [0, 1]; the router scores "
                            "P(thinking pays)")
        self.key = _upstream_key(config.api_key_env)

    def scrub(self, text: str) -> str:
        return scrub(text, self.key)

    def upstream_headers(self, request) -> dict[str, str]:
        """The upstream's key when one is set, else the client's own Authorization."""
        if self.key:
            return {"authorization": f"Bearer {self.key}"}
        auth = request.headers.get("authorization")
        return {"authorization": auth} if auth else {}

    def unreachable(self, exc: Exception):
        """A 504 for an upstream that did not answer in time, a 502 for one that cannot be reached."""
        import httpx

        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return _error(504, f"upstream {self.base} did not answer within {self.config.timeout:g} s "
                          f"({type(exc).__name__}); raise --timeout or check the server's load",
                          "upstream_timeout")
        return _error(502, self.scrub(f"upstream {self.base} is unreachable ({type(exc).__name__}: "
                                      f"{exc}); check that the server runs and --upstream is right"),
                      "upstream_unreachable")

    async def decide(self, messages: list[dict[str, Any]], forced: str | None) -> Decision:
        """Score the chat's router text (the one training used) and pick the mode."""
        from starlette.concurrency import run_in_threadpool

        text = router_text(messages)
        score = float((await run_in_threadpool(self.router.score, [text]))[0])
        if forced:
            return Decision(forced, score, True)
        if len(getattr(self.router, "arms", ())) > 2:  # a many-arm router picks the arm (budget:N...)
            return Decision((await run_in_threadpool(self.router.choose, [text]))[0], score, False)
        return Decision("think" if score >= self.threshold else "no_think", score, False)

    async def chat(self, request):
        """POST /v1/chat/completions: decide, apply the switch, forward, relay the answer."""
        import httpx

        t0 = time.perf_counter()
        try:
            body, messages, forced = await _read_chat(request)
        except BadRequest as e:
            return _error(400, str(e), "invalid_request_error", e.param)
        try:
            d = await self.decide(messages, forced)
        except Exception as e:  # a router bug must not look like an upstream failure
            log.exception("the router failed")
            return _error(500, f"the router failed on this prompt ({type(e).__name__}: {e}); send "
                          "x-thinkgate-mode: think|no_think to bypass it", "router_error")
        if parse_budget(d.mode):
            return await self._budgeted(request, body, messages, d)
        fwd = apply_switch(body, messages, self.profile, d.mode, self.config.model)
        client = request.app.state.client
        req = client.build_request("POST", f"{self.base}/chat/completions", json=fwd,
                                   headers=self.upstream_headers(request))
        stream = bool(body.get("stream"))
        try:
            resp = await client.send(req, stream=stream)
        except httpx.HTTPError as e:
            log.warning("route=%s score=%.4f upstream error %s", d.mode, d.score, type(e).__name__)
            return self.unreachable(e)
        log.info("route=%s score=%.4f forced=%d status=%d headers_after=%.1fms", d.mode, d.score,
                 d.forced, resp.status_code, 1000 * (time.perf_counter() - t0))
        return await self._answer(resp, d, stream)

    async def _budgeted(self, request, body: dict[str, Any], messages: list[dict[str, Any]], d: Decision):
        """A budget arm: the two-pass mechanism against the upstream (see proxy_budget)."""
        import httpx
        from fastapi.responses import Response

        from thinkgate.harness import proxy_budget as pb

        if not self.profile.budgets:
            return _error(400, f"profile '{self.profile.name}' cannot take a thinking budget", "invalid_request_error",
                          "thinkgate_mode")
        er = pb.budget_request(body, messages, self.profile, d.mode)
        try:
            g, failed = await pb.run_budget(request.app.state.client, f"{self.base}/chat/completions",
                                            self.upstream_headers(request), self.config.model, er, pb.client_extra(body))
        except httpx.HTTPError as e:
            return self.unreachable(e)
        if failed is not None:
            return Response(failed.content, status_code=failed.status_code,
                            headers={**_passed_headers(failed.headers), **d.headers()})
        out = pb.completion_body(g, er, self.config.model or body.get("model", ""))
        headers = {**d.headers(), **pb.budget_headers(g)}
        if body.get("stream"):
            return Response(pb.as_sse(out), media_type="text/event-stream", headers=headers)
        return Response(json.dumps(out), media_type="application/json", headers=headers)

    async def _answer(self, resp, d: Decision, stream: bool):
        """The upstream's answer with its status, plus the decision's headers; SSE relayed."""
        from fastapi.responses import Response, StreamingResponse

        headers = {**_passed_headers(resp.headers), **d.headers()}
        if not stream or resp.status_code >= 400:
            content = await resp.aread()
            await resp.aclose()
            return Response(content, status_code=resp.status_code, headers=headers)
        return StreamingResponse(_relay(resp, self.scrub), status_code=resp.status_code, headers=headers)

    async def models(self, request):
        """GET /v1/models: the upstream's list, passed through."""
        import httpx
        from fastapi.responses import Response

        try:
            resp = await request.app.state.client.get(f"{self.base}/models",
                                                      headers=self.upstream_headers(request))
        except httpx.HTTPError as e:
            return self.unreachable(e)
        return Response(resp.content, status_code=resp.status_code, headers=_passed_headers(resp.headers))

    async def health(self, request):
        """GET /health: 200 while the upstream answers, else 503; the profile and router in use."""
        import httpx
        from fastapi.responses import JSONResponse

        try:
            resp = await request.app.state.client.get(f"{self.base}/models", timeout=5.0,
                                                      headers=self.upstream_headers(request))
            up = {"url": self.base, "reachable": resp.status_code < 500, "status": resp.status_code}
        except httpx.HTTPError as e:
            up = {"url": self.base, "reachable": False, "error": self.scrub(f"{type(e).__name__}: {e}")}
        return JSONResponse({"ok": up["reachable"], "upstream": up, "profile": self.profile.name,
                             "router": _router_summary(self.router, self.threshold)},
                            status_code=200 if up["reachable"] else 503)


def _load_router(path: str | None):
    if not path:
        raise UserError("no router to serve: pass --router PATH (a folder written by "
                        "`thinkgate router train`)")
    from thinkgate.router import load_router

    return load_router(path)


def _upstream_key(env: str | None) -> str | None:
    """The upstream's API key, read once from the variable named `env` (None: no key)."""
    if not env:
        return None
    key = os.environ.get(env)
    if not key:
        raise UserError(f"environment variable {env} is empty or unset; export the upstream's "
                        "API key there, or drop --api-key-env")
    return key


async def _read_chat(request) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """(body, messages, forced mode) of a client's chat request; BadRequest says what is wrong."""
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("the request body is not valid JSON") from None
    messages = parse_messages(body)
    return body, messages, forced_mode(request.headers.get("x-thinkgate-mode"), body.get("thinkgate_mode"))


def create_app(config: ProxyConfig, router=None):
    """The proxy as a FastAPI app. `router` is a built router (anything with `score(texts)`,
    `threshold`, `meta`); without one, `config.router_path` is loaded."""
    import httpx
    from fastapi import FastAPI

    proxy = _Proxy(config, router)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        timeout = httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0))
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
            app.state.client = client
            yield

    app = FastAPI(title="thinkgate router proxy", lifespan=lifespan)
    app.add_route("/v1/chat/completions", proxy.chat, methods=["POST"])
    app.add_route("/v1/models", proxy.models, methods=["GET"])
    app.add_route("/health", proxy.health, methods=["GET"])
    return app


async def _relay(resp, scrub_text) -> AsyncIterator[bytes]:
    """Pass the upstream's SSE bytes on as they arrive; a broken stream ends with an error event."""
    import json

    import httpx

    try:
        async for chunk in resp.aiter_bytes():
            yield chunk
    except httpx.HTTPError as e:
        msg = scrub_text(f"upstream stream broke ({type(e).__name__}: {e}); retry the request")
        log.warning("%s", msg)
        event = {"error": {"message": msg, "type": "upstream_error", "code": 502}}
        yield f"data: {json.dumps(event)}\n\n".encode()
    finally:
        await resp.aclose()


def serve(config: ProxyConfig, host: str = "127.0.0.1", port: int = 8090, router=None) -> None:
    """Run the proxy with uvicorn until interrupted."""
    import uvicorn

    app = create_app(config, router)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding %s: the proxy has no authentication; anyone who reaches this port "
                    "uses the upstream (with its API key, if one is set)", host)
    if not log.handlers:  # one line per request (route, score, status) replaces the access log
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


@contextlib.contextmanager
def background_server(app, host: str = "127.0.0.1") -> Iterator[str]:
    """Run an ASGI app on a free loopback port in a thread; yields its base URL (tests, benches).

    with background_server(app) as url: httpx.get(url + "/health")
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the background server did not start; see the log above")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
