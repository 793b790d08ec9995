"""Mutation testing: mutants are valid single changes with stable ids, sampled reproducibly,
graded by the normal engine; a spec that never tests stride lets the stride mutants live."""

from __future__ import annotations

import ast
import csv
import json
import random
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from grader.errors import SpecError
from grader.results import CheckInfo, CheckResult, QuestionScore, SubmissionResult
from grader.spec import load_assignment
from grader.tools.mutate import (
    OPERATORS,
    Mutant,
    MutateOptions,
    MutationReport,
    generate_mutants,
    load_equivalents,
    mutate,
    run_mutants,
    sample,
    write_reports,
)
from grader.tools.mutation_reports import summary_lines
from tests.conftest import MARKER, REFERENCE, copy_assignment

MINI_CELLS = [
    "import numpy as np\nimport tensorflow as tf",
    "def helper(a):\n    return a + 1  # outside any solution region: never mutated",
    '''def valid_positions(n, k):
    """Docstrings are not mutated: 1 + 1."""
    ### BEGIN SOLUTION
    out = []
    for i in range(n - k + 1):
        out.append(i)
    return out[:n]
    ### END SOLUTION''',
    '''def scores(a, b, x, logits):
    ### BEGIN SOLUTION
    total = 0
    if a < b and x is not None:
        total += np.dot(a, b)
    scale = np.exp(0.5 * x) + -b
    mean = tf.reduce_sum(logits, axis=0, keepdims=True)
    return relu(total * scale + mean)
    ### END SOLUTION''',
    '''### BEGIN SOLUTION
model = tf.keras.Sequential([tf.keras.layers.Dense(10, activation="relu")])
### END SOLUTION
print(model)''',
]
MINI_SPEC = """
[[questions]]
id = "positions"
names = ["valid_positions"]

[[questions]]
id = "scores"
names = ["scores"]

[[questions]]
id = "model"
names = ["model"]
"""


def write_mini(folder: Path, cells: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# mini")] + [
        nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, str(folder / "reference.ipynb"))
    (folder / "checks.py").write_text("")
    (folder / "assignment.toml").write_text('[assignment]\nreference = "reference.ipynb"\n' + MINI_SPEC)
    return folder


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return load_assignment(write_mini(tmp_path_factory.mktemp("mini") / "mini", MINI_CELLS))


@pytest.fixture(scope="module")
def mutants(assignment):
    return generate_mutants(assignment)


def _differences(a: object, b: object, path: str = "") -> list[str]:
    """Paths of the smallest subtrees where two ASTs differ."""
    if isinstance(a, ast.AST) and isinstance(b, ast.AST):
        if type(a) is not type(b):
            return [path]
        found = []
        for name, value in ast.iter_fields(a):
            found += _differences(value, getattr(b, name), f"{path}.{name}")
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [path]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def _steps(path: str) -> list[str]:
    return re.findall(r"\.\w+|\[\d+\]", path)


def _common_prefix(paths: list[list[str]]) -> list[str]:
    prefix = []
    for steps in zip(*paths, strict=False):
        if len(set(steps)) > 1:
            break
        prefix.append(steps[0])
    return prefix


def _node_at(tree: ast.AST, steps: list[str]) -> ast.AST:
    """The innermost AST node on the path (a path may end in a list or a plain field)."""
    node, current = tree, tree
    for step in steps:
        current = current[int(step[1:-1])] if step.startswith("[") else getattr(current, step[1:])
        if isinstance(current, ast.AST):
            node = current
    return node


def _reference_cells(reference: Path) -> list:
    notebook = nbformat.read(str(reference), as_version=4)
    return notebook.cells


def _assert_single_valid_change(mutant: Mutant, reference: Path) -> None:
    cell = _reference_cells(reference)[mutant.cell]
    original = MARKER.sub("", cell.source)
    tree = ast.parse(original)
    differences = _differences(tree, ast.parse(mutant.source))
    assert differences, mutant.id  # a real change, not a reformatting
    # one change: every difference lies under one expression or statement (never a whole def)
    changed = _node_at(tree, _common_prefix([_steps(d) for d in differences]))
    assert isinstance(changed, (ast.expr, ast.stmt, ast.keyword, ast.operator, ast.cmpop, ast.boolop))
    assert not isinstance(changed, (ast.FunctionDef, ast.Module)), mutant.id
    # the change lies inside a solution region of the reference cell
    lines = cell.source.splitlines()
    begins = [i + 1 for i, line in enumerate(lines) if "### BEGIN SOLUTION" in line]
    ends = [i + 1 for i, line in enumerate(lines) if "### END SOLUTION" in line]
    assert any(b < mutant.line < e for b, e in zip(begins, ends, strict=True)), mutant.id
    assert mutant.diff.count("\n@@") + mutant.diff.startswith("@@") <= 1 or mutant.operator == "stmt-del"


