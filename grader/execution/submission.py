"""A batch's submissions: found under the paths given, named uniquely, shared out between the
jobs of a CI matrix, read; and what every runner adds to what a child reported.

Used by the runners of this machine (``grader.execution.runners``) and of a Dask cluster
(``grader.execution.cluster``) alike, and by nothing they import.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.analysis.findings import forbidden_findings
from grader.errors import GraderError
from grader.observations import NOT_RUN, Observations
from grader.plan import Plan
from grader.spec import Assignment
from grader.spec.notebook import CodeCell, read_code_cells


@dataclass(frozen=True)
class Submission:
    name: str  # unique within the run; names the output folder
    path: Path



def discover(paths: Iterable[Path]) -> list[Submission]:
    """Notebooks named by ``paths`` (files, or folders searched recursively), named uniquely."""
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise GraderError(f"no such file or folder: {path}")
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in p.parts and p.is_file())
        else:
            found.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return _name(unique)


def _name(paths: list[Path]) -> list[Submission]:
    stems = [p.stem for p in paths]
    named: list[Submission] = []
    for path in paths:
        name = path.stem
        if stems.count(name) > 1:
            name = f"{path.parent.name}__{path.stem}"
        while name in {s.name for s in named}:
            name += "_"
        named.append(Submission(name, path))
    return named


def shard(submissions: Sequence[Submission], k: int, n: int) -> list[Submission]:
    """Share ``k`` of ``n`` (counted from 1) of ``submissions``, for a CI matrix of n jobs.

    A submission's share depends only on its name (a stable hash, the same on every machine
    and in every job), so the n shares are disjoint and together hold every submission.
    """
    if not 1 <= k <= n:
        raise GraderError(f"shard {k}/{n}: K must be between 1 and N")
    return [s for s in submissions if _share(s.name, n) == k - 1]


def _share(name: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % n


def read_submission(assignment: Assignment, submission: Submission) -> list[CodeCell]:
    """The submission's code cells; raises NotebookError (for the student) if unreadable."""
    return read_code_cells(submission.path, int(assignment.limits.max_notebook_mb * 2**20))


def not_run(submission: Submission, problem: str, plan_id: str = "") -> Observations:
    """Observations of a submission that could not run; without a ``plan_id`` a rerun into
    the same folder tries it again (it failed for the grader's reasons, not the student's)."""
    return Observations(submission=submission.name, problem=problem, ending=NOT_RUN,
                        plan_id=plan_id)


def complete(observations: Observations, assignment: Assignment, plan: Plan,
             cells: list[CodeCell], seconds: float) -> Observations:
    """Add to what the child reported what needs no running: the forbidden APIs the code
    reaches (found statically), the plan its probes answered, and the time it all took."""
    started = time.perf_counter()
    observations.forbidden, observations.tainted = forbidden_findings(cells, assignment.forbidden.apis)
    observations.plan_id = plan.id
    observations.timings["total"] = round(seconds + time.perf_counter() - started, 4)
    return observations
