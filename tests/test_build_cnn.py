"""build-cnn: what its examples' and the course's notebooks' feedback says, and data, release
and validate hold up. Their scores are pinned in assignments/build-cnn/examples/expected.toml
and checked by tests/test_expected_scores.py.

One batch grades every example and the course's two Lab 2 Part 1 notebooks (TensorFlow in
each child, about 35 s a notebook on one core under the grading profile), once a session for
both modules (``graded_examples``), then `grader validate` grades the reference and the
released notebook again with its own plan.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.spec import load_assignment
from grader.spec.release import released_text
from tests.conftest import REPO
from tests.test_expected_scores import graded_examples, read_expected

FOLDER = REPO / "assignments" / "build-cnn"
EXAMPLES = FOLDER / "examples"
REFERENCE = REPO / "reference" / "build-cnn.ipynb"
COURSE_SOLUTION = read_expected("build-cnn").course["Part1_MNIST_Solution"].path
needs_course = pytest.mark.skipif(not COURSE_SOLUTION.is_file(),
                                  reason=f"the course's notebook is not at {COURSE_SOLUTION}")


@pytest.fixture(scope="module")
def spec():
    return load_assignment("build-cnn")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every example and, when present, the course's notebooks: one batch, two workers."""
    results, _ = graded_examples("build-cnn", tmp_path_factory)
    return results


@needs_course
def test_course_solution_is_told_what_was_capped(graded):
    notes = "\n".join(c.message for c in graded["Part1_MNIST_Solution"].checks if c.message)
    assert "Model.fit: 5 epochs asked, 1 run" in notes
    assert "a loop over 5,000 items (tqdm) stopped after 1,000" in notes


def failures(result, question):
    return [c.message for c in result.checks if c.check.question == question and not c.passed]


def test_accuracy_feedback_shows_confusion_matrix_once_per_model(graded):
    messages = failures(graded["logits-not-softmax"], "cnn_model")
    assert len(messages) == 4  # the CNN trained with fit, then three steps of the tape-trained one
    assert all("accuracy on 2156 hidden digits" in m for m in messages)
    assert sum("true\\pred" in m for m in messages) == 2
    assert "the CNN trained with fit" in messages[0] and "needs 0.400" in messages[1]
    assert "most confused digits:" in messages[-1]


def test_passing_students_see_their_accuracy_and_the_caps(graded):
    last = [c for c in graded["reference"].checks if c.check.question == "cnn_model" and c.passed][-1]
    assert "accuracy on 2156 hidden digits" in last.message and "most confused" in last.message
    assert "stopped after 1,000" in last.message


def test_hardcoded_test_acc_is_caught(graded):
    messages = failures(graded["hardcoded-test-acc"], "test_acc")
    assert len(messages) == 2
    assert all("test_acc is not an accuracy that evaluate() returned" in m for m in messages)


def test_untrained_cnn_is_named(graded):
    (message,) = failures(graded["never-trained"], "test_acc")
    assert "never trained with fit" in message
    (message,) = failures(graded["never-trained"], "cnn_model")
    assert "no CNN was trained with fit" in message
    messages = failures(graded["wrong-output-size"], "test_acc")
    assert any("model without a convolution" in m for m in messages)


def test_feedback_names_the_architecture_problems(graded):
    softmax = failures(graded["logits-not-softmax"], "cnn_architecture")
    assert len(softmax) == 1 and "activation='softmax'" in softmax[0]
    wrong = failures(graded["wrong-output-size"], "cnn_architecture")
    assert any("expected 10 outputs" in m and "Dense 9 (softmax)" in m for m in wrong)
    assert any("label value of 9" in m and "fit_build_cnn_model" not in m for m in wrong)


def test_prediction_feedback_names_argmax(graded):
    (message,) = failures(graded["prediction-max-not-argmax"], "prediction")
    assert "np.argmax(predictions[0])" in message


def test_loss_history_feedback(graded):
    (message,) = failures(graded["tape-from-logits-on-probabilities"], "loss_history")
    assert "should fall to 1.50 or less" in message


def test_untouched_notebook_says_not_implemented(graded):
    messages = {c.message for c in graded["untouched"].checks}
    assert "build_cnn_model is not implemented yet (it raised NotImplementedError)" in messages
    assert any("test_acc is not defined" in m for m in messages)
    assert any("loss_history is not defined" in m for m in messages)


@pytest.mark.skipif(os.environ.get("GRADER_SLOW_TESTS") != "1",
                    reason="plans and grades the reference again (~80 s); GRADER_SLOW_TESTS=1")
