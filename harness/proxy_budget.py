"""The routing proxy's budget arms: `budget:N` against any OpenAI-compatible upstream.

When the router (or the client's `x-thinkgate-mode: budget:N`) picks a budget arm, the
proxy runs the same two-pass state machine as evaluation (`harness/budget.BudgetRun`): a
thinking pass capped at N tokens, then — when the trace is still open — the profile's
early-exit text and end of thinking as the assistant prefill, and a pass for the answer.
Every pass's body comes from the one request builder (`openai_backend.request_body` ->
`chat_request.build_chat_body`), so served evaluation and serving ask alike.

The client gets one chat.completion: `content` is the answer, `reasoning_content` the
thinking (as vLLM's reasoning parsers return it), `usage` summed over the passes; a
streaming client gets it as one SSE chunk. Headers: `x-thinkgate-budget`,
`x-thinkgate-closed-by` (model | forced | eos), `x-thinkgate-passes`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from thinkgate.harness.backends.base import EngineRequest, RawGeneration
from thinkgate.harness.budget import BudgetRun, think_budget
from thinkgate.harness.profiles import Profile, Sampling, parse_budget
from thinkgate.tasks.thinkparse import parse_completion

DEFAULT_MAX_TOKENS = 2048  # a client that sets no max_tokens: the budget's answer gets the rest
_SAMPLING = ("temperature", "top_p", "top_k", "min_p", "seed", "max_tokens", "max_completion_tokens")


def budget_request(body: dict[str, Any], messages: list[dict[str, Any]], profile: Profile, mode: str) -> EngineRequest:
    """The engine request of a client's chat in a budget arm: rendered as think, the client's
    sampling kept (its max_tokens is the whole generation's cap)."""
    spec = parse_budget(mode)
    total = int(body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS)
    total = max(total, spec.tokens + 1)
    think = profile.sampling_for("think")
    sampling = Sampling(temperature=float(body.get("temperature", think.temperature)),
                        top_p=float(body.get("top_p", think.top_p)), top_k=int(body.get("top_k", think.top_k)),
                        min_p=float(body.get("min_p", 0.0)), max_tokens=total, seed=body.get("seed"))
    r = profile.render_mode(tuple(messages), mode)
    return EngineRequest("proxy", "", (), sampling, r.messages, r.prefill,
                         tuple(sorted(r.template_kwargs.items())), tuple(sorted(r.api_params.items())),
                         think_budget(spec, profile, total))


def client_extra(body: dict[str, Any]) -> dict[str, Any]:
    """The client's other fields, passed on to every pass (sampling is the request's own)."""
    drop = {"messages", "stream", "stream_options", "thinkgate_mode", *_SAMPLING}
    return {k: v for k, v in body.items() if k not in drop}


async def run_budget(client: Any, url: str, headers: dict[str, str], model: str | None,
                     er: EngineRequest, extra: dict[str, Any]) -> tuple[RawGeneration | None, Any]:
    """Drive the passes against the upstream; (the whole generation, None) or (None, the
    upstream's failing response, to relay as it is)."""
    from thinkgate.harness.backends.openai_backend import OpenAIConfig, parse_response, request_body

    config = OpenAIConfig(base_urls=(url,), extra_body=extra, send_seed=er.sampling.seed is not None)
    run = BudgetRun(er)
    while True:
        req = run.next_request()
        t0 = time.perf_counter()
        resp = await client.post(url, json=request_body(model or extra.get("model") or "", req, config),
                                 headers=headers)
        if resp.status_code >= 400:
            return None, resp
        text, reasoning, finish, prompt_tokens, completion = parse_response(resp.text, resp.headers.get("content-type", ""))
        g = RawGeneration(er.key, text, finish, prompt_tokens or 0, completion, time.perf_counter() - t0, reasoning)
        if not run.advance(g):
            return run.result(), None


def completion_body(g: RawGeneration, er: EngineRequest, model: str) -> dict[str, Any]:
    p = parse_completion(er.prefill, g.text, None, g.finish_reason)
    return {"id": f"chatcmpl-thinkgate-{int(time.time() * 1000)}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": g.finish_reason,
                         "message": {"role": "assistant", "content": p.answer, "reasoning_content": p.reasoning}}],
            "usage": {"prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens,
                      "total_tokens": g.prompt_tokens + g.completion_tokens}}


def as_sse(body: dict[str, Any]) -> bytes:
    """One chat.completion as a stream: one chunk with the whole message, then usage, then [DONE]."""
    choice = body["choices"][0]
    chunk = {**{k: body[k] for k in ("id", "created", "model")}, "object": "chat.completion.chunk",
             "choices": [{"index": 0, "delta": choice["message"], "finish_reason": choice["finish_reason"]}]}
    tail = {**{k: body[k] for k in ("id", "created", "model")}, "object": "chat.completion.chunk",
            "choices": [], "usage": body["usage"]}
    return f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(tail)}\n\ndata: [DONE]\n\n".encode()


def budget_headers(g: RawGeneration) -> dict[str, str]:
    m = g.meta
    return {"x-thinkgate-budget": str(m.get("budget")), "x-thinkgate-closed-by": str(m.get("closed_by")),
            "x-thinkgate-passes": str(m.get("budget_passes"))}