def test_every_mutant_of_the_shipped_assignment_is_valid_code_with_one_change(mutants):
    assert len(mutants) > 200
    assert len({m.id for m in mutants}) == len(mutants)
    assert len({(m.cell, m.source) for m in mutants}) == len(mutants)  # no duplicate notebooks
    for mutant in mutants:
        _assert_single_valid_change(mutant, REFERENCE)
        assert mutant.question is not None, mutant.id
        assert mutant.id.startswith(f"{mutant.scope}-{mutant.operator}-")
    assert {m.question for m in mutants} == {"output_size", "conv2d", "conv_layer", "relu", "max_pool2d",
                                             "softmax", "x_filters", "x_feature_maps"}


def test_operators_cover_how_students_err(mini):
    found = generate_mutants(mini)
    for mutant in found:
        _assert_single_valid_change(mutant, mini.reference)
    described = {(m.operator, m.original, m.replacement) for m in found}
    for expected in [
        ("aod", "n - k + 1", "n - k"),  # range(n - k + 1) -> range(n - k)
        ("number", "1", "2"),
        ("slice", "n", "n + 1"),
        ("slice", "n", "n - 1"),
        ("aor", "total * scale + mean", "total * scale - mean"),
        ("ror", "a < b", "a <= b"),
        ("ror", "x is not None", "x is None"),
        ("bool", "a < b and x is not None", "a < b or x is not None"),
        ("bool", "True", "False"),
        ("aug", "total += np.dot(a, b)", "total = np.dot(a, b)"),
        ("arg-swap", "np.dot(a, b)", "np.dot(b, a)"),
        ("aod", "0.5 * x", "x"),  # exp(0.5 * x) -> exp(x)
        ("unary", "-b", "b"),
        ("call", "tf.reduce_sum", "tf.reduce_mean"),
        ("axis", "0", "1"),
        ("arg-drop", "tf.reduce_sum(logits, axis=0, keepdims=True)", "tf.reduce_sum(logits, keepdims=True)"),
        ("unwrap", "relu(total * scale + mean)", "total * scale + mean"),
        ("call", "relu", "sigmoid"),
        ("return-zeros", "relu(total * scale + mean)", "np.zeros_like(relu(total * scale + mean))"),
        ("stmt-del", "total = 0", "pass"),
        ("activation", '"relu"', '"sigmoid"'),  # an activation changed ...
        ("arg-drop", 'tf.keras.layers.Dense(10, activation="relu")',
         "tf.keras.layers.Dense(10)"),  # ... or dropped
    ]:
        assert expected in described, expected
    assert {m.question for m in found} == {"positions", "scores", "model"}
    assert not [m for m in found if "helper" in m.source.split("\n")[0] or "print" in m.original
                or "Docstrings" in m.original]


def test_operators_on_the_shipped_assignment(mutants):
    described = {(m.question, m.operator, m.original, m.replacement) for m in mutants}
    for expected in [
        ("conv2d", "range", "out_h", "out_h - 1"),  # off-by-one in a range
        ("conv2d", "slice", "i * stride + kh", "i * stride + kh - 1"),  # ... and in a slice
        ("conv2d", "aod", "i * stride", "i"),  # stride forgotten
        ("conv2d", "name", "kh", "kw"),  # height and width confused
        ("conv_layer", "arg-drop", "conv2d(x[:, :, c], filters[:, :, c, d], stride)",
         "conv2d(x[:, :, c], filters[:, :, c, d])"),
        ("conv_layer", "aug", "out[:, :, d] += biases[d]", "out[:, :, d] = biases[d]"),
        ("max_pool2d", "call", "window.max", "window.mean"),
        ("softmax", "axis", "-1", "0"),
        ("x_filters", "number", "-1", "1"),  # one entry of the filter table with the wrong sign
    ]:
        assert expected in described, expected
    assert set(OPERATORS) >= {m.operator for m in mutants}


