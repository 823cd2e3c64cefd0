"""Generation and scoring side by side: completions are scored as they land.

    run_pipeline(store, pending, backend, suites, count) -> PipelineResult

A generation thread sends the pending requests to the backend, parses each batch as it
arrives, writes it to the store and hands its answers to the scorer; the calling thread
scores them meanwhile, a chunk at a time (whatever has landed, up to `chunk` answers),
and writes the scores. The run's wall time is about max(generation, scoring) instead of
their sum. Scoring stays on the calling thread because math-verify's timeouts use
SIGALRM, which only the main thread may set; a scorer with `score_batch` (the code
sandbox) runs its chunk in parallel itself, one program per CPU.

Answers that earlier runs left unscored (a crash mid-scoring, a new scorer version) go
to the scorer first, so a resume scores exactly what is unscored. A generation is
written before it is scored, so a crash in scoring loses no generation. A failed write
(StoreWriteError: a full disk) stops both sides and is raised; the store keeps every
batch written before it.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from thinkgate.harness.backends.base import Backend, RawGeneration, error_generations
from thinkgate.harness.budget import BUDGET_TOLERANCE
from thinkgate.harness.parsing import parse_completion
from thinkgate.harness.store import GenerationRow, ScoreRow, Store, StoreWriteError
from thinkgate.tasks.types import Item, Score, Status, Suite

if TYPE_CHECKING:
    from thinkgate.harness.runner import PlannedRequest

TokenCounter = Callable[[list[str]], list[int]]
_DONE = object()  # the generation thread's last word on the scoring queue


@dataclass(frozen=True)
class PipelineResult:
    generated: int  # generations written (errors included)
    errors: int  # of which failed requests
    scored: int  # scores written (earlier runs' unscored answers included)


def run_pipeline(store: Store, pending: Sequence[PlannedRequest], backend: Backend | None,
                 suites: Sequence[Suite], count: TokenCounter | None = None, *, tokenizer: Any = None,
                 progress: Any = None, chunk: int = 64) -> PipelineResult:
    """Generate `pending` (requests with no usable generation) and score every answer with
    no current score, scoring while generating. `tokenizer` fills in the prompt token ids
    of requests planned without them; `count` splits token counts into reasoning/answer."""
    scoring = Scoring(suites)
    backlog = scoring.unscored(store)
    if not pending:
        return PipelineResult(0, 0, scoring.score_all(store, backlog, progress, chunk))
    if backend is None:
        raise ValueError(f"{len(pending)} requests are pending but no backend was given")
    pending = with_token_ids(pending, tokenizer)
    landed: queue.Queue = queue.Queue()
    for row in backlog:
        landed.put(row)
    score_task = progress.add_task("scoring", total=len(backlog) + len(pending)) if progress else None
    gen = _GenerationThread(store, pending, backend, count, progress, landed)
    gen.start()
    scored = 0
    try:
        finished = False
        while not finished:
            rows, finished = _take(landed, chunk)
            if rows:
                store.put_scores(scoring.score(rows))
                scored += len(rows)
                if progress:
                    progress.advance(score_task, len(rows))
            if gen.error is not None:
                raise gen.error
    except BaseException:
        gen.stop.set()
        gen.join(timeout=10)  # it writes the batch it holds, then ends
        raise
    gen.join()
    if gen.error is not None:
        raise gen.error
    if progress:
        progress.update(score_task, total=scored, completed=scored)
    return PipelineResult(gen.generated, gen.errors, scored)


def _take(landed: queue.Queue, chunk: int) -> tuple[list[dict[str, Any]], bool]:
    """Wait for one row, then take whatever else has landed (up to `chunk`); True once the
    generation thread has said it is done."""
    first = landed.get()
    if first is _DONE:
        return [], True
    rows = [first]
    while len(rows) < chunk:
        try:
            row = landed.get_nowait()
        except queue.Empty:
            break
        if row is _DONE:
            landed.put(_DONE)  # seen on the next call, after these rows are scored
            break
        rows.append(row)
    return rows, False


class _GenerationThread(threading.Thread):
    def __init__(self, store: Store, pending: Sequence[PlannedRequest], backend: Backend,
                 count: TokenCounter | None, progress: Any, landed: queue.Queue):
        super().__init__(name="thinkgate-generation", daemon=True)
        self.store, self.pending, self.backend, self.count = store, pending, backend, count
        self.progress, self.landed = progress, landed
        self.by_key = {p.row.key: p for p in pending}
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.generated = self.errors = 0

    def run(self) -> None:
        try:
            self.generated, self.errors = generate_into(self.store, self.pending, self.backend, self.count,
                                                        self.progress, on_rows=self._land, stop=self.stop)
        except BaseException as e:  # a failed write: the main thread raises it
            self.error = e
        finally:
            self.landed.put(_DONE)

    def _land(self, rows: list[GenerationRow]) -> None:
        for row in scorable(rows, self.by_key):
            self.landed.put(row)


def scorable(rows: Iterable[GenerationRow], planned: dict[str, PlannedRequest]) -> list[dict[str, Any]]:
    """What the scorer needs of freshly written generations (the failed ones are never scored)."""
    out = []
    for g in rows:
        if g.finish_reason == "error":
            continue
        r = planned[g.key].row
        out.append({"key": g.key, "suite": r.suite, "item_id": r.item_id, "answer": g.answer,
                    "think_state": g.think_state})
    return out


# -- generation -----------------------------------------------------------------

def with_token_ids(pending: Sequence[PlannedRequest], tokenizer: Any) -> Sequence[PlannedRequest]:
    """Fill in the prompt token ids that planning left out (only pending requests need them):
    one batched tokenizer call over the distinct prompts."""
    todo = {id(p.rendered): p.rendered for p in pending if not p.rendered.token_ids}
    if tokenizer is not None and todo:
        rendered = list(todo.values())
        ids = tokenizer([r.prompt for r in rendered], add_special_tokens=False)["input_ids"]
        for r, i in zip(rendered, ids):
            r.token_ids = tuple(i)
    return pending


def generate_into(store: Store, pending: Sequence[PlannedRequest], backend: Backend,
                  count: TokenCounter | None, progress: Any = None,
                  on_rows: Callable[[list[GenerationRow]], None] | None = None,
                  stop: threading.Event | None = None) -> tuple[int, int]:
    """Send `pending` to the backend; write each batch as it arrives, then hand it to
    `on_rows`. Returns (generations written, of which errors). If the engine dies, what it
    finished is kept and the rest is written as errors (retried on resume)."""
    planned = {p.row.key: p for p in pending}
    task = progress.add_task("generating", total=len(pending)) if progress else None
    n = errors = 0
    returned: set[str] = set()

    def write(rows: list[GenerationRow]) -> None:
        nonlocal n, errors
        store.put_generations(rows)
        n += len(rows)
        errors += sum(r.finish_reason == "error" for r in rows)
        if on_rows is not None:
            on_rows(rows)
        if progress:
            progress.advance(task, len(rows))

    batches = iter(backend.generate([p.engine for p in pending]))
    try:
        for batch in batches:
            write([to_row(g, planned[g.key].assistant_prefix, backend.name, count, planned[g.key].row.mode)
                   for g in batch])
            returned.update(g.key for g in batch)
            if stop is not None and stop.is_set():
                return n, errors
    except StoreWriteError:
        raise
    except Exception as e:  # the engine died: what it finished is stored; the rest is an error
        lost = [p.engine for p in pending if p.row.key not in returned]
        write([to_row(g, "", backend.name, count) for g in error_generations(lost, e)])
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    return n, errors


def budget_audit(meta: dict[str, Any]) -> dict[str, Any]:
    """The store columns of what a budget mechanism observed (none for other arms)."""
    if "budget" not in meta:
        return {}
    held = meta.get("budget_thinking_tokens", 0) <= meta["budget"] + BUDGET_TOLERANCE
    return {"budget": meta["budget"], "budget_mechanism": meta.get("budget_mechanism"),
            "closed_by": meta.get("closed_by"), "budget_held": held}


def to_row(raw: RawGeneration, prefix: str, backend: str, count: TokenCounter | None,
           mode: str | None = None) -> GenerationRow:
    """A backend's raw generation, parsed (in its think `mode`) and token-counted, as a store row."""
    if raw.finish_reason == "error":
        return GenerationRow(key=raw.key, backend=backend, text="", reasoning="", answer="",
                             think_state="absent", think_blocks=0, finish_reason="error",
                             prompt_tokens=raw.prompt_tokens, completion_tokens=0, reasoning_tokens=0,
                             answer_tokens=0, latency_s=raw.latency_s, error=raw.error)
    p = parse_completion(prefix, raw.text, raw.reasoning_content, raw.finish_reason, mode=mode)
    if count is not None:
        n_reason, n_answer = count([p.reasoning, p.answer])
    else:  # no tokenizer (a served model): split the server's completion count by characters
        chars = len(p.reasoning) + len(p.answer)
        n_reason = round(raw.completion_tokens * len(p.reasoning) / chars) if chars else 0
        n_answer = raw.completion_tokens - n_reason
    return GenerationRow(key=raw.key, backend=backend, text=raw.text, reasoning=p.reasoning,
                         answer=p.answer, think_state=p.think_state, think_blocks=p.think_blocks,
                         finish_reason=raw.finish_reason, prompt_tokens=raw.prompt_tokens,
                         completion_tokens=raw.completion_tokens, reasoning_tokens=n_reason,
                         answer_tokens=n_answer, latency_s=raw.latency_s, error=None,
                         leaked_think=bool(getattr(p, "leaked_think", False)), **budget_audit(raw.meta))


