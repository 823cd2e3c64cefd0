"""One request builder: the openai backend (evaluation) and the routing proxy (serving) ask a
served model the same way, for every profile and mode."""

from __future__ import annotations

import json

import pytest

from thinkgate.harness.backends.base import EngineRequest
from thinkgate.harness.backends.openai_backend import OpenAIConfig, request_body
from thinkgate.harness.chat_request import build_chat_body, sampling_fields
from thinkgate.harness.profiles import MODES, PROFILES, Rendering, Sampling, get_profile
from thinkgate.harness.proxy import apply_switch, parse_messages

CHATS = {
    "one-turn": [{"role": "user", "content": "What is 17 * 23?"}],
    "system": [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "2+2?"}],
    "multi-turn": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                   {"role": "user", "content": "Now solve x^2 = 9."}],
}
SAMPLINGS = {"vendor": None, "seeded": Sampling(0.3, top_p=0.9, top_k=40, min_p=0.05, max_tokens=77, seed=11)}


def backend_body(profile, mode, sampling, chat) -> dict:
    """As `thinkgate eval --backend openai` sends it: the runner's EngineRequest, then the backend."""
    rendering = profile.render(tuple(chat), mode)
    r = EngineRequest("k", "{}", (), sampling, rendering.messages, rendering.prefill,
                      tuple(sorted(rendering.template_kwargs.items())),
                      tuple(sorted(rendering.api_params.items())))
    return request_body("served", r, OpenAIConfig(base_urls=("http://x/v1",)))


def proxy_body(profile, mode, sampling, chat) -> dict:
    """As `thinkgate router serve` forwards it: a client's body with its own sampling, in OpenAI terms."""
    client = {"model": "served", "messages": chat, "temperature": sampling.temperature,
              "top_p": sampling.top_p, "max_tokens": sampling.max_tokens}
    if sampling.top_k > 0:
        client["top_k"] = sampling.top_k
    if sampling.min_p > 0:
        client["min_p"] = sampling.min_p
    if sampling.seed is not None:
        client["seed"] = sampling.seed
    client = json.loads(json.dumps(client))  # as it arrives over HTTP
    return apply_switch(client, parse_messages(client), profile, mode)


@pytest.mark.parametrize("chat", CHATS, ids=list(CHATS))
@pytest.mark.parametrize("sampling", SAMPLINGS, ids=list(SAMPLINGS))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(PROFILES))
def test_proxy_and_backend_send_byte_identical_bodies(name, mode, sampling, chat):
    profile = get_profile(name)
    s = SAMPLINGS[sampling] or profile.sampling_for(mode)
    a = json.dumps(backend_body(profile, mode, s, CHATS[chat]), sort_keys=True)
    b = json.dumps(proxy_body(profile, mode, s, CHATS[chat]), sort_keys=True)
    assert a == b


def test_layers_override_in_order():
    extra = {"model": "client", "temperature": 1.5, "chat_template_kwargs": {"custom": 1, "enable_thinking": True},
             "reasoning_effort": "medium", "user": "u1"}
    r = Rendering(({"role": "user", "content": "q"},), "<think>\n", {"enable_thinking": False},
                  {"reasoning_effort": "low"})
    body = build_chat_body("served", r, Sampling(0.6, max_tokens=9, seed=3), extra=extra, stream=True)
    assert body == {"model": "served", "temperature": 0.6, "top_p": 1.0, "max_tokens": 9, "seed": 3,
                    "user": "u1", "chat_template_kwargs": {"custom": 1, "enable_thinking": False},
                    "reasoning_effort": "low",
                    "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>\n"}],
                    "continue_final_message": True, "add_generation_prompt": False,
                    "stream": True, "stream_options": {"include_usage": True}}
    assert extra["model"] == "client" and extra["chat_template_kwargs"]["enable_thinking"] is True  # not mutated


def test_none_keeps_the_callers_model_and_sampling_and_stream():
    extra = {"model": "client", "temperature": 0.1, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    body = build_chat_body(None, Rendering(({"role": "user", "content": "q"},)), None, extra=extra)
    assert body == {"model": "client", "temperature": 0.1, "stream": True,
                    "messages": [{"role": "user", "content": "q"}]}


def test_a_prefill_joins_the_assistant_turn_the_caller_continues():
    chat = ({"role": "user", "content": "q"}, {"role": "assistant", "content": "A:"})
    body = build_chat_body("m", Rendering(chat, "<think>\n"), None, extra={"continue_final_message": True})
    assert body["messages"][-1] == {"role": "assistant", "content": "<think>\nA:"}
    body = build_chat_body("m", Rendering(chat, "<think>\n"), None)  # not asked to continue: a new turn
    assert body["messages"][-2:] == [{"role": "assistant", "content": "A:"},
                                     {"role": "assistant", "content": "<think>\n"}]
    assert chat[-1]["content"] == "A:"


def test_sampling_fields():
    assert sampling_fields(Sampling(0.6)) == {"temperature": 0.6, "top_p": 1.0, "max_tokens": 2048}
    s = Sampling(0.6, top_k=20, min_p=0.1, seed=4)
    assert sampling_fields(s) == {"temperature": 0.6, "top_p": 1.0, "max_tokens": 2048, "top_k": 20,
                                  "min_p": 0.1, "seed": 4}
    assert "seed" not in sampling_fields(s, send_seed=False)