def test_ids_are_stable_across_runs_and_unrelated_edits(mutants, assignment, tmp_path):
    assert [m.id for m in generate_mutants(assignment)] == [m.id for m in mutants]
    # edit the reference elsewhere: a new first cell, a longer docstring, a new solution line
    notebook = nbformat.read(str(REFERENCE), as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell("import math"))
    conv2d = next(c for c in notebook.cells if c.cell_type == "code" and "def conv2d" in c.source)
    conv2d.source = conv2d.source.replace('"""2-D convolution', '"""2-D convolution.\n\n    More words.')
    relu = next(c for c in notebook.cells if c.cell_type == "code" and "def relu" in c.source)
    relu.source = relu.source.replace("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    x = x\n")
    folder = tmp_path / "edited"
    shutil.copytree(assignment.folder, folder, ignore=shutil.ignore_patterns("examples"))
    nbformat.write(notebook, str(folder / "reference.ipynb"))
    spec = folder / "assignment.toml"
    spec.write_text(spec.read_text().replace("../../reference/convolve-by-hand.ipynb", "reference.ipynb"))
    edited = {m.id: m for m in generate_mutants(load_assignment(folder))}
    unchanged = [m for m in mutants if m.question != "relu"]
    assert all(m.id in edited and edited[m.id].description == m.description for m in unchanged)
    assert all(edited[m.id].line == m.line + 2 for m in unchanged if m.question == "conv2d")


def test_listed_equivalent_mutants_exist_and_give_reasons(mutants, assignment):
    equivalents = load_equivalents(assignment)
    assert equivalents and set(equivalents) <= {m.id for m in mutants}
    assert all(len(e.reason) > 40 for e in equivalents.values())


def test_an_equivalent_mutant_without_a_reason_is_refused(tmp_path, mini):
    folder = tmp_path / "mini"
    shutil.copytree(mini.folder, folder)
    (folder / "equivalent-mutants.toml").write_text('[[equivalent]]\nid = "scores-aor-0123456789"\n')
    with pytest.raises(SpecError, match="needs a written reason"):
        load_equivalents(load_assignment(folder))
    (folder / "equivalent-mutants.toml").write_text('[[equivalent]]\nid = "x"\nreson = "typo"\n')
    with pytest.raises(SpecError, match="exactly an id and a reason"):
        load_equivalents(load_assignment(folder))


def test_sampling_is_deterministic_nested_and_independent_of_order(mutants):
    first = sample(mutants, 12, seed=3)
    assert len(first) == 12 and [m.id for m in first] == [m.id for m in sample(mutants, 12, seed=3)]
    assert {m.id for m in first} != {m.id for m in sample(mutants, 12, seed=4)}
    assert {m.id for m in first} <= {m.id for m in sample(mutants, 40, seed=3)}
    shuffled = list(mutants)
    random.Random(0).shuffle(shuffled)
    assert {m.id for m in sample(shuffled, 12, seed=3)} == {m.id for m in first}
    order = [m.id for m in mutants]
    assert [m.id for m in first] == sorted((m.id for m in first), key=order.index)
    assert len(sample(mutants, None, seed=3)) == len(mutants) == len(sample(mutants, 10**6, seed=3))


def _result(question: str, earned: float, possible: float, notes=(), problem=None,
            interrupted="") -> SubmissionResult:
    info = CheckInfo("checks.py::test_x", "x", question, possible, False)
    return SubmissionResult("m", "m.ipynb", "a", checks=[CheckResult(info, earned == possible, "boom")],
                            questions=[QuestionScore(question, question, earned, possible)],
                            notes=list(notes), problem=problem, interrupted=interrupted)


def test_a_crash_or_timeout_kills_only_through_lost_points(mutants):
    from grader.tools.mutate import _outcome

    mutant = next(m for m in mutants if m.question == "relu")
    note = "The notebook did not finish: timeout."
    timed_out = _result("relu", 1.0, 1.0, notes=[note], interrupted=note)  # as the scorer sets it
    outcome = _outcome(mutant, timed_out, {"relu": 1.0})
    assert outcome.status == "survived" and "did not finish" in outcome.problem
    assert _outcome(mutant, _result("relu", 0.0, 1.0), {"relu": 1.0}).status == "killed"


