"""How fast does ``grader grade`` go, against nbgrader and nbconvert, on the same notebooks?

One run prints, on N copies of one correct submission (each copy made distinct by an extra
code cell ``submission_number = i``, so that no copy can reuse another's stored
observations):

* ``nbgrader autograde`` (nbgrader 0.9.6, installed by ``benchmarks/baselines.py`` into its
  own throwaway virtual environment and course folder; serial, as nbgrader is), and bare
  ``jupyter nbconvert --execute`` one process per notebook in that same environment;
* ``grader grade`` with ``--jobs 1`` and ``--jobs 2`` (warm workers, the default), with
  ``--jobs 2 --cold`` (a new interpreter per notebook), and through a local Dask cluster
  (a real ``dask scheduler`` and 1 or 2 single-threaded ``dask worker`` processes, started
  before the timing); every grader run has a fresh ``--out``, so each pays its own plan
  step and nothing is cached between runs; isolation is on (bubblewrap) whenever the
  machine has it, and the run says which;
* the ratio of each grader mode's wall time to nbgrader's (target: ``--jobs 2`` at most 1/3);
* the phase breakdown per notebook (start-up of the notebook process, cells, probes,
  scoring, writing results and feedback) and peak memory: the largest single process of
  each run (``ru_maxrss`` from ``os.wait4``) and each notebook process's own peak;
* for build-cnn (``--tf-copies``, 0 to skip): what a submission pays beyond its cells and
  probes, warm and cold; the difference is the TensorFlow import a warm worker saves
  (target: about 0 per submission when warm).

Every grader run must give every copy full marks, or the benchmark fails and prints no
figures. It makes no timing assertions.

Usage::

    python benchmarks/grade_speed.py [--copies 40] [--repeats 3] [--no-nbgrader] [--no-dask]
        [--tf-copies 2] [--submission assignments/convolve-by-hand/examples/reference.ipynb]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baselines  # noqa: E402 - a sibling script, not a package

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SUBMISSION = REPO / "assignments" / "convolve-by-hand" / "examples" / "reference.ipynb"
TF_SUBMISSION = REPO / "reference" / "build-cnn.ipynb"
SEED = 1


@dataclass
class Mode:
    """One thing being timed: its label and, per repeat, seconds and peak RSS (KiB)."""

    label: str
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
    parser.add_argument("--copies", type=int, default=40, help="notebooks per run (default 40)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode (default 3)")
    parser.add_argument("--submission", type=Path, default=DEFAULT_SUBMISSION,
                        help="notebook to copy (default: the convolve-by-hand reference)")
    parser.add_argument("--assignment", default="convolve-by-hand")
    parser.add_argument("--no-nbgrader", action="store_true", help="skip nbgrader and nbconvert")
    parser.add_argument("--no-dask", action="store_true", help="skip the local Dask cluster")
    parser.add_argument("--tf-copies", type=int, default=2,
                        help="build-cnn copies for the TensorFlow start-up figure (0: skip)")
    args = parser.parse_args(argv)
    if args.copies < 1 or args.repeats < 1:
        parser.error("--copies and --repeats must be at least 1")
    return args


def make_copies(submission: Path, folder: Path, copies: int) -> list[Path]:
    """``copies`` distinct notebooks: the submission plus a cell naming its copy."""
    folder.mkdir(parents=True)
    notebook = nbformat.read(submission, as_version=4)
    paths = []
    for number in range(copies):
        copy = nbformat.from_dict(json.loads(json.dumps(notebook)))
        copy.cells.append(nbformat.v4.new_code_cell(f"submission_number = {number}"))
        path = folder / f"copy-{number:03d}.ipynb"
        nbformat.write(copy, path)
        paths.append(path)
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


def time_grader(assignment: str, folder: Path, scratch: Path, expected: int, label: str,
                extra: list[str]) -> tuple[Timed, Path]:
    out = Path(tempfile.mkdtemp(prefix="out-", dir=scratch))  # fresh: no plan, no observations
    command = [sys.executable, "-m", "grader.cli", "grade", assignment, str(folder), "--out",
               str(out), "--seed", str(SEED), "-q", *extra]
    timed = run_timed(command, out.with_suffix(".log"))
    if timed.returncode != 0:
        raise BenchmarkError(f"{label} exited {timed.returncode}:\n" + tail(out.with_suffix(".log")))
    problems = check_gradebook(out, expected)
    if problems:
        raise BenchmarkError(f"{label}: not every copy got full marks:\n  " + "\n  ".join(problems))
    return timed, out


def phases(out: Path) -> dict[str, list[float]]:
    """Per-notebook phase times recorded in each submission's observations (the child's
    phases, and the grader's scoring and writing)."""
    found: dict[str, list[float]] = {}
    for folder in out.glob("submissions/*"):
        timings = json.loads((folder / "observations.json").read_text()).get("timings", {})
        for phase, value in timings.items():
            found.setdefault(phase, []).append(float(value))
    return found


