"""How long does a change of points take to reach a whole class, with nothing run again?

The scenario of the deadline night: a class of N submissions (default 300) is graded; the
instructor then changes the points of one check and runs the same ``grader grade`` command
into the same output folder. Scoring is a pure function of the stored observations, so the
second run must execute no notebook: this script checks that (every submission's recorded
execution, ``observations.json`` timings ``execute``, is the one of the first run; a
re-executed notebook would have a new one) and that the new points reached every
``results.json``, and prints both wall times.

The class is made of the convolve-by-hand examples (reference, partly correct, untouched,
uses scipy, syntax error) in turn, each copy made distinct by an extra code cell, so no
two submissions share stored observations. It asserts nothing about time.

Usage::

    python benchmarks/rescore_speed.py [--students 300] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "assignments" / "convolve-by-hand" / "examples"
KINDS = ("reference", "partly-correct", "untouched", "uses-scipy", "syntax-error")
CHANGE = ('@check("output_size", points=2)', '@check("output_size", points=4)')


def make_class(folder: Path, students: int) -> None:
    folder.mkdir(parents=True)
    notebooks = {kind: nbformat.read(EXAMPLES / f"{kind}.ipynb", as_version=4) for kind in KINDS}
    for number in range(students):
        kind = KINDS[number % len(KINDS)]
        copy = nbformat.from_dict(json.loads(json.dumps(notebooks[kind])))
        copy.cells.append(nbformat.v4.new_code_cell(f"student_number = {number}"))
        nbformat.write(copy, folder / f"student-{number:03d}-{kind}.ipynb")


def copy_assignment(root: Path) -> Path:
    folder = root / "assignments" / "convolve-by-hand"
    shutil.copytree(REPO / "assignments" / "convolve-by-hand", folder,
                    ignore=shutil.ignore_patterns("examples"))
    spec = folder / "assignment.toml"
    reference = (REPO / "reference" / "convolve-by-hand.ipynb").as_posix()
    spec.write_text(spec.read_text().replace("../../reference/convolve-by-hand.ipynb", reference))
    return folder


def grade(folder: Path, out: Path, jobs: int, environment: dict[str, str], extra: list[str]) -> float:
    command = [sys.executable, "-m", "grader.cli", "grade", "convolve-by-hand", str(folder),
               "--out", str(out), "--jobs", str(jobs), "-q", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, env=environment, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"grader grade failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def executions(out: Path) -> dict[str, float | None]:
    return {path.parent.name: json.loads(path.read_text())["timings"].get("execute")
            for path in out.glob("submissions/*/observations.json")}


def max_scores(out: Path) -> set[float]:
    return {json.loads(path.read_text())["extra_data"]["max_score"]
            for path in out.glob("submissions/*/results.json")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rescore-speed-") as scratch:
        root = Path(scratch)
        make_class(root / "class", args.students)
        checks = copy_assignment(root) / "checks.py"
        environment = {**os.environ, "GRADER_ASSIGNMENTS": str(root / "assignments")}
        out = root / "out"
        first = grade(root / "class", out, args.jobs, environment, ["--seed", "1"])
        before, points_before = executions(out), max_scores(out)
        text = checks.read_text()
        assert text.count(CHANGE[0]) == 1, "the check whose points change is not in checks.py"
        checks.write_text(text.replace(*CHANGE))
        second = grade(root / "class", out, args.jobs, environment, [])
        after, points_after = executions(out), max_scores(out)
    rerun = [name for name, seconds in after.items() if before.get(name) != seconds]
    print(f"{args.students} submissions, --jobs {args.jobs}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"first grading (every notebook runs):          {first:7.1f} s  "
          f"({first / args.students:.3f} s per submission)")
    print(f"after a change of points (same command, out): {second:7.1f} s  "
          f"({second / args.students:.3f} s per submission)")
    print(f"notebooks executed again: {len(rerun)}; max score {sorted(points_before)} -> "
          f"{sorted(points_after)}")
    if rerun or points_after == points_before or len(after) != args.students:
        print("FAILED: the change of points must reach every submission without running any")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
