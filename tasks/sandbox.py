"""Run untrusted Python programs (model-written code) and judge them against trusted tests.

Its verdict feeds RL rewards, so it is built so that no program can fool it:

- Two processes per program. The *candidate* process runs the program and nothing else;
  it never sees the tests. The *runner* (trusted, outside the candidate's namespaces) runs
  the tests, and each call of the entry point is sent to the candidate over a pipe; the
  reply comes back as plain data (None, bool, int, float, complex, str, bytes, and lists,
  tuples, sets, frozensets, dicts of them), rebuilt in the runner as genuine built-in
  objects. A program-defined type in a return value is a fail. So patching builtins,
  objects whose `__eq__` says True, printing a pass marker or exiting 0 early change
  nothing: the runner decides, with its own builtins, from what it observed.
- The candidate process (a fork of the runner, before the tests are read) is confined
  before the program's first line: a private mount namespace whose root is a read-only
  tmpfs holding only a read-only Python (its prefix, site-packages and shared libraries),
  /dev/{null,zero,random,urandom}, a private /proc, and an empty tmpfs work folder
  (/sandbox, also HOME and TMPDIR); no network (a network namespace with no interface up);
  its own PID, IPC and UTS namespaces (it is init of its PID namespace: when it dies, all
  its descendants die, setsid or not); uid/gid 65534 with no capabilities, inside its own
  user namespace; a pids cgroup (`pids.max`) where writable; rlimits on CPU time, address
  space, file size, open files and processes; no core dumps; a wall-clock timeout.
- Reasons are the runner's observations (wait status, signal, limit, malformed reply,
  which test line failed), never the program's output; what the program printed is kept
  apart, capped, as `stdout`/`stderr`, and what it merely claims (an exception's type
  name) as `reported`.
- Everything a program can cause is a "fail" or "timeout"; only the harness failing to
  start the sandbox is an "error" (`infra_error`), which callers leave out of accuracy.

Where the kernel refuses a guard, `SandboxResult.missing` names it (`guards`: those that
held). Without tests (`tests=None`), "pass" means the program ran to its end: the program's
own say, nothing to forge. A container runner can replace the local confinement: set
`THINKGATE_SANDBOX_PREFIX` (or pass `prefix=`) to a command ending with a Python
interpreter that accepts `-c`, whose stdin/stdout it forwards (`{dir}`: an empty host
folder), e.g. `docker run --rm -i --network=none --memory=1g --pids-limit=64 --read-only
python:3.11-slim python -I`; the tests still run in the local runner.

Processes: the harness starts one runner server per process (`python -I -S sandbox.py FD`,
root, its own session; it exits when the harness does) and sends it each job's config and
file descriptors over a socket; the server forks a runner per job (no Python start per
program), the runner forks the candidate's supervisor (init of the new PID namespace,
which confines itself and forks the program's process), then reads the job. The runner
part of this file comes first and imports only what it needs; the harness part follows
the `__main__` check.
"""

from __future__ import annotations

import json
import os
import signal
import sys

SANDBOX_UID = 65534  # nobody
WORK = "/sandbox"  # the program's work folder, cwd, HOME and TMPDIR
GUARDS = ("uid", "user", "mount", "pid", "proc", "net", "ipc", "pids.max")
_CLONE = {"mount": 0x20000, "uts": 0x4000000, "ipc": 0x8000000, "user": 0x10000000,
          "pid": 0x20000000, "net": 0x40000000}
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
_REPLY_CAP = 16 << 20  # bytes of one reply the runner accepts
_DEVICES = ("null", "zero", "random", "urandom")


# ---- plain data across the boundary ---------------------------------------------------

class Unplain(Exception):
    """A value of a type other than the plain built-ins."""


_TAG = {list: "L", tuple: "T", set: "S", frozenset: "F"}
_UNTAG = {"L": list, "T": tuple, "S": set, "F": frozenset}


def encode(x, depth: int = 0):
    """Plain data -> JSON-able, exact types only (a subclass of int is not an int):

        encode((1, b"a", {2: None})) -> ["T", 1, ["B", "61"], ["D", 2, None]]
    """
    t = type(x)
    if x is None or t is bool or t is str or t is float:
        return x
    if t is int:
        return x if -(1 << 62) < x < 1 << 62 else ["I", hex(x)]
    if t is bytes:
        return ["B", x.hex()]
    if t is complex:
        return ["C", x.real, x.imag]
    if depth > 200:
        raise ValueError("value nested more than 200 deep")
    if t in _TAG:
        return [_TAG[t], *(encode(v, depth + 1) for v in x)]
    if t is dict:
        return ["D", *(e for k, v in x.items() for e in (encode(k, depth + 1), encode(v, depth + 1)))]
    raise Unplain(f"{getattr(t, '__module__', '?')}.{getattr(t, '__qualname__', '?')}"[:120])


