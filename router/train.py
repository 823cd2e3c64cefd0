"""Training a router: grouped cross-validation, feature choice, threshold, held-out
metrics, and leave-one-domain-out.

train_router(dataset) does, with one seed throughout:
1. hold out `held_out` of the item groups (when there are at least 8 groups);
2. on the rest, grouped K-fold CV (folds never split a group) gives out-of-fold scores
   for each candidate feature set (features="auto") and keeps the one whose out-of-fold
   curve of net value (score - lam * tokens / T) against think rate has the largest area;
3. the threshold maximizes the out-of-fold mean utility of thinking (ties: think less);
4. the held-out groups measure that procedure (model fit on the rest) -> meta["held_out"];
5. the saved model is refit on every item.
"""

from __future__ import annotations

import datetime as _dt
import math
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from thinkgate.router.evaluate import area, blocks, dataset_metrics, domain_row, sweep
from thinkgate.router.fast import compile_fast
from thinkgate.router.features import AUTO_CANDIDATES, embedding_cache, parse_features
from thinkgate.router.model import ConstantModel, Router, check_model, fit_pipeline, library_versions

DEFAULT_FEATURES = "tfidf+hand"  # when there is too little data to choose by CV
GROUPINGS = ("group", "suite", "domain", "item")
_NEEDED = ("text", "label", "utility", "score_think", "score_no_think")


def _check(dataset: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _NEEDED if c not in dataset]
    if missing:
        raise ValueError(f"the router dataset lacks {missing}; make it with "
                         "thinkgate.router.build_dataset(items)")
    if dataset.empty:
        raise ValueError("the router dataset is empty: it needs items scored in both think and "
                         "no_think (run both modes on the same items)")
    return dataset.reset_index(drop=True)


def group_labels(dataset: pd.DataFrame, by: str = "group") -> np.ndarray:
    """Cluster labels for grouped CV: item groups (within suite), suites, domains or items."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(GROUPINGS)}")
    suite = dataset["suite"].astype(str) if "suite" in dataset else pd.Series("", index=dataset.index)
    if by == "item" or (by == "group" and "group" not in dataset):
        return np.arange(len(dataset)).astype(str)
    if by == "group":
        return (suite + "\x1f" + dataset["group"].astype(str)).to_numpy()
    return dataset[by].astype(str).to_numpy()


def folds(y: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped, label-stratified folds (StratifiedGroupKFold); [] when fewer than 2 groups."""
    from sklearn.model_selection import StratifiedGroupKFold

    k = min(n_splits, len(np.unique(groups)))
    if k < 2:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only N members"
        cv = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in cv.split(np.zeros(len(y)), y, groups) if len(te)]


def oof_scores(dataset: pd.DataFrame, features: str, model: str = "logreg", seed: int = 0,
               groups: str = "group", n_splits: int = 5) -> np.ndarray | None:
    """Out-of-fold P(think pays) for every item (None when CV is impossible)."""
    ds = _check(dataset)
    y = ds["label"].to_numpy(int)
    texts = ds["text"].tolist()
    split = folds(y, group_labels(ds, groups), n_splits, seed)
    if not split:
        return None
    out = np.full(len(ds), np.nan)
    with embedding_cache():
        for tr, te in split:
            pipe = fit_pipeline(features, model, [texts[i] for i in tr], y[tr], seed)
            out[te] = pipe.predict_proba([texts[i] for i in te])[:, 1]
    return out


