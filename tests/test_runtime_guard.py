"""The runtime guard and the integrity check in one process (issue 21): fast unit tests of
``grader.child.guard``; the graded notebooks are in tests/adversarial/test_round_three_forgery.py.

Each test runs in a fresh interpreter: what the guard sees depends on what is loaded.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO

PRELUDE = """
import sys, numpy
import grader.child.runner
from grader.child.guard import ImportGuard, Integrity
from grader.child.runner import GradingTimeout, deadline
records = []
class Log:
    def write(self, event):
        records.append((event.get("module"), event.get("kind", "load")))
guard = ImportGuard(["scipy.signal", "scipy.ndimage", "scipy.special"], Log())
def probe(function):
    with guard.watching(probe="conv2d", kind="call") as loads:
        try:
            with deadline(0.3, "conv2d"), guard.calls_watched():
                function()
        except GradingTimeout:
            pass
    guard.report(loads, probe="conv2d")
"""


def run(code: str) -> str:
    script = PRELUDE + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_time_limit_is_not_taken_for_switching_the_watch_off():
    assert run("""
        def slow():
            while True:
                sum(range(1000))
        probe(slow)
        print(records)
    """) == "[]"


def test_switching_the_watch_off_is_recorded():
    assert "the grader's watch switched off" in run("""
        probe(lambda: sys.setprofile(None))
        print(records)
    """)


def test_a_dependency_of_an_allowed_import_is_not_a_use_but_a_call_is():
    out = run("""
        with guard.watching(cell=0) as loads:
            import scipy.stats
        print(loads)
        probe(lambda: sys.modules["scipy.ndimage"].correlate(numpy.ones((2, 2)), numpy.ones((1, 1))))
        print(records)
    """).splitlines()
    assert out[0] == "[]"
    assert ("scipy.ndimage", "call") in eval(out[1])  # noqa: S307 - our own printed list


def test_a_forbidden_module_under_another_name_is_found_by_its_file():
    out = run("""
        import importlib.util, os
        folder = os.path.join(importlib.util.find_spec("scipy").submodule_search_locations[0],
                              "signal")
        with guard.watching(cell=0) as loads:
            spec = importlib.util.spec_from_file_location(
                "sigx", os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])
            module = importlib.util.module_from_spec(spec)
            sys.modules["sigx"] = module
            spec.loader.exec_module(module)
        print([load["module"] for load in loads])
    """)
    assert "scipy.signal (as sigx)" in out


def test_the_integrity_check_sees_a_patched_runner_and_guard():
    out = run("""
        integrity = Integrity(guard)
        print(integrity.changes())
        grader.child.runner.answer = lambda *a: 1
        guard.forbidden = ()
        print(integrity.changes())
    """).splitlines()
    assert out[0] == "[]"
    assert "grader.child.runner" in out[1] and "guard's settings" in out[1]
