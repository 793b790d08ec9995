"""Warm workers: the default way children start, with the cold path's results and guarantees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grader.checks.namespaces import LiveNamespace, ReplayNamespace
from grader.execution.executor import child_environment, execute
from grader.execution.pool import WarmPool
from grader.execution.sandbox import detect
from grader.grading import GradeOptions, grade
from grader.plan.harness import Harness
from grader.spec import Limits
from grader.spec.notebook import CodeCell
from tests.conftest import EXAMPLES, REPO, SANDBOX

LIMITS = Limits(cell_timeout=5, probe_timeout=2, notebook_timeout=30, memory_mb=1024)


def _answer(source: str, name: str, pool: WarmPool) -> object:
    planner = LiveNamespace("student", {}, {})
    with pytest.raises(Exception):  # noqa: B017 - the empty planner cannot answer; it records
        planner.value(name)
    observations = execute("t", [CodeCell(0, 0, source)], Harness(plan=planner.plan), LIMITS,
                           pool.sandbox, pool)
    return ReplayNamespace("student", observations.probes).value(name)


@pytest.fixture
def pool(tmp_path):
    sandbox = detect(SANDBOX)
    if WarmPool.unusable(sandbox):
        pytest.skip(WarmPool.unusable(sandbox))
    with WarmPool(sandbox, 1, ("no_such_module_for_grader",), child_environment(tmp_path)) as made:
        yield made


def test_each_notebook_gets_a_new_process_from_the_same_worker(pool):
    source = "import os\nfacts = [os.getpid(), os.getppid(), open('/proc/self/stat').read().split()[21]]"
    first, second = _answer(source, "facts", pool), _answer(source, "facts", pool)
    assert first != second  # another process (its start time differs even where pids repeat)
    assert pool.workers[0].ready  # the same worker served both, and an unknown preload hurt nothing


def test_a_worker_that_dies_costs_no_submission(pool):
    assert _answer("x = 1", "x", pool) == 1
    worker = pool.workers[0]
    os.killpg(worker.process.pid, signal.SIGKILL)  # the worker is gone (not the student's doing)
    worker.process.wait()
    assert _answer("y = 2", "y", pool) == 2  # that attempt ran cold
    assert _answer("z = 3", "z", pool) == 3  # and a new worker took over
    assert worker.process is not None and worker.process.poll() is None


@pytest.mark.slow
def test_warm_and_cold_grade_alike_and_warm_is_the_default(tmp_path):
    from grader.spec import load_assignment

    assignment = load_assignment("convolve-by-hand")
    paths = [EXAMPLES / "partly-correct.ipynb", EXAMPLES / "infinite-loop.ipynb",
             EXAMPLES / "syntax-error.ipynb"]
    scores = {}
    for label, warm in (("warm", True), ("cold", False)):
        out = tmp_path / label
        default = {} if warm else {"warm": False}  # warm unless told otherwise
        options = GradeOptions(out=out, jobs=2, seed=3, sandbox=SANDBOX, **default)
        run = grade(assignment, paths, options)
        scores[label] = {r.submission: (r.score, [(c.check.id, c.passed) for c in r.checks])
                         for r in run.results}
        peaks = [json.loads(p.read_text())["timings"].get("peak_mb")
                 for p in out.glob("submissions/*/observations.json")]
        assert all(peaks) if warm else not any(peaks)  # only a warm worker measures its children
    assert scores["warm"] == scores["cold"]
    assert scores["warm"]["partly-correct"][0] == pytest.approx(11.8333, abs=1e-3)


@pytest.mark.slow
def test_grading_a_numpy_assignment_never_imports_tensorflow_in_the_grader(tmp_path):
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from grader.cli import main\n"
        f"notebook = {str(EXAMPLES / 'reference.ipynb')!r}\n"
        f"result = CliRunner().invoke(main, ['grade', 'convolve-by-hand', notebook,"
        f" '--out', {str(tmp_path / 'out')!r}, '--seed', '1', '-q', '--sandbox', {SANDBOX!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'dask', 'distributed') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert json.loads((Path(tmp_path) / "out" / "submissions" / "reference" / "results.json")
                      .read_text())["score"] == 20
