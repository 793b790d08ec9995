"""Grading a batch: discover submissions, run each in isolation, score, write as each finishes.

This is the library entry point behind ``grader grade``. Executors run concurrently in
child processes (``--jobs``); scoring and writing happen one at a time in this process, as
each submission finishes, so a crash or a kill mid-batch never costs finished results.
"""

from __future__ import annotations

import json
import secrets
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from grader import __version__
from grader.analysis import forbidden_findings
from grader.errors import GraderError, NotebookError
from grader.executor import execute
from grader.feedback import write_feedback
from grader.files import atomic_write
from grader.notebook import read_code_cells
from grader.observations import Observations
from grader.plan import Plan, make_plan, plan_id
from grader.reporters import write_gradebook, write_results_json
from grader.results import SubmissionResult
from grader.sandbox import Sandbox
from grader.sandbox import describe as describe_sandbox
from grader.sandbox import detect as detect_sandbox
from grader.scorer import Selection, score
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


@dataclass
class GradeRun:
    """The outcome of a batch: every submission's result, and where they were written."""

    assignment: Assignment
    seed: int
    out: Path
    results: list[SubmissionResult] = field(default_factory=list)
    sandbox: Sandbox | None = None


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


def observe(assignment: Assignment, plan: Plan, submission: Submission,
            sandbox: Sandbox | None = None) -> Observations:
    """Run one submission and return its observations; never raises for bad submissions."""
    started = time.perf_counter()
    limits = assignment.limits
    try:
        cells = read_code_cells(submission.path, int(limits.max_notebook_mb * 2**20))
    except NotebookError as exc:
        return Observations(submission=submission.name, problem=str(exc), ending="not run",
                            plan_id=plan.id)
    uses, tainted = forbidden_findings(cells, assignment.forbidden.apis)
    observations = execute(submission.name, cells, plan.harness(assignment), limits, sandbox)
    observations.forbidden, observations.tainted = uses, tainted
    observations.plan_id = plan.id
    observations.timings["total"] = round(time.perf_counter() - started, 4)
    return observations


def _safe_observe(assignment: Assignment, plan: Plan, submission: Submission,
                  sandbox: Sandbox) -> Observations:
    try:
        return observe(assignment, plan, submission, sandbox)
    except Exception as exc:  # noqa: BLE001 - one submission's grader fault must not stop the batch
        detail = "".join(traceback.format_exception_only(exc)).strip()
        return Observations(submission=submission.name, ending="not run",
                            problem=f"internal grader error, please report it: {detail}")


