"""thinkgate's scorers as reward functions for RL (TRL's GRPOTrainer and anything with its contract).

A reward function is `f(prompts, completions, completion_ids=None, **columns) -> list[float | None]`:
one value per completion; dataset columns arrive as keyword lists (`reference`, `suite`,
`item_id`, ...); TRL's extras (`trainer_state`, `log_metric`, ...) are ignored. Completions
are plain strings or conversational (`[{"role": "assistant", "content": ...}]`). Every reward
splits thinking from the answer with the one think parser (`tasks/thinkparse.py`), so the
think prefill at the end of a plain-text prompt ("...<|im_start|>assistant\\n<think>\\n") or a
conversational prompt's last assistant turn counts as the opening tag.

    reward_for("gsm8k")      # the suite's scorer; rows of other suites get None (TRL's multi-task rule)
    reward_for("math")       # a scorer by name: every row is scored (unless a `suite` column says
                             #   the row belongs to a suite with another scorer)
    format_reward            # 1.0: one leading closed think block, then a non-empty answer; else 0.0
    tag_count_reward         # 0.5 per tag present exactly once (open-r1's partial credit)
    cosine_length_reward(..) # correctness scaled by thinking length (budget training)
    language_reward          # share of the answer in the prompt's language (R1), lingua offline

Scorer rewards see the ANSWER only; unclosed thinking scores 0; a score the scorer could not
give (a broken reference: data_error; a sandbox that could not start: score_error) is None,
never a wrong answer. Code rewards run the programs in the sandbox (`score_batch`).

`suite_dataset(suites, split)` builds a `datasets.Dataset` of any suites (names, domains,
custom JSONL) with a conversational `prompt` and the columns the rewards read: `reference`
and `meta` as JSON text (a dataset column needs one type), `suite`, `item_id`, `domain`,
`verifiable`, `group`. A suite with more splits than its test split registers them with
`register_split` (arith has "train").
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any, Callable, Iterable, Sequence

from thinkgate.tasks.registry import SCORERS, SUITES, get_suite, resolve_suites
from thinkgate.tasks.thinkparse import Parsed, parse_completion
from thinkgate.tasks.types import Item, Score

RewardFunc = Callable[..., list]
_PREFILL = re.compile(r"<think>\s*$")

# (suite, split) -> a loader of that split's items; "test" is every suite's own `load`
SPLITS: dict[tuple[str, str], Callable[[], list[Item]]] = {}


def register_split(suite: str, split: str) -> Callable[[Callable[[], list[Item]]], Callable[[], list[Item]]]:
    def deco(fn: Callable[[], list[Item]]) -> Callable[[], list[Item]]:
        SPLITS[(suite, split)] = fn
        return fn
    return deco


# ----------------------------------------------------------------- completions


def completion_text(completion: Any) -> str:
    """A completion's text: "abc" -> "abc"; [{"role": "assistant", "content": "abc"}] -> "abc"."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, (list, tuple)):
        return "".join(str(m.get("content") or "") for m in completion if m.get("role", "assistant") == "assistant")
    raise TypeError(f"a completion is a string or a list of messages, got {type(completion).__name__}")


def prompt_prefill(prompt: Any) -> str:
    """The assistant prefill a prompt ends with: the `<think>` tail of a plain-text prompt,
    or the content of a conversational prompt's final assistant turn; else ""."""
    if isinstance(prompt, str):
        m = _PREFILL.search(prompt)
        return m.group() if m else ""
    if isinstance(prompt, (list, tuple)) and prompt and prompt[-1].get("role") == "assistant":
        return str(prompt[-1].get("content") or "")
    return ""


def parse(prompt: Any, completion: Any) -> Parsed:
    """The think parser on one (prompt, completion) pair."""
    return parse_completion(prompt_prefill(prompt), completion_text(completion))


def prompt_messages(prompt: Any) -> tuple[dict[str, str], ...]:
    """The chat of a prompt (a plain string becomes one user turn; a trailing prefill is dropped)."""
    if isinstance(prompt, str):
        return ({"role": "user", "content": prompt},)
    msgs = tuple({"role": m["role"], "content": str(m.get("content") or "")} for m in prompt)
    return msgs[:-1] if msgs and msgs[-1]["role"] == "assistant" else msgs


def _column(columns: dict[str, Any], name: str, n: int) -> list[Any]:
    col = columns.get(name)
    if col is None:
        return [None] * n
    if len(col) != n:
        raise ValueError(f"column '{name}' has {len(col)} values for {n} completions; pass one value per completion")
    return list(col)


