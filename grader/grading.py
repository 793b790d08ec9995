"""Grading a batch: discover submissions, run each in isolation, score, write as each finishes.

This is the library entry point behind ``grader grade``. Executors run concurrently in
child processes (``--jobs``), or on the workers of a Dask cluster (``--scheduler``, see
``grader.cluster``); scoring and writing happen one at a time in this process, as each
submission finishes, so a crash or a kill mid-batch never costs finished results.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from grader import __version__
from grader.analysis import forbidden_findings
from grader.cache import ExecutionKeys, ObservationCache
from grader.errors import GraderError, NotebookError
from grader.executor import child_environment, execute
from grader.feedback import write_feedback
from grader.files import atomic_write
from grader.notebook import CodeCell, read_code_cells
from grader.observations import Observations
from grader.plan import Plan, make_plan
from grader.pool import WarmPool
from grader.reporters import write_gradebook, write_results_json
from grader.results import SubmissionResult
from grader.sandbox import Sandbox
from grader.sandbox import describe as describe_sandbox
from grader.sandbox import detect as detect_sandbox
from grader.scorer import Selection, score_each
from grader.spec import Assignment


@dataclass(frozen=True)
class Submission:
    name: str  # unique within the run; names the output folder
    path: Path


@dataclass
class GradeOptions:
    out: Path
    jobs: int = 1
    seed: int | None = None
    selection: Selection = field(default_factory=Selection)
    sandbox: str = "auto"  # auto | strict | off (see grader.sandbox)
    force: bool = False  # regrade submissions already finished in ``out`` by the same run
    scheduler: str | None = None  # a Dask scheduler (tcp://host:port): run notebooks on its workers
    shard: tuple[int, int] | None = None  # (k, n): grade only share k of n (see ``shard``)
    warm: bool = True  # fork each child from a warm worker (grader.pool) rather than start it cold


@dataclass
class GradeRun:
    """The outcome of a batch: every submission's result, and where they were written."""

    assignment: Assignment
    seed: int
    out: Path
    results: list[SubmissionResult] = field(default_factory=list)
    sandbox: Sandbox | None = None  # on a cluster: the least isolated worker's
    isolation: str = "none"  # how and where the notebooks ran, as recorded in run.json


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
    return Observations(submission=submission.name, problem=problem, ending="not run",
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
        return not_run(submission, f"internal grader error, please report it: {detail}")


class Runner(Protocol):
    """Where the notebooks of a batch run: ``LocalRunner``, or ``grader.cluster.ClusterRunner``."""

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


@contextmanager
def open_runner(options: GradeOptions, assignment: Assignment | None = None,
                count: int = 1) -> Iterator[Runner]:
    """The runner ``options`` ask for; a cluster is connected (and checked) on entry.

    Locally, ``assignment``'s warm workers (one per job, at most ``count``) start at once,
    so they import while the plan is made.
    """
    if options.scheduler is None:
        sandbox = detect_sandbox(options.sandbox)
        if not options.warm or count == 0 or WarmPool.unusable(sandbox):
            yield LocalRunner(sandbox, options.jobs)
            return
        preload = assignment.preload if assignment else ()
        environment = child_environment(Path(tempfile.gettempdir()))
        with WarmPool(sandbox, min(options.jobs, count), preload, environment) as pool:
            yield LocalRunner(sandbox, options.jobs, pool)
        return
    from grader.cluster import ClusterRunner  # imports Dask: only when a cluster is asked for

    with ClusterRunner(options.scheduler, options.sandbox) as runner:
        yield runner


def grade(
    assignment: Assignment,
    paths: Sequence[Path],
    options: GradeOptions,
    on_result: Callable[[SubmissionResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> GradeRun:
    """Grade every notebook under ``paths``; results land in ``options.out`` as they finish."""
    submissions = discover(paths)
    if options.shard:
        submissions = shard(submissions, *options.shard)
    options.out = options.out.resolve()
    # the runner first: an unreachable cluster fails fast, and warm workers start importing
    with open_runner(options, assignment, len(submissions)) as runner:
        previous = _resumable(options, assignment)
        seed = previous["seed"] if previous else options.seed
        seed = seed if seed is not None else secrets.randbelow(2**31)
        options.out.mkdir(parents=True, exist_ok=True)
        public_only = options.selection.public_only
        plan = make_plan(assignment, seed, cache=options.out / ".plan", public_only=public_only)
        run = GradeRun(assignment, seed, options.out, sandbox=runner.sandbox,
                       isolation=runner.isolation)
        _write_manifest(run, submissions, previous, options.shard)
        if on_start:
            on_start(len(submissions))
        cache = ObservationCache(options.out)
        keys = _execution_keys(assignment, plan, submissions)
        stored: dict[Submission, Observations] = {}
        for submission in submissions:  # stored observations are scored, not run again
            found = None if options.force else _stored(cache, keys.get(submission), submission)
            if found is not None:
                stored[submission] = found
        pending = [s for s in submissions if s not in stored]

        def written(submission: Submission, observations: Observations,
                    result: SubmissionResult) -> None:
            run.results.append(_write(assignment, plan, submission, observations, result, options))
            key = keys.get(submission)
            if submission not in stored and key and observations.plan_id:
                cache.put(key, observations, options.out / "submissions" / submission.name)
            if on_result:
                on_result(run.results[-1])

        stream = itertools.chain(stored.items(), runner.observe(assignment, plan, pending))
        score_each(assignment, plan.checks, plan.reference, plan.seed, stream, written,
                   paths=lambda submission: str(submission.path), selection=options.selection)
    write_gradebook(run.results, options.out / "gradebook.csv")
    return run


def _execution_keys(assignment: Assignment, plan: Plan,
                    submissions: Sequence[Submission]) -> dict[Submission, str]:
    """Each readable submission's execution key (see grader.cache)."""
    keys = ExecutionKeys(assignment, plan)
    found = {}
    for submission in submissions:
        try:
            found[submission] = keys.key(read_submission(assignment, submission))
        except (NotebookError, OSError):
            continue  # it runs, and its observations say why it cannot be read
    return found


def _stored(cache: ObservationCache, key: str | None, submission: Submission) -> Observations | None:
    return cache.get(key, submission.name) if key else None


def _resumable(options: GradeOptions, assignment: Assignment) -> dict | None:
    """The manifest of an earlier run of the same assignment in ``out``, unless --force.

    Its seed is kept (unless another --seed is given), even when the spec changed since: a
    change of points then finds every submission's stored observations (grader.cache).
    """
    if options.force or not (options.out / "run.json").is_file():
        return None
    try:
        manifest = read_manifest(options.out)
    except GraderError:
        return None
    same = (manifest.get("assignment") == assignment.name
            and options.seed in (None, manifest.get("seed")))
    return manifest if same else None


def rescore(out: Path, selection: Selection | None = None,
            on_result: Callable[[SubmissionResult], None] | None = None) -> GradeRun:
    """Score a finished run again from its stored observations, with the current spec.

    Nothing is executed again: a change of points, thresholds or messages applies to every
    submission in seconds. Checks that need a probe the run did not make (new checks or new
    inputs) fail as "not planned": grade those notebooks again instead.
    """
    from grader.spec import load_assignment

    manifest = read_manifest(out)
    assignment = load_assignment(manifest.get("assignment_folder") or manifest["assignment"])
    plan = make_plan(assignment, int(manifest["seed"]), cache=out / ".plan")
    options = GradeOptions(out=out, seed=plan.seed, selection=selection or Selection())
    run = GradeRun(assignment, plan.seed, out)

    def stored() -> Iterator[tuple[Submission, Observations]]:
        for name, path in sorted(manifest["submissions"].items()):
            folder = out / "submissions" / name
            if (folder / "observations.json").is_file():
                yield Submission(name, Path(path)), Observations.load(folder)

    def written(submission: Submission, observations: Observations,
                result: SubmissionResult) -> None:
        run.results.append(_write(assignment, plan, submission, observations, result, options,
                                  save_observations=False))
        if on_result:
            on_result(run.results[-1])

    score_each(assignment, plan.checks, plan.reference, plan.seed, stored(), written,
               paths=lambda submission: str(submission.path), selection=options.selection)
    write_gradebook(run.results, out / "gradebook.csv")
    return run


def read_manifest(out: Path) -> dict:
    try:
        return json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GraderError(f"{out} is not the output folder of a grading run (no run.json)") from exc


def _write(assignment: Assignment, plan: Plan, submission: Submission, observations: Observations,
           result: SubmissionResult, options: GradeOptions,
           save_observations: bool = True) -> SubmissionResult:
    """Write everything of one scored submission. The grader's own time (scoring, writing)
    goes into the stored observations' timings, not into results.json, which stays the same
    from one run to the next."""
    started = time.perf_counter()
    folder = options.out / "submissions" / submission.name
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in result.attachments.items():
        atomic_write(folder / name, data)
    write_results_json(result, folder)
    if not options.selection.public_only:  # a student's `grader check` writes to a temporary folder
        write_feedback(result, folder, assignment, observations, plan.reference)
    result.timings["write"] = observations.timings["write"] = round(time.perf_counter() - started, 4)
    if save_observations:
        observations.save(folder)
    return result


def _write_manifest(run: GradeRun, submissions: Sequence[Submission],
                    previous: dict | None = None, share: tuple[int, int] | None = None) -> None:
    known = dict(previous["submissions"]) if previous else {}
    known.update({s.name: str(s.path) for s in submissions})
    manifest = {
        "assignment": run.assignment.name,
        "assignment_folder": str(run.assignment.folder),
        "spec_fingerprint": run.assignment.fingerprint(),
        "seed": run.seed,
        "grader_version": __version__,
        "isolation": run.isolation,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "submissions": known,
    }
    if share:
        manifest["shard"] = f"{share[0]}/{share[1]}"
    atomic_write(run.out / "run.json", json.dumps(manifest, indent=2).encode())
