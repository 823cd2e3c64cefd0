"""The router object: a score (P(thinking pays)) kept apart from the decision (a threshold),
the scikit-learn models behind it, and persistence with joblib.

    router.score(["What is 17 * 23?"])   -> array([0.83])   P(thinking is worth it)
    router.decide(["What is 17 * 23?"])  -> array([True])   think iff score >= threshold
    router.arms                          -> ["no_think", "think"]   cheapest first
    router.choose(["What is 17 * 23?"])  -> ["think"]        the arm (mode) per prompt

Every router has `arms` and `choose`; the two-arm router maps decide() onto them, the
many-arm router (router/multiarm.py: no_think, budget:N..., think) picks the arm of the
highest predicted utility.

A saved router is a pickle (joblib): load only files you trust. `meta` records what it
was trained on and with which library versions; `load_router` warns when scikit-learn
(or numpy, sentence-transformers) differs from the versions it was saved with.
"""

from __future__ import annotations

import json
import platform
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from thinkgate.tasks.plugins import Registry

# name -> factory(y, seed) -> an unfitted sklearn classifier with predict_proba.
# Plug-ins: the `thinkgate.router_models` entry point group, or ROUTER_MODELS.register.
ROUTER_MODELS: Registry[Any] = Registry("router model", entry_points="thinkgate.router_models")
FILE_NAME = "router.joblib"
META_NAME = "router.json"
_CHECKED = ("scikit-learn", "numpy", "sentence-transformers")


class RouterVersionWarning(UserWarning):
    """A saved router meets library versions other than those it was saved with."""


class ConstantModel:
    """P(think pays) = a constant: the router when every training label was the same."""

    def __init__(self, p: float):
        self.p = float(p)

    def predict_proba(self, X) -> np.ndarray:
        n = len(X)
        return np.column_stack([np.full(n, 1 - self.p), np.full(n, self.p)])


class Router:
    """score(texts) -> P(thinking is worth it) in [0, 1]; decide(texts) -> think iff
    score >= threshold. `meta` is a plain dict (features, model, lam, T, training runs,
    library versions, held-out metrics, ...)."""

    FAST_MAX = 8  # batches up to this size take the fast path (router/fast.py) when there is one

    def __init__(self, pipeline: Any, threshold: float, meta: dict[str, Any], fast: Any = None):
        self.pipeline, self.threshold, self.meta, self.fast = pipeline, float(threshold), meta, fast

    def score(self, texts: Sequence[str] | str) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        texts = ["" if t is None else str(t) for t in texts]
        if not texts:
            return np.zeros(0)
        fast = getattr(self, "fast", None)
        if fast is not None and len(texts) <= self.FAST_MAX:
            return np.array([fast(t) for t in texts], dtype=np.float64)
        p = self.pipeline.predict_proba(texts)[:, 1]
        return np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)

    def decide(self, texts: Sequence[str] | str, threshold: float | None = None) -> np.ndarray:
        t = self.threshold if threshold is None else float(threshold)
        return self.score(texts) >= t

    @property
    def arms(self) -> list[str]:
        """The modes this router chooses between, cheapest first: [no-think mode, think mode]."""
        think, base = (self.meta or {}).get("modes") or ("think", "no_think")
        return [str(base), str(think)]

    def choose(self, texts: Sequence[str] | str, threshold: float | None = None) -> list[str]:
        """The arm (a mode name) per prompt: decide() mapped onto `arms`."""
        base, think = self.arms
        return [think if d else base for d in self.decide(texts, threshold)]

    @property
    def constant(self) -> bool:
        return isinstance(self.pipeline, ConstantModel)

    def __repr__(self) -> str:
        m = self.meta
        return (f"Router(features={m.get('features')!r}, model={m.get('model')!r}, "
                f"threshold={self.threshold:.3g}, lam={m.get('lam')}, T={m.get('T')}, "
                f"n_items={m.get('n_items')})")


def check_model(name: str) -> str:
    ROUTER_MODELS.get(name)
    return name


def make_model(name: str, y: np.ndarray, seed: int = 0):
    """A fresh classifier of the registered model `name`."""
    return ROUTER_MODELS.get(name)(y, seed)


