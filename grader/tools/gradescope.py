"""The Gradescope autograder bundle (``grader gradescope ASSIGNMENT``) and its runtime.

``setup.sh`` installs Python, bubblewrap and the grader into a venv, then makes the plan once,
so each submission only runs the student's notebook; ``run_autograder`` grades
``/autograder/submission/`` and writes ``/autograder/results/results.json`` (through
``python -m grader.tools.gradescope run-autograder``); with them, the grader's source with this
one assignment, zipped as Gradescope expects (both scripts at the root of the zip).
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from grader.errors import GraderError
from grader.files import atomic_write
from grader.spec import Assignment
from grader.tools.ci_template import SOURCE

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
exec "$PYTHON" -m grader.tools.gradescope run-autograder {name} --root "$ROOT" --seed {seed} \\
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
    from grader.report.results_json import gradescope_json
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
        data = gradescope_json(run.results[0], spec.visibility())
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
    atomic_write(path, json.dumps(data, indent=2).encode())


def main(argv: Sequence[str]) -> int:
    """``python -m grader.tools.gradescope run-autograder NAME --root DIR [--seed N] [--cache DIR]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grader.tools.gradescope")
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