def decode(v):
    """The inverse of `encode`; anything else raises ValueError/TypeError."""
    t = type(v)
    if v is None or t is bool or t is str or t is float or t is int:
        return v
    if t is not list or not v or type(v[0]) is not str:
        raise ValueError("not an encoded value")
    tag, rest = v[0], v[1:]
    if tag in _UNTAG:
        return _UNTAG[tag](decode(e) for e in rest)
    if tag == "D" and len(rest) % 2 == 0:
        return {decode(k): decode(x) for k, x in zip(rest[::2], rest[1::2])}
    if tag == "B" and len(rest) == 1:
        return bytes.fromhex(rest[0])
    if tag == "C" and len(rest) == 2 and all(type(p) in (int, float) for p in rest):
        return complex(rest[0], rest[1])
    if tag == "I" and len(rest) == 1 and type(rest[0]) is str:
        return int(rest[0], 16)
    raise ValueError(f"unknown tag {tag[:20]!r}")


def _send(fd: int, msg) -> None:
    data = json.dumps(msg).encode()
    data = len(data).to_bytes(8, "big") + data
    while data:
        data = data[os.write(fd, data):]


def _recv(fd: int, cap: int = _REPLY_CAP):
    """One message; EOFError when the other side is gone, ValueError when malformed."""
    n = int.from_bytes(_read(fd, 8), "big")
    if n > cap:
        raise ValueError(f"message of {n} bytes (cap {cap})")
    return json.loads(_read(fd, n))


