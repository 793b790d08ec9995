"""Checks of build-cnn (18 points).

- fc_model (2): layers and activations (1); output sizes and 101,770 parameters (1).
- cnn_architecture (6): layer kinds in order (1); output shapes and size (1); ReLU (1);
  softmax (1); trained with the grader's recipe, reaches the threshold on hidden digits (2).
- train_step (3): returns the batch's cross-entropy (1); lowers the loss (1); updates every
  trainable variable (1).
- heldout_accuracy (5): cnn_model on hidden digits, one point per step from pass to full.
- test_acc (2): test_acc is cnn_model's accuracy on test_images, within 0.02.

Models never cross into the grader: the probes (probes.py) run in the notebook's process and
return plain data (layer lists, output arrays, losses). Accuracy, cross-entropy, confusion
matrices are computed here with numpy, from labels that stay in this process: the hidden
split's labels never reach the notebook. This module imports no TensorFlow. No check draws
from ``rng``: the hidden split is fixed per dataset (data.py), so every seed grades alike.

What is required and what is only reported (build_cnn_model): the layer kinds in order, the
spatial sizes 26, 13, 11, 5 (3x3 convolutions without padding, 2x2 pooling with stride 2),
ReLU, a softmax, 10 outputs and at most 5 million parameters are required, as the notebook
states them. Filter counts and the hidden layer's width are free: a failure message lists
the student's layers with their sizes and parameter count (passing checks carry no message).

Held-out accuracy earns points step by step: ``LEVELS`` thresholds spaced evenly from the
pass threshold to the full-marks threshold of the dataset in use (``THRESHOLDS``), one
point each (a parametrized check, so partial credit works with the engine as it is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from grader.authoring import StudentError, check, load_sibling, note


def _data_module():
    """data.py, loaded once per process (its splits are cached there)."""
    return load_sibling(__file__, "data.py")


DATA = _data_module().load()


@dataclass(frozen=True)
class Thresholds:
    heldout_pass: float  # cnn_model's accuracy on hidden images for the first point
    heldout_full: float  # ... for all points
    recipe: float  # accuracy build_cnn_model() must reach when the grader trains it


#: Per dataset, for the grading profile in assignment.toml (one epoch). Measured on the
#: offline default: the reference's cnn_model reaches 0.93 on the hidden digits (0.91-0.94
#: over init seeds), the lab's smaller CNN (24 and 36 filters, 128 hidden units) 0.87-0.90;
#: the grader's recipe brings the lecture's CNN to 0.95, the lab's to 0.90, one with 8 and 16
#: filters and 64 units to 0.85 (and a network without convolutions to 0.91, which is why
#: that check first asks for a Conv2D). Real MNIST: not measured here (no offline copy):
#: the digits' thresholds, full marks a little higher; check them with
#: `GRADER_MNIST=/path/mnist.npz python benchmarks/build_cnn_time.py` before grading with it.
THRESHOLDS = {
    "digits": Thresholds(heldout_pass=0.50, heldout_full=0.80, recipe=0.75),
    "mnist": Thresholds(heldout_pass=0.50, heldout_full=0.85, recipe=0.75),
}
LIMITS = THRESHOLDS[DATA.source]
LEVELS = 5
TEST_ACC_TOLERANCE = 0.02
MAX_PARAMS = 5_000_000
LECTURE_PARAMS = 1_668_490
#: The grader's recipe for training build_cnn_model() (probes.fit_build_cnn_model): Adam
#: 1e-3 on the first RECIPE_IMAGES training images.
RECIPE_IMAGES = 4000
RECIPE = {"epochs": 1, "batch_size": 32, "seed": 0}
#: The batch train_step is run on: 32 of the notebook's training images (their labels are no secret).
TRAIN_STEP_BATCH = slice(0, 32)

#: Images for the architecture probes: a few of the notebook's own test images.
SAMPLE = DATA.test.images[:16]
FC_REQUIRED = [("Flatten", None, None), ("Dense", 128, "relu"), ("Dense", 10, "softmax")]
FC_PARAMS = 784 * 128 + 128 + 128 * 10 + 10
CNN_REQUIRED = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
CNN_SPATIAL = [26, 13, 11, 5]
#: Layers that neither change the shape nor hold weights (or only normalise): allowed extras.
EXTRAS = {"Dropout", "SpatialDropout2D", "GaussianNoise", "Activation", "ReLU", "Softmax",
          "LeakyReLU", "BatchNormalization"}


# --- helpers -----------------------------------------------------------------------------

def layers_text(summary: dict) -> str:
    """``Conv2D 26x26x32 (relu) -> ... (N parameters)`` for feedback."""
    parts = []
    for layer in summary["layers"]:
        shape = "x".join(str(d) for d in layer["shape"]) if layer["shape"] else "?"
        activation = layer.get("activation")
        shown = f" ({activation})" if activation and activation != "linear" else ""
        parts.append(f"{layer['class']} {shape}{shown}")
    return " -> ".join(parts) + f" ({summary['params']:,} parameters)"


def structural(summary: dict) -> list[dict]:
    """The layers that make the architecture, each with its ``position`` in the model."""
    return [{**layer, "position": i} for i, layer in enumerate(summary["layers"])
            if layer["class"] not in EXTRAS]


def activation_after(summary: dict, layer: dict) -> str:
    """The activation applied to a structural layer's output: its own, or a following
    activation layer (``Dense(10)`` then ``Softmax()`` counts as a softmax)."""
    own = layer.get("activation")
    if own and own != "linear":
        return own
    for later in summary["layers"][layer["position"] + 1:]:
        if later["class"] in ("Activation", "ReLU", "Softmax"):
            return later.get("activation") or later["class"].lower()
        if later["class"] not in EXTRAS:
            break
    return own or "linear"


def probabilities_problem(output: np.ndarray, what: str) -> str | None:
    """Why ``output`` is not a batch of probability rows, or None if it is."""
    output = np.asarray(output, dtype=np.float64)
    if output.ndim != 2:
        return f"{what} has shape {output.shape}; expected (images, classes)"
    sums = output.sum(axis=1)
    if output.min() < -1e-6 or not np.allclose(sums, 1.0, atol=1e-3):
        return (f"{what} are not probabilities: values from {output.min():.3g} to "
                f"{output.max():.3g}, rows summing to {sums.min():.3g}..{sums.max():.3g}; "
                "the last layer needs activation='softmax'")
    return None


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy, clipped as Keras clips (epsilon 1e-7)."""
    picked = np.asarray(probabilities, dtype=np.float64)[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1 - 1e-7))))


