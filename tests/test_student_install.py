"""A student's install, tried as a new student would: the grader's wheel into a fresh
virtual environment outside the repository, the kit beside the notebooks, nothing else.

The wheel is built from this checkout; its dependencies come from the package index (as a
student's ``pip install`` gets them). The numpy assignment must not pull TensorFlow, and
``grader check`` must list every question from the kit alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO

NAME = "convolve-by-hand"
pytestmark = pytest.mark.slow


def _run(command: list[str], cwd: Path, env: dict[str, str],
         timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _pip() -> list[str]:
    """A pip to build and install with: this Python's, or (in a venv made ``--without-pip``,
    as the README makes it) the system Python's, which installs into a venv with ``--python``."""
    for python in (sys.executable, shutil.which("python3")):
        if python and subprocess.run([python, "-m", "pip", "--version"], capture_output=True,
                                     timeout=60).returncode == 0:
            return [python, "-m", "pip"]
    pytest.skip("no pip to build the wheel with (python3 -m pip)")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """(the student's folder, the venv's ``grader`` command, a scrubbed environment)."""
    root = tmp_path_factory.mktemp("student")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root / "home"), "LANG": "C.UTF-8"}
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONSTRAINT",
                 "GRADER_REQUIRE_SANDBOX", "GRADER_NO_NAMESPACES"):
        if name in os.environ:
            env[name] = os.environ[name]
    (root / "home").mkdir()
    wheels = root / "wheels"
    pip = _pip()
    built = _run([*pip, "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)], root, {**os.environ})
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("cv_lab_grader-*.whl")
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env)
    assert made.returncode == 0, made.stderr
    installed = _run([*pip, "--python", str(venv / "bin" / "python"),
                      "install", "-q", str(wheel)], root, {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert installed.returncode == 0, installed.stderr[-3000:]
    # the kit, as the course gives it (built on the instructor's machine: this checkout)
    from click.testing import CliRunner

    from grader.cli import main

    handout = root / "handout"
    done = CliRunner().invoke(main, ["release", NAME, "--out", str(handout)])
    assert done.exit_code == 0, done.output
    lab = root / "lab"
    lab.mkdir()
    shutil.copy(handout / f"{NAME}.grader-kit.zip", lab)
    for example in ("untouched", "partly-correct", "reference", "syntax-error"):
        shutil.copy(EXAMPLES / f"{example}.ipynb", lab / f"{example}.ipynb")
    return lab, venv, env


def test_the_wheel_installs_without_tensorflow_or_the_solutions(student):
    lab, venv, env = student
    python = str(venv / "bin" / "python")
    probe = _run([python, "-c", "import importlib.util as u, grader, pathlib; "
                  "print(u.find_spec('tensorflow') is None, u.find_spec('sklearn') is None); "
                  "root = pathlib.Path(grader.__file__).parents[1]; "
                  "print(sorted(p.name for p in root.iterdir() if p.name in "
                  "('reference', 'assignments', 'tests')))"], lab, env)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split("\n")[:2] == ["True True", "[]"]


@pytest.mark.parametrize("example, status, expected", [
    ("untouched", 1, ["Output size: checked only at grading (2 points)",
                      "2-D convolution: 1 of 1 public checks failed (5 points)",
                      "X feature maps: 1 of 1 public checks failed (2 points)"]),
    ("partly-correct", 0, ["2-D convolution: public checks passed, hidden checks decide at "
                           "grading (5 points)",
                           "Softmax: checked only at grading (2 points)"]),
    ("reference", 0, ["The X filters: public checks passed, hidden checks decide at grading (1 point)",
                      "Max pooling: checked only at grading (3 points)"]),
    ("syntax-error", 0, ["ReLU: checked only at grading (1 point)",
                         "has a syntax error on line"]),
])
def test_grader_check_from_the_kit_alone(student, example, status, expected):
    """Every question listed with what is known of it; the exit status says whether every
    public check passed. No assignment folder, no reference: only the wheel and the kit."""
    lab, venv, env = student
    done = _run([str(venv / "bin" / "grader"), "check", f"{example}.ipynb"], lab, env, timeout=300)
    assert done.returncode == status, done.stdout[-3000:] + done.stderr[-3000:]
    for line in expected:
        assert line in done.stdout, done.stdout
    titles = ("Output size", "2-D convolution", "Convolutional layer", "ReLU", "Max pooling",
              "Softmax", "The X filters", "X feature maps")
    assert all(f"\n{title}" in done.stdout for title in titles), done.stdout
