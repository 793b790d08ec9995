"""The Gradescope autograder bundle (``grader gradescope ASSIGNMENT``) and its runtime.

The bundle is made on the instructor's machine and carries everything scoring needs, so
that Gradescope's container (768 MB and half a CPU by default, Docker, root) only runs the
student's notebook and scores it; the grader's own process there never imports TensorFlow:

- the **plan** for the bundle's seed (hidden inputs, the reference's answers, the files
  each notebook gets under ``$HOME``), made here, once, by running the reference;
- the assignment's spec, checks and the modules they load, in the repository's layout;
- the **data the checks read when scoring**: whatever they cache under
  ``$XDG_CACHE_HOME/grader`` (build-cnn's digits, facial-detection's hidden faces), made
  here by scoring the reference's answers in the plan, and the data files the assignment's environment
  variables name (``GRADER_MNIST=/path/mnist.npz``);
- **not the reference notebook**: a placeholder stands at its path, and the plan is found
  by the fingerprint recorded when the bundle was built.

The zip, as Gradescope unzips it into ``/autograder/source``::

    setup.sh, run_autograder   Gradescope's entry points (run_autograder: python -m grader.tools.gradescope)
    grader/                    the grader's source: pyproject.toml and the package (public code)
    private/                   root-only once setup.sh ran
      bundle.json              assignment, seed, plan id, fingerprint, digest, environment
      spec/                    the assignment folder and the files its spec names
      plans/<id>/              plan.json, plan.npz, home/ (the notebook's provided files)
      cache/grader/            the checks' data (XDG_CACHE_HOME while scoring)
      data/<VARIABLE>/<file>   files named by the assignment's environment variables

``setup.sh`` copies ``grader/`` to ``/autograder/grader`` and installs it into
``/autograder/venv`` (both readable by every user), then ``setup`` makes
``/autograder/source`` root-only and checks the bundle: the reference's answers in the plan must earn
full marks with the shipped checks and data. Where bubblewrap cannot run (Docker's seccomp
profile), the notebook's process runs as uid 65534: it cannot read the bundle nor write
``/autograder/results``, and ``results.json`` is written after it has gone. A bundle whose
plan is missing refuses to grade (its results.json says the autograder is broken); it never
runs a reference.
"""

from __future__ import annotations

import dataclasses
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError
from grader.files import atomic_write
from grader.spec import Assignment, Limits
from grader.spec.assignment import SPEC_FILE
from grader.tools.ci_template import SOURCE

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
IGNORED = ("__pycache__", "*.pyc", "examples", ".ipynb_checkpoints", ".benchmarks",
           ".pytest_cache")
#: Stands at the reference's path in a bundle: the reference itself is not shipped.
PLACEHOLDER = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    {"cell_type": "markdown", "id": "not-shipped", "metadata": {},
     "source": "The reference is not shipped in a Gradescope bundle: its plan is."}]}
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
    "facial-detection": Measured(memory_mb=3072, peak_mb=2716, seconds=114),  # 1.5 GB: killed once
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
    """The grader's dependencies the assignment needs: TensorFlow only for one whose
    reference, prelude or probes import it, or that preloads it (the numpy assignments'
    image is then about 1.5 GB smaller)."""
    project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    keep = _uses_tensorflow(assignment)
    return [r for r in project["dependencies"] if keep or not r.startswith("tensorflow")]


def _uses_tensorflow(assignment: Assignment) -> bool:
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
    copy.reference.write_text(json.dumps(PLACEHOLDER, indent=1), encoding="utf-8")
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
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800)
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
                if path.is_file():
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


# --- the bundle in the container ------------------------------------------------------------

@dataclass(frozen=True)
class ShippedAssignment(Assignment):
    """An assignment as a bundle ships it, without its reference: its fingerprint (which
    names its plan) is the one recorded when the bundle was built."""

    shipped_fingerprint: str = ""

    def fingerprint(self) -> str:
        return self.shipped_fingerprint


