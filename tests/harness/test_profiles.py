"""Profiles render the switch each family expects (real SmolLM2 tokenizer, and
stand-in templates for R1-Distill and Qwen3 that end the way theirs do)."""

import copy

import pytest

from thinkgate.harness.errors import UserError
from thinkgate.harness.profiles import (NO_THINKING_PREFILL, get_profile, guess_profile, parse_modes,
                                        render_prompt)

MSGS = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"})

R1_DISTILL_TEMPLATE = ("{% for m in messages %}{% if m.role == 'user' %}<｜User｜>{{ m.content }}{% endif %}"
                       "{% endfor %}{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}")
QWEN3_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                  "{% if add_generation_prompt %}<|im_start|>assistant\n"
                  "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
                  "{% endif %}")


def with_template(tokenizer, template):
    t = copy.deepcopy(tokenizer)
    t.chat_template = template
    return t


def test_generic_think_asks_for_tags_and_prefills(tokenizer):
    prompt, prefix = render_prompt(tokenizer, get_profile("generic").render(MSGS, "think"))
    assert prompt.endswith("<|im_start|>assistant\n<think>\n") and prefix == "<think>\n"
    assert "<think> reasoning process here </think>" in prompt and "Be brief." in prompt


def test_generic_no_think_and_default(tokenizer):
    prompt, prefix = render_prompt(tokenizer, get_profile("generic").render(MSGS, "no_think"))
    assert "without showing any reasoning" in prompt and prefix == "" and "<think>" not in prompt
    prompt, prefix = render_prompt(tokenizer, get_profile("generic").render(MSGS, "default"))
    assert "A conversation" not in prompt and prefix == ""


def test_r1_no_system_prompt_and_no_double_tag(tokenizer):
    tok = with_template(tokenizer, R1_DISTILL_TEMPLATE)
    r1 = get_profile("deepseek-r1")
    prompt, prefix = render_prompt(tok, r1.render(MSGS, "think"))
    assert prompt == "<｜User｜>Be brief.\n\n2+2?<｜Assistant｜><think>\n" and prefix == "<think>\n"
    prompt, prefix = render_prompt(tok, r1.render(MSGS, "no_think"))
    assert prompt.endswith("<｜Assistant｜>" + NO_THINKING_PREFILL) and prompt.count("<think>") == 1
    assert prefix == NO_THINKING_PREFILL
    prompt, prefix = render_prompt(tok, r1.render(MSGS, "default"))
    assert prefix == "<think>\n"  # the template's own tag reaches the parser


def test_qwen3_enable_thinking_through_template(tokenizer):
    tok = with_template(tokenizer, QWEN3_TEMPLATE)
    q = get_profile("qwen3")
    prompt, prefix = render_prompt(tok, q.render(MSGS, "no_think"))
    assert prompt.endswith("assistant\n<think>\n\n</think>\n\n") and prefix == "<think>\n\n</think>\n\n"
    prompt, prefix = render_prompt(tok, q.render(MSGS, "think"))
    assert prompt.endswith("assistant\n") and prefix == ""
    assert q.sampling_for("think").temperature == 0.6 and q.sampling_for("no_think").top_p == 0.8
    assert q.sampling_for("no_think", matched=True) == q.sampling_for("think")


def test_qwen3_soft_switch(tokenizer):
    tok = with_template(tokenizer, QWEN3_TEMPLATE)
    prompt, _ = render_prompt(tok, get_profile("qwen3-soft").render(MSGS, "no_think"))
    assert "2+2? /no_think<|im_end|>" in prompt


DEEPSEEK_V31_TEMPLATE = ("{% for m in messages %}<｜User｜>{{ m.content }}{% endfor %}"
                         "{% if add_generation_prompt %}<｜Assistant｜>"
                         "{% if thinking is defined and thinking %}<think>{% else %}</think>{% endif %}{% endif %}")


def test_deepseek_v31_thinking_kwarg(tokenizer):
    tok = with_template(tokenizer, DEEPSEEK_V31_TEMPLATE)
    v = get_profile("deepseek-v3.1")
    prompt, prefix = render_prompt(tok, v.render(MSGS[1:], "think"))
    assert prompt.endswith("<｜Assistant｜><think>") and prefix == "<think>"  # the parser sees the tag
    prompt, prefix = render_prompt(tok, v.render(MSGS[1:], "no_think"))
    assert prompt.endswith("<｜Assistant｜></think>") and prefix == ""
    assert v.render(MSGS, "default").template_kwargs == {}


def test_gpt_oss_reasoning_effort_is_a_served_only_api_field():
    g = get_profile("gpt-oss")
    assert g.served_only
    assert g.render(MSGS, "think").api_params == {"reasoning_effort": "high"}
    assert g.render(MSGS, "no_think").api_params == {"reasoning_effort": "low"}
    assert g.render(MSGS, "default").api_params == {} and g.render(MSGS, "think").messages == MSGS


def test_served_only_profile_refuses_a_local_engine(tmp_path):
    from thinkgate.harness.runner import RunConfig, evaluate

    with pytest.raises(UserError, match="--backend openai"):
        evaluate(RunConfig(out=str(tmp_path / "o"), profile="gpt-oss", backend="hf"), progress=False)
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_think_is_never_greedy():
    from thinkgate.harness.profiles import PROFILES

    assert all(p.sampling["think"].temperature > 0 for p in PROFILES.values())


def test_unknown_profile_and_mode():
    with pytest.raises(UserError, match="did you mean 'qwen3'"):
        get_profile("qwen")
    with pytest.raises(UserError, match=r"unknown mode .nothink. \(did you mean .no_think.\?\); known modes: default, no_think, think"):
        parse_modes("think,nothink")


def test_guess_profile():
    assert guess_profile("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") == "deepseek-r1"
    assert guess_profile("Qwen/Qwen3-8B") == "qwen3"
    assert guess_profile("SmolLM2-135M-Instruct") == "generic"
    assert guess_profile("deepseek-ai/DeepSeek-V3.1") == "deepseek-v3.1"
    assert guess_profile("openai/gpt-oss-20b") == "gpt-oss"
