"""Gradescope's container, simulated (issue 16): a root laid out as /autograder (the bundle's
zip unzipped into source/, setup's own steps run), bubblewrap unusable
(GRADER_NO_NAMESPACES=1: the notebook runs as uid 65534), a memory cgroup of 768 MB and a
quota of half a CPU. The reference earns full marks; attack notebooks read the bundle, write
results.json and leave a process behind, and gain nothing; the grader's own process never
imports TensorFlow nor runs the reference.

Needs root (the fallback's protection is a switch of user) and a writable cgroup filesystem:
skipped with the reason otherwise. The helpers are benchmarks/gradescope_container.py's, which
also measures the Keras assignments (over 3 minutes each: their bundles run the reference).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.spec import load_assignment
from grader.tools.gradescope import write_gradescope_bundle
from tests.conftest import REPO

spec_of = importlib.util.spec_from_file_location("gradescope_container",
                                                 REPO / "benchmarks" / "gradescope_container.py")
container = importlib.util.module_from_spec(spec_of)
sys.modules.setdefault("gradescope_container", container)  # its dataclasses look it up
spec_of.loader.exec_module(container)

NAME = "convolve-by-hand"

#: A whole Gradescope container simulated per test (cgroup, mount namespace, run_autograder):
#: the full tier, not the fast one.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged fallback needs root")]


@pytest.fixture(scope="module")
def cgroup():
    problem = container.cgroup_problem()
    if problem:
        pytest.skip(problem)
    group = container.Cgroup.create(f"grader-test-{os.getpid()}", 768, 0.5)
    yield group
    group.remove()


def _laid_out(name: str, seed: int, folder: Path) -> Path:
    archive = write_gradescope_bundle(load_assignment(name), folder / "bundle", seed=seed)
    root = container.simulated_root()
    container.lay_out(archive, root)
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    problem = container.python_problem()
    if problem:
        pytest.skip(problem)
    root = _laid_out(NAME, 3, tmp_path_factory.mktemp("gradescope"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _notebook_output(root: Path) -> str:
    (observations,) = (root / "grader-work" / "submissions").glob("*/observations.json")
    return "\n".join(cell.get("output", "") for cell in json.loads(observations.read_text())["cells"])


def test_setup_locks_the_bundle(root):
    assert (root / "source").stat().st_mode & 0o777 == 0o700
    assert (root / "source" / "private").stat().st_mode & 0o777 == 0o700
    assert (root / "results").stat().st_uid == 0 and (root / "results").stat().st_mode & 0o022 == 0
    assert (root / "grader" / "grader" / "child" / "runner.py").stat().st_mode & 0o004


def test_the_reference_earns_full_marks_and_the_grader_never_imports_tensorflow(
        root, cgroup, tmp_path):
    """The grader's process gets a sitecustomize that refuses TensorFlow and records every
    process it starts: no import of TensorFlow is even tried, and no planner runs."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    hook.chmod(0o755)
    log = tmp_path / "log.txt"
    outcome = container.run_autograder(
        root, load_assignment(NAME).reference, cgroup,
        extra_env={"PYTHONPATH": f"{hook}{os.pathsep}{root / 'grader'}", "HOOK_LOG": str(log)})
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert outcome.score == 20 and outcome.oom_kills == 0
    assert outcome.results["extra_data"]["isolation"].startswith("UNPRIVILEGED USER")
    assert "Protection while the notebook ran: unprivileged user (uid 65534)" in outcome.results["output"]
    assert "0.5 CPU" in outcome.stderr  # the time limits were scaled to the quota
    assert outcome.peak_mb is not None and outcome.peak_mb < 768
    lines = log.read_text().splitlines()
    assert any(line.startswith("start") for line in lines)  # the hook was in force
    assert not [line for line in lines if line.startswith("import")]
    assert not [line for line in lines if "grader.plan" in line]


HOOK = '''
import os, subprocess, sys

LOG = os.environ.get("HOOK_LOG")


def _note(line):
    with open(LOG, "a") as handle:
        handle.write(line + "\\n")


class RefuseTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras"):
            _note(f"import {name}")
            raise ImportError(f"the grader's process imported {name}")
        return None


if LOG:
    sys.meta_path.insert(0, RefuseTensorFlow())
    _start = subprocess.Popen.__init__

    def _recorded(self, args, *rest, **options):
        _note(f"start {args!r}")
        _start(self, args, *rest, **options)

    subprocess.Popen.__init__ = _recorded
'''


def test_a_notebook_cannot_read_the_bundle(root, cgroup, tmp_path):
    spec = load_assignment(NAME)
    notebook = container.with_cell(spec.notebook, container.read_the_bundle(root),
                                   tmp_path / spec.notebook.name)
    outcome = container.run_autograder(root, notebook, cgroup)
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert outcome.score == 0  # the untouched template's
    (line,) = [x for x in _notebook_output(root).splitlines() if x.startswith("READABLE ")]
    readable = json.loads(line.removeprefix("READABLE "))
    public = str(root / "grader" / "grader" / "child")
    assert readable and all(path.startswith(public) for path in readable)  # the control only


def test_a_notebook_cannot_write_the_results(root, cgroup, tmp_path):
    spec = load_assignment(NAME)
    shared = Path(tempfile.mkdtemp(prefix="grader-forger-", dir="/tmp"))
    shared.chmod(0o777)  # the forger (uid 65534) writes its pid here
    pid_file = shared / "forger.pid"
    notebook = container.with_cell(spec.notebook, container.write_the_results(root, str(pid_file)),
                                   tmp_path / spec.notebook.name)
    outcome = container.run_autograder(root, notebook, cgroup)
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    time.sleep(1)  # a surviving forger would have written again by now
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["tests"] and "forged" not in results["output"]
    assert "RESULTS PermissionError" in _notebook_output(root)
    assert pid_file.is_file() and not Path(f"/proc/{pid_file.read_text().strip()}").exists()
    shutil.rmtree(shared)


def test_no_process_a_notebook_starts_survives_run_autograder(root, cgroup, tmp_path):
    spec = load_assignment(NAME)
    notebook = container.with_cell(spec.reference, container.LEAVE_A_PROCESS,
                                   tmp_path / spec.reference.name)
    outcome = container.run_autograder(root, notebook, cgroup)
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert outcome.score == 20
    assert "LEFT A PROCESS" in _notebook_output(root)
    assert container.processes_with(container.DAEMON_MARK) == []
