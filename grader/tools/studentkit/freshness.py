"""Whether what students received is still what ``grader release`` writes now (``grader
validate``): the shipped student notebook, and a student kit built before the spec, checks,
probes, prelude or reference last changed."""

from __future__ import annotations

from pathlib import Path

from grader.spec import Assignment
from grader.tools.studentkit.kit import StudentKit, kit_name


def stale_release(assignment: Assignment, kit: Path | None = None) -> list[str]:
    """What is stale, each with what to run; ``kit`` defaults to the one in the assignment's
    folder, if any (none: only the notebook is compared)."""
    problems = _stale_notebook(assignment)
    found = kit if kit is not None else assignment.folder / kit_name(assignment.name)
    if kit is not None or found.is_file():
        problems += _stale_kit(assignment, found)
    return problems


def _stale_notebook(assignment: Assignment) -> list[str]:
    from grader.spec.release import released_text

    path = assignment.notebook
    if not path.is_file():
        return [f"no student notebook at {path}: run `grader release {assignment.name}`"]
    if path.read_text(encoding="utf-8") != released_text(assignment.reference, assignment.name):
        return [f"the student notebook {path.name} is stale: it differs from what `grader release "
                f"{assignment.name}` writes now from the reference; run it (--no-kit for the "
                "notebook alone) and give students the new notebook"]
    return []


def _stale_kit(assignment: Assignment, path: Path) -> list[str]:
    opened = StudentKit.open(path)
    if opened.assignment != assignment.name:
        return [f"the kit {path.name} is {opened.assignment!r}'s, not {assignment.name!r}'s"]
    if opened.manifest["fingerprint"] != assignment.fingerprint():
        return [f"the kit {path.name} (built {opened.manifest.get('built', '?')}) is stale: the "
                "spec, checks, probes, prelude or reference changed since (or the data "
                f"variables differ); run `grader release {assignment.name}` and give students "
                "the new kit"]
    return []
