"""The code sandbox's contract: outcomes, reasons, limits, plain-data replies, guards and
their fallbacks, the container hook. Hostile programs are in test_sandbox_hostile.py."""

from __future__ import annotations

import math
import os
import resource
import sys
import uuid

import pytest

from thinkgate.tasks.sandbox import (GUARDS, Limits, SandboxResult, Tests, Unplain, decode, encode, run_many,
                                     run_program)

FAST = 3.0  # wall clock: keep the shared test machine healthy
ADD = Tests("def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n", "add")


def test_plain_programs_pass_when_they_run_to_their_end():
    ok = run_program("print('hello')", FAST)
    assert (ok.outcome, ok.returncode, ok.stdout, ok.infra_error) == ("pass", 0, "hello\n", False)
    bad = run_program("assert 1 + 1 == 3, 'arithmetic'", FAST)
    assert bad.outcome == "fail" and bad.returncode == 1 and "status 1" in bad.reason
    assert "AssertionError: arithmetic" in bad.stderr and "arithmetic" not in bad.reason  # output, not reason
    assert isinstance(bad, SandboxResult)


def test_tests_judge_the_entry_point_in_the_runner():
    assert run_program("def add(a, b):\n    return a + b", FAST, tests=ADD).outcome == "pass"
    wrong = run_program("def add(a, b):\n    return a * b", FAST, tests=ADD)
    assert wrong.outcome == "fail" and wrong.reason == "a test assertion failed at tests line 2: assert candidate(2, 3) == 5"
    missing = run_program("def plus(a, b):\n    return a + b", FAST, tests=ADD)
    assert missing.outcome == "fail" and "no function 'add'" in missing.reason
    raised = run_program("def add(a, b):\n    raise KeyError(a)", FAST, tests=ADD)
    assert raised.outcome == "fail" and raised.reported == "KeyError" and "KeyError" in raised.stderr


def test_tests_can_use_the_prelude_and_catch_the_programs_exceptions():
    t = Tests("def check(f):\n    assert f(3) == helper(3)\n    try:\n        f(-1)\n    except ValueError:\n"
              "        return\n    assert False\n", "f", prelude="def helper(x):\n    return x * 2\n")
    code = "def f(x):\n    if x < 0:\n        raise ValueError(x)\n    return x + x\n"
    assert run_program(code, FAST, tests=t).outcome == "pass"


@pytest.mark.parametrize("value", [None, True, 0, -7, 1 << 200, -(1 << 70), 1.5, math.inf, -0.0, 2j + 1, "é\ud800",
                                   b"\x00\xff", [1, [2]], (1, (2,)), {1, "a"}, frozenset({(1, 2)}),
                                   {"k": [1], (1, 2): {3: None}}, [], ()])
def test_plain_values_cross_the_boundary_exactly(value):
    back = decode(encode(value))
    assert back == value and type(back) is type(value)
    assert repr(back) == repr(value)


@pytest.mark.parametrize("value", [object(), type("Int", (int,), {})(3), [1, type("S", (str,), {})("x")], {1: print}])
def test_program_defined_types_are_refused(value):
    with pytest.raises(Unplain):
        encode(value)


@pytest.mark.parametrize("wire", [{"a": 1}, ["X", 1], ["D", 1], ["D", ["L"], 1], ["B", 5], ["C", "1", 2], [], [1]])
def test_malformed_wire_values_are_rejected(wire):
    with pytest.raises((ValueError, TypeError)):
        decode(wire)


def test_guards_are_reported_and_refusals_named():
    r = run_program("pass", FAST)
    assert set(r.guards) | set(r.missing) == set(GUARDS) and not set(r.guards) & set(r.missing)
    assert r.network_isolated == ("net" in r.guards)
    if os.geteuid() == 0:
        for refused, gone in ((("user",), {"user"}), (("pid",), {"pid", "proc"}), (("net",), {"net"}),
                              (("mount",), {"mount", "proc", "ipc"})):
            fallback = run_program("import os\nprint(os.getuid())", FAST, refuse=refused)
            assert fallback.outcome == "pass" and gone <= set(fallback.missing)
            assert fallback.stdout.strip() == "65534"  # still an unprivileged uid