def test_a_mutant_whose_question_is_not_graded_is_one_outcome_not_the_end_of_the_run(mutants):
    """A mutant of an edition the alternatives did not pick: its result lacks its question."""
    from grader.tools.mutate import _outcome

    mutant = next(m for m in mutants if m.question == "relu")
    other_edition = _result("softmax", 1.0, 1.0)  # graded, but without relu
    outcome = _outcome(mutant, other_edition, {"relu": 1.0, "softmax": 1.0})
    assert outcome.status == "not graded" and "'relu'" in outcome.problem
    assert _outcome(mutant, _result("relu", 1.0, 1.0), {"softmax": 1.0}).status == "not graded"
    report = MutationReport("a", 1, 2, 2, [outcome], question_ids=("relu",))
    relu = next(t for t in report.tallies() if t.question == "relu")
    assert (relu.graded, relu.killed, relu.not_graded) == (0, 0, 1)
    assert any("1 mutant(s) not graded" in line for line in summary_lines(report))


@pytest.mark.slow
def test_a_small_real_run_kills_every_sampled_mutant(assignment, tmp_path):
    out = tmp_path / "mutation"
    report = mutate(assignment, MutateOptions(out=out, jobs=2, seed=12, max=12))
    graded = [o for o in report.outcomes if o.status in ("killed", "survived")]
    assert len(graded) == 12 and report.seed == 12
    assert [o.mutant.id for o in report.survivors] == []
    assert all(o.killed_by and o.earned < o.possible for o in graded)
    excluded = report.by_status("excluded")
    assert {o.mutant.id for o in excluded} == set(load_equivalents(assignment))
    assert all(o.reason for o in excluded) and report.stale_equivalents == []
    assert report.overall().kill_rate == 1.0
    write_reports(report, out)
    data = json.loads((out / "mutation.json").read_text())
    assert data["overall"]["mutants"] == 12 and data["overall"]["killed"] == 12
    assert data["overall"]["excluded"] == len(excluded)
    rows = list(csv.DictReader((out / "mutants.csv").open()))
    assert len(rows) == len(report.outcomes) and {r["status"] for r in rows} == {"killed", "excluded"}
    assert (out / "survivors.diff").read_text().startswith("# convolve-by-hand: 0 surviving")


STRIDE_FREE = [  # output_size cases without a stride > 1
    "(5, 3, 1, 0), (28, 3, 1, 0), (7, 3, 1, 0), (10, 3, 1, 0), (11, 4, 1, 2), (6, 5, 1, 1)",
    "(9, 1, 1, 0), (9, 9, 1, 0), (8, 2, 1, 0), (13, 5, 1, 2), (4, 4, 1, 1), (32, 7, 1, 3)",
]


@pytest.fixture
def weak_copy(tmp_path, monkeypatch):
    """convolve-by-hand with checks that never pass a stride > 1."""
    folder = copy_assignment(tmp_path, monkeypatch)
    checks = folder / "checks.py"
    text = checks.read_text()
    start = text.index("OUTPUT_SIZE_CASES = [")
    end = text.index("]", start)
    text = text[:start] + "OUTPUT_SIZE_CASES = [\n    " + ",\n    ".join(STRIDE_FREE) + ",\n" + text[end:]
    text = re.sub(r"\b(s|stride)=[2-9]\b", r"\1=1", text)
    assert not re.search(r"\b(s|stride)=[2-9]", text)
    checks.write_text(text)
    return load_assignment("convolve-by-hand")


def _stride_mutants(mutants: list[Mutant]) -> list[Mutant]:
    """Mutants that forget the stride: conv2d's `i * stride` -> `i`, conv_layer's call without it."""
    return [m for m in mutants
            if (m.question == "conv2d" and m.operator == "aod" and m.original in ("i * stride", "j * stride")
                and m.replacement in ("i", "j"))
            or (m.question == "conv_layer" and m.operator == "arg-drop" and m.original.startswith("conv2d("))]


@pytest.mark.slow
def test_a_weak_spec_lets_stride_mutants_survive(weak_copy, assignment, tmp_path):
    assert weak_copy.folder != assignment.folder and weak_copy.reference == assignment.reference
    chosen = _stride_mutants(generate_mutants(weak_copy))
    assert len(chosen) == 5
    weak = run_mutants(weak_copy, chosen, tmp_path / "weak", seed=4, jobs=2)
    assert [o.status for o in weak] == ["survived"] * 5
    strong = run_mutants(assignment, chosen, tmp_path / "strong", seed=4, jobs=2)
    assert [o.status for o in strong] == ["killed"] * 5
    assert all("stride" in o.killed_by for o in strong)
