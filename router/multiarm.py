"""A router over many arms: no_think, budget:N..., think. It picks, per prompt, the arm
of the highest predicted utility  u_a = P(arm a solves it) - lam * tokens_a / T.

    ds = build_arms_dataset(items, lam=0.05, T=1000)       # one row per item, every arm
    router = train_router(ds, features="tfidf+hand")         # a MultiArmRouter
    router.arms                  -> ["no_think", "budget:128", "think"]   cheapest first
    router.choose(["What is 17 * 23?"])           -> ["budget:128"]
    router.choose(["What is 17 * 23?"], lam=0.0)  -> ["think"]   another price, same model
    router.arm_scores(["What is 17 * 23?"])       -> array([[0.21, 0.64, 0.88]])  calibrated

The model, one head per arm over shared features (fit once):
- a score head: P(the arm's answer is right), a classifier from ROUTER_MODELS ("logreg":
  calibrated logistic regression). A fractional item score s (a mean over samples, a
  partial-credit scorer) is a soft label: the item counts as a success with weight s and
  as a failure with weight 1 - s. An arm that always (or never) succeeds is a constant.
- a token head: the arm's expected generated tokens (ridge regression, clipped at 0).

Why heads per arm and not one classifier of "which arm is best": with small data each
head learns from every item (a best-arm classifier learns from the few items where an
arm wins, and the labels change with lam), the scores are calibrated probabilities one
can read, and the price lam stays a decision-time knob: the evaluation's cost curve and
a server's price change need no retraining. Ties (within TIE_TOL) go to the cheaper arm.
A stacked variant (one logistic regression over shared + per-arm weights, which shrinks
arm differences toward zero) was measured on tests/router/synthetic.py's arms table at
lam 0, 0.05, 0.2: mean utility within 0.004 of these heads, for a more complex model.

The two-arm API stays: `score` is the predicted utility gain of the best arm other than
the cheapest over the cheapest (at the router's lam); `decide` is score > threshold
(0 by default: leave the cheapest arm only when it pays), i.e. choose() != arms[0].
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from thinkgate.router.dataset import TIE_TOL, arm_columns, best_index
from thinkgate.router.model import ConstantModel, Router, check_model, library_versions, make_model

_NEEDED = ("text", "best_arm")


class ArmModel:
    """Fitted shared features + per-arm score and token heads. predict(texts) -> (P, tokens),
    both (n, len(arms)), arms cheapest first."""

    def __init__(self, arms: Sequence[str], features: Any, score_heads: list, token_heads: list):
        self.arms, self.features = list(arms), features
        self.score_heads, self.token_heads = score_heads, token_heads

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        n = len(texts)
        X = self.features.transform(list(texts))
        P = np.column_stack([np.full(n, h.p) if isinstance(h, ConstantModel) else h.predict_proba(X)[:, 1]
                             for h in self.score_heads])
        tok = np.column_stack([np.full(n, float(h)) if isinstance(h, (int, float)) else h.predict(X)
                               for h in self.token_heads])
        return np.clip(P.astype(np.float64), 0.0, 1.0), np.maximum(tok.astype(np.float64), 0.0)


def _score_head(model: str, X: Any, s: np.ndarray, seed: int):
    """P(success) of one arm from soft labels s in [0, 1]."""
    pos, neg = np.flatnonzero(s > 0), np.flatnonzero(s < 1)
    if not len(pos) or not len(neg):
        return ConstantModel(float(s.mean()) if len(s) else 0.0)
    idx = np.r_[pos, neg]
    y = np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]
    w = np.r_[s[pos], 1 - s[neg]]
    clf = make_model(model, y, seed)
    if np.all(w == 1):
        return clf.fit(X[idx], y)
    return clf.fit(X[idx], y, sample_weight=w)


def _token_head(X: Any, t: np.ndarray):
    from sklearn.linear_model import Ridge

    t = np.where(np.isfinite(t), t, np.nan)
    if np.all(np.isnan(t)):
        return 0.0
    t = np.where(np.isnan(t), np.nanmean(t), t)
    if np.ptp(t) == 0:
        return float(t[0])
    return Ridge(alpha=1.0).fit(X, t)


def fit_arm_model(features: str, model: str, texts: Sequence[str], S: np.ndarray, Tok: np.ndarray,
                  arms: Sequence[str], seed: int = 0) -> ArmModel:
    """Fit the shared features once, then each arm's heads. S, Tok: (n, len(arms))."""
    from thinkgate.router.features import make_features

    S = np.asarray(S, float)
    if np.any((S < 0) | (S > 1)):
        raise ValueError("a many-arm router needs item scores in [0, 1] (it predicts P(success) per arm); "
                         "rescale the scorer's output or route on a suite scored in [0, 1]")
    feats = make_features(features, dense=model == "gbdt", seed=seed)
    X = feats.fit_transform(list(texts))
    return ArmModel(arms, feats, [_score_head(model, X, S[:, a], seed) for a in range(len(arms))],
                    [_token_head(X, np.asarray(Tok, float)[:, a]) for a in range(len(arms))])


