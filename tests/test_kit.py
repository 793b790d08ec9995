"""The assignment kit (grader.kit): what the Keras assignments' probes and data share.

The kit's Keras parts run in the slow tests, which grade the Keras assignments; here, what
runs without TensorFlow: messages, plain data, activations told by behaviour, resampling,
and that the kit stays importable in the child and adds no probes of its own.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.child.dispatch import load_custom_probes
from grader.kit import images
from grader.kit import keras as kit

REPO = Path(__file__).resolve().parents[1]
KIT = REPO / "grader" / "kit"


@pytest.mark.parametrize("module", ["__init__", "keras", "images"])
def test_kit_imports_only_the_standard_library_and_numpy(module):
    """The child has the standard library and numpy (Keras only inside functions)."""
    tree = ast.parse((KIT / f"{module}.py").read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            top.add((node.module or "").split(".")[0])
    assert top <= {"__future__", "numpy", *sys.stdlib_module_names}, top


def test_importing_the_kit_loads_no_tensorflow():
    code = ("import sys; from grader.kit import keras, images\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=REPO)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("assignment", ["build-cnn", "facial-detection"])
def test_what_probes_import_from_the_kit_is_not_a_probe(assignment):
    source = (REPO / "assignments" / assignment / "probes.py").read_text(encoding="utf-8")
    assert "from grader.kit import keras as kit" in source
    defined = {node.name for node in ast.parse(source).body
               if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}
    assert set(load_custom_probes(source)) == defined


def test_names_are_found_with_messages_for_students():
    namespace = {"build": lambda: 1, "value": 3}
    assert kit.function(namespace, "build")() == 1
    assert kit.defined(namespace, "value") == 3
    with pytest.raises(NameError, match=r"^missing is not defined \(did the cell that defines it "
                                        r"run without errors\?\)$"):
        kit.function(namespace, "missing")
    with pytest.raises(TypeError, match=r"^value is not a function \(it is a int\)$"):
        kit.function(namespace, "value")


@pytest.mark.parametrize(("function", "name"), [
    (lambda x: np.maximum(x, 0), "relu"),
    (lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True), "softmax"),
    (lambda x: 1 / (1 + np.exp(-x)), "sigmoid"),
    (np.tanh, "tanh"),
    (lambda x: x, "linear"),
    (lambda x: np.where(x > 0, x, 0.3 * x), "other"),
], ids=["relu", "softmax", "sigmoid", "tanh", "linear", "leaky"])
def test_activations_are_identified_by_behaviour(function, name):
    assert kit.activation_name(function) == name


def test_results_become_plain_data_part_by_part():
    assert kit.plain(None) is None and kit.plain("text") == "text"
    assert kit.plain([1, 2]).dtype == np.float32
    assert [p.tolist() for p in kit.parts((np.ones(2), 3))] == [[1.0, 1.0], 3.0]
    assert kit.parts(np.zeros(1))[0].tolist() == [0.0]

    def broken():
        raise ValueError("bad shape")

    def unfinished():
        raise NotImplementedError

    assert kit.attempt("decode", lambda: 5) == 5
    assert kit.attempt("decode", broken) == {"error": "decode raised ValueError: bad shape"}
    assert kit.attempt("decode", unfinished) == {
        "error": "decode is not implemented yet (it raised NotImplementedError)"}


def test_what_evaluate_returned_is_read_as_an_accuracy():
    assert kit.accuracy_of([0.3, 0.91]) == pytest.approx(0.91)
    assert kit.accuracy_of({"loss": 0.3, "accuracy": np.float32(0.5)}) == 0.5
    assert kit.accuracy_of({"loss": 0.3, "acc": 0.25}) == 0.25
    assert kit.accuracy_of(0.3) is None and kit.accuracy_of([0.3, [1, 2]]) is None
    assert kit.scalar("x") is None and kit.scalar(np.array(2.0)) == 2.0


def test_tensorflow_errors_lose_their_graph_trace():
    error = RuntimeError("Graph execution error:\n  File \"x.py\", line 3\n"
                         "Received a label value of 9 which is outside the valid range\n"
                         "\t [[{{node loss}}]]")
    assert kit.last_line(error) == "Received a label value of 9 which is outside the valid range"


@pytest.mark.parametrize(("n_in", "n_out"), [(8, 20), (5, 28), (4, 64), (6, 6)])
def test_interpolation_rows_are_bilinear_weights(n_in, n_out):
    weights = images.interpolation_matrix(n_in, n_out)
    assert weights.shape == (n_out, n_in)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert np.count_nonzero(weights, axis=1).max() <= 2
    ramp = np.arange(n_in, dtype=np.float64)  # a linear signal stays linear inside the range
    inside = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    keep = (inside >= 0) & (inside <= n_in - 1)
    np.testing.assert_allclose((weights @ ramp)[keep], inside[keep])
    if n_in == n_out:
        np.testing.assert_array_equal(weights, np.eye(n_in))


def test_data_caches_key_on_the_kit():
    assert len(images.source_digest()) == 32
    for assignment in ("build-cnn", "facial-detection"):
        source = (REPO / "assignments" / assignment / "data.py").read_text(encoding="utf-8")
        assert "source_digest()" in source, assignment
