"""Isolation of the student's process: bubblewrap namespaces, or a loud fallback.

With bubblewrap the child runs in new mount, PID, network, IPC and UTS namespaces. Its
filesystem is an allow-list: the system's ``/usr`` and a few files of ``/etc``, the Python
installation, the grader's child package, and its own scratch folder, which is the only
writable place. The reference, the assignments' checks, other submissions, the grader's
output and the user's home do not exist in there. It has no network (only a loopback of
its own), and when it ends every process it started ends with it (PID namespace). When
the grader runs as root, the child drops to an unprivileged user before any student code,
so files outside the allow-list would be unreadable even if they were visible.

Without namespaces (no bubblewrap, or a container whose seccomp profile refuses them, as
Docker's default does) ``--sandbox auto`` falls back, after a loud warning:

* as root, to an **unprivileged user**: the notebook's process switches to a user of its own
  (uid 65534, or one below it when several notebooks run: ``grader.execution.users``) before
  any student code, with no-new-privs and resource limits, so it cannot read what is not
  world-readable nor write outside its scratch folder, nor signal another notebook (the
  output folder is made root-only, and the Gradescope bundle keeps its plan, checks,
  reference and results root-only, for that reason);
* otherwise to **no isolation**: resource limits, a scrubbed environment, a scratch folder.

Either way a supervisor (``grader.child.reaper``, a subreaper) ends every process the
notebook started when it ends. ``--sandbox strict`` refuses to grade without namespaces.
``GRADER_NO_NAMESPACES=1`` makes this machine behave as one without them (to try the
fallback, as in Gradescope's container).
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.errors import GraderError

#: The unprivileged identity the child takes when the grader runs as root.
CHILD_UID = CHILD_GID = 65534
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the grader package
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group",
             "nsswitch.conf", "hosts", "fonts", "alternatives", "ssl", "mime.types")
MODES = ("auto", "strict", "off")
#: The trial run: a child as real as can be without a notebook (same identity, same imports),
#: which must also find the network unreachable.
TRIAL = (
    "import os, sys\n"
    "uid = os.environ.get('GRADER_CHILD_UID')\n"
    "if uid:\n"
    "    os.setgroups([]); os.setgid(int(uid)); os.setuid(int(uid))\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import numpy, IPython.core.interactiveshell, grader.child.runner, socket\n"
    "if socket.socket().connect_ex(('1.1.1.1', 53)) == 0:\n"
    "    sys.exit('the network is reachable from the sandbox')\n"
)
#: The trial of the unprivileged fallback: Python and the child's imports as CHILD_UID.
UNPRIVILEGED_TRIAL = (
    "import os, sys\n"
    "os.setgroups([]); os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[2]))\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import numpy, IPython.core.interactiveshell, grader.child.runner\n"
    "open(os.path.join(os.getcwd(), 'written'), 'w').close()\n"
)
#: The supervisor a child starts under when it has no PID namespace (see grader.child.reaper).
REAPER_BOOT = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from grader.child.reaper import main\n"
    "main(sys.argv[2:])\n"
)
#: Set to 1: behave as a machine where namespaces cannot be created (bubblewrap unusable).
NO_NAMESPACES = "GRADER_NO_NAMESPACES"
Kind = Literal["bubblewrap", "unprivileged", "none"]
#: The child's private /tmp is memory: capped so that filling it cannot exhaust the host.
TMP_BYTES = 256 * 1024 * 1024


class SandboxUnavailableError(GraderError):
    """Strict isolation was asked for and this machine cannot provide it."""


@dataclass(frozen=True)
class Sandbox:
    """How children are isolated on this machine."""

    kind: Kind  # bubblewrap: namespaces; unprivileged: CHILD_UID without them; none
    reason: str = ""  # why the fallback was used
    drop_privileges: bool = False  # the child switches to CHILD_UID before running anything

    @property
    def isolated(self) -> bool:
        """Namespaces: a filesystem allow-list, no network, a PID namespace."""
        return self.kind == "bubblewrap"

    @property
    def protection(self) -> str:
        """One phrase for reports: what protects the grader from the notebook."""
        return {"bubblewrap": "namespaces (bubblewrap)",
                "unprivileged": f"unprivileged user (uid {CHILD_UID}), no namespaces",
                "none": "none"}[self.kind]

    def wrap(self, command: list[str], scratch: Path, warm: bool = False) -> list[str]:
        """``command`` as it must be started to run isolated with ``scratch`` writable.

        ``warm``: the command is a warm worker (grader.child.zygote), which also needs to
        mount, to give each job it forks namespaces and a scratch folder of its own.
        """
        if not self.isolated:
            # no PID namespace: a subreaper ends what the notebook started (a warm worker's
            # per-job supervisor is one itself)
            return command if warm else [sys.executable, "-I", "-c", REAPER_BOOT,
                                         str(PACKAGE_DIR.parent), "--", *command]
        args = bubblewrap_arguments(scratch, unprivileged=os.geteuid() != 0)
        if self.drop_privileges:
            # kept only long enough for the child's first lines to switch to CHILD_UID,
            # which clears every capability
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            if warm:
                args += ["--cap-add", "CAP_SYS_ADMIN"]
        return [*args, "--", *command]

    def prepare(self, scratch: Path, uid: int | None = CHILD_UID) -> None:
        """Hand the scratch folder to the child's user ``uid`` (it writes only there)."""
        if self.drop_privileges and uid is not None:
            # bubblewrap enters the folder before the child drops root, without the
            # capability to bypass permissions: the owner changes, others may traverse.
            # Without namespaces nothing enters it but its user: nobody else may.
            scratch.chmod(0o711 if self.isolated else 0o700)
            for folder, _, files in os.walk(scratch):
                os.chown(folder, uid, uid)
                for name in files:
                    os.chown(os.path.join(folder, name), uid, uid)


