"""Joining the output folders of sharded runs into one (``grader merge``).

A CI matrix grades ``--shard 1/N`` to ``--shard N/N`` on N machines, each into an output
folder of its own. Merging copies every graded submission's folder (what its per-submission
reporters wrote: results.json, feedback, attachments, observations) and the plan, then
writes one ``gradebook.csv`` (through the per-run reporters, as ``grade`` does) and one
``run.json``, so that ``grader rescore`` and ``grader report`` work on the result as on a
single run's folder. Nothing is run or scored again: the results are joined as they were
graded. Runs of different assignments, specs or seeds are refused (their hidden inputs
differ, so their grades are not comparable), and so is one name standing for two different
submissions.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError
from grader.report.reporters import Reporter, RunInfo, report_run
from grader.report.results_json import read_document, read_results_json
from grader.report.run_json import read_run_json, write_run_json
from grader.results import SubmissionResult

#: What must be the same in every run merged: their grades are comparable only then.
SAME = ("assignment", "spec_fingerprint", "seed")


@dataclass
class MergedRun:
    """The merged folder and what went into it."""

    out: Path
    assignment: str
    seed: int
    results: list[SubmissionResult] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # listed in a run.json, never finished


def merge(runs: Sequence[Path], out: Path, on_start: Callable[[int], None] | None = None,
          on_result: Callable[[SubmissionResult], None] | None = None,
          reporters: Sequence[Reporter] = ()) -> MergedRun:
    """Join the output folders ``runs`` into the new folder ``out``."""
    manifests = [read_run_json(run) for run in runs]
    _check_comparable(runs, manifests)
    found = _graded(runs, manifests)
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        raise GraderError(f"{out} is not empty; merge into a new folder")
    first = manifests[0]
    merged = MergedRun(out, first["assignment"], int(first["seed"]))
    merged.missing = sorted({name for m in manifests for name in m.get("submissions", {})}
                            - set(found))
    if on_start:
        on_start(len(found))
    for name, (run, path) in sorted(found.items()):
        shutil.copytree(run / "submissions" / name, out / "submissions" / name)
        merged.results.append(read_results_json(out / "submissions" / name, path))
        if on_result:
            on_result(merged.results[-1])
    _copy_plans(runs, out)
    _write_manifest(merged, runs, manifests, {name: path for name, (_, path) in found.items()})
    report_run(merged.results, RunInfo(out, merged.assignment), reporters)
    return merged


def _check_comparable(runs: Sequence[Path], manifests: Sequence[dict]) -> None:
    if not runs:
        raise GraderError("nothing to merge: name the output folders of the runs")
    for key in SAME:
        values = {str(m.get(key)) for m in manifests}
        if len(values) > 1:
            shown = ", ".join(f"{run} has {m.get(key)}" for run, m in zip(runs, manifests, strict=True))
            raise GraderError(f"cannot merge runs with different {key.replace('_', ' ')}s ({shown}): "
                              "grade every shard with the same assignment, spec and --seed")


def _graded(runs: Sequence[Path], manifests: Sequence[dict]) -> dict[str, tuple[Path, str]]:
    """Each graded submission's name -> (the run holding it, its notebook's path); the same
    submission graded in two runs is taken once, two submissions under one name refused."""
    found: dict[str, tuple[Path, str]] = {}
    for run, manifest in zip(runs, manifests, strict=True):
        for results in sorted((run / "submissions").glob("*/results.json")):
            name = results.parent.name
            path = str(manifest.get("submissions", {}).get(name, ""))
            if name in found and not _same(found[name], (run, path), name):
                raise GraderError(
                    f"submission {name!r} is in {found[name][0]} and in {run} with different "
                    "results or notebooks; shards of one run never share a name, so these are "
                    "not shards of one run (give the notebooks distinct names)")
            found.setdefault(name, (run, path))
    return found


def _same(first: tuple[Path, str], second: tuple[Path, str], name: str) -> bool:
    """The same notebook (path) with the same results, however long each run took."""
    def content(run: Path) -> dict:
        data = read_document(run / "submissions" / name / "results.json")
        if data is None:
            raise GraderError(f"{run / 'submissions' / name / 'results.json'} cannot be read")
        data.pop("execution_time", None)
        return data

    return first[1] == second[1] and content(first[0]) == content(second[0])


def _copy_plans(runs: Sequence[Path], out: Path) -> None:
    """The runs' plans (hidden inputs, reference answers), so rescoring needs no new plan."""
    for run in runs:
        for plan in sorted((run / ".plan").glob("*/plan.json")):
            target = out / ".plan" / plan.parent.name
            if not target.exists():
                shutil.copytree(plan.parent, target)


def _write_manifest(merged: MergedRun, runs: Sequence[Path], manifests: Sequence[dict],
                    submissions: dict[str, str]) -> None:
    first = manifests[0]
    merged.out.mkdir(parents=True, exist_ok=True)
    write_run_json(
        merged.out, assignment=first.get("assignment"), assignment_folder=first.get("assignment_folder"),
        spec_fingerprint=first.get("spec_fingerprint"), seed=merged.seed,
        isolation="; ".join(dict.fromkeys(str(m.get("isolation")) for m in manifests)),
        merged_from=[{"folder": str(run.resolve()), "shard": m.get("shard")}
                     for run, m in zip(runs, manifests, strict=True)],
        submissions=dict(sorted(submissions.items())))
