"""grader ci-template: the GitHub workflow parses, names the assignment and its grading step
runs here. The Gradescope bundle's tests are in test_gradescope_bundle.py and
test_gradescope_container.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.spec import load_assignment
from grader.tools.ci_template import github_workflow, write_github_workflow
from tests.conftest import EXAMPLES, REPO

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
    steps = data["jobs"]["grade"]["steps"]
    return {s.get("name", s.get("uses")): s.get("run", "") for s in steps}


@pytest.mark.parametrize("parser", ["yaml", "text"])
def test_workflow_names_the_assignment_and_parses(spec, parser):
    if parser == "yaml":
        pytest.importorskip("yaml")
    text = github_workflow(spec, fail_under=20, repository="course/grader")
    steps = parsed_steps(text, parser)
    assert f"grader grade {NAME} submission/{NAME}.ipynb" in steps["Grade"]
    assert "--junit grader-results/junit.xml --fail-under 20" in steps["Grade"]
    assert "apt-get install -y -qq bubblewrap" in steps["Install bubblewrap (isolates the notebook)"]
    assert "pip install -e ./.grader" in steps["Install the grader"]
    assert 'repository: "course/grader"' in text and "actions/upload-artifact@v4" in text
    assert "grader-results/submissions/*/feedback.html" in text
    assert ".plan" not in text  # the plan holds the reference's answers: never uploaded


def test_check_mode_runs_public_checks_only(spec):
    text = github_workflow(spec, check_only=True)
    steps = parsed_steps(text)
    assert f"grader check submission/{NAME}.ipynb --assignment {NAME}" in steps["Public checks"]
    assert "GITHUB_STEP_SUMMARY" in steps["Public checks"]
    assert "grader grade" not in "".join(steps.values()) and "upload-artifact" not in text


def test_written_where_github_reads_workflows(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_github_workflow(spec)
    assert path == Path(".github/workflows") / f"grade-{NAME}.yml"
    assert NAME in path.read_text()


@pytest.mark.skipif(shutil.which("grader") is None, reason="the grader command is not installed")
@pytest.mark.slow
def test_grading_step_runs_as_written(spec, tmp_path):
    """The Grade step's script, run by bash in a workspace laid out as the workflow lays it."""
    script = parsed_steps(github_workflow(spec, fail_under=20))["Grade"]
    (tmp_path / "submission").mkdir()
    shutil.copy(EXAMPLES / "reference.ipynb", tmp_path / "submission" / f"{NAME}.ipynb")
    env = {**os.environ, "GRADER_ASSIGNMENTS": str(REPO / "assignments")}
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((tmp_path / "grader-results/submissions" / NAME / "results.json").read_text())
    assert results["score"] == 20
    assert (tmp_path / "grader-results/junit.xml").is_file()