def test_writes_stay_in_the_private_work_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = ("import os\nopen('escape.txt', 'w').write('x')\nopen(os.path.expanduser('~/.rc'), 'w').write('x')\n"
            "import tempfile\ntempfile.mkstemp()\nprint(os.getcwd(), sorted(os.listdir('.')))")
    r = run_program(code, FAST)
    assert r.outcome == "pass" and not (tmp_path / "escape.txt").exists()
    if "mount" in r.guards:
        assert r.stdout.split()[0] == "/sandbox"


def test_api_keys_do_not_reach_the_program(monkeypatch):
    secret = f"sk-thinkgate-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    code = f"""
import os, glob
print(sorted(os.environ))
leaks = 0
for path in glob.glob('/proc/[0-9]*/environ') + glob.glob('/proc/[0-9]*/cmdline'):
    try:
        leaks += {secret!r}.encode() in open(path, 'rb').read()
    except OSError:
        pass
print('proc leaks', leaks)
"""
    r = run_program(code, FAST)
    assert r.outcome == "pass" and "OPENAI_API_KEY" not in r.stdout and "proc leaks 0" in r.stdout


@pytest.mark.parametrize("early_exit", ["import os; os._exit(0)", "import sys; sys.exit(0)", "raise SystemExit"])
def test_exit_zero_before_the_end_is_not_a_pass(early_exit):
    r = run_program(f"{early_exit}\nprint('never')", FAST)
    assert r.returncode == 0 and r.outcome == "fail" and "before it was done" in r.reason
    judged = run_program(f"def add(a, b):\n    return a + b\n{early_exit}\n", FAST, tests=ADD)
    assert judged.outcome == "fail"


def test_output_is_capped_and_a_flood_is_a_fail():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = run_program("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", FAST, Limits(file_mb=4))
    assert r.outcome == "fail" and "file size" in r.reason and len(r.stdout) == Limits().output_bytes
    noisy = run_program("print('y' * (2 << 20))\nprint('END')", FAST)
    assert noisy.outcome == "pass" and len(noisy.stdout) == Limits().output_bytes
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 64 * 1024  # KiB


def test_recursion_overflow_is_a_fail():
    r = run_program("def add(a, b):\n    return add(a, b)\n", FAST, tests=ADD)
    assert r.outcome == "fail" and r.reported == "RecursionError"


def test_cpu_time_limit_is_reported():
    r = run_program("while True:\n    pass", timeout_s=5, limits=Limits(cpu_s=1))
    assert r.outcome == "fail" and "cpu time" in r.reason and r.duration_s < 4 and r.returncode < 0


def test_a_runner_that_cannot_start_is_an_infrastructure_error():
    r = run_program("print(1)", FAST, prefix=["/nonexistent/thinkgate-runner"])
    assert r.outcome == "error" and r.infra_error and r.returncode is None


def test_container_prefix_hook(monkeypatch):
    r = run_program("print('in runner')", FAST, prefix=[sys.executable, "-I", "-S"])
    assert r.outcome == "pass" and r.stderr == "in runner\n" and r.guards == ("container",)
    assert r.network_isolated is False and r.missing == ()  # the sandbox cannot check a container
    judged = run_program("def add(a, b):\n    return a + b", FAST, tests=ADD, prefix=[sys.executable, "-I", "-S"])
    assert judged.outcome == "pass"
    monkeypatch.setenv("THINKGATE_SANDBOX_PREFIX", f"{sys.executable} -I -S")
    assert run_program("print(2)", FAST).guards == ("container",)


def test_run_many_keeps_order():
    progs = [f"print({i})" if i % 2 else f"def add(a, b):\n    return a + b + {i}" for i in range(6)]
    results = run_many(progs, FAST, workers=3, tests=[None if i % 2 else ADD for i in range(6)])
    assert [r.stdout.strip() for r in results[1::2]] == ["1", "3", "5"]
    assert [r.outcome for r in results] == ["pass"] * 2 + ["fail", "pass"] * 2
    with pytest.raises(ValueError, match="tests"):
        run_many(progs, FAST, tests=[None])
    assert run_many([], FAST) == []
