"""Pairwise judge for the non-verifiable domains: think answer vs no-think answer.

For every item scored in both modes (sample k of think against sample k of no_think), a
judge model is asked which ANSWER is better — never shown the reasoning — in both
orders, to expose position bias. Each verdict is stored (resumable, like generations);
`thinkgate.reports.judge_estimates` turns them into a think win rate with a CI and the
agreement between the two orders. Any backend can judge (vLLM, transformers, or a served
model over the OpenAI-compatible API); the rubric depends on the domain.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from thinkgate.harness.backends import EngineConfig, EngineRequest, is_served, make_backend
from thinkgate.harness.errors import UserError
from thinkgate.harness.models import ModelRef, resolve_model
from thinkgate.harness.parsing import parse_completion
from thinkgate.harness.profiles import Sampling
from thinkgate.harness.store import Store

RUBRICS = {
    "summary": "Judge faithfulness to the source, coverage of its key points, and brevity.",
    "translation": "Judge adequacy (the full meaning is preserved) and fluency in the target language.",
    "writing": "Judge how well the answer follows every instruction (length, format, constraints) and its quality as writing.",
    "longtail": "Judge factual correctness first; an honest 'cannot be answered' beats a confident wrong answer.",
}
DEFAULT_RUBRIC = "Judge correctness, helpfulness and how well the instructions are followed."

PROMPT = """You are comparing two answers to the same request. {rubric}
Ignore answer length unless the request asks for a length. Do not let the order of the answers affect you.

[Request]
{question}

[Answer A]
{a}

[Answer B]
{b}

Which answer is better? Reply with one letter only: A, B, or T (a tie)."""

_VERDICT = re.compile(r"\b([ABT])\b")


@dataclass(frozen=True)
class JudgeConfig:
    model: str | None  # None: the embedded default (a poor judge, but a real one)
    backend: str = "auto"
    max_tokens: int = 512
    engine: EngineConfig = EngineConfig()


def parse_verdict(text: str) -> str:
    """First standalone A, B or T of the judge's answer: parse_verdict("**B** is better") -> "B"."""
    m = _VERDICT.search(text.replace("*", " "))
    return m.group(1) if m else "invalid"


def _pairs(items: Any) -> list[dict[str, Any]]:
    ok = items[(items["status"] == "ok") & (~items["verifiable"]) & items["mode"].isin(["think", "no_think"])]
    pairs = []
    for (suite, item_id, sample), g in ok.groupby(["suite", "item_id", "sample"], sort=True):
        by_mode = {r["mode"]: r for _, r in g.iterrows()}
        if {"think", "no_think"} <= by_mode.keys():
            pairs.append({"suite": suite, "item_id": item_id, "sample": int(sample),
                          "think": by_mode["think"], "no_think": by_mode["no_think"]})
    return pairs


def plan_judgments(store: Store, judge_name: str) -> list[dict[str, Any]]:
    items = store.items()
    plans = []
    for p in _pairs(items):
        t, n = p["think"], p["no_think"]
        question = _user_text(store, t["key"])
        for order, (ra, rb) in (("think_first", (t, n)), ("no_think_first", (n, t))):
            key = hashlib.sha256(json.dumps([judge_name, ra["key"], rb["key"], order, PROMPT]).encode()).hexdigest()
            text = PROMPT.format(rubric=RUBRICS.get(t["domain"], DEFAULT_RUBRIC), question=question,
                                 a=ra["answer"] or "(empty answer)", b=rb["answer"] or "(empty answer)")
            plans.append({"key": key, "judge_model": judge_name, "suite": p["suite"], "domain": t["domain"],
                          "item_id": p["item_id"], "sample": p["sample"], "order_": order,
                          "key_a": ra["key"], "key_b": rb["key"], "mode_a": ra["mode"], "mode_b": rb["mode"],
                          "text": text})
    return plans


def _user_text(store: Store, key: str) -> str:
    """The item's request as the user wrote it (system and user turns, no profile prompt)."""
    (messages,) = store.db.execute("SELECT messages FROM requests WHERE key=?", (key,)).fetchone()
    return "\n\n".join(m["content"] for m in json.loads(messages) if m["role"] != "assistant")


def _tokenizer(model: ModelRef) -> Any:
    from thinkgate.harness.runner import load_tokenizer

    return load_tokenizer(model)


def _judge_requests(plans: list[dict[str, Any]], tok: Any, max_tokens: int) -> list[EngineRequest]:
    """One request per verdict; a judge decodes greedily (its verdict should not be a coin flip).
    A local engine gets the judge's chat template applied here; a served one gets the chat."""
    out = []
    for p in plans:
        chat = ({"role": "user", "content": p["text"]},)
        sampling = Sampling(temperature=0.0, max_tokens=max_tokens)
        if tok is None:
            out.append(EngineRequest(p["key"], "", (), sampling, chat))
            continue
        prompt = tok.apply_chat_template(list(chat), tokenize=False, add_generation_prompt=True)
        ids = tuple(tok(prompt, add_special_tokens=False)["input_ids"])
        out.append(EngineRequest(p["key"], prompt, ids, sampling, chat))
    return out


def run_judge(store: Store, cfg: JudgeConfig, progress: Any = None) -> int:
    """Judge every not-yet-judged pair in both orders; return how many verdicts were added."""
    served = is_served(cfg.backend)
    if served and not cfg.model:
        raise UserError(f"a judge on --backend {cfg.backend} needs the served judge model's name (--judge NAME)")
    model = ModelRef(cfg.model, cfg.model, "served") if served else resolve_model(cfg.model)
    judged = store.judged_keys()  # one query, not one per verdict
    plans = [p for p in plan_judgments(store, model.name) if p["key"] not in judged]
    if not plans:
        return 0
    requests = _judge_requests(plans, None if served else _tokenizer(model), cfg.max_tokens)
    by_key = {p["key"]: p for p in plans}
    # the same registry as the model under test: a judge on a served model is a served model
    backend = make_backend(cfg.backend, model.path, cfg.engine)
    task = progress.add_task("judging", total=len(requests)) if progress else None
    done = 0
    for batch in backend.generate(requests):
        rows = []
        for g in batch:
            p = by_key[g.key]
            answer = parse_completion("", g.text).answer if g.finish_reason != "error" else ""
            verdict = parse_verdict(answer) if g.finish_reason != "error" else "invalid"
            winner = {"A": p["mode_a"], "B": p["mode_b"], "T": "tie"}.get(verdict, "invalid")
            rows.append({**{k: p[k] for k in p if k != "text"}, "judge_text": g.text, "verdict": verdict,
                         "winner": winner, "error": g.error})
        store.put_judgments(rows)
        done += len(rows)
        if progress:
            progress.advance(task, len(rows))
    backend.close()
    return done
