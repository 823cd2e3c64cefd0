"""lm-evaluation-harness tasks as thinkgate suites: `--suites lmeval:TASK[:SCORER]`.

The task is loaded through lm-eval's own `TaskManager` (its YAML, its dataset, its
`doc_to_text` / `doc_to_target`); thinkgate then runs it as a generation suite in every
mode with its own profiles and parser, zero-shot, and scores the answer with a thinkgate
scorer: the one named after the task (`lmeval:gsm8k:math`), or `exact` when the task's
metric is exact_match. Tasks of your own: `--lmeval-include DIR` (a folder of YAML).
Offline, a task whose dataset lives on the hub fails with an error that says so; a YAML
with `dataset_path: json` and `dataset_kwargs: {data_files: ...}` reads local files.
"""

from __future__ import annotations

import difflib
from typing import Any

from thinkgate.tasks.custom import scorer_factory
from thinkgate.tasks.evals_format import DataFileError
from thinkgate.tasks.types import Item, Suite, chat


def is_lmeval(spec: str) -> bool:
    return spec.startswith("lmeval:")


def lmeval_suite(spec: str, include_path: str | None = None) -> Suite:
    _, task_name, *rest = spec.split(":")
    try:
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise DataFileError("lm-eval is not installed: run `pip install lm-eval`") from None
    manager = TaskManager(include_path=include_path)
    if task_name not in manager.all_tasks:
        close = difflib.get_close_matches(task_name, manager.all_tasks, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataFileError(f"lm-eval has no task '{task_name}'{hint}; add a folder of YAML tasks "
                            "with --lmeval-include DIR")
    try:
        loaded = manager.load([task_name])["tasks"]
    except Exception as e:  # typically: the dataset is on the hub and we are offline
        raise DataFileError(f"lm-eval task '{task_name}' could not load its data "
                            f"({type(e).__name__}: {str(e).splitlines()[0][:160]}); offline, point its YAML "
                            "at local files (dataset_path: json, dataset_kwargs.data_files)") from None
    if len(loaded) != 1:
        raise DataFileError(f"lm-eval '{task_name}' is a group of {len(loaded)} tasks; name one of: "
                            f"{', '.join(sorted(loaded))}")
    task = next(iter(loaded.values()))
    scorer_name = rest[0] if rest else _default_scorer(task, task_name)
    factory, domain, verifiable = scorer_factory(scorer_name)
    name = f"lmeval_{task_name}"
    items = [_item(task, doc, i, name, domain, verifiable) for i, doc in enumerate(task.eval_docs)]
    return Suite(name, domain, verifiable, f"lm-eval task {task_name} ({len(items)} docs), scored by {scorer_name}",
                 lambda: list(items), factory, f"lm-eval task {task_name}", "see the task's dataset")


def _default_scorer(task: Any, task_name: str) -> str:
    metrics = [m.get("metric") for m in (task.config.metric_list or [])]
    if "exact_match" in metrics:
        return "exact"
    raise DataFileError(f"lm-eval task '{task_name}' uses metrics {metrics}; name a thinkgate scorer: "
                        f"lmeval:{task_name}:SCORER")


def _item(task: Any, doc: dict, i: int, suite: str, domain: str, verifiable: bool) -> Item:
    text = task.doc_to_text(doc)
    target = task.doc_to_target(doc)
    if isinstance(target, int) and task.config.doc_to_choice is not None:
        target = task.doc_to_choice(doc)[target]
    item_id = f"{suite}/{i:05d}"
    return Item(item_id, suite, domain, verifiable, chat(None, str(text).strip()),
                target if isinstance(target, (str, list)) else str(target), item_id)