def grade(
    assignment: Assignment,
    paths: Sequence[Path],
    options: GradeOptions,
    on_result: Callable[[SubmissionResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> GradeRun:
    """Grade every notebook under ``paths``; results land in ``options.out`` as they finish."""
    submissions = discover(paths)
    options.out = options.out.resolve()
    sandbox = detect_sandbox(options.sandbox)
    previous = _resumable(options, assignment)
    seed = previous["seed"] if previous else options.seed
    seed = seed if seed is not None else secrets.randbelow(2**31)
    options.out.mkdir(parents=True, exist_ok=True)
    public_only = options.selection.public_only
    plan = make_plan(assignment, seed, cache=options.out / ".plan", public_only=public_only)
    run = GradeRun(assignment, seed, options.out, sandbox=sandbox)
    _write_manifest(run, submissions, previous)
    if on_start:
        on_start(len(submissions))
    current = plan_id(assignment, seed, public_only)
    done = [s for s in submissions if previous and _finished(options.out, s, current)]
    for submission in done:  # resumed: scored again from stored observations, not re-run
        observations = Observations.load(options.out / "submissions" / submission.name)
        run.results.append(_finish(assignment, plan, submission, observations, options,
                                   save_observations=False))
        if on_result:
            on_result(run.results[-1])
    pending = [s for s in submissions if s not in done]
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        futures = {pool.submit(_safe_observe, assignment, plan, s, sandbox): s for s in pending}
        for future in as_completed(futures):
            result = _finish(assignment, plan, futures[future], future.result(), options)
            run.results.append(result)
            if on_result:
                on_result(result)
    write_gradebook(run.results, options.out / "gradebook.csv")
    return run


def _resumable(options: GradeOptions, assignment: Assignment) -> dict | None:
    """The manifest of an interrupted run of the same spec in ``out``, unless --force."""
    if options.force or not (options.out / "run.json").is_file():
        return None
    try:
        manifest = _read_manifest(options.out)
    except GraderError:
        return None
    same = (manifest.get("assignment") == assignment.name
            and manifest.get("spec_fingerprint") == assignment.fingerprint()
            and options.seed in (None, manifest.get("seed")))
    return manifest if same else None


def _finished(out: Path, submission: Submission, current_plan: str) -> bool:
    """Finished by this same plan (an older run's leftovers are graded again)."""
    folder = out / "submissions" / submission.name
    if not (folder / "results.json").is_file():
        return False
    try:
        return Observations.load(folder).plan_id == current_plan
    except (OSError, ValueError, KeyError, TypeError):
        return False


def rescore(out: Path, selection: Selection | None = None,
            on_result: Callable[[SubmissionResult], None] | None = None) -> GradeRun:
    """Score a finished run again from its stored observations, with the current spec.

    Nothing is executed again: a change of points, thresholds or messages applies to every
    submission in seconds. Checks that need a probe the run did not make (new checks or new
    inputs) fail as "not planned": grade those notebooks again instead.
    """
    from grader.spec import load_assignment

    manifest = _read_manifest(out)
    assignment = load_assignment(manifest.get("assignment_folder") or manifest["assignment"])
    plan = make_plan(assignment, int(manifest["seed"]), cache=out / ".plan")
    options = GradeOptions(out=out, seed=plan.seed, selection=selection or Selection())
    run = GradeRun(assignment, plan.seed, out)
    for name, path in sorted(manifest["submissions"].items()):
        folder = out / "submissions" / name
        if not (folder / "observations.json").is_file():
            continue
        observations = Observations.load(folder)
        result = _finish(assignment, plan, Submission(name, Path(path)), observations, options,
                         save_observations=False)
        run.results.append(result)
        if on_result:
            on_result(result)
    write_gradebook(run.results, out / "gradebook.csv")
    return run


def _read_manifest(out: Path) -> dict:
    try:
        return json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GraderError(f"{out} is not the output folder of a grading run (no run.json)") from exc


def _finish(assignment: Assignment, plan: Plan, submission: Submission,
            observations: Observations, options: GradeOptions,
            save_observations: bool = True) -> SubmissionResult:
    started = time.perf_counter()
    result = score(assignment, plan.checks, observations, plan.reference, plan.seed,
                   path=str(submission.path), selection=options.selection)
    folder = options.out / "submissions" / submission.name
    folder.mkdir(parents=True, exist_ok=True)
    if save_observations:
        observations.save(folder)
    result.timings["score"] = round(time.perf_counter() - started, 4)
    for name, data in result.attachments.items():
        atomic_write(folder / name, data)
    write_results_json(result, folder)
    if not options.selection.public_only:  # a student's `grader check` writes to a temporary folder
        write_feedback(result, folder, assignment, observations, plan.reference)
    return result


def _write_manifest(run: GradeRun, submissions: Sequence[Submission],
                    previous: dict | None = None) -> None:
    known = dict(previous["submissions"]) if previous else {}
    known.update({s.name: str(s.path) for s in submissions})
    manifest = {
        "assignment": run.assignment.name,
        "assignment_folder": str(run.assignment.folder),
        "spec_fingerprint": run.assignment.fingerprint(),
        "seed": run.seed,
        "grader_version": __version__,
        "isolation": describe_sandbox(run.sandbox) if run.sandbox else "none",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "submissions": known,
    }
    atomic_write(run.out / "run.json", json.dumps(manifest, indent=2).encode())
