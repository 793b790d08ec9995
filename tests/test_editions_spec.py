"""Alternative question groups ([[alternatives]]): editions of a lab, graded on the one a
notebook follows.

A copy of convolve-by-hand gains two editions of one extra question: ``doubled`` (the
default edition, names ``double``) and ``twiced`` (the other, names ``twice``), one point
each; its reference answers both (the plan asks the reference every check). A notebook is
graded on the edition it attempts, out of the same maximum; on the default when it attempts
none; on the one it earns most on when it attempts both. A wrong answer in the edition it
follows costs its points, whichever edition that is.
"""

from __future__ import annotations

import nbformat
import pytest

from grader.errors import SpecError
from grader.spec import load_assignment
from tests.conftest import REFERENCE, by_question, copy_assignment, grade_all, make_variant

DOUBLE = "def double(x):\n    return 2 * x"
TWICE = "def twice(x):\n    return x + x"

EDITIONS = '''
[[questions]]
id = "doubled"
title = "Doubling (this edition)"
names = ["double"]

[[questions]]
id = "twiced"
title = "Doubling (the other edition)"
names = ["twice"]

[[alternatives]]
title = "edition of the lab"
groups = [
  { name = "the 2023 edition", questions = ["doubled"] },
  { name = "the 2024 edition", questions = ["twiced"] },
]
'''

CHECKS = '''

@check("doubled", points=1)
def test_double(student, rng):
    """double(x) returns 2 * x"""
    x = rng.integers(-9, 9, size=5)
    assert_close(student.double(x), 2 * x, "double(5 integers)")


@check("twiced", points=1)
def test_twice(student, rng):
    """twice(x) returns 2 * x"""
    x = rng.integers(-9, 9, size=5)
    assert_close(student.twice(x), 2 * x, "twice(5 integers)")
'''

FULL = 20  # convolve-by-hand's own maximum


def extend(folder, tmp_path, spec_text: str):
    reference = nbformat.read(str(REFERENCE), as_version=4)
    reference.cells += [nbformat.v4.new_code_cell(DOUBLE), nbformat.v4.new_code_cell(TWICE)]
    nbformat.write(reference, str(tmp_path / "reference.ipynb"))
    spec = folder / "assignment.toml"
    text = spec.read_text().replace(REFERENCE.as_posix(), (tmp_path / "reference.ipynb").as_posix())
    spec.write_text(text + spec_text)
    checks = folder / "checks.py"
    checks.write_text(checks.read_text() + CHECKS)


@pytest.fixture
def editions(tmp_path, monkeypatch):
    extend(copy_assignment(tmp_path, monkeypatch), tmp_path, EDITIONS)
    return load_assignment("convolve-by-hand")


def test_the_spec_reads_the_groups_in_order(editions):
    (alternatives,) = editions.alternatives
    assert alternatives.title == "edition of the lab"
    assert [g.name for g in alternatives.groups] == ["the 2023 edition", "the 2024 edition"]
    assert alternatives.default.questions == ("doubled",)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Six notebooks graded once for the module (with the assignment copy found by name)."""
    tmp_path = tmp_path_factory.mktemp("editions")
    with pytest.MonkeyPatch.context() as monkeypatch:
        extend(copy_assignment(tmp_path, monkeypatch), tmp_path, EDITIONS)
        editions = load_assignment("convolve-by-hand")
        submissions = tmp_path / "submissions"
        submissions.mkdir()
        make_variant(submissions, "neither", {})
        make_variant(submissions, "this-edition", {}, extra_cells=(DOUBLE,))
        make_variant(submissions, "other-edition", {}, extra_cells=(TWICE,))
        make_variant(submissions, "other-edition-wrong", {}, extra_cells=("def twice(x):\n    return x",))
        make_variant(submissions, "this-edition-wrong", {}, extra_cells=("def double(x):\n    return x",))
        make_variant(submissions, "both-one-wrong", {},
                     extra_cells=("def double(x):\n    return x", TWICE))
        return grade_all(editions, [submissions], tmp_path / "out", jobs=1)


def test_a_notebook_is_graded_on_the_edition_it_follows(graded):
    """Same maximum in either edition; the other edition's question is not in the grade."""
    assert by_question(graded["this-edition"])["doubled"] == 1
    assert "twiced" not in by_question(graded["this-edition"])
    other = graded["other-edition"]
    assert by_question(other)["twiced"] == 1 and "doubled" not in by_question(other)
    assert other.score == other.max_score == FULL + 1
    note = next(n for n in other.notes if n.startswith("Not graded:"))
    assert "Doubling (this edition)" in note and "graded on the 2024 edition, the one it attempts" in note


