"""Grading on a Dask cluster (``grader grade --scheduler tcp://HOST:PORT``).

This process (the client) reads each notebook, finds its forbidden APIs, scores and writes,
as in local grading; only the execution of notebooks runs on the workers, each with the same
isolated executor (``grader.execution.executor.execute``, isolation detected on the worker for the
``--sandbox`` mode). No filesystem is shared: a task carries the notebook's code cells, the
limits and the mode, and refers to the harness (probes with their hidden inputs, probe code,
prelude, parameters) and the provided home files, which are scattered once to every worker.
Expected outputs never leave this process. What comes back is plain data, the bytes of
``observations.json`` and ``observations.npz``, read by ``Observations.from_bytes``: the same
validating path as a stored run, never unpickled objects.

A worker that dies mid-task is replaced by Dask, which runs its tasks elsewhere; a task that
still fails (``KilledWorker`` after repeated deaths, or any error) becomes that submission's
``problem`` and the batch goes on; a rerun into the same folder tries it again.

Dask is imported only here, inside functions, so ``grader --help`` and local grading never
load it (it is the optional extra ``grader[dask]``).
"""

from __future__ import annotations

import atexit
import gc
import logging
import socket
import tempfile
import threading
import traceback
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError
from dataclasses import asdict
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.execution.executor import child_environment, execute
from grader.execution.pool import WarmPool
from grader.execution.sandbox import Sandbox, describe_sandbox, detect
from grader.execution.submission import Prepared, Submission, finish, prepare
from grader.observations import INTERNAL_ERROR, Observations
from grader.plan import Plan
from grader.plan.harness import Harness
from grader.spec import Assignment, Limits
from grader.spec.notebook import CodeCell
from grader.version import __version__

#: Seconds to reach the scheduler before giving up with a message.
CONNECT_TIMEOUT = 5.0
#: Seconds to wait for a first worker (a batch system may start workers after the scheduler).
WORKER_TIMEOUT = 60.0


class ClusterRunner:
    """Runs the notebooks of a batch on the workers of the Dask scheduler at ``address``;
    a context manager that connects (and checks the workers) on entry."""

    def __init__(self, address: str, mode: str = "auto") -> None:
        self.address, self.mode = address, mode
        self.client: Any = None
        self.logged: dict[logging.Logger, int] = {}
        self.sandbox = Sandbox("none", "not connected to a Dask cluster yet")
        self.isolation = ""

    def __enter__(self) -> ClusterRunner:
        _dask()  # first: importing it configures its loggers
        # Dask's client logs its failures with tracebacks; this runner reports them itself
        self.logged = {logger: logger.level for logger in _dask_loggers()}
        for logger in self.logged:
            logger.setLevel(logging.CRITICAL)
        try:
            self.client = _connect(self.address)
            self.sandbox, self.isolation = _check_workers(self.client, self.address, self.mode)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        for logger, level in self.logged.items():
            logger.setLevel(level)

    def observe(self, assignment: Assignment, plan: Plan,
                submissions: Sequence[Submission]) -> Iterator[tuple[Submission, Observations]]:
        """Submit every readable submission, then yield each as its task ends."""
        from distributed import as_completed

        harness, home = self._scatter(plan.harness(assignment))
        limits = asdict(assignment.limits)
        waiting: dict[Any, Prepared] = {}
        unreadable = []
        for submission in submissions:
            prepared = prepare(assignment, plan, submission)
            if prepared.observed is not None:
                unreadable.append((submission, prepared.observed))
                continue
            future = self.client.submit(
                run_on_worker, submission.name, [c.to_dict() for c in prepared.cells], harness, home,
                limits, self.mode, tuple(assignment.preload),
                key=f"grade-{submission.name}-{uuid.uuid4().hex[:8]}", pure=False)
            waiting[future] = prepared
        yield from unreadable
        for future in as_completed(list(waiting), loop=self.client.loop):
            prepared = waiting.pop(future)
            received = self._receive(future)
            seconds = prepared.seconds + (0.0 if isinstance(received, str)
                                          else received.timings.get("execute", 0.0))
            yield prepared.submission, finish(assignment, plan, prepared, received, seconds)

    def _scatter(self, harness: Harness) -> tuple[Any, dict[str, Any]]:
        """Send what every task needs to every worker once: the harness as plain data, and
        the provided home files' bytes (they can be tens of MB)."""
        [shared] = self.client.scatter([harness.to_data()], broadcast=True)
        targets = sorted(harness.home_files)
        files = self.client.scatter([harness.home_files[t].read_bytes() for t in targets],
                                    broadcast=True) if targets else []
        return shared, dict(zip(targets, files, strict=True))

    def _receive(self, future: Any) -> Observations | str:
        """What a task sent back, or why there is nothing (raises only for a lost cluster)."""
        try:
            document, arrays = future.result()
            return Observations.from_bytes(document, arrays)
        except CancelledError as exc:
            if self.client.status != "running":
                raise GraderError(f"lost the connection to the Dask scheduler at {self.address}; "
                                  "finished results are kept: rerun the same command to grade "
                                  "the rest") from exc
            return _task_problem(exc)
        except Exception as exc:  # noqa: BLE001 - one lost or failed task must not stop the batch
            return _task_problem(exc)


def _task_problem(exc: BaseException) -> str:
    """The message recorded for a submission whose task did not bring observations back."""
    if type(exc).__name__ == "KilledWorker":
        return ("not graded: every Dask worker that ran this notebook died while running it "
                "(the notebook may exhaust a worker's memory); grade it again by rerunning the "
                "same command, and see the workers' logs if it happens again")
    detail = "".join(traceback.format_exception_only(exc)).strip()
    return f"{INTERNAL_ERROR} on a Dask worker, please report it: {detail}"


