"""A fast path for routing one request: the fitted linear router's own arithmetic, without
scikit-learn's per-call checks (input validation, joblib dispatch of a FeatureUnion, label
encoding in the calibrator), which cost a few ms per call while the arithmetic is ~0.1 ms.

It covers TF-IDF, hand and MiniLM features (alone or side by side) under logistic
regression, plain or calibrated by CalibratedClassifierCV(method="sigmoid",
ensemble=False). Anything else (gradient boosting, SVD) returns None: the pipeline
itself is used. `compile_fast` checks the fast path against the pipeline on sample texts
and refuses it when they differ by more than 1e-5, so it can never change a decision
beyond float noise.

    fast = compile_fast(pipeline, sample_texts)   # None if not covered or not equal
    fast("What is 17 * 23?")                       # == pipeline.predict_proba([...])[0, 1]
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

TOLERANCE = 1e-5


def _blocks(step: Any, offset: int, out: list) -> int | None:
    """Append (kind, offset, transformer) for each leaf of a features step; its width or None."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    from thinkgate.router.features import MINILM_DIM, HAND_FEATURE_NAMES, HandFeatures, MiniLMEmbedder

    if isinstance(step, FeatureUnion):
        if step.transformer_weights:
            return None
        width = 0
        for _, t in step.transformer_list:
            w = _blocks(t, offset + width, out)
            if w is None:
                return None
            width += w
        return width
    if isinstance(step, TfidfVectorizer):
        if step.norm != "l2" or not step.use_idf or step.binary:
            return None
        out.append(("tfidf", offset, step))
        return len(step.vocabulary_)
    if isinstance(step, HandFeatures):
        out.append(("hand", offset, step))
        return len(HAND_FEATURE_NAMES)
    if isinstance(step, MiniLMEmbedder):
        out.append(("minilm", offset, step))
        return MINILM_DIM
    return None


