"""A pool of warm workers: sandboxed interpreters that already imported what notebooks need.

Each worker is a zygote (``grader.child.zygote``) started once per grading run inside the
same bubblewrap sandbox a cold child gets, with numpy, IPython, the child runner and the
assignment's ``preload`` modules (TensorFlow for the Keras labs) imported. For every
submission it forks a fresh process in new namespaces with a private scratch folder, so
isolation is the cold path's, and the interpreter start-up is paid once per worker
instead of once per notebook. The workers start while the plan is being made.

Where the warm path cannot work (bubblewrap without root: the zygote could not drop the
notebook to another user), ``WarmPool.unusable`` says why and the executor starts cold
children instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from grader.errors import GraderError
from grader.execution.sandbox import CHILD_UID, PACKAGE_DIR, Sandbox, read_only_under_tmp

PACKAGE_PARENT = str(PACKAGE_DIR.parent)  # where the worker finds the grader package
ZYGOTE_BOOT = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from grader.child.zygote import main\n"
    "main(sys.argv[2:])\n"
)
#: How long a worker may take to import its modules (TensorFlow takes a few seconds).
START_TIMEOUT = 120.0
#: Beyond a job's own budget, how long the grader waits for the worker's answer.
ANSWER_GRACE = 30.0


class WorkerError(GraderError):
    """A warm worker could not start or stopped answering (a grader fault, not the student's)."""


@dataclass(frozen=True)
class ProcessEnd:
    """How a job's notebook process ended, as the worker saw it."""

    status: int  # exit code, or -signal
    timed_out: bool
    tail: str  # last output of the process (crash messages)
    peak_kb: int = 0  # largest resident set of the job's processes
    stalled: bool = False  # killed from outside for a cell or probe past its time limit


class Worker:
    """One zygote: answers one job at a time."""

    def __init__(self, sandbox: Sandbox, root: Path, preload: tuple[str, ...],
                 environment: dict[str, str]) -> None:
        self.sandbox, self.root, self.preload = sandbox, root, preload
        #: the same path for every job of this worker: a link to the job's scratch folder
        self.home = root / f"home-{id(self)}"
        self.environment = {**environment, "HOME": str(self.home)}
        self.process: subprocess.Popen | None = None
        self.ready = False
        self.start()

    def start(self) -> None:
        isolate = "isolate" if self.sandbox.isolated else "plain"
        command = [sys.executable, "-I", "-c", ZYGOTE_BOOT, PACKAGE_PARENT, str(self.root), isolate,
                   json.dumps(list(self.preload)), json.dumps(read_only_under_tmp())]
        if self.sandbox.isolated:
            command = self.sandbox.wrap(command, self.root, warm=True)
        log = self._log()
        try:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=self.environment, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        finally:
            os.close(log)
        self.ready = False

    def _log(self) -> int:
        """The worker's own error output: a file beside the jobs, for the error message."""
        self.log_path = self.root / f"worker-{id(self)}.log"
        return os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""
        return f": {text[-1500:]}" if text else ""

    def run(self, job: str, request: dict[str, Any], budget: float) -> ProcessEnd:
        """Run the job whose scratch folder is ``root/job``; wait at most ``budget`` + grace."""
        if not self.ready:
            self._await_ready()
        assert self.process is not None and self.process.stdin is not None
        environment = {**request["env"], "HOME": str(self.home)}
        message = {**request, "env": environment, "job": job, "budget": budget}
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
        except OSError as exc:
            self.stop()
            raise WorkerError(f"the grading worker stopped: {exc}") from exc
        answer = self._read(budget + ANSWER_GRACE)
        if "error" in answer:
            raise WorkerError(f"the grading worker could not run the notebook: {answer['error']}")
        return ProcessEnd(int(answer["status"]), bool(answer["timeout"]), str(answer["tail"]),
                       int(answer.get("peak_kb", 0)), bool(answer.get("stalled", False)))

    def _await_ready(self) -> None:
        answer = self._read(START_TIMEOUT)
        if "ready" not in answer:
            raise WorkerError(f"the grading worker did not start: {answer}")
        self.ready = True

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.process is not None
        stdout: IO[bytes] | None = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise WorkerError("the grading worker stopped answering"
                              + ("" if ready else f" within {timeout:g} s") + self._log_tail())
        try:
            answer = json.loads(line)
        except json.JSONDecodeError as exc:
            self.stop()
            raise WorkerError(f"the grading worker answered nonsense: {line[:200]!r}") from exc
        if not isinstance(answer, dict):
            self.stop()
            raise WorkerError(f"the grading worker answered nonsense: {line[:200]!r}")
        return answer

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self.process = None
        self.ready = False


class WarmPool:
    """``size`` warm workers sharing one job folder; ``lease()`` hands out a free one."""

    def __init__(self, sandbox: Sandbox, size: int, preload: tuple[str, ...] = (),
                 environment: dict[str, str] | None = None) -> None:
        self.sandbox = sandbox
        self.root = Path(tempfile.mkdtemp(prefix="grader-pool-"))
        self.root.chmod(0o711)
        self.environment = environment or {}
        self.free: queue.Queue[Worker] = queue.Queue()
        self.workers = [Worker(sandbox, self.root, preload, self.environment) for _ in range(size)]
        for worker in self.workers:
            self.free.put(worker)

    @staticmethod
    def unusable(sandbox: Sandbox) -> str | None:
        """Why warm workers cannot give ``sandbox``'s isolation here (None: they can)."""
        if sandbox.isolated and not sandbox.drop_privileges:
            return "bubblewrap without root: warm workers need to drop the notebook's privileges"
        return None

    def scratch(self) -> Path:
        """A new scratch folder inside the pool's job folder (visible to the workers)."""
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.root))

    @contextlib.contextmanager
    def lease(self) -> Iterator[Worker]:
        worker = self.free.get()
        try:
            if worker.process is None:
                worker.start()
            yield worker
        finally:
            self.free.put(worker)

    def request(self, environment: dict[str, str], rlimits: dict[str, tuple[int, int]],
                step_limit: float | None = None, steps: dict[str, list[int]] | None = None,
                uid: int | None = CHILD_UID) -> dict:
        """What a worker is sent for one job; the notebook runs as ``uid`` (leased by the
        caller: ``grader.execution.users``) when the sandbox drops privileges."""
        uid = uid if self.sandbox.drop_privileges else None
        return {"env": environment, "limits": rlimits, "uid": uid, "step_limit": step_limit,
                "steps": steps or {}}

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
