"""Files that are not gradable notebooks get a zero and a clear message; the batch goes on."""

from __future__ import annotations

import json

import nbformat
import pytest

from grader.errors import NotebookError
from grader.spec.notebook import parse_code_cells
from tests.conftest import REFERENCE, grade_all

BAD = {
    "plain-text": (b"def conv2d(image, kernel):\n    return image\n", "not valid JSON"),
    "invalid-json": (b'{"cells": [{"cell_type": "code", "source": "x = 1"', "not valid JSON"),
    "nbformat-3": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                               "worksheets": [{"cells": []}]}).encode(), "old notebook format"),
    "empty": (nbformat.writes(nbformat.v4.new_notebook()).encode(), "no code cells"),
    "binary": (bytes(range(256)) * 64, "binary file"),
    "latin-1": ('{"cells": [], "note": "caf\xe9"}'.encode("latin-1"), "not UTF-8"),
    "json-list": (b"[1, 2, 3]", "not a notebook"),
}


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    for name, (data, _) in BAD.items():
        (folder / f"{name}.ipynb").write_bytes(data)
    huge = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("x" * (50 * 2**20))])
    nbformat.write(huge, str(folder / "fifty-megabytes.ipynb"))
    (folder / "reference.ipynb").write_bytes(REFERENCE.read_bytes())
    return grade_all(assignment, [folder], tmp_path_factory.mktemp("out"))


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_gets_zero_and_a_message(graded, name):
    result = graded[name]
    assert result.score == 0 and result.max_score == 20
    assert BAD[name][1] in result.problem
    assert all(not c.passed and "not graded" in c.message for c in result.checks)


def test_oversized_notebook_is_rejected_unread(graded):
    result = graded["fifty-megabytes"]
    assert result.score == 0 and "over the 20 MB limit" in result.problem


def test_good_notebook_in_the_same_batch_is_graded(graded):
    assert graded["reference"].score == 20


def test_colab_metadata_duplicate_ids_and_list_sources_are_accepted():
    notebook = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"colab": {"provenance": []}, "accelerator": "GPU"},
        "cells": [
            {"cell_type": "code", "id": "a", "source": ["x = 1\n", "y = 2"], "metadata": {},
             "outputs": [], "execution_count": None, "attachments": {}},
            {"cell_type": "markdown", "id": "a", "source": "dup id", "metadata": {}},
            {"cell_type": "code", "id": "a", "source": "z = 3", "unknown": True},
        ],
    }
    cells = parse_code_cells(json.dumps(notebook).encode())
    assert [c.source for c in cells] == ["x = 1\ny = 2", "z = 3"]
    assert [c.notebook_index for c in cells] == [0, 2]


def test_malformed_source_is_a_clear_error():
    notebook = {"nbformat": 4, "cells": [{"cell_type": "code", "source": 42}]}
    with pytest.raises(NotebookError, match="malformed source"):
        parse_code_cells(json.dumps(notebook).encode())
