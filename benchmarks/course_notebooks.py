"""Grade a folder of the course's own Lab 2 notebooks, as an instructor hands them out.

For each notebook under DIR (default: ``../shared/course/mit-2023-lab2`` beside the repo),
the assignment is chosen from its code (MNIST: build-cnn; the face dataset loader:
facial-detection; or ``--assignment``), and the notebook is graded alone ``--repeats`` times
into fresh output folders, through the library, one job at a time. Printed per notebook:
its score per question, the median wall time of grading it (plan excluded: the plan is made
once per batch and timed apart), the cells that failed (with their error), and what the
grading profile capped (``grader.child.profile``'s sentences, as the feedback shows them).

Data: offline by default; real data through ``GRADER_MNIST=/path/mnist.npz`` and
``GRADER_FACES=/path/train_face.h5``, as when grading. Whether the real ``mitdeeplearning``
package or the grader's stand-in serves ``import mitdeeplearning`` is printed first.

It asserts nothing about time; the targets (issue 12) are 120 s for a Part 1 notebook and
300 s for a Part 2 notebook on 2 cores.

Usage::

    python benchmarks/course_notebooks.py [DIR] [--repeats 3] [--seed 1] [--assignment NAME]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from grader.grading import GradeOptions, grade
from grader.observations import Observations
from grader.plan import make_plan
from grader.results import SubmissionResult
from grader.spec import Assignment, load_assignment

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO.parent / "shared" / "course" / "mit-2023-lab2"
CAP_MARKERS = ("(tqdm) stopped after", "Model.fit:")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR,
                        help=f"folder of course notebooks (default {DEFAULT_DIR})")
    parser.add_argument("--repeats", type=int, default=3, help="gradings per notebook (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--assignment", help="grade every notebook with this assignment")
    return parser.parse_args(argv)


def assignment_for(path: Path) -> str | None:
    """build-cnn for the MNIST part, facial-detection for the faces part, from the code."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    code = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
    if "TrainingDatasetLoader" in code or "train_face" in code:
        return "facial-detection"
    if "mnist" in code.lower():
        return "build-cnn"
    return None


def grade_alone(assignment: Assignment, notebook: Path, seed: int, scratch: Path,
                plans: Path) -> tuple[float, SubmissionResult, Observations]:
    out = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    plan_folder = plans / assignment.name
    if plan_folder.exists():  # the batch's plan, made once: copied, not made again
        import shutil

        shutil.copytree(plan_folder, out / ".plan")
    started = time.perf_counter()
    run = grade(assignment, [notebook], GradeOptions(out=out, jobs=1, seed=seed))
    seconds = time.perf_counter() - started
    (result,) = run.results
    return seconds, result, Observations.load(out / "submissions" / result.submission)


def caps_of(result: SubmissionResult) -> list[str]:
    lines = [line.strip() for check in result.checks for line in check.message.splitlines()]
    lines += [line.strip() for note in result.notes for line in note.splitlines()]
    found: list[str] = []
    for line in lines:
        if any(marker in line for marker in CAP_MARKERS) and line not in found:
            found.append(line)
    return found


def report(notebook: Path, name: str, times: list[float], result: SubmissionResult,
           observations: Observations) -> None:
    print(f"\n{notebook.name} ({name}): {result.score:g}/{result.max_score:g}, "
          f"{statistics.median(times):.1f} s median of {len(times)} "
          f"({', '.join(f'{t:.1f}' for t in times)})")
    for question in result.questions:
        print(f"  {question.id:<30} {question.earned:g}/{question.possible:g}")
    failed = [c for c in observations.cells if c.status != "ok"]
    for cell in failed:
        error = cell.error or {}
        print(f"  cell {cell.index + 1} {cell.status}: {error.get('type', '')}: "
              f"{error.get('message', '')[:160]}")
    if not failed:
        print("  every code cell ran without error")
    for line in caps_of(result):
        print(f"  capped: {line}")
    lost = [c for c in result.checks if not c.passed]
    for check in lost[:8]:
        first = check.message.splitlines()[0] if check.message else ""
        print(f"  lost {check.check.points:g} ({check.check.name}): {first[:200]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.folder.is_dir():
        print(f"no folder {args.folder}: pass the folder of the course's notebooks")
        return 2
    real = importlib.util.find_spec("mitdeeplearning")
    print(f"{platform.node()}, {platform.processor() or platform.machine()}, python "
          f"{platform.python_version()}; mitdeeplearning: "
          + (f"the installed package ({real.origin})" if real else "the grader's stand-in"))
    notebooks = sorted(args.folder.rglob("*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="course-bench-") as scratch_name:
        scratch = Path(scratch_name)
        plans = scratch / "plans"
        for notebook in notebooks:
            name = args.assignment or assignment_for(notebook)
            if name is None:
                print(f"\n{notebook.name}: not a Lab 2 notebook, skipped")
                continue
            assignment = load_assignment(name)
            if not (plans / name).exists():
                started = time.perf_counter()
                make_plan(assignment, args.seed, cache=plans / name)
                print(f"\nplan of {name} (the reference run, once per batch): "
                      f"{time.perf_counter() - started:.1f} s")
            times, last = [], None
            for _ in range(args.repeats):
                seconds, result, observations = grade_alone(assignment, notebook, args.seed,
                                                            scratch, plans)
                times.append(seconds)
                last = (result, observations)
            assert last is not None
            report(notebook, name, times, *last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
