"""The runner: items x modes x samples -> requests -> store -> generations -> scores.

    evaluate(RunConfig(...)) renders every request with the model's chat template and
    profile, skips the ones the store already has, sends the rest to the backend in one
    batch, parses and token-counts each generation as it arrives, writes it, scores
    what is unscored, and exports the items table and the report.

The engine is only loaded when something is pending, so re-running a finished command
costs seconds and rewrites the same report.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from thinkgate.harness.backends import Backend, EngineRequest, RawGeneration, make_backend
from thinkgate.harness.config import CONFIG_NAME, RunConfig
from thinkgate.harness.errors import UserError
from thinkgate.harness.models import ModelRef, resolve_model
from thinkgate.harness.parsing import parse_completion
from thinkgate.harness.profiles import Profile, Sampling, get_profile, render_prompt, with_overrides
from thinkgate.harness.store import GenerationRow, RequestRow, ScoreRow, Store
from thinkgate.tasks import Item, Score, Suite, resolve_suites


@dataclass(frozen=True)
class PlannedRequest:
    row: RequestRow
    engine: EngineRequest
    assistant_prefix: str


@dataclass(frozen=True)
class RunResult:
    out: Path
    planned: int
    generated: int
    errors: int
    backend: str | None


def request_key(model: ModelRef, profile: str, mode: str, sample: int, sampling: Sampling, prompt: str) -> str:
    """sha256 over everything that changes a generation (the sample index included)."""
    blob = json.dumps({"model": model.name, "revision": model.revision, "profile": profile,
                       "mode": mode, "sample": sample, "sampling": sampling.as_dict(),
                       "prompt": prompt}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def sample_seed(run_seed: int, item_id: str, mode: str, sample: int) -> int:
    h = hashlib.sha256(f"{run_seed}:{item_id}:{mode}:{sample}".encode()).hexdigest()
    return int(h[:8], 16) & 0x7FFFFFFF


def load_suites(names: Sequence[str], lmeval_include: str | None = None) -> list[Suite]:
    """The suites of a run; an unknown name or a bad data file is a UserError naming the fix."""
    return resolve_suites(list(names), lmeval_include)


def plan_requests(cfg: RunConfig, model: ModelRef, profile: Profile, tokenizer: Any,
                  suites: Sequence[Suite]) -> list[PlannedRequest]:
    planned = []
    for suite in suites:
        for item in suite.items(cfg.limit):
            for mode in cfg.modes:
                rendering = profile.render(item.messages, mode)
                if tokenizer is None:  # a served model: the server renders; the key sees the chat
                    prompt = json.dumps({"messages": rendering.messages, "prefill": rendering.prefill,
                                         "template_kwargs": rendering.template_kwargs,
                                         **({"api_params": rendering.api_params} if rendering.api_params else {})},
                                        sort_keys=True)
                    prefix, ids = rendering.prefill, ()
                else:
                    prompt, prefix = render_prompt(tokenizer, rendering)
                    ids = tuple(tokenizer(prompt, add_special_tokens=False)["input_ids"])
                base = with_overrides(profile.sampling_for(mode, cfg.matched_decoding),
                                      temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k,
                                      max_tokens=cfg.max_tokens)
                for k in range(cfg.samples):
                    sampling = with_overrides(base, seed=sample_seed(cfg.seed, item.id, mode, k))
                    key = request_key(model, profile.name, mode, k, sampling, prompt)
                    row = RequestRow(key, model.name, model.revision, profile.name, item.suite,
                                     item.domain, item.verifiable, item.group, item.id, mode, k,
                                     prompt, prefix, json.dumps(sampling.as_dict()),
                                     json.dumps(item.reference), json.dumps(item.messages))
                    engine_req = EngineRequest(key, prompt, ids, sampling, rendering.messages, rendering.prefill,
                                               tuple(sorted(rendering.template_kwargs.items())),
                                               tuple(sorted(rendering.api_params.items())))
                    planned.append(PlannedRequest(row, engine_req, prefix))
    return planned


def run_fingerprint(cfg: RunConfig, model: ModelRef) -> dict[str, Any]:
    """What must not change between two commands writing into one run directory."""
    return {"model": model.name, "revision": model.revision, "profile": cfg.profile,
            "max_tokens": cfg.max_tokens, "seed": cfg.seed, "matched_decoding": cfg.matched_decoding,
            "temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": cfg.top_k}


def check_fingerprint(store: Store, fp: dict[str, Any]) -> None:
    old = store.get_meta("run")
    if old is None:
        store.set_meta("run", fp)
        return
    diff = {k: (old.get(k), v) for k, v in fp.items() if old.get(k) != v}
    if diff:
        said = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
        raise UserError(f"{store.dir} holds a run with other settings ({said}); pass another "
                        "--out for a new run, or the same settings to resume this one")


def _to_row(raw: RawGeneration, prefix: str, backend: str,
            count: Callable[[list[str]], list[int]] | None) -> GenerationRow:
    if raw.finish_reason == "error":
        return GenerationRow(raw.key, backend, "", "", "", "absent", 0, "error",
                             raw.prompt_tokens, 0, 0, 0, raw.latency_s, raw.error)
    p = parse_completion(prefix, raw.text, raw.reasoning_content, raw.finish_reason)
    if count is not None:
        n_reason, n_answer = count([p.reasoning, p.answer])
    else:  # no tokenizer (a served model): split the server's completion count by characters
        chars = len(p.reasoning) + len(p.answer)
        n_reason = round(raw.completion_tokens * len(p.reasoning) / chars) if chars else 0
        n_answer = raw.completion_tokens - n_reason
    return GenerationRow(raw.key, backend, raw.text, p.reasoning, p.answer, p.think_state,
                         p.think_blocks, raw.finish_reason, raw.prompt_tokens,
                         raw.completion_tokens, n_reason, n_answer, raw.latency_s, None)


def generate_pending(store: Store, planned: Sequence[PlannedRequest], backend: Backend,
                     count: Callable[[list[str]], list[int]] | None, progress: Any = None) -> tuple[int, int]:
    """Send the not-yet-done requests to the backend; write each batch as it arrives."""
    done = store.done_keys()
    pending = [p for p in planned if p.row.key not in done]
    prefix = {p.row.key: p.assistant_prefix for p in pending}
    task = progress.add_task("generating", total=len(pending)) if progress else None
    n = errors = 0
    returned: set[str] = set()
    try:
        for batch in backend.generate([p.engine for p in pending]):
            rows = [_to_row(g, prefix[g.key], backend.name, count) for g in batch]
            store.put_generations(rows)
            returned.update(g.key for g in batch)
            n += len(rows)
            errors += sum(r.finish_reason == "error" for r in rows)
            if progress:
                progress.advance(task, len(rows))
    except Exception as e:  # the engine died: what it finished is stored; the rest is an error
        lost = [p.engine for p in pending if p.row.key not in returned]
        from thinkgate.harness.backends.base import error_generations

        store.put_generations(_to_row(g, "", backend.name, count) for g in error_generations(lost, e))
        errors += len(lost)
    return n, errors


def score_pending(store: Store, suites: Sequence[Suite], progress: Any = None, chunk: int = 64) -> int:
    """Score every generation that has no score from its suite's current scorer.

    Scorers see the answer only. A scorer with `score_batch(answers, items)` gets a chunk
    at a time (the code sandbox runs programs in parallel); others are called per answer.
    """
    scorers = {s.name: s.scorer() for s in suites}
    todo = store.to_score({name: (sc.name, sc.version) for name, sc in scorers.items()})
    if not todo:
        return 0
    items: dict[str, Item] = {i.id: i for s in suites for i in s.items()}
    task = progress.add_task("scoring", total=len(todo)) if progress else None
    todo.sort(key=lambda r: r["suite"])
    for start in range(0, len(todo), chunk):
        rows = todo[start:start + chunk]
        store.put_scores(_score_rows(rows, scorers, items))
        if progress:
            progress.advance(task, len(rows))
    return len(todo)


def _score_rows(rows: list[dict[str, Any]], scorers: dict[str, Any], items: dict[str, Item]) -> list[ScoreRow]:
    scores: dict[str, Score] = {}
    ready: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        scorer = scorers[row["suite"]]
        if row["think_state"] == "unclosed":
            # Policy: thinking never closed -> no answer -> 0. The trace is never scored.
            binary = getattr(scorer, "binary", False)
            scores[row["key"]] = Score(scorer.name, 0.0, False if binary else None, "ok",
                                       {"reason": "unclosed think: no answer"})
        elif row["item_id"] not in items:
            scores[row["key"]] = Score(scorer.name, None, None, "data_error",
                                       {"reason": f"item {row['item_id']} is no longer in suite {row['suite']}"})
        else:
            ready.setdefault(row["suite"], []).append(row)
    for suite, group in ready.items():
        scorer = scorers[suite]
        answers, its = [r["answer"] for r in group], [items[r["item_id"]] for r in group]
        try:
            if hasattr(scorer, "score_batch"):
                got = list(scorer.score_batch(answers, its))
            else:
                got = [_score_one(scorer, a, i) for a, i in zip(answers, its)]
        except Exception as e:  # a scorer bug is not a wrong answer
            got = [Score(scorer.name, None, None, "score_error", {"reason": repr(e)})] * len(group)
        scores.update({r["key"]: sc for r, sc in zip(group, got)})
    return [ScoreRow(r["key"], scores[r["key"]].scorer, scorers[r["suite"]].version,
                     scores[r["key"]].value, scores[r["key"]].passed, scores[r["key"]].status,
                     json.dumps(scores[r["key"]].detail, default=str)) for r in rows]


def _score_one(scorer: Any, answer: str, item: Item) -> Score:
    try:
        return scorer(answer, item)
    except Exception as e:  # a scorer bug is not a wrong answer
        return Score(scorer.name, None, None, "score_error", {"reason": repr(e)})


def load_tokenizer(model: ModelRef) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model.path, revision=None if Path(model.path).is_dir() else model.revision)
    except Exception as e:
        raise UserError(f"could not load the tokenizer of model '{model.path}' ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200]}); pass a local model folder, or omit --model "
                        "for the embedded default") from None


def evaluate(cfg: RunConfig, backend: Backend | None = None, progress: bool = True,
             write_report: bool = True) -> RunResult:
    """Run (or resume) an evaluation; return counts. `backend` overrides cfg.backend (tests, bench).

    `cfg` validated itself when it was made (modes, suites, profile, backend, limits)."""
    profile = get_profile(cfg.profile)
    suites = load_suites(cfg.suites, cfg.lmeval_include)
    model, tokenizer = _model_and_tokenizer(cfg)
    store = Store(cfg.out)
    check_fingerprint(store, run_fingerprint(cfg, model))
    store.set_meta("last_command", cfg.to_dict())
    cfg.to_file(Path(cfg.out) / CONFIG_NAME)  # `thinkgate eval --config RUN/config.toml` repeats it
    planned = plan_requests(cfg, model, profile, tokenizer, suites)
    store.add_requests(p.row for p in planned)

    def count_tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    count = count_tokens if tokenizer is not None else None

    bar = _progress() if progress else nullcontext()
    generated = errors = 0
    backend_name = None
    with bar as prog:
        if any(p.row.key not in store.done_keys() for p in planned):
            engine = backend or make_backend(cfg.backend, model.path, cfg.engine)
            backend_name = engine.name
            generated, errors = generate_pending(store, planned, engine, count, prog)
        score_pending(store, suites, prog)
    if cfg.judge:
        with (_progress() if progress else nullcontext()) as prog:
            run_judge_for(store, cfg, prog)
    if write_report:
        from thinkgate.harness.report_io import write_outputs

        write_outputs(store)
    store.close()
    return RunResult(Path(cfg.out), len(planned), generated, errors, backend_name)


def _model_and_tokenizer(cfg: RunConfig) -> tuple[ModelRef, Any]:
    """A served model is named, not loaded; it gets a local tokenizer only when one is at hand
    (exact reasoning/answer token counts). A local model is resolved and its tokenizer loaded."""
    if not cfg.served:
        model = resolve_model(cfg.model, cfg.revision)
        return model, load_tokenizer(model)
    model = ModelRef(cfg.model, cfg.model, cfg.revision or "served")
    tok_source = cfg.tokenizer or (cfg.model if Path(cfg.model).is_dir() else None)
    return model, (load_tokenizer(resolve_model(tok_source)) if tok_source else None)


def run_judge_for(store: Store, cfg: RunConfig, progress: Any = None) -> int:
    """Judge the run's think vs no_think answers with `cfg.judge`, on the run's own backend
    (a judge of a served run is a served model); return the new verdicts."""
    from thinkgate.harness.judge import JudgeConfig, run_judge

    judge = None if cfg.judge == "embedded" else cfg.judge
    return run_judge(store, JudgeConfig(judge, cfg.backend, cfg.judge_max_tokens, cfg.engine), progress)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn())
