"""grader ci-template: the GitHub workflow parses, names the assignment and its grading step
runs here. The Gradescope bundle's tests are in test_gradescope_bundle.py and
test_gradescope_container.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.spec import load_assignment
from grader.tools.ci_template import github_workflow, write_github_workflow

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