@ROUTER_MODELS.register("gbdt")
def _gbdt(y: np.ndarray, seed: int = 0):
    """HistGradientBoostingClassifier (needs dense features)."""
    return SerialHGB(min_samples_leaf=max(5, min(20, len(y) // 20)), seed=seed)


@ROUTER_MODELS.register("logreg")
def _logreg(y: np.ndarray, seed: int = 0):
    """Logistic regression calibrated by CalibratedClassifierCV (sigmoid, as many folds as
    the minority class allows, at most 5)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    lr = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000)
    minority = int(min(np.sum(y), len(y) - np.sum(y)))
    if minority < 2:
        return lr
    # Shuffled folds: an items table is sorted by suite, and unshuffled calibration folds
    # (one domain each) can invert the ranking. ensemble=False: one model to run per request.
    folds = StratifiedKFold(min(5, minority), shuffle=True, random_state=seed)
    return CalibratedClassifierCV(lr, method="sigmoid", cv=folds, ensemble=False)


_CONTROLLER: list = []


def _threadpools():
    """One threadpoolctl controller per process (making one scans the loaded libraries: ms)."""
    if not _CONTROLLER:
        from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: F401  (loads its OpenMP)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


class SerialHGB(ClassifierMixin, BaseEstimator):
    """HistGradientBoostingClassifier run on `n_threads` OpenMP/BLAS threads (1 by default;
    None: the library's default, every core).

    Router data is small and requests come one at a time: with every core, HGB's OpenMP
    threads spin against each other on a busy machine (measured on 2 shared cores: one
    prediction 2 s instead of 1.6 ms, one fit 6-28 s instead of 0.08 s)."""

    def __init__(self, min_samples_leaf: int = 20, seed: int = 0, n_threads: int | None = 1):
        self.min_samples_leaf, self.seed, self.n_threads = min_samples_leaf, seed, n_threads

    def _limit(self):
        import contextlib

        return contextlib.nullcontext() if self.n_threads is None else _threadpools().limit(limits=self.n_threads)

    def fit(self, X, y, sample_weight=None):
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.model_ = HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=200, max_leaf_nodes=15, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=1.0, random_state=self.seed)
        with self._limit():
            self.model_.fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        with self._limit():
            return self.model_.predict_proba(X)


def make_pipeline(features: str, model: str, y: np.ndarray, seed: int = 0):
    """Features + classifier as one sklearn Pipeline (unfitted)."""
    from sklearn.pipeline import Pipeline

    from thinkgate.router.features import make_features

    return Pipeline([("features", make_features(features, dense=model == "gbdt", seed=seed)),
                     ("model", make_model(model, y, seed))])


def fit_pipeline(features: str, model: str, texts: Sequence[str], y: np.ndarray, seed: int = 0):
    """A fitted pipeline, or a ConstantModel when `y` has one class."""
    y = np.asarray(y, dtype=int)
    if len(y) == 0 or y.min() == y.max():
        return ConstantModel(float(y[0]) if len(y) else 0.0)
    return make_pipeline(features, model, y, seed).fit(list(texts), y)


# ---------------------------------------------------------------------------- persistence

def library_versions() -> dict[str, str | None]:
    """Versions of the libraries a saved router depends on (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("scikit-learn", "numpy", "scipy", "joblib", "pandas", "sentence-transformers",
                 "torch", "thinkgate"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _file(path: str | Path) -> Path:
    p = Path(path)
    return p / FILE_NAME if p.is_dir() or not p.suffix else p


def save_router(router: Router, path: str | Path) -> Path:
    """Write the router. A folder (or a path without suffix) gets router.joblib plus
    router.json (the meta, readable); a file path such as r.joblib gets that file only."""
    import joblib

    target = _file(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(router, target)
    if target.name == FILE_NAME:
        (target.parent / META_NAME).write_text(
            json.dumps({"threshold": router.threshold, "arms": router.arms, **router.meta}, indent=1,
                       default=_jsonable))
    return target


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def load_router(path: str | Path) -> Router:
    """Load a router saved by `save_router` (a folder or a .joblib file). Warns with
    RouterVersionWarning when scikit-learn, numpy or sentence-transformers differ from the
    versions it was saved with. A joblib file is a pickle: load only files you trust."""
    import joblib

    target = _file(path)
    if not target.is_file():
        raise FileNotFoundError(f"no router at {target}; train one with `thinkgate router train` "
                                "or thinkgate.router.train_router + save_router")
    with warnings.catch_warnings(record=True) as caught:  # sklearn's own warning, reworded below
        warnings.simplefilter("always")
        try:
            router = joblib.load(target)
        except Exception as exc:
            info = target.parent / META_NAME
            saved = json.loads(info.read_text()).get("versions") if info.is_file() else "unknown"
            raise RuntimeError(f"could not load router {target} ({type(exc).__name__}: {exc}); it was "
                               f"saved with {saved}, this is {library_versions()}. Install the saved "
                               "versions or retrain the router here.") from exc
    if not isinstance(router, Router):
        raise TypeError(f"{target} holds a {type(router).__name__}, not a thinkgate Router")
    saved = (router.meta or {}).get("versions", {})
    now = library_versions()
    uses_minilm = "minilm" in str(router.meta.get("features", ""))
    diff = [f"{lib} {saved.get(lib)} (now {now.get(lib)})" for lib in _CHECKED
            if lib in saved and saved.get(lib) != now.get(lib)
            and (lib != "sentence-transformers" or uses_minilm)]
    if diff:
        warnings.warn(f"router {target} was saved with {', '.join(diff)}; its scores may differ or "
                      "it may fail. Retrain it with this environment, or install the saved versions.",
                      RouterVersionWarning, stacklevel=2)
    for w in caught:  # anything else unpickling said (and that we did not reword) goes on
        if not (diff and "version" in str(w.message).lower()):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return router