def _read(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# ---- the candidate process: confinement (trusted), then the program (untrusted) --------

_LIBC: list = []


def _libc():
    """(ctypes, the C library), loaded once (before the fork, so the candidate need not)."""
    if not _LIBC:
        import ctypes

        _LIBC.extend((ctypes, ctypes.CDLL(None, use_errno=True)))
    return _LIBC[0], _LIBC[1]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        import ctypes

        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


_REFUSED: set[str] = set()  # namespaces to treat as refused by the kernel (tests of the fallbacks)


def _unshare(*names: str) -> None:
    if _REFUSED.intersection(names):
        raise PermissionError(f"unshare({', '.join(names)}): refused (as asked)")
    flags = sum(_CLONE[n] for n in names)
    _check(_libc()[1].unshare(flags), f"unshare({', '.join(names)})")


def _mount(src, target, fstype, flags, data=None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc()[1].mount(enc(src), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _bind_ro(src: str, target: str) -> None:
    _mount(src, target, None, _MS_BIND)
    _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _private_root(cfg: dict, with_proc: bool) -> None:
    """Make cfg["root"] (an empty host folder) a read-only tmpfs holding a read-only Python,
    the devices, /proc and an empty /sandbox, and pivot into it; the host's tree is detached."""
    ctypes, libc = _libc()
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    new = cfg["root"]
    _mount("thinkgate", new, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    for path in cfg["ro"]:
        target = new + path
        if os.path.islink(path):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.readlink(path), target)
        elif os.path.isdir(path) and not os.path.lexists(target):
            os.makedirs(target)
            _bind_ro(path, target)
    os.makedirs(new + "/dev")
    for dev in _DEVICES:
        open(f"{new}/dev/{dev}", "w").close()
        _mount(f"/dev/{dev}", f"{new}/dev/{dev}", None, _MS_BIND)
    os.mkdir(new + WORK)
    _mount("work", new + WORK, "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"size={cfg['work_mb']}m,nr_inodes=4096,mode=0700,uid={SANDBOX_UID},gid={SANDBOX_UID}")
    if not os.path.lexists(new + "/tmp"):  # a Python under /tmp (a clone there) already holds /tmp, read-only
        os.symlink(WORK, new + "/tmp")
    if with_proc:
        os.mkdir(new + "/proc")
        _mount("proc", new + "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    os.chdir(new)
    pivot = getattr(libc, "pivot_root", None)
    rc = pivot(b".", b".") if pivot else libc.syscall({"x86_64": 155, "aarch64": 41}[os.uname().machine],
                                                      b".", b".")
    _check(rc, "pivot_root")
    _check(libc.umount2(b".", 2), "detach the host's root")  # MNT_DETACH
    os.chdir("/")
    _mount(None, "/", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _drop_privileges(user_ns: bool) -> None:
    """uid/gid 65534, no supplementary groups, no capabilities (even in its own user
    namespace, where setresuid alone leaves them), no new privileges, dies with the runner."""
    ctypes, libc = _libc()
    os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    if user_ns:
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        _check(libc.capset(header, (ctypes.c_uint32 * 6)()), "capset(0)")
    _check(libc.prctl(38, 1, 0, 0, 0), "no_new_privs")  # PR_SET_NO_NEW_PRIVS
    _check(libc.prctl(1, signal.SIGKILL, 0, 0, 0), "pdeathsig")  # PR_SET_PDEATHSIG


def _set_limits(lim: dict) -> None:
    """Soft = hard = the limit (CPU: hard one second later, so SIGXCPU comes first); lowering only."""
    import resource

    for name, soft, hard in (("CPU", lim["cpu_s"], lim["cpu_s"] + 1), ("AS", lim["memory_mb"] << 20, None),
                             ("FSIZE", lim["file_mb"] << 20, None), ("NOFILE", lim["open_files"], None),
                             ("NPROC", lim["nproc"], None), ("CORE", 0, None)):
        which = getattr(resource, "RLIMIT_" + name)
        cur = resource.getrlimit(which)[1]
        hard = soft if hard is None else hard
        if cur != resource.RLIM_INFINITY:
            soft, hard = min(soft, cur), min(hard, cur)
        resource.setrlimit(which, (soft, hard))


def _uid_processes(uid: int) -> int:
    n = 0
    for entry in os.scandir("/proc"):
        try:
            n += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            pass
    return n


def _confine(cfg: dict, req: int, resp: int, pid_ns: bool) -> tuple[list[str], bool]:
    """Everything between the fork and the program: (guards that held, whether /sandbox exists).
    A namespace the kernel refuses is left out; a failure after it was granted raises."""
    import resource  # noqa: F401 - now: without a mount namespace, /root may be closed to uid 65534

    guards, root = ["pid"] if pid_ns else [], os.geteuid() == 0
    if cfg["cgroup"]:
        with open(cfg["cgroup"], "w") as f:
            f.write("0")
        guards.append("pids.max")
    try:
        if cfg["netns"] and "net" not in _REFUSED:
            fd = os.open(cfg["netns"], os.O_RDONLY)
            _check(_libc()[1].setns(fd, _CLONE["net"]), "setns(net)")
            os.close(fd)
        else:
            _unshare("net")
        guards.append("net")
    except OSError:
        pass
    mounted = False
    if root:
        try:
            _unshare("mount", "ipc", "uts")
            guards += ["mount", "ipc"]
            mounted = True
        except OSError:
            pass
    if mounted:
        _private_root(cfg, pid_ns)
        guards += ["proc"] if pid_ns else []
    nproc = cfg["limits"]["processes"] + 1  # + init, which supervises
    user_ns = False
    if root:
        os.setgroups([])
        try:
            _unshare("user")
            user_ns = True
        except OSError:
            nproc += _uid_processes(SANDBOX_UID)  # RLIMIT_NPROC then counts every uid-65534 process
        if user_ns:
            _send(resp, ["map"])  # the runner, root outside, writes 65534 -> 65534
            if _recv(req) != ["mapped"]:
                raise OSError("the runner did not map the user namespace")
            guards.append("user")
        _drop_privileges(user_ns)
        guards.append("uid")
    else:
        nproc += _uid_processes(os.getuid())
    _set_limits({**cfg["limits"], "nproc": nproc})
    return guards, mounted


def _candidate_main(cfg: dict, fds: dict, pid_ns: bool) -> None:
    """The forked child: confine, then fork the program's process and supervise it. Never returns.

    This process stays as init of the PID namespace (the kernel ignores SIGXCPU and SIGXFSZ
    sent to an init, so the program must not be one); it holds no channel but the wait
    status pipe, and is not dumpable, so the program (same uid, no capabilities) can
    neither signal nor trace it."""
    try:
        _place_fds(fds)  # 0 /dev/null, 1 stdout, 2 stderr, 3 requests, 4 replies, 5 wait status
        guards, mounted = _confine(cfg, 3, 4, pid_ns)
        os.chdir(WORK if mounted else cfg["work"])
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": os.getcwd(),
                           "TMPDIR": os.getcwd()})
        sys.path.extend(cfg["site"])
        sys.dont_write_bytecode = True
        pid = os.fork()
    except BaseException as e:  # noqa: BLE001 - reported to the runner as the harness's failure
        try:
            _send(4, ["infra", f"{type(e).__name__}: {e}"[:500]])
        finally:
            os._exit(70)
    if pid:
        _supervise(pid)
    try:
        _libc()[1].prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: dies with its supervisor
        os.close(5)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it; a kill is a fact we observe
        _send(4, ["confined", guards])
        msg = _recv(3)
    except BaseException:  # noqa: BLE001
        os._exit(70)
    _serve(msg[1], msg[2], 3, 4)


def _supervise(pid: int) -> None:
    """Init's part: reap until the program's process ends, hand its wait status to the runner
    on fd 5, exit (which kills whatever the program left behind). Never returns."""
    _libc()[1].prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc/1/mem for the program
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Python's handler would let the program interrupt us
    null = os.open("/dev/null", os.O_RDWR)
    for fd in range(5):
        os.dup2(null, fd)
    status = None
    while status is None:
        try:
            done, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        status = st if done == pid else None
    if status is not None:
        os.write(5, status.to_bytes(4, "big"))
    os._exit(0)


def _place_fds(fds: dict) -> None:
    import fcntl

    high = {dst: fcntl.fcntl(src, fcntl.F_DUPFD_CLOEXEC, 100) for dst, src in fds.items()}
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    for dst, src in high.items():
        os.dup2(src, dst)
    os.closerange(max(fds) + 1, 1 << 16)


def _serve(code: str, entry: str | None, req: int, resp: int) -> None:
    """Run the program; then answer calls of `entry` until told to stop. Never returns. From
    the program's first line on, nothing here is trusted: the runner only believes the
    plain values it can decode."""
    ns = {"__name__": "__main__" if entry is None else "candidate", "__builtins__": __builtins__}
    try:
        with open("main.py", "w", encoding="utf-8") as f:  # for tracebacks; the program's own text
            f.write(code)
    except OSError:
        pass
    try:
        exec(compile(code, os.path.abspath("main.py"), "exec"), ns)
    except SystemExit as e:
        _exit(e.code if type(e.code) is int else int(e.code is not None))
    except BaseException:  # noqa: BLE001 - the program's own failure, shown as its stderr
        _print_exc()
        _exit(1)
    if entry is None:
        _send(resp, ["done"])
        _exit(0)
    fn = ns.get(entry)
    _send(resp, ["loaded", callable(fn)])
    while True:
        try:
            msg = _recv(req)
        except EOFError:
            _exit(0)
        if msg[0] != "call":
            _exit(0)
        try:
            reply = ["ok", encode(fn(*decode(msg[1]), **decode(msg[2])))]
        except Unplain as e:
            reply = ["unplain", str(e)]
        except BaseException as e:  # noqa: BLE001 - raised by the entry point: a fail
            _print_exc()
            reply = ["raised", type(e).__name__[:100]]
        _send(resp, reply)


def _print_exc() -> None:
    try:
        import traceback

        traceback.print_exc()
    except BaseException:  # noqa: BLE001
        pass


def _exit(status: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    os._exit(status & 0xFF)


def _container_main() -> None:
    """Inside a container runner: stdin/stdout carry the protocol; the program's stdout goes
    to stderr."""
    req, resp = os.dup(0), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    _send(resp, ["confined", ["container"]])
    msg = _recv(req)
    _serve(msg[1], msg[2], req, resp)


# ---- the runner: starts the candidate, runs the tests, reports what it observed -------

class _Verdict(BaseException):
    """How the run ended; BaseException so that the tests' `except Exception` cannot eat it."""

    def __init__(self, outcome: str, reason: str, reported: str = ""):
        super().__init__(reason)
        self.outcome, self.reason, self.reported = outcome, reason, reported


class _Gone(BaseException):
    """The candidate process stopped answering (it exited, crashed or was killed)."""


def _on_deadline(signum, frame):
    raise _Verdict("timeout", "wall-clock limit exceeded; the program and all its processes were killed")


def _serve_jobs(ctl_fd: int) -> int:
    """The runner server, started once per harness process: for each job (its config and
    three fds on the control socket) fork a runner, so no job pays for a Python start.
    It holds nothing of any job; it exits when the harness closes the socket."""
    import socket

    ctl = socket.socket(fileno=ctl_fd)
    import fcntl, resource, traceback  # noqa: E401, F401 - loaded once, for every runner and program
    _libc()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # runners are reaped by the kernel
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 3)
        except InterruptedError:
            continue
        if not msg:
            return 0
        if os.fork() == 0:
            status = 1
            try:
                ctl.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                status = _run_job(json.loads(msg), *fds)
            except BaseException:  # noqa: BLE001 - a harness bug: shown, never a program's fail
                traceback.print_exc()
            finally:
                os._exit(status)
        for fd in fds:
            os.close(fd)


def _run_job(cfg: dict, conn: int, out: int, err: int) -> int:
    """One runner. `conn`: the job arrives on it (read only after the fork, so the tests never
    enter the candidate's memory), and our report lines leave on it."""
    _libc()[1].prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the server
    _REFUSED.update(cfg["refuse"])
    os.write(conn, (json.dumps({"pid": os.getpid()}) + "\n").encode())
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the tests' prints go nowhere
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    stat_r, stat_w = os.pipe()
    pid = _start_candidate({**cfg, "out_fd": out, "err_fd": err}, req_r, resp_w, stat_w)
    for fd in (req_r, resp_w, stat_w, out, err):
        os.close(fd)
    try:
        guards = _await_confinement(pid, req_w, resp_r)
        job = json.loads(_read_all(conn))
        sys.path.extend(p for p in cfg["site"] if p not in sys.path)
        ns = _load_tests(job["tests"])
    except Exception as e:  # noqa: BLE001 - nothing of the program has run: the harness's fault
        _kill(pid)
        os.write(conn, (json.dumps({"infra": f"{type(e).__name__}: {e}"[:500]}) + "\n").encode())
        return 1
    os.write(conn, (json.dumps({"started": True, "guards": guards}) + "\n").encode())
    verdict = _run(cfg["timeout_s"], job, ns, req_w, resp_r)
    os.close(req_w)  # the candidate's cue to exit
    status, killed = _reap(pid, 0 if verdict is not None and verdict.outcome == "timeout" else 0.5)
    piped = os.read(stat_r, 4)  # the program's own wait status, from init ("" without one)
    status = int.from_bytes(piped, "big") if len(piped) == 4 else status
    if verdict is None:  # it stopped answering: why, from its wait status
        verdict = _Verdict("fail", "the program closed its channel and was killed" if killed
                           else _death(status, cfg["limits"]))
    os.write(conn, (json.dumps({"outcome": verdict.outcome, "reason": verdict.reason,
                                "reported": verdict.reported, "returncode": _returncode(status)}) + "\n").encode())
    return 0


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _await_confinement(pid: int, req_w: int, resp_r: int) -> list[str]:
    """Serve the candidate's one request (map its user namespace) until it says it is confined."""
    msg = _recv(resp_r)
    if msg == ["map"]:
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(f"{SANDBOX_UID} {SANDBOX_UID} 1")
        _send(req_w, ["mapped"])
        msg = _recv(resp_r)
    if msg[0] != "confined":
        raise OSError(f"the candidate could not be confined: {msg[1] if len(msg) > 1 else msg}")
    return msg[1]


def _load_tests(tests: dict | None) -> dict | None:
    """The tests' namespace, made here in the runner: its `prelude` (e.g. the prompt), then its code."""
    if tests is None:
        return None
    ns: dict = {"__name__": "thinkgate_tests"}
    exec(compile(tests["prelude"], "<prelude>", "exec"), ns)
    exec(compile(tests["code"], "<tests>", "exec"), ns)
    if not callable(ns.get(tests["check"])):
        raise ValueError(f"the tests define no function {tests['check']!r}")
    return ns


def _run(timeout_s: float, job: dict, ns: dict | None, req: int, resp: int) -> _Verdict | None:
    """Send the program, judge it within the deadline; None when the candidate went away."""
    tests = job["tests"]
    signal.signal(signal.SIGALRM, _on_deadline)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        _send(req, ["run", job["code"], tests and tests["entry_point"]])
        return _judge(tests, ns, req, resp)
    except _Verdict as v:
        return v
    except (_Gone, EOFError, OSError):
        return None
    except (ValueError, TypeError, IndexError, KeyError, RecursionError, MemoryError):
        return _bad_reply()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _reap(pid: int, grace_s: float) -> tuple[int, bool]:
    """(wait status, whether we had to kill it): it may exit by itself within `grace_s`."""
    import time

    end = time.monotonic() + grace_s
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, False
        time.sleep(0.002)
    return _kill(pid), True


def _start_candidate(cfg: dict, req_r: int, resp_w: int, stat_w: int) -> int:
    """Fork the candidate (init of a new PID namespace where allowed), or exec the container runner."""
    out, err = cfg["out_fd"], cfg["err_fd"]
    if cfg["prefix"]:
        pid = os.fork()
        if pid == 0:
            try:
                _place_fds({1: resp_w, 2: err, 3: req_r, 4: out})
                os.dup2(3, 0)
                os.execvp(cfg["prefix"][0], cfg["prefix"])
            finally:
                os._exit(127)
        return pid
    pid_ns = False
    _libc()
    if os.geteuid() == 0:
        try:
            _unshare("pid")  # our next child is its init; we stay outside
            pid_ns = True
        except OSError:
            pass
    pid = os.fork()
    if pid == 0:
        try:
            _candidate_main(cfg, {1: out, 2: err, 3: req_r, 4: resp_w, 5: stat_w}, pid_ns)
        finally:
            os._exit(70)  # never run the runner's code in the child
    return pid


def _judge(tests: dict | None, ns: dict | None, req: int, resp: int) -> _Verdict:
    """Run the trusted tests against the candidate; the verdict to raise."""
    if tests is None:
        msg = _recv(resp)
        return _Verdict("pass", "the program ran to its end") if msg == ["done"] else _bad_reply()
    msg = _recv(resp)
    if not (type(msg) is list and msg[:1] == ["loaded"]):
        return _bad_reply()
    if msg[1:] != [True]:
        return _Verdict("fail", f"the program defines no function {tests['entry_point']!r}")

    def candidate(*args, **kwargs):
        try:
            call = ["call", encode(list(args)), encode(kwargs)]
        except (Unplain, ValueError) as e:  # the tests' own values: the harness's limitation
            raise _Verdict("error", f"the tests passed a value the sandbox cannot send ({e})") from None
        try:
            _send(req, call)
            reply = _recv(resp)
        except (EOFError, OSError):
            raise _Gone from None  # not an Exception: a test's `except Exception` cannot eat it
        except (ValueError, TypeError, RecursionError, MemoryError):
            raise _bad_reply() from None
        try:
            kind = reply[0]
            if kind == "ok" and len(reply) == 2:
                return decode(reply[1])
        except (ValueError, TypeError, IndexError, KeyError, RecursionError, MemoryError):
            raise _bad_reply() from None
        if kind == "unplain":
            raise _Verdict("fail", "the entry point returned a value of a program-defined type "
                           "(only plain built-in types count)", str(reply[1])[:200] if len(reply) > 1 else "")
        if kind == "raised":
            raise _raised(str(reply[1])[:200] if len(reply) > 1 else "")
        raise _bad_reply()

    candidate.__name__ = candidate.__qualname__ = tests["entry_point"]
    ns[tests["entry_point"]] = candidate  # tests may call it by name too (HumanEval/33)
    try:
        ns[tests["check"]](candidate)
    except (_Verdict, _Gone):
        raise
    except BaseException as e:  # noqa: BLE001 - a test failed
        return _test_failure(e, tests["code"])
    return _Verdict("pass", "all tests passed")


def _raised(name: str) -> BaseException:
    import builtins

    cls = getattr(builtins, name.strip("[]'\""), None)
    cls = cls if isinstance(cls, type) and issubclass(cls, Exception) else RuntimeError
    e = cls("raised by the entry point")
    e.thinkgate_reported = name  # so tests may catch it, and we know it came from the program
    return e


def _test_failure(e: BaseException, code: str) -> _Verdict:
    reported = getattr(e, "thinkgate_reported", None)
    if reported is not None:
        return _Verdict("fail", "the entry point raised an exception (its type is in `reported`)", reported)
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<tests>":
            line = tb.tb_lineno
        tb = tb.tb_next
    where = "" if line is None else f" at tests line {line}: {code.splitlines()[line - 1].strip()[:200]}"
    what = "a test assertion failed" if isinstance(e, AssertionError) else f"the tests raised {type(e).__name__}"
    return _Verdict("fail", what + where)


def _bad_reply() -> _Verdict:
    return _Verdict("fail", "the program's reply was not a well-formed message (tampering)")


def _kill(pid: int) -> int:
    try:
        os.kill(pid, signal.SIGKILL)  # init of the PID namespace: all its processes go with it
    except OSError:
        pass
    return os.waitpid(pid, 0)[1]


def _returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _death(status: int, lim: dict) -> str:
    """Why the candidate stopped answering, from its wait status (before our SIGKILL)."""
    if os.WIFEXITED(status):
        return f"the program exited with status {os.WEXITSTATUS(status)} before it was done"
    sig = os.WTERMSIG(status)
    return {
        signal.SIGXCPU: f"cpu time limit of {lim['cpu_s']}s exceeded (SIGXCPU)",
        signal.SIGXFSZ: f"file size limit of {lim['file_mb']} MB exceeded (SIGXFSZ: a file or its output)",
        signal.SIGSEGV: "crashed (SIGSEGV, e.g. a C stack overflow)",
        signal.SIGKILL: "killed by SIGKILL (cpu hard limit, or it killed itself)",
    }.get(sig, f"killed by signal {sig}")


if __name__ == "__main__":
    raise SystemExit(_serve_jobs(int(sys.argv[1])))


# ---- the harness side ------------------------------------------------------------------

import functools  # noqa: E402 - below the runner, which must start fast
import itertools  # noqa: E402
import math  # noqa: E402
import shlex  # noqa: E402
import select  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from typing import Sequence  # noqa: E402

PREFIX_ENV = "THINKGATE_SANDBOX_PREFIX"
_GRACE_S = 5.0  # beyond the timeout, for the runner to kill and report
_count = itertools.count()
_netns_lock = threading.Lock()
_netns_holder: subprocess.Popen | None = None
_server_lock = threading.Lock()
_server: tuple[subprocess.Popen, socket.socket] | None = None


@dataclass(frozen=True)
class Limits:
    """Per-program limits. `cpu_s=None` means the wall-clock timeout + 1 s."""

    cpu_s: float | None = None
    memory_mb: int = 1024
    processes: int = 16
    file_mb: int = 16
    open_files: int = 64
    work_mb: int = 64  # the tmpfs work folder
    output_bytes: int = 8192  # kept of stdout and of stderr each


@dataclass(frozen=True)
class Tests:
    """Trusted tests: `prelude` (e.g. the prompt's helpers) and `code` run in the runner,
    then `check(candidate)`, each call of `candidate` being a call of the program's
    `entry_point` in the candidate process."""

    __test__ = False  # not a pytest class

    code: str
    entry_point: str
    prelude: str = ""
    check: str = "check"


@dataclass(frozen=True)
class SandboxResult:
    """outcome: "pass", "fail" (a test failed, the program crashed, hit a limit or tampered),
    "timeout" (wall clock), or "error" (`infra_error`: the harness could not run it).
    reason: what the runner observed. stdout/stderr: the program's output, capped.
    reported: what the program claimed (e.g. the type name of an exception it raised).
    returncode: the candidate's, negative = killed by that signal."""

    outcome: str
    returncode: int | None
    reason: str
    stdout: str
    stderr: str
    duration_s: float
    network_isolated: bool
    infra_error: bool = False
    guards: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    reported: str = ""


def _netns() -> str | None:
    """A network namespace shared by this process's programs (creating one per program costs
    the kernel 15-150 ms), held open by a child that exits when we do; None if unavailable."""
    global _netns_holder
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    with _netns_lock:
        if _netns_holder is None or _netns_holder.poll() is not None:
            holder = subprocess.Popen([unshare, "--net", "/bin/sh", "-c", "echo ready; read _"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
            ready = holder.stdout.readline() == b"ready\n"  # printed once the namespace exists
            if not ready or os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
                holder.kill()
                holder.wait()
                return None
            _netns_holder = holder
        return f"/proc/{_netns_holder.pid}/ns/net"


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


@functools.lru_cache(maxsize=None)
def _python_paths() -> tuple[list[str], list[str]]:
    """(folders bound read-only into the program's root, site-packages to append to sys.path)."""
    site = list(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    wanted = [sys.base_prefix, sys.prefix, *site, os.path.dirname(os.path.realpath(sys.executable)),
              "/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/local/lib"]
    ro: list[str] = []
    for path in sorted(dict.fromkeys(os.path.abspath(p) for p in wanted), key=len):
        if os.path.lexists(path) and not any(path.startswith(done + "/") for done in ro):
            ro.append(path)
    return ro, site


def _runner_config(tmp: str, timeout_s: float, limits: Limits,
                   prefix: Sequence[str] | None, cgroup: str | None, refuse: Sequence[str]) -> dict:
    ro, site = _python_paths()
    lim = asdict(limits)
    lim["cpu_s"] = math.ceil(limits.cpu_s if limits.cpu_s is not None else timeout_s + 1)
    return {"root": os.path.join(tmp, "root"), "work": os.path.join(tmp, "work"), "ro": ro, "site": site,
            "work_mb": limits.work_mb, "limits": lim, "timeout_s": timeout_s,
            "cgroup": cgroup and os.path.join(cgroup, "cgroup.procs"), "netns": None if prefix else _netns(),
            "prefix": list(prefix) if prefix else None, "refuse": list(refuse)}


def _server_socket() -> socket.socket:
    """The control socket of this process's runner server, started on first use."""
    global _server
    with _server_lock:
        if _server is None or _server[0].poll() is not None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
            proc = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__), str(theirs.fileno())],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
                                    pass_fds=(theirs.fileno(),), start_new_session=True)
            theirs.close()
            _server = (proc, ours)
        return _server[1]


def _start_runner(cfg: dict, out: int, err: int) -> socket.socket:
    """A runner for one job, forked by the server; our end of its connection."""
    ours, theirs = socket.socketpair()
    try:
        ctl = _server_socket()
        with _server_lock:
            socket.send_fds(ctl, [json.dumps(cfg).encode()], [theirs.fileno(), out, err])
    finally:
        theirs.close()
    return ours


def _await_runner(conn: socket.socket, job: bytes, timeout_s: float) -> tuple[list[dict], bool]:
    """(report lines, whether the runner finished in time; else it was killed)."""
    deadline = time.monotonic() + timeout_s + _GRACE_S
    buf, pidfd, finished = b"", None, False
    try:
        conn.settimeout(timeout_s + _GRACE_S)
        conn.sendall(job)
        conn.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0 and len(buf) < 1 << 20:
            if not select.select([conn], [], [], left)[0]:
                continue
            chunk = conn.recv(1 << 16)
            if not chunk:
                finished = True
                break
            buf += chunk
            if pidfd is None and b"\n" in buf:
                pidfd = _pidfd(buf)
    except OSError:
        finished = True  # it went away: what it said (if anything) tells why
    finally:
        conn.close()
        if pidfd is not None:
            if not finished:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # its candidate dies with it
            os.close(pidfd)
    lines = []
    for line in buf.decode("utf-8", "replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass
    return lines, finished


def _pidfd(buf: bytes) -> int | None:
    try:
        return os.pidfd_open(json.loads(buf.split(b"\n", 1)[0])["pid"])
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _head(path: str, cap: int) -> str:
    with open(path, "rb") as f:
        return f.read(cap).decode("utf-8", "replace")


def _verdict(lines: list[dict], complaint: str, finished: bool, timeout_s: float) -> dict:
    """The runner's report, or what its absence means: no start line = the harness's fault;
    started but no verdict = the program outlasted the runner's own timeout."""
    started = next((ln for ln in lines if ln.get("started")), None)
    final = next((ln for ln in lines if "outcome" in ln), None)
    complaint = complaint or next((ln["infra"] for ln in lines if "infra" in ln), "")
    if started is None:
        return {"outcome": "error", "infra": True, "guards": [],
                "reason": f"sandbox could not start the program: {complaint or 'the runner exited without a word'}"}
    if final is None:
        final = {"outcome": "timeout" if not finished else "fail",
                 "reason": f"wall-clock limit of {timeout_s:g}s exceeded; runner killed" if not finished
                 else "the runner stopped without a verdict"}
    return {**final, "guards": started["guards"], "infra": final["outcome"] == "error"}


def run_program(code: str, timeout_s: float = 10, limits: Limits = Limits(), *,
                tests: Tests | None = None, prefix: Sequence[str] | None = None,
                refuse: Sequence[str] = ()) -> SandboxResult:
    """Run `code` in the sandbox (see the module docstring); with `tests`, judge it by them.

    `prefix`: a container runner (default: `$THINKGATE_SANDBOX_PREFIX`, else none).
    `refuse`: namespaces ("user", "mount", "pid", "net", ...) to treat as refused by the
    kernel, to see the fallbacks and their report.
    """
    if prefix is None and os.environ.get(PREFIX_ENV):
        prefix = shlex.split(os.environ[PREFIX_ENV])
    t0 = time.monotonic()
    job = json.dumps({"code": code, "tests": tests and asdict(tests)}).encode()
    with tempfile.TemporaryDirectory(prefix="thinkgate-sandbox-", ignore_cleanup_errors=True) as tmp:
        _prepare_folder(tmp)
        if prefix:
            prefix = [a.replace("{dir}", os.path.join(tmp, "work")) for a in prefix] + ["-c", _container_source()]
        v = _run_in(tmp, job, timeout_s, limits, prefix, refuse)
        stdout, stderr = (_head(os.path.join(tmp, n), limits.output_bytes) for n in ("out", "err"))
    guards = tuple(v["guards"])
    missing = () if prefix else tuple(g for g in GUARDS if g not in guards)
    return SandboxResult(v["outcome"], v.get("returncode"), v["reason"], stdout, stderr, time.monotonic() - t0,
                         "net" in guards, v["infra"], guards, missing, v.get("reported", ""))


def _prepare_folder(tmp: str) -> None:
    """root/ (the candidate's mount point) and work/ (its folder where no mount namespace is allowed)."""
    for sub in ("root", "work"):
        os.mkdir(os.path.join(tmp, sub))
    if os.geteuid() == 0:
        os.chmod(tmp, 0o711)  # traversable, not listable; out/err stay 0600
        os.chown(os.path.join(tmp, "work"), SANDBOX_UID, SANDBOX_UID)


def _run_in(tmp: str, job: bytes, timeout_s: float, limits: Limits, prefix: list[str] | None,
            refuse: Sequence[str]) -> dict:
    """One job through a runner, in its own pids cgroup where there is one; the verdict."""
    base = None if prefix else _pids_cgroup_base()
    cgroup = _new_cgroup(base, limits.processes + 1) if base else None  # + init
    out, err = (os.open(os.path.join(tmp, n), os.O_WRONLY | os.O_CREAT, 0o600) for n in ("out", "err"))
    try:
        cfg = _runner_config(tmp, timeout_s, limits, prefix, cgroup, refuse)
        lines, finished = _await_runner(_start_runner(cfg, out, err), job, timeout_s)
        return _verdict(lines, "", finished, timeout_s)
    except (OSError, subprocess.SubprocessError) as e:
        return _verdict([], repr(e), True, timeout_s)
    finally:
        os.close(out)
        os.close(err)
        if cgroup:
            _kill_cgroup(cgroup)


@functools.lru_cache(maxsize=None)
def _container_source() -> str:
    """The runner part of this file, then the container entry: what `<prefix> -c` runs."""
    src = open(__file__, encoding="utf-8").read()
    return src[:src.index('\nif __name__ == "__main__":')] + "\n_container_main()\n"


def run_many(programs: Sequence[str], timeout_s: float = 10, workers: int | None = None,
             limits: Limits = Limits(), *, tests: Sequence[Tests | None] | None = None,
             prefix: Sequence[str] | None = None) -> list[SandboxResult]:
    """Run many programs, `workers` at a time (default: one per CPU), results in order."""
    tests = list(tests) if tests is not None else [None] * len(programs)
    if len(tests) != len(programs):
        raise ValueError(f"{len(programs)} programs but {len(tests)} tests; pass one (or None) per program")
    if not programs:
        return []
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=min(workers or cpus, len(programs))) as pool:
        return list(pool.map(lambda p, t: run_program(p, timeout_s, limits, tests=t, prefix=prefix),
                             programs, tests))
