"""Grading a batch: discover submissions, run each in isolation, score, write as each finishes.

This is the library entry point behind ``grader grade``. Executors run concurrently in
child processes (``--jobs``), or on the workers of a Dask cluster (``--scheduler``, see
``grader.execution.cluster``); scoring and writing happen one at a time in this process, as each
submission finishes, so a crash or a kill mid-batch never costs finished results.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from grader.analysis.findings import AST_LOCK
from grader.checks import Selection
from grader.errors import GraderError, NoSubmissionsError, NotebookError
from grader.execution import runners
from grader.execution.cache import ExecutionKeys, ObservationCache
from grader.execution.intake import take_in
from grader.execution.runners import Runner, RunnerOptions
from grader.execution.sandbox import Sandbox
from grader.execution.submission import Submission, discover, read_submission, shard
from grader.observations import Observations
from grader.plan import Plan, make_plan
from grader.report.reporters import Reporter, RunInfo, ScoredSubmission, report_run, report_submission
from grader.report.run_json import read_run_json, write_run_json
from grader.results import SubmissionResult
from grader.scoring.scorer import ScoringSession
from grader.spec import Assignment
from grader.spec.notebook import assignment_stamp


@dataclass
class GradeOptions:
    out: Path
    jobs: int = 1
    seed: int | None = None
    selection: Selection = field(default_factory=Selection)
    sandbox: str = "auto"  # auto | strict | off (see grader.execution.sandbox)
    force: bool = False  # regrade submissions already finished in ``out`` by the same run
    scheduler: str | None = None  # a Dask scheduler (tcp://host:port): run notebooks on its workers
    shard: tuple[int, int] | None = None  # (k, n): grade only share k of n (see ``shard``)
    warm: bool = True  # fork each child from a warm worker (grader.execution.pool) rather than start it cold
    reporters: Sequence[Reporter] = ()  # besides the gradebook: JUnit XML, GitHub's summary...
    #: the execution backend by name (grader.execution.runners): default dask with a
    #: scheduler, else local
    backend: str | None = None


@dataclass
class GradeRun:
    """The outcome of a batch: every submission's result, and where they were written."""

    assignment: Assignment
    seed: int
    out: Path
    results: list[SubmissionResult] = field(default_factory=list)
    sandbox: Sandbox | None = None  # on a cluster: the least isolated worker's
    isolation: str = "none"  # how and where the notebooks ran, as recorded in run.json
    skipped: list[str] = field(default_factory=list)  # what LMS downloads held besides notebooks


def open_runner(options: GradeOptions, assignment: Assignment | None = None,
                count: int = 1) -> AbstractContextManager[Runner]:
    """The runner ``options`` ask for, by name (``grader.execution.runners``): a cluster is
    connected (and checked) on entry; locally, warm workers start at once."""
    name = options.backend or ("dask" if options.scheduler else "local")
    return runners.open_runner(name, RunnerOptions(options.sandbox, options.jobs, options.warm,
                                                   options.scheduler), assignment, count)


