"""From an items table to the router's dataset: one row per item, both modes side by side.

Per item (an item is `suite` + `item_id`, and `model`/`model_revision`/`profile` when the
table mixes several): the mean score and mean generated tokens over the item's `ok`
samples in each mode, the text a router sees, and the target

    utility u = (s_think - s_no_think) - lam * (tokens_think - tokens_no_think) / T
    label     = u > 0            (ties, |u| <= TIE_TOL, go to no-think: it is cheaper)

T is a token scale: with T = 1000 and lam = 0.1, a thousand extra tokens must buy 0.1 of
score. Generated tokens are `completion_tokens`, or `reasoning_tokens + answer_tokens`
where that is missing.

The text is what a router sees in production, `router_text(chat)`: the chat's last user
turn, Qwen3's soft switch (` /think`, ` /no_think`) removed so the text cannot give the
mode away, outer whitespace stripped. The serving proxy calls the same function on the
client's chat. With a `messages` column (the item's chat as JSON) the text is taken from
it; without one the turn is recovered from the rendered `prompt` (ChatML, Llama 3,
DeepSeek, Gemma, Mistral, harmony markers), else the whole prompt is used.

    >>> router_text('[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2? /no_think"}]')
    '2+2?'
    >>> user_turn_from_prompt("<|im_start|>user\\nHi there<|im_end|>\\n<|im_start|>assistant\\n")
    ('Hi there', 'prompt:user-turn')
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Sequence

import numpy as np
import pandas as pd

TIE_TOL = 1e-9  # |u| at or below this is a tie (floating noise of lam * tokens / T): no-think
MODES = ("think", "no_think")
_REQUIRED = ("suite", "item_id", "mode", "score", "status")
_MODEL_KEYS = ("model", "model_revision", "profile")

# Last user turn in a rendered prompt, per chat-template family (the last match wins).
_USER_TURN = [
    re.compile(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", re.S),                                # ChatML
    re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\n\n(.*?)<\|eot_id\|>", re.S),     # Llama 3
    re.compile(r"<\|start\|>user<\|message\|>(.*?)<\|end\|>", re.S),                           # harmony
    re.compile(r"<｜User｜>(.*?)(?=<｜Assistant｜>|$)", re.S),                                   # DeepSeek
    re.compile(r"<start_of_turn>user\n(.*?)<end_of_turn>", re.S),                              # Gemma
    re.compile(r"\[INST\](.*?)\[/INST\]", re.S),                                               # Mistral
]
_SOFT_SWITCH = re.compile(r"\s*/(?:no_)?think\s*$")


def last_user_turn(messages: Any) -> str | None:
    """The content of the last user message of a chat (a list, or its JSON text); None if none."""
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return None
    if not isinstance(messages, (list, tuple)):
        return None
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):  # OpenAI text parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content if isinstance(content, str) else None
    return None


def router_text(messages: Any) -> str | None:
    """The text a router scores for a chat (a list of {role, content}, or its JSON text):
    the last user turn, soft switch removed, stripped; None when the chat has no user text."""
    turn = last_user_turn(messages)
    return None if turn is None else _clean(turn)


def _clean(turn: str) -> str:
    return _SOFT_SWITCH.sub("", turn).strip()


def user_turn_from_prompt(prompt: str) -> tuple[str, str]:
    """(text, source): the last user turn of a rendered prompt, or the whole prompt."""
    for pattern in _USER_TURN:
        found = pattern.findall(prompt)
        if found:
            return found[-1].strip(), "prompt:user-turn"
    return prompt, "prompt"


def _row_text(row: pd.Series) -> tuple[str, str]:
    """(text, source) of an items-table row: `router_text` of its chat, else of its prompt."""
    if "messages" in row.index:
        text = router_text(row["messages"])
        if text is not None:
            return text, "messages"
    prompt = row["prompt"] if "prompt" in row.index and isinstance(row["prompt"], str) else ""
    text, source = user_turn_from_prompt(prompt)
    return _clean(text), source


def _tokens(df: pd.DataFrame) -> pd.Series:
    parts = pd.Series(np.nan, index=df.index)
    if "reasoning_tokens" in df and "answer_tokens" in df:
        parts = df["reasoning_tokens"].astype(float).fillna(0) + df["answer_tokens"].astype(float).fillna(0)
    if "completion_tokens" in df:
        return df["completion_tokens"].astype(float).fillna(parts)
    return parts


def build_dataset(items: pd.DataFrame, lam: float = 0.0, T: float = 1000,
                  modes: Sequence[str] = MODES) -> pd.DataFrame:
    """One row per item scored in both `modes` (think-like first, no-think-like second).

    Columns: the item keys (model, model_revision, profile when present; suite, item_id),
    domain, verifiable, group, text, text_source, score_think, score_no_think, tokens_think,
    tokens_no_think, k_think, k_no_think, gain, token_delta, utility, label. `df.attrs`
    holds lam, T, modes and what was dropped: rows whose status is not ok (by status),
    items scored in one mode only, items whose two modes show different user texts.
    """
    missing = [c for c in _REQUIRED if c not in items]
    if missing:
        raise ValueError(f"the items table lacks column(s) {missing}; build_dataset needs "
                         f"{list(_REQUIRED)} plus a prompt or messages column (see README, 'Items table')")
    if T <= 0:
        raise ValueError(f"T={T}: the token scale must be positive (e.g. T=1000 tokens)")
    if lam < 0:
        raise ValueError(f"lam={lam}: the token price must be >= 0 (0: think iff it scores higher)")
    think, base = modes
    keys = [c for c in _MODEL_KEYS if c in items and items[c].nunique(dropna=False) > 1] + ["suite", "item_id"]
    rows = items[items["mode"].isin([think, base])]
    not_ok = rows[rows["status"] != "ok"]
    ok = rows[(rows["status"] == "ok") & rows["score"].notna()].copy()
    ok["_tokens"] = _tokens(ok)
    ok["_order"] = (ok["mode"] == think).astype(int)  # the no-think row's text first
    ok = ok.sort_values([*keys, "_order"], kind="stable")

    per_mode = (ok.groupby([*keys, "mode"], sort=True)
                  .agg(score=("score", "mean"), tokens=("_tokens", "mean"), k=("score", "size"))
                  .unstack("mode"))
    present = [m for m in (think, base) if ("score", m) in per_mode.columns]
    both = per_mode.dropna(subset=[("score", m) for m in present]) if len(present) == 2 else per_mode.iloc[:0]
    first = ok.groupby(keys, sort=True).first()
    texts = {k: [_row_text(r) for _, r in g.iterrows()]
             for k, g in ok.groupby(keys, sort=True) if (k in both.index)}
    out = pd.DataFrame(index=both.index).reset_index()
    for col in ("domain", "verifiable", "group"):
        out[col] = first.reindex(both.index)[col].to_numpy() if col in first else None
    out["group"] = out["group"].where(out["group"].notna(), out["item_id"]) if len(out) else out["group"]
    out["text"] = [texts[k][0][0] for k in both.index]
    out["text_source"] = [texts[k][0][1] for k in both.index]
    for name, mode in (("think", think), ("no_think", base)):
        for what in ("score", "tokens", "k"):
            out[f"{what}_{name}"] = both[(what, mode)].to_numpy() if len(both) else []
    out["gain"] = out["score_think"] - out["score_no_think"]
    out["token_delta"] = out["tokens_think"] - out["tokens_no_think"]
    out["utility"] = out["gain"] - lam * out["token_delta"].fillna(0) / T
    out["label"] = out["utility"] > TIE_TOL
    mismatched = sum(len({t for t, _ in texts[k]}) > 1 for k in both.index)
    out.attrs = {
        "lam": float(lam), "T": float(T), "modes": [think, base], "n_items": int(len(out)),
        "excluded_rows": {str(k): int(v) for k, v in not_ok["status"].value_counts().items()},
        "excluded_unscored_ok_rows": int(((rows["status"] == "ok") & rows["score"].isna()).sum()),
        "items_one_mode_only": int(len(per_mode) - len(both)),
        "items_text_differs_between_modes": int(mismatched),
        "text_sources": {str(k): int(v) for k, v in out["text_source"].value_counts().items()},
        "runs": _runs(items),
    }
    return out


def _runs(items: pd.DataFrame) -> list[dict[str, Any]]:
    """The distinct (run, model, model_revision, profile) the table came from."""
    cols = [c for c in ("run", *_MODEL_KEYS) if c in items]
    if not cols or items.empty:
        return []
    runs = items[cols].drop_duplicates().astype(str)
    return runs.to_dict("records")


# ------------------------------------------------------------------------------ many arms

_BUDGET = re.compile(r"^budget:(\d+)(?:\+wait:(\d+))?$")


def is_arm(mode: str) -> bool:
    """A mode a router can choose: no_think, think, budget:N, budget:N+wait:M.

        >>> [is_arm(m) for m in ("no_think", "budget:128", "budget:64+wait:2", "default")]
        [True, True, True, False]
    """
    return mode in MODES or bool(_BUDGET.match(str(mode)))


def arm_rank(mode: str) -> tuple:
    """The nominal cost order of arms: no_think, budget:N by N (+wait after), think, others.

        >>> sorted(["think", "budget:512", "no_think", "budget:64"], key=arm_rank)
        ['no_think', 'budget:64', 'budget:512', 'think']
    """
    if mode == "no_think":
        return (0, 0, 0, "")
    m = _BUDGET.match(str(mode))
    if m:
        return (1, int(m.group(1)), int(m.group(2) or 0), "")
    return (2, 0, 0, "") if mode == "think" else (3, 0, 0, str(mode))


def order_arms(arms: Sequence[str], mean_tokens: dict[str, float]) -> list[str]:
    """Arms cheapest first: by mean generated tokens over the items, then by `arm_rank`."""
    def key(a):
        t = mean_tokens.get(a, math.nan)
        return (t if t == t else math.inf, arm_rank(a))
    return sorted(arms, key=key)


def arm_columns(arm: str) -> tuple[str, str, str, str]:
    """The columns of one arm in an arms dataset: score, tokens, k, utility."""
    return f"score:{arm}", f"tokens:{arm}", f"k:{arm}", f"utility:{arm}"


def build_arms_dataset(items: pd.DataFrame, lam: float = 0.0, T: float = 1000,
                       arms: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per item scored in every arm; the many-arm counterpart of `build_dataset`.

    arms: the modes to route between (default: every mode of the table that `is_arm`,
    e.g. no_think, budget:128, budget:512, think; `default` only when named). They are
    ordered cheapest first (`order_arms`) and that order breaks ties. Per arm a:
    `score:a`, `tokens:a`, `k:a` (ok samples), `utility:a` = score - lam * tokens / T;
    `best_arm` is the arm of the highest utility, a tie (within TIE_TOL) going to the
    cheaper arm. `df.attrs`: lam, T, arms, multiarm=True, arm_mean_tokens, and what was
    dropped (items_missing_arms: items not ok-scored in every arm).
    """
    missing = [c for c in _REQUIRED if c not in items]
    if missing:
        raise ValueError(f"the items table lacks column(s) {missing}; build_arms_dataset needs "
                         f"{list(_REQUIRED)} plus a prompt or messages column (see README, 'Items table')")
    if T <= 0:
        raise ValueError(f"T={T}: the token scale must be positive (e.g. T=1000 tokens)")
    if lam < 0:
        raise ValueError(f"lam={lam}: the token price must be >= 0 (0: the best-scoring arm)")
    present = [str(m) for m in pd.unique(items["mode"])]
    chosen = [m for m in present if is_arm(m)] if arms is None else [str(a) for a in arms]
    absent = [a for a in chosen if a not in present]
    if absent:
        raise ValueError(f"arm(s) {absent} are not modes of the runs; they have {sorted(present, key=arm_rank)}")
    if len(set(chosen)) < 2:
        raise ValueError(f"a router needs at least 2 arms, the runs have {chosen}; run more modes, "
                         "e.g. --modes no_think,budget:128,think")
    keys = [c for c in _MODEL_KEYS if c in items and items[c].nunique(dropna=False) > 1] + ["suite", "item_id"]
    rows = items[items["mode"].isin(chosen)]
    not_ok = rows[rows["status"] != "ok"]
    ok = rows[(rows["status"] == "ok") & rows["score"].notna()].copy()
    ok["_tokens"] = _tokens(ok)
    ok["_order"] = (ok["mode"] != "no_think").astype(int)  # the no-think row's text first
    ok = ok.sort_values([*keys, "_order"], kind="stable")
    per = (ok.groupby([*keys, "mode"], sort=True)
             .agg(score=("score", "mean"), tokens=("_tokens", "mean"), k=("score", "size"))
             .unstack("mode"))
    have = [a for a in chosen if ("score", a) in per.columns]
    if len(have) < len(chosen):
        raise ValueError(f"arm(s) {sorted(set(chosen) - set(have))} have no ok scored rows")
    full = per.dropna(subset=[("score", a) for a in chosen])
    mean_tokens = {a: float(full[("tokens", a)].mean()) if len(full) else math.nan for a in chosen}
    ordered = order_arms(chosen, mean_tokens)
    first = ok.groupby(keys, sort=True).first()
    texts = {k: [_row_text(r) for _, r in g.iterrows()] for k, g in ok.groupby(keys, sort=True) if k in full.index}
    out = pd.DataFrame(index=full.index).reset_index()
    for col in ("domain", "verifiable", "group"):
        out[col] = first.reindex(full.index)[col].to_numpy() if col in first else None
    out["group"] = out["group"].where(out["group"].notna(), out["item_id"]) if len(out) else out["group"]
    out["text"] = [texts[k][0][0] for k in full.index]
    out["text_source"] = [texts[k][0][1] for k in full.index]
    util = []
    for a in ordered:
        cs, ct, ck, cu = arm_columns(a)
        out[cs] = full[("score", a)].to_numpy(float) if len(full) else []
        out[ct] = full[("tokens", a)].to_numpy(float) if len(full) else []
        out[ck] = full[("k", a)].to_numpy(int) if len(full) else []
        out[cu] = out[cs] - lam * out[ct].fillna(0) / T
        util.append(out[cu].to_numpy(float))
    u = np.column_stack(util) if len(out) else np.zeros((0, len(ordered)))
    out["best_arm"] = [ordered[i] for i in best_index(u)]
    out.attrs = {
        "lam": float(lam), "T": float(T), "arms": ordered, "multiarm": True, "n_items": int(len(out)),
        "arm_mean_tokens": {a: mean_tokens[a] for a in ordered},
        "best_arm_counts": {a: int((out["best_arm"] == a).sum()) for a in ordered},
        "modes_not_arms": sorted(m for m in present if m not in chosen),
        "excluded_rows": {str(k): int(v) for k, v in not_ok["status"].value_counts().items()},
        "excluded_unscored_ok_rows": int(((rows["status"] == "ok") & rows["score"].isna()).sum()),
        "items_missing_arms": int(len(per) - len(full)),
        "items_text_differs_between_modes": int(sum(len({t for t, _ in texts[k]}) > 1 for k in full.index)),
        "text_sources": {str(k): int(v) for k, v in out["text_source"].value_counts().items()},
        "runs": _runs(items),
    }
    return out


