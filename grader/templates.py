"""Ready-made CI for graded notebooks (``grader ci-template ASSIGNMENT``).

- A GitHub Actions workflow for a student's repository: it checks out the submission and
  the course's grader repository (which holds the assignment, its checks and its reference),
  installs the grader and bubblewrap, runs ``grader grade`` (or ``grader check``, public
  checks only) on the notebook, and uploads the feedback (``feedback.html``, ``feedback.md``,
  ``results.json``, JUnit XML) as an artifact. Whatever such a job can read, a student who
  edits the workflow can print, the reference included: runs in a student's repository are
  feedback, not the grade of record.
- A Gradescope autograder bundle: ``setup.sh`` (installs Python, bubblewrap and the grader
  into a venv, then makes the plan once, so each submission only runs the student's
  notebook), ``run_autograder`` (grades ``/autograder/submission/`` and writes
  ``/autograder/results/results.json``) and the grader's source with this one assignment,
  zipped as Gradescope expects (both scripts at the root of the zip).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from grader.errors import GraderError
from grader.spec import Assignment

SOURCE = Path(__file__).resolve().parent.parent  # the grader's source tree (an editable install)
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


# --- Gradescope ---------------------------------------------------------------------------

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder image; this folder is
# /autograder/source. Choose a base image with Python 3.11 or newer (Ubuntu 24.04).
set -euxo pipefail
apt-get update
apt-get install -y python3 python3-venv python3-pip bubblewrap
python3 -c 'import sys; assert sys.version_info >= (3, 11), "the grader needs Python 3.11+"'
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install -e /autograder/source/grader
# The plan (the reference run against the checks) is made once here, not per submission.
/autograder/venv/bin/grader grade {name} /autograder/source/grader/assignments/{name}/{notebook} \\
    --out /autograder/grader-cache --seed {seed} --quiet || true
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grades the notebook in /autograder/submission/
# and writes /autograder/results/results.json. AUTOGRADER_ROOT and GRADER_PYTHON override
# the locations (for a trial run outside Gradescope).
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{GRADER_PYTHON:-$ROOT/venv/bin/python}}"
exec "$PYTHON" -m grader.templates run-autograder {name} --root "$ROOT" --seed {seed} \\
    --cache "$ROOT/grader-cache"
"""

BUNDLE_SOURCE = ("pyproject.toml", "README.md", "grader")


def write_gradescope_bundle(assignment: Assignment, out: Path, seed: int | None = None,
                            source: Path = SOURCE) -> Path:
    """Write the bundle's layout into ``out`` and ``out/autograder.zip``; returns the zip.

    The seed is fixed in the bundle, so every student gets the same hidden inputs, as in
    one ``grader grade`` run of the whole class.
    """
    if not (source / "pyproject.toml").is_file():
        raise GraderError(f"the Gradescope bundle is built from the grader's source tree; "
                          f"{source} has no pyproject.toml (install the grader with pip install -e)")
    seed = seed if seed is not None else secrets.randbelow(2**31)
    out.mkdir(parents=True, exist_ok=True)
    fields = {"name": shlex.quote(assignment.name), "notebook": shlex.quote(assignment.notebook.name),
              "seed": seed}
    for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
        (out / name).write_text(text.format(**fields), encoding="utf-8")
        (out / name).chmod(0o755)
    tree = out / "grader"
    if tree.exists():
        shutil.rmtree(tree)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "examples", ".ipynb_checkpoints")
    for item in BUNDLE_SOURCE:
        path = source / item
        if path.is_dir():
            shutil.copytree(path, tree / item, ignore=ignore)
        elif path.is_file():
            tree.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, tree / item)
    shutil.copytree(assignment.folder, tree / "assignments" / assignment.name, ignore=ignore)
    reference = tree / "reference" / assignment.reference.name
    reference.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(assignment.reference, reference)
    _check_reference_path(assignment, tree)
    archive = out / "autograder.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(out.rglob("*")):
            if path.is_file() and path != archive:
                info = zipfile.ZipInfo.from_file(path, path.relative_to(out).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, path.read_bytes())
    return archive


def _check_reference_path(assignment: Assignment, tree: Path) -> None:
    """The toml names its reference relative to the assignment folder; the bundle keeps the
    repository's layout, so it must resolve inside the copy."""
    from grader.spec import load_assignment

    copy = load_assignment(tree / "assignments" / assignment.name)
    if not copy.reference.is_file():
        raise GraderError(f"the bundle's copy of {assignment.name} does not find its reference "
                          f"({copy.reference}); keep the reference under reference/")


def pick_notebook(folder: Path, wanted: str) -> tuple[Path | None, str]:
    """The submitted notebook: the one named like the released notebook, else the only one."""
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    named = [p for p in found if p.name == wanted]
    if named:
        return named[0], ""
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"No notebook (.ipynb) was found in your submission; upload {wanted}."
    names = ", ".join(p.name for p in found[:10])
    return None, f"Your submission has {len(found)} notebooks ({names}); upload only {wanted}."


def run_autograder(assignment_name: str, root: Path, seed: int | None = None,
                   cache: Path | None = None, sandbox: str = "auto") -> int:
    """Grade ``root/submission`` and write ``root/results/results.json`` (Gradescope's layout).

    Returns the exit status: 0 when a results.json with a grade was written, 1 when the
    grader itself failed (a results.json saying so is written all the same).
    """
    import tempfile

    from grader.grading import GradeOptions, grade
    from grader.reporters import gradescope_json
    from grader.spec import load_assignment

    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    try:
        spec = load_assignment(assignment_name)
        notebook, problem = pick_notebook(root / "submission", spec.notebook.name)
        if notebook is None:
            _write_json(results, {"score": 0.0, "output": problem, "visibility": "visible"})
            return 0
        out = cache or Path(tempfile.mkdtemp(prefix="grader-gradescope-"))
        run = grade(spec, [notebook], GradeOptions(out=out, seed=seed, force=True, sandbox=sandbox))
        data = gradescope_json(run.results[0])
        data["output_format"] = "text"
        _write_json(results, data)
        return 0
    except Exception as exc:  # noqa: BLE001 - Gradescope must get a results.json in any case
        _write_json(results, {"score": 0.0, "visibility": "visible",
                              "output": f"The autograder failed ({type(exc).__name__}: {exc}); "
                                        "please tell your instructor."})
        print(f"grader: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    temporary.replace(path)


def main(argv: Sequence[str]) -> int:
    """``python -m grader.templates run-autograder NAME --root DIR [--seed N] [--cache DIR]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grader.templates")
    commands = parser.add_subparsers(dest="command", required=True)
    autograder = commands.add_parser("run-autograder", help="grade a Gradescope submission")
    autograder.add_argument("assignment")
    autograder.add_argument("--root", type=Path, default=Path("/autograder"))
    autograder.add_argument("--seed", type=int, default=None)
    autograder.add_argument("--cache", type=Path, default=None)
    autograder.add_argument("--sandbox", choices=["auto", "strict", "off"], default="auto")
    args = parser.parse_args(list(argv))
    return run_autograder(args.assignment, args.root, args.seed, args.cache, args.sandbox)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
