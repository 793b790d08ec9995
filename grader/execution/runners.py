"""Where the notebooks of a batch run: the ``Runner`` seam and its backends, registered by
name: ``local`` (``LocalRunner``: this machine) and ``dask`` (``ClusterRunner`` in
``grader.execution.cluster``: a Dask cluster's workers). Every backend takes a submission the
same way (``grader.execution.submission``: ``prepare``, run its cells, ``finish``);
``FakeRunner`` runs no child at all, for tests.
"""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from grader.errors import GraderError
from grader.execution.executor import child_environment, execute
from grader.execution.pool import WarmPool
from grader.execution.sandbox import Sandbox, describe_sandbox
from grader.execution.sandbox import detect as detect_sandbox
from grader.execution.submission import Submission, not_run
from grader.execution.submission import observe as observe_submission
from grader.observations import INTERNAL_ERROR, Observations
from grader.plan import Plan
from grader.spec import Assignment
from grader.spec.notebook import CodeCell


def observe(assignment: Assignment, plan: Plan, submission: Submission,
            sandbox: Sandbox | None = None, pool: WarmPool | None = None) -> Observations:
    """Run one submission in a child on this machine and return its observations; never
    raises for bad submissions."""
    harness = plan.harness(assignment)

    def run(submission: Submission, cells: list[CodeCell]) -> Observations:
        return execute(submission.name, cells, harness, assignment.limits, sandbox, pool)

    return observe_submission(assignment, plan, submission, run)


def _safe(observe_one: Callable[[Submission], Observations], submission: Submission) -> Observations:
    try:
        return observe_one(submission)
    except Exception as exc:  # noqa: BLE001 - one submission's grader fault must not stop the batch
        detail = "".join(traceback.format_exception_only(exc)).strip()
        return not_run(submission, f"{INTERNAL_ERROR}, please report it: {detail}")


def _in_threads(jobs: int, observe_one: Callable[[Submission], Observations],
                submissions: Sequence[Submission]) -> Iterator[tuple[Submission, Observations]]:
    """Each submission observed by ``observe_one`` in one of ``jobs`` threads, as they finish."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as threads:
        futures = {threads.submit(_safe, observe_one, s): s for s in submissions}
        for future in as_completed(futures):
            yield futures[future], future.result()


class Runner(Protocol):
    """Where the notebooks of a batch run: ``LocalRunner``, ``ClusterRunner``, ``FakeRunner``."""

    @property
    def sandbox(self) -> Sandbox:
        """The isolation the notebooks get (on a cluster: the least isolated worker's)."""
        ...

    @property
    def isolation(self) -> str:
        """The same, with where the notebooks run, described for run.json."""
        ...

    def observe(self, assignment: Assignment, plan: Plan,
                submissions: Sequence[Submission]) -> Iterator[tuple[Submission, Observations]]:
        """Each submission with its observations, in the order they finish; never raises
        for one submission (a failure becomes observations with a ``problem``)."""
        ...


@dataclass
class LocalRunner:
    """Runs notebooks on this machine, ``jobs`` child processes at a time, forked by the
    warm workers of ``pool`` when there is one."""

    sandbox: Sandbox
    jobs: int = 1
    pool: WarmPool | None = None

    @property
    def isolation(self) -> str:
        return describe_sandbox(self.sandbox)

    def observe(self, assignment: Assignment, plan: Plan,
                submissions: Sequence[Submission]) -> Iterator[tuple[Submission, Observations]]:
        def observe_one(submission: Submission) -> Observations:
            return observe(assignment, plan, submission, self.sandbox, self.pool)

        return _in_threads(self.jobs, observe_one, submissions)


#: What a fake runner makes of a submission's cells instead of running them: observations,
#: or why there are none.
Answer = Callable[[Submission, list[CodeCell]], Observations | str]


@dataclass
class FakeRunner:
    """Runs no child: ``answer`` says what each notebook's run observed (stored observations
    replayed, or made up by a test), and every other step is the real backends' own (the
    notebook read, the static analysis, the timings). In this process, so for tests only."""

    answer: Answer
    jobs: int = 1

    @property
    def sandbox(self) -> Sandbox:
        return Sandbox("none", "a fake runner: no notebook runs")

    @property
    def isolation(self) -> str:
        return "none (a fake runner: no notebook runs)"

    def observe(self, assignment: Assignment, plan: Plan,
                submissions: Sequence[Submission]) -> Iterator[tuple[Submission, Observations]]:
        def observe_one(submission: Submission) -> Observations:
            return observe_submission(assignment, plan, submission, self.answer)

        return _in_threads(self.jobs, observe_one, submissions)


# --- backends by name ---------------------------------------------------------------------------

@dataclass
class RunnerOptions:
    """What a backend is opened with (``grader.grading.GradeOptions``' part of it)."""

    sandbox: str = "auto"  # auto | strict | off (see grader.execution.sandbox)
    jobs: int = 1
    warm: bool = True  # fork each child from a warm worker rather than start it cold
    scheduler: str | None = None  # a Dask scheduler's address (the dask backend)


#: Opens a backend: ``make(options, assignment, count)`` is a context manager giving the
#: runner (``assignment``, when known, and ``count`` submissions let it prepare).
OpenRunner = Callable[[RunnerOptions, "Assignment | None", int], AbstractContextManager[Runner]]


@contextmanager
def open_local(options: RunnerOptions, assignment: Assignment | None = None,
               count: int = 1) -> Iterator[Runner]:
    """``LocalRunner``: ``assignment``'s warm workers (one per job, at most ``count``) start
    at once, so they import while the plan is made."""
    sandbox = detect_sandbox(options.sandbox)
    if not options.warm or count == 0 or WarmPool.unusable(sandbox):
        yield LocalRunner(sandbox, options.jobs)
        return
    preload = assignment.preload if assignment else ()
    environment = child_environment(Path(tempfile.gettempdir()))
    with WarmPool(sandbox, min(options.jobs, count), preload, environment) as pool:
        yield LocalRunner(sandbox, options.jobs, pool)


@contextmanager
def open_dask(options: RunnerOptions, assignment: Assignment | None = None,
              count: int = 1) -> Iterator[Runner]:
    """``ClusterRunner`` on ``options.scheduler``, connected (and its workers checked) on entry."""
    from grader.execution.cluster import ClusterRunner  # imports Dask: only when a cluster is asked for

    if options.scheduler is None:
        raise GraderError("the dask backend needs a scheduler's address: --scheduler tcp://HOST:PORT")
    with ClusterRunner(options.scheduler, options.sandbox) as runner:
        yield runner


_BACKENDS: dict[str, OpenRunner] = {"local": open_local, "dask": open_dask}


def register(name: str, make: OpenRunner) -> None:
    """Make a backend known by ``name`` (``make`` opens it: see ``OpenRunner``)."""
    _BACKENDS[name] = make


def unregister(name: str) -> None:
    """Forget the backend ``name`` (a test's own, once it is done)."""
    _BACKENDS.pop(name, None)


def open_runner(name: str, options: RunnerOptions, assignment: Assignment | None = None,
                count: int = 1) -> AbstractContextManager[Runner]:
    """The backend registered as ``name``, opened with ``options``."""
    try:
        make = _BACKENDS[name]
    except KeyError:
        raise GraderError(f"no execution backend {name!r} (known: {', '.join(sorted(_BACKENDS))})") \
            from None
    return make(options, assignment, count)
