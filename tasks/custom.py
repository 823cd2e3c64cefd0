"""Any JSONL file is a suite: `--suites path/to/file.jsonl:SCORER`.

One JSON object per line:

    {"id": "q1",                       # optional; default: the line number
     "prompt": "What is 2+2?",         # or "messages": [{"role": "user", "content": ...}]
     "reference": "4",                 # what the scorer compares with (any JSON)
     "group": "arithmetic"}            # optional cluster id (default: the item's id)

SCORER is one of `scorer_names()`; it fixes the domain and whether the suite is
verifiable. A malformed line raises an error naming the file and the line.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any, Callable

from thinkgate.tasks.evals_format import DataFileError, read_jsonl
from thinkgate.tasks.types import Item, Suite, chat

# scorer name -> (module, class, domain, verifiable)
SCORERS: dict[str, tuple[str, str, str, bool]] = {
    "math": ("thinkgate.tasks.math", "MathVerifyScorer", "math", True),
    "code": ("thinkgate.tasks.code", "HumanEvalScorer", "code", True),
    "rouge": ("thinkgate.tasks.summary", "RougeLScorer", "summary", False),
    "chrf": ("thinkgate.tasks.translation", "ChrFScorer", "translation", False),
    "length": ("thinkgate.tasks.writing", "LengthScorer", "writing", False),
    "constraints": ("thinkgate.tasks.writing", "ConstraintScorer", "writing", False),
    "exact": ("thinkgate.tasks.longtail", "IncludesScorer", "longtail", False),  # normalized match, any reference
}


def scorer_names() -> list[str]:
    return sorted(SCORERS)


def scorer_factory(name: str) -> tuple[Callable[[], Any], str, bool]:
    """(factory, domain, verifiable) of a scorer name; an unknown name says what exists."""
    if name not in SCORERS:
        close = difflib.get_close_matches(name, SCORERS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataFileError(f"unknown scorer '{name}'{hint}; scorers: {', '.join(scorer_names())}")
    module, cls, domain, verifiable = SCORERS[name]
    return (lambda: getattr(importlib.import_module(module), cls)()), domain, verifiable


def is_custom(spec: str) -> bool:
    """custom suites look like `file.jsonl:scorer` (or `file.jsonl`, which asks for a scorer)."""
    return spec.split(":", 1)[0].endswith((".jsonl", ".json"))


def custom_suite(spec: str) -> Suite:
    path_text, _, scorer = spec.partition(":")
    if not scorer:
        raise DataFileError(f"suite '{spec}' names no scorer: write {path_text}:SCORER "
                            f"with SCORER one of {', '.join(scorer_names())}")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise DataFileError(f"suite file {path} does not exist")
    factory, domain, verifiable = scorer_factory(scorer)
    name = path.stem
    items = _parse(path, name, domain, verifiable)  # eagerly: a bad line fails before any run
    return Suite(name, domain, verifiable, f"custom JSONL suite {path} ({len(items)} items)",
                 lambda: list(items), factory, str(path), "user data")


def _parse(path: Path, suite: str, domain: str, verifiable: bool) -> list[Item]:
    items, seen = [], set()
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        if "messages" in rec:
            msgs = rec["messages"]
            if not (isinstance(msgs, list) and msgs and all(
                    isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                    for m in msgs)):
                raise DataFileError(f"{where}: 'messages' must be a non-empty list of "
                                    "{\"role\": str, \"content\": str} objects")
            messages = tuple({"role": m["role"], "content": m["content"]} for m in msgs)
        elif isinstance(rec.get("prompt"), str):
            messages = chat(None, rec["prompt"])
        else:
            raise DataFileError(f"{where}: needs a 'prompt' string or a 'messages' list")
        if "reference" not in rec:
            raise DataFileError(f"{where}: needs a 'reference' (what the scorer compares with)")
        item_id = f"{suite}/{rec.get('id', lineno)}"
        if item_id in seen:
            raise DataFileError(f"{where}: duplicate id {rec.get('id')!r}")
        seen.add(item_id)
        items.append(Item(item_id, suite, domain, verifiable, messages, rec["reference"],
                          str(rec.get("group", item_id)), {"line": lineno}))
    if not items:
        raise DataFileError(f"{path}: no items (one JSON object per line expected)")
    return items