def _dask_loggers() -> list[logging.Logger]:
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] == "distributed"]
    return [logging.getLogger(name) for name in ["distributed", *names]]


def _dask() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise GraderError("--scheduler needs Dask on this machine and on every worker: "
                          "pip install 'cv-lab-grader[dask]'") from exc
    return distributed


def _connect(address: str) -> Any:
    distributed = _dask()
    problem = _unreachable(address)
    if problem is None:
        try:
            return distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, ValueError) as exc:
            problem = str(exc)
        # the half-made client would otherwise try to close itself at exit, with a traceback
        gc.collect()
    raise GraderError(f"cannot reach the Dask scheduler at {address} ({problem}); is `dask "
                      "scheduler` running there and its port open? Pass the address it prints, "
                      "e.g. --scheduler tcp://HOST:8786")


def _unreachable(address: str) -> str | None:
    """Why a TCP connection to ``address`` fails (None: it opens, or it is not TCP)."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return None
        host, port = parse_host_port(location)
    except ValueError as exc:
        return str(exc)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        return exc.strerror or f"{exc} after {CONNECT_TIMEOUT:g} s"
    return None


def _check_workers(client: Any, address: str, mode: str) -> tuple[Sandbox, str]:
    """Wait for a worker, then check that every worker can grade as asked; returns the
    least isolated worker's sandbox and a description for run.json."""
    try:
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
    except TimeoutError:
        raise GraderError(f"no Dask worker joined the scheduler at {address} within "
                          f"{WORKER_TIMEOUT:g} s; start some with `dask worker {address} "
                          "--nthreads 1` (see docs/scale-out.md)") from None
    facts = client.run(worker_facts, mode, on_error="return")
    # a worker gone while answering (connection closed) is no reason to stop: Dask drops it
    facts = {worker: fact for worker, fact in facts.items() if not isinstance(fact, OSError)}
    problems = [f"{worker}: {_fact_problem(fact)}" for worker, fact in sorted(facts.items())
                if _fact_problem(fact)]
    if problems or not facts:
        raise GraderError("Dask workers that cannot grade (fix them or stop them):\n  "
                          + "\n  ".join(problems or [f"none of the workers at {address} answered"]))
    sandboxes = [Sandbox(**fact["sandbox"]) for fact in facts.values()]
    weakest = min(sandboxes, key=lambda s: (s.isolated, s.drop_privileges))
    return weakest, f"{describe_sandbox(weakest)} (on {len(facts)} Dask worker(s) at {address})"


def _fact_problem(fact: Any) -> str:
    if isinstance(fact, BaseException):
        return f"{type(fact).__name__}: {fact} (is grader installed on that worker?)"
    if fact.get("problem"):
        return str(fact["problem"])
    if fact.get("grader") != __version__:
        return f"it runs grader {fact.get('grader')}, this machine {__version__}; install the same"
    return ""


def worker_facts(mode: str) -> dict[str, Any]:
    """Runs on each worker: its grader version and the isolation it gives for ``mode``."""
    try:
        sandbox = detect(mode)
    except GraderError as exc:
        return {"grader": __version__, "problem": str(exc)}
    return {"grader": __version__, "sandbox": {"kind": sandbox.kind, "reason": sandbox.reason,
                                               "drop_privileges": sandbox.drop_privileges}}


#: This worker process's warm workers, by (sandbox mode, preloaded modules): started by the
#: first task that needs them, kept for the next ones, stopped when the process exits.
_POOLS: dict[tuple[str, tuple[str, ...]], WarmPool | None] = {}
_POOLS_LOCK = threading.Lock()


def _worker_pool(mode: str, preload: tuple[str, ...]) -> WarmPool | None:
    """Warm workers on this Dask worker, one per task thread (None where they cannot work)."""
    with _POOLS_LOCK:
        if (mode, preload) not in _POOLS:
            sandbox = detect(mode)
            pool = None
            if WarmPool.unusable(sandbox) is None:
                try:
                    from distributed import get_worker

                    size = max(1, int(get_worker().state.nthreads))
                except Exception:  # noqa: BLE001 - outside a worker (tests): one
                    size = 1
                environment = child_environment(Path(tempfile.gettempdir()))
                pool = WarmPool(sandbox, size, preload, environment)
                atexit.register(pool.close)
            _POOLS[(mode, preload)] = pool
        return _POOLS[(mode, preload)]


def run_on_worker(name: str, cells: list[dict[str, Any]], harness: dict[str, Any],
                  home: dict[str, bytes], limits: dict[str, Any], mode: str,
                  preload: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
    """Runs on a Dask worker: one notebook in the worker's isolated executor. The provided
    files are written to a folder this task owns (the executor copies them into the child's
    scratch folder) and removed after; returns the bytes of the observations."""
    code = [CodeCell.from_dict(c) for c in cells]
    with tempfile.TemporaryDirectory(prefix="grader-home-") as folder:
        files = {}
        for number, (target, data) in enumerate(sorted(home.items())):
            files[target] = Path(folder) / str(number)
            files[target].write_bytes(data)
        rebuilt = Harness.from_data(harness, files)
        pool = _worker_pool(mode, tuple(preload))
        observations = execute(name, code, rebuilt, Limits(**limits), detect(mode), pool)
    return observations.to_bytes()
