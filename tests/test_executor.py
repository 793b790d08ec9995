"""The executor runs untrusted cells in a limited child and survives what they do."""

from __future__ import annotations

import os

import numpy as np
import pytest

from grader.authoring import StudentError
from grader.checks.namespaces import LiveNamespace, ReplayNamespace
from grader.execution.executor import MAX_ATTEMPTS, child_environment, execute
from grader.execution.pool import WarmPool
from grader.execution.sandbox import Sandbox
from grader.plan.harness import Harness
from grader.spec import Limits
from grader.spec.notebook import CodeCell
from grader.wire import Unsupported

FAST = Limits(cell_timeout=2, probe_timeout=1, notebook_timeout=30, memory_mb=1024)
LAUNCH: dict[str, WarmPool | None] = {"pool": None}


@pytest.fixture(scope="module", params=["cold", "warm"], autouse=True)
def launcher(request, tmp_path_factory):
    """Every test runs twice: a cold interpreter per child, and children forked warm."""
    if request.param == "cold":
        yield
        return
    with WarmPool(Sandbox("none", "unit tests"), 1, (),
                  child_environment(tmp_path_factory.mktemp("warm"))) as pool:
        LAUNCH["pool"] = pool
        yield
        LAUNCH["pool"] = None


def run(sources, calls=(), limits=FAST):
    """Execute ``sources`` as cells; ``calls(ns)`` makes probes; returns (observations, replay)."""
    planner = LiveNamespace("student", {}, {})
    for call in calls:
        try:
            call(planner)  # records the probe; the empty namespace cannot answer it
        except StudentError:
            pass
    cells = [CodeCell(i, i, s) for i, s in enumerate(sources)]
    observations = execute("t", cells, Harness(plan=planner.plan), limits, pool=LAUNCH["pool"])
    return observations, ReplayNamespace("student", observations.probes)


def test_cells_after_a_failing_cell_still_run():
    obs, student = run(["1 / 0", "def f():\n    return 42"], [lambda ns: ns.f()])
    assert [c.status for c in obs.cells] == ["error", "ok"]
    assert obs.cells[0].error["type"] == "ZeroDivisionError"
    assert student.f() == 42


def test_shell_escapes_are_recorded_not_run(tmp_path):
    marker = tmp_path / "touched"
    obs, _ = run([f"!touch {marker}\n%pip install foo\nx = 1",
                  f"%%bash\ntouch {marker}", "%tensorflow_version 2.x\ny = 2"])
    assert not marker.exists()
    assert [c.status for c in obs.cells] == ["ok", "ok", "ok"]
    assert obs.cells[0].shell == [f"!touch {marker}", "%pip install foo"]
    assert obs.cells[1].shell == [f"%%bash: touch {marker}"]
    assert obs.cells[2].ignored == ["%tensorflow_version 2.x"] and not obs.cells[2].shell


def test_unparseable_template_cell_is_a_syntax_error_and_the_rest_runs():
    obs, student = run(["x = # TODO", "y = 3"], [lambda ns: ns.value("y")])
    assert obs.cells[0].status == "syntax-error"
    assert student.value("y") == 3


def test_cell_time_limit_interrupts_even_a_loop_that_swallows_exceptions():
    loop = "while True:\n    try:\n        sum(range(1000))\n    except BaseException:\n        pass"
    obs, student = run([loop, "z = 5"], [lambda ns: ns.value("z")])
    assert obs.cells[0].status == "timeout"
    assert student.value("z") == 5


def test_probe_time_limit_and_strikes():
    calls = [lambda ns, i=i: ns.spin(i) for i in range(4)]
    obs, student = run(["def spin(i):\n    while True:\n        pass"], calls)
    with pytest.raises(StudentError, match="did not finish in time"):
        student.spin(0)
    messages = [student_error(student, i) for i in range(4)]
    assert sum("already exceeded" in m for m in messages) == 2
    assert obs.ending == "completed"


def student_error(student, i):
    try:
        student.spin(i)
    except StudentError as exc:
        return str(exc)
    return ""


def test_a_cell_that_kills_the_process_is_skipped_and_the_rest_still_graded():
    obs, student = run(["import os\nos._exit(7)", "def f():\n    return 1"], [lambda ns: ns.f()])
    assert obs.cells[0].status == "crashed"
    assert "exited with code 7" in obs.cells[0].error["message"]
    assert obs.ending == "completed"
    assert student.f() == 1


def test_a_probe_that_segfaults_costs_only_itself():
    source = ("import ctypes\ndef crash():\n    ctypes.string_at(0)\n"
              "def fine():\n    return 2")
    obs, student = run([source], [lambda ns: ns.crash(), lambda ns: ns.fine()])
    with pytest.raises(StudentError, match="SIGSEGV"):
        student.crash()
    assert student.fine() == 2


def test_repeated_crashes_end_with_a_recorded_result():
    cells = ["import os\nos._exit(1)"] * 6 + ["x = 1"]
    obs, _ = run(cells, [lambda ns: ns.value("x")])
    assert obs.ending.startswith("crashed")
    assert sum(c.status == "crashed" for c in obs.cells) == MAX_ATTEMPTS