def _net(ds: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    lam, T = float(ds.attrs.get("lam", 0.0)), float(ds.attrs.get("T", 1000.0))
    tt = ds["tokens_think"].fillna(0).to_numpy(float) if "tokens_think" in ds else 0.0
    tn = ds["tokens_no_think"].fillna(0).to_numpy(float) if "tokens_no_think" in ds else 0.0
    return ds["score_think"].to_numpy(float) - lam * tt / T, ds["score_no_think"].to_numpy(float) - lam * tn / T


def choose_threshold(scores: np.ndarray, utility: np.ndarray) -> tuple[float, float]:
    """(threshold, mean utility over never-think): think iff score >= threshold, chosen to
    maximize the mean utility; between two tied blocks the threshold is their midpoint;
    ties between thresholds go to thinking less.

        >>> choose_threshold(np.array([0.9, 0.6, 0.2]), np.array([1.0, -0.5, 0.1]))
        (0.75, 0.3333333333333333)
    """
    order, ends = blocks(scores)
    s = np.asarray(scores, float)[order]
    cum = np.r_[0.0, np.cumsum(np.asarray(utility, float)[order])[ends - 1]]
    k = int(np.argmax(cum > cum.max() - 1e-12))  # the fewest blocks reaching the best value
    if k == 0:
        t = 1.0
    elif k == len(ends):
        t = 0.0
    else:
        t = float((s[ends[k - 1] - 1] + s[ends[k - 1]]) / 2)  # last thought, first not
    return t, float(cum[k] / len(s))


def cross_validate(dataset: pd.DataFrame, features: str = DEFAULT_FEATURES, model: str = "logreg",
                   seed: int = 0, groups: str = "group", n_splits: int = 5, n_boot: int = 1000) -> dict[str, Any]:
    """Grouped CV: routing metrics of the out-of-fold scores (overall and per domain) at
    the threshold chosen on those same scores (so the threshold's figures are optimistic)."""
    ds = _check(dataset)
    scores = oof_scores(ds, features, model, seed, groups, n_splits)
    if scores is None:
        return {"features": features, "model": model, "groups": groups, "n_folds": 0,
                "reason": f"fewer than 2 {groups}s: no cross-validation"}
    t, _ = choose_threshold(scores, ds["utility"].to_numpy(float))
    out = {"features": features, "model": model, "groups": groups, "seed": seed,
           "n_folds": len(folds(ds["label"].to_numpy(int), group_labels(ds, groups), n_splits, seed)),
           "threshold": t, **dataset_metrics(scores, ds, t, seed, n_boot)}
    if "domain" in ds and ds["domain"].nunique() > 1:
        out["per_domain"] = [{"domain": str(d), **domain_row(dataset_metrics(scores[i], ds.iloc[i], t, seed, n_boot))}
                             for d, i in sorted(ds.groupby("domain").indices.items())]
    return out


def _select(ds: pd.DataFrame, candidates: Sequence[str], model: str, seed: int, groups: str,
            n_splits: int) -> tuple[str, list[dict[str, Any]], np.ndarray | None]:
    vt, vn = _net(ds)
    table, best, best_scores = [], None, None
    for cand in candidates:
        try:
            scores = oof_scores(ds, cand, model, seed, groups, n_splits)
        except (ImportError, OSError) as exc:  # e.g. MiniLM without sentence-transformers or its files
            table.append({"features": cand, "skipped": str(exc)})
            continue
        if scores is None:
            fallback = candidates[0] if len(candidates) == 1 else DEFAULT_FEATURES
            return fallback, [{"features": fallback, "reason": "too few groups for CV"}], None
        r, v = sweep(scores, vt, vn)
        row = {"features": cand, "cv_auc_net": float(area(r, v))}
        table.append(row)
        if best is None or row["cv_auc_net"] > best["cv_auc_net"] + 1e-12:
            best, best_scores = row, scores
    if best is None:
        raise RuntimeError(f"no candidate feature set could be used: {table}")
    return best["features"], table, best_scores


def train_router(dataset: pd.DataFrame, features: str = "auto", model: str = "logreg", seed: int = 0, *,
                 candidates: Sequence[str] | None = None, held_out: float = 0.25, groups: str = "group",
                 n_splits: int = 5, n_boot: int = 1000) -> Router:
    """A trained Router. features: "auto" (chosen by grouped CV among `candidates`,
    default AUTO_CANDIDATES) or a name such as "tfidf+hand"; model: "logreg" or "gbdt".
    held_out: share of groups kept out to measure the router (0: none).
    A dataset from build_arms_dataset (attrs["multiarm"]) gives a MultiArmRouter
    (router/multiarm.py) trained the same way."""
    if dataset.attrs.get("multiarm"):
        from thinkgate.router.multiarm import train_multiarm

        return train_multiarm(dataset, features, model, seed, candidates=candidates, held_out=held_out,
                              groups=groups, n_splits=n_splits, n_boot=n_boot)
    ds = _check(dataset)
    check_model(model)
    if features != "auto":
        parse_features(features)
    cands = list(candidates or AUTO_CANDIDATES) if features == "auto" else [features]
    for c in cands:
        parse_features(c)
    y = ds["label"].to_numpy(int)
    meta = _base_meta(ds, features, model, seed, groups)
    if y.min() == y.max():
        what = "worth it" if y[0] else "not worth it"
        meta.update(features=cands[0] if len(cands) == 1 else DEFAULT_FEATURES,
                    degenerate=f"all {len(y)} items have label {y[0]} (thinking {what} at lam={meta['lam']}, "
                               f"T={meta['T']}): a constant router that always says "
                               f"{'think' if y[0] else 'no-think'}; nothing to learn",
                    threshold_rule="constant router: 0.5", fast_path=False)
        return Router(ConstantModel(float(y[0])), 0.5, meta)

    with embedding_cache():
        train, test = _holdout(ds, held_out, groups, seed, meta)
        chosen, table, scores = _select(train, cands, model, seed, groups, n_splits)
        meta["features"], meta["feature_selection"] = chosen, table
        if scores is not None:
            threshold, value = choose_threshold(scores, train["utility"].to_numpy(float))
            meta["threshold_rule"] = ("maximizes the out-of-fold mean utility of thinking "
                                      f"({value:.4g} over never-think) on grouped {groups} CV")
            meta["cv"] = {"n_items": len(train), "features": chosen,
                          "note": "out-of-fold scores; the features and the threshold were chosen on these "
                                  "same scores, so these figures lean optimistic: read held_out",
                          **_summary(dataset_metrics(scores, train, threshold, seed, n_boot))}
        else:
            threshold = 0.5
            meta["threshold_rule"] = "0.5 (too few groups to choose one by cross-validation)"
        if test is not None:
            pipe = fit_pipeline(chosen, model, train["text"].tolist(), train["label"].to_numpy(int), seed)
            held = Router(pipe, threshold, {})
            m = dataset_metrics(held.score(test["text"].tolist()), test, threshold, seed, n_boot)
            meta["held_out"] = {"n_items": len(test), "note": "model fit on the other groups; the saved "
                                "model is refit on every item", **m}
        final = fit_pipeline(chosen, model, ds["text"].tolist(), y, seed)
        fast = compile_fast(final, ds["text"].tolist())
    meta["fast_path"] = fast is not None
    return Router(final, threshold, meta, fast)


def _holdout(ds: pd.DataFrame, share: float, groups: str, seed: int, meta: dict[str, Any]):
    from sklearn.model_selection import GroupShuffleSplit

    g = group_labels(ds, groups)
    if share <= 0:
        meta["held_out"] = {"reason": "held_out=0: no held-out split"}
        return ds, None
    if len(np.unique(g)) < 8:
        meta["held_out"] = {"reason": f"only {len(np.unique(g))} {groups}s: too few for a held-out split"}
        return ds, None
    tr, te = next(GroupShuffleSplit(1, test_size=share, random_state=seed).split(ds, groups=g))
    train, test = ds.iloc[tr].reset_index(drop=True), ds.iloc[te].reset_index(drop=True)
    train.attrs, test.attrs = dict(ds.attrs), dict(ds.attrs)
    return train, test


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k != "curve"}


