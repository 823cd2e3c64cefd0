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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from thinkgate.harness.backends import Backend, EngineRequest, make_backend
from thinkgate.harness.backends.base import ThinkBudget
from thinkgate.harness.budget import BUDGET_MECHANISMS, think_budget
from thinkgate.harness.config import CONFIG_NAME, RunConfig
from thinkgate.harness.errors import UserError
from thinkgate.harness.models import ModelRef, resolve_model
from thinkgate.harness.pipeline import Scoring, generate_into, run_pipeline
from thinkgate.harness.profiles import Profile, Sampling, get_profile, parse_budget, render_prompt, with_overrides
from thinkgate.harness.store import RequestRow, Store
from thinkgate.tasks import Suite, resolve_suites


class RenderedPrompt:
    """One item x mode rendered for the model: what its samples share. `token_ids` may be
    filled in later (pipeline.with_token_ids), for the pending requests only."""

    def __init__(self, prompt: str, token_ids: tuple[int, ...], base: Sampling, messages: tuple,
                 prefill: str, template_kwargs: tuple, api_params: tuple, budget: ThinkBudget | None = None):
        self.prompt, self.token_ids, self.base = prompt, token_ids, base
        self.messages, self.prefill = messages, prefill
        self.template_kwargs, self.api_params = template_kwargs, api_params
        self.budget = budget  # budget:N modes: what harness/budget.py enforces


