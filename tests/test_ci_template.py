"""grader ci-template: the GitHub workflow parses, names the assignment and its grading step
runs here. The Gradescope bundle's tests are in test_gradescope_bundle.py and
test_gradescope_container.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.spec import load_assignment
from grader.tools.ci_template import github_workflow, write_github_workflow
from tests.conftest import EXAMPLES

NAME = "convolve-by-hand"


@pytest.fixture(scope="module")
def spec():
    return load_assignment(NAME)


def textual_structure(text: str) -> dict[str, list[str]]:
    """Without PyYAML: indentation in steps of two spaces, no tabs, and the top-level keys;
    returns the steps' names and the lines of each ``run: |`` block by step name."""
    assert "\t" not in text
    top = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert top == ["name", "on", "permissions", "jobs"]
    steps: dict[str, list[str]] = {}
    current, block = None, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        assert indent % 2 == 0, line
        named = re.match(r"\s+- name: (.+)$", line)
        if named:
            current, block = named.group(1), None
            steps[current] = []
            continue
        if block is not None and indent > block:
            steps[current].append(line[block + 2:])
            continue
        block = None
        if line.strip() == "run: |":
            block = indent
        elif line.strip().startswith("run: ") and current is not None:
            steps[current] = [line.strip()[len("run: "):]]
    return steps


def parsed_steps(text: str, parser: str = "yaml") -> dict[str, str]:
    """Step name -> its run script, with PyYAML (when installed), or read from the text."""
    try:
        import yaml
    except ImportError:
        parser = "text"
    if parser == "text":
        return {name: "\n".join(lines) for name, lines in textual_structure(text).items()}
    data = yaml.safe_load(text)
    # PyYAML reads YAML 1.1, where the key `on` is the boolean True
    assert set(data) == {"name", True, "permissions", "jobs"}
    steps = data["jobs"]["check"]["steps"]
    return {s.get("name", s.get("uses")): s.get("run", "") for s in steps}


@pytest.mark.parametrize("parser", ["yaml", "text"])
def test_workflow_runs_the_kits_public_checks_and_parses(spec, parser):
    if parser == "yaml":
        pytest.importorskip("yaml")
    text = github_workflow(spec, fail_under=4)
    steps = parsed_steps(text, parser)
    check = steps["Public checks"]
    assert f"grader check {NAME}.ipynb --kit {NAME}.grader-kit.zip --fail-under 4" in check
    assert "pip install cv-lab-grader==" in steps["Install the grader"]
    assert "[tensorflow]" not in text  # a numpy assignment installs no TensorFlow
    assert "grader grade" not in "".join(steps.values()) and "upload-artifact" not in text


def test_workflow_needs_no_token_and_reads_only_the_students_repository(spec):
    text = github_workflow(spec, install="./wheels/cv_lab_grader-0.1.0-py3-none-any.whl")
    assert "secrets." not in text and "token" not in text.lower().replace("needs no token", "")
    assert "  repository:" not in text and text.count("actions/checkout") == 1
    assert "pip install ./wheels/cv_lab_grader-0.1.0-py3-none-any.whl" in text
    assert "grade of record comes from the instructor's run" in text


def test_keras_assignments_install_the_tensorflow_extra():
    text = github_workflow(load_assignment("build-cnn"))
    assert "pip install 'cv-lab-grader[tensorflow]==" in text


def test_written_where_github_reads_workflows(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_github_workflow(spec)
    assert path == Path(".github/workflows") / f"check-{NAME}.yml"
    assert NAME in path.read_text()


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The student kit, as ``grader release`` writes it for the starter repository."""
    from click.testing import CliRunner

    from grader.cli import main

    out = tmp_path_factory.mktemp("release")
    done = CliRunner().invoke(main, ["release", NAME, "--out", str(out)])
    assert done.exit_code == 0, done.output
    return out / f"{NAME}.grader-kit.zip"


@pytest.mark.skipif(shutil.which("grader") is None, reason="the grader command is not installed")
@pytest.mark.parametrize("example, status", [("reference", 0), ("untouched", 1)])
def test_the_check_step_runs_as_written_from_the_kit_alone(spec, kit, tmp_path, example, status):
    """The workflow's "Public checks" script, run by bash in a checkout of a student
    repository (notebook and kit, nothing else; no assignment known to the grader): the
    reference passes, the untouched notebook fails, and the job summary has the table."""
    script = parsed_steps(github_workflow(spec))["Public checks"]
    shutil.copy(EXAMPLES / f"{example}.ipynb", tmp_path / f"{NAME}.ipynb")
    shutil.copy(kit, tmp_path / kit.name)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GRADER_ASSIGNMENTS": str(tmp_path / "no-assignments"),
           "GITHUB_STEP_SUMMARY": str(summary)}
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == status, done.stdout[-3000:] + done.stderr[-3000:]
    table = summary.read_text()
    assert "| | Question | Status | To fix |" in table and "Output size" in table
    assert "checked only at grading (2 points)" in table
    if example == "reference":
        assert "the public checks earn 3 of 3 points" in table and "✗" not in table
    else:
        assert "the public checks earn 0 of 3 points" in table and table.count("✗") >= 3


def test_fail_under_judges_public_points(spec, kit, tmp_path):
    """--fail-under compares the public checks' points: a notebook failing one public check
    passes a threshold it still reaches, and fails one it does not."""
    from click.testing import CliRunner

    from grader.cli import main

    notebook = tmp_path / f"{NAME}.ipynb"
    text = (EXAMPLES / "reference.ipynb").read_text()
    assert "], axis=-1).astype(float)" in text
    notebook.write_text(text.replace("], axis=-1).astype(float)", "][::-1], axis=-1).astype(float)"))
    outcomes = {}
    for threshold in ("1", "2"):
        done = CliRunner().invoke(main, ["check", str(notebook), "--kit", str(kit),
                                         "--fail-under", threshold])
        outcomes[threshold] = done.exit_code
    assert outcomes == {"1": 0, "2": 1}
