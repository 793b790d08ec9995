"""The warm worker: imports once, then forks a fresh, isolated process per submission.

Starting Python, numpy, IPython (and TensorFlow, for the Keras assignments) costs far more
than most students' code. The zygote pays it once: it runs grader code only, inside the
worker's bubblewrap sandbox, and for every job it forks

* a *supervisor*, which gives the job new mount, PID and IPC namespaces, a private /tmp
  and /dev/shm, and only its own scratch folder out of the worker's job folder (the other
  jobs' folders are hidden under an empty tmpfs), then enforces the time budget;
* an *init* (PID 1 of the job's PID namespace, so every process the notebook starts dies
  with it), which mounts a /proc that shows only the job's processes;
* the *notebook process*, which drops to the unprivileged user, sets no-new-privs and its
  resource limits, and runs ``grader.child.runner`` on the job.

No process ever runs two submissions, and no submission can leave anything behind for the
next: its processes, files and IPC objects all live in namespaces that end with it.

Protocol on stdin/stdout, one JSON object per line: the zygote prints ``{"ready": ...}``
once, then answers each request ``{"job": ID, "budget": s, ...}`` with
``{"job": ID, "status": exit status, "timeout": bool, "tail": output tail}``.
Without isolation (``"isolate": false``) the same happens minus namespaces and mounts.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import re
import resource
import select
import signal
import sys
import time
from collections.abc import Iterable
from typing import Any

from grader.child.reaper import become_subreaper, end_descendants

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG = 38, 1
TAIL_BYTES = 3000
#: How often a waiting supervisor looks at the event log for a cell past its time limit.
POLL_SECONDS = 0.25
TMP_SIZE = "256m"
SHM_SIZE = "64m"
#: Where the notebook process finds the event and array logs (the job file says so too).
EVENTS_FD, ARRAYS_FD = 3, 4
#: The notebook process exits with this code when grader code (not the student's) fails.
SETUP_FAILED = 70

_libc = ctypes.CDLL(None, use_errno=True)


def _call(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _call(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                      ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def preload(modules: list[str]) -> dict[str, str]:
    """Import what every submission would import anyway; returns modules that failed."""
    import numpy  # noqa: F401 - imported for the children
    from IPython.core.interactiveshell import InteractiveShell  # noqa: F401

    import grader.child.runner  # noqa: F401

    failed = {}
    for name in modules:
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001 - the child will report it on its own import
            failed[name] = f"{type(exc).__name__}: {exc}"
    return failed


def serve(jobs_root: str, isolate: bool, modules: list[str], under_tmp: list[str]) -> None:
    os.umask(0o022)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the grader died: so do we
    failed = preload(modules)
    _respond({"ready": os.getpid(), "failed": failed})
    for line in sys.stdin.buffer:
        request = json.loads(line)
        _respond(_run({**request, "under_tmp": under_tmp}, jobs_root, isolate))


def _respond(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _run(request: dict[str, Any], jobs_root: str, isolate: bool) -> dict[str, Any]:
    """Fork the supervisor for one job and relay what it reports."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        code = 0
        try:
            report = _supervise(request, jobs_root, isolate)
            os.write(write_end, json.dumps(report).encode())
        except BaseException as exc:  # noqa: BLE001 - reported, never raised into the zygote
            os.write(write_end, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
            code = 1
        os._exit(code)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    report = json.loads(data) if data else {"error": "the worker's supervisor died"}
    return {"job": request["job"], **report}


def _supervise(request: dict[str, Any], jobs_root: str, isolate: bool) -> dict[str, Any]:
    """In the supervisor: isolate the job, start it, watch its time, report its end."""
    scratch = os.path.join(jobs_root, request["job"])
    events = os.open(f"{scratch}.events", os.O_WRONLY | os.O_APPEND)
    planned = request.get("steps") or {}
    progress = ProgressWatch(os.open(f"{scratch}.events", os.O_RDONLY), request.get("step_limit"),
                             StepOrder(planned.get("cells", ()), planned.get("probes", ())))
    arrays = os.open(f"{scratch}.arrays", os.O_WRONLY | os.O_APPEND)
    if isolate:
        _isolate_filesystem(jobs_root, scratch, request.get("under_tmp", []))
    _link_home(os.environ["HOME"], scratch)
    tail_read, tail_write = os.pipe()
    if not isolate:  # no PID namespace: whatever the notebook starts is re-parented to us
        become_subreaper()
    top = os.fork()
    if top == 0:
        os.close(tail_read)
        if isolate:
            _init(request, scratch, (events, arrays, tail_write))
        _notebook_process(request, scratch, (events, arrays, tail_write))
    os.close(tail_write)
    os.close(events)
    os.close(arrays)
    status, timed_out, tail, peak_kb = _watch(top, tail_read, float(request["budget"]), progress)
    os.close(progress.fd)
    if not isolate:
        end_descendants()  # what the notebook left running (with isolation, its namespace died)
    return {"status": status, "timeout": timed_out, "tail": tail.decode("utf-8", "replace"),
            "peak_kb": peak_kb, "stalled": progress.expired}


def _isolate_filesystem(jobs_root: str, scratch: str, under_tmp: list[str]) -> None:
    """New namespaces; fresh /tmp and /dev/shm; of the job folder, only this job's scratch.

    ``under_tmp``: read-only folders of the sandbox that live under /tmp (a virtualenv or a
    checkout there), bound again, read-only, on top of the fresh /tmp.
    """
    _call(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC), "unshare")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    keep = os.open(scratch, os.O_PATH | os.O_DIRECTORY)
    system = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in under_tmp
              if os.path.isdir(path)]
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={TMP_SIZE},mode=1777")
    for path, handle in system:
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        _mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(handle)
    if os.path.isdir(jobs_root):  # the job folder is not under /tmp: hide it too
        _mount("tmpfs", jobs_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={SHM_SIZE},mode=1777")
    os.makedirs(scratch, mode=0o755, exist_ok=True)
    _mount(f"/proc/self/fd/{keep}", scratch, None, MS_BIND)
    os.close(keep)


def _link_home(home: str, scratch: str) -> None:
    """Point the worker's $HOME at this job's scratch folder.

    Modules imported once in the zygote may have remembered $HOME (Keras keeps
    ``~/.keras`` from its import), so $HOME is the same path for every job of a worker: a
    link, re-pointed per job (inside the job's own /tmp when isolated).
    """
    os.makedirs(os.path.dirname(home), mode=0o755, exist_ok=True)
    staged = f"{home}.{os.getpid()}"
    os.symlink(scratch, staged)
    os.replace(staged, home)


def _init(request: dict[str, Any], scratch: str, fds: tuple[int, int, int]) -> None:
    """PID 1 of the job: a /proc of its own, the notebook process, then reap until it ends."""
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        child = os.fork()
    except BaseException as exc:  # noqa: BLE001
        os.write(fds[2], f"grader worker: could not start the notebook: {exc}\n".encode())
        os._exit(SETUP_FAILED)
    if child == 0:
        _notebook_process(request, scratch, fds)
    for fd in fds:
        os.close(fd)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(SETUP_FAILED)
        if pid == child:  # leaving kills every other process of the namespace
            if os.WIFSIGNALED(status):
                os._exit(128 + os.WTERMSIG(status))
            os._exit(os.waitstatus_to_exitcode(status))


def _notebook_process(request: dict[str, Any], scratch: str, fds: tuple[int, int, int]) -> None:
    """Become the submission's process: clean descriptors, limits, no privileges; run it."""
    try:
        events, arrays, tail = (fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(tail, 1)
        os.dup2(tail, 2)
        os.dup2(events, EVENTS_FD)
        os.dup2(arrays, ARRAYS_FD)
        os.closerange(ARRAYS_FD + 1, 65536)
        os.setsid()
        os.chdir(scratch)
        os.environ.clear()
        os.environ.update(request["env"])
        _limit(request["limits"])
        uid = request.get("uid")
        if uid is not None:
            os.setgroups([])
            os.setgid(int(uid))
            os.setuid(int(uid))
        _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no-new-privs")
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        import numpy

        numpy.random.seed()  # fresh entropy, as a freshly started interpreter would have
        from grader.child.runner import main
    except BaseException as exc:  # noqa: BLE001
        os.write(2, f"grader worker: could not start the notebook: {exc}\n".encode())
        os._exit(SETUP_FAILED)
    try:
        main([os.path.join(scratch, "job.json")])
    except BaseException:  # noqa: BLE001 - the runner's own failure, never the zygote's
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
    os._exit(SETUP_FAILED)


def _limit(limits: dict[str, list[int]]) -> None:
    """The limits ``grader.execution.executor.rlimits`` chose: ``resource`` name -> [soft, hard]."""
    for name, (soft, hard) in limits.items():
        resource.setrlimit(getattr(resource, name), (soft, hard))


def _watch(pid: int, tail_fd: int, budget: float,
           progress: ProgressWatch | None = None) -> tuple[int, bool, bytes, int]:
    """Wait for ``pid`` within ``budget`` seconds, keeping the tail of its output; returns its
    exit status, whether it ran out of time, the tail, and the peak memory (KiB) of it and
    the processes it waited for (the notebook process, for the job's init)."""
    deadline = time.monotonic() + budget
    pidfd = os.pidfd_open(pid)
    tail, timed_out, open_fds = b"", False, [tail_fd, pidfd]
    while pidfd in open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.kill(pid, signal.SIGKILL)
            timed_out = True
            break
        if progress is not None and progress.overdue():
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select(open_fds, [], [], min(remaining, POLL_SECONDS))
        if tail_fd in ready:
            chunk = os.read(tail_fd, 65536)
            if chunk:
                tail = (tail + chunk)[-TAIL_BYTES:]
            else:
                open_fds.remove(tail_fd)
        if pidfd in ready:
            open_fds.remove(pidfd)
    _, status, usage = os.wait4(pid, 0)
    os.set_blocking(tail_fd, False)
    try:
        while chunk := os.read(tail_fd, 65536):
            tail = (tail + chunk)[-TAIL_BYTES:]
    except BlockingIOError:
        pass
    os.close(tail_fd)
    os.close(pidfd)
    peak_kb = int(usage.ru_maxrss)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status), timed_out, tail, peak_kb
    return os.waitstatus_to_exitcode(status), timed_out, tail, peak_kb


#: What the watchdog reads of the event log at most (as ``grader.execution.events`` reads):
#: past it, no line restarts a deadline, so a notebook that floods its channel is stopped.
WATCHED_BYTES = 64 * 1024 * 1024
#: A step line of the runner's (a start, the probes marker, the end) at a line's beginning;
#: its number, for the starts and a cell's end. Only the first bytes of a line are looked at.
_STEP_LINE = re.compile(rb'^\{"event": "(cell-start|probe-start|probes|done|cell|probe)"'
                        rb'(?:, "(?:index|number)": (\d{1,9}))?[,}]', re.MULTILINE)


class StepOrder:
    """The steps a notebook's process announces, in the only order the runner takes them:
    each planned code cell, the probes marker, each planned probe, done.

    Every line on the channel may be the notebook's own, so a line counts only if it moves
    forward in that order: at most once per planned step, never back, never to a step that
    was not planned; and the current step's end counts once. A notebook that forges lines
    can therefore restart the per-step deadline at most twice per planned step, and can only
    make the grader blame (skip, in the rerun) one of its own steps."""

    def __init__(self, cells: Iterable[int], probes: Iterable[int]) -> None:
        steps = ([("cell", i) for i in cells] + [("probes", 0)]
                 + [("probe", n) for n in probes] + [("done", 0)])
        self.positions = {step: n for n, step in enumerate(steps)}
        self.position = -1
        self.ended = False
        self.blamed: tuple[str, int] | None = None  # the last cell or probe started

    def start(self, step: tuple[str, int]) -> bool:
        """Whether a start (or the marker, or done) moves forward; if so, it is now current."""
        found = self.positions.get(step, -1)
        if found <= self.position:
            return False
        self.position, self.ended = found, False
        if step[0] in ("cell", "probe"):
            self.blamed = step
        return True

    def end(self, kind: str, index: int | None) -> bool:
        """Whether the end of the current cell (``index``) or probe counts: once, for it."""
        current = self.blamed if self.position >= 0 and not self.ended else None
        if current is None or self.positions[current] != self.position or current[0] != kind:
            return False
        if kind == "cell" and index != current[1]:
            return False
        self.ended = True
        return True

    def to_data(self) -> dict[str, list[int]]:
        """The planned cells and probes, for a request to a warm worker."""
        return {kind: [index for (k, index) in self.positions if k == kind[:-1]]
                for kind in ("cells", "probes")}


class ProgressWatch:
    """The per-cell (and per-probe) time limit, enforced from outside the notebook's process.

    The runner raises its own timeout in the notebook's process, with ``SIGALRM``; a cell
    that installs its own handler defeats that. So whoever waits for the process also reads
    the event log as it grows: a step that moves forward in ``StepOrder`` (a cell or probe
    starting, the end of the current one) starts a deadline, and a process past its deadline
    is killed. The grader then runs the notebook again without the step last started (the
    ``blamed`` one), as after a crash. No line clears the deadline: a forged end line only
    restarts it, once. Lines are found by one regular expression in C per chunk, only their
    first bytes are looked at, and at most ``WATCHED_BYTES`` are read.
    """

    CHUNK = 1 << 20

    def __init__(self, fd: int, limit: float | None, steps: StepOrder | None = None) -> None:
        self.fd, self.limit = fd, limit
        self.steps = steps or StepOrder((), ())
        self.offset, self.line = 0, b""
        self.deadline: float | None = None
        self.expired = False

    def overdue(self) -> bool:
        """Whether the cell or probe running now is past its time limit."""
        if self.limit is None or self.expired:
            return self.expired
        try:
            self.scan()
        except OSError:
            return False
        self.expired = self.deadline is not None and time.monotonic() > self.deadline
        return self.expired

    def scan(self) -> None:
        """Read what was appended since the last call (up to ``WATCHED_BYTES`` in all)."""
        while self.offset < WATCHED_BYTES and (
                data := os.pread(self.fd, min(self.CHUNK, WATCHED_BYTES - self.offset), self.offset)):
            self.offset += len(data)
            self._scan(data)

    def _scan(self, data: bytes) -> None:
        buffer = self.line + data
        cut = buffer.rfind(b"\n") + 1
        for found in _STEP_LINE.finditer(buffer, 0, cut):
            kind, number = found.group(1).decode(), found.group(2)
            index = int(number) if number is not None else None
            if kind in ("cell", "probe"):
                moved = self.steps.end(kind, index)
            elif kind in ("probes", "done"):
                moved = self.steps.start((kind, 0))
            else:
                moved = index is not None and self.steps.start((kind.removesuffix("-start"), index))
            if moved:
                self.deadline = time.monotonic() + float(self.limit or 0)
        self.line = buffer[cut:][:64]  # the beginning of an unfinished line is all it needs


def main(argv: list[str]) -> None:
    jobs_root, isolate, modules, under_tmp = argv[0], argv[1] == "isolate", *map(json.loads, argv[2:4])
    serve(jobs_root, isolate, modules, under_tmp)