@dataclass(frozen=True)
class Bundle:
    """A bundle's private folder, checked: its manifest, files and plan are all there."""

    private: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, private: Path) -> Bundle:
        try:
            manifest = json.loads((private / MANIFEST).read_text(encoding="utf-8"))
            manifest["plan"], manifest["seed"], manifest["folder"]  # noqa: B018 - required keys
        except (OSError, ValueError, KeyError) as exc:
            raise BrokenBundleError(f"no readable {MANIFEST} in {private} ({exc})") from exc
        bundle = cls(private, manifest)
        plan = bundle.plan_folder
        if not ((plan / "plan.json").is_file() and (plan / "plan.npz").is_file()):
            raise BrokenBundleError(f"its plan {manifest['plan']} is missing from {plan.parent}; "
                                    "build the bundle again with grader gradescope")
        return bundle

    @property
    def plan_folder(self) -> Path:
        return self.private / "plans" / self.manifest["plan"]

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    def apply_environment(self) -> None:
        """Scoring reads the shipped data: the checks' cache and the data variables; and a
        missing plan is an error, never a run of the reference (planner.NO_PLANNING)."""
        from grader.plan.planner import NO_PLANNING

        os.environ["XDG_CACHE_HOME"] = str(self.private / "cache")
        os.environ[NO_PLANNING] = "1"
        for variable, relative in self.manifest.get("environment", {}).items():
            os.environ[variable] = str(self.private / relative)

    def assignment(self) -> ShippedAssignment:
        from grader.spec import load_assignment

        spec = load_assignment(self.private / self.manifest["folder"])
        if spec_digest(spec) != self.manifest.get("digest"):
            raise BrokenBundleError(f"the files of {spec.name} changed after its plan was made; "
                                    "build the bundle again with grader gradescope")
        values = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
        return ShippedAssignment(**values, shipped_fingerprint=self.manifest["fingerprint"])


def verify_bundle(private: Path) -> dict[str, Any]:
    """The bundle's self-test: the reference's answers in the plan, scored as a submission's would be
    (shipped checks, data and plan; no notebook runs). Full marks, or the bundle is broken."""
    from grader.observations import Observations
    from grader.plan.planner import Plan
    from grader.scoring.scorer import score

    bundle = Bundle.open(private)
    bundle.apply_environment()
    spec = bundle.assignment()
    plan = Plan.load(bundle.plan_folder)
    if not plan.answers:
        raise BrokenBundleError("its plan holds no answers of the reference to test it with; build "
                                "the bundle again with grader gradescope")
    answers = Observations("the reference's answers in the plan", probes=dict(plan.answers),
                           plan_id=bundle.manifest["plan"])
    started = time.perf_counter()
    result = score(spec, plan.checks, answers, plan.reference, plan.seed)
    failing = [f"{c.check.name}: {c.message}" for c in result.checks if not c.passed]
    if failing or result.score < result.max_score:
        raise BrokenBundleError("the reference's answers in the plan do not earn full marks with the shipped "
                                "checks and data:\n  " + "\n  ".join(failing))
    return {"score": result.score, "max_score": result.max_score,
            "seconds": round(time.perf_counter() - started, 2)}


def setup_root(root: Path) -> dict[str, Any]:
    """setup.sh's last step, as root: the bundle root-only, the results folder the grader's,
    then the self-test."""
    lock(root)
    return verify_bundle(root / "source" / PRIVATE)


