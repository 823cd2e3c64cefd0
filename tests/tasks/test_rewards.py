"""Rewards: each against literal completions, plain and conversational (TRL's two formats)."""

from __future__ import annotations

import json
import math

import pytest

from thinkgate.tasks.rewards import (completion_text, cosine_length_reward, format_reward, prompt_prefill,
                                     reward_for, suite_dataset, tag_count_reward)

PLAIN = "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n<think>\n"  # think prefill
CHAT = [{"role": "user", "content": "What is 2 + 3?"}]


def conv(text):
    return [{"role": "assistant", "content": text}]


COMPLETIONS = {  # completion after the <think> prefill -> (arith reward, format reward)
    "2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}.": (1.0, 1.0),
    "2 + 3 = 6\n</think>\n\nThe answer is \\boxed{6}.": (0.0, 1.0),
    "2 + 3 = 5, \\boxed{5} but I never close": (0.0, 0.0),  # unclosed: 0, never the trace
    "\\boxed{5}</think>\n\n": (0.0, 0.0),  # the right number in the reasoning only
    "hmm</think>\\boxed{5}<think>again</think>": (1.0, 0.0),  # a second block: not the format
}


@pytest.mark.parametrize("completion", list(COMPLETIONS))
@pytest.mark.parametrize("fmt", ["plain", "conversational"])
def test_arith_and_format_rewards(completion, fmt):
    if fmt == "plain":
        prompts, comps = [PLAIN], [completion]
    else:  # conversational: the prefill is the prompt's final assistant turn
        prompts, comps = [CHAT + [{"role": "assistant", "content": "<think>\n"}]], [conv(completion)]
    arith, fmt_ = COMPLETIONS[completion]
    cols = {"reference": [json.dumps("5")], "suite": ["arith"]}
    assert reward_for("arith")(prompts, comps, **cols) == [arith]
    assert format_reward(prompts, comps, **cols) == [fmt_]


def test_conversational_completion_with_its_own_think_tag():
    assert reward_for("arith")([CHAT], [conv("<think>sum</think>\\boxed{5}")], reference=["5"]) == [1.0]
    assert format_reward([CHAT], [conv("<think>sum</think>\\boxed{5}")]) == [1.0]
    assert format_reward([CHAT], [conv("\\boxed{5}")]) == [0.0]  # no thinking
    assert format_reward([CHAT], [conv("<think></think>\\boxed{5}")]) == [0.0]  # empty thinking
    assert format_reward([CHAT], [conv("<think>x</think>   ")]) == [0.0]  # no answer


def test_rows_of_other_suites_get_none_and_no_suite_column_scores_every_row():
    r = reward_for("arith")
    prompts, comps = [PLAIN] * 3, ["</think>\\boxed{5}"] * 3
    assert r(prompts, comps, reference=["5", "5", "5"], suite=["arith", "gsm8k", "humaneval"]) == [1.0, None, None]
    assert r(prompts, comps, reference=["5", "4", "5"]) == [1.0, 0.0, 1.0]
    # by scorer name: rows of suites with that scorer, and of unknown (custom) suites
    by_scorer = reward_for("integer")
    assert by_scorer(prompts, comps, reference=["5"] * 3, suite=["arith", "gsm8k", "my_data"]) == [1.0, None, 1.0]


def test_trl_extras_are_ignored_and_lengths_are_checked():
    r = reward_for("arith")
    out = r([PLAIN], ["</think>\\boxed{5}"], completion_ids=[[1, 2]], reference=["5"],
            trainer_state=object(), log_extra=lambda *a: None, log_metric=lambda *a: None)
    assert out == [1.0]
    with pytest.raises(ValueError, match="one value per completion"):
        r([PLAIN, PLAIN], ["a", "b"], reference=["5"])


def test_gsm8k_reward_uses_math_verify_and_broken_gold_is_none():
    g = reward_for("gsm8k")
    assert g([CHAT], [conv("<think>x</think>The answer is $\\frac{10}{2}$")], reference=['"5"'], suite=["gsm8k"]) == [1.0]
    assert g([CHAT], [conv("<think>x</think>\\boxed{5}")], reference=['"not a number at all"'], suite=["gsm8k"]) == [None]


def test_unknown_name_says_what_exists():
    with pytest.raises(KeyError, match="arith"):
        reward_for("arithm")