def _read_only_paths() -> list[Path]:
    """What the child may read: Python's installation, site-packages, the child package."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent}
    paths.update(Path(p) for p in site.getsitepackages() if Path(p).is_dir())
    user_site = site.getusersitepackages()
    if isinstance(user_site, str) and Path(user_site).is_dir():
        paths.add(Path(user_site))
    paths.add(PACKAGE_DIR)
    return sorted(p.resolve() for p in paths if not str(p.resolve()).startswith("/usr"))


def read_only_under_tmp() -> list[str]:
    """The read-only folders of the sandbox that live under /tmp (a virtualenv, a checkout):
    a warm worker binds them again over each job's fresh /tmp."""
    return [str(p) for p in _read_only_paths() if Path("/tmp") in p.parents]


def _ancestors(paths: list[Path]) -> list[Path]:
    """Folders above ``paths`` (outside /usr), parents first, each once."""
    found: list[Path] = []
    for path in paths:
        for folder in reversed(path.parents[:-1]):
            if folder not in found and not str(folder).startswith("/usr"):
                found.append(folder)
    return found


def bubblewrap_arguments(scratch: Path, unprivileged: bool = False) -> list[str]:
    """The bwrap command line (without the command) for one child."""
    args = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--hostname", "grader", "--ro-bind", "/usr", "/usr"]
    if unprivileged:
        args.append("--unshare-user")
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    # the private /tmp first: what is bound below it later (a virtualenv or a checkout under
    # /tmp, the scratch folder) stays visible on top of it
    args += ["--size", str(TMP_BYTES), "--perms", "1777", "--tmpfs", "/tmp"]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    paths = _read_only_paths()
    for folder in _ancestors(paths):
        # bwrap would create these 0700, which the unprivileged child could not traverse
        args += ["--perms", "0755", "--dir", str(folder)]
    for path in paths:
        args += ["--ro-bind", str(path), str(path)]
    for system in ("/sys", "/sys/devices", "/sys/devices/system"):
        args += ["--perms", "0755", "--dir", system]
    args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu",
             "--dev", "/dev", "--proc", "/proc",
             "--bind", str(scratch), str(scratch), "--chdir", str(scratch)]
    return args


