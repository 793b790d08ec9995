"""The per-cell time limit holds even when a cell defeats the runner's own timer (issue 13):
it installs its own SIGALRM handler, cancels the timer, blocks the signal, or removes the
line tracer; or (issue 21) it forges the runner's lines (cell ends, starts again, the probes
marker, done) to push the deadline back. The process that waits for the notebook kills it
from outside after the cell's limit (plus a grace), and the notebook runs again without that
cell, which is recorded as a timeout. Each attack is the *first* code cell, so the rest of
the notebook must still earn everything: 20 for the reference."""

from __future__ import annotations

import nbformat
import pytest

from grader.execution.executor import STEP_GRACE
from grader.spec import load_assignment
from tests.conftest import EXAMPLES, copy_assignment, grade_all

CELL_TIMEOUT = 2
LOOP = ("import time\nwhile True:\n    try:\n        time.sleep(0.01)\n"
        "    except BaseException:\n        pass\n")
#: The runner's event log, found in memory, and a loop the runner's own timer cannot stop.
FORGE = ("import gc, signal\nfrom grader.child.runner import EventLog\n"
         "write = next(o for o in gc.get_objects() if isinstance(o, EventLog)).write\n")
HANG = "signal.signal(signal.SIGALRM, lambda *a: None)\n" + LOOP
ATTACKS = {
    "own-sigalrm-handler": "import signal\nsignal.signal(signal.SIGALRM, lambda *a: None)\n" + LOOP,
    "own-setitimer": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                     "signal.setitimer(signal.ITIMER_REAL, 3600)\n" + LOOP,
    "blocked-sigalrm": "import signal, sys\nsys.settrace(None)\n"
                       "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\n" + LOOP,
    "busy-loop-in-c": "import signal\nsignal.signal(signal.SIGALRM, lambda *a: None)\n"
                      "sum(range(10**12))\n",
    # issue 21: lines forged on the channel to push the watchdog's deadline back
    "forged-cell-ends": FORGE + "for _ in range(200):\n"
                        "    write({'event': 'cell', 'index': 0, 'status': 'ok'})\n"
                        "    write({'event': 'cell-start', 'index': 0})\n" + HANG,
    "forged-probes-and-done": FORGE + "write({'event': 'probes'})\nwrite({'event': 'done'})\n"
                              "write({'event': 'probe-start', 'number': 10**6})\n" + HANG,
}

#: Those that defeat the runner's own timer. A SIGALRM blocked in the main thread may still
#: reach the process through another of its threads, so the runner's timer may stop that
#: one itself: either way the cell stops.
OUTSIDE = {"own-sigalrm-handler", "own-setitimer", "busy-loop-in-c", "forged-cell-ends",
           "forged-probes-and-done"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("watchdog")
    with pytest.MonkeyPatch.context() as monkeypatch:
        folder = copy_assignment(root, monkeypatch)
        spec = folder / "assignment.toml"
        spec.write_text(spec.read_text().replace("cell_timeout = 30", f"cell_timeout = {CELL_TIMEOUT}"))
        assignment = load_assignment("convolve-by-hand")
        notebooks = root / "notebooks"
        notebooks.mkdir()
        for name, attack in ATTACKS.items():
            notebook = nbformat.read(str(EXAMPLES / "reference.ipynb"), as_version=4)
            first = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
            notebook.cells.insert(first, nbformat.v4.new_code_cell(attack))
            nbformat.write(notebook, str(notebooks / f"{name}.ipynb"))
        return grade_all(assignment, [notebooks], root / "out")


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_cell_is_stopped_and_the_rest_graded(graded, name):
    result = graded[name]
    assert result.score == 20.0
    notes = "\n".join(result.notes)
    stopped = "stopped from outside the notebook's process"
    assert stopped in notes if name in OUTSIDE else (stopped in notes or "time limit" in notes)
    assert result.timings.get("execute", 0) < 120


def test_the_grace_is_short():
    assert STEP_GRACE <= 10
