"""A GitHub Actions workflow for a student's repository (``grader ci-template ASSIGNMENT``).

It runs the public checks of the student kit (``grader release`` writes it; the course
commits it to the starter repository beside the notebook): it installs the grader from a
package index, a wheel or a public URL, runs ``grader check NOTEBOOK --kit KIT``, writes the
per-question table to the job summary and fails under ``--fail-under`` public points. It uses
no token and reads nothing but the student's own repository, so a student who edits the
workflow learns nothing the kit does not already show. The grade of record comes from the
instructor's run (Gradescope, or ``grader grade``), never from this job.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from grader.spec import Assignment
from grader.version import __version__

DISTRIBUTION = "cv-lab-grader"


def kit_name(assignment: Assignment) -> str:
    """The kit's file name, as ``grader release`` writes it."""
    return f"{assignment.name}.grader-kit.zip"


def default_install(assignment: Assignment) -> str:
    """What pip installs in the job: this version of the grader, with TensorFlow for the
    Keras assignments only."""
    from grader.tools.gradescope.build import uses_tensorflow

    extra = "[tensorflow]" if uses_tensorflow(assignment) else ""
    return f"{DISTRIBUTION}{extra}=={__version__}"


def _yaml_string(value: str) -> str:
    """A double-quoted YAML scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(value)


def _check_script(notebook: str, kit: str, fail_under: float | None) -> list[str]:
    command = f"grader check {shlex.quote(notebook)} --kit {shlex.quote(kit)}"
    if fail_under is not None:
        command += f" --fail-under {fail_under:g}"
    # grader check appends its per-question table to $GITHUB_STEP_SUMMARY itself
    return [command]


def github_workflow(assignment: Assignment, notebook: str | None = None, kit: str | None = None,
                    fail_under: float | None = None, install: str | None = None,
                    python: str = "3.11") -> str:
    """The workflow file's text (GitHub Actions YAML) for a student's repository."""
    notebook = notebook or assignment.notebook.name
    kit = kit or kit_name(assignment)
    install = install or default_install(assignment)
    threshold = (f"fails when the public checks earn fewer than {fail_under:g} points"
                 if fail_under is not None else "fails when a public check fails")
    lines = [
        f"# Public checks of {assignment.name} ({assignment.title}) on every push.",
        f"# Written by `grader ci-template {assignment.name}`.",
        f"# It runs the public checks of the student kit ({kit}, from `grader release`) on",
        f"# {notebook}, writes the per-question table to the job summary and {threshold}.",
        "# It needs no token and reads nothing but this repository: editing it shows nothing the",
        "# kit does not already show. The grade of record comes from the instructor's run",
        "# (Gradescope, or `grader grade`), with hidden checks this job never sees.",
        f"name: public checks ({assignment.name})",
        "",
        "on:",
        "  push:",
        "  pull_request:",
        "  workflow_dispatch:",
        "",
        "permissions:",
        "  contents: read",
        "",
        "jobs:",
        "  check:",
        "    runs-on: ubuntu-latest",
        "    timeout-minutes: 30",
        "    steps:",
        "      - name: Check out the notebook and the kit",
        "        uses: actions/checkout@v4",
        "      - uses: actions/setup-python@v5",
        "        with:",
        f"          python-version: {_yaml_string(python)}",
        "      - name: Install bubblewrap (isolates the notebook)",
        "        run: |",
        "          sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap || true",
        "          # Ubuntu 24.04 runners forbid the unprivileged user namespaces bubblewrap needs",
        "          sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true",
        "      - name: Install the grader",
        f"        run: python -m pip install {shlex.quote(install)}",
        "      - name: Public checks",
        "        shell: bash",
        "        run: |",
        *[f"          {line}" for line in _check_script(notebook, kit, fail_under)],
    ]
    return "\n".join(lines) + "\n"


def write_github_workflow(assignment: Assignment, path: Path | None = None, notebook: str | None = None,
                          kit: str | None = None, fail_under: float | None = None,
                          install: str | None = None) -> Path:
    """Write the workflow (default ``.github/workflows/check-NAME.yml`` under the current folder)."""
    path = path or Path(".github") / "workflows" / f"check-{assignment.name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = github_workflow(assignment, notebook=notebook, kit=kit, fail_under=fail_under,
                           install=install)
    path.write_text(text, encoding="utf-8")
    return path
