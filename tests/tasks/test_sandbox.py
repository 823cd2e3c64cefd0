"""The code sandbox against hostile programs: each must be survived, contained and reported.

What it cannot do without a container (writes by absolute path) is tested as a limitation.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import sys
import time
import uuid

import pytest

from thinkgate.tasks.sandbox import Limits, SandboxResult, run_many, run_program

FAST = 3.0  # wall clock for hostile programs: keep the shared test machine healthy


def _guards() -> tuple[str, ...]:
    return run_program("pass", FAST).guards


def _alive_processes() -> int:
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def test_pass_and_fail_are_told_apart():
    ok = run_program("print('hello')", FAST)
    assert (ok.outcome, ok.returncode, ok.stdout) == ("pass", 0, "hello\n")
    bad = run_program("assert 1 + 1 == 3, 'arithmetic'", FAST)
    assert bad.outcome == "fail" and bad.reason == "AssertionError: arithmetic"
    assert not bad.infra_error and isinstance(bad, SandboxResult)


def test_infinite_loop_times_out_and_the_whole_group_dies(tmp_path):
    beat = tmp_path / "heartbeat"
    # A child keeps appending to a file: it must die too. Where a PID namespace or a pids
    # cgroup holds the program, even a daemonized child (own session) is caught.
    escape = "os.setsid()" if {"pid", "pids.max"} & set(_guards()) else "pass"
    code = f"""
import os, time
if os.fork() == 0:
    {escape}
    while True:
        with open({str(beat)!r}, "a") as f:
            f.write("x")
        time.sleep(0.02)
while True:
    pass
"""
    t0 = time.monotonic()
    r = run_program(code, timeout_s=1.0)
    assert r.outcome == "timeout" and "process group killed" in r.reason
    assert time.monotonic() - t0 < 5
    time.sleep(0.1)
    size = beat.stat().st_size
    time.sleep(0.3)
    assert beat.stat().st_size == size, "a child of the timed-out program is still running"


def test_fork_bomb_is_contained():
    guards = _guards()
    if os.getuid() == 0 and "pids.max" not in guards:
        pytest.skip("no process cap here: RLIMIT_NPROC does not bind root and no pids cgroup is writable")
    before = _alive_processes()
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    r = run_program(code, FAST, Limits(processes=8))
    assert r.outcome in ("timeout", "error") and not r.infra_error
    time.sleep(0.2)
    assert _alive_processes() <= before + 5, "fork bomb left processes behind"
    assert run_program("print(1)", FAST).outcome == "pass"  # the machine still runs programs


def test_memory_bomb_is_an_error_not_a_host_oom():
    r = run_program("x = bytearray(8 << 30)", FAST, Limits(memory_mb=512))
    assert r.outcome == "error" and "memory" in r.reason.lower()
    r = run_program("xs = []\nwhile True:\n    xs.append(' ' * (1 << 20))\n", FAST, Limits(memory_mb=256))
    assert r.outcome == "error" and "memory" in r.reason.lower()


def test_relative_and_home_writes_stay_in_the_temp_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = ("import os\nopen('escape.txt', 'w').write('x')\n"
            "open(os.path.expanduser('~/.escape_rc'), 'w').write('x')\nprint(os.getcwd())")
    r = run_program(code, FAST)
    assert r.outcome == "pass"
    sandbox_dir = r.stdout.strip()
    assert sandbox_dir != str(tmp_path) and not (tmp_path / "escape.txt").exists()
    assert not os.path.exists(sandbox_dir), "the sandbox's temp dir was not removed"
    assert not os.path.exists(os.path.expanduser("~/.escape_rc"))


def test_absolute_writes_are_size_capped_but_not_prevented(tmp_path):
    # Honest limitation (module docstring): without a container the program can write by
    # absolute path wherever its user can. What holds: RLIMIT_FSIZE caps every file.
    target = tmp_path / f"thinkgate_escape_{uuid.uuid4().hex}"
    r = run_program(f"open({str(target)!r}, 'w').write('escaped')", FAST)
    assert r.outcome == "pass" and target.read_text() == "escaped"
    big = run_program(f"open({str(target)!r}, 'wb').write(bytes(64 << 20))", FAST, Limits(file_mb=4))
    assert big.outcome == "error" and "file size" in big.reason
    assert target.stat().st_size <= 4 << 20


def test_api_keys_do_not_reach_the_program(monkeypatch):
    secret = f"sk-thinkgate-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("HF_TOKEN", secret)
    code = f"""
import os, glob
print(sorted(os.environ))
leaks = 0
for path in glob.glob('/proc/[0-9]*/environ'):
    try:
        leaks += {secret!r}.encode() in open(path, 'rb').read()
    except OSError:
        pass