# -- scoring --------------------------------------------------------------------

class Scoring:
    """The suites' scorers, and the items they grade against (loaded on first use)."""

    def __init__(self, suites: Sequence[Suite]):
        self.suites = list(suites)
        self.scorers = {s.name: s.scorer() for s in self.suites}
        self._items: dict[tuple[str, str], Item] | None = None

    @property
    def items(self) -> dict[tuple[str, str], Item]:
        if self._items is None:
            self._items = {(i.suite, i.id): i for s in self.suites for i in s.items()}
        return self._items

    def unscored(self, store: Store) -> list[dict[str, Any]]:
        """Stored answers with no score from their suite's current scorer (name, version)."""
        return store.to_score({name: (sc.name, sc.version) for name, sc in self.scorers.items()})

    def score_all(self, store: Store, rows: list[dict[str, Any]], progress: Any = None, chunk: int = 64) -> int:
        """Score `rows` a chunk at a time, writing each chunk's scores (the sequential path)."""
        if not rows:
            return 0
        task = progress.add_task("scoring", total=len(rows)) if progress else None
        rows = sorted(rows, key=lambda r: r["suite"])
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            store.put_scores(self.score(part))
            if progress:
                progress.advance(task, len(part))
        return len(rows)

    def score(self, rows: list[dict[str, Any]]) -> list[ScoreRow]:
        """Grade answers (rows with key, suite, item_id, answer, think_state). Scorers see the
        answer only; a scorer with `score_batch(answers, items)` gets each suite's share at once."""
        scores: dict[str, Score] = {}
        ready: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            scorer = self.scorers[row["suite"]]
            if row["think_state"] == "unclosed":
                # Policy: thinking never closed -> no answer -> 0. The trace is never scored.
                binary = getattr(scorer, "binary", False)
                scores[row["key"]] = Score(scorer.name, 0.0, False if binary else None, Status.OK,
                                           {"reason": "unclosed think: no answer"})
            elif (row["suite"], row["item_id"]) not in self.items:
                scores[row["key"]] = Score(scorer.name, None, None, Status.DATA_ERROR,
                                           {"reason": f"item {row['item_id']} is no longer in suite {row['suite']}"})
            else:
                ready.setdefault(row["suite"], []).append(row)
        for suite, group in ready.items():
            scorer = self.scorers[suite]
            answers = [r["answer"] for r in group]
            items = [self.items[(suite, r["item_id"])] for r in group]
            try:
                if hasattr(scorer, "score_batch"):
                    got = list(scorer.score_batch(answers, items))
                    if len(got) != len(group):
                        raise ValueError(f"score_batch returned {len(got)} scores for {len(group)} answers")
                else:
                    got = [score_one(scorer, a, i) for a, i in zip(answers, items)]
            except Exception as e:  # a scorer bug is not a wrong answer
                got = [Score(scorer.name, None, None, Status.SCORE_ERROR, {"reason": repr(e)})] * len(group)
            scores.update({r["key"]: sc for r, sc in zip(group, got)})
        return [ScoreRow(key=r["key"], scorer=scores[r["key"]].scorer,
                         scorer_version=self.scorers[r["suite"]].version, value=scores[r["key"]].value,
                         passed=scores[r["key"]].passed, status=Status(scores[r["key"]].status).value,
                         detail=json.dumps(scores[r["key"]].detail, default=str))
                for r in rows]


def score_one(scorer: Any, answer: str, item: Item) -> Score:
    try:
        return scorer(answer, item)
    except Exception as e:  # a scorer bug is not a wrong answer
        return Score(scorer.name, None, None, Status.SCORE_ERROR, {"reason": repr(e)})
