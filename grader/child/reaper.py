"""Every process a notebook starts ends with it, even where no PID namespace can be had.

With bubblewrap (or a warm worker's namespaces) the notebook's processes live in a PID
namespace that dies with it. Without namespaces (a machine without bubblewrap, a Docker
container whose seccomp profile refuses them) a notebook can start a daemon: fork, start a
new session, fork again. Killing the notebook's process group misses it; it would outlive
grading and could watch the next submission run.

The answer here is a *subreaper* (``PR_SET_CHILD_SUBREAPER``): a supervising process whose
orphaned descendants are re-parented to it, not to init, however they detach. When the
notebook's process ends, the supervisor kills its children, round after round, until it
has none left; every grand-child of a killed process becomes its child in turn. A process
cannot leave this tree; it can only kill the supervisor, which an unprivileged notebook
cannot do when the supervisor runs as root (the grader's fallback as root, see
``grader.execution.sandbox``). A grader without root and without bubblewrap has no such
guarantee: docs/security.md says so.

This module runs in the supervisor, between the grader and the notebook: stdlib only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
#: How long ending the descendants may take before the supervisor gives up (a process in
#: uninterruptible sleep cannot be killed until it wakes).
END_SECONDS = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants; False where the kernel refuses."""
    return _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def children(parent: int) -> list[int]:
    """The processes whose parent is ``parent``, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone since the listing
        if len(fields) > 1 and int(fields[1]) == parent:
            found.append(int(entry))
    return found


def end_descendants(deadline: float = END_SECONDS) -> int:
    """Kill every child of this process until none is left (orphans keep arriving while
    their parents die); reap them all. Returns how many processes were killed."""
    me, killed, stop = os.getpid(), set(), time.monotonic() + deadline
    while time.monotonic() < stop:
        for pid in children(me):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        try:
            while (pid := os.waitpid(-1, os.WNOHANG)[0]) != 0:
                pass
        except ChildProcessError:
            return len(killed)  # no child at all, living or dead
        time.sleep(0.01)
    return len(killed)


def supervise(command: list[str]) -> int:
    """Run ``command`` as our child and end everything it started; its exit code (128 + n
    when a signal n killed it, as a shell and bubblewrap report it)."""
    become_subreaper()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)  # the grader died: clean up and go

    def stop(number: int, frame: object) -> None:
        end_descendants()
        os._exit(128 + number)

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, stop)
    if os.getppid() == 1:  # the grader died before we could ask to hear of it
        return 128 + signal.SIGTERM
    pid = os.fork()
    if pid == 0:
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        try:
            os.execv(command[0], command)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    end_descendants()
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def main(argv: list[str]) -> None:
    """``python -m grader.child.reaper -- COMMAND...`` (the grader starts it with ``-c``)."""
    command = argv[argv.index("--") + 1:] if "--" in argv else argv
    sys.exit(supervise(command))


if __name__ == "__main__":
    main(sys.argv[1:])