@dataclass(frozen=True)
class PlannedRequest:
    """One request of the run: its store row, and what the engine gets (built on use, so
    resuming a finished run builds none)."""

    row: RequestRow
    assistant_prefix: str
    rendered: RenderedPrompt
    seed: int

    @property
    def engine(self) -> EngineRequest:
        r = self.rendered
        return EngineRequest(self.row.key, r.prompt, r.token_ids, replace(r.base, seed=self.seed), r.messages,
                             r.prefill, r.template_kwargs, r.api_params, r.budget)


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
                  suites: Sequence[Suite], token_ids: bool = True) -> list[PlannedRequest]:
    """Every request of the run, rendered and keyed. With `token_ids=False` the prompt token
    ids are left out (`pipeline.with_token_ids` fills them in for the pending requests only,
    so resuming a finished run never tokenizes). Per sample only the seed changes: the key
    hashes a per-prompt prefix once and the seed is spliced into pre-rendered JSON, so the
    keys and rows are exactly those of `request_key` / `json.dumps` at a fraction of the cost."""
    planned = []
    for suite in suites:
        for item in suite.items(cfg.limit):
            reference, messages = json.dumps(item.reference), json.dumps(item.messages)
            for mode in cfg.modes:
                rendering = profile.render_mode(item.messages, mode)  # a budget mode starts as think
                if tokenizer is None:  # a served model: the server renders; the key sees the chat
                    prompt = json.dumps({"messages": rendering.messages, "prefill": rendering.prefill,
                                         "template_kwargs": rendering.template_kwargs,
                                         **({"api_params": rendering.api_params} if rendering.api_params else {})},
                                        sort_keys=True)
                    prefix, ids = rendering.prefill, ()
                else:
                    prompt, prefix = render_prompt(tokenizer, rendering)
                    ids = tuple(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if token_ids else ()
                base = with_overrides(profile.sampling_for(mode, cfg.matched_decoding),
                                      temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k,
                                      max_tokens=cfg.max_tokens)
                keys = _KeyMaker(model, profile.name, mode, prompt, base)
                seed_of = _seed_maker(cfg.seed, item.id, mode)
                budget = parse_budget(mode)
                rendered = RenderedPrompt(prompt, ids, base, rendering.messages, rendering.prefill,
                                          tuple(sorted(rendering.template_kwargs.items())),
                                          tuple(sorted(rendering.api_params.items())),
                                          think_budget(budget, profile, cfg.max_tokens) if budget else None)
                for k in range(cfg.samples):
                    seed = seed_of(k)
                    key, sampling_json = keys(k, seed)
                    row = RequestRow(key=key, model=model.name, model_revision=model.revision,
                                     profile=profile.name, suite=item.suite, domain=item.domain,
                                     verifiable=item.verifiable, grp=item.group, item_id=item.id, mode=mode,
                                     sample=k, prompt=prompt, prefill=prefix, sampling=sampling_json,
                                     reference=reference, messages=messages)
                    planned.append(PlannedRequest(row, prefix, rendered, seed))
    return planned


_SEED = "\x00seed\x00"  # a placeholder no real setting holds


def _split_at_seed(sampling: Sampling, sort_keys: bool) -> tuple[str, str]:
    """json.dumps of `sampling` cut where the seed goes: a + str(seed) + b == json.dumps(with seed)."""
    a, b = json.dumps({**sampling.as_dict(), "seed": _SEED}, sort_keys=sort_keys).split(json.dumps(_SEED))
    return a, b


class _KeyMaker:
    """request_key(model, profile, mode, k, replace(base, seed=s), prompt) and the row's sampling
    JSON for every sample k of one rendered prompt, hashing the prompt once (see request_key)."""

    def __init__(self, model: ModelRef, profile: str, mode: str, prompt: str, base: Sampling):
        d = json.dumps
        head = (f'{{"mode": {d(mode)}, "model": {d(model.name)}, "profile": {d(profile)}, '
                f'"prompt": {d(prompt)}, "revision": {d(model.revision)}, "sample": ')
        self.head = hashlib.sha256(head.encode())
        self.sorted = _split_at_seed(base, sort_keys=True)
        self.plain = _split_at_seed(base, sort_keys=False)

    def __call__(self, sample: int, seed: int) -> tuple[str, str]:
        h = self.head.copy()
        h.update(f'{sample}, "sampling": {self.sorted[0]}{seed}{self.sorted[1]}}}'.encode())
        return h.hexdigest(), f"{self.plain[0]}{seed}{self.plain[1]}"


def _seed_maker(run_seed: int, item_id: str, mode: str) -> Callable[[int], int]:
    """sample_seed(run_seed, item_id, mode, k) as a function of k, hashing the prefix once."""
    head = hashlib.sha256(f"{run_seed}:{item_id}:{mode}:".encode())

    def seed(sample: int) -> int:
        h = head.copy()
        h.update(str(sample).encode())
        return int.from_bytes(h.digest()[:4], "big") & 0x7FFFFFFF

    return seed


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


def generate_pending(store: Store, planned: Sequence[PlannedRequest], backend: Backend,
                     count: Callable[[list[str]], list[int]] | None, progress: Any = None) -> tuple[int, int]:
    """Send the not-yet-done requests to the backend; write each batch as it arrives (no
    scoring: the sequential path; `evaluate` scores while generating, see pipeline.py)."""
    done = store.done_keys()
    return generate_into(store, [p for p in planned if p.row.key not in done], backend, count, progress)


def score_pending(store: Store, suites: Sequence[Suite], progress: Any = None, chunk: int = 64) -> int:
    """Score every generation that has no score from its suite's current scorer (the
    sequential path). Scorers see the answer only; a scorer with `score_batch(answers,
    items)` gets a chunk at a time (the code sandbox runs programs in parallel)."""
    scoring = Scoring(suites)
    return scoring.score_all(store, scoring.unscored(store), progress, chunk)


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
    try:
        return _evaluate_in(store, cfg, profile, suites, model, tokenizer, backend, progress, write_report)
    finally:
        store.close()  # free the run folder: the next command (or a retry here) resumes


def _evaluate_in(store: Store, cfg: RunConfig, profile: Profile, suites: Sequence[Suite], model: ModelRef,
                 tokenizer: Any, backend: Backend | None, progress: bool, write_report: bool) -> RunResult:
    check_fingerprint(store, run_fingerprint(cfg, model))
    store.set_meta("last_command", cfg.to_dict())
    cfg.to_file(Path(cfg.out) / CONFIG_NAME)  # `thinkgate eval --config RUN/config.toml` repeats it
    planned = plan_requests(cfg, model, profile, tokenizer, suites, token_ids=False)
    store.add_requests(p.row for p in planned)

    def count_tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    count = count_tokens if tokenizer is not None else None

    bar = _progress() if progress else nullcontext()
    generated = errors = 0
    backend_name = None
    with bar as prog:
        done = store.done_keys()  # one query: resuming never asks the store per request
        pending = [p for p in planned if p.row.key not in done]
        engine = None
        if pending:  # the engine is only loaded when something is left to generate
            engine = backend or make_backend(cfg.backend, model.path, cfg.engine)
            backend_name = engine.name
            if any(p.rendered.budget for p in pending):  # budget:N arms: forced in passes
                engine = BUDGET_MECHANISMS.get(cfg.budget_mechanism)(engine, _encoder(tokenizer))
        # scoring runs beside generation; answers earlier runs left unscored come first
        res = run_pipeline(store, pending, engine, suites, count, tokenizer=tokenizer, progress=prog)
        generated, errors = res.generated, res.errors
    if cfg.judge:
        with (_progress() if progress else nullcontext()) as prog:
            run_judge_for(store, cfg, prog)
    if write_report:
        from thinkgate.harness.report_io import write_outputs

        write_outputs(store)
    return RunResult(Path(cfg.out), len(planned), generated, errors, backend_name)


def _encoder(tokenizer: Any) -> Callable[[str], list[int]] | None:
    if tokenizer is None:
        return None
    return lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]


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
    from thinkgate.harness.console import progress

    return progress()
