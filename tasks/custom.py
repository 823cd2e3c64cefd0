"""Any JSONL file is a suite: `--suites path/to/file.jsonl:SCORER`.

One JSON object per line:

    {"id": "q1",                       # optional; default: the line number
     "prompt": "What is 2+2?",         # or "messages": [{"role": "user", "content": ...}]
     "reference": "4",                 # what the scorer compares with (any JSON);
                                       #   "answer" or "target" are accepted as aliases
     "group": "arithmetic"}            # optional cluster id (default: the item's id)

SCORER is a registered scorer (`thinkgate list`); it fixes the domain and whether the
suite is verifiable. A malformed line raises an error naming the file, the line and
what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from thinkgate.tasks.evals_format import DataFileError, read_jsonl
from thinkgate.tasks.plugins import UnknownNameError
from thinkgate.tasks.registry import SCORERS
from thinkgate.tasks.types import Item, Suite, chat

REFERENCE_FIELDS = ("reference", "answer", "target")  # first one present wins


def scorer_names() -> list[str]:
    return SCORERS.names()


def scorer_factory(name: str) -> tuple[Callable[[], Any], str, bool]:
    """(factory, domain, verifiable) of a scorer name; an unknown name says what exists."""
    try:
        spec = SCORERS.get(name)
    except UnknownNameError as e:
        raise DataFileError(str(e)) from None
    return spec.factory, spec.domain, spec.verifiable


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


def _messages(rec: dict[str, Any], where: str) -> tuple[dict[str, str], ...]:
    if "messages" in rec:
        msgs = rec["messages"]
        if not (isinstance(msgs, list) and msgs and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in msgs)):
            raise DataFileError(f"{where}: 'messages' must be a non-empty list of "
                                "{\"role\": str, \"content\": str} objects")
        return tuple({"role": m["role"], "content": m["content"]} for m in msgs)
    if "prompt" in rec:
        if not isinstance(rec["prompt"], str) or not rec["prompt"].strip():
            raise DataFileError(f"{where}: 'prompt' must be a non-empty string, got {type(rec['prompt']).__name__}")
        return chat(None, rec["prompt"])
    raise DataFileError(f"{where}: needs a 'prompt' string or a 'messages' list; "
                        f"fields present: {', '.join(sorted(rec)) or '(none)'}")


def _reference(rec: dict[str, Any], where: str) -> Any:
    for name in REFERENCE_FIELDS:
        if name in rec:
            return rec[name]
    raise DataFileError(f"{where}: needs a 'reference' (what the scorer compares with; 'answer' and "
                        f"'target' are accepted too); fields present: {', '.join(sorted(rec)) or '(none)'}")


def _parse(path: Path, suite: str, domain: str, verifiable: bool) -> list[Item]:
    items, seen = [], set()
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        messages, reference = _messages(rec, where), _reference(rec, where)
        raw_id = rec.get("id", lineno)
        if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):
            raise DataFileError(f"{where}: 'id' must be a string or an integer, got {type(raw_id).__name__}")
        item_id = f"{suite}/{raw_id}"
        if item_id in seen:
            raise DataFileError(f"{where}: duplicate id {raw_id!r}; every line needs its own id")
        seen.add(item_id)
        group = rec.get("group", item_id)
        items.append(Item(item_id, suite, domain, verifiable, messages, reference, str(group), {"line": lineno}))
    if not items:
        raise DataFileError(f"{path}: no items (one JSON object per line expected)")
    return items