def _decode(value: Any) -> Any:
    """JSON text (as suite_dataset writes it) decoded; any other value as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# ----------------------------------------------------------------- scorer rewards


def _resolve(name: str) -> tuple[Callable[[], Any], frozenset[str] | None, str, bool, str]:
    """(scorer factory, the suites it scores or None for any, domain, verifiable, label)."""
    if name in SUITES:
        suite = get_suite(name)
        return suite.scorer, frozenset({suite.name}), suite.domain, suite.verifiable, name
    if name in SCORERS:
        spec = SCORERS.get(name)
        return spec.factory, None, spec.domain, spec.verifiable, name
    from thinkgate.tasks.plugins import UnknownNameError

    raise UnknownNameError("suite or scorer", name, SUITES.names() + SCORERS.names(),
                           " (`thinkgate list suites` / `thinkgate list scorers`)")


def reward_for(name: str) -> RewardFunc:
    """A reward function that grades answers with suite `name`'s scorer, or scorer `name`.

    Rows whose `suite` column names a suite this reward does not score get None. Built by
    suite name, it scores rows of that suite; built by scorer name, it scores rows of any
    suite that uses that scorer and rows of suites it does not know (custom data). Without a
    `suite` column every row is scored.
    """
    factory, suites, domain, verifiable, label = _resolve(name)
    scorer = factory()
    scorer_type = type(scorer)

    @lru_cache(maxsize=None)
    def scores(suite: str) -> bool:
        if suites is not None:
            return suite in suites
        if suite in SUITES:
            return isinstance(get_suite(suite).scorer(), scorer_type)
        return True

    def reward(prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
               **columns: Any) -> list[float | None]:
        n = len(completions)
        if len(prompts) != n:
            raise ValueError(f"{len(prompts)} prompts but {n} completions; pass one prompt per completion")
        suite_col, refs = _column(columns, "suite", n), _column(columns, "reference", n)
        ids, metas = _column(columns, "item_id", n), _column(columns, "meta", n)
        out: list[float | None] = [None] * n
        todo: list[tuple[int, str, Item]] = []
        for i in range(n):
            if suite_col[i] is not None and not scores(str(suite_col[i])):
                continue
            parsed = parse(prompts[i], completions[i])
            if parsed.think_state == "unclosed":
                out[i] = 0.0
                continue
            meta = _decode(metas[i])
            item = Item(id=str(ids[i] if ids[i] is not None else i), suite=str(suite_col[i] or label),
                        domain=domain, verifiable=verifiable, messages=prompt_messages(prompts[i]),
                        reference=_decode(refs[i]), meta=meta if isinstance(meta, dict) else {})
            todo.append((i, parsed.answer, item))
        if todo:
            graded = _grade(scorer, [a for _, a, _ in todo], [it for _, _, it in todo])
            for (i, _, _), score in zip(todo, graded):
                out[i] = None if score.value is None or score.status != "ok" else float(score.value)
        return out

    reward.__name__ = f"reward_{re.sub(r'[^0-9A-Za-z_]', '_', label)}"
    return reward


def _grade(scorer: Any, answers: list[str], items: list[Item]) -> list[Score]:
    if hasattr(scorer, "score_batch"):
        return list(scorer.score_batch(answers, items))
    return [scorer(a, it) for a, it in zip(answers, items)]


# ----------------------------------------------------------------- format rewards


def format_reward(prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                  **columns: Any) -> list[float]:
    """1.0 when the text opens with one think block that closes, holds reasoning, and is
    followed by a non-empty answer that opens no second block; else 0.0."""
    out = []
    for prompt, completion in zip(prompts, completions):
        p = parse(prompt, completion)
        ok = p.think_state == "closed" and p.think_blocks == 1 and bool(p.reasoning) and bool(p.answer)
        out.append(float(ok))
    return out


def tag_count_reward(prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                     **columns: Any) -> list[float]:
    """Partial credit (open-r1's `tag_count_reward`, for think tags only): 0.5 when `<think>`
    occurs exactly once in prefill + completion, 0.5 when `</think>` does."""
    out = []
    for prompt, completion in zip(prompts, completions):
        text = prompt_prefill(prompt) + completion_text(completion)
        out.append(0.5 * (text.count("<think>") == 1) + 0.5 * (text.count("</think>") == 1))
    return out


def cosine_length_reward(correctness: RewardFunc, max_tokens: int = 512, min_correct: float = 0.5,
                         max_correct: float = 1.0, min_wrong: float = -1.0, max_wrong: float = -0.5,
                         tokenizer: Any = None) -> RewardFunc:
    """Correctness scaled by thinking length with a cosine (Yeo et al. 2025, "Demystifying Long
    Chain-of-Thought Reasoning"; open-r1's `get_cosine_scaled_reward`): a right answer earns
    `max_correct` with no thinking, falling to `min_correct` at `max_tokens` thinking tokens;
    a wrong one earns `min_wrong` when short, rising to `max_wrong` when long (a long try is
    punished less). Thinking tokens come from `tokenizer` when given, else from the share of
    the completion's characters that is reasoning times its token count (`completion_ids`),
    else from whitespace words. None from `correctness` stays None.
    """
    def reward(prompts, completions, completion_ids=None, **columns):
        right = correctness(prompts, completions, completion_ids=completion_ids, **columns)
        out: list[float | None] = []
        for i, (prompt, completion) in enumerate(zip(prompts, completions)):
            if right[i] is None:
                out.append(None)
                continue
            p = parse(prompt, completion)
            n = _thinking_tokens(p, completion_text(completion), completion_ids[i] if completion_ids else None,
                                 tokenizer)
            progress = min(n, max_tokens) / max_tokens
            cos = math.cos(progress * math.pi)
            lo, hi = (min_correct, max_correct) if right[i] >= 0.5 else (max_wrong, min_wrong)
            out.append(lo + 0.5 * (hi - lo) * (1.0 + cos))
        return out

    reward.__name__ = f"cosine_{getattr(correctness, '__name__', 'reward')}"
    return reward


def _thinking_tokens(p: Parsed, text: str, ids: Any, tokenizer: Any) -> int:
    if not p.reasoning:
        return 0
    if tokenizer is not None:
        return len(tokenizer(p.reasoning, add_special_tokens=False)["input_ids"])
    if ids is not None and text:
        return round(len(ids) * min(1.0, len(p.reasoning) / len(text)))
    return len(p.reasoning.split())


@lru_cache(maxsize=1)
def _detector() -> Any:
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()


def _last_user(prompt: Any) -> str:
    users = [m["content"] for m in prompt_messages(prompt) if m["role"] == "user"]
    return users[-1] if users else ""


def language_share(text: str, language: Any) -> float:
    """The share of `text`'s characters that lingua assigns to `language` (0.0 for no text)."""
    spans = _detector().detect_multiple_languages_of(text) if text.strip() else []
    total = sum(s.end_index - s.start_index for s in spans)
    if not total:
        return 0.0
    return sum(s.end_index - s.start_index for s in spans if s.language == language) / total


def language_reward(prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                    target: str | None = None, field: str = "answer", **columns: Any) -> list[float | None]:
    """DeepSeek-R1's language-consistency reward: the share of the answer (or, with
    field="reasoning", the thinking) written in the prompt's language, by lingua (offline).
    A `language` column (ISO 639-1 code, e.g. "ms") names the target instead, per row;
    a prompt whose language lingua cannot tell gets None."""
    from lingua import IsoCode639_1, Language

    targets = _column(columns, "language", len(completions))
    out: list[float | None] = []
    for i, (prompt, completion) in enumerate(zip(prompts, completions)):
        code = targets[i] or target
        lang = (Language.from_iso_code_639_1(getattr(IsoCode639_1, str(code).upper())) if code
                else _detector().detect_language_of(_last_user(prompt)))
        if lang is None:
            out.append(None)
            continue
        p = parse(prompt, completion)
        out.append(language_share(p.reasoning if field == "reasoning" else p.answer, lang))
    return out


# ----------------------------------------------------------------- datasets


def split_items(suite_name: str, split: str = "test") -> list[Item]:
    """Items of one split of a suite: "test" is the suite itself; others come from `register_split`."""
    if split == "test":
        return resolve_suites([suite_name])[0].items()
    get_suite(suite_name)  # imports the suite modules (which register their splits); unknown names fail here
    if (suite_name, split) not in SPLITS:
        have = sorted({f"{s}:{sp}" for s, sp in SPLITS} | {f"{suite_name}:test"})
        raise ValueError(f"suite '{suite_name}' has no split '{split}'; splits known: {', '.join(have)}")
    return SPLITS[(suite_name, split)]()


def item_row(item: Item) -> dict[str, Any]:
    """One dataset row of an item: a conversational prompt and the columns the rewards read."""
    return {"prompt": [dict(m) for m in item.messages], "reference": json.dumps(item.reference),
            "suite": item.suite, "item_id": item.id, "domain": item.domain, "verifiable": item.verifiable,
            "group": item.group, "meta": json.dumps(item.meta, default=str)}


def suite_dataset(suites: str | Iterable[str], split: str = "test", limit: int | None = None) -> Any:
    """A `datasets.Dataset` of suites' items (each suite cut to `limit` items when given).

        suite_dataset("gsm8k")[0]["prompt"] -> [{"role": "user", "content": "Janet's ducks ..."}]
        suite_dataset(["arith"], split="train", limit=1000)
    """
    from datasets import Dataset

    names = [suites] if isinstance(suites, str) else list(suites)
    if split == "test":
        groups = [s.items() for s in resolve_suites(names)]
    else:
        groups = [split_items(name, split) for name in names]
    rows = [item_row(it) for items in groups for it in (items if limit is None else items[:limit])]
    if not rows:
        raise ValueError(f"no items in {', '.join(names)} (split {split})")
    return Dataset.from_list(rows)
