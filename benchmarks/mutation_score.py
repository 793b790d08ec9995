"""How strong are the shipped assignments' checks? Their mutation score, per question.

For each assignment (default: convolve-by-hand), every mutant of the reference's solution
regions (``grader.tools.mutate``: one student-like slip per mutant, see ``OPERATORS``) is graded by
the normal engine, isolated and in parallel, and the script prints per question the number of
mutants graded, killed, surviving and excluded as equivalent (listed with a reason in the
assignment's ``equivalent-mutants.toml``), the kill rate, and the overall figure with the
number of mutants and the wall time. Every surviving mutant is printed with its diff and the
question that should have failed it.

The target (issue 8) is a kill rate of at least 95% of the non-equivalent mutants per
assignment; the script exits 1, loudly, below ``--target``. It asserts nothing about time.
TensorFlow assignments (build-cnn) cost ~20 s per graded notebook: pass them by name, with
``--max`` for a sample.

Usage::

    python benchmarks/mutation_score.py [--assignment convolve-by-hand]... [--jobs 2]
        [--seed 1] [--max N] [--target 95] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from grader.spec import load_assignment
from grader.tools.mutate import MutateOptions, mutate, survivors_text, write_reports

DEFAULT_ASSIGNMENTS = ["convolve-by-hand"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", action="append", dest="assignments", metavar="NAME",
                        help="assignment to measure (repeatable; default: convolve-by-hand)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants graded in parallel (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="hidden inputs and sample (default 1)")
    parser.add_argument("--max", type=int, default=None, help="grade a seeded sample of N mutants")
    parser.add_argument("--target", type=float, default=95.0,
                        help="minimum overall kill rate in percent (default 95)")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the reports and graded mutants here (default: a temporary folder)")
    return parser.parse_args(argv)


def measure(name: str, args: argparse.Namespace, scratch: Path) -> bool:
    assignment = load_assignment(name)
    out = scratch / name
    started = time.perf_counter()
    report = mutate(assignment, MutateOptions(out=out, jobs=args.jobs, seed=args.seed, max=args.max))
    seconds = time.perf_counter() - started
    write_reports(report, out)
    overall = report.overall()
    sampled = f"a sample of {args.max} (seed {args.seed}) of " if args.max else ""
    print(f"\n{name}: {sampled}{report.generated} mutants, {overall.excluded} excluded as equivalent, "
          f"graded with --jobs {args.jobs} --seed {report.seed}")
    print(f"{'question':<18} {'mutants':>7} {'killed':>7} {'survived':>8} {'excluded':>8} {'kill rate':>9}")
    for tally in [*report.tallies(), overall]:
        rate = "-" if tally.kill_rate is None else f"{100 * tally.kill_rate:.1f}%"
        print(f"{tally.question:<18} {tally.graded:>7} {tally.killed:>7} {tally.survived:>8} "
              f"{tally.excluded:>8} {rate:>9}")
    per_mutant = seconds / max(1, overall.graded)
    print(f"time: {seconds:.0f} s wall ({per_mutant:.2f} s per graded mutant, plan included); "
          f"reports in {out}")
    if report.survivors:
        print(survivors_text(report), end="")
    rate = 100 * (overall.kill_rate or 0.0)
    if overall.graded and rate < args.target:
        print(f"{'!' * 72}\n{name}: kill rate {rate:.1f}% is below the target {args.target:g}%: "
              f"strengthen the checks (or list truly equivalent mutants, with a reason)\n{'!' * 72}")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()}; {os.cpu_count()} cores; load average {load:.1f}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="mutation-score-") as temporary:
        scratch = args.out or Path(temporary)
        for name in args.assignments or DEFAULT_ASSIGNMENTS:
            ok = measure(name, args, scratch) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
