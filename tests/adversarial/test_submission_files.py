"""Picking and reading submissions (issue 13): links, devices, odd names, spreadsheet formulas.

One batch of convolve-by-hand holds a correct notebook beside every kind of bad file. Each
bad file is one result with 0 and a message a student can act on; the correct notebook still
earns 20 (the batch is never lost); nothing is written outside ``OUT/submissions/<name>/``;
and no cell of gradebook.csv can start a formula.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from grader.execution.submission import discover, safe_name
from grader.report.spreadsheet import csv_text, neutralise
from grader.tools.gradescope import run_autograder
from tests.conftest import EXAMPLES, REFERENCE, grade_all

FORMULA = '=HYPERLINK("example.invalid","x")'


@pytest.fixture(scope="module")
def batch(assignment, tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    shutil.copy(EXAMPLES / "reference.ipynb", folder / "honest.ipynb")
    os.symlink(REFERENCE, folder / "link-to-reference.ipynb")
    os.symlink(EXAMPLES / "reference.ipynb", folder / "relative-link.ipynb")
    os.symlink("/dev/zero", folder / "link-to-dev-zero.ipynb")
    os.mkfifo(folder / "fifo.ipynb")
    os.symlink("/dev/zero", folder / f"{FORMULA}-link.ipynb")  # its problem text starts with =
    (folder / "huge.ipynb").write_bytes(b" " * (assignment.limits.max_notebook_mb * 2**20 + 10))
    for odd in ("..ipynb", "...ipynb", f"{FORMULA}.ipynb", "+cmd.ipynb", "@sum.ipynb"):
        shutil.copy(EXAMPLES / "untouched.ipynb", folder / odd)
    linked_folder = tmp_path_factory.mktemp("elsewhere")
    shutil.copy(EXAMPLES / "reference.ipynb", linked_folder / "outside.ipynb")
    os.symlink(linked_folder, folder / "linked-folder")
    out = tmp_path_factory.mktemp("out")
    return grade_all(assignment, [folder], out, jobs=2), out


def test_the_honest_submission_is_graded_whatever_lies_beside_it(batch):
    results, _ = batch
    assert results["honest"].score == 20


@pytest.mark.parametrize("name", ["link-to-reference", "relative-link", "link-to-dev-zero"])
def test_links_earn_nothing_and_say_why(batch, name):
    result = batch[0][name]
    assert result.score == 0
    assert result.problem and "is a link, not a notebook file" in result.problem


@pytest.mark.parametrize("name", ["fifo"])
def test_special_files_earn_nothing(batch, name):
    result = batch[0][name]
    assert result.score == 0 and "not a regular file" in (result.problem or "")


def test_an_oversized_file_is_refused_unread(batch, assignment):
    result = batch[0]["huge"]
    limit = f"over the {assignment.limits.max_notebook_mb:g} MB limit"
    assert result.score == 0 and limit in (result.problem or "")


def test_folders_behind_links_are_not_searched(batch):
    assert "outside" not in batch[0]


def test_names_stay_inside_the_output_folder(batch):
    results, out = batch
    names = {Path(r.path).name: r.submission for r in results.values()}
    assert names["..ipynb"] != names["...ipynb"]
    assert "dot" in names["..ipynb"] and "dot" in names["...ipynb"]
    for name in names.values():
        assert (out / "submissions" / name / "results.json").is_file()
        assert name == safe_name(name) and not name.startswith(".")
    assert not (out / "results.json").exists() and not (out / "submissions" / "results.json").exists()


def test_gradebook_cells_never_start_a_formula(batch):
    _, out = batch
    rows = list(csv.reader(io.StringIO((out / "gradebook.csv").read_text())))
    cells = [cell for row in rows for cell in row]
    assert len(rows) == 1 + len(batch[0])
    assert not [c for c in cells if c.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))]
    problems = [row[-1] for row in rows[1:]]
    assert any(problem.startswith("'" + FORMULA) for problem in problems)


@pytest.mark.parametrize("cell, safe", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("  =1", "'  =1"), ("\t=1", "'\t=1"), ("plain", "plain"), ("a=b", "a=b"),
])
def test_neutralise(cell, safe):
    assert neutralise(cell) == safe


def test_numbers_stay_numbers():
    assert csv_text([["-x", -1.5, 3]], lineterminator="\n") == "'-x,-1.5,3\n"


def test_safe_name_examples():
    assert safe_name("..") == "dot"
    assert safe_name("Bob Smith") == "Bob-Smith"
    assert safe_name(FORMULA).startswith("HYPERLINK")
    assert safe_name("reference") == "reference"


def test_discover_never_resolves_links(tmp_path):
    os.symlink(REFERENCE, tmp_path / "a.ipynb")
    (submission,) = discover([tmp_path])
    assert submission.path == tmp_path / "a.ipynb" and submission.path.is_symlink()


def test_gradescope_refuses_a_linked_submission(tmp_path):
    (tmp_path / "submission").mkdir()
    os.symlink(REFERENCE, tmp_path / "submission" / "convolve-by-hand.ipynb")
    assert run_autograder("convolve-by-hand", tmp_path, seed=1, cache=tmp_path / "cache") == 0
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == 0
    assert "is a link" in json.dumps(data)
