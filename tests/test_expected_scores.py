"""Every shipped assignment's examples earn exactly the scores their ``examples/expected.toml``
pins, per question, and so do the course's own notebooks named there when they are present.

One module for every assignment: a new assignment needs an ``examples/expected.toml``, no new
test. Each assignment's examples (and course notebooks) are graded once a session, by
``graded_examples``, which the assignments' own test modules use too for their other checks
of the same batch. Assignments whose ``expected.toml`` says ``slow = true`` (TensorFlow
notebooks: minutes a folder) are marked ``slow``, outside the fast tier.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.results import SubmissionResult
from grader.spec import load_assignment
from tests.conftest import REPO, by_question, grade_all

ASSIGNMENTS = REPO / "assignments"
EXPECTED_FILE = Path("examples") / "expected.toml"
#: What an example's or a course notebook's table may hold.
ENTRY_KEYS = {"lost", "absent"}
COURSE_KEYS = ENTRY_KEYS | {"notebook"}


@dataclass(frozen=True)
class CourseNotebook:
    path: Path
    scores: dict[str, float]


@dataclass(frozen=True)
class Expected:
    """An assignment's ``examples/expected.toml``: each notebook's score, per question."""

    assignment: str
    points: dict[str, float]  # each question's full points
    slow: bool
    examples: dict[str, dict[str, float]]  # example (file stem) -> question -> score
    course: dict[str, CourseNotebook]  # course notebook (file stem) -> where, scores

    def max_score(self, scores: dict[str, float]) -> float:
        return sum(self.points[q] for q in scores)


def read_expected(assignment: str) -> Expected:
    """The expected scores of ``assignments/<assignment>/examples/expected.toml``."""
    path = ASSIGNMENTS / assignment / EXPECTED_FILE
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    points = {q: float(p) for q, p in data["points"].items()}
    # normpath, not resolve: ".." collapsed, a linked folder keeps its name in the results
    folder = Path(os.path.normpath(REPO / data["course_folder"])) if "course_folder" in data else None
    course = {}
    for stem, entry in data.get("course", {}).items():
        assert folder is not None, f"{path}: [course.{stem}] needs course_folder"
        course[stem] = CourseNotebook(folder / entry["notebook"],
                                      _scores(points, entry, COURSE_KEYS, f"{path}: course.{stem}"))
    examples = {stem: _scores(points, entry, ENTRY_KEYS, f"{path}: examples.{stem}")
                for stem, entry in data["examples"].items()}
    return Expected(assignment, points, bool(data.get("slow", False)), examples, course)


def _scores(points: dict[str, float], entry: dict, allowed: set[str], where: str) -> dict[str, float]:
    """Every question's full points, less what the entry says it loses (``lost``: per
    question, or "all"), without its ``absent`` questions; rounded as results are."""
    assert set(entry) <= allowed, f"{where}: unknown keys {sorted(set(entry) - allowed)}"
    questions = [q for q in points if q not in entry.get("absent", [])]
    lost = entry.get("lost", {})
    if lost == "all":
        return {q: 0.0 for q in questions}
    assert isinstance(lost, dict) and set(lost) <= set(questions), f"{where}: lost {lost!r}"
    return {q: round(points[q] - lost.get(q, 0.0), 4) for q in questions}


_GRADED: dict[str, tuple[dict[str, SubmissionResult], Path]] = {}


def graded_examples(assignment: str, tmp_path_factory: pytest.TempPathFactory
                    ) -> tuple[dict[str, SubmissionResult], Path]:
    """The assignment's examples and the course's notebooks that are present, graded in one
    batch (seed 7, two workers) once a session: results by file stem, and the output folder."""
    if assignment not in _GRADED:
        course = [n.path for n in read_expected(assignment).course.values() if n.path.is_file()]
        out = tmp_path_factory.mktemp(assignment)
        results = grade_all(load_assignment(assignment), [ASSIGNMENTS / assignment / "examples", *course],
                            out, seed=7, jobs=2)
        _GRADED[assignment] = results, out
    return _GRADED[assignment]


def _shipped() -> list[Expected]:
    return [read_expected(p.parent.parent.name)
            for p in sorted(ASSIGNMENTS.glob(f"*/{EXPECTED_FILE.as_posix()}"))]


SHIPPED = _shipped()


def _marks(expected: Expected) -> list[pytest.MarkDecorator]:
    return [pytest.mark.slow] if expected.slow else []


EXAMPLES = [pytest.param(e.assignment, stem, id=f"{e.assignment}/{stem}", marks=_marks(e))
            for e in SHIPPED for stem in sorted(e.examples)]
COURSE = [pytest.param(e.assignment, stem, id=f"{e.assignment}/{stem}", marks=_marks(e))
          for e in SHIPPED for stem in sorted(e.course)]
BATCHES = [pytest.param(e.assignment, id=e.assignment, marks=_marks(e)) for e in SHIPPED]


def test_every_assignment_with_examples_pins_their_scores():
    with_examples = sorted(p.parent.parent.name for p in ASSIGNMENTS.glob("*/examples/*.ipynb"))
    assert sorted({e.assignment for e in SHIPPED}) == sorted(set(with_examples))


@pytest.mark.parametrize(("assignment", "example"), EXAMPLES)
def test_example_scores(assignment, example, tmp_path_factory):
    results, _ = graded_examples(assignment, tmp_path_factory)
    expected = read_expected(assignment)
    scores = expected.examples[example]
    assert by_question(results[example]) == pytest.approx(scores, abs=1e-3)
    assert results[example].max_score == expected.max_score(scores)


@pytest.mark.parametrize("assignment", BATCHES)
def test_all_examples_were_graded(assignment, tmp_path_factory):
    results, _ = graded_examples(assignment, tmp_path_factory)
    expected = read_expected(assignment)
    assert sorted(set(results) - set(expected.course)) == sorted(expected.examples)


@pytest.mark.parametrize(("assignment", "notebook"), COURSE)
def test_course_notebook_scores(assignment, notebook, tmp_path_factory):
    course = read_expected(assignment).course[notebook]
    if not course.path.is_file():
        pytest.skip(f"the course's notebook is not at {course.path}")
    results, _ = graded_examples(assignment, tmp_path_factory)
    assert by_question(results[notebook]) == pytest.approx(course.scores, abs=1e-3)
    assert results[notebook].max_score == read_expected(assignment).max_score(course.scores)