def grade(
    assignment: Assignment,
    paths: Sequence[Path],
    options: GradeOptions,
    on_result: Callable[[SubmissionResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> GradeRun:
    """Grade every notebook under ``paths`` (LMS downloads collected first: see
    ``grader.execution.intake``); results land in ``options.out`` as they finish.

    No notebook under ``paths`` at all is a ``NoSubmissionsError`` (a shard that gets none
    of those found is not: it grades nothing)."""
    intake = take_in(paths, options.out.resolve())
    submissions = discover(intake.paths)
    if not submissions:
        raise NoSubmissionsError([str(path) for path in paths])
    if options.shard:
        submissions = shard(submissions, *options.shard)
    options.out = options.out.resolve()
    # the runner first: an unreachable cluster fails fast, and warm workers start importing
    with open_runner(options, assignment, len(submissions)) as runner, \
            _private(options.out, runner.sandbox):
        previous = _resumable(options, assignment)
        seed = previous["seed"] if previous else options.seed
        seed = seed if seed is not None else secrets.randbelow(2**31)
        options.out.mkdir(parents=True, exist_ok=True)
        public_only = options.selection.public_only
        plan = make_plan(assignment, seed, cache=options.out / ".plan", public_only=public_only)
        run = GradeRun(assignment, seed, options.out, sandbox=runner.sandbox,
                       isolation=runner.isolation, skipped=intake.skipped)
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
        stream = _stamped(assignment, itertools.chain(stored.items(),
                                                      runner.observe(assignment, plan, pending)))
        with ScoringSession(assignment, plan.checks, plan.reference, plan.seed,
                            options.selection) as scoring:
            for submission, observations in stream:
                # the runner's threads analyse notebooks meanwhile: see AST_LOCK
                with AST_LOCK:
                    result = scoring.score(observations, str(submission.path))
                    run.results.append(_write(assignment, plan, submission, observations, result,
                                              options))
                    key = keys.get(submission)
                    if submission not in stored and key and observations.plan_id:
                        cache.put(key, observations, options.out / "submissions" / submission.name)
                    if on_result:
                        on_result(run.results[-1])
    report_run(run.results, RunInfo(options.out, assignment.title), options.reporters)
    return run


def _stamped(assignment: Assignment, stream: Iterable[tuple[Submission, Observations]]
             ) -> Iterator[tuple[Submission, Observations]]:
    """Each submission's observations with the assignment its notebook says it is for (kept
    with them, so that ``rescore`` says it too)."""
    limit = int(assignment.limits.max_notebook_mb * 2**20)
    for submission, observations in stream:
        observations.stamp = assignment_stamp(submission.path, limit)
        yield submission, observations


@contextmanager
def _private(out: Path, sandbox: Sandbox) -> Iterator[None]:
    """In the unprivileged fallback (root without namespaces) notebooks run as other users of
    this machine and read whatever is world-readable. So ``out`` (its plan holds the hidden
    inputs and the reference's answers; its observations, every student's output) becomes
    root's alone (0700), and so does everything the grader creates while they run (umask
    077), as the Gradescope bundle lays itself out. Elsewhere the notebook cannot see ``out``
    (bubblewrap), or runs as the grader's own user (none), and nothing changes."""
    if sandbox.kind != "unprivileged":
        yield
        return
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    out.chmod(0o700)
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _execution_keys(assignment: Assignment, plan: Plan,
                    submissions: Sequence[Submission]) -> dict[Submission, str]:
    """Each readable submission's execution key (see grader.execution.cache)."""
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
    change of points then finds every submission's stored observations (grader.execution.cache).
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
            on_result: Callable[[SubmissionResult], None] | None = None,
            reporters: Sequence[Reporter] = ()) -> GradeRun:
    """Score a finished run again from its stored observations, with the current spec.

    Nothing is executed again: a change of points, thresholds or messages applies to every
    submission in seconds. Checks that need a probe the run did not make (new checks or new
    inputs) fail as "not planned": grade those notebooks again instead.
    """
    from grader.spec import load_assignment

    out = out.resolve()  # scoring runs in the assignment's folder: a relative path would miss
    manifest = read_manifest(out)
    assignment = load_assignment(manifest.get("assignment_folder") or manifest["assignment"])
    plan = make_plan(assignment, int(manifest["seed"]), cache=out / ".plan")
    options = GradeOptions(out=out, seed=plan.seed, selection=selection or Selection())
    run = GradeRun(assignment, plan.seed, out)

    def stored() -> Iterator[tuple[Submission, Observations]]:
        for name, path in sorted(manifest["submissions"].items()):
            folder = out / "submissions" / name
            if (folder / "observations.json").is_file():
                yield Submission(name, Path(path)), _load_stored(folder, name)

    with ScoringSession(assignment, plan.checks, plan.reference, plan.seed,
                        options.selection) as scoring:
        for submission, observations in stored():
            with AST_LOCK:
                result = scoring.score(observations, str(submission.path))
                run.results.append(_write(assignment, plan, submission, observations, result,
                                          options, save_observations=False))
                if on_result:
                    on_result(run.results[-1])
    report_run(run.results, RunInfo(out, assignment.title), reporters)
    return run


def _load_stored(folder: Path, name: str) -> Observations:
    """A submission's stored observations; if they cannot be read, observations whose
    problem says so: that submission gets a result saying why, the others are rescored."""
    try:
        return Observations.load(folder)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return Observations(submission=name, problem=(
            f"its stored observations could not be read ({type(exc).__name__}: "
            f"{str(exc)[:300]}); grade this notebook again"))


read_manifest = read_run_json  # the name merge and older callers use


def _write(assignment: Assignment, plan: Plan, submission: Submission, observations: Observations,
           result: SubmissionResult, options: GradeOptions,
           save_observations: bool = True) -> SubmissionResult:
    """Write everything of one scored submission, through the per-submission reporters
    (``grader.report.reporters``). The grader's own time (scoring, writing) goes into the
    stored observations' timings, not into results.json, which stays the same from one run to
    the next."""
    started = time.perf_counter()
    folder = options.out / "submissions" / submission.name
    folder.mkdir(parents=True, exist_ok=True)
    report_submission(ScoredSubmission(result, folder, assignment, observations, plan.reference,
                                       public_only=options.selection.public_only, probes=plan.probes))
    result.timings["write"] = observations.timings["write"] = round(time.perf_counter() - started, 4)
    if save_observations:
        observations.save(folder)
    return result


def _write_manifest(run: GradeRun, submissions: Sequence[Submission],
                    previous: dict | None = None, share: tuple[int, int] | None = None) -> None:
    known = dict(previous["submissions"]) if previous else {}
    known.update({s.name: str(s.path) for s in submissions})
    write_run_json(run.out, assignment=run.assignment.name,
                   assignment_folder=str(run.assignment.folder),
                   spec_fingerprint=run.assignment.fingerprint(), seed=run.seed,
                   isolation=run.isolation, submissions=known, shard=share)