def lock(root: Path) -> None:
    """``root/source`` (the bundle) readable by root only; ``root/results`` writable by root
    only; ``root`` itself open to every user (the venv and the grader's code are under it).
    Without root (a trial run) there is nobody to lock out: nothing changes."""
    if os.geteuid() != 0:
        return
    root.chmod(root.stat().st_mode | 0o755)
    for path in (root / "source", root / "results"):
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, 0, 0)
    (root / "source").chmod(0o700)
    (root / "results").chmod(0o755)
    for folder, folders, files in os.walk(root / "source" / PRIVATE):
        for name in [*folders, *files]:
            os.lchown(os.path.join(folder, name), 0, 0)
        os.chmod(folder, 0o700)


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
                   cache: Path | None = None, sandbox: str = "auto",
                   bundle: Path | None = None) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json`` (Gradescope's layout).

    With ``bundle`` (a bundle's private folder) the shipped plan and data are used, and
    nothing else: a missing plan is reported as a broken autograder. Without it (bundles made
    before plans were shipped) the plan is made in ``cache`` if it is not there yet.
    Returns the exit status: 0 when a results.json with a grade was written, 1 when the
    grader itself failed (a results.json saying so is written all the same).
    """
    results = root / "results" / "results.json"
    try:
        if bundle is not None:
            lock(root)
        results.parent.mkdir(parents=True, exist_ok=True)
        if bundle is not None:
            data = _grade_with_bundle(Bundle.open(bundle), root, sandbox)
        else:
            data = _grade_without_bundle(assignment_name, root, seed, cache, sandbox)
    except Exception as exc:  # noqa: BLE001 - Gradescope must get a results.json in any case
        broken = "The autograder is broken" if isinstance(exc, BrokenBundleError) else \
            "The autograder failed"
        _write_json(results, {"score": 0.0, "visibility": "visible",
                              "output": f"{broken} ({type(exc).__name__}: {exc}); "
                                        "please tell your instructor."})
        print(f"grader: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    _write_json(results, data)  # after the notebook's process and everything it started ended
    return 0


def _grade_with_bundle(bundle: Bundle, root: Path, mode: str) -> dict[str, Any]:
    from grader.execution.sandbox import describe_sandbox, detect

    bundle.apply_environment()
    spec = bundle.assignment()
    notebook, problem = pick_notebook(root / "submission", spec.notebook.name)
    if notebook is None:
        return {"score": 0.0, "output": problem, "visibility": "visible"}
    share = cpu_share()
    spec = dataclasses.replace(spec, limits=scaled_limits(spec.limits, share))
    sandbox = detect(mode)
    if sandbox.kind == "none" and mode != "off":
        raise BrokenBundleError("the notebook would run with the grader's rights, able to read the "
                                f"bundle: {describe_sandbox(sandbox)}")
    print(f"grader: {spec.name}, plan {bundle.manifest['plan']}; {share:g} CPU, notebook time "
          f"limit {spec.limits.notebook_timeout:g} s; {describe_sandbox(sandbox)}", file=sys.stderr)
    work = root / "grader-work"
    shutil.rmtree(work, ignore_errors=True)
    (work / ".plan").mkdir(parents=True, mode=0o700)
    work.chmod(0o700)
    (work / ".plan" / bundle.manifest["plan"]).symlink_to(bundle.plan_folder.resolve())
    return _grade(spec, notebook, work, bundle.seed, mode, warm=False)


def cpu_share() -> float:
    """The CPUs this process may use: its affinity, and its cgroups' CPU quotas (v2
    ``cpu.max``, v1 ``cpu.cfs_quota_us``), at its own level and above."""
    share = float(len(os.sched_getaffinity(0)))
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return share
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers and "cpu" not in controllers.split(","):
            continue
        mounts = [Path("/sys/fs/cgroup")] if not controllers else \
            [Path("/sys/fs/cgroup") / controllers, Path("/sys/fs/cgroup/cpu")]
        for mount in mounts:
            folder = mount / path.lstrip("/")
            for level in [folder, *folder.parents]:
                share = min(share, _quota(level, v2=not controllers))
                if level == mount:
                    break
    return share


def _quota(folder: Path, v2: bool) -> float:
    """The CPU quota set at one cgroup folder, in CPUs (infinite when none)."""
    try:
        if v2:
            quota, period = (folder / "cpu.max").read_text().split()
        else:
            quota = (folder / "cpu.cfs_quota_us").read_text().strip()
            period = (folder / "cpu.cfs_period_us").read_text().strip()
    except (OSError, ValueError):
        return float("inf")
    return float("inf") if quota in ("max", "-1") else int(quota) / int(period)


def scaled_limits(limits: Limits, share: float) -> Limits:
    """Time limits are wall-clock: under a fraction of a CPU the same work takes longer, so
    they are scaled by 1/share, the notebook's up to NOTEBOOK_CAP (Gradescope's 10 minutes
    less the grader's own time)."""
    if share >= 1:
        return limits
    notebook = max(min(limits.notebook_timeout / share, NOTEBOOK_CAP), limits.notebook_timeout)
    return dataclasses.replace(limits, notebook_timeout=notebook,
                               cell_timeout=min(limits.cell_timeout / share, notebook),
                               probe_timeout=min(limits.probe_timeout / share, notebook))


def _grade_without_bundle(name: str, root: Path, seed: int | None, cache: Path | None,
                          mode: str) -> dict[str, Any]:
    import tempfile

    from grader.spec import load_assignment

    spec = load_assignment(name)
    notebook, problem = pick_notebook(root / "submission", spec.notebook.name)
    if notebook is None:
        return {"score": 0.0, "output": problem, "visibility": "visible"}
    out = cache or Path(tempfile.mkdtemp(prefix="grader-gradescope-"))
    return _grade(spec, notebook, out, seed, mode, warm=True)


def _grade(spec: Assignment, notebook: Path, out: Path, seed: int | None, mode: str,
           warm: bool) -> dict[str, Any]:
    """One submission (a cold child for a bundle: one notebook needs no warm worker)."""
    from grader.grading import GradeOptions, grade
    from grader.report.results_json import gradescope_json

    run = grade(spec, [notebook], GradeOptions(out=out, seed=seed, force=True, sandbox=mode,
                                               warm=warm))
    data = gradescope_json(run.results[0], spec.visibility())
    data["output_format"] = "text"
    data["extra_data"]["isolation"] = run.isolation
    if run.sandbox is not None:  # what kept the notebook from the bundle, for all to read
        said = f"Protection while the notebook ran: {run.sandbox.protection}."
        data["output"] = f"{data['output']}\n\n{said}" if data.get("output") else said
    return data


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=2).encode())