def test_a_wrong_notebook_loses_the_points_of_its_edition(graded):
    for name, question, dropped in (("other-edition-wrong", "twiced", "doubled"),
                                    ("this-edition-wrong", "doubled", "twiced")):
        scores = by_question(graded[name])
        assert scores[question] == 0 and dropped not in scores, name
        assert graded[name].score == FULL and graded[name].max_score == FULL + 1, name


def test_a_notebook_that_attempts_neither_is_graded_on_the_default(graded):
    """An empty notebook keeps the default edition's maximum: nothing is dropped for free."""
    neither = graded["neither"]
    assert by_question(neither)["doubled"] == 0 and "twiced" not in by_question(neither)
    assert neither.max_score == FULL + 1
    assert any("graded on the 2023 edition, the default: it attempts none" in n for n in neither.notes)


def test_a_notebook_that_attempts_both_is_graded_on_its_better_one(graded):
    both = graded["both-one-wrong"]
    assert by_question(both)["twiced"] == 1 and "doubled" not in by_question(both)
    assert any("the one it earns most on" in n for n in both.notes)


def test_an_optional_question_in_an_edition_still_leaves_when_undone(tmp_path, monkeypatch):
    """Editions compose with ``optional``: when the default edition's question is optional,
    a notebook that attempts neither edition is graded out of the assignment's own maximum."""
    spec = EDITIONS.replace('names = ["double"]\n', 'names = ["double"]\noptional = true\n')
    extend(copy_assignment(tmp_path, monkeypatch), tmp_path, spec)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    make_variant(submissions, "neither", {})
    result = grade_all(load_assignment("convolve-by-hand"), [submissions], tmp_path / "out",
                       jobs=1)["neither"]
    assert by_question(result).keys().isdisjoint({"doubled", "twiced"})
    assert result.score == result.max_score == FULL
    assert any(n.startswith("Optional question not graded: Doubling (this edition)")
               for n in result.notes)


@pytest.mark.parametrize(("groups", "error"), [
    ('[{ name = "a", questions = ["doubled"] }]', "two or more"),
    ('[{ name = "a", questions = ["doubled"] }, { name = "b", questions = ["nope"] }]',
     "no question 'nope'"),
    ('[{ name = "a", questions = ["doubled"] }, { name = "b", questions = ["doubled"] }]',
     "in another group already"),
    ('[{ name = "a", questions = ["doubled"] }, { name = "b", questions = [] }]',
     "lists no question"),
    ('[{ name = "a", questions = ["doubled"] }, { label = "b", questions = ["twiced"] }]',
     "each group is"),
], ids=["one-group", "unknown-question", "question-twice", "empty-group", "unknown-key"])
def test_malformed_alternatives_stop_with_a_spec_error(tmp_path, monkeypatch, groups, error):
    start = EDITIONS.index("groups = [")
    spec = EDITIONS[:start] + f"groups = {groups}\n"
    extend(copy_assignment(tmp_path, monkeypatch), tmp_path, spec)
    with pytest.raises(SpecError, match=error):
        load_assignment("convolve-by-hand")


def test_an_unknown_key_in_alternatives_is_a_spec_error(tmp_path, monkeypatch):
    extend(copy_assignment(tmp_path, monkeypatch), tmp_path,
           EDITIONS.replace('title = "edition of the lab"', 'tilte = "edition of the lab"'))
    with pytest.raises(SpecError, match="unknown key"):
        load_assignment("convolve-by-hand")
