"""Building a student kit on the instructor's machine (``grader release``): the public
checks, the public plan made here from the reference, the files the notebook gets, and a
self-test; then the zip. See ``grader.tools.studentkit``."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from grader.errors import KitError
from grader.results import outline
from grader.spec import Assignment
from grader.spec.shipped import spec_to_data
from grader.tools.studentkit.kit import (
    FORMAT,
    MANIFEST,
    PLAN,
    SPEC,
    StudentKit,
    kit_name,
    manifest_digest,
    shipped_plans_only,
)
from grader.tools.studentkit.shake import FROZEN_SUFFIX, public_checks


@dataclass(frozen=True)
class Released:
    """What ``release`` wrote: the student notebook and, unless asked not to, the kit."""

    notebook: Path
    kit: Path | None = None
    manifest: dict[str, Any] | None = None


def release(assignment: Assignment, out: Path | None = None, seed: int | None = None,
            kit: bool = True) -> Released:
    """Write the stamped student notebook and the student kit: into ``out``, or (without it)
    the notebook at the spec's ``notebook`` path and the kit beside it."""
    from grader.spec.release import release as write_notebook

    folder = out if out is not None else assignment.notebook.parent
    notebook = write_notebook(assignment.reference, folder / assignment.notebook.name
                              if out is not None else assignment.notebook, assignment.name)
    if not kit:
        return Released(notebook)
    path = folder / kit_name(assignment.name)
    return Released(notebook, path, write_kit(assignment, path, seed))


def write_kit(assignment: Assignment, path: Path, seed: int | None = None) -> dict[str, Any]:
    """Build the kit of ``assignment`` at ``path``; returns its manifest.

    Its public plan is made here for the kit's seed, so a student's check never runs a
    reference; the kit is refused unless the reference's answers earn every public point
    with the kit's own checks (its self-test)."""
    from grader.checks import collect_checks
    from grader.plan.planner import Plan, make_plan
    from grader.spec.release import release_notebook

    seed = seed if seed is not None else secrets.randbelow(2**31)
    questions = outline(assignment.questions, collect_checks(assignment))
    with tempfile.TemporaryDirectory(prefix="grader-kit-") as scratch:
        stage = Path(scratch) / "kit"
        frozen = _write_spec(assignment, stage / SPEC)
        plan = make_plan(assignment, seed, cache=Path(scratch) / "plans", public_only=True,
                         answers=True)
        answers = dict(plan.answers)
        shutil.copytree(Path(scratch) / "plans" / plan.id, stage / PLAN)
        shipped = Plan.load(stage / PLAN)
        shipped.answers = {}  # the same values as the plan's reference answers: shipped once
        shipped.save(stage / PLAN)
        manifest = {
            "format": FORMAT, "assignment": assignment.name, "title": assignment.title,
            "spec": spec_to_data(assignment), "seed": seed, "plan": plan.id,
            "fingerprint": assignment.fingerprint(),
            "release": release_notebook(assignment.reference, assignment.name).metadata.grader.release,
            "questions": [asdict(q) for q in questions], "frozen": frozen,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": {p.relative_to(stage).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in sorted(stage.rglob("*")) if p.is_file()},
        }
        manifest["digest"] = manifest_digest(manifest)
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _zip(stage, path)
    _self_test(path, answers)
    return manifest


def _write_spec(assignment: Assignment, spec: Path) -> list[str]:
    """The kit's checks (public part), probes and prelude; returns the names frozen."""
    from grader.files import load_module

    spec.mkdir(parents=True)
    siblings = {p.stem for p in assignment.checks.parent.glob("*.py")} - {assignment.checks.stem}
    shaken = public_checks(assignment.checks.read_text(encoding="utf-8"), siblings,
                           lambda: vars(load_module(assignment.checks, prefix="grader_kit_")))
    (spec / "checks.py").write_text(shaken.source, encoding="utf-8")
    if shaken.arrays:
        from grader import wire

        (spec / f"checks{FROZEN_SUFFIX}").write_bytes(wire.save_arrays(shaken.arrays))
    for module, name in ((assignment.probes, "probes.py"), (assignment.prelude, "prelude.py")):
        if module is not None:
            (spec / name).write_bytes(module.read_bytes())
    return shaken.frozen


def _zip(stage: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(stage.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(stage).as_posix())
    partial.replace(path)


def _self_test(path: Path, answers: dict) -> None:
    """The reference's answers to the public probes, scored with the kit as a student's
    check scores (its checks, its plan): every public point, or the kit is removed."""
    from grader.checks import Selection
    from grader.observations import Observations
    from grader.plan.planner import Plan
    from grader.scoring.scorer import score

    kit = StudentKit.open(path)
    with tempfile.TemporaryDirectory(prefix="grader-kit-test-") as scratch, shipped_plans_only():
        spec, plan_folder = kit.unpack(Path(scratch))
        plan = Plan.load(plan_folder)
        observed = Observations("the reference's answers", probes=answers, plan_id=kit.manifest["plan"])
        result = score(spec, plan.checks, observed, plan.reference, plan.seed,
                       selection=Selection(public_only=True))
    failing = [f"{c.check.name}: {c.message}" for c in result.checks if not c.passed]
    public = sum(q.public_points for q in kit.questions)
    if failing or abs(result.score - public) > 1e-6:
        path.unlink()
        raise KitError("the kit's own checks do not give the reference's answers every public "
                       f"point ({result.score:g} of {public:g}):\n  " + "\n  ".join(failing))