def predicted_classes(output: object, n: int, what: str) -> np.ndarray:
    output = np.asarray(output)
    if output.dtype.kind not in "biuf" or output.ndim != 2 or output.shape[0] != n:
        raise AssertionError(f"{what} returned an array of shape {output.shape}; expected "
                             f"({n}, 10), one row of class probabilities per image")
    return output.argmax(axis=1)


def confusion(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (labels.astype(int), np.clip(predicted, 0, 9).astype(int)), 1)
    return matrix


def confusion_text(matrix: np.ndarray) -> str:
    header = "true\\pred " + "".join(f"{d:>5}" for d in range(10))
    rows = [f"{d:>9} " + "".join(f"{v:>5}" for v in matrix[d]) for d in range(10)]
    mistakes = [(matrix[t, p], t, p) for t in range(10) for p in range(10) if t != p and matrix[t, p]]
    worst = sorted(mistakes, key=lambda m: (-m[0], m[1], m[2]))[:3]
    pairs = ", ".join(f"{t} read as {p} ({n}x)" for n, t, p in worst) or "none"
    return "\n".join([header, *rows, f"most confused digits: {pairs}"])


def accuracy_report(labels: np.ndarray, predicted: np.ndarray, where: str) -> tuple[float, str]:
    accuracy = float(np.mean(predicted == labels))
    return accuracy, (f"accuracy on {len(labels)} {where}: {accuracy:.3f} "
                      f"({int(np.sum(predicted == labels))} correct)")


def number(value: object, name: str) -> float:
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "biuf":
        value = value.item()
    if isinstance(value, (list, tuple)):
        raise AssertionError(f"{name} is a {type(value).__name__} of {len(value)} values, not a "
                             "number; evaluate() returns [loss, accuracy]: unpack it, "
                             "`test_loss, test_acc = cnn_model.evaluate(...)`")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AssertionError(f"{name} should be a number, got {type(value).__name__}")
    return float(value)


# --- build_fc_model ----------------------------------------------------------------------

@check("fc_model", points=1, public=True)
def test_fc_layers(student):
    """build_fc_model: Flatten, Dense(128, relu), Dense(10, softmax)"""
    summary = student.probe("build_fc_model", SAMPLE)
    got = [(layer["class"], layer.get("units"),
            activation_after(summary, layer) if layer["class"] == "Dense" else None)
           for layer in structural(summary)]
    assert got == FC_REQUIRED, (
        f"expected Flatten -> Dense(128, relu) -> Dense(10, softmax), got {layers_text(summary)}")


