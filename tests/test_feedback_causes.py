"""Why each question lost points, first: the convolve-by-hand examples graded as `grader grade`
does, their feedback's table read line by line; known mistakes detected both ways.

The examples: partly-correct (conv2d flips the kernel, softmax without the max shift),
uses-scipy (a forbidden API in conv2d), untouched (every stub), syntax-error (relu's cell does
not parse), and the reference.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from grader.observations import Observations, ProbeRecord
from grader.plan import Plan
from grader.report.causes import cause_key, fold
from grader.report.mistakes import declared, detect
from grader.results import CheckInfo, CheckResult
from tests.conftest import EXAMPLES, grade_all

NAMES = ["reference", "partly-correct", "uses-scipy", "untouched", "syntax-error"]
FLIPPED = "Known mistake: conv2d flips the kernel (a true convolution, as in signal processing)"
NO_SHIFT = "Known mistake: softmax does not subtract the maximum before np.exp"


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    results = grade_all(assignment, [EXAMPLES / f"{name}.ipynb" for name in NAMES], out)
    return results, out


def why(out: Path, name: str) -> dict[str, str]:
    """The feedback.md table: question -> its 'why points were lost' cell."""
    rows = {}
    for line in (out / "submissions" / name / "feedback.md").read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4 and cells[0] not in ("question", "---"):
            rows[cells[0]] = cells[3]
    return rows


def test_the_reference_loses_nothing_and_says_nothing(graded):
    _, out = graded
    assert set(why(out, "reference").values()) == {""}
    assert "Known mistake" not in (out / "submissions" / "reference" / "feedback.html").read_text()


def test_partly_correct_names_its_known_mistakes(graded):
    _, out = graded
    rows = why(out, "partly-correct")
    assert rows["2-D convolution"].startswith(FLIPPED)
    assert rows["2-D convolution"].endswith("(your answers match it on 13 cases)")
    assert rows["Convolutional layer"].startswith("Known mistake: conv_layer gives the answers of a "
                                                  "layer whose kernels are flipped")
    assert rows["Softmax"].startswith(NO_SHIFT)
    lost = {"2-D convolution", "Convolutional layer", "Softmax"}
    assert {q for q, text in rows.items() if text} == lost
    page = (out / "submissions" / "partly-correct" / "feedback.html").read_text()
    # the 13 differing hidden cases are one cause, their messages one click away
    assert page.count("<summary><span class=\"fail\">\u2717</span> 13 hidden checks fail the same way; "
                      "the first: conv2d(") == 1
    assert page.index(FLIPPED) < page.index("<h2>Pictures</h2>")


def test_a_forbidden_api_is_said_once_per_question(graded):
    _, out = graded
    rows = why(out, "uses-scipy")
    expected = ("no credit: it uses a forbidden API, scipy.signal.correlate2d (code cell 6, line 21, in "
                "conv2d) and {more}: convolve-by-hand asks you to implement convolution, pooling and the "
                "activations yourself with numpy ({checks})")
    assert rows["2-D convolution"] == expected.format(more="1 more use", checks="15 checks")
    assert rows["Convolutional layer"] == expected.format(more="2 more uses", checks="6 hidden checks")
    assert rows["X feature maps"] == expected.format(more="2 more uses", checks="4 checks")
    page = (out / "submissions" / "uses-scipy" / "feedback.html").read_text()
    table = page[page.index('<table class="questions">'):page.index("</table>")]
    assert len(re.findall(r"<summary>.*?forbidden API", table)) == 3  # one per question, not 25


def test_stubs_point_at_their_cell_once_per_question(graded):
    _, out = graded
    rows = why(out, "untouched")
    assert rows["2-D convolution"] == (
        "conv2d still raises NotImplementedError (the template's placeholder in the cell starting "
        "`def conv2d(image, kernel, stride=1, padding=0):`) (15 checks)")
    assert rows["ReLU"] == ("relu still raises NotImplementedError (the template's placeholder in the "
                            "cell starting `def relu(x):`) (3 hidden checks)")
    assert rows["The X filters"].startswith("X_FILTERS is not defined: the cell starting `# X_FILTERS")
    assert all(text for text in rows.values())
    markdown = (out / "submissions" / "untouched" / "feedback.md").read_text()
    table = markdown[:markdown.index("\n## ")]
    assert table.count("NotImplementedError") == 8  # once per question, every one a stub


def test_an_undefined_name_points_at_the_cell_with_the_syntax_error(graded):
    _, out = graded
    rows = why(out, "syntax-error")
    assert rows["ReLU"] == ("relu is not defined: the cell starting `def relu(x):` has a syntax "
                            "error on line 6 ('(' was never closed) (3 hidden checks)")
    assert [q for q, text in rows.items() if text] == ["ReLU"]


def test_results_json_is_markdown_cause_first(graded):
    _, out = graded
    data = json.loads((out / "submissions" / "uses-scipy" / "results.json").read_text())
    assert data["output_format"] == "md"
    heading, summary, pointer, *notes = data["output"].split("\n\n")
    assert heading == "**Where your points went**"
    assert [line.split(" (")[0] for line in summary.splitlines()] == [
        "- **2-D convolution**", "- **Convolutional layer**", "- **X feature maps**"]
    assert "feedback.html" in pointer
    assert notes and all(note.startswith("```\nForbidden ") for note in notes)  # after the causes
    conv2d = next(t for t in data["tests"] if t["tags"] == ["conv2d"])
    assert conv2d["output"].startswith("- \u2717 no credit: it uses a forbidden API, "
                                       "scipy.signal.correlate2d")
    assert conv2d["output"].count("- \u2717") == 1
    reference = json.loads((out / "submissions" / "reference" / "results.json").read_text())
    assert reference["output"] == "" and reference["output_format"] == "md"


# --- known mistakes, both ways, on the plan's hidden inputs ----------------------------------

@pytest.fixture(scope="module")
def plan_and_mistakes(assignment, graded):
    results, out = graded
    observations = Observations.load(out / "submissions" / "reference")
    return Plan.load(out / ".plan" / observations.plan_id), declared(assignment.folder)


def test_every_declared_mistake_fires_on_its_own_answers_and_not_on_the_reference(plan_and_mistakes):
    from grader import wire

    plan, mistakes = plan_and_mistakes
    assert {m.name for m in mistakes} >= {"conv2d", "conv_layer", "output_size", "softmax"}
    assert detect(mistakes, plan.probes, plan.reference, plan.reference) == []
    for mistake in mistakes:
        assert mistake.answer is not None
        mistaken = dict(plan.reference)
        for probe in plan.probes.probes:
            if probe.name == mistake.name and probe.kind == mistake.kind:
                args = wire.decode(probe.args, plan.probes.arrays)
                kwargs = wire.decode(probe.kwargs, plan.probes.arrays)
                mistaken[probe.key] = ProbeRecord(probe.key, "ok", mistake.answer(*args, **kwargs))
        found = detect(mistakes, plan.probes, mistaken, plan.reference)
        assert [f.mistake.name for f in found] == [mistake.name]
        assert found[0].cases > 0


def test_a_mistake_explains_every_wrong_answer_or_nothing(plan_and_mistakes):
    plan, mistakes = plan_and_mistakes
    (without_plus_one,) = [m for m in mistakes if m.name == "output_size"]
    probes = [p for p in plan.probes.probes if p.name == "output_size"]
    off_by_two = dict(plan.reference)
    for probe in probes:  # wrong, but not by the mistake's answer
        off_by_two[probe.key] = dataclasses.replace(plan.reference[probe.key],
                                                    value=plan.reference[probe.key].value - 2)
    assert detect([without_plus_one], plan.probes, off_by_two, plan.reference) == []


# --- folding causes -----------------------------------------------------------------------

def result(name: str, message: str, public: bool = False) -> CheckResult:
    return CheckResult(CheckInfo(name, name, "q", 1.0, public), False, message)


def test_the_same_failure_with_other_numbers_is_one_cause():
    checks = [result("a", "f(3x3 float64 array): first difference at [0, 0]: expected 1.5, got -2"),
              result("b", "f(4x2 float64 array, stride=2): first difference at [1, 0]: "
                          "expected 3, got 4e-05"),
              result("c", "f(3x3 float64 array): expected shape (3, 3), got (2, 2)"),
              result("d", "g is not defined (did the cell that defines it run without errors?)"),
              result("e", "g is not defined (did the cell that defines it run without errors?)", True)]
    assert cause_key(checks[0].message) == cause_key(checks[1].message)
    causes = fold(checks, {"g": "g is not defined: the cell starting `def g():` raised NameError"})
    assert [c.text for c in causes] == [
        "g is not defined: the cell starting `def g():` raised NameError (2 checks)",
        "2 hidden checks fail the same way; the first: f(3x3 float64 array): first difference at "
        "[0, 0]: expected 1.5, got -2",
        "f(3x3 float64 array): expected shape (3, 3), got (2, 2)"]
    assert [len(c.checks) for c in causes] == [2, 2, 1]


def test_build_cnn_names_logits_both_ways():
    """build-cnn's logits mistake on a model summary's outputs (TensorFlow-free: the records
    the build_cnn_model probe gives, for a softmax output and for logits)."""
    import numpy as np

    from grader.child.job import Probe
    from grader.plan.harness import ProbePlan
    from grader.spec import load_assignment

    mistakes = declared(load_assignment("build-cnn").folder)
    from grader.checks.namespaces import probe_key

    key, args, kwargs, arrays = probe_key("custom", "build_cnn_model", (), {})
    plan = ProbePlan([Probe("k", "custom", "build_cnn_model", args, kwargs)], arrays)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 10)) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = {"k": ProbeRecord("k", "ok", {"output": probabilities})}
    mistaken = {"k": ProbeRecord("k", "ok", {"output": logits})}
    found = detect(mistakes, plan, mistaken, expected)
    assert [f.mistake.question for f in found] == ["cnn_architecture"]
    assert "logits, not probabilities" in found[0].mistake.says
    assert detect(mistakes, plan, expected, expected) == []