class MultiArmRouter(Router):
    """A Router whose `choose` picks among `arms` (cheapest first) by predicted utility.
    `pipeline` is the ArmModel; `meta` holds lam, T, arms and what it was trained on."""

    def __init__(self, model: ArmModel, meta: dict[str, Any], fast: Any = None, threshold: float = 0.0):
        super().__init__(model, threshold, meta, fast)

    @property
    def arms(self) -> list[str]:
        return list(self.pipeline.arms)

    @property
    def lam(self) -> float:
        return float(self.meta.get("lam", 0.0))

    @property
    def T(self) -> float:
        return float(self.meta.get("T", 1000.0))

    def predict(self, texts: Sequence[str] | str) -> tuple[np.ndarray, np.ndarray]:
        """(P(success), expected tokens), each (n, len(arms))."""
        if isinstance(texts, str):
            texts = [texts]
        texts = ["" if t is None else str(t) for t in texts]
        k = len(self.arms)
        if not texts:
            return np.zeros((0, k)), np.zeros((0, k))
        fast = getattr(self, "fast", None)
        if fast is not None and len(texts) <= self.FAST_MAX:
            pairs = [fast(t) for t in texts]
            return np.stack([p for p, _ in pairs]), np.stack([t for _, t in pairs])
        return self.pipeline.predict(texts)

    def arm_scores(self, texts: Sequence[str] | str) -> np.ndarray:
        """Calibrated P(the arm's answer is right), (n, len(arms))."""
        return self.predict(texts)[0]

    def utilities(self, texts: Sequence[str] | str, lam: float | None = None) -> np.ndarray:
        """Predicted utility per arm, P - lam * tokens / T (lam: the router's own by default)."""
        P, tok = self.predict(texts)
        return utility(P, tok, self.lam if lam is None else lam, self.T)

    def choose_index(self, texts: Sequence[str] | str, lam: float | None = None) -> np.ndarray:
        return best_index(self.utilities(texts, lam))

    def choose(self, texts: Sequence[str] | str, lam: float | None = None) -> list[str]:
        """The arm per prompt: the highest predicted utility at `lam` (ties: the cheaper arm)."""
        arms = self.arms
        return [arms[i] for i in self.choose_index(texts, lam)]

    def score(self, texts: Sequence[str] | str) -> np.ndarray:
        """Predicted utility gain of the best arm beyond the cheapest over the cheapest."""
        u = self.utilities(texts)
        return u[:, 1:].max(axis=1) - u[:, 0] if len(u) else np.zeros(0)

    def decide(self, texts: Sequence[str] | str, threshold: float | None = None) -> np.ndarray:
        """Leave the cheapest arm iff score > threshold (default 0: iff choose() says so)."""
        t = self.threshold if threshold is None else float(threshold)
        return self.score(texts) > t + TIE_TOL

    @property
    def constant(self) -> bool:
        return all(isinstance(h, ConstantModel) for h in self.pipeline.score_heads)

    def __repr__(self) -> str:
        m = self.meta
        return (f"MultiArmRouter(arms={self.arms}, features={m.get('features')!r}, model={m.get('model')!r}, "
                f"lam={m.get('lam')}, T={m.get('T')}, n_items={m.get('n_items')})")


def utility(P: np.ndarray, tokens: np.ndarray, lam: float, T: float) -> np.ndarray:
    """P - lam * tokens / T; lam = inf prices every arm at -inf (a tie: the cheapest arm)."""
    if math.isinf(lam):
        return np.full(np.shape(P), -np.inf)
    return np.asarray(P, float) - float(lam) * np.asarray(tokens, float) / float(T)


# ------------------------------------------------------------------------------- training

