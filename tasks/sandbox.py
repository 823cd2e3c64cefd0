"""Run untrusted Python programs (model-written code and its tests) in a contained subprocess.

Each program runs in a fresh interpreter (`python -I -S`: no environment variables, no
user site, no `.pth` hooks; the evaluating venv's site-packages are appended to `sys.path`
so third-party imports work as they would in-process), in its own temporary directory
(cwd and HOME; removed afterwards), with a scrubbed environment (PATH, LANG, HOME, TMPDIR
only: API keys and tokens never reach it), stdin from /dev/null, and these limits:

- rlimits: CPU time, address space (memory), file size, core dumps off, processes (set by
  a line put before the program, so its line numbers are one more; the caller is never
  forked: no preexec_fn);
- a wall-clock timeout that SIGKILLs the whole process group (and, where present, every
  process of its pids cgroup and its PID namespace, so daemonized children die too);
- where the OS allows (probed once, see `isolation()`): no network (a network namespace
  with no interface up: one shared by this process's programs when we may `nsenter`, as
  creating one per program costs the kernel 15-150 ms; else one per program), a private
  PID namespace and /proc (`unshare --pid --mount-proc`: the host's processes and their
  environments are invisible and unkillable), and a per-program pids cgroup (`pids.max`)
  so a fork bomb is capped even for root, whom RLIMIT_NPROC does not bind.
  `SandboxResult.guards` says which applied; `network_isolated` whether the network did.

The program never has the caller as its parent: a small `/bin/sh` sits in between (init of
the PID namespace when there is one), so `os.kill(os.getppid(), SIGKILL)` hits the shell.

THIS IS NOT A SECURITY BOUNDARY AGAINST A DETERMINED ATTACKER. Without a container the
program runs as the caller's user: it can read and write whatever that user can (e.g. files
under /tmp or the repository, by absolute path), and kernel bugs are in reach. For hostile
code, plug in a container runner: set `THINKGATE_SANDBOX_PREFIX` (or pass `prefix=`) to a
command that ends with an interpreter; the sandbox then runs `<prefix> main.py` in the temp
directory, `{dir}` in the prefix standing for that directory, e.g.

    THINKGATE_SANDBOX_PREFIX='docker run --rm -i --network=none --memory=1g --pids-limit=64
        --read-only -v {dir}:/w -w /w python:3.11-slim python -I'

With a prefix only the wall clock, CPU time, file size and core limits are applied on this
side (the container sets memory, processes and network); `network_isolated` is False
because the sandbox cannot check it.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import resource
import select
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

PREFIX_ENV = "THINKGATE_SANDBOX_PREFIX"
# Between unshare and python: joins the pids cgroup $1 (if any), sends the program's stderr
# to $2 (the wrappers' own complaints stay apart: a program cannot fake an infrastructure
# failure by printing one), then runs it; `; exit` stops sh exec'ing (it stays the parent).
_SHELL = ["/bin/sh", "-c", 'if [ -n "$1" ]; then echo 0 > "$1" || exit 1; fi; err=$2; shift 2; '
          '"$@" 2>"$err"; exit $?', "thinkgate-sandbox"]
_UNSHARE = (  # tried in order; the first that runs `true` here is used ("{netns}": shared)
    (("nsenter", "--net={netns}", "unshare", "--pid", "--fork", "--kill-child", "--mount-proc"),
     ("net", "pid", "proc")),
    (("unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"), ("net", "pid", "proc")),
    (("unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
     ("user", "net", "pid", "proc")),
    (("unshare", "--net"), ("net",)),
)
_SIGNALS = {
    signal.SIGXCPU: "cpu time limit exceeded (SIGXCPU)",
    signal.SIGKILL: "killed by SIGKILL (cpu hard limit, out of memory, or it killed its own group)",
    signal.SIGXFSZ: "file size limit exceeded (SIGXFSZ)",
    signal.SIGSEGV: "crashed (SIGSEGV, e.g. a C stack overflow)",
}
_count = itertools.count()
_netns_lock = threading.Lock()
_netns_holder: subprocess.Popen | None = None


@dataclass(frozen=True)
class Limits:
    """Per-program limits. `cpu_s=None` means the wall-clock timeout + 1 s."""

    cpu_s: float | None = None
    memory_mb: int = 1024
    processes: int = 16
    file_mb: int = 16
    output_bytes: int = 8192  # kept of stdout and of stderr each


@dataclass(frozen=True)
class SandboxResult:
    """outcome: "pass" (exit 0, and the sentinel printed when one was asked for), "fail"
    (nonzero exit: an assertion or exception), "timeout" (wall clock), or "error" (killed
    by a resource limit, or `infra_error`: the sandbox itself could not run it).
    returncode: negative = killed by that signal."""

    outcome: str
    returncode: int | None
    reason: str
    stdout: str
    stderr: str
    duration_s: float
    network_isolated: bool
    infra_error: bool = False
    guards: tuple[str, ...] = ()


@functools.lru_cache(maxsize=None)
def isolation() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(argv prefix, guard names) of the strongest namespace wrapper that works here; probed once."""
    for argv, guards in _UNSHARE:
        argv = tuple(a if a.startswith("-") else shutil.which(a) for a in argv)
        if None in argv:
            continue
        try:
            probe = subprocess.run([_netns(a) for a in argv] + ["true"], capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return argv, guards
    return (), ()


def _netns(arg: str) -> str:
    """Fill in "{netns}": a network namespace shared by this process's programs, held open
    by a child that exits when we do (its stdin, our pipe, closes)."""
    global _netns_holder
    if "{netns}" not in arg:
        return arg
    with _netns_lock:
        if _netns_holder is None or _netns_holder.poll() is not None:
            holder = subprocess.Popen([shutil.which("unshare") or "unshare", "--net", "/bin/sh", "-c",
                                       "echo ready; read _"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
            ready = holder.stdout.readline() == b"ready\n"  # printed once the namespace exists
            if not ready or os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
                holder.kill()
                holder.wait()
                raise OSError("could not start the shared network namespace holder")
            _netns_holder = holder
        return arg.replace("{netns}", f"/proc/{_netns_holder.pid}/ns/net")


@functools.lru_cache(maxsize=None)
def _pids_cgroup_base() -> str | None:
    """A cgroup directory (v1 pids, or v2) where we may create children with `pids.max`."""
    try:
        lines = open("/proc/self/cgroup", encoding="ascii").read().splitlines()
    except OSError:
        return None
    for _, controllers, path in (line.split(":", 2) for line in lines):
        base = ("/sys/fs/cgroup/pids" if "pids" in controllers.split(",") else
                "/sys/fs/cgroup" if controllers == "" else None)
        try:
            probe = _new_cgroup(base + path, 1) if base else None
        except OSError:
            continue
        if probe:
            os.rmdir(probe)
            return base + path
    return None


def _new_cgroup(base: str, max_pids: int) -> str:
    path = os.path.join(base, f"thinkgate-{os.getpid()}-{next(_count)}")
    os.mkdir(path)
    try:
        if not os.path.exists(os.path.join(path, "pids.max")):  # not a cgroup, or no pids controller
            raise OSError(f"{base} has no pids controller")
        with open(os.path.join(path, "pids.max"), "w") as f:
            f.write(str(max_pids))
    except OSError:
        os.rmdir(path)
        raise
    return path


def _kill_cgroup(path: str) -> None:
    """SIGKILL every member of the cgroup, then remove it."""
    for _ in range(200):
        try:
            pids = open(os.path.join(path, "cgroup.procs")).read().split()
            if not pids:
                os.rmdir(path)
                return
        except OSError:
            return
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.005)


def _user_processes() -> int:
    uid, n = os.getuid(), 0
    for entry in os.scandir("/proc"):
        try:
            n += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            pass
    return n


def _bootstrap(limits: Limits, timeout_s: float, container: bool) -> str:
    """Line 1 of every program: set the rlimits before any of its code runs and, outside a
    container, make site-packages importable."""
    cpu = math.ceil(limits.cpu_s if limits.cpu_s is not None else timeout_s + 1)
    fsize = limits.file_mb << 20
    wanted = [("RLIMIT_CPU", cpu, cpu + 1), ("RLIMIT_CORE", 0, 0), ("RLIMIT_FSIZE", fsize, fsize)]
    if not container:
        mem = limits.memory_mb << 20
        # RLIMIT_NPROC counts all of the user's processes (root is exempt): allow ours on top.
        nproc = limits.processes + (0 if os.getuid() == 0 else _user_processes())
        wanted += [("RLIMIT_AS", mem, mem), ("RLIMIT_NPROC", nproc, nproc)]
    parts = ["import resource as _r"]
    for name, soft, hard in wanted:
        _, cur_hard = resource.getrlimit(getattr(resource, name))
        if cur_hard != resource.RLIM_INFINITY:  # lowering only: setrlimit cannot fail
            soft, hard = min(soft, cur_hard), min(hard, cur_hard)
        parts.append(f"_r.setrlimit(_r.{name}, ({soft}, {hard}))")
    if not container:
        parts.append(f"__import__('sys').path.extend({_site_paths()!r})")
    return "; ".join(parts + ["del _r"]) + "\n"


@functools.lru_cache(maxsize=None)
def _site_paths() -> list[str]:
    return list(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))


def _head_and_tail(path: str, cap: int) -> tuple[bytes, bytes]:
    """The first `cap` bytes (never more is read) and the last 512 (for the sentinel)."""
    with open(path, "rb") as f:
        head = f.read(cap)
        f.seek(max(0, os.fstat(f.fileno()).st_size - 512))
        return head, f.read(512)


def _wait(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for exit without reaping (so the process group id stays ours); False on timeout."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(max(0.0, timeout_s) * 1000))
    finally:
        os.close(fd)


def _classify(rc: int, stderr: str, stdout_tail: bytes, sentinel: str | None) -> tuple[str, str]:
    if rc == 0:
        if sentinel is None or sentinel.encode() in stdout_tail:
            return "pass", "exit status 0"
        return "fail", "exited with status 0 before the end of the program (sentinel missing)"
    if rc < 0:
        return "error", _SIGNALS.get(-rc, f"killed by signal {-rc}")
    last = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    if "MemoryError" in last:
        return "error", f"memory limit reached: {last[:200]}"
    if "File too large" in stderr:
        return "error", "file size limit reached (File too large)"
    if last.startswith("BlockingIOError") and "Resource temporarily unavailable" in last:
        return "error", f"process limit reached: {last[:200]}"
    return "fail", last[:300] or f"exit status {rc}"


def run_program(code: str, timeout_s: float = 10, limits: Limits = Limits(), *,
                sentinel: str | None = None, prefix: Sequence[str] | None = None) -> SandboxResult:
    """Run `code` as a Python program in the sandbox (see the module docstring).

    `sentinel`: when given, "pass" also requires it in the last 512 bytes of stdout, so a
    program that exits 0 early (`os._exit(0)`, `sys.exit()`) before its tests is a fail.
    `prefix`: a container runner (default: `$THINKGATE_SANDBOX_PREFIX`, else none).
    """
    if prefix is None and os.environ.get(PREFIX_ENV):
        prefix = shlex.split(os.environ[PREFIX_ENV])
    container = bool(prefix)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="thinkgate-sandbox-", ignore_cleanup_errors=True) as tmp:
        work, out_path, err_path, wrap_path = (os.path.join(tmp, n) for n in ("work", "out", "err", "wrap"))
        os.mkdir(work)
        if container:
            argv, guards = [a.replace("{dir}", work) for a in prefix] + ["main.py"], ("container",)
            network = False
        else:
            wrap, guards = isolation()
            argv = [*wrap, *_SHELL, "", err_path, sys.executable, "-I", "-S", "main.py"]  # "": no cgroup
            network = "net" in guards
        with open(os.path.join(work, "main.py"), "w", encoding="utf-8") as f:
            f.write(_bootstrap(limits, timeout_s, container) + code)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "HOME": work, "TMPDIR": work}
        cgroup = None
        base = None if container else _pids_cgroup_base()
        try:
            argv = [_netns(a) for a in argv]
            if base:
                cgroup = _new_cgroup(base, limits.processes + 1)  # + the shell
                guards = guards + ("pids.max",)
                argv[argv.index("")] = os.path.join(cgroup, "cgroup.procs")
            with open(out_path, "wb") as out, open(err_path if container else wrap_path, "wb") as err:
                proc = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=err, start_new_session=True,
                                        close_fds=True)
        except (OSError, subprocess.SubprocessError) as e:
            if cgroup:
                _kill_cgroup(cgroup)
            return SandboxResult("error", None, f"sandbox could not start the program: {e!r}", "", "",
                                 time.monotonic() - t0, False, True, guards)
        exited = _wait(proc, timeout_s)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers too, even after a clean exit
        except OSError:
            pass
        if cgroup:
            _kill_cgroup(cgroup)
        rc = proc.wait()
        duration = time.monotonic() - t0
        stdout, stdout_tail = _head_and_tail(out_path, limits.output_bytes)
        stderr_b = _head_and_tail(err_path, limits.output_bytes)[0] if os.path.exists(err_path) else b""
        wrapper = b"" if container else _head_and_tail(wrap_path, 2000)[0]
    stderr = stderr_b.decode("utf-8", "replace")
    if rc > 128 and not container:  # the shell reports a signal death as 128 + signal
        rc = -(rc - 128)
    if not exited:
        outcome, reason = "timeout", f"wall-clock limit of {timeout_s:g}s exceeded; process group killed"
    elif rc != 0 and wrapper.strip():  # unshare, nsenter or sh failed, not the program
        why = wrapper.decode("utf-8", "replace").strip()[:300]
        return SandboxResult("error", rc, f"sandbox failed: {why}", "", stderr, duration, network, True, guards)
    else:
        outcome, reason = _classify(rc, stderr, stdout_tail, sentinel)
    return SandboxResult(outcome, rc, reason, stdout.decode("utf-8", "replace"), stderr,
                         duration, network, False, guards)


def run_many(programs: Sequence[str], timeout_s: float = 10, workers: int | None = None,
             limits: Limits = Limits(), *, sentinels: Sequence[str | None] | None = None,
             prefix: Sequence[str] | None = None) -> list[SandboxResult]:
    """Run many programs, `workers` at a time (default: one per CPU), results in order."""
    sentinels = list(sentinels) if sentinels is not None else [None] * len(programs)
    if len(sentinels) != len(programs):
        raise ValueError(f"{len(programs)} programs but {len(sentinels)} sentinels; pass one per program")
    if not programs:
        return []
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=min(workers or cpus, len(programs))) as pool:
        return list(pool.map(lambda p, s: run_program(p, timeout_s, limits, sentinel=s, prefix=prefix),
                             programs, sentinels))