def main(argv: Sequence[str]) -> int:
    """``python -m grader.tools.gradescope run-autograder|setup|verify ...`` (the bundle's scripts)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m grader.tools.gradescope")
    commands = parser.add_subparsers(dest="command", required=True)
    autograder = commands.add_parser("run-autograder", help="grade a Gradescope submission")
    autograder.add_argument("assignment")
    autograder.add_argument("--root", type=Path, default=Path("/autograder"))
    autograder.add_argument("--bundle", type=Path, default=None,
                            help="the bundle's private folder: grade with its shipped plan only")
    autograder.add_argument("--seed", type=int, default=None)
    autograder.add_argument("--cache", type=Path, default=None)
    autograder.add_argument("--sandbox", choices=["auto", "strict", "off"], default="auto")
    setup = commands.add_parser("setup", help="setup.sh's last step: lock the bundle, test it")
    setup.add_argument("--root", type=Path, default=Path("/autograder"))
    verify = commands.add_parser("verify", help="the bundle's self-test (prints its outcome)")
    verify.add_argument("private", type=Path)
    args = parser.parse_args(list(argv))
    if args.command == "run-autograder":
        return run_autograder(args.assignment, args.root, args.seed, args.cache, args.sandbox,
                              args.bundle)
    try:
        outcome = setup_root(args.root) if args.command == "setup" else verify_bundle(args.private)
    except GraderError as exc:
        print(f"grader: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
