"""The users notebooks run as without namespaces: a user of its own for each notebook running.

In the ``unprivileged`` fallback (the grader is root, namespaces are refused:
``grader.execution.sandbox``) the user is all that separates two notebooks graded at the same
time (``--jobs`` > 1). Had they one uid between them, one could end the other
(``kill(-1, SIGKILL)`` reaches every process of its uid), trace it, or read what it writes.
So each running notebook leases a user of its own: uid (and gid) 65534, nobody, then 65533,
65532 and down (Debian keeps 65000 to 65533 unassigned), at most :data:`USERS` of them.

A user is leased only when

* no other lease holds it: a lock (``flock``) on a file named by the uid, in a folder only
  root may enter, so two graders on one machine never share a user either; the kernel drops
  the lock with the process that held it;
* it is nobody's: no account in ``/etc/passwd`` (except nobody itself, 65534) and no process
  of that uid is running (a host daemon, or what a notebook left behind);
* the trial the fallback was chosen by passes as that user: Python, the child's imports and
  a write to its scratch folder (``sandbox.unprivileged_problem``), once per user and process.

Under bubblewrap every child runs as 65534 in namespaces of its own, and without root
there is no other user to give: :func:`lease` then hands out what the sandbox always used.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import pwd
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from grader.errors import GraderError
from grader.execution.sandbox import CHILD_UID, Sandbox, unprivileged_problem

#: How many users the fallback may lease at once, on this machine (every grader together).
USERS = 256
#: Where the leases' lock files live: the first of these that is root's alone.
LOCK_PARENTS = ("/run", "/var/run")
LOCK_FOLDER = "grader-users"

_local = threading.Lock()  # one lease decided at a time in this process
_held: set[int] = set()  # leased by this process (flock is per open file, not per process)


class NoUserError(GraderError):
    """No user is free for a notebook in the unprivileged fallback."""


@contextlib.contextmanager
def lease(sandbox: Sandbox) -> Iterator[int | None]:
    """The uid a notebook runs as, held until the block ends: a user of its own in the
    ``unprivileged`` fallback; otherwise what ``sandbox`` gives every child (65534 under
    bubblewrap as root, None when the child keeps the grader's user)."""
    if sandbox.kind != "unprivileged":
        yield CHILD_UID if sandbox.drop_privileges else None
        return
    uid, lock = _take()
    try:
        yield uid
    finally:
        with _local:
            _held.discard(uid)
        os.close(lock)  # releases the flock


def candidates() -> list[int]:
    """The uids the fallback may give, in the order it tries them."""
    return [CHILD_UID - n for n in range(USERS)]


def _take() -> tuple[int, int]:
    folder = lock_folder()
    with _local:
        for uid in candidates():
            if uid in _held or not _nobodys(uid):
                continue
            lock = _try_lock(folder / str(uid))
            if lock is None:
                continue
            if _busy(uid) or usable(uid) is not None:
                os.close(lock)
                continue
            _held.add(uid)
            return uid, lock
    raise NoUserError(f"no free user to run a notebook as: all {USERS} uids from {CHILD_UID} "
                      f"down are taken, have an account or a process, or cannot run Python; "
                      f"grade with fewer --jobs, or install bubblewrap")


def lock_folder() -> Path:
    """The folder of the leases' locks: made 0700 by this (root) process, and checked to be
    a real folder of ours that nobody else may enter, wherever it already existed."""
    for parent in (*LOCK_PARENTS, tempfile.gettempdir()):
        folder = Path(parent) / LOCK_FOLDER
        with contextlib.suppress(OSError):  # there already, or no place for it (read-only)
            folder.mkdir(mode=0o700)
        try:
            found = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(found.st_mode) and found.st_uid == os.geteuid() and not found.st_mode & 0o077:
            return folder
    raise NoUserError(f"no private folder for the notebooks' user leases ({LOCK_FOLDER} under "
                      f"{', '.join(LOCK_PARENTS)} or {tempfile.gettempdir()}: missing, or open "
                      "to others); remove the one that is open to others")


def _try_lock(path: Path) -> int | None:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def _nobodys(uid: int) -> bool:
    """No account has this uid (nobody, 65534, is the one account meant for this)."""
    if uid == CHILD_UID:
        return True
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


def _busy(uid: int) -> bool:
    """Whether a process of ``uid`` is running (a daemon of the host, or one left behind)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                return True
        except OSError:
            continue  # gone since the listing
    return False


@functools.cache
def usable(uid: int) -> str | None:
    """None when ``uid`` runs Python and the child's imports here (the fallback's trial);
    otherwise why not. Asked once per user and process."""
    return unprivileged_problem(uid)
