"""Where the notebooks of a batch run: the ``Runner`` seam, and ``LocalRunner``, which runs
them on this machine (``grader.execution.cluster.ClusterRunner`` runs them on a Dask cluster).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Protocol

from grader.errors import NotebookError
from grader.execution.executor import execute
from grader.execution.pool import WarmPool
from grader.execution.sandbox import Sandbox, describe_sandbox
from grader.execution.submission import Submission, complete, not_run, read_submission
from grader.observations import INTERNAL_ERROR, Observations
from grader.plan import Plan
from grader.spec import Assignment


def observe(assignment: Assignment, plan: Plan, submission: Submission,
            sandbox: Sandbox | None = None, pool: WarmPool | None = None) -> Observations:
    """Run one submission and return its observations; never raises for bad submissions."""
    started = time.perf_counter()
    try:
        cells = read_submission(assignment, submission)
    except NotebookError as exc:
        return not_run(submission, str(exc), plan.id)
    observations = execute(submission.name, cells, plan.harness(assignment), assignment.limits,
                           sandbox, pool)
    return complete(observations, assignment, plan, cells, time.perf_counter() - started)


def _safe_observe(assignment: Assignment, plan: Plan, submission: Submission,
                  sandbox: Sandbox, pool: WarmPool | None = None) -> Observations:
    try:
        return observe(assignment, plan, submission, sandbox, pool)
    except Exception as exc:  # noqa: BLE001 - one submission's grader fault must not stop the batch
        detail = "".join(traceback.format_exception_only(exc)).strip()
        return not_run(submission, f"{INTERNAL_ERROR}, please report it: {detail}")


class Runner(Protocol):
    """Where the notebooks of a batch run: ``LocalRunner``, or ``grader.execution.cluster.ClusterRunner``."""

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
        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            futures = {pool.submit(_safe_observe, assignment, plan, s, self.sandbox, self.pool): s
                       for s in submissions}
            for future in as_completed(futures):
                yield futures[future], future.result()