def test_tag_count_reward_partial_credit():
    assert tag_count_reward([PLAIN, PLAIN, PLAIN, CHAT], ["a</think>b", "<think>a</think>b", "ab", conv("ab")]) \
        == [1.0, 0.5, 0.5, 0.0]


def test_cosine_length_reward_prefers_short_right_and_long_wrong():
    base = reward_for("arith")
    r = cosine_length_reward(base, max_tokens=100)
    short_right = "x</think>\\boxed{5}"
    long_right = " ".join(["x"] * 100) + "</think>\\boxed{5}"
    short_wrong, long_wrong = short_right.replace("5", "6"), long_right.replace("{5}", "{6}")
    vals = r([PLAIN] * 4, [short_right, long_right, short_wrong, long_wrong], reference=["5"] * 4)
    assert vals[0] == pytest.approx(1.0, abs=0.01) and vals[1] == pytest.approx(0.5)
    assert vals[2] == pytest.approx(-1.0, abs=0.01) and vals[3] == pytest.approx(-0.5)
    assert r([PLAIN], [short_right], reference=["5"], suite=["gsm8k"]) == [None]
    ids = [[0] * 40]  # token count from completion_ids when no tokenizer is given
    assert -1 < r([PLAIN], ["y" * 30 + "</think>\\boxed{6}"], completion_ids=ids, reference=["5"])[0] < -0.5


def test_completion_and_prefill_helpers():
    assert completion_text(conv("abc")) == "abc" and completion_text("abc") == "abc"
    assert prompt_prefill(PLAIN) == "<think>\n" and prompt_prefill("no prefill") == ""
    assert prompt_prefill(CHAT + [{"role": "assistant", "content": "<think>\n"}]) == "<think>\n"


def test_language_reward_share_of_the_prompts_language():
    pytest.importorskip("lingua")
    from thinkgate.tasks.rewards import language_reward

    en = [{"role": "user", "content": "Please write one short sentence about the weather in the city today."}]
    same = conv("<think>ok</think>The weather in the city is sunny and warm today, with a light breeze.")
    other = conv("<think>ok</think>Das Wetter in der Stadt ist heute sonnig und warm, mit einer leichten Brise.")
    a, b = language_reward([en, en], [same, other])
    assert a > 0.9 and b < 0.1
    assert language_reward([en], [conv("<think>x</think>")]) == [0.0]  # no answer
    assert language_reward([en], [other], language=["de"])[0] > 0.9  # a language column names the target


def test_suite_dataset_columns_and_rewards_round_trip(tmp_path):
    pytest.importorskip("datasets")
    ds = suite_dataset(["gsm8k", "arith"], limit=3)
    assert ds.num_rows == 6 and set(ds.column_names) >= {"prompt", "reference", "suite", "item_id", "meta"}
    assert ds[0]["prompt"][-1]["role"] == "user" and ds[0]["suite"] == "gsm8k"
    row = ds[3]
    gold = json.loads(row["reference"])
    cols = {k: [row[k]] for k in ds.column_names if k != "prompt"}
    assert reward_for("arith")([row["prompt"]], [conv(f"<think>x</think>\\boxed{{{gold}}}")], **cols) == [1.0]
    train = suite_dataset("arith", split="train", limit=5)
    assert train.num_rows == 5 and all("-s1-" in i for i in train["item_id"])
    with pytest.raises(ValueError, match="no split 'dev'"):
        suite_dataset("gsm8k", split="dev")
    custom = tmp_path / "mine.jsonl"
    custom.write_text('{"prompt": "What is 2+2?", "reference": "4"}\n')
    assert suite_dataset(f"{custom}:integer")[0]["reference"] == '"4"'


def test_code_reward_runs_the_tests_in_the_sandbox_and_fakes_fail():
    ds = suite_dataset("humaneval", limit=1)
    row = ds[0]
    ref = json.loads(row["reference"])
    cols = {k: [row[k]] * 4 for k in ds.column_names if k != "prompt"}
    good = f"```python\n{ref['prompt']}{ref['canonical_solution']}```"
    fakes = ["```python\nimport sys\nsys.exit(0)\n```",
             "```python\nimport os\nos._exit(0)\n```",
             "```python\nprint('ALL TESTS PASSED')\nraise SystemExit(0)\n```"]
    out = reward_for("humaneval")([row["prompt"]] * 4, [conv(f"<think>x</think>{c}") for c in [good, *fakes]], **cols)
    assert out[0] == 1.0 and out[1:] == [0.0, 0.0, 0.0], out
    assert all(v is None or math.isfinite(v) for v in out)
