"""The nbgrader mark-up made by benchmarks/baselines.py (offline: nbgrader itself is not needed).

nbgrader rejects a notebook whose cell metadata does not match its schema 3, and the baseline's
timing only means something if its autograder tests pass on a correct notebook and fail on a
wrong one; both are checked here without installing nbgrader.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from pathlib import Path

import jsonschema
import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference" / "convolve-by-hand.ipynb"
EXAMPLES = REPO / "assignments" / "convolve-by-hand" / "examples"

# nbgrader 0.9.6, nbgrader/nbgraderformat/v3.json (the cell metadata schema), transcribed
NBGRADER_V3 = {
    "type": "object",
    "properties": {
        "schema_version": {"type": "integer", "minimum": 3, "maximum": 3},
        "grade": {"type": "boolean"}, "locked": {"type": "boolean"},
        "solution": {"type": "boolean"}, "task": {"type": "boolean"},
        "grade_id": {"type": "string", "pattern": r"^[a-zA-Z0-9_\-]*$"},
        "points": {"type": "number", "minimum": 0},
        "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
        "cell_type": {"type": "string", "enum": ["raw", "code", "markdown"]},
    },
    "required": ["schema_version", "grade", "locked", "solution"],
    "additionalProperties": False,
}


def load_baselines():
    spec = importlib.util.spec_from_file_location("baselines", REPO / "benchmarks" / "baselines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


baselines = load_baselines()


def run_cells(notebook) -> dict[str, bool]:
    """Execute the code cells in one namespace; for each nbgrader test cell, whether it passed."""
    namespace: dict = {}
    passed = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(cell.source, "<cell>", "exec"), namespace)
            ok = True
        except Exception:
            ok = False
        if meta.get("grade"):
            passed[meta["grade_id"]] = ok
    return passed


def test_markup_is_valid_nbformat_and_nbgrader_schema_3():
    original = nbformat.read(REFERENCE, as_version=4)
    before = nbformat.writes(original)
    marked = baselines.nbgrader_notebook(original)
    assert nbformat.writes(original) == before  # the input is left alone
    nbformat.validate(marked)
    assert marked.nbformat == 4

    metas = [cell.metadata["nbgrader"] for cell in marked.cells if "nbgrader" in cell.metadata]
    for meta in metas:
        jsonschema.validate(meta, NBGRADER_V3)
    ids = [meta["grade_id"] for meta in metas]
    assert len(ids) == len(set(ids))

    solutions = {meta["grade_id"] for meta in metas if meta["solution"]}
    assert solutions == {"X_FILTERS", "output_size", "conv2d", "x_feature_maps", "conv_layer", "relu",
                         "max_pool2d", "softmax"}
    # every solution region must sit in a solution cell, or generate_assignment refuses it
    for cell in marked.cells:
        if baselines.BEGIN_SOLUTION in cell.source:
            assert cell.metadata["nbgrader"]["solution"]
    tests = marked.cells[len(original.cells):]
    assert [cell.metadata["nbgrader"]["grade_id"] for cell in tests] == [
        "test-conv2d", "test-feature-maps", "test-relu-pool-softmax"]
    assert all(cell.metadata["nbgrader"]["locked"] and cell.metadata["nbgrader"]["grade"]
               and not cell.metadata["nbgrader"]["solution"] for cell in tests)
    assert baselines.max_points(marked) == 5.0


def test_autograder_tests_pass_on_the_reference_and_fail_on_a_wrong_notebook():
    reference = run_cells(baselines.nbgrader_notebook(nbformat.read(REFERENCE, as_version=4)))
    assert reference == {"test-conv2d": True, "test-feature-maps": True, "test-relu-pool-softmax": True}
    partly = run_cells(baselines.nbgrader_notebook(
        nbformat.read(EXAMPLES / "partly-correct.ipynb", as_version=4)))
    assert set(partly) == set(reference) and not all(partly.values())


def test_a_notebook_without_known_functions_gets_a_generic_test_cell():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import math"),
        nbformat.v4.new_code_cell("def area(r):\n    return math.pi * r * r"),
        nbformat.v4.new_code_cell("%time area(1)"),  # not Python: left alone
    ])
    marked = baselines.nbgrader_notebook(notebook)
    nbformat.validate(marked)
    assert "nbgrader" not in marked.cells[0].metadata and "nbgrader" not in marked.cells[2].metadata
    assert marked.cells[1].metadata["nbgrader"]["grade_id"] == "area"
    assert marked.cells[-1].metadata["nbgrader"]["grade_id"] == "test-defined"
    assert "'area'" in marked.cells[-1].source
    namespace: dict = {}
    for cell in (marked.cells[0], marked.cells[1], marked.cells[-1]):
        exec(cell.source, namespace)


@pytest.mark.parametrize("name", ["convolve-by-hand", "my notebook+1"])
def test_assignment_name_is_a_valid_nbgrader_id(name):
    assert baselines._assignment_name(Path(f"{name}.ipynb")).replace("-", "").isalnum()