def _base_meta(ds: pd.DataFrame, features: str, model: str, seed: int, groups: str) -> dict[str, Any]:
    attrs = ds.attrs or {}
    domains = ds["domain"].astype(str).value_counts().sort_index() if "domain" in ds else pd.Series(dtype=int)
    return {
        "features": features, "features_requested": features, "model": model, "seed": seed,
        "lam": attrs.get("lam", math.nan), "T": attrs.get("T", math.nan), "modes": attrs.get("modes"),
        "cv_groups": groups, "n_items": int(len(ds)), "n_positive": int(ds["label"].sum()),
        "positive_rate": float(ds["label"].mean()), "domains": {str(k): int(v) for k, v in domains.items()},
        "runs": attrs.get("runs", []),
        "dataset": {k: v for k, v in attrs.items() if k not in ("runs", "lam", "T", "modes")},
        "score": "P(utility of thinking > 0), utility = (s_think - s_no_think) - lam * (tokens_think - tokens_no_think) / T",
        "decision": "think iff score >= threshold",
        "versions": library_versions(),
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def leave_one_domain_out(dataset: pd.DataFrame, features: str = DEFAULT_FEATURES, model: str = "logreg",
                         seed: int = 0, n_boot: int = 1000, **train_kw: Any) -> list[dict[str, Any]]:
    """For each domain: train on the others (no held-out split inside), decide on it.
    One row per domain: n items, think rate, APGR/CPT with CIs, mean score vs baselines.
    An arms dataset (build_arms_dataset) gets leave_one_domain_out_arms' rows."""
    if dataset.attrs.get("multiarm"):
        from thinkgate.router.multiarm import leave_one_domain_out_arms

        return leave_one_domain_out_arms(dataset, features, model, seed, n_boot, **train_kw)
    ds = _check(dataset)
    if "domain" not in ds or ds["domain"].nunique() < 2:
        raise ValueError("leave-one-domain-out needs items from at least 2 domains")
    rows = []
    for dom, idx in sorted(ds.groupby("domain").indices.items()):
        mask = np.ones(len(ds), bool)
        mask[idx] = False
        train, test = ds[mask].reset_index(drop=True), ds.iloc[idx].reset_index(drop=True)
        train.attrs = test.attrs = dict(ds.attrs)
        router = train_router(train, features, model, seed, held_out=0, n_boot=0, **train_kw)
        m = dataset_metrics(router.score(test["text"].tolist()), test, router.threshold, seed, n_boot)
        rows.append({"domain": str(dom), "n_train": int(mask.sum()),
                     "train_domains": sorted(str(d) for d in train["domain"].unique()),
                     "features": router.meta["features"], "threshold": router.threshold,
                     "degenerate": router.meta.get("degenerate"), **domain_row(m)})
    return rows
