"""How fast does ``grader grade`` go, and what does it cost over just running the notebook?

What is measured (wall clock, ``time.perf_counter`` around each subprocess):

* ``grader grade ASSIGNMENT FOLDER --jobs 1`` and ``--jobs 2`` over N identical copies of a
  submission, each run with a fresh ``--out`` folder so nothing is cached between repeats.
  Every grader run therefore includes its one-off *plan* step (running the checks on the
  reference notebook in a separate process), amortised over the N notebooks: with few copies
  that step weighs more per notebook than in a real batch of hundreds.
* ``grader grade`` of an empty folder: the interpreter start-up plus the plan step alone,
  reported per run (not per notebook) so the fixed cost can be read apart from the per-notebook
  cost.
* ``jupyter nbconvert --to notebook --execute`` run serially, one process per notebook, over
  the same copies: the cost of executing the notebook alone, as a grader built on nbconvert
  would pay it.

Why: the ratio grader/nbconvert is the grader's overhead (isolation, forbidden-API analysis,
hidden-input probes, scoring, writing results) over running the notebook at all. The script
also checks correctness while it times: every copy must get the full score in
``OUT/gradebook.csv`` or it warns loudly and exits non-zero. It makes no timing assertions.

Usage::

    python benchmarks/grade_speed.py [--copies 20] [--repeats 3]
        [--submission assignments/convolve-by-hand/examples/reference.ipynb]
        [--assignment convolve-by-hand]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SUBMISSION = REPO / "assignments" / "convolve-by-hand" / "examples" / "reference.ipynb"
SEED = 1


@dataclass
class Mode:
    """One thing being timed: its label and, per repeat, seconds and peak RSS (KiB)."""

    label: str
    per_notebook: bool = True
    seconds: list[float] = field(default_factory=list)
    max_rss_kib: int = 0


@dataclass
class Timed:
    seconds: float
    returncode: int
    max_rss_kib: int  # ru_maxrss of the largest single process in the command's reaped tree


class BenchmarkError(Exception):
    """A command failed or a grade was wrong: the figures would be meaningless."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=20, help="notebooks per run (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode (default 3)")
    parser.add_argument("--submission", type=Path, default=DEFAULT_SUBMISSION,
                        help="notebook to copy (default: the convolve-by-hand reference)")
    parser.add_argument("--assignment", default="convolve-by-hand",
                        help="assignment to grade against (default convolve-by-hand)")
    args = parser.parse_args(argv)
    if args.copies < 1 or args.repeats < 1:
        parser.error("--copies and --repeats must be at least 1")
    if not args.submission.is_file():
        parser.error(f"no such submission: {args.submission}")
    return args


def make_copies(submission: Path, folder: Path, copies: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = [folder / f"copy-{i:03d}.ipynb" for i in range(copies)]
    for path in paths:
        shutil.copyfile(submission, path)
    return paths


def run_timed(command: list[str], log: Path) -> Timed:
    """Run ``command`` to completion, output to ``log``; wall time and the tree's peak RSS.

    ``os.wait4`` gives the rusage of this one child, including the descendants it reaped, so
    ``ru_maxrss`` is the largest resident set of any *single* process of that tree (not a sum).
    """
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    return Timed(seconds, process.returncode, usage.ru_maxrss)


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def grader_command(assignment: str, folder: Path, out: Path, jobs: int) -> list[str]:
    return [sys.executable, "-m", "grader.cli", "grade", assignment, str(folder),
            "--out", str(out), "--jobs", str(jobs), "--seed", str(SEED), "-q"]


def check_gradebook(out: Path, expected: int) -> list[str]:
    """Problems with ``out/gradebook.csv``: missing rows, or any copy short of full marks."""
    path = out / "gradebook.csv"
    if not path.is_file():
        return [f"{path} was not written"]
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    problems = [f"{row['submission']}: {row['score']}/{row['max_score']}"
                + (f" ({row['problem']})" if row.get("problem") else "")
                for row in rows if float(row["score"]) != float(row["max_score"])]
    if len(rows) != expected:
        problems.append(f"{len(rows)} rows in the gradebook, expected {expected}")
    return problems


def time_grader(assignment: str, folder: Path, scratch: Path, jobs: int, expected: int) -> Timed:
    out = Path(tempfile.mkdtemp(prefix=f"out-j{jobs}-", dir=scratch))  # fresh: no plan cache
    timed = run_timed(grader_command(assignment, folder, out, jobs), out.with_suffix(".log"))
    if timed.returncode != 0:
        raise BenchmarkError(f"grader --jobs {jobs} exited {timed.returncode}:\n"
                             + tail(out.with_suffix(".log")))
    problems = check_gradebook(out, expected)
    if problems:
        raise BenchmarkError(f"grader --jobs {jobs}: not every copy got full marks:\n  "
                             + "\n  ".join(problems))
    collect_phases(out)
    return timed


PHASES: dict[str, list[float]] = {}


def collect_phases(out: Path) -> None:
    """Per-notebook phase times the executor recorded in each observations.json."""
    for path in out.glob("submissions/*/observations.json"):
        timings = json.loads(path.read_text()).get("timings", {})
        for phase in ("execute", "overhead", "cells", "probes"):
            if phase in timings:
                PHASES.setdefault(phase, []).append(float(timings[phase]))


def report_phases() -> None:
    if not PHASES:
        return
    print()
    print("per notebook, median over every graded copy (seconds):")
    meaning = {"execute": "the child, all in", "overhead": "sandbox + Python + shell start, teardown",
               "cells": "the notebook's cells", "probes": "the planned calls on hidden inputs"}
    for phase, values in PHASES.items():
        print(f"  {phase:<9} {statistics.median(values):6.3f}   {meaning[phase]}")


def nbconvert_available() -> bool:
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--version"],
                          capture_output=True, stdin=subprocess.DEVNULL)
    return done.returncode == 0


def time_nbconvert(copies: list[Path], scratch: Path) -> Timed:
    """Execute every copy with its own ``jupyter nbconvert --execute`` process, serially."""
    out = Path(tempfile.mkdtemp(prefix="nbconvert-", dir=scratch))
    total, peak = 0.0, 0
    for path in copies:
        command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                   "--output-dir", str(out), str(path)]
        log = out / f"{path.stem}.log"
        timed = run_timed(command, log)
        if timed.returncode != 0:
            raise BenchmarkError(f"nbconvert of {path.name} exited {timed.returncode}:\n"
                                 + tail(log))
        total, peak = total + timed.seconds, max(peak, timed.max_rss_kib)
    return Timed(total, 0, peak)