@check("fc_model", points=1, public=True)
def test_fc_shapes_and_parameters(student):
    """build_fc_model: outputs of 784, 128, 10 values per image; 101,770 parameters"""
    summary = student.probe("build_fc_model", SAMPLE)
    shapes = [layer["shape"] for layer in structural(summary)]
    assert shapes == [[784], [128], [10]], (
        f"expected outputs of 784, 128 and 10 values per image, got {layers_text(summary)}")
    assert summary["params"] == FC_PARAMS, (
        f"expected {FC_PARAMS:,} parameters, got {summary['params']:,}: {layers_text(summary)}")


# --- build_cnn_model: what the notebook requires -----------------------------------------

@check("cnn_architecture", points=1)
def test_cnn_layer_kinds(student):
    """build_cnn_model: Conv2D, MaxPool2D, Conv2D, MaxPool2D, Flatten, Dense, Dense in order"""
    summary = student.probe("build_cnn_model", SAMPLE)
    kinds = [layer["class"] for layer in structural(summary)]
    assert kinds == CNN_REQUIRED, (
        f"expected the layers {', '.join(CNN_REQUIRED)}; got {layers_text(summary)}")


@check("cnn_architecture", points=1)
def test_cnn_output_shapes(student):
    """build_cnn_model: spatial sizes 26, 13, 11, 5 for a 28x28x1 image, 10 outputs, < 5M parameters"""
    summary = student.probe("build_cnn_model", SAMPLE)
    spatial = [layer["shape"][:2] for layer in summary["layers"]
               if layer["class"] in ("Conv2D", "MaxPooling2D") and layer["shape"]]
    wanted = [[s, s] for s in CNN_SPATIAL]
    mine = layers_text(summary)
    assert spatial == wanted, (
        "expected 3x3 convolutions without padding and 2x2 pooling with stride 2: feature maps of "
        f"26x26, 13x13, 11x11 and 5x5; got {mine}")
    last = summary["layers"][-1]["shape"] if summary["layers"] else None
    assert last == [10], f"expected 10 outputs (one per digit), got {last}: {mine}"
    assert summary["params"] <= MAX_PARAMS, (
        f"{summary['params']:,} parameters is over the limit of {MAX_PARAMS:,} (the lecture's model "
        f"has {LECTURE_PARAMS:,}): {mine}")


@check("cnn_architecture", points=1)
def test_cnn_relu(student):
    """build_cnn_model: ReLU after both convolutions and the hidden Dense layer"""
    summary = student.probe("build_cnn_model", SAMPLE)
    layers = structural(summary)
    convs = [layer for layer in layers if layer["class"] == "Conv2D"]
    hidden = [layer for layer in layers if layer["class"] == "Dense"][:-1]
    assert convs and hidden, f"expected Conv2D layers and a hidden Dense layer, got {layers_text(summary)}"
    wrong = [f"{layer['class']} (layer {layer['position'] + 1})" for layer in convs + hidden
             if activation_after(summary, layer) != "relu"]
    assert not wrong, (f"expected activation='relu' on every Conv2D and the hidden Dense layer; "
                       f"not on: {', '.join(wrong)} ({layers_text(summary)})")


@check("cnn_architecture", points=1)
def test_cnn_softmax(student):
    """build_cnn_model: softmax output, non-negative rows that sum to 1"""
    summary = student.probe("build_cnn_model", SAMPLE)
    problem = probabilities_problem(summary["output"], "build_cnn_model()'s outputs")
    assert problem is None, problem


@check("cnn_architecture", points=2)
def test_cnn_architecture_learns(student):
    """build_cnn_model learns: trained by the grader (fixed recipe and seed), accuracy on hidden digits"""
    summary = student.probe("build_cnn_model", SAMPLE)
    assert any(layer["class"] == "Conv2D" for layer in summary["layers"]), (
        f"build_cnn_model() has no Conv2D layer, so it is not a convolutional network: "
        f"{layers_text(summary)}")
    recipe_labels = DATA.train.labels[:RECIPE_IMAGES]
    try:
        result = student.probe("fit_build_cnn_model", DATA.train.images[:RECIPE_IMAGES],
                               recipe_labels, DATA.hidden.images, **RECIPE)
    except StudentError as exc:  # the probe's name means nothing to a student: use the builder's
        raise AssertionError("the grader could not train a fresh build_cnn_model(): "
                             + str(exc).replace("fit_build_cnn_model", "build_cnn_model", 1)) from None
    predicted = predicted_classes(result, len(DATA.hidden.labels), "build_cnn_model()")
    accuracy, report = accuracy_report(DATA.hidden.labels, predicted, "hidden digits")
    assert accuracy >= LIMITS.recipe, (
        f"trained by the grader (Adam 1e-3, {RECIPE['epochs']} epoch(s) of {len(recipe_labels)} "
        f"training images in batches of {RECIPE['batch_size']}, seed {RECIPE['seed']}), a fresh "
        f"build_cnn_model() reaches "
        f"{report}; it needs {LIMITS.recipe:.2f}\n"
        + confusion_text(confusion(DATA.hidden.labels, predicted)))


