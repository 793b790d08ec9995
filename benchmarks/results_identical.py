"""Are the grader's outputs on the bundled examples the same as those of an earlier commit?

    python benchmarks/results_identical.py [--before REV] [--assignment NAME] [--seed N]

Grades the assignment's ``examples/`` with the same ``--seed`` twice, once with the grader of
``REV`` (extracted with ``git archive`` into a temporary folder, run from there) and once with
this working tree, and compares, byte for byte: every ``results.json``, ``feedback.md``,
``feedback.html`` and ``gradebook.csv``. One field differs between any two runs of the same
code, ``execution_time`` in ``results.json`` (the wall time of that run), so it is compared
after being blanked. Then this tree rescores the earlier run from its stored observations
(``grader rescore``, which runs no notebook), and those ``results.json`` must equal the
earlier ones with nothing blanked at all. Exit status 0 when everything is identical.

The default ``REV`` is the last commit before the rest of issue 15 (taint computed once,
forbidden.py split, per-submission reporters); an earlier one, 802348d, was the last before
the package was laid out in subpackages. The default assignment is convolve-by-hand, whose
examples run in seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEFORE = "2f0276b"
COMPARED = ("results.json", "feedback.md", "feedback.html")
WALL_TIME = re.compile(rb'"execution_time": [0-9.e+-]+')


def grade(source: Path, assignment: str, seed: int, out: Path) -> None:
    """``grader grade`` of the assignment's examples, with the grader found in ``source``."""
    examples = REPO / "assignments" / assignment / "examples"
    env = {**os.environ, "PYTHONPATH": str(source), "GRADER_ASSIGNMENTS": str(REPO / "assignments")}
    command = [sys.executable, "-m", "grader.cli", "grade", assignment, str(examples),
               "--out", str(out), "--seed", str(seed), "--jobs", "1", "--no-cache", "--quiet"]
    subprocess.run(command, cwd=source, env=env, check=True)


def rescore(source: Path, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(source), "GRADER_ASSIGNMENTS": str(REPO / "assignments")}
    command = [sys.executable, "-m", "grader.cli", "rescore", str(out), "--quiet"]
    subprocess.run(command, cwd=source, env=env, check=True)


def differences(before: Path, after: Path, blank_wall_time: bool) -> list[str]:
    """The files of ``before`` that ``after`` does not reproduce byte for byte."""
    found = []
    names = sorted(p.name for p in (before / "submissions").iterdir())
    if names != sorted(p.name for p in (after / "submissions").iterdir()):
        found.append("the submissions differ")
    for name in names:
        for file in COMPARED:
            old = (before / "submissions" / name / file).read_bytes()
            new_path = after / "submissions" / name / file
            new = new_path.read_bytes() if new_path.is_file() else b""
            if blank_wall_time:
                old, new = WALL_TIME.sub(b"", old), WALL_TIME.sub(b"", new)
            if old != new:
                found.append(f"submissions/{name}/{file}")
    if (before / "gradebook.csv").read_bytes() != (after / "gradebook.csv").read_bytes():
        found.append("gradebook.csv")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with")
    parser.add_argument("--assignment", default="convolve-by-hand")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grader-identical-") as folder:
        work = Path(folder)
        old_source = work / "before"
        old_source.mkdir()
        archive = subprocess.run(["git", "archive", args.before, "grader", "pyproject.toml"],
                                 cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_source)], input=archive, check=True)
        grade(old_source, args.assignment, args.seed, work / "old")
        grade(REPO, args.assignment, args.seed, work / "new")
        fresh = differences(work / "old", work / "new", blank_wall_time=True)
        shutil.copytree(work / "old", work / "rescored", symlinks=True)
        rescore(REPO, work / "rescored")
        rescored = differences(work / "old", work / "rescored", blank_wall_time=False)
        count = len(list((work / "old" / "submissions").iterdir()))
    print(f"{args.assignment}, seed {args.seed}, {count} examples, grader of {args.before} vs this tree")
    print(f"  graded again:          {'identical' if not fresh else 'DIFFERENT: ' + ', '.join(fresh)}"
          "  (results.json with execution_time blanked, feedback.md, feedback.html, gradebook.csv)")
    print(f"  rescored from storage: {'identical' if not rescored else 'DIFFERENT: ' + ', '.join(rescored)}"
          "  (every byte)")
    return 1 if fresh or rescored else 0


if __name__ == "__main__":
    sys.exit(main())