@functools.cache
def detect(mode: str = "auto") -> Sandbox:
    """The isolation to use for ``mode`` (auto, strict, off), checked by a real trial run."""
    if mode not in MODES:
        raise GraderError(f"unknown sandbox mode {mode!r} (choose from {', '.join(MODES)})")
    if mode == "off":
        return Sandbox("none", "isolation turned off with --sandbox off")
    if os.environ.get(NO_NAMESPACES) == "1":
        problem: str | None = f"namespaces unavailable ({NO_NAMESPACES}=1)"
    else:
        problem = _bubblewrap_problem()
    if problem is None:
        return Sandbox("bubblewrap", drop_privileges=os.geteuid() == 0)
    if mode == "strict":
        raise SandboxUnavailableError(
            f"--sandbox strict: cannot isolate notebooks on this machine ({problem}); install "
            "bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) or see docs/security.md"
        )
    if os.geteuid() != 0:
        return Sandbox("none", problem)
    unprivileged = unprivileged_problem(CHILD_UID)
    if unprivileged is None:
        return Sandbox("unprivileged", problem, drop_privileges=True)
    return Sandbox("none", f"{problem}; and {unprivileged}")


def _bubblewrap_problem() -> str | None:
    """None when bubblewrap can start an isolated Python here; otherwise what went wrong."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    with tempfile.TemporaryDirectory(prefix="grader-sandbox-check-") as scratch:
        sandbox = Sandbox("bubblewrap", drop_privileges=os.geteuid() == 0)
        sandbox.prepare(Path(scratch))
        command = [sys.executable, "-I", "-c", TRIAL, str(PACKAGE_DIR.parent)]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": scratch}
        if sandbox.drop_privileges:
            env["GRADER_CHILD_UID"] = str(CHILD_UID)
        try:
            done = subprocess.run(sandbox.wrap(command, Path(scratch)), capture_output=True,
                                  text=True, timeout=60, env=env, cwd=scratch)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap could not start: {exc}"
    if done.returncode != 0:
        return f"bubblewrap failed: {done.stderr.strip()[-300:]}"
    return None


def unprivileged_problem(uid: int) -> str | None:
    """None when Python and the child's imports run as ``uid`` here, without namespaces;
    otherwise why not (typically: Python lives under a folder only root may enter)."""
    with tempfile.TemporaryDirectory(prefix="grader-sandbox-check-") as scratch:
        Sandbox("unprivileged", drop_privileges=True).prepare(Path(scratch), uid)
        command = [sys.executable, "-I", "-c", UNPRIVILEGED_TRIAL, str(PACKAGE_DIR.parent),
                   str(uid)]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": scratch}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env,
                                  cwd=scratch)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"uid {uid} could not start Python: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][-300:]
        return (f"uid {uid} cannot run {sys.executable} with the grader ({last}); install "
                "Python and the grader where every user may read them")
    return None


def describe_sandbox(sandbox: Sandbox) -> str:
    if sandbox.isolated:
        who = f"as uid {CHILD_UID}" if sandbox.drop_privileges else "in a user namespace"
        return (f"bubblewrap: no network, private /tmp and PID namespace, read-only system, "
                f"only the scratch folder writable, child runs {who}")
    if sandbox.kind == "unprivileged":
        return (f"UNPRIVILEGED USER, NO NAMESPACES ({sandbox.reason}): notebooks run as uid "
                f"{CHILD_UID} (and the uids below it, one per notebook running) with resource "
                "limits and can read world-readable files and use the network; every process "
                "they start is ended with them")
    return (f"NO ISOLATION ({sandbox.reason}): notebooks can read files and use the network; "
            "every process they start is ended with them")