def record(mode: Mode, timed: Timed) -> None:
    mode.seconds.append(timed.seconds)
    mode.max_rss_kib = max(mode.max_rss_kib, timed.max_rss_kib)


def benchmark(args: argparse.Namespace, scratch: Path, with_nbconvert: bool) -> list[Mode]:
    folder, empty = scratch / "submissions", scratch / "empty"
    copies = make_copies(args.submission, folder, args.copies)
    empty.mkdir()
    modes = {"j1": Mode("grader --jobs 1"), "j2": Mode("grader --jobs 2"),
             "plan": Mode("grader, 0 notebooks (start-up + plan)", per_notebook=False)}
    if with_nbconvert:
        modes["nb"] = Mode("nbconvert --execute, serial")
    for repeat in range(1, args.repeats + 1):
        print(f"repeat {repeat}/{args.repeats}:", end="", flush=True)
        for key, jobs in (("j1", 1), ("j2", 2)):
            record(modes[key], time_grader(args.assignment, folder, scratch, jobs, args.copies))
            print(f" {modes[key].label} {modes[key].seconds[-1]:.1f}s;", end="", flush=True)
        record(modes["plan"], time_grader(args.assignment, empty, scratch, 1, 0))
        print(f" plan {modes['plan'].seconds[-1]:.1f}s;", end="", flush=True)
        if with_nbconvert:
            record(modes["nb"], time_nbconvert(copies, scratch))
            print(f" nbconvert {modes['nb'].seconds[-1]:.1f}s", end="", flush=True)
        print()
    return list(modes.values())


def report(modes: list[Mode], copies: int) -> None:
    print()
    print(f"{'mode':<40} {'unit':<6} {'median':>7} {'min':>7} {'max':>7} {'nb/min':>7} "
          f"{'max RSS':>9}")
    for mode in modes:
        scale = copies if mode.per_notebook else 1
        per = [s / scale for s in mode.seconds]
        unit = "s/nb" if mode.per_notebook else "s/run"
        median = statistics.median(per)
        rate = f"{60 / median:7.1f}" if mode.per_notebook else f"{'':>7}"
        print(f"{mode.label:<40} {unit:<6} {median:7.2f} {min(per):7.2f} {max(per):7.2f} {rate} "
              f"{mode.max_rss_kib / 1024:5.0f} MiB")
    by_label = {m.label: m for m in modes}
    nbconvert = by_label.get("nbconvert --execute, serial")
    if nbconvert:
        base = statistics.median(nbconvert.seconds)
        print()
        for label in ("grader --jobs 1", "grader --jobs 2"):
            ratio = statistics.median(by_label[label].seconds) / base
            print(f"{label} / nbconvert: {ratio:.2f}x  (median seconds per notebook)")
    report_phases()
    print()
    print("median/min/max over the repeats, per notebook (s/nb) or per run (s/run); "
          "grader runs include their plan step.")
    print("max RSS: ru_maxrss of the largest single process (not a sum) in any run of that "
          "mode, from os.wait4.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"python {platform.python_version()} ({sys.executable}); "
          f"{os.cpu_count()} cores; {platform.platform()}")
    print(f"{args.copies} copies of {args.submission}, assignment {args.assignment}, "
          f"{args.repeats} repeat(s), seed {SEED}")
    with_nbconvert = nbconvert_available()
    if not with_nbconvert:
        print("NOTE: `jupyter nbconvert` is not available, so there is no baseline to compare "
              "against. Install it with:  pip install -e .[bench]   (skipping that part)")
    with tempfile.TemporaryDirectory(prefix="grade-speed-") as scratch:
        try:
            modes = benchmark(args, Path(scratch), with_nbconvert)
        except BenchmarkError as exc:
            print(flush=True)
            print(f"{'!' * 72}\nBENCHMARK FAILED, figures withheld: {exc}\n{'!' * 72}",
                  file=sys.stderr)
            return 1
    report(modes, args.copies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
