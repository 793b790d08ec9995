"""A GitHub Actions workflow for a student's repository (``grader ci-template ASSIGNMENT``).

It checks out the submission and the course's grader repository (which holds the
assignment, its checks and its reference), installs the grader and bubblewrap, runs
``grader grade`` (or ``grader check``, public checks only) on the notebook, and uploads the
feedback (``feedback.html``, ``feedback.md``, ``results.json``, JUnit XML) as an artifact.
Whatever such a job can read, a student who edits the workflow can print, the reference
included: runs in a student's repository are feedback, not the grade of record.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from grader.spec import Assignment

SOURCE = Path(__file__).resolve().parents[2]  # the grader's source tree (an editable install)
PLACEHOLDER_REPOSITORY = "YOUR-ORG/grader"


def guess_grader_repository(source: Path = SOURCE) -> str | None:
    """``owner/name`` of the GitHub repository this grader was cloned from, if it is one."""
    try:
        url = subprocess.run(["git", "-C", str(source), "remote", "get-url", "origin"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?$", url)
    return found.group(1) if found else None


def _yaml_string(value: str) -> str:
    """A double-quoted YAML scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(value)


def github_workflow(assignment: Assignment, notebook: str | None = None, check_only: bool = False,
                    fail_under: float | None = None, repository: str | None = None,
                    ref: str = "main", python: str = "3.11") -> str:
    """The workflow file's text (GitHub Actions YAML) for a student's repository."""
    notebook = notebook or assignment.notebook.name
    repository = repository or PLACEHOLDER_REPOSITORY
    target = shlex.quote(f"submission/{notebook}")
    name = shlex.quote(assignment.name)
    if check_only:
        run = ["set +e  # keep going when a check fails: the summary is written first",
               f"grader check {target} --assignment {name} | tee grader-check.txt",
               "status=${PIPESTATUS[0]}",
               "{ echo '## Public checks'; echo; echo '```'; cat grader-check.txt; echo '```'; } "
               '>> "$GITHUB_STEP_SUMMARY"',
               'exit "$status"']
    else:
        command = (f"grader grade {name} {target} --out grader-results "
                   "--junit grader-results/junit.xml")
        if fail_under is not None:
            command += f" --fail-under {fail_under:g}"
        run = [command]
    lines = [
        f"# Grades the notebook of {assignment.name} ({assignment.title}) on every push.",
        f"# Written by `grader ci-template {assignment.name}`. Before the first run:",
        f"# - the grader's repository ({repository}) must be readable with the GRADER_TOKEN",
        "#   secret (Settings > Secrets and variables > Actions): a read-only token;",
        "# - anything this job can read, a student who edits this file can print, the",
        "#   assignment's reference solution included: treat these runs as feedback, and grade",
        "#   for the record where students cannot change the workflow (Gradescope, or your own",
        "#   `grader grade` run).",
        f"name: grader ({assignment.name})",
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
        "  grade:",
        "    runs-on: ubuntu-latest",
        "    timeout-minutes: 40",
        "    env:",
        "      GRADER_ASSIGNMENTS: ${{ github.workspace }}/.grader/assignments",
        "    steps:",
        "      - name: Check out the submission",
        "        uses: actions/checkout@v4",
        "        with:",
        "          path: submission",
        "      - name: Check out the grader",
        "        uses: actions/checkout@v4",
        "        with:",
        f"          repository: {_yaml_string(repository)}",
        f"          ref: {_yaml_string(ref)}",
        "          token: ${{ secrets.GRADER_TOKEN }}",
        "          path: .grader",
        "      - uses: actions/setup-python@v5",
        "        with:",
        f"          python-version: {_yaml_string(python)}",
        "          cache: pip",
        "          cache-dependency-path: .grader/pyproject.toml",
        "      - name: Install bubblewrap (isolates the notebook)",
        "        run: |",
        "          sudo apt-get update -qq",
        "          sudo apt-get install -y -qq bubblewrap",
        "          # Ubuntu 24.04 runners forbid the unprivileged user namespaces bubblewrap needs",
        "          sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true",
        "      - name: Install the grader",
        "        run: python -m pip install -e ./.grader",
        "      - name: Public checks" if check_only else "      - name: Grade",
        "        shell: bash",
        "        run: |",
        *[f"          {line}" for line in run],
    ]
    if not check_only:
        lines += [
            "      - name: Upload the feedback",
            "        if: always()",
            "        uses: actions/upload-artifact@v4",
            "        with:",
            f"          name: {_yaml_string(f'grader-feedback-{assignment.name}')}",
            "          if-no-files-found: warn",
            "          path: |",
            "            grader-results/submissions/*/feedback.html",
            "            grader-results/submissions/*/feedback.md",
            "            grader-results/submissions/*/results.json",
            "            grader-results/gradebook.csv",
            "            grader-results/junit.xml",
        ]
    return "\n".join(lines) + "\n"


def write_github_workflow(assignment: Assignment, path: Path | None = None, notebook: str | None = None,
                          check_only: bool = False, fail_under: float | None = None,
                          repository: str | None = None, ref: str = "main") -> Path:
    """Write the workflow (default ``.github/workflows/grade-NAME.yml`` under the current folder)."""
    path = path or Path(".github") / "workflows" / f"grade-{assignment.name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = github_workflow(assignment, notebook=notebook, check_only=check_only, fail_under=fail_under,
                           repository=repository, ref=ref)
    path.write_text(text, encoding="utf-8")
    return path
