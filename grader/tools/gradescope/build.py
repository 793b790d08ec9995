"""Building the Gradescope bundle on the instructor's machine (``grader gradescope``): the
plan made once, the assignment, the checks' data, the self-test, the zip; and what the
container each assignment needs was measured to be. See ``grader.tools.gradescope``."""


from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import atomic_write
from grader.spec import Assignment
from grader.spec.assignment import SPEC_FILE
from grader.spec.shipped import PLACEHOLDER, write_placeholder  # noqa: F401 - kept import path

SOURCE = Path(__file__).resolve().parents[3]  # the grader's source tree (an editable install)

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, to build the autograder image.
# Choose a base image with Python 3.11 or newer (Ubuntu 24.04).
set -euxo pipefail
apt-get update
apt-get install -y python3 python3-venv python3-pip bubblewrap
python3 -c 'import sys; assert sys.version_info >= (3, 11), "the grader needs Python 3.11+"'
# The grader's code and Python, where every user may read them: where bubblewrap cannot run
# (Docker's seccomp profile), the notebook runs as uid 65534.
rm -rf /autograder/grader
cp -r /autograder/source/grader /autograder/grader
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install {requirements}
/autograder/venv/bin/pip install --no-deps -e /autograder/grader
chmod -R a+rX /autograder/grader /autograder/venv
# The bundle (plan, checks, data) becomes root-only; then the reference's answers in the plan must earn
# full marks with the shipped checks and data (no notebook runs, nothing is downloaded).
/autograder/venv/bin/python -m grader.tools.gradescope setup --root /autograder
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grades the notebook in /autograder/submission/
# with the plan shipped in the bundle and writes /autograder/results/results.json.
# AUTOGRADER_ROOT and GRADER_PYTHON override the locations (a trial run outside Gradescope).
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{GRADER_PYTHON:-$ROOT/venv/bin/python}}"
exec "$PYTHON" -m grader.tools.gradescope run-autograder {name} --root "$ROOT" \\
    --bundle "$ROOT/source/private"
