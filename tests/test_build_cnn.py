"""build-cnn: each example earns exactly its score; data, release and validate hold up.

One batch grades every example (TensorFlow in each child, about 20 s a notebook on one core),
then `grader validate` grades the reference and the released notebook again with its own plan.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.release import released_text
from grader.spec import load_assignment
from tests.conftest import REPO, by_question, grade_all

FOLDER = REPO / "assignments" / "build-cnn"
EXAMPLES = FOLDER / "examples"
REFERENCE = REPO / "reference" / "build-cnn.ipynb"
FULL = {"fc_model": 2, "cnn_architecture": 6, "train_step": 3, "heldout_accuracy": 5, "test_acc": 2}


def expected(**lost: float) -> dict[str, float]:
    return {q: round(points - lost.get(q, 0.0), 4) for q, points in FULL.items()}


EXPECTED = {
    "reference": expected(),
    "untouched": {q: 0.0 for q in FULL},
    # Logits out: the softmax check fails, and the notebook's own training (a cross-entropy
    # that expects probabilities) learns nothing. The grader's recipe trains the logits
    # model on logits, so the architecture still "learns"; test_acc honestly reports ~0.1.
    "no-softmax": expected(cnn_architecture=1, heldout_accuracy=5),
    # Dense(9): the shape check fails; label 9 breaks training (the notebook's and the
    # grader's), so no trained model and no test_acc.
    "wrong-output-size": expected(cnn_architecture=3, heldout_accuracy=5, test_acc=2),
    # The architecture is right; the model is not trained; test_acc is honest (~0.1).
    "never-trained": expected(heldout_accuracy=5),
    # Everything right except test_acc = 0.99 written by hand (the model has 0.94).
    "hardcoded-test-acc": expected(test_acc=2),
    # keras.Input + keras.Model instead of Sequential: nothing lost.
    "functional-api": expected(),
}


@pytest.fixture(scope="module")
def spec():
    return load_assignment("build-cnn")


@pytest.fixture(scope="module")
def graded(spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("build-cnn")
    return grade_all(spec, [EXAMPLES], out, seed=7, jobs=2)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_scores(graded, name):
    assert by_question(graded[name]) == pytest.approx(EXPECTED[name], abs=1e-3)
    assert graded[name].max_score == 18


def test_all_examples_were_graded(graded):
    assert sorted(graded) == sorted(EXPECTED)


def failures(result, question):
    return [c.message for c in result.checks if c.check.question == question and not c.passed]


def test_accuracy_feedback_shows_confusion_matrix_once(graded):
    messages = failures(graded["never-trained"], "heldout_accuracy")
    assert len(messages) == 5
    assert all("accuracy on 539 hidden digits" in m for m in messages)
    assert sum("true\\pred" in m for m in messages) == 1
    assert "most confused digits:" in messages[-1] and "needs 0.500" in messages[0]


def test_passing_students_see_their_accuracy_too(graded):
    last = [c for c in graded["reference"].checks
            if c.check.question == "heldout_accuracy" and c.passed][-1]
    assert "accuracy on 539 hidden digits" in last.message and "most confused" in last.message


def test_hardcoded_test_acc_is_caught_with_the_measured_accuracy(graded):
    (message,) = failures(graded["hardcoded-test-acc"], "test_acc")
    assert "test_acc is 0.99" in message and "accuracy on 269 test images: 0.94" in message


def test_feedback_names_the_architecture_problems(graded):
    softmax = failures(graded["no-softmax"], "cnn_architecture")
    assert len(softmax) == 1 and "activation='softmax'" in softmax[0]
    wrong = failures(graded["wrong-output-size"], "cnn_architecture")
    assert any("expected 10 outputs" in m and "Dense 9 (softmax)" in m for m in wrong)
    assert any("label value of 9" in m and "fit_build_cnn_model" not in m for m in wrong)


def test_untouched_notebook_says_not_implemented(graded):
    messages = {c.message for c in graded["untouched"].checks}
    assert "build_cnn_model is not implemented yet (it raised NotImplementedError)" in messages
    assert "train_step is not implemented yet (it raised NotImplementedError)" in messages
    assert any("test_acc is not defined" in m for m in messages)


def test_validate_passes():
    result = CliRunner().invoke(main, ["validate", "build-cnn", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "reference earns 18/18" in result.output and "released notebook 0" in result.output


# --- fast checks: release, data, no TensorFlow in the grader -----------------------------

@pytest.mark.parametrize("path", [FOLDER / "build-cnn.ipynb", EXAMPLES / "untouched.ipynb"],
                         ids=["template", "example"])
def test_checked_in_student_notebook_is_what_release_produces(path):
    assert path.read_text(encoding="utf-8") == released_text(REFERENCE), (
        f"{path.name} is stale: run `grader release build-cnn` and copy it to examples/")


def test_example_reference_is_the_reference():
    assert (EXAMPLES / "reference.ipynb").read_bytes() == REFERENCE.read_bytes()


def test_parameters_cell_is_tagged_and_profile_matches_prelude(spec):
    from grader.notebook import read_code_cells

    tagged = [c for c in read_code_cells(REFERENCE, 2**30) if "parameters" in c.tags]
    assert len(tagged) == 1 and all(f"{name} = " in tagged[0].source for name in spec.parameters)
    assert f"max_epochs = {spec.parameters['EPOCHS']}" in spec.prelude_source()


def load_data_module():
    module_spec = importlib.util.spec_from_file_location("build_cnn_data_test", FOLDER / "data.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def rows(images: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in images}


def test_offline_digits_splits_are_disjoint_and_mnist_shaped(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADER_MNIST", raising=False)
    data = load_data_module()
    splits = data.load()
    assert splits.source == "digits"
    for split in (splits.train, splits.test, splits.hidden):
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (28, 28)
        assert split.labels.dtype == np.uint8 and set(np.unique(split.labels)) == set(range(10))
    assert len(splits.hidden.labels) == 539 and len(splits.test.labels) == 269
    assert not rows(splits.hidden.images) & (rows(splits.train.images) | rows(splits.test.images))
    data.write_mnist_npz(tmp_path / "mnist.npz")
    with np.load(tmp_path / "mnist.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["x_test", "x_train", "y_test", "y_train"]
        assert np.array_equal(archive["x_test"], splits.test.images)
        assert not rows(archive["x_train"]) & rows(splits.hidden.images)


def test_real_mnist_is_used_when_configured(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    fake = {"x_train": rng.integers(0, 256, (500, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 500).astype(np.uint8),
            "x_test": rng.integers(0, 256, (3000, 28, 28), dtype=np.uint8),
            "y_test": (np.arange(3000) % 10).astype(np.uint8)}
    np.savez(tmp_path / "mnist.npz", **fake)
    monkeypatch.setenv("GRADER_MNIST", str(tmp_path / "mnist.npz"))
    splits = load_data_module().load()
    assert splits.source == "mnist"
    assert len(splits.hidden.labels) == 600 and len(splits.test.labels) == 2400
    assert np.array_equal(np.bincount(splits.hidden.labels), [60] * 10)
    assert not rows(splits.hidden.images) & rows(splits.test.images)
    assert np.array_equal(splits.train.images, fake["x_train"])
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".keras" / "datasets").mkdir(parents=True)
    (tmp_path / "mnist.npz").rename(tmp_path / ".keras" / "datasets" / "mnist.npz")
    monkeypatch.setenv("GRADER_MNIST", "keras")
    assert load_data_module().load().source == "mnist"


def test_checks_do_not_import_tensorflow():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('checks', {str(FOLDER / 'checks.py')!r})\n"
        "module = sys.modules['checks'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.DATA.source == 'digits'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'sklearn')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}, cwd=REPO)
    assert done.stdout.strip() == "[]"