# --- train_step --------------------------------------------------------------------------

def _train_step_run(student):
    """One probe shared by the three train_step checks: 5 steps on TRAIN_STEP_BATCH."""
    images, labels = DATA.train.images[TRAIN_STEP_BATCH], DATA.train.labels[TRAIN_STEP_BATCH]
    labels = labels.astype(np.int64)
    return student.probe("train_step", images, labels, steps=5, seed=0), labels


@check("train_step", points=1)
def test_train_step_returns_loss(student):
    """train_step returns the batch's mean sparse categorical cross-entropy"""
    result, labels = _train_step_run(student)
    expected = cross_entropy(result["before"], labels)
    returned = result["returned"][0]
    assert returned is not None, "train_step returned None; it should return the loss"
    loss = np.asarray(returned, dtype=np.float64)
    if loss.shape == (len(labels),):  # per-image losses, as tf.keras.losses returns them
        loss = loss.mean()
    assert loss.size == 1, f"train_step returned a loss of shape {loss.shape}; expected a scalar"
    assert np.isclose(float(loss), expected, rtol=1e-3, atol=1e-4), (
        f"on a batch of 32 images, train_step returned {float(loss):.5g}, but the mean sparse "
        f"categorical cross-entropy of the model's outputs before the step is {expected:.5g}")


@check("train_step", points=1)
def test_train_step_lowers_loss(student):
    """train_step: five steps on one batch lower the loss"""
    result, labels = _train_step_run(student)
    before, after = cross_entropy(result["before"], labels), cross_entropy(result["after"], labels)
    assert after < before - 1e-3, (
        f"after 5 calls of train_step on the same 32 images (Adam, learning rate 1e-3), the "
        f"loss went from {before:.4f} to {after:.4f}; it should go down")


@check("train_step", points=1)
def test_train_step_updates_every_variable(student):
    """train_step updates every trainable variable"""
    result, _ = _train_step_run(student)
    pairs = zip(result["variables"], result["changed"], strict=False)
    unchanged = [name for name, changed in pairs if not changed]
    assert not unchanged, (
        f"after 5 calls of train_step, these trainable variables did not change: "
        f"{', '.join(unchanged)}; apply the gradients to all of model.trainable_variables")


# --- cnn_model on hidden digits ----------------------------------------------------------

def level_threshold(level: int) -> float:
    return LIMITS.heldout_pass + (LIMITS.heldout_full - LIMITS.heldout_pass) * level / (LEVELS - 1)


@check("heldout_accuracy", points=LEVELS)
@pytest.mark.parametrize("level", range(LEVELS), ids=[f"{k + 1}-of-{LEVELS}" for k in range(LEVELS)])
def test_heldout_accuracy(student, level):
    """cnn_model's accuracy on hidden digits reaches this step between pass and full marks"""
    output = student.probe("cnn_model", DATA.hidden.images)
    predicted = predicted_classes(output, len(DATA.hidden.labels), "cnn_model")
    accuracy, report = accuracy_report(DATA.hidden.labels, predicted, "hidden digits")
    needed = level_threshold(level)
    if level == LEVELS - 1:  # once, with the last step: what every student should see
        note(f"cnn_model's {report}\n" + confusion_text(confusion(DATA.hidden.labels, predicted)))
    if accuracy >= needed:
        return
    steps = ", ".join(f"{level_threshold(k):.3f}" for k in range(LEVELS))
    message = (f"cnn_model's {report}; step {level + 1} of {LEVELS} needs {needed:.3f} "
               f"(steps: {steps})")
    raise AssertionError(message)


# --- test_acc ----------------------------------------------------------------------------

@check("test_acc", points=2)
def test_test_acc_is_measured(student):
    """test_acc is cnn_model's accuracy on test_images"""
    reported = number(student.value("test_acc"), "test_acc")
    output = student.probe("cnn_model", DATA.test.images)
    predicted = predicted_classes(output, len(DATA.test.labels), "cnn_model")
    accuracy, report = accuracy_report(DATA.test.labels, predicted, "test images")
    assert abs(reported - accuracy) <= TEST_ACC_TOLERANCE, (
        f"test_acc is {reported:.4g}, but the grader measured cnn_model's {report} (tolerance "
        f"{TEST_ACC_TOLERANCE}); set test_acc from cnn_model.evaluate(test_images, test_labels)")
