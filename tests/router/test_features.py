"""Router features: names, hand features, TF-IDF, MiniLM offline (slow: loads torch)."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

from thinkgate.router import features as F


def test_feature_names_and_did_you_mean():
    assert F.parse_features("tfidf+hand") == ["tfidf", "hand"]
    with pytest.raises(ValueError, match="did you mean 'tfidf'"):
        F.parse_features("tdidf")
    with pytest.raises(ValueError, match="twice"):
        F.parse_features("hand+hand")


def test_hand_features_count_what_they_say():
    f = F.hand_features(["What is 12 + 30?", "```python\ndef f():\n    return 1\n```", "Écris un poème"])
    assert f.shape == (3, len(F.HAND_FEATURE_NAMES))
    col = dict(zip(F.HAND_FEATURE_NAMES, f.T))
    assert col["digit_ratio"][0] > 0 and col["digit_ratio"][2] == 0
    assert col["log_code_fences"][1] > 0 and col["code_density"][1] > col["code_density"][2]
    assert col["math_density"][0] > col["math_density"][2]
    assert col["log_question_marks"][0] > 0 and col["non_ascii_ratio"][2] > 0
    assert col["log_math_words"][0] == 0 and F.hand_features(["Compute the sum"])[0, -4] > 0


def test_tfidf_sparse_and_dense():
    texts = ["What is 2 + 2?", "Write a poem about rain.", "Translate: good morning", "Sum 3 and 4"] * 3
    sparse = F.make_features("tfidf").fit(texts).transform(texts)
    assert sparse.shape[0] == 12 and hasattr(sparse, "tocsr")
    dense = F.make_features("tfidf+hand", dense=True).fit(texts).transform(texts)
    assert isinstance(dense, np.ndarray) and dense.shape[0] == 12 and np.isfinite(dense).all()


def test_embedding_cache_embeds_each_text_once():
    calls = []

    def encode(batch):
        calls.append(list(batch))
        return np.ones((len(batch), F.MINILM_DIM), np.float32)

    with F.embedding_cache():
        F._embed(["a", "b", "a"], encode)
        F._embed(["b", "c"], encode)
    F._embed(["a"], encode)  # outside: nothing cached
    assert calls == [["a", "b"], ["c"], ["a"]]


@pytest.mark.slow
def test_minilm_loads_offline_and_gives_384_d(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    pytest.importorskip("sentence_transformers")
    path = F.minilm_path()
    assert (path / "model.safetensors").is_file()
    emb = F.MiniLMEmbedder()
    t0 = time.perf_counter()
    X = emb.fit_transform(["What is 17 * 23?", "Write a haiku about autumn."])
    assert X.shape == (2, 384) and X.dtype == np.float32
    assert np.linalg.norm(X, axis=1) == pytest.approx([1.0, 1.0], abs=1e-4)
    assert time.perf_counter() - t0 < 120
    assert len(pickle.dumps(emb)) < 1000  # the model is never pickled with a router
    assert pickle.loads(pickle.dumps(emb)).precision == "int8"  # a saved router serves as it was trained
    fp32 = F.MiniLMEmbedder(precision="fp32").fit_transform(["What is 17 * 23?", "Write a haiku about autumn."])
    cos = (X * fp32).sum(1)
    assert (cos > 0.95).all(), cos  # int8 keeps the embedding (measured 0.97-0.98)
    assert float(X[0] @ X[1]) == pytest.approx(float(fp32[0] @ fp32[1]), abs=0.05)
    alone = np.vstack([emb.transform(["What is 17 * 23?"]), emb.transform(["Write a haiku about autumn."])])
    assert np.allclose(alone, X, atol=1e-6)  # an embedding never depends on its batch-mates
    with pytest.raises(ValueError, match="'fp32' or 'int8'"):
        F.MiniLMEmbedder(precision="fp16").fit_transform(["x"])

    from thinkgate.router.fast import compile_fast
    from thinkgate.router.model import fit_pipeline

    texts = [f"What is {a} + {a * 3}?" for a in range(6)] + [f"Write a poem about {w}." for w in "abcdef"]
    pipe = fit_pipeline("minilm+hand", "logreg", texts, np.array([1] * 6 + [0] * 6))
    fast = compile_fast(pipe, texts)
    assert fast is not None
    assert fast("What is 9 + 27?") == pytest.approx(pipe.predict_proba(["What is 9 + 27?"])[0, 1], abs=1e-5)