PHASE_MEANING = {
    "overhead": "start of the notebook process (fork or interpreter) + prelude + teardown",
    "cells": "the notebook's cells",
    "probes": "the planned calls on hidden inputs",
    "execute": "the notebook process, all in (the three above)",
    "score": "scoring in the grader (the checks on the observations)",
    "write": "writing results.json, observations, feedback.html/.md",
    "peak_mb": "peak resident memory of the notebook process, MiB (warm only)",
}


@contextlib.contextmanager
def dask_cluster(workers: int, scratch: Path) -> Iterator[str]:
    """A real local Dask cluster: one scheduler and ``workers`` single-threaded workers."""
    scheduler_file = scratch / f"scheduler-{workers}.json"
    logs = scratch / f"dask-{workers}.log"
    processes = []
    with logs.open("ab") as log:
        def start(*arguments: str) -> None:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "dask", *arguments], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True))

        try:
            start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                  "--scheduler-file", str(scheduler_file))
            deadline = time.monotonic() + 60
            while not scheduler_file.is_file() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not scheduler_file.is_file():
                raise BenchmarkError("the Dask scheduler did not start:\n" + tail(logs))
            address = json.loads(scheduler_file.read_text())["address"]
            for _ in range(workers):
                start("worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard")
            _wait_for_workers(address, workers)
            yield address
        finally:
            for process in reversed(processes):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(count, timeout=120)


def record(mode: Mode, timed: Timed) -> None:
    mode.seconds.append(timed.seconds)
    mode.max_rss_kib = max(mode.max_rss_kib, timed.max_rss_kib)


def benchmark(args: argparse.Namespace, scratch: Path) -> tuple[list[Mode], dict[str, list[float]]]:
    folder = scratch / "submissions"
    make_copies(args.submission, folder, args.copies)
    modes: dict[str, Mode] = {}
    grader_modes = {"grader --jobs 1": ["--jobs", "1"], "grader --jobs 2": ["--jobs", "2"],
                    "grader --jobs 2 --cold": ["--jobs", "2", "--cold"]}
    breakdown: dict[str, list[float]] = {}
    env_bin = None if args.no_nbgrader else baselines.nbgrader_env()
    clusters = contextlib.ExitStack()
    addresses = {}
    if not args.no_dask:
        for workers in (1, 2):
            addresses[workers] = clusters.enter_context(dask_cluster(workers, scratch))
            grader_modes[f"grader via Dask, {workers} worker(s)"] = [
                "--scheduler", addresses[workers]]
    with clusters:
        for repeat in range(1, args.repeats + 1):
            print(f"repeat {repeat}/{args.repeats}:", end="", flush=True)
            if env_bin is not None:
                seconds = baselines.time_nbgrader_autograde(args.submission, args.copies, env_bin)
                record(modes.setdefault("nbgrader", Mode("nbgrader 0.9.6 autograde")), Timed(seconds, 0, 0))
                print(f" nbgrader {seconds:.1f}s;", end="", flush=True)
                seconds = baselines.time_nbconvert(args.submission, args.copies, env_bin)
                record(modes.setdefault("nbconvert", Mode("nbconvert --execute, serial")),
                       Timed(seconds, 0, 0))
                print(f" nbconvert {seconds:.1f}s;", end="", flush=True)
            for label, extra in grader_modes.items():
                timed, out = time_grader(args.assignment, folder, scratch, args.copies, label, extra)
                record(modes.setdefault(label, Mode(label)), timed)
                if label == "grader --jobs 2":
                    for phase, values in phases(out).items():
                        breakdown.setdefault(phase, []).extend(values)
                print(f" {label} {timed.seconds:.1f}s;", end="", flush=True)
            print()
    return list(modes.values()), breakdown


