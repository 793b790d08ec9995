"""Denial of service and lost runs, round three (issue 21), on real notebooks in one batch:
forged result files and floods on the notebook's own channel, results too big to store under
the old reader's limit, rich markup and another assignment's stamp. Each notebook gets exactly
what its code earns, the reference beside them keeps 20, and `grade` and `rescore` (with a
relative folder, after `merge` too) exit 0 and rescore every submission, one whose stored
observations are damaged included, as one result that says why.

Bounds in bytes are measured in tests/test_round_three_bounds.py; this file checks that the
pipeline ends each attack as a recorded result.
"""

from __future__ import annotations

import csv
import json

import nbformat
import pytest
from click.testing import CliRunner

from grader.cli import main
from tests.conftest import EXAMPLES, SANDBOX

FORGE = ("import gc\nfrom grader.child.runner import ArrayStore, EventLog\nfrom grader.child.job "
         "import Probe\nlog = next(o for o in gc.get_objects() if isinstance(o, EventLog))\n"
         "store = next(o for o in gc.get_objects() if isinstance(o, ArrayStore))\n"
         "keys = sorted({o.key for o in gc.get_objects() if isinstance(o, Probe)})\n")
BOMB = FORGE + (
    "import io, zipfile, numpy as np\nbuffer = io.BytesIO()\n"
    "with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as z, z.open('a0.npy', 'w') as m:\n"
    "    np.lib.format.write_array_header_1_0(m, {'descr': '<f8', 'fortran_order': False, "
    "'shape': (10_000_000,)})\n"
    "    for _ in range(77):\n        m.write(bytes(2**20))\n"
    "where = store.append(buffer.getvalue())\n"
    "for key in keys:\n    log.write({'event': 'probe', 'key': key, 'status': 'ok', "
    "'value': {'array': 'a0'}, 'arrays': where})\n")
FLOOD = FORGE + "for _ in range(MIB):\n    log.file.write('{}\\n' * (2**20 // 3))\nlog.file.flush()\n"
NOTEBOOKS = {
    "reference": ("reference", [], 20.0),
    # 77 kB that inflated to 80 MB per planned key; refused unread (untouched earns 0 anyway)
    "zip-bomb-results": ("untouched", [BOMB], 0.0),
    # junk on the channel is skipped: 20 MiB of it costs the notebook nothing
    "junk-lines": ("reference", [FLOOD.replace("MIB", "20")], 20.0),
    # past 64 MiB the rest of the log is not read: the run looks cut short in the flooding cell,
    # which the rerun skips (the flood costs its own cell, nothing else)
    "flood-past-the-bound": ("reference", [FLOOD.replace("MIB", "70")], 20.0),
    "huge-integer-line": ("reference", [FORGE + "log.file.write('{\"event\": \"cell\", \"index\": "
                                        "' + '9' * 5000 + '}\\n')\nlog.file.flush()\n"], 20.0),
    # three 80 MB answers: over 128 MiB stored, read back by rescore all the same (relu fails)
    "relu-80mb": ("reference", ["import numpy as np\n"
                                "def relu(x):\n    return np.full(10_000_000, float(np.size(x)))\n"],
                  19.0),
    "markup-in-error": ("reference", ["raise ValueError('[/] closing tag [red]')\n"], 20.0),
    "other-assignment": ("reference", [], 20.0),
}

pytestmark = pytest.mark.slow


def _write_notebooks(folder):
    for name, (base, cells, _) in NOTEBOOKS.items():
        notebook = nbformat.read(str(EXAMPLES / f"{base}.ipynb"), as_version=4)
        notebook.cells += [nbformat.v4.new_code_cell(source) for source in cells]
        if name == "other-assignment":
            notebook.metadata["grader"] = {"assignment": "build-cnn"}
        nbformat.write(notebook, str(folder / f"{name}.ipynb"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The batch graded with `grader grade` from the folder holding it, relative paths."""
    root = tmp_path_factory.mktemp("round-three")
    (root / "notebooks").mkdir()
    _write_notebooks(root / "notebooks")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(root)
        result = CliRunner().invoke(main, ["grade", "convolve-by-hand", "notebooks", "--out", "out",
                                           "--seed", "7", "--sandbox", SANDBOX, "--jobs", "2"])
    return root, result


def _gradebook(folder):
    with open(folder / "gradebook.csv", newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def test_grade_exits_0_and_prints_the_table(run):
    root, result = run
    assert result.exit_code == 0, result.output
    assert "graded 8 submission(s)" in result.output
    assert "[/]" in result.output  # shown, not taken for a closing tag


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_gets_exactly_what_the_code_earns(run, name):
    row = _gradebook(run[0] / "out")[name]
    assert float(row["score"]) == pytest.approx(NOTEBOOKS[name][2], abs=1e-3)


def test_nothing_of_the_bomb_is_stored(run):
    folder = run[0] / "out" / "submissions" / "zip-bomb-results"
    assert (folder / "observations.npz").stat().st_size < 2**20


def test_the_flooding_cell_is_skipped_and_named(run):
    results = json.loads((run[0] / "out" / "submissions" / "flood-past-the-bound" /
                          "results.json").read_text())
    assert "Code cell 19 crashed the notebook's process" in results["output"]
    assert "skipped and the notebook run again without it" in results["output"]


def test_another_assignments_notebook_says_so_first(run):
    results = json.loads((run[0] / "out" / "submissions" / "other-assignment" /
                          "results.json").read_text())
    # results.json's output is Markdown (issue 22): the note, fenced, before anything else
    assert results["output"].lstrip("`\n").startswith("This notebook is for the assignment 'build-cnn' (its "
                                        "metadata says so), but it was graded as "
                                        "'convolve-by-hand'")


def test_rescore_of_a_relative_folder_rescores_everyone(run, monkeypatch):
    root = run[0]
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["rescore", "out"])
    assert result.exit_code == 0, result.output
    assert "rescored 8 submission(s)" in result.output
    scores = {name: float(row["score"]) for name, row in _gradebook(root / "out").items()}
    assert scores == {name: pytest.approx(v[2], abs=1e-3) for name, v in NOTEBOOKS.items()}


def test_merge_then_rescore_relative_and_a_damaged_submission_is_one_result(run, monkeypatch):
    root = run[0]
    monkeypatch.chdir(root)
    merged = CliRunner().invoke(main, ["merge", "out", "--out", "merged", "-q"])
    assert merged.exit_code == 0, merged.output
    (root / "merged" / "submissions" / "reference" / "observations.npz").write_bytes(b"garbage")
    result = CliRunner().invoke(main, ["rescore", "merged"])
    assert result.exit_code == 0, result.output
    assert "rescored 8 submission(s)" in result.output
    rows = _gradebook(root / "merged")
    assert float(rows["reference"]["score"]) == 0.0
    assert "stored observations could not be read" in rows["reference"]["problem"]
    assert float(rows["relu-80mb"]["score"]) == pytest.approx(19.0)