"""

BUNDLE_SOURCE = ("pyproject.toml", "README.md", "grader")
IMPORTS_TENSORFLOW = re.compile(r"^\s*(import|from)\s+(tensorflow|keras)\b", re.MULTILINE)
PRIVATE, MANIFEST = "private", "bundle.json"
IGNORED = ("__pycache__", "*.pyc", "examples", ".ipynb_checkpoints", ".benchmarks", "*.grader-kit.zip",
           ".pytest_cache")
#: The default Gradescope container: memory and CPU quota.
CONTAINER_MB, CONTAINER_CPUS = 768, 0.5
#: Gradescope's default time limit for one submission, in seconds.
GRADESCOPE_TIMEOUT = 600
#: The longest a notebook may run in Gradescope once its time limits are scaled to the CPU
#: quota: the rest of the 10 minutes starts the grader, scores and writes the results.
NOTEBOOK_CAP = GRADESCOPE_TIMEOUT - 60


@dataclass(frozen=True)
class Measured:
    """run_autograder on the reference in Gradescope's container, as
    ``benchmarks/gradescope_container.py`` measured it (no namespaces, 0.5 CPU; medians)."""

    memory_mb: int  # the container's memory: the default, or the smallest that sufficed
    peak_mb: int  # the container's peak memory (cgroup, page cache included)
    seconds: float  # wall time of run_autograder

    @property
    def fits(self) -> bool:
        return self.memory_mb <= CONTAINER_MB

    def describe(self) -> str:
        measured = f"measured peak {self.peak_mb} MB, {self.seconds:.0f} s at {CONTAINER_CPUS:g} CPU"
        if self.fits:
            return f"fits Gradescope's default container ({CONTAINER_MB} MB): {measured}"
        return (f"does NOT fit Gradescope's default {CONTAINER_MB} MB: set the memory to at least "
                f"{self.memory_mb / 1024:g} GB in the assignment's Autograder Settings ({measured})")


#: Measured on a 2-core machine shared with other work (timings are noisy), with the
#: assignments' reference notebooks: see the README's Gradescope section. The Keras labs do
#: not fit 768 MB: importing TensorFlow alone takes 655 MB here, and the course notebooks
#: hold their full datasets (60,000 MNIST-size images; 5,000 faces at once) as floats.
CONTAINER = {
    "convolve-by-hand": Measured(memory_mb=768, peak_mb=91, seconds=6),
    "build-cnn": Measured(memory_mb=1536, peak_mb=1303, seconds=83),  # 768 MB: killed, 8/18
    "facial-detection": Measured(memory_mb=3072, peak_mb=2721, seconds=105),  # 1.5 GB: killed once
}


class BrokenBundleError(GraderError):
    """A bundle that cannot grade as built (its plan missing, its files changed): the
    instructor must build it again; no reference is ever run instead."""


# --- building the bundle (the instructor's machine) -----------------------------------------

def write_gradescope_bundle(assignment: Assignment, out: Path, seed: int | None = None,
                            source: Path = SOURCE) -> Path:
    """Build the bundle into ``out`` (its layout) and ``out/autograder.zip``; returns the zip.

    The plan is made here for the bundle's seed, so every student gets the same hidden
    inputs, as in one ``grader grade`` run of the whole class, and Gradescope never runs
    the reference.
    """
    if not (source / "pyproject.toml").is_file():
        raise GraderError(f"the Gradescope bundle is built from the grader's source tree; "
                          f"{source} has no pyproject.toml (install the grader with pip install -e)")
    seed = seed if seed is not None else secrets.randbelow(2**31)
    out.mkdir(parents=True, exist_ok=True)
    fields = {"name": shlex.quote(assignment.name),
              "requirements": " ".join(shlex.quote(r) for r in requirements(assignment, source))}
    for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
        (out / name).write_text(text.format(**fields), encoding="utf-8")
        (out / name).chmod(0o755)
    _copy_source(source, out / "grader")
    write_private(assignment, seed, out / PRIVATE)
    return _zip(out)


def requirements(assignment: Assignment, source: Path = SOURCE) -> list[str]:
    """The grader's dependencies the assignment needs: the ``tensorflow`` extra only for one whose
    reference, prelude or probes import it, or that preloads it (the numpy assignments'
    image is then about 1.5 GB smaller)."""
    project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = list(project["dependencies"])
    if uses_tensorflow(assignment):
        needed += project.get("optional-dependencies", {}).get("tensorflow", [])
    return needed


def uses_tensorflow(assignment: Assignment) -> bool:
    """Whether the assignment's notebooks need TensorFlow (read on the instructor's machine)."""
    from grader.spec.notebook import read_code_cells

    if any(module.split(".")[0] in ("tensorflow", "keras") for module in assignment.preload):
        return True
    code = [c.source for c in read_code_cells(assignment.reference, max_bytes=2**30)]
    code += [assignment.prelude_source(), assignment.custom_probes_source()]
    return any(IMPORTS_TENSORFLOW.search(text) for text in code)


def _copy_source(source: Path, tree: Path) -> None:
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    for item in BUNDLE_SOURCE:
        path = source / item
        if path.is_dir():
            shutil.copytree(path, tree / item, ignore=shutil.ignore_patterns(*IGNORED))
        elif path.is_file():
            shutil.copy2(path, tree / item)


def write_private(assignment: Assignment, seed: int, private: Path) -> dict[str, Any]:
    """The bundle's root-only part (see the module's docstring); returns its manifest.

    The plan is made from the bundle's own copy of the assignment, so the plan, the files
    shipped and the fingerprint recorded agree even if the originals change meanwhile; then
    the reference in the copy is replaced by a placeholder."""
    from grader.plan.planner import make_plan
    from grader.spec import load_assignment

    private = private.resolve()
    for stale in ("spec", "plans", "cache", "data"):
        shutil.rmtree(private / stale, ignore_errors=True)
    copy = load_assignment(_copy_spec(assignment, private / "spec"))
    plan = make_plan(copy, seed, cache=private / "plans", answers=True)
    manifest = {
        "format": 1, "assignment": copy.name, "folder": copy.folder.relative_to(private).as_posix(),
        "seed": seed, "plan": plan.id, "fingerprint": copy.fingerprint(),
        "digest": spec_digest(copy), "environment": _ship_environment(copy, private),
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_placeholder(copy.reference)
    for cache in list((private / "spec").rglob("__pycache__")):
        shutil.rmtree(cache)
    atomic_write(private / MANIFEST, json.dumps(manifest, indent=2).encode())
    manifest["self_test"] = _self_test(private)
    atomic_write(private / MANIFEST, json.dumps(manifest, indent=2).encode())
    return manifest


def _copy_spec(assignment: Assignment, spec: Path) -> Path:
    """The assignment folder and the files its spec names outside it (the reference too),
    at the same places relative to one another. Returns the folder's copy."""
    outside = [p for p in _named_files(assignment) if assignment.folder not in p.parents]
    base = Path(os.path.commonpath([assignment.folder, assignment.reference, *outside]))
    copy = spec / assignment.folder.relative_to(base)
    shutil.copytree(assignment.folder, copy, ignore=shutil.ignore_patterns(*IGNORED))
    for path in [*outside, assignment.reference]:
        (spec / path.relative_to(base)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, spec / path.relative_to(base))
    _check_copy(assignment, copy, spec)
    return copy


