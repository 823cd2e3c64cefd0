"""Reading OpenAI Evals `samples.jsonl` files: `{"input": [chat messages], "ideal": ...}`.

    >>> evals_messages([{"role": "system", "content": "Be brief.", "name": "x"}])
    ({'role': 'system', 'content': 'Be brief.'},)
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Iterator

from thinkgate.tasks.plugins import UserError


class DataFileError(UserError, ValueError):
    """A malformed line in a bundled or user data file; the message names file and line."""


def data_path(folder: str, name: str) -> Any:
    return resources.files("thinkgate.tasks") / "data" / folder / name


def read_jsonl(path: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each non-blank line; a bad line raises DataFileError
    naming the file, the line and the fix (encoding, JSON, type)."""
    try:
        f = path.open("rb")
    except OSError as e:
        raise DataFileError(f"{path}: cannot be read ({e.strerror or e}); check the path and its permissions") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise DataFileError(f"{path}:{lineno}: not valid UTF-8 (byte {e.start + 1} of the line); "
                                    "save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFileError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno}); "
                                    "write one JSON object per line") from None
            if not isinstance(record, dict):
                raise DataFileError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            yield lineno, record


def evals_messages(turns: list[dict[str, Any]]) -> tuple[dict[str, str], ...]:
    """The chat of an Evals sample, keeping only role and content."""
    return tuple({"role": t["role"], "content": t["content"]} for t in turns)


def load_evals_samples(folder: str, name: str = "samples.jsonl") -> list[tuple[tuple[dict[str, str], ...], Any]]:
    return [(evals_messages(r["input"]), r["ideal"]) for _, r in read_jsonl(data_path(folder, name))]


def evals_items(suite: str, domain: str, folder: str, name: str = "samples.jsonl") -> list[Any]:
    """Items of an Evals samples file: id `<suite>/<index>`, each item its own cluster."""
    from thinkgate.tasks.types import Item

    return [Item(f"{suite}/{i:03d}", suite, domain, False, messages, ideal, f"{suite}/{i:03d}")
            for i, (messages, ideal) in enumerate(load_evals_samples(folder, name))]
