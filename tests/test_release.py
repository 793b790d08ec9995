"""Release turns the reference into the student notebook; the checked-in one must match."""

from __future__ import annotations

import re

import nbformat
import pytest

from grader.spec.release import ReleaseError, released_text, strip_solutions
from tests.conftest import EXAMPLES, REFERENCE, REPO

STUDENT = REPO / "assignments" / "convolve-by-hand" / "convolve-by-hand.ipynb"


@pytest.mark.parametrize("path", [STUDENT, EXAMPLES / "untouched.ipynb"], ids=["template", "example"])
def test_checked_in_student_notebook_is_what_release_produces(path):
    assert path.read_text(encoding="utf-8") == released_text(REFERENCE, "convolve-by-hand"), (
        f"{path.name} is stale: run `grader release convolve-by-hand --no-kit` and copy it to examples/"
    )


def test_example_reference_is_the_reference():
    assert (EXAMPLES / "reference.ipynb").read_bytes() == REFERENCE.read_bytes()


def test_released_notebook_contains_no_solution_code():
    text = released_text(REFERENCE)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "np.max(logits, axis=-1, keepdims=True)" not in text
    code = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells
                     if c.cell_type == "code")
    regions = REFERENCE.read_text(encoding="utf-8").count("### BEGIN SOLUTION")
    assert regions >= 8
    assert len(re.findall(r"# YOUR CODE HERE\n\s*raise NotImplementedError\(\)", code)) == regions


def test_region_is_replaced_at_its_indentation():
    source = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
    assert strip_solutions(source) == (
        "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    )


def test_module_level_region_and_code_after_it_survive():
    source = "### BEGIN SOLUTION\nA = 1\n### END SOLUTION\nprint(A)"
    assert strip_solutions(source) == "# YOUR CODE HERE\nraise NotImplementedError()\nprint(A)"


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_unbalanced_markers_are_errors(source, problem):
    with pytest.raises(ReleaseError, match=problem):
        strip_solutions(source)
