"""Hostile programs: each must be contained (the host, the harness and other processes are
untouched) and scored as a fail, never a pass and never an excluded harness error.

Every program answers `add` (the tests: `add(2, 3) == 5`, `add(-1, 1) == 0`); most answer it
wrongly or not at all, while attacking the sandbox. Bombs are bounded by small limits and
only run where the program is held by a PID namespace and a process cap that binds it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from thinkgate.tasks.sandbox import SANDBOX_UID, Limits, Tests, run_program

FAST = 2.0
SMALL = Limits(processes=8, memory_mb=256, file_mb=4, open_files=32, work_mb=8)
ADD = Tests("def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n", "add",
            prelude="def add(a, b):\n    '''Add two numbers.'''\n")


def judge(code: str, timeout_s: float = FAST, limits: Limits = SMALL):
    r = run_program(code, timeout_s, limits, tests=ADD)
    assert r.outcome in ("fail", "timeout"), r
    assert not r.infra_error, r
    return r


def _sandbox_processes() -> list[int]:
    """Processes of our runner server's tree running as the sandbox's uid (none may outlive
    a program; other sessions' sandboxes on this machine are not ours to count)."""
    from thinkgate.tasks import sandbox

    server = sandbox._server[0].pid if sandbox._server else None
    found = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and os.stat(f"/proc/{d}").st_uid == SANDBOX_UID and _descends(int(d), server):
                found.append(int(d))
        except OSError:
            pass
    return found


def _descends(pid: int, ancestor: int | None) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    return ancestor is None


def _with_marker(marker: str) -> list[int]:
    found = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and marker.encode() in open(f"/proc/{d}/cmdline", "rb").read():
                found.append(int(d))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def guards():
    return set(run_program("pass", FAST).guards)


@pytest.fixture
def contained(guards):
    if not ({"pid", "uid"} <= guards and {"user", "pids.max"} & guards):
        pytest.skip(f"bombs need a PID namespace and a binding process cap; guards here: {sorted(guards)}")


def test_honest_program_passes_under_the_same_limits():
    assert run_program("def add(a, b):\n    return a + b\n", FAST, SMALL, tests=ADD).outcome == "pass"


def test_bounded_fork_burst_is_capped(contained):
    r = judge("import os\nn = 0\nfor _ in range(6):\n    try:\n        os.fork()\n        n += 1\n"
              "    except OSError:\n        pass\nif n < 6:\n    print('capped')\n")
    assert "capped" in r.stdout  # some fork was refused
    time.sleep(0.2)
    assert not _sandbox_processes()


def test_fork_bomb_is_contained_and_a_fail(contained):
    r = judge("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    assert r.outcome == "timeout"
    time.sleep(0.2)
    assert not _sandbox_processes(), "fork bomb left processes behind"
    assert run_program("def add(a, b):\n    return a + b\n", FAST, tests=ADD).outcome == "pass"  # still works


def test_memory_bomb_is_a_fail_not_a_host_oom(contained):
    r = judge("xs = []\nwhile True:\n    xs.append(bytearray(1 << 20))\n", timeout_s=6.0)
    assert "MemoryError" in r.stderr and r.outcome == "fail"
    r = judge("def add(a, b):\n    return bytearray(8 << 30)\n")
    assert r.reported == "MemoryError"
    judge("import os\nfor _ in range(3):\n    os.fork()\nxs = []\nwhile True:\n    xs.append(bytearray(1 << 20))\n")
    time.sleep(0.2)
    assert not _sandbox_processes()


def test_file_descriptor_exhaustion_is_capped():
    r = judge("import os\nfds = []\ntry:\n    while True:\n        fds.append(os.open('/dev/null', os.O_RDONLY))\n"
              "except OSError as e:\n    print('opened', len(fds), e.errno)\n")
    opened, errno = r.stdout.split()[1:3]
    assert int(opened) < SMALL.open_files and errno == "24"  # EMFILE


def test_writes_and_deletes_outside_its_folder_do_not_happen(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("intact")
    harness = os.path.abspath(__file__)
    code = f"""
import os, shutil, sys
targets = [{str(victim)!r}, {str(tmp_path / 'new.txt')!r}, {harness!r}, os.__file__, '/etc/passwd',
           '/tmp/thinkgate-escape', os.path.join(os.path.dirname(os.getcwd()), 'out')]
done = []
for t in targets:
    for act in (lambda: open(t, 'a').write('x'), lambda: os.remove(t), lambda: shutil.rmtree(os.path.dirname(t))):
        try:
            act()
            done.append(t)
        except OSError:
            pass
print('done', done)
def add(a, b):
    return a - b
"""
    r = judge(code)
    assert victim.read_text() == "intact" and not (tmp_path / "new.txt").exists()
    assert os.path.exists(harness) and open(harness).read().startswith('"""Hostile programs')
    assert not os.path.exists("/tmp/thinkgate-escape")
    assert r.reason.startswith("a test assertion failed")  # its own failure, not a sandbox error


def test_the_harness_and_host_files_are_invisible():
    here = os.path.dirname(os.path.abspath(__file__))
    code = f"""
import json, os
seen = [p for p in ({here!r}, {os.path.join(os.getcwd(), "tasks")!r}, {os.path.join(os.getcwd(), ".git")!r},
                  '/etc', '/home', '/root/.ssh', '/root/.cache', '/var', '/sys', '/farm')
        if os.path.exists(p)]
pids = [int(d) for d in os.listdir('/proc') if d.isdigit()] if os.path.isdir('/proc') else []
print(json.dumps({{"seen": seen, "pids": pids}}))
"""
    r = run_program(code, FAST)
    assert r.outcome == "pass"
    seen = json.loads(r.stdout)
    if "mount" in r.guards:
        assert seen["seen"] == []
    if "pid" in r.guards:
        assert max(seen["pids"]) < 10  # only its own namespace's processes


def test_signals_cannot_reach_other_processes():
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        code = f"""
import os, signal
for pid in [-1, {bystander.pid}, {os.getpid()}, {os.getppid()}] + list(range(2, 400)):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
def add(a, b):
    return a + b + 1
"""
        judge(code)
        assert bystander.poll() is None, "the program killed a host process"
    finally:
        bystander.kill()
        bystander.wait()


def test_killing_its_parent_or_group_does_not_help():
    r = judge("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.killpg(0, signal.SIGKILL)\n")
    assert r.outcome == "fail"


def test_network_is_cut():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        code = f"""
import socket
out = []
for addr in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)]:
    try:
        socket.create_connection(addr, timeout=0.5)
        out.append('connected')
    except OSError:
        out.append('refused')
print(out)
def add(a, b):
    return a + b if 'connected' in out else None
"""
        r = run_program(code, FAST, SMALL, tests=ADD)
    finally:
        server.close()
    if not r.network_isolated:
        pytest.skip("no network namespace here")
    assert r.outcome == "fail" and "connected" not in r.stdout


@pytest.mark.parametrize("forgery", [
    "print('thinkgate-ok-0123456789abcdef')\nimport os\nos._exit(0)",
    "print(open(__file__).read())  # its own source holds no pass proof\nimport os\nos._exit(0)",
    "import sys\nprint('all tests passed')\nsys.exit(0)",
    "import os\nos.write(4, b'\\x00' * 7 + b'\\x08[\"done\"]')\nos._exit(0)",
    "import os, json\nm = json.dumps(['loaded', True]).encode()\nos.write(4, len(m).to_bytes(8, 'big') + m)\n"
    "m = b'{\"outcome\": \"pass\"}'\nos.write(4, len(m).to_bytes(8, 'big') + m)\nos._exit(0)",
    "import os\nos.write(4, b'garbage that is not a frame')\nos._exit(0)",
    "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'{\"started\": true}\\n{\"outcome\": \"pass\", \"reason\": \"x\"}\\n')\n"
    "    except OSError:\n        pass\nos._exit(0)",
])
def test_pass_forgery_is_a_fail(forgery):
    r = judge(forgery)
    assert r.outcome == "fail" and "thinkgate-ok" not in r.reason and "all tests passed" not in r.reason


def test_reasons_come_from_observations_not_output():
    r = judge("import sys\nprint('sandbox failed: unshare: boom')\nsys.stderr.write('sandbox failed: nsenter\\n')\n"
              "sys.exit(125)")
    assert "sandbox failed" not in r.reason and "status 125" in r.reason and "sandbox failed" in r.stdout


def test_patching_builtins_does_not_reach_the_tests():
    code = """
import builtins, sys
builtins.AssertionError = type('AssertionError', (Exception,), {})
builtins.abs = lambda x: 0  # in one shared process, the tests below would now pass
sys.modules['builtins'].sorted = lambda *a, **k: [1, 5]
def add(a, b):
    return a - b
"""
    tests = Tests("def check(candidate):\n    assert abs(candidate(2, 3) - 5) < 1e-9\n"
                  "    assert sorted([candidate(2, 3), 1]) == [1, 5]\n", "add")
    r = run_program(code, FAST, SMALL, tests=tests)
    assert r.outcome == "fail" and r.reason.startswith("a test assertion failed at tests line 2")
    judge("import builtins\nbuiltins.__import__ = None\ndef add(a, b):\n    return a + b + 1\n")


@pytest.mark.parametrize("impostor", [
    "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\ndef add(a, b):\n    return Yes()\n",
    "class Int(int):\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Int(0)\n",
    "class S(str):\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return [S('x')]\n",
    "import collections\ndef add(a, b):\n    return collections.OrderedDict()\n",
])
def test_always_equal_objects_are_a_fail(impostor):
    r = judge(impostor)
    assert "program-defined type" in r.reason


def test_the_tests_are_not_in_the_programs_reach():
    code = """
import gc, sys
found = sum(1 for o in gc.get_objects() if isinstance(o, str) and 'candidate(2, 3)' in o)
frames = sys._current_frames()
print('found', found)
def add(a, b):
    return None
"""
    r = judge(code)
    assert "found 0" in r.stdout


def test_output_flood_is_a_fail_and_capped():
    r = judge("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")
    assert "file size" in r.reason and len(r.stdout) == Limits().output_bytes
    r = judge("def add(a, b):\n    print('y' * (64 << 20))\n    return a + b\n")
    assert r.outcome == "fail" and "file size" in r.reason
    ignored = judge("import signal, sys\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                    "while True:\n    sys.stdout.write('z' * 65536)\n")
    assert ignored.outcome == "fail"  # EFBIG then: still its own failure


def test_filling_its_work_folder_is_a_fail():
    r = judge("i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(bytes(1 << 20))\n    i += 1\n")
    assert r.outcome == "fail"


def test_sleeping_past_the_limit_is_a_timeout():
    t0 = time.monotonic()
    r = judge("import time\ndef add(a, b):\n    time.sleep(60)\n    return a + b\n", timeout_s=1.0)
    assert r.outcome == "timeout" and time.monotonic() - t0 < 6


def test_escaping_the_process_group_does_not_outlive_the_run():
    marker = f"thinkgate-daemon-{uuid.uuid4().hex}"
    code = f"""
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(30)', {marker!r}])
    os._exit(0)
import time
time.sleep(0.3)
def add(a, b):
    return a + b + 1
"""
    judge(code)
    time.sleep(0.3)
    assert not _with_marker(marker), "a daemonized child survived the run"


def test_segfault_and_self_kill_are_fails():
    r = judge("import ctypes\nctypes.string_at(0)\n")
    assert "SIGSEGV" in r.reason
    r = judge("import os, signal\ndef add(a, b):\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    assert r.outcome == "fail"


def test_exiting_inside_the_call_is_a_fail():
    r = judge("import os\ndef add(a, b):\n    os._exit(0)\n")
    assert "before it was done" in r.reason


def test_cannot_regain_privileges_or_write_the_python(guards):
    code = """
import os
print(os.getuid(), os.geteuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0])
for attempt in (lambda: os.setuid(0), lambda: open(os.__file__, 'a'), lambda: os.unshare(0x20000)):
    try:
        attempt()
        print('regained')
    except (OSError, AttributeError):
        pass
"""
    r = run_program(code, FAST)
    if {"uid", "proc"} <= set(r.guards):
        assert r.stdout.split()[:3] == [str(SANDBOX_UID), str(SANDBOX_UID), "0000000000000000"]
    assert "regained" not in r.stdout


def test_dying_inside_a_call_cannot_be_swallowed_by_the_tests():
    lenient = Tests("def check(candidate):\n    try:\n        candidate(1, 2)\n    except Exception:\n        pass\n", "add")
    r = run_program("import os\ndef add(a, b):\n    os._exit(0)\n", FAST, SMALL, tests=lenient)
    assert r.outcome == "fail" and not r.infra_error


def test_its_supervisor_cannot_be_interrupted_or_traced():
    code = """
import os, signal
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGUSR1):
    try:
        os.kill(os.getppid(), sig)
    except OSError:
        pass
try:
    open(f'/proc/{os.getppid()}/mem', 'rb').read(1)
    print('read its memory')
except OSError:
    pass
def add(a, b):
    return a + b
"""
    r = run_program(code, FAST, SMALL, tests=ADD)
    if "pid" in r.guards:
        assert r.outcome == "pass" and "read its memory" not in r.stdout  # shrugged off: it still answers