def _head(model: Any) -> tuple[np.ndarray, float, tuple[float, float] | None] | None:
    """(coef, intercept, (a, b) of the sigmoid calibrator or None) of a covered classifier."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    calib = None
    if isinstance(model, CalibratedClassifierCV):
        cc = getattr(model, "calibrated_classifiers_", [])
        if model.method != "sigmoid" or len(cc) != 1 or len(cc[0].calibrators) != 1:
            return None
        calib = (float(cc[0].calibrators[0].a_), float(cc[0].calibrators[0].b_))
        model = cc[0].estimator
    if not isinstance(model, LogisticRegression) or list(model.classes_) != [0, 1]:
        return None
    return model.coef_[0].astype(np.float64), float(model.intercept_[0]), calib


class FastLinear:
    """P(think pays) for one text, as the pipeline computes it."""

    def __init__(self, blocks: list, coef: np.ndarray, intercept: float, calib: tuple[float, float] | None):
        self.blocks, self.coef, self.intercept, self.calib = blocks, coef, intercept, calib
        self._analyzers: dict[int, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_analyzers": {}}  # rebuilt on first use

    def _tfidf(self, i: int, vec: Any, offset: int, text: str) -> float:
        analyze = self._analyzers.get(i)
        if analyze is None:
            analyze = self._analyzers[i] = vec.build_analyzer()
        vocab = vec.vocabulary_
        counts: dict[int, int] = {}
        for term in analyze(text):
            j = vocab.get(term)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return 0.0
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if vec.sublinear_tf:
            tf = 1.0 + np.log(tf)
        v = tf * vec.idf_[idx]
        norm = math.sqrt(float(v @ v))
        return float(v @ self.coef[offset + idx]) / norm if norm else 0.0

    def __call__(self, text: str) -> float:
        z = self.intercept
        for i, (kind, offset, t) in enumerate(self.blocks):
            if kind == "tfidf":
                z += self._tfidf(i, t, offset, text)
            else:
                x = t.transform([text])[0].astype(np.float64)
                z += float(x @ self.coef[offset:offset + len(x)])
        if self.calib is not None:
            a, b = self.calib
            z = -(a * z + b)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def compile_fast(pipeline: Any, texts: Sequence[str]) -> FastLinear | None:
    """The fast path of a fitted features+model Pipeline, checked on `texts`; else None."""
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or list(pipeline.named_steps) != ["features", "model"]:
        return None
    blocks: list = []
    width = _blocks(pipeline.named_steps["features"], 0, blocks)
    head = _head(pipeline.named_steps["model"])
    if width is None or head is None or width != len(head[0]):
        return None
    fast = FastLinear(blocks, *head)
    sample = [str(t) for t in list(texts)[:32]] or ["", "What is 2 + 2?"]
    expected = pipeline.predict_proba(sample)[:, 1]
    got = np.array([fast(t) for t in sample])
    return fast if np.allclose(got, expected, atol=TOLERANCE, rtol=0) else None


# ------------------------------------------------------------------------------ many arms

class FastArms:
    """(P(success), expected tokens) per arm for one text, as ArmModel.predict computes
    them: the shared features' blocks times one weight matrix (a column per head)."""

    def __init__(self, blocks: list, W: np.ndarray, b: np.ndarray, post: list, k: int):
        self.blocks, self.W, self.b, self.post, self.k = blocks, W, b, post, k
        self._analyzers: dict[int, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_analyzers": {}}

    def _tfidf(self, i: int, vec: Any, offset: int, text: str) -> np.ndarray:
        analyze = self._analyzers.get(i)
        if analyze is None:
            analyze = self._analyzers[i] = vec.build_analyzer()
        vocab = vec.vocabulary_
        counts: dict[int, int] = {}
        for term in analyze(text):
            j = vocab.get(term)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return 0.0
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if vec.sublinear_tf:
            tf = 1.0 + np.log(tf)
        v = tf * vec.idf_[idx]
        norm = math.sqrt(float(v @ v))
        return (v @ self.W[offset + idx]) / norm if norm else 0.0

    def __call__(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        z = self.b.copy()
        for i, (kind, offset, t) in enumerate(self.blocks):
            if kind == "tfidf":
                z += self._tfidf(i, t, offset, text)
            else:
                x = t.transform([text])[0].astype(np.float64)
                z += x @ self.W[offset:offset + len(x)]
        out = np.empty(len(z))
        for j, (kind, value) in enumerate(self.post):
            if kind == "const":
                out[j] = value
            elif kind == "identity":
                out[j] = z[j]
            else:  # sigmoid, optionally calibrated by (a, b)
                zz = z[j] if value is None else -(value[0] * z[j] + value[1])
                out[j] = 1.0 / (1.0 + math.exp(-zz)) if zz > -700 else 0.0
        k = self.k
        return np.clip(out[:k], 0.0, 1.0), np.maximum(out[k:], 0.0)


def compile_fast_arms(arm_model: Any, texts: Sequence[str]) -> FastArms | None:
    """The fast path of a fitted ArmModel (router/multiarm.py), checked on `texts`; else None."""
    from sklearn.linear_model import Ridge

    from thinkgate.router.model import ConstantModel

    blocks: list = []
    width = _blocks(arm_model.features, 0, blocks)
    if width is None:
        return None
    cols, bias, post = [], [], []
    for h in arm_model.score_heads:
        if isinstance(h, ConstantModel):
            cols.append(np.zeros(width)), bias.append(0.0), post.append(("const", h.p))
            continue
        head = _head(h)
        if head is None or len(head[0]) != width:
            return None
        cols.append(head[0]), bias.append(head[1]), post.append(("sigmoid", head[2]))
    for h in arm_model.token_heads:
        if isinstance(h, (int, float)):
            cols.append(np.zeros(width)), bias.append(0.0), post.append(("const", float(h)))
        elif isinstance(h, Ridge) and np.ndim(h.coef_) == 1 and len(h.coef_) == width:
            cols.append(np.asarray(h.coef_, np.float64)), bias.append(float(h.intercept_))
            post.append(("identity", None))
        else:
            return None
    fast = FastArms(blocks, np.column_stack(cols), np.array(bias, np.float64), post, len(arm_model.score_heads))
    sample = [str(t) for t in list(texts)[:32]] or ["", "What is 2 + 2?"]
    P, tok = arm_model.predict(sample)
    got = [fast(t) for t in sample]
    ok_p = np.allclose(np.stack([p for p, _ in got]), P, atol=TOLERANCE, rtol=0)
    ok_t = np.allclose(np.stack([t for _, t in got]), tok, atol=1e-3, rtol=1e-6)
    return fast if ok_p and ok_t else None