def tensorflow_start_up(copies: int, scratch: Path) -> dict[str, dict[str, float]]:
    """build-cnn: per-submission overhead (beyond cells and probes) and peak memory."""
    folder = scratch / "tf-submissions"
    make_copies(TF_SUBMISSION, folder, copies)
    found = {}
    for label, extra in (("warm", ["--jobs", "1"]), ("cold", ["--jobs", "1", "--cold"])):
        timed, out = time_grader("build-cnn", folder, scratch, copies, f"build-cnn {label}", extra)
        measured = phases(out)
        found[label] = {"overhead": statistics.median(measured["overhead"]),
                        "execute": statistics.median(measured["execute"]),
                        "peak_mb": max(measured.get("peak_mb", [0.0])),
                        "max_rss_mb": timed.max_rss_kib / 1024, "wall": timed.seconds}
    return found


def report(modes: list[Mode], copies: int, breakdown: dict[str, list[float]]) -> None:
    print()
    print(f"{'mode':<36} {'s/run':>7} {'s/nb':>6} {'min':>6} {'max':>6} {'max RSS':>9}")
    for mode in modes:
        median = statistics.median(mode.seconds)
        rss = f"{mode.max_rss_kib / 1024:5.0f} MiB" if mode.max_rss_kib else f"{'-':>9}"
        print(f"{mode.label:<36} {median:7.2f} {median / copies:6.3f} "
              f"{min(mode.seconds) / copies:6.3f} {max(mode.seconds) / copies:6.3f} {rss}")
    by_label = {m.label: statistics.median(m.seconds) for m in modes}
    nbgrader = by_label.get("nbgrader 0.9.6 autograde")
    if nbgrader:
        print()
        print("wall time relative to nbgrader autograde on the same notebooks (target for "
              "--jobs 2: <= 0.33x):")
        for label, seconds in by_label.items():
            if label.startswith("grader"):
                print(f"  {label:<34} {seconds / nbgrader:5.2f}x   ({nbgrader / seconds:4.1f} times "
                      "the throughput)")
    if breakdown:
        print()
        print("per notebook, grader --jobs 2, median over every graded copy of every repeat:")
        for phase in PHASE_MEANING:
            if phase in breakdown:
                unit = "MiB" if phase == "peak_mb" else "s  "
                print(f"  {phase:<9} {statistics.median(breakdown[phase]):8.3f} {unit}  "
                      f"{PHASE_MEANING[phase]}")
    print()
    print("s/run: median over the repeats of the whole command's wall time (grader runs "
          "include start-up and their plan step); s/nb = s/run / copies; min/max per notebook.")
    print("max RSS: ru_maxrss of the largest single process (not a sum) in any run of that mode.")


def report_tensorflow(found: dict[str, dict[str, float]]) -> None:
    print()
    print("build-cnn (TensorFlow), --jobs 1, median per submission:")
    for label, values in found.items():
        peak = f"{values['peak_mb']:.0f} MiB" if values["peak_mb"] else "not measured (cold)"
        print(f"  {label}: start-up + prelude {values['overhead']:.2f} s, notebook process "
              f"{values['execute']:.2f} s in all, its peak memory {peak}; largest process of "
              f"the run {values['max_rss_mb']:.0f} MiB")
    if {"warm", "cold"} <= set(found):
        saved = found["cold"]["overhead"] - found["warm"]["overhead"]
        print(f"  TensorFlow import and interpreter start paid per submission: warm "
              f"{found['warm']['overhead']:.2f} s (cold {found['cold']['overhead']:.2f} s, "
              f"{saved:.2f} s saved per submission)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()
    print(f"python {platform.python_version()} ({sys.executable}); {os.cpu_count()} cores; "
          f"{platform.platform()}; load average before {load[0]:.2f}")
    from grader.execution.sandbox import describe, detect

    print(f"isolation: {describe(detect('auto'))}")
    print(f"{args.copies} distinct copies of {args.submission.relative_to(REPO)}, assignment "
          f"{args.assignment}, {args.repeats} repeat(s), seed {SEED}")
    with tempfile.TemporaryDirectory(prefix="grade-speed-") as scratch:
        try:
            modes, breakdown = benchmark(args, Path(scratch))
            found = tensorflow_start_up(args.tf_copies, Path(scratch)) if args.tf_copies else {}
        except (BenchmarkError, baselines.BaselineError) as exc:
            print(flush=True)
            print(f"{'!' * 72}\nBENCHMARK FAILED, figures withheld: {exc}\n{'!' * 72}",
                  file=sys.stderr)
            return 1
    report(modes, args.copies, breakdown)
    if found:
        report_tensorflow(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
