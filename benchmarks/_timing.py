"""Helpers shared by the per-assignment timing benchmarks (grade one notebook, time it)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from types import ModuleType

from grader.files import load_module
from grader.grading import GradeOptions, grade
from grader.observations import Observations
from grader.plan import make_plan


def load_checks(folder: Path) -> ModuleType:
    """The assignment's checks module (TensorFlow-free): its data splits and constants."""
    return load_module(folder / "checks.py")


def grade_once(assignment, submission: Path, seed: int, scratch: Path) -> dict:
    out = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    started = time.perf_counter()
    make_plan(assignment, seed, cache=out / ".plan")
    plan_seconds = time.perf_counter() - started
    started = time.perf_counter()
    run = grade(assignment, [submission], GradeOptions(out=out, jobs=1, seed=seed))
    notebook_seconds = time.perf_counter() - started
    (result,) = run.results
    observations = Observations.load(out / "submissions" / result.submission)
    return {"plan": plan_seconds, "notebook": notebook_seconds, "result": result,
            "observations": observations}


def report_breakdown(observations: Observations) -> None:
    cells = sorted(observations.cells, key=lambda c: -c.seconds)[:5]
    probes = sorted(observations.probes.values(), key=lambda p: -p.seconds)
    print("\nslowest cells of the median run (code cell number: seconds): "
          + ", ".join(f"{c.index + 1}: {c.seconds:.1f}" for c in cells))
    print(f"probes: {len(probes)}, {sum(p.seconds for p in probes):.1f} s in all, slowest "
          + ", ".join(f"{p.seconds:.1f}" for p in probes[:3]))
    cell_total = sum(c.seconds for c in observations.cells)
    child = observations.timings.get("execute", 0.0)
    print(f"child process {child:.1f} s = cells {cell_total:.1f} s + probes "
          f"{sum(p.seconds for p in probes):.1f} s + start-up and TensorFlow import (prelude)")