def test_sys_exit_in_a_cell_does_not_stop_the_notebook():
    obs, student = run(["import sys\nsys.exit(3)", "w = 1"], [lambda ns: ns.value("w")])
    assert obs.cells[0].error["type"] == "SystemExit"
    assert student.value("w") == 1


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "secret-token")
    _, student = run(["import os\nenv = dict(os.environ)"], [lambda ns: ns.value("env")])
    env = student.value("env")
    assert "GITHUB_TOKEN" not in env and "secret-token" not in str(env)


def test_memory_limit_gives_a_memory_error():
    obs, _ = run(["block = bytearray(3 * 2**30)", "ok = True"])
    assert obs.cells[0].error["type"] == "MemoryError"
    assert obs.cells[1].status == "ok"


def test_scratch_folder_is_removed_and_leftover_processes_killed():
    source = ("import os, subprocess\nhere = os.getcwd()\n"
              "pid = subprocess.Popen(['sleep', '300']).pid")
    _, student = run([source], [lambda ns: ns.value("here"), lambda ns: ns.value("pid")])
    assert not os.path.exists(student.value("here"))
    pid = student.value("pid")
    assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]


def test_huge_output_is_capped_not_held():
    limits = Limits(cell_timeout=5, probe_timeout=1, notebook_timeout=30, max_output_chars=1000)
    obs, _ = run(["for _ in range(2000):\n    print('x' * 5000)"], limits=limits)
    assert len(obs.cells[0].output) == 1000
    assert obs.cells[0].dropped == 2000 * 5001 - 1000


def test_returned_objects_arrive_as_plain_data_only():
    source = """
import numpy as np
class Liar:
    def __eq__(self, other):
        return True
class Sub(np.ndarray):
    def __eq__(self, other):
        return np.ones(1, bool)
def liar():
    return Liar()
def sub():
    return np.arange(3.0).view(Sub)
def nan():
    return np.array([np.nan, np.inf])
def mutate(a):
    a[:] = 0
    return a.sum()
"""
    data = np.arange(4.0)
    calls = [lambda ns: ns.liar(), lambda ns: ns.sub(), lambda ns: ns.nan(),
             lambda ns: ns.mutate(data), lambda ns: ns.mutate(data)]
    _, student = run([source], calls)
    assert isinstance(student.liar(), Unsupported)
    assert type(student.sub()) is np.ndarray and list(student.sub()) == [0, 1, 2]
    assert np.isnan(student.nan()[0]) and np.isinf(student.nan()[1])
    assert student.mutate(data) == 0 and list(data) == [0, 1, 2, 3]


def test_undefined_names_and_exceptions_become_student_errors():
    calls = [lambda ns: ns.missing(), lambda ns: ns.broken()]
    _, student = run(["def broken():\n    raise NotImplementedError()"], calls)
    with pytest.raises(StudentError, match="missing is not defined"):
        student.missing()
    with pytest.raises(StudentError, match="not implemented yet"):
        student.broken()


def test_grading_profile_overrides_the_parameters_cell_and_prelude_runs_first():
    cells = [CodeCell(0, 0, "EPOCHS = 20\nBATCH = 32", tags=("parameters",)),
             CodeCell(1, 1, "seen = (EPOCHS, BATCH, PRELUDE_RAN)")]
    planner = LiveNamespace("student", {}, {})
    with pytest.raises(StudentError):
        planner.value("seen")
    harness = Harness(plan=planner.plan, prelude="PRELUDE_RAN = True",
                      parameters={"EPOCHS": 1})
    observations = execute("t", cells, harness, FAST, pool=LAUNCH["pool"])
    seen = ReplayNamespace("student", observations.probes).value("seen")
    assert seen == (1, 32, True)


def test_provided_files_are_copies_under_home(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(b"dataset")
    planner = LiveNamespace("student", {}, {})
    with pytest.raises(StudentError):
        planner.value("content")
    source = ("import os\npath = os.path.expanduser('~/.keras/datasets/data.bin')\n"
              "content = open(path, 'rb').read().decode()\nopen(path, 'wb').write(b'spoiled')")
    harness = Harness(plan=planner.plan, home_files={".keras/datasets/data.bin": data})
    observations = execute("t", [CodeCell(0, 0, source)], harness, FAST, pool=LAUNCH["pool"])
    assert ReplayNamespace("student", observations.probes).value("content") == "dataset"
    assert data.read_bytes() == b"dataset"


def test_output_written_below_python_is_drained_not_stored():
    source = "import os\nfor _ in range(3000):\n    os.write(1, b'z' * 100_000)\nx = 1"
    obs, student = run([source], [lambda ns: ns.value("x")])
    assert student.value("x") == 1
    assert obs.log_tail == ""  # completed normally: nothing to report


def test_crash_output_is_kept_for_feedback():
    obs, _ = run(["import os, sys\nsys.stderr.write('Fatal: boom\\n'); sys.stderr.flush()\n"
                  "os.write(2, b'last words')\nos._exit(3)"] * 4)
    assert obs.ending.startswith("crashed") and "last words" in obs.log_tail
