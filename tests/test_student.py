"""`grader check` and `grader.check()`: a student's own run of the public checks, with no hidden
input in sight, that lists every question with what is known about it."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

import grader
from grader.checks import collect_checks
from grader.cli import main
from grader.errors import GraderError
from grader.observations import CellRecord, Observations
from grader.plan import make_plan
from grader.spec.notebook import CodeCell
from grader.tools import check as check_module
from grader.tools import in_cell
from grader.tools.check import EXIT_FAILED, EXIT_NOT_CHECKED, EXIT_PASSED, assignment_of
from grader.tools.standing import Standing
from tests.conftest import EXAMPLES, by_question, grade_all, make_variant

PASSED = "public checks passed, hidden checks decide at grading"
#: The first line per question of every check of convolve-by-hand (its points, and whether
#: it has public checks), then what each example adds.
HEADS = {
    "output_size": "Output size: checked only at grading (2 points)",
    "conv2d": f"2-D convolution: {PASSED} (5 points)",
    "conv_layer": "Convolutional layer: checked only at grading (4 points)",
    "relu": "ReLU: checked only at grading (1 point)",
    "max_pool2d": "Max pooling: checked only at grading (3 points)",
    "softmax": "Softmax: checked only at grading (2 points)",
    "x_filters": f"The X filters: {PASSED} (1 point)",
    "x_feature_maps": f"X feature maps: {PASSED} (2 points)",
}
STUB = "  ! {0} still raises NotImplementedError (the template's placeholder in the cell starting `{1}`)"
UNTOUCHED = [
    HEADS["output_size"],
    STUB.format("output_size", "def output_size(n, k, stride=1, padding=0):"),
    "2-D convolution: 1 of 1 public checks failed (5 points)",
    STUB.format("conv2d", "def conv2d(image, kernel, stride=1, padding=0):"),
    "  ✗ conv2d on the notebook's 5x5 example",
    "      conv2d is not implemented yet (it raised NotImplementedError)",
    HEADS["conv_layer"],
    STUB.format("conv_layer", "def conv_layer(x, filters, biases, stride=1):"),
    HEADS["relu"],
    STUB.format("relu", "def relu(x):"),
    HEADS["max_pool2d"],
    STUB.format("max_pool2d", "def max_pool2d(x, pool_size=2, stride=2):"),
    HEADS["softmax"],
    STUB.format("softmax", "def softmax(logits):"),
    "The X filters: 1 of 1 public checks failed (1 point)",
    "  ! X_FILTERS is not defined: the cell starting `# X_FILTERS[:, :, 0] = diagonal, X_FILTERS[:, :, 1] "
    "= cross…` still raises NotImplementedError (the template's placeholder)",
    "  ✗ X_FILTERS holds the lecture's diagonal, cross and anti-diagonal filters, index last",
    "      X_FILTERS is not defined (did the cell that defines it run without errors?)",
    "X feature maps: 1 of 1 public checks failed (2 points)",
    STUB.format("x_feature_maps", "def x_feature_maps(image):"),
    "  ✗ x_feature_maps on the lecture's clean X",
    "      x_feature_maps is not implemented yet (it raised NotImplementedError)",
]
SYNTAX_ERROR_RELU = ("  ! relu is not defined: the cell starting `def relu(x):` has a syntax error "
                     "on line 6 ('(' was never closed)")


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """Every check of this module runs into one folder: the public plan is made once."""
    return tmp_path_factory.mktemp("checks")


@pytest.fixture
def cli(shared_run, monkeypatch):
    """``grader check ARGS`` as a student runs it (its plan shared with this module's checks)."""
    monkeypatch.setattr(check_module, "check", functools.partial(check_module.check, out=shared_run))

    def invoke(*args: str):
        return CliRunner().invoke(main, ["check", *args])

    return invoke


def _body(output: str) -> list[str]:
    """The question lines of a check's output: between its heading and its notes or ending."""
    lines = output.splitlines()
    end = lines.index("Notes:") if "Notes:" in lines else len(lines) - 1
    return lines[1:end]


def test_public_plan_holds_only_public_checks(assignment, tmp_path):
    public = make_plan(assignment, 3, cache=tmp_path, public_only=True)
    full = make_plan(assignment, 3, cache=tmp_path)
    assert public.checks and all(c.public for c in public.checks)
    assert len(public.probes.probes) < len(full.probes.probes)
    assert public.id.endswith("-public") and public.id != full.id


def test_reference_lists_every_question_and_claims_no_more_than_public_checks(cli):
    result = cli(str(EXAMPLES / "reference.ipynb"))
    assert result.exit_code == EXIT_PASSED, result.output
    assert [line for line in _body(result.output) if not line.startswith("  ")] == list(HEADS.values())
    assert result.output.splitlines()[-1] == (
        "All 3 public checks passed (hidden checks decide at grading); 5 questions (12 points) "
        "checked only at grading.")
    assert "!" not in result.output and "correct" not in result.output


def test_untouched_names_each_stub_and_the_cell_to_fill_in(cli):
    result = cli(str(EXAMPLES / "untouched.ipynb"))
    assert result.exit_code == EXIT_FAILED
    assert _body(result.output) == UNTOUCHED
    assert result.output.splitlines()[-1].startswith("3 of 3 public checks failed; 5 questions")


def test_partly_correct_passes_its_public_checks_and_leaves_the_rest_to_grading(cli, assignment):
    result = cli(str(EXAMPLES / "partly-correct.ipynb"))
    assert result.exit_code == EXIT_PASSED, result.output  # it earns 11.83/20 at grading
    assert [line for line in _body(result.output) if not line.startswith("  ")] == list(HEADS.values())
    hidden = [c.name for c in collect_checks(assignment) if not c.public]
    assert hidden and not [name for name in hidden if name in result.output]
    assert "!" not in result.output


def test_syntax_error_names_the_cell_by_its_first_line(cli):
    result = cli(str(EXAMPLES / "syntax-error.ipynb"))
    assert result.exit_code == EXIT_PASSED  # its public checks pass; relu is lost
    body = _body(result.output)
    assert body[body.index(HEADS["relu"]) + 1] == SYNTAX_ERROR_RELU
    assert [line for line in body if line.startswith("  !")] == [SYNTAX_ERROR_RELU]
    assert "  The cell starting `# Try it` raised NameError: name 'relu' is not defined" \
        in result.output.splitlines()
    assert "Code cell" not in result.output  # Jupyter shows no cell numbers
    assert result.output.splitlines()[-1].endswith("; names to fix in ReLU.")


def test_question_option_checks_only_those_questions(cli):
    result = cli(str(EXAMPLES / "untouched.ipynb"), "--question", "relu", "--question", "x_filters")
    assert result.exit_code == EXIT_FAILED
    assert [line for line in _body(result.output) if not line.startswith("  ")] == [
        HEADS["relu"], "The X filters: 1 of 1 public checks failed (1 point)"]
    assert "conv2d" not in result.output
    only_relu = cli(str(EXAMPLES / "untouched.ipynb"), "--question", "relu")
    assert only_relu.exit_code == EXIT_PASSED  # no public check ran; the stub is still named
    assert _body(only_relu.output) == [HEADS["relu"], STUB.format("relu", "def relu(x):")]


def test_unknown_question_lists_the_valid_ones(cli):
    result = cli(str(EXAMPLES / "reference.ipynb"), "--question", "conv3d")
    assert result.exit_code == EXIT_NOT_CHECKED
    assert "has no question 'conv3d' (its questions: output_size, conv2d, conv_layer, relu, " \
           "max_pool2d, softmax, x_filters, x_feature_maps)" in result.output


def test_a_file_that_is_not_a_notebook_is_said_to_be_so(cli, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes on convolution\n")
    result = cli(str(notes))
    assert result.exit_code == EXIT_NOT_CHECKED
    assert "notes.txt is not a Jupyter notebook" in result.output
    assert "cannot tell which assignment" not in result.output
    broken = tmp_path / "lab.ipynb"
    broken.write_text('{"cells": [')
    assert cli(str(broken)).exit_code == EXIT_NOT_CHECKED


def test_assignment_comes_from_the_notebook_metadata():
    assert assignment_of(EXAMPLES / "untouched.ipynb") == "convolve-by-hand"


# --- in a cell ------------------------------------------------------------------------------

def test_in_a_cell_a_question_id_checks_that_question_of_the_notebook_found(
        shared_run, tmp_path, monkeypatch, capsys):
    shutil.copy(EXAMPLES / "syntax-error.ipynb", tmp_path / "lab.ipynb")
    (tmp_path / "notes.ipynb").write_text("{}")  # not stamped: not a candidate
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setattr(in_cell, "check", functools.partial(check_module.check, out=shared_run))
    report = grader.check("relu")
    assert repr(report) == "<CheckReport convolve-by-hand: 0/0 public checks passed>"
    assert [q.question.id for q in report.questions] == ["relu"]
    shown = capsys.readouterr().out.splitlines()  # no Jupyter here: the summary as text
    assert shown[:3] == ["convolve-by-hand: lab.ipynb (as last saved)", HEADS["relu"],
                         SYNTAX_ERROR_RELU]
    html = check_module.render_html(report)
    assert "<table>" in html and "has a syntax error on line 6" in html


def test_the_notebook_is_found_as_jupyter_or_vscode_says_or_as_the_one_stamped_here(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(GraderError, match='no notebook of an assignment.*grader.check'):
        in_cell.current_notebook()
    for name in ("a.ipynb", "b.ipynb"):
        shutil.copy(EXAMPLES / "untouched.ipynb", tmp_path / name)
    with pytest.raises(GraderError, match="2 notebooks of the assignment .*: a.ipynb, b.ipynb"):
        in_cell.current_notebook()
    monkeypatch.setenv("JPY_SESSION_NAME", "course/labs/b.ipynb")  # relative to the server's folder
    assert in_cell.current_notebook() == tmp_path / "b.ipynb"
    assert in_cell.target("conv2d", None) == (tmp_path / "b.ipynb", ("conv2d",))
    assert in_cell.target("a.ipynb", None) == (Path("a.ipynb"), ())
    assert in_cell.target(None, None) == (tmp_path / "b.ipynb", ())
    monkeypatch.delenv("JPY_SESSION_NAME")
    vscode = ZMQInteractiveShell({"__vsc_ipynb_file__": str(tmp_path / "a.ipynb")})
    monkeypatch.setattr(in_cell, "_shell", lambda: vscode)
    assert in_cell.current_notebook() == tmp_path / "a.ipynb"


class ZMQInteractiveShell:
    """Stands in for a Jupyter kernel's shell (VS Code's too): only its class name and the
    user's namespace are read."""

    def __init__(self, user_ns: dict) -> None:
        self.user_ns = user_ns


def test_in_jupyter_the_summary_is_an_html_table(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(in_cell, "_shell", lambda: ZMQInteractiveShell({}))
    monkeypatch.setattr(IPython.display, "display", shown.append)
    report = check_module.CheckReport("convolve-by-hand", "lab.ipynb", questions=[
        check_module.QuestionStanding(check_module.QuestionInfo("relu", "ReLU", 1.0, False))])
    in_cell.show(report)
    (html,) = shown
    assert "<table>" in html.data and "<td>ReLU</td><td>checked only at grading (1 point)</td>" in html.data


def test_in_a_graded_notebook_the_calls_do_nothing_and_leave_no_note(assignment, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_GRADING", "1")
    assert repr(grader.check("conv2d")) == "<CheckReport: not run (the notebook is being graded)>"
    monkeypatch.delenv("GRADER_GRADING")
    path = make_variant(tmp_path, "checks-itself", {}, extra_cells=(
        'import grader\nreport = grader.check()\nprint(report.passed)\ngrader.check("conv2d")',))
    result = grade_all(assignment, [path], tmp_path / "out")["checks-itself"]
    assert result.score == result.max_score == 20
    assert by_question(result)["conv2d"] == 5
    assert result.notes == [] and result.problem is None
    feedback = (tmp_path / "out" / "submissions" / "checks-itself" / "feedback.md").read_text()
    assert "GraderError" not in feedback and "raised" not in feedback
    cells = json.loads((tmp_path / "out" / "submissions" / "checks-itself" / "observations.json")
                       .read_text())["cells"]
    assert cells[-1]["status"] == "ok"
    printed, shown = cells[-1]["output"].splitlines()  # print(report.passed), then Out[n]
    assert printed == "True" and shown.endswith(": <CheckReport: not run (the notebook is being graded)>")


def test_a_notebook_that_calls_grader_check_can_itself_be_checked(cli, tmp_path):
    notebook = nbformat.read(str(EXAMPLES / "reference.ipynb"), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import grader\ngrader.check()"))
    nbformat.write(notebook, str(tmp_path / "lab.ipynb"))
    result = cli(str(tmp_path / "lab.ipynb"))
    assert result.exit_code == EXIT_PASSED, result.output
    assert "Notes:" not in result.output


# --- what a run tells about a question's names (grader.tools.standing), on recorded runs ----

def _standing(sources: list[str], records: list[CellRecord]) -> Standing:
    cells = [CodeCell(i, i, source) for i, source in enumerate(sources)]
    return Standing(cells, Observations("lab", cells=records), {})


def test_an_error_before_the_definition_is_named_with_its_line():
    standing = _standing(["import numpy as np", "scale = 1 / 0\ndef relu(x):\n    return x"], [
        CellRecord(0, "ok"),
        CellRecord(1, "error", error={"type": "ZeroDivisionError", "message": "division by zero",
                                      "traceback": "  code cell 2, line 1, in <module>: scale = 1 / 0"}),
    ])
    assert [i.text for i in standing.issues(["relu"])] == [
        "relu is not defined: the cell starting `scale = 1 / 0` raised ZeroDivisionError on line 1 "
        "(division by zero) before defining it"]


def test_a_name_defined_after_the_cell_that_missed_it_or_in_a_block_is_not_flagged():
    standing = _standing(["print(relu(-1))", "def relu(x):\n    return max(x, 0)",
                          "try:\n    SCALE = 2\nexcept ValueError:\n    pass", "def later(x):\n    pass"], [
        CellRecord(0, "error", error={"type": "NameError", "message": "name 'relu' is not defined",
                                      "traceback": "  code cell 1, line 1, in <module>: print(relu(-1))"}),
        CellRecord(1, "ok"), CellRecord(2, "ok"), CellRecord(3, "ok"),
    ])
    assert standing.issues(["relu", "SCALE", "later"]) == []
    assert [i.text for i in standing.issues(["softmax"])] == [
        "softmax is not defined: no cell of the notebook defines it (was it renamed or deleted?)"]


def test_a_stub_that_still_raises_is_flagged_even_with_code_above_it():
    standing = _standing(['def relu(x):\n    """Doc."""\n    y = x\n    raise NotImplementedError'],
                         [CellRecord(0, "ok")])
    assert [i.kind for i in standing.issues(["relu"])] == ["not-implemented"]