def best_index(utility: np.ndarray, tol: float = TIE_TOL) -> np.ndarray:
    """Per row, the first (cheapest) column within `tol` of the row's maximum.

        >>> best_index(np.array([[0.5, 0.5, 0.2], [0.1, 0.3, 0.3 + 1e-12], [-np.inf, -np.inf, -np.inf]]))
        array([0, 1, 0])
    """
    u = np.atleast_2d(np.asarray(utility, float))
    if u.shape[0] == 0:
        return np.zeros(0, int)
    top = np.max(u, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        near = (u >= top - tol) | (top == -np.inf)
    return np.argmax(near, axis=1)


def build_router_dataset(items: pd.DataFrame, lam: float = 0.0, T: float = 1000,
                         arms: Sequence[str] | None = None) -> pd.DataFrame:
    """The dataset `train_router` wants for these runs: the arms present (or `arms`);
    exactly think and no_think -> `build_dataset` (the two-arm router), more ->
    `build_arms_dataset` (a MultiArmRouter)."""
    present = [str(m) for m in pd.unique(items["mode"])] if "mode" in items else []
    chosen = [m for m in present if is_arm(m)] if arms is None else [str(a) for a in arms]
    if sorted(chosen) == sorted(MODES):
        return build_dataset(items, lam=lam, T=T)
    return build_arms_dataset(items, lam=lam, T=T, arms=chosen)
