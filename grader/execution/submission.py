"""A batch's submissions: found under the paths given, named uniquely, shared out between the
jobs of a CI matrix, read; and what every runner adds to what a child reported.

Used by the runners of this machine (``grader.execution.runners``) and of a Dask cluster
(``grader.execution.cluster``) alike, and by nothing they import.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.analysis.findings import forbidden_findings
from grader.errors import GraderError, NotebookError
from grader.observations import NOT_RUN, Observations
from grader.plan import Plan
from grader.spec import Assignment
from grader.spec.notebook import CodeCell, read_code_cells


@dataclass(frozen=True)
class Submission:
    name: str  # unique within the run; names the output folder
    path: Path



def discover(paths: Iterable[Path]) -> list[Submission]:
    """Notebooks named by ``paths`` (files, or folders searched recursively), named uniquely.

    Folders are walked without following links, and links are never resolved: a
    ``*.ipynb`` that is a link (to the reference, to ``/dev/zero``) or not a regular file is
    still listed, under its own name, so that reading it fails for that submission alone
    (``read_submission`` refuses it) instead of grading what it points at."""
    found: list[Path] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise GraderError(f"no such file or folder: {path}")
        if path.is_dir() and not path.is_symlink():
            found += _notebooks_under(path)
        else:
            found.append(path)
    unique = list(dict.fromkeys(Path(os.path.abspath(p)) for p in found))
    return _name(unique)


def _notebooks_under(folder: Path) -> list[Path]:
    found = []
    for root, folders, files in os.walk(folder, followlinks=False):
        folders[:] = sorted(f for f in folders if f != ".ipynb_checkpoints")
        found += [Path(root) / name for name in sorted(files) if name.endswith(".ipynb")]
    return sorted(found)


#: What a submission's name may hold: it names a folder under the output folder.
UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(stem: str) -> str:
    """A file name's stem as a folder name that stays inside the output folder and means
    nothing to a shell or a spreadsheet (``..ipynb`` -> ``dot``, ``=SUM(A1)`` -> ``SUM-A1``)."""
    name = UNSAFE_NAME.sub("-", stem).strip("-").lstrip(".")
    return name[:100] or "dot"


def _name(paths: list[Path]) -> list[Submission]:
    stems = [safe_name(p.stem) for p in paths]
    named: list[Submission] = []
    for path, stem in zip(paths, stems, strict=True):
        name = stem
        if stems.count(stem) > 1:
            name = f"{safe_name(path.parent.name)}__{stem}"
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


# --- one submission's way through a backend (the same on every backend) -----------------------

@dataclass
class Prepared:
    """A submission read for running: its code cells (``observed`` holds the observations of
    one that cannot be read: it is not run), and the seconds that took."""

    submission: Submission
    cells: list[CodeCell]
    seconds: float
    observed: Observations | None = None


def prepare(assignment: Assignment, plan: Plan, submission: Submission) -> Prepared:
    """The first step every backend takes: read the notebook's code cells."""
    started = time.perf_counter()
    try:
        cells = read_submission(assignment, submission)
    except NotebookError as exc:
        return Prepared(submission, [], 0.0, not_run(submission, str(exc), plan.id))
    return Prepared(submission, cells, time.perf_counter() - started)


def finish(assignment: Assignment, plan: Plan, prepared: Prepared, ran: Observations | str,
           seconds: float) -> Observations:
    """The last step every backend takes: complete what the run of ``prepared``'s cells
    reported (``seconds``: the time it all took), or, when it brought nothing back (``ran`` is
    why), observations that say so."""
    if isinstance(ran, str):
        return not_run(prepared.submission, ran)
    return complete(ran, assignment, plan, prepared.cells, seconds)


def observe(assignment: Assignment, plan: Plan, submission: Submission,
            run: Callable[[Submission, list[CodeCell]], Observations | str]) -> Observations:
    """One submission read, run by ``run`` (however a backend runs its cells) and completed;
    never raises for bad submissions."""
    started = time.perf_counter()
    prepared = prepare(assignment, plan, submission)
    if prepared.observed is not None:
        return prepared.observed
    ran = run(submission, prepared.cells)
    return finish(assignment, plan, prepared, ran, time.perf_counter() - started)
