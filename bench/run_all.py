"""Run every benchmark, collect its figures, write docs/benchmarks.md (`make bench`).

Each bench script runs in its own process, one after another, with the load average
noted before and after. A script reports its figures on stdout, after its own
human-readable output, one line per figure:

    BENCH {"figure": "engine overhead (vllm): thinkgate runner / raw engine", "goal": "<= 1.10",
           "value": 1.04, "unit": "x raw wall", "pass": true, "detail": "64 requests, ..."}

i.e. `BENCH ` then one JSON object on one line: `figure` (what is measured), `goal` (the
target, as text), `value` (a number), `unit`, `pass` (true, false, or null where there is
no goal) and an optional `detail` (sizes, the numbers behind a ratio). A script that
takes `--quick` runs at smoke sizes with it. A script that fails or prints no BENCH line
is listed as such, with the tail of its output; the others still run.

    .venv/bin/python bench/run_all.py [--quick] [--only engine_overhead,stats] [--out docs/benchmarks.md]

Full output of each script goes to runs/bench/<script>.log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run first, in this order; any other bench/*.py follows in name order.
ORDER = ("engine_overhead.py", "lmeval_side_by_side.py", "sandbox.py", "stats.py", "router_latency.py",
         "proxy_overhead.py", "http_throughput.py", "resume.py", "overlap.py", "coverage.py")
SKIP = {"run_all.py": "this driver", "router.py": "a wrapper that runs router_latency.py and proxy_overhead.py"}
# Smoke arguments for scripts without a --quick flag of their own.
QUICK_ARGS = {"http_throughput.py": ["--concurrency", "8", "--repeats", "1", "--seconds", "0.5"]}
NOISE = re.compile(r"WARNING|Warning|INFO|it/s\]|s/it\]|toks/s\]|examples/s\]|^\s*$|^\s*warnings\.warn|"
                   r"^\s*if hasattr|^\s*wrapper = |^Triton is installed|Overwriting default num_fewshot")


@dataclass
class Outcome:
    script: str
    args: list[str]
    rc: int | None = None
    wall_s: float = 0.0
    load_before: tuple[float, ...] = ()
    load_after: tuple[float, ...] = ()
    figures: list[dict] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    note: str = ""
    killed: bool = False


def parse_bench_line(line: str) -> dict | None:
    """The figure of one output line, or None: parse_bench_line('BENCH {"figure": "x", "value": 1}')
    -> {"figure": "x", "value": 1, "goal": "", "unit": "", "pass": None, "detail": ""}."""
    if not line.startswith("BENCH "):
        return None
    try:
        got = json.loads(line[len("BENCH "):])
    except json.JSONDecodeError:
        return None
    if not isinstance(got, dict) or "figure" not in got or "value" not in got:
        return None
    return {"goal": "", "unit": "", "pass": None, "detail": "", **got}


def scripts(only: list[str] | None) -> list[str]:
    present = sorted(p.name for p in HERE.glob("*.py") if not p.name.startswith("_") and p.name not in SKIP)
    ordered = [s for s in ORDER if s in present] + [s for s in present if s not in ORDER]
    if only:
        wanted = [o if o.endswith(".py") else f"{o}.py" for o in only]
        unknown = [w for w in wanted if w not in ordered]
        if unknown:
            raise SystemExit(f"no bench script {', '.join(unknown)}; scripts: {', '.join(ordered)}")
        ordered = [s for s in ordered if s in wanted]
    return ordered


def quick_args(script: str) -> tuple[list[str], str]:
    if script in QUICK_ARGS:
        return QUICK_ARGS[script], ""
    if "--quick" in (HERE / script).read_text(encoding="utf-8"):
        return ["--quick"], ""
    return [], "no --quick flag: ran at its default sizes"


def run_one(script: str, args: list[str], log_dir: Path, timeout: float, verbose: bool) -> Outcome:
    out = Outcome(script, args, load_before=os.getloadavg())
    log = log_dir / f"{script[:-3]}.log"
    print(f"\n== {script} {' '.join(args)}", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    lines: list[str] = []
    with open(log, "w", encoding="utf-8") as f:
        proc = subprocess.Popen([sys.executable, str(HERE / script), *args], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, errors="replace")
        try:
            for line in proc.stdout:
                f.write(line)
                line = line.rstrip("\n")
                lines.append(line)
                figure = parse_bench_line(line)
                if figure is not None:
                    out.figures.append(figure)
                if verbose or (figure is None and not NOISE.search(line)):
                    print(f"   {line}", flush=True)
                if time.perf_counter() - t0 > timeout:
                    proc.kill()
                    out.killed, out.note = True, f"killed after {timeout:.0f} s"
                    break
            out.rc = proc.wait()
        except KeyboardInterrupt:
            proc.kill()
            raise
    out.wall_s = time.perf_counter() - t0
    out.load_after = os.getloadavg()
    out.tail = [line for line in lines if not NOISE.search(line) and not line.startswith("BENCH ")][-6:]
    for fig in out.figures:
        mark = {True: "pass", False: "FAIL", None: "-"}[fig["pass"]]
        print(f"   -> {fig['figure']}: {fig['value']} {fig['unit']} (goal {fig['goal']}) {mark}", flush=True)
    if out.rc:
        print(f"   -> exit code {out.rc}; full output in {log}", flush=True)
    return out


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        return sha or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load(t: tuple[float, ...]) -> str:
    return " / ".join(f"{x:.2f}" for x in t)


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(outcomes: list[Outcome], quick: bool, started: str, load0: tuple, load1: tuple) -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = ["# Benchmarks", ""]
    if quick:
        lines += ["**Smoke run (`--quick`): tiny sizes, to check the scripts work. These numbers are not "
                  "measurements; run `make bench` on a quiet machine for those.**", ""]
    lines += ["Written by `make bench` (`bench/run_all.py`); each script's full output is in "
              "`runs/bench/<script>.log`.", "",
              f"- machine: {cell(cpu_model())}, {cores} cores ({os.cpu_count()} CPUs), {memory_gib()} memory, "
              f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
              f"- load average (1/5/15 min): {load(load0)} before, {load(load1)} after",
              f"- commit {git_commit()}, started {started}", "",
              "| figure | goal | value | pass | script | wall | load before → after (1 min) |",
              "|---|---|---|---|---|---|---|"]
    for o in outcomes:
        state = f"{o.wall_s:.0f} s"
        la = f"{o.load_before[0]:.2f} → {o.load_after[0]:.2f}"
        for fig in o.figures:
            mark = {True: "yes", False: "**no**", None: "–"}[fig["pass"]]
            lines.append(f"| {cell(fig['figure'])} | {cell(fig['goal'])} | {cell(fig['value'])} {cell(fig['unit'])} "
                         f"| {mark} | `{o.script}` | {state} | {la} |")
        if not o.figures:
            why = "killed (timeout)" if o.killed else f"failed (exit {o.rc})" if o.rc else "no BENCH line"
            lines.append(f"| — | — | {why} | **no** | `{o.script}` | {state} | {la} |")
    details = [o for o in outcomes if any(f["detail"] for f in o.figures)]
    if details:
        lines += ["", "## Details", ""]
        for o in details:
            for fig in o.figures:
                if fig["detail"]:
                    lines.append(f"- **{cell(fig['figure'])}**: {cell(fig['detail'])}")
    problems = [o for o in outcomes if o.rc or not o.figures or o.killed]
    notes = [o for o in outcomes if o.args or o.note]
    if problems:
        lines += ["", "## Failures", ""]
        for o in problems:
            lines += [f"`{o.script}`: exit {o.rc}{'; ' + o.note if o.note else ''}; last lines:", "", "```",
                      *o.tail, "```", ""]
    if notes:
        lines += ["", "## How each script ran", ""]
        for o in notes:
            cmd = f"python bench/{o.script} {' '.join(o.args)}".rstrip()
            lines.append(f"- `{cmd}`" + (f" ({o.note})" if o.note else ""))
    skipped = ", ".join(f"`{k}` ({v})" for k, v in SKIP.items())
    lines += ["", f"Not run on their own: {skipped}.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke sizes: checks every script works (minutes)")
    ap.add_argument("--only", help="comma-separated script names (engine_overhead,stats)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--timeout", type=float, default=None, help="seconds per script (default 1800, quick 600)")
    ap.add_argument("--verbose", action="store_true", help="echo every output line (vLLM's logs included)")
    args = ap.parse_args()
    timeout = args.timeout or (600.0 if args.quick else 1800.0)
    todo = scripts(args.only.split(",") if args.only else None)
    log_dir = ROOT / "runs" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load0 = os.getloadavg()
    print(f"{len(todo)} bench scripts{' (quick)' if args.quick else ''}: {', '.join(todo)}; "
          f"{cpu_model()}, {os.cpu_count()} CPUs, load average {load(load0)}", flush=True)
    outcomes = []
    for script in todo:
        extra, note = quick_args(script) if args.quick else ([], "")
        o = run_one(script, extra, log_dir, timeout, args.verbose)
        o.note = "; ".join(x for x in (o.note, note) if x)
        outcomes.append(o)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(outcomes, args.quick, started, load0, os.getloadavg()), encoding="utf-8")
    failed = [o.script for o in outcomes if o.rc or not o.figures]
    missed = sum(f["pass"] is False for o in outcomes for f in o.figures)
    print(f"\nwrote {out}: {sum(len(o.figures) for o in outcomes)} figures, {missed} below goal"
          + (f"; no figures from {', '.join(failed)}" if failed else ""), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
