"""The one-request fast path gives the pipeline's own probabilities (router/fast.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from thinkgate.router.fast import compile_fast
from thinkgate.router.model import Router, fit_pipeline

TRAIN = [f"What is {a} * {b}? Compute it." if a % 3 else f"Write a poem about the {w} in spring."
         for a, b, w in zip(range(2, 62), range(5, 65), ["sea", "hill", "rain", "city"] * 15)]
LABELS = np.array([1 if a % 3 else 0 for a in range(2, 62)])
UNSEEN = ["", "?", "Écris un poème sur la mer 🌊", "x" * 3000, "```python\ndef f():\n    return 2**10\n```",
          "How many apples remain if 37 of 120 are sold?", "Summarize:\n" + "word " * 400]


@pytest.mark.parametrize("features", ["tfidf", "hand", "tfidf+hand"])
def test_fast_path_equals_the_pipeline(features):
    pipe = fit_pipeline(features, "logreg", TRAIN, LABELS)
    fast = compile_fast(pipe, TRAIN)
    assert fast is not None
    expected = pipe.predict_proba(UNSEEN)[:, 1]
    assert np.allclose([fast(t) for t in UNSEEN], expected, atol=1e-6)
    router = Router(pipe, 0.5, {}, fast)
    assert np.allclose(router.score(UNSEEN[:3]), expected[:3], atol=1e-6)   # fast (<= FAST_MAX texts)
    again = pickle.loads(pickle.dumps(router))
    assert np.allclose(again.score(UNSEEN[:2]), expected[:2], atol=1e-6)


def test_uncalibrated_logreg_and_uncovered_models():
    y = np.zeros(len(TRAIN), int)
    y[0] = 1  # one positive: too few to calibrate, plain logistic regression
    plain = fit_pipeline("tfidf", "logreg", TRAIN, y)
    fast = compile_fast(plain, TRAIN)
    assert fast is not None and fast.calib is None
    assert fast(UNSEEN[5]) == pytest.approx(plain.predict_proba([UNSEEN[5]])[0, 1], abs=1e-6)
    assert compile_fast(fit_pipeline("hand", "gbdt", TRAIN, LABELS), TRAIN) is None
