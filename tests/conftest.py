"""Shared helpers: paths of the shipped assignment, notebook variants, batch grading."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from grader.grading import GradeOptions, grade
from grader.results import SubmissionResult
from grader.spec import Assignment, load_assignment

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "assignments" / "convolve-by-hand" / "examples"
REFERENCE = REPO / "reference" / "convolve-by-hand.ipynb"
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*\n", re.MULTILINE)


@pytest.fixture(scope="session")
def assignment() -> Assignment:
    return load_assignment("convolve-by-hand")


def copy_assignment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    name: str = "convolve-by-hand") -> Path:
    """A private copy of a shipped assignment (without examples), found by name through
    GRADER_ASSIGNMENTS, so a test can change its spec or checks."""
    folder = tmp_path / "assignments" / name
    shutil.copytree(REPO / "assignments" / name, folder, ignore=shutil.ignore_patterns("examples"))
    spec = folder / "assignment.toml"
    reference = (REPO / "reference" / f"{name}.ipynb").as_posix()
    spec.write_text(spec.read_text().replace(f"../../reference/{name}.ipynb", reference))
    monkeypatch.setenv("GRADER_ASSIGNMENTS", str(tmp_path / "assignments"))
    return folder


def make_variant(folder: Path, name: str, replacements: dict[str, str],
                 extra_cells: tuple[str, ...] = ()) -> Path:
    """The reference as a student would submit it, with each ``old`` replaced by ``new``.

    Every ``old`` must occur exactly once in the notebook's code, so a variant cannot
    silently stop testing what it claims to when the reference changes.
    """
    notebook = nbformat.read(str(REFERENCE), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = MARKER.sub("", cell.source)
    for old, new in replacements.items():
        hits = [c for c in notebook.cells if c.cell_type == "code" and old in c.source]
        assert len(hits) == 1 and hits[0].source.count(old) == 1, f"{old!r} must occur once"
        hits[0].source = hits[0].source.replace(old, new)
    for source in extra_cells:
        notebook.cells.append(nbformat.v4.new_code_cell(source))
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, str(path))
    return path


#: Test modules that grade TensorFlow notebooks; marked slow here, so `pytest -m "not slow"`
#: (the fast tier) leaves them out without their owners having to mark every test.
SLOW_MODULES = ("test_build_cnn.py", "test_facial_detection.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


#: CI sets this: every grading in the tests then runs isolated or fails, never falls back.
SANDBOX = "strict" if os.environ.get("GRADER_REQUIRE_SANDBOX") == "1" else "auto"


def grade_all(assignment: Assignment, paths: list[Path], out: Path, seed: int = 7,
              jobs: int = 2) -> dict[str, SubmissionResult]:
    run = grade(assignment, paths, GradeOptions(out=out, jobs=jobs, seed=seed, sandbox=SANDBOX))
    return {Path(r.path).stem: r for r in run.results}


def grade_appended(assignment: Assignment, notebooks: dict[str, tuple[str, list[str], float]],
                   bases: dict[str, Path], folder: Path, out: Path) -> dict[str, SubmissionResult]:
    """Each notebook ``name: (base, cells, expected score)`` written as its base notebook with
    ``cells`` appended, all graded in one batch (the adversarial rounds' layout)."""
    for name, (base, cells, _) in notebooks.items():
        notebook = nbformat.read(str(bases[base]), as_version=4)
        notebook.cells += [nbformat.v4.new_code_cell(source) for source in cells]
        nbformat.write(notebook, str(folder / f"{name}.ipynb"))
    return grade_all(assignment, [folder], out)


def by_question(result: SubmissionResult) -> dict[str, float]:
    return {q.id: round(q.earned, 4) for q in result.questions}
