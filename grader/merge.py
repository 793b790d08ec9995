"""Joining the output folders of sharded runs into one (``grader merge``).

A CI matrix grades ``--shard 1/N`` to ``--shard N/N`` on N machines, each into an output
folder of its own. Merging copies every graded submission's folder, the plan, and writes one
``gradebook.csv`` and one ``run.json``, so that ``grader rescore`` and ``grader report`` work
on the result as on a single run's folder. Nothing is run or scored again: the results are
joined as they were graded. Runs of different assignments, specs or seeds are refused (their
hidden inputs differ, so their grades are not comparable), and so is one name standing for
two different submissions.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import __version__
from grader.errors import GraderError
from grader.files import atomic_write
from grader.grading import read_manifest
from grader.reporters import write_gradebook
from grader.results import CheckInfo, CheckResult, QuestionScore, SubmissionResult

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
          on_result: Callable[[SubmissionResult], None] | None = None) -> MergedRun:
    """Join the output folders ``runs`` into the new folder ``out``."""
    manifests = [read_manifest(run) for run in runs]
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
        merged.results.append(_read_result(out / "submissions" / name, path))
        if on_result:
            on_result(merged.results[-1])
    _copy_plans(runs, out)
    _write_manifest(merged, runs, manifests, {name: path for name, (_, path) in found.items()})
    write_gradebook(merged.results, out / "gradebook.csv")
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
        data = json.loads((run / "submissions" / name / "results.json").read_text(encoding="utf-8"))
        data.pop("execution_time", None)
        return data

    return first[1] == second[1] and content(first[0]) == content(second[0])


def _read_result(folder: Path, path: str) -> SubmissionResult:
    """A submission's result read back from its results.json (what the gradebook needs)."""
    try:
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        extra = data["extra_data"]
        return SubmissionResult(
            submission=folder.name, path=path, assignment=str(extra["assignment"]),
            checks=[_check(test) for test in data["tests"]],
            questions=[QuestionScore(str(q["id"]), str(q["title"]), float(q["score"]),
                                     float(q["max_score"])) for q in extra["questions"]],
            problem=extra.get("problem"), notes=_notes(data["output"], extra.get("problem")),
            timings={"total": float(data.get("execution_time", 0))})
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise GraderError(f"{folder / 'results.json'} is not a results file the grader "
                          f"wrote ({type(exc).__name__}: {exc})") from exc


def _notes(output: str, problem: str | None) -> list[str]:
    """The feedback beyond the checks, as one note (results.json joins them into one text)."""
    if problem:
        output = output.removeprefix(f"Could not grade this notebook: {problem}")
    output = output.strip("\n")
    return [output] if output else []


def _check(test: dict[str, Any]) -> CheckResult:
    question = str(test["tags"][0])
    info = CheckInfo(id=str(test["extra_data"]["check"]),
                     name=str(test["name"]).removeprefix(f"{question}: "), question=question,
                     points=float(test["max_score"]), public=bool(test["extra_data"]["public"]))
    return CheckResult(info, passed=test["status"] == "passed", message=str(test["output"]))


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
    manifest = {
        **{key: first.get(key) for key in ("assignment", "assignment_folder", "spec_fingerprint")},
        "seed": merged.seed,
        "grader_version": __version__,
        "isolation": "; ".join(dict.fromkeys(str(m.get("isolation")) for m in manifests)),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "merged_from": [{"folder": str(run.resolve()), "shard": m.get("shard")}
                        for run, m in zip(runs, manifests, strict=True)],
        "submissions": dict(sorted(submissions.items())),
    }
    merged.out.mkdir(parents=True, exist_ok=True)
    atomic_write(merged.out / "run.json", json.dumps(manifest, indent=2).encode())
