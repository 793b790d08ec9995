"""Optional questions: an extra beyond the lab counts only where the notebook attempts it.

A copy of convolve-by-hand gains an optional question, ``doubled`` (names ``double``, one
point), which its reference answers (the plan asks the reference every check). A notebook
that does not define ``double`` is graded out of the usual maximum, with a note; one that
defines it is graded on it, right or wrong.
"""

from __future__ import annotations

import nbformat
import pytest

from grader.errors import SpecError
from grader.spec import load_assignment
from tests.conftest import REFERENCE, by_question, copy_assignment, grade_all, make_variant

DOUBLE = "def double(x):\n    return 2 * x"

EXTRA_QUESTION = '''
[[questions]]
id = "doubled"
title = "Doubling (an optional extra)"
names = ["double"]
optional = true
'''

EXTRA_CHECK = '''

@check("doubled", points=1)
def test_double(student, rng):
    """double(x) returns 2 * x"""
    x = rng.integers(-9, 9, size=5)
    assert_close(student.double(x), 2 * x, "double(5 integers)")
'''


@pytest.fixture
def extended(tmp_path, monkeypatch):
    folder = copy_assignment(tmp_path, monkeypatch)
    reference = nbformat.read(str(REFERENCE), as_version=4)
    reference.cells.append(nbformat.v4.new_code_cell(DOUBLE))
    nbformat.write(reference, str(tmp_path / "reference.ipynb"))
    spec = folder / "assignment.toml"
    text = spec.read_text().replace(REFERENCE.as_posix(), (tmp_path / "reference.ipynb").as_posix())
    spec.write_text(text + EXTRA_QUESTION)
    checks = folder / "checks.py"
    checks.write_text(checks.read_text() + EXTRA_CHECK)
    return load_assignment("convolve-by-hand")


def test_optional_question_is_graded_only_where_defined(extended, tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    make_variant(submissions, "without-extra", {})
    make_variant(submissions, "right-extra", {}, extra_cells=(DOUBLE,))
    make_variant(submissions, "wrong-extra", {}, extra_cells=("def double(x):\n    return x + x + 1",))
    graded = grade_all(extended, [submissions], tmp_path / "out", jobs=1)

    without = graded["without-extra"]
    assert "doubled" not in by_question(without)
    assert without.max_score == 20 and without.score == 20
    assert any("Optional question not graded" in note and "double" in note for note in without.notes)

    assert by_question(graded["right-extra"])["doubled"] == 1
    assert graded["right-extra"].max_score == 21
    assert by_question(graded["wrong-extra"])["doubled"] == 0
    assert graded["wrong-extra"].max_score == 21


def test_optional_must_be_a_boolean(tmp_path, monkeypatch):
    folder = copy_assignment(tmp_path, monkeypatch)
    spec = folder / "assignment.toml"
    spec.write_text(spec.read_text() + EXTRA_QUESTION.replace("optional = true", 'optional = "yes"'))
    with pytest.raises(SpecError, match="optional must be true or false"):
        load_assignment("convolve-by-hand")