def test_validate_passes():
    result = CliRunner().invoke(main, ["validate", "build-cnn", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "reference earns 18/18" in result.output and "released notebook 0" in result.output


# --- fast checks: release, profile, data, probes, no TensorFlow in the grader ---------------

@pytest.mark.parametrize("path", [FOLDER / "build-cnn.ipynb", EXAMPLES / "untouched.ipynb"],
                         ids=["template", "example"])
def test_checked_in_student_notebook_is_what_release_produces(path):
    assert path.read_text(encoding="utf-8") == released_text(REFERENCE, "build-cnn"), (
        f"{path.name} is stale: run `grader release build-cnn --no-kit` and copy it to examples/")


def test_example_reference_is_the_reference():
    assert (EXAMPLES / "reference.ipynb").read_bytes() == REFERENCE.read_bytes()


def test_parameters_cell_is_tagged_and_profile_matches_prelude(spec):
    from grader.spec.notebook import read_code_cells

    tagged = [c for c in read_code_cells(REFERENCE, 2**30) if "parameters" in c.tags]
    assert len(tagged) == 1 and all(f"{name} = " in tagged[0].source for name in spec.parameters)
    prelude = spec.prelude_source()
    assert f"max_epochs={spec.parameters['EPOCHS']}," in prelude
    assert "max_loop_iterations=1000," in prelude and "max_steps_per_epoch=400," in prelude


def load_module(name: str):
    module_spec = importlib.util.spec_from_file_location(f"build_cnn_{name}_test", FOLDER / f"{name}.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def rows(images: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in images}


def test_offline_digits_have_mnist_sizes_and_disjoint_splits(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADER_MNIST", raising=False)
    data = load_module("data")
    splits = data.load()
    assert splits.source == "digits"
    assert len(splits.train.labels) == 60_000 and len(splits.test.labels) == 10_000
    assert len(splits.hidden.labels) == 539 * 4
    for split in (splits.train, splits.test, splits.hidden):
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (28, 28)
        assert split.labels.dtype == np.uint8 and set(np.unique(split.labels)) == set(range(10))
    assert not rows(splits.hidden.images) & (rows(splits.train.images) | rows(splits.test.images))
    data.write_mnist_npz(tmp_path / "mnist.npz")
    with np.load(tmp_path / "mnist.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["x_test", "x_train", "y_test", "y_train"]
        assert np.array_equal(archive["x_test"], splits.test.images)


def test_offline_originals_behind_each_split_are_disjoint():
    data = load_module("data")
    _, labels = data.read_sklearn_digits()
    train, test, hidden = data._split_originals(labels, np.random.default_rng(data.SEED))
    assert (len(train), len(test), len(hidden)) == (989, 269, 539)
    assert not (set(train) & set(test)) and not (set(hidden) & (set(train) | set(test)))


def test_generated_data_is_cached_on_disk_atomically(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    data = load_module("data")
    calls = []
    small = data.Split(np.zeros((3, 28, 28), np.uint8), np.arange(3, dtype=np.uint8))

    def generate(images8, labels, augmentation=data.AUGMENTATION):
        calls.append(augmentation)
        return data.Data("digits", small, small, small)

    monkeypatch.setattr(data, "generate_digits", generate)
    first = data.digits_data()
    second = data.digits_data()
    assert len(calls) == 1 and np.array_equal(second.train.images, first.train.images)
    (cached,) = (tmp_path / "grader").iterdir()
    assert cached.name.startswith("build-cnn-digits-") and cached.suffix == ".npz"
    other = data.Augmentation(rotation_degrees=5.0)
    data.digits_data(other)
    assert len(calls) == 2 and len(list((tmp_path / "grader").iterdir())) == 2


def test_real_mnist_is_used_when_configured(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    fake = {"x_train": rng.integers(0, 256, (500, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 500).astype(np.uint8),
            "x_test": rng.integers(0, 256, (3000, 28, 28), dtype=np.uint8),
            "y_test": (np.arange(3000) % 10).astype(np.uint8)}
    np.savez(tmp_path / "mnist.npz", **fake)
    monkeypatch.setenv("GRADER_MNIST", str(tmp_path / "mnist.npz"))
    splits = load_module("data").load()
    assert splits.source == "mnist"
    assert len(splits.hidden.labels) == 600 and len(splits.test.labels) == 2400
    assert np.array_equal(np.bincount(splits.hidden.labels), [60] * 10)
    assert not rows(splits.hidden.images) & rows(splits.test.images)
    assert np.array_equal(splits.train.images, fake["x_train"])
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".keras" / "datasets").mkdir(parents=True)
    (tmp_path / "mnist.npz").rename(tmp_path / ".keras" / "datasets" / "mnist.npz")
    monkeypatch.setenv("GRADER_MNIST", "keras")
    assert load_module("data").load().source == "mnist"


def test_checks_do_not_import_tensorflow():
    cache = load_module("data").cache_folder().parent  # the generated data, if cached already
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('checks', {str(FOLDER / 'checks.py')!r})\n"
        "module = sys.modules['checks'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.DATA.source == 'digits'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'sklearn')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
                               "XDG_CACHE_HOME": str(cache)}, cwd=REPO)
    assert done.stdout.strip() == "[]"

