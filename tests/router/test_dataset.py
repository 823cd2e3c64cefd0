"""build_dataset: per-item means per mode, utility with lam and T, ties to no-think, texts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from thinkgate.router import build_dataset
from thinkgate.router.dataset import last_user_turn, router_text, user_turn_from_prompt


def _row(item, mode, sample, score, tokens=100, status="ok", **kw):
    return {"suite": "s", "domain": "math", "verifiable": True, "group": f"g-{item}", "item_id": item,
            "mode": mode, "sample": sample, "prompt": f"<|im_start|>user\n{item} question?<|im_end|>\n",
            "score": score, "status": status, "completion_tokens": tokens,
            "reasoning_tokens": tokens - 10, "answer_tokens": 10, **kw}


def test_means_per_mode_and_what_is_dropped():
    items = pd.DataFrame([
        _row("a", "think", 0, 1.0, 300), _row("a", "think", 1, 0.0, 500),
        _row("a", "no_think", 0, 0.0, 40), _row("a", "no_think", 1, 0.0, 60),
        _row("a", "no_think", 2, None, 0, status="error"),            # excluded, counted
        _row("b", "think", 0, 1.0, 200), _row("b", "no_think", 0, 1.0, 20),
        _row("c", "think", 0, 1.0, 200),                                # one mode only
        _row("c", "no_think", 0, None, 0, status="data_error"),
        _row("d", "budget:64", 0, 1.0, 64),                             # other modes are ignored
    ])
    ds = build_dataset(items)
    assert ds["item_id"].tolist() == ["a", "b"]
    a = ds.iloc[0]
    assert (a.score_think, a.score_no_think, a.tokens_think, a.tokens_no_think) == (0.5, 0.0, 400.0, 50.0)
    assert (a.k_think, a.k_no_think, a.gain, a.utility, bool(a.label)) == (2, 2, 0.5, 0.5, True)
    b = ds.iloc[1]
    assert b.gain == 0 and not b.label  # a tie goes to no-think
    assert ds.attrs["excluded_rows"] == {"error": 1, "data_error": 1}
    assert ds.attrs["items_one_mode_only"] == 1
    assert ds.attrs["lam"] == 0.0 and ds.attrs["T"] == 1000.0


def test_lam_prices_tokens_and_exact_ties_go_to_no_think():
    items = pd.DataFrame([
        _row("x", "think", 0, 0.6, 1100), _row("x", "no_think", 0, 0.5, 100),   # +0.1 for 1000 tokens
        _row("y", "think", 0, 0.6, 600), _row("y", "no_think", 0, 0.5, 100),    # +0.1 for 500 tokens
    ])
    free = build_dataset(items, lam=0.0)
    assert free["label"].tolist() == [True, True]
    priced = build_dataset(items, lam=0.1, T=1000)
    assert priced["utility"].tolist() == pytest.approx([0.0, 0.05])
    assert priced["label"].tolist() == [False, True]  # u = 0 (up to float noise) is a tie
    with pytest.raises(ValueError, match="token scale"):
        build_dataset(items, T=0)


def test_tokens_fall_back_to_reasoning_plus_answer():
    items = pd.DataFrame([_row("a", "think", 0, 1.0, 300), _row("a", "no_think", 0, 0.0, 40)])
    items["completion_tokens"] = [np.nan, 40]
    items["reasoning_tokens"] = [250, 0]
    items["answer_tokens"] = [30, 40]
    ds = build_dataset(items)
    assert ds["tokens_think"].iloc[0] == 280.0


def test_text_is_the_last_user_turn():
    chat = [{"role": "system", "content": "sys"}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"}, {"role": "user", "content": "What is 2+2? /no_think"}]
    items = pd.DataFrame([_row("a", "think", 0, 1.0), _row("a", "no_think", 0, 0.0),
                          _row("b", "think", 0, 1.0), _row("b", "no_think", 0, 0.0)])
    items["messages"] = [json.dumps(chat), json.dumps(chat), None, None]
    ds = build_dataset(items)
    assert ds["text"].tolist() == ["What is 2+2?", "b question?"]  # soft switch stripped
    assert ds["text_source"].tolist() == ["messages", "prompt:user-turn"]
    assert last_user_turn([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]) == "hi"
    assert last_user_turn("not json") is None
    assert user_turn_from_prompt("<｜User｜>Solve x<｜Assistant｜><think>\n") == ("Solve x", "prompt:user-turn")
    assert user_turn_from_prompt(
        "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>") == ("Hello", "prompt:user-turn")
    assert user_turn_from_prompt("plain text") == ("plain text", "prompt")


def test_mode_specific_system_prompts_do_not_leak_into_the_text():
    think = _row("a", "think", 0, 1.0, prompt="<|im_start|>system\nThink.<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n")
    no = _row("a", "no_think", 0, 0.0, prompt="<|im_start|>system\nBe direct.<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n")
    ds = build_dataset(pd.DataFrame([think, no]))
    assert ds["text"].tolist() == ["Q"] and ds.attrs["items_text_differs_between_modes"] == 0


def test_missing_columns_say_what_is_needed():
    with pytest.raises(ValueError, match="lacks column"):
        build_dataset(pd.DataFrame({"suite": ["s"]}))


def test_router_text_is_one_function_for_chats_and_prompts():
    assert router_text([{"role": "user", "content": "  What is 2+2? /no_think\n"}]) == "What is 2+2?"
    assert router_text('[{"role": "user", "content": [{"type": "text", "text": "Solve /think"}]}]') == "Solve"
    assert router_text([{"role": "system", "content": "only a system turn"}]) is None
    assert router_text("not json") is None
    # the same item seen through its chat and through its rendered prompt gives the same text
    chat = [{"role": "user", "content": "Q about 7? "}]
    prompt = "<|im_start|>user\nQ about 7?  /think<|im_end|>\n<|im_start|>assistant\n"
    a, b = _row("a", "think", 0, 1.0, messages=json.dumps(chat)), _row("a", "no_think", 0, 0.0, prompt=prompt)
    ds = build_dataset(pd.DataFrame([a, b]))
    assert ds["text"].tolist() == [router_text(chat)] and ds.attrs["items_text_differs_between_modes"] == 0