def _named_files(assignment: Assignment) -> list[Path]:
    """What the spec names besides its folder's own files (the reference excepted)."""
    named = [assignment.checks, assignment.probes, assignment.prelude,
             *(p.source for p in assignment.provide),
             *((assignment.folder / p.build.split(":")[0]).resolve()
               for p in assignment.provide if p.build)]
    return list(dict.fromkeys(p for p in named if p is not None))


def _check_copy(assignment: Assignment, copy: Path, spec: Path) -> None:
    """Every file the copy's spec names must resolve inside the bundle (a spec naming its
    reference by an absolute path would find the instructor's file, not the bundle's)."""
    from grader.spec import load_assignment

    loaded = load_assignment(copy)
    for path in (loaded.reference, *_named_files(loaded)):
        if spec.resolve() not in path.resolve().parents:
            raise GraderError(f"{assignment.name}'s {SPEC_FILE} names {path} outside the "
                              "bundle: name files by paths relative to the assignment folder")


def spec_digest(assignment: Assignment) -> str:
    """The fingerprint without the reference: what run_autograder can check on the bundle's
    files (their plan was made from exactly these)."""
    digest = hashlib.sha256(repr(sorted(assignment.parameters.items())).encode())
    for path in (assignment.folder / SPEC_FILE, *_named_files(assignment)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _ship_environment(assignment: Assignment, private: Path) -> dict[str, str]:
    """The assignment's environment variables set here (a dataset's path): the file is
    shipped, and run_autograder points the variable at its copy."""
    shipped = {}
    for variable in sorted({v for p in assignment.provide for v in p.env}):
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            raise GraderError(f"{variable}={value!r}: a Gradescope bundle ships data files; set "
                              f"{variable} to the file's path, or unset it")
        target = private / "data" / variable / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        shipped[variable] = target.relative_to(private).as_posix()
    return shipped


def _self_test(private: Path) -> dict[str, Any]:
    """Score the reference's answers in the plan with the bundle's checks, in a process whose data cache
    is the bundle's (what the checks generate there is what scoring needs, and is shipped)."""
    done = subprocess.run([sys.executable, "-m", "grader.tools.gradescope", "verify", str(private)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})  # no .pyc to ship
    if done.returncode != 0:
        raise GraderError("the bundle's self-test failed (the reference's answers, scored with the "
                          f"shipped checks and data):\n{(done.stderr or done.stdout)[-3000:]}\n"
                          "If the checks' data differ from the plan's, the data cache the plan "
                          "was made with may be stale: remove ~/.cache/grader and build again.")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _zip(out: Path) -> Path:
    archive = out / "autograder.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for folder in ("setup.sh", "run_autograder", "grader", PRIVATE):
            paths = [out / folder] if (out / folder).is_file() else sorted((out / folder).rglob("*"))
            for path in paths:
                # bytecode a Python run left in the tree (checks imported by the self-test)
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    info = zipfile.ZipInfo.from_file(path, path.relative_to(out).as_posix())
                    info.compress_type = zipfile.ZIP_DEFLATED
                    with open(path, "rb") as handle, bundle.open(info, "w") as entry:
                        shutil.copyfileobj(handle, entry, 1 << 20)
    return archive


def bundle_summary(out: Path) -> list[str]:
    """What ``grader gradescope`` prints about a built bundle."""
    manifest = json.loads((out / PRIVATE / MANIFEST).read_text(encoding="utf-8"))
    test = manifest["self_test"]
    size = (out / "autograder.zip").stat().st_size / 2**20
    lines = [f"seed {manifest['seed']}, plan {manifest['plan']} made here: Gradescope only runs "
             "the student's notebook and scores it",
             f"self-test: the reference's answers in the plan earn {test['score']:g}/"
             f"{test['max_score']:g} with the shipped checks and data ({size:.1f} MB zipped)"]
    return lines


def container_advice(name: str) -> tuple[str, bool]:
    """What the instructor must set in Gradescope for ``name``, and whether it is a warning
    (the default container is too small, or it was never measured)."""
    measured = CONTAINER.get(name)
    if measured is None:
        return (f"container: {name} was not measured in Gradescope's container (python "
                "benchmarks/gradescope_container.py ASSIGNMENT)", True)
    return f"container: {name} {measured.describe()}", not measured.fits