print('proc leaks', leaks)
"""
    r = run_program(code, FAST)
    assert r.outcome == "pass"
    assert "OPENAI_API_KEY" not in r.stdout and "HF_TOKEN" not in r.stdout
    if "proc" in r.guards:  # a private /proc: the parent's environment is invisible too
        assert "proc leaks 0" in r.stdout


def test_network_is_cut_where_the_os_allows():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        r = run_program(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                        "print('connected')", FAST)
    finally:
        server.close()
    if r.network_isolated:
        assert r.outcome == "fail" and "connected" not in r.stdout
        assert "Error" in r.reason  # ConnectionRefusedError / OSError, reported
    else:  # no network namespace here: say so rather than pretend
        assert r.network_isolated is False and r.outcome == "pass"


def test_killing_its_parent_does_not_kill_the_caller():
    code = "import os, signal\nprint(os.getppid(), flush=True)\nos.kill(os.getppid(), signal.SIGKILL)\nprint('after')"
    r = run_program(code, FAST)
    assert r.outcome in ("pass", "error") and not r.infra_error  # reported, whatever it hit
    assert int(r.stdout.split()[0]) != os.getpid()  # its parent is the sandbox's shell, not us
    assert run_program("print(1)", FAST).outcome == "pass"  # and we are still here


@pytest.mark.parametrize("early_exit", ["import os; os._exit(0)", "import sys; sys.exit(0)", "raise SystemExit"])
def test_exit_zero_before_the_tests_is_not_a_pass(early_exit):
    code = f"{early_exit}\nassert False\nprint('SENTINEL-123')"
    r = run_program(code, FAST, sentinel="SENTINEL-123")
    assert r.returncode == 0 and r.outcome == "fail" and "sentinel" in r.reason
    assert run_program("print('SENTINEL-123')", FAST, sentinel="SENTINEL-123").outcome == "pass"


def test_huge_output_is_truncated_without_blowing_memory():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = run_program("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", FAST)
    assert r.outcome == "error" and "file size" in r.reason
    assert len(r.stdout) <= Limits().output_bytes
    noisy = run_program("print('y' * (2 << 20))\nprint('END')", FAST, sentinel="END")
    assert noisy.outcome == "pass" and len(noisy.stdout) == Limits().output_bytes
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 64 * 1024  # KiB


def test_recursion_overflow_is_a_reported_failure():
    r = run_program("def f(n):\n    return f(n + 1)\nf(0)", FAST)
    assert r.outcome == "fail" and "RecursionError" in r.reason


def test_cpu_time_limit_is_reported():
    r = run_program("while True:\n    pass", timeout_s=5, limits=Limits(cpu_s=1))
    assert r.outcome == "error" and "cpu time" in r.reason and r.duration_s < 4


def test_a_runner_that_cannot_start_is_an_infrastructure_error():
    r = run_program("print(1)", FAST, prefix=["/nonexistent/thinkgate-runner"])
    assert r.outcome == "error" and r.infra_error and r.returncode is None


def test_container_prefix_hook(monkeypatch):
    r = run_program("print('in runner')", FAST, prefix=[sys.executable, "-I", "{dir}/main.py", "--"])
    assert r.outcome == "pass" and r.stdout == "in runner\n" and r.guards == ("container",)
    assert r.network_isolated is False  # the sandbox cannot check a container's network
    monkeypatch.setenv("THINKGATE_SANDBOX_PREFIX", f"{sys.executable} -I")
    assert run_program("print(2)", FAST).guards == ("container",)


def test_run_many_keeps_order_and_checks_sentinels():
    progs = [f"print({i})" for i in range(6)]
    results = run_many(progs, FAST, workers=3, sentinels=[str(i) if i % 2 else "nope" for i in range(6)])
    assert [r.stdout.strip() for r in results] == [str(i) for i in range(6)]
    assert [r.outcome for r in results] == ["fail", "pass"] * 3
    with pytest.raises(ValueError, match="sentinels"):
        run_many(progs, FAST, sentinels=["x"])
    assert run_many([], FAST) == []


def test_without_namespaces_or_cgroups_the_shell_still_shields_the_caller(monkeypatch):
    from thinkgate.tasks import sandbox

    monkeypatch.setattr(sandbox, "isolation", lambda: ((), ()))
    monkeypatch.setattr(sandbox, "_pids_cgroup_base", lambda: None)
    code = "import os, signal\nprint(os.getppid(), flush=True)\nos.kill(os.getppid(), signal.SIGKILL)\nwhile True: pass"
    r = run_program(code, FAST)
    assert int(r.stdout.split()[0]) != os.getpid() and r.guards == () and r.network_isolated is False
    assert r.outcome == "error" and r.returncode == -9  # the shell died; its group was killed
    cpu = run_program("while True:\n    pass", 5, Limits(cpu_s=1))
    assert cpu.outcome == "error" and cpu.returncode == -signal.SIGXCPU  # 128 + signal from the shell, decoded


def test_only_the_wrappers_not_the_program_can_report_an_infrastructure_failure(monkeypatch):
    fake = run_program("import sys\nsys.stderr.write('unshare: failed\\n')\nsys.exit(125)", FAST)
    assert fake.outcome == "fail" and not fake.infra_error  # printing a wrapper's complaint is no excuse
    from thinkgate.tasks import sandbox

    monkeypatch.setattr(sandbox, "_pids_cgroup_base", lambda: "/nonexistent")
    monkeypatch.setattr(sandbox, "_new_cgroup", lambda base, n: "/nonexistent/cgroup")
    broken = run_program("print(1)", FAST)  # the shell cannot join the cgroup: fail closed
    assert broken.outcome == "error" and broken.infra_error and "sandbox failed" in broken.reason