def arm_matrices(ds: pd.DataFrame, arms: Sequence[str] | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(arms, S, Tok) of an arms dataset: per-item score and tokens, (n, len(arms))."""
    have = list(ds.attrs.get("arms") or [])
    if arms is not None and have and sorted(arms) != sorted(have):
        raise ValueError(f"the router chooses among {list(arms)} but the dataset's arms are {have}; "
                         "evaluate it on runs made with every one of its modes")
    arms = list(arms or have)
    if not arms:
        raise ValueError("the dataset names no arms; make it with thinkgate.router.build_arms_dataset(items)")
    missing = [c for a in arms for c in arm_columns(a)[:2] if c not in ds]
    if missing:
        raise ValueError(f"the arms dataset lacks {missing}; make it with build_arms_dataset(items)")
    S = np.column_stack([ds[arm_columns(a)[0]].to_numpy(float) for a in arms])
    Tok = np.column_stack([np.nan_to_num(ds[arm_columns(a)[1]].to_numpy(float)) for a in arms])
    return arms, S, Tok


def _check(dataset: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _NEEDED if c not in dataset]
    if missing or not dataset.attrs.get("arms"):
        raise ValueError(f"the router dataset lacks {missing or 'attrs[arms]'}; make it with "
                         "thinkgate.router.build_arms_dataset(items)")
    if dataset.empty:
        raise ValueError("the router dataset is empty: it needs items scored in every arm "
                         "(run every mode on the same items)")
    out = dataset.reset_index(drop=True)
    out.attrs = dict(dataset.attrs)
    return out


def oof_predictions(ds: pd.DataFrame, features: str, model: str = "logreg", seed: int = 0,
                    groups: str = "group", n_splits: int = 5) -> tuple[np.ndarray, np.ndarray] | None:
    """Out-of-fold (P, tokens) for every item (None when CV is impossible)."""
    from thinkgate.router.features import embedding_cache
    from thinkgate.router.train import folds, group_labels

    arms, S, Tok = arm_matrices(ds)
    y = np.array([arms.index(a) for a in ds["best_arm"]])
    split = folds(y, group_labels(ds, groups), n_splits, seed)
    if not split:
        return None
    texts = ds["text"].tolist()
    P, tok = np.full(S.shape, np.nan), np.full(S.shape, np.nan)
    with embedding_cache():
        for tr, te in split:
            m = fit_arm_model(features, model, [texts[i] for i in tr], S[tr], Tok[tr], arms, seed)
            P[te], tok[te] = m.predict([texts[i] for i in te])
    return P, tok


def realized(choice: np.ndarray, S: np.ndarray, Tok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score, tokens) per item of a choice of arm (indices) per item."""
    rows = np.arange(len(choice))
    return S[rows, choice], Tok[rows, choice]


def _select(ds, candidates, model, seed, groups, n_splits):
    arms, S, Tok = arm_matrices(ds)
    lam, T = float(ds.attrs.get("lam", 0.0)), float(ds.attrs.get("T", 1000.0))
    true_u = utility(S, Tok, lam, T)
    table, best = [], None
    for cand in candidates:
        try:
            pred = oof_predictions(ds, cand, model, seed, groups, n_splits)
        except (ImportError, OSError) as exc:
            table.append({"features": cand, "skipped": str(exc)})
            continue
        if pred is None:
            from thinkgate.router.train import DEFAULT_FEATURES

            fallback = candidates[0] if len(candidates) == 1 else DEFAULT_FEATURES
            return fallback, [{"features": fallback, "reason": "too few groups for CV"}]
        choice = best_index(utility(*pred, lam, T))
        row = {"features": cand, "cv_mean_utility": float(true_u[np.arange(len(choice)), choice].mean())}
        table.append(row)
        if best is None or row["cv_mean_utility"] > best["cv_mean_utility"] + 1e-12:
            best = row
    if best is None:
        raise RuntimeError(f"no candidate feature set could be used: {table}")
    return best["features"], table


def train_multiarm(dataset: pd.DataFrame, features: str = "auto", model: str = "logreg", seed: int = 0, *,
                   candidates: Sequence[str] | None = None, held_out: float = 0.25, groups: str = "group",
                   n_splits: int = 5, n_boot: int = 1000) -> MultiArmRouter:
    """A trained MultiArmRouter on an arms dataset (`build_arms_dataset`); as train_router:
    features "auto" picks, by grouped CV, the candidate whose out-of-fold choices have the
    highest mean utility; `held_out` groups measure the procedure; the saved model is
    refit on every item."""
    from thinkgate.router.evaluate_arms import arm_metrics
    from thinkgate.router.fast import compile_fast_arms
    from thinkgate.router.features import AUTO_CANDIDATES, embedding_cache, parse_features
    from thinkgate.router.train import _holdout

    ds = _check(dataset)
    check_model(model)
    cands = list(candidates or AUTO_CANDIDATES) if features == "auto" else [features]
    for c in cands:
        parse_features(c)
    arms, S, Tok = arm_matrices(ds)
    meta = _meta(ds, features, model, seed, groups, arms)
    with embedding_cache():
        train, test = _holdout(ds, held_out, groups, seed, meta)
        if len(cands) > 1:
            chosen, table = _select(train, cands, model, seed, groups, n_splits)
        else:
            chosen, table = cands[0], []
        meta["features"], meta["feature_selection"] = chosen, table
        if test is not None:
            _, S_tr, Tok_tr = arm_matrices(train)
            m = fit_arm_model(chosen, model, train["text"].tolist(), S_tr, Tok_tr, arms, seed)
            held = MultiArmRouter(m, dict(meta))
            ev = arm_metrics(held, test, seed=seed, n_boot=n_boot)
            meta["held_out"] = {"n_items": len(test), "note": "model fit on the other groups; the saved "
                                "model is refit on every item", **_summary(ev)}
        final = fit_arm_model(chosen, model, ds["text"].tolist(), S, Tok, arms, seed)
        fast = compile_fast_arms(final, ds["text"].tolist())
    meta["fast_path"] = fast is not None
    if all(isinstance(h, ConstantModel) for h in final.score_heads):
        meta["degenerate"] = "every arm's score is constant over the items: the router's choice follows tokens only"
    return MultiArmRouter(final, meta, fast)


def _summary(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ev.items() if k not in ("curve", "per_domain")}


def _meta(ds: pd.DataFrame, features: str, model: str, seed: int, groups: str, arms: list[str]) -> dict[str, Any]:
    import datetime as _dt

    attrs = ds.attrs or {}
    domains = ds["domain"].astype(str).value_counts().sort_index() if "domain" in ds else pd.Series(dtype=int)
    return {
        "kind": "multiarm", "arms": list(arms), "modes": list(arms),
        "features": features, "features_requested": features, "model": model, "seed": seed,
        "lam": attrs.get("lam", 0.0), "T": attrs.get("T", 1000.0), "cv_groups": groups,
        "n_items": int(len(ds)), "arm_mean_tokens": attrs.get("arm_mean_tokens", {}),
        "best_arm_counts": {a: int((ds["best_arm"] == a).sum()) for a in arms},
        "domains": {str(k): int(v) for k, v in domains.items()}, "runs": attrs.get("runs", []),
        "dataset": {k: v for k, v in attrs.items() if k not in ("runs", "lam", "T", "arms")},
        "score": "per arm: P(the arm's answer is right) (calibrated) and expected tokens; "
                 "utility = P - lam * tokens / T",
        "decision": "choose the arm of the highest predicted utility at lam; ties go to the cheaper arm",
        "threshold_rule": "many arms: no threshold is chosen; decide() (leave the cheapest arm) is "
                          "score > 0, i.e. choose() != arms[0]",
        "versions": library_versions(),
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def leave_one_domain_out_arms(dataset: pd.DataFrame, features: str = "tfidf+hand", model: str = "logreg",
                              seed: int = 0, n_boot: int = 1000, **train_kw: Any) -> list[dict[str, Any]]:
    """For each domain: train on the others, choose on it. One row per domain."""
    from thinkgate.router.evaluate_arms import arm_metrics, arm_row

    ds = _check(dataset)
    if "domain" not in ds or ds["domain"].nunique() < 2:
        raise ValueError("leave-one-domain-out needs items from at least 2 domains")
    rows = []
    for dom, idx in sorted(ds.groupby("domain").indices.items()):
        mask = np.ones(len(ds), bool)
        mask[idx] = False
        train, test = ds[mask].reset_index(drop=True), ds.iloc[idx].reset_index(drop=True)
        train.attrs, test.attrs = dict(ds.attrs), dict(ds.attrs)
        router = train_multiarm(train, features, model, seed, held_out=0, n_boot=0, **train_kw)
        ev = arm_metrics(router, test, seed=seed, n_boot=n_boot)
        rows.append({"domain": str(dom), "n_train": int(mask.sum()),
                     "train_domains": sorted(str(d) for d in train["domain"].unique()),
                     "features": router.meta["features"], **arm_row(ev)})
    return rows
