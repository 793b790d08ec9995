"""Wrong variants of the reference lose exactly the points they should, and no more."""

from __future__ import annotations

import pytest

from tests.conftest import by_question, grade_all, make_variant
from tests.test_expected_scores import read_expected

FULL = read_expected("convolve-by-hand").points


def expected(**lost: float) -> dict[str, float]:
    """Every question's full points (examples/expected.toml), less what is lost."""
    return {q: round(points - lost.get(q, 0.0), 4) for q, points in FULL.items()}

VARIANTS = {
    "flipped-kernel": (
        {"kernel = np.asarray(kernel, dtype=np.float64)":
         "kernel = np.asarray(kernel, dtype=np.float64)[::-1, ::-1]"},
        (),
        expected(conv2d=5 - 1 - 1 / 3, conv_layer=3.5),
    ),
    # conv2d forgets the "+ 1": every output is one row short; what builds on it breaks too.
    "conv2d-wrong-output-size": (
        {"out_h = output_size(image.shape[0], kh, stride, padding)":
         "out_h = (image.shape[0] + 2 * padding - kh) // stride"},
        (),
        expected(conv2d=5, conv_layer=4, x_feature_maps=2),
    ),
    "unstable-softmax": (
        {"shifted = logits - np.max(logits, axis=-1, keepdims=True)": "shifted = logits"},
        (),
        expected(softmax=1),
    ),
    "forbidden-softmax": (
        {},
        ("from scipy import special as sp\n\ndef softmax(logits):\n"
         "    return sp.softmax(logits, axis=-1)\n",),
        expected(softmax=2),
    ),
    # a module-level lambda hides the forbidden call from a def-only analysis
    "forbidden-lambda": (
        {},
        ("from scipy.signal import correlate2d as c2\n"
         "conv2d = lambda image, kernel, stride=1, padding=0: c2(\n"
         "    np.pad(np.asarray(image, float), padding), np.asarray(kernel, float),\n"
         "    mode='valid')[::stride, ::stride]\n",),
        expected(conv2d=5, conv_layer=4, x_feature_maps=2),
    ),
    "mean-pooling": (
        {"out[i, j] = window.max(axis=(0, 1))": "out[i, j] = window.mean(axis=(0, 1))"},
        (),
        expected(max_pool2d=3),
    ),
    "filters-stacked-first": (
        {"], axis=-1).astype(float)": "], axis=0).astype(float)"},
        (),
        expected(x_filters=1, x_feature_maps=2),
    ),
    "conv-layer-without-bias": (
        {"out[:, :, d] += biases[d]": "pass"},
        (),
        expected(conv_layer=4),
    ),
    # An error early in the notebook must not cost the questions after it.
    "crash-in-first-cell": (
        {"import numpy as np": "import numpy as np\nimport course_helpers_that_do_not_exist"},
        (),
        expected(),
    ),
}


#: One batch grades every variant (the examples' scores, in test_examples, stay in the fast tier).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(assignment, tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    paths = [make_variant(folder, name, replacements, extra)
             for name, (replacements, extra, _) in VARIANTS.items()]
    return grade_all(assignment, paths, tmp_path_factory.mktemp("out"), seed=11)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_loses_exactly_its_points(graded, name):
    assert by_question(graded[name]) == pytest.approx(VARIANTS[name][2], abs=1e-3)


def test_early_crash_is_reported(graded):
    notes = "\n".join(graded["crash-in-first-cell"].notes)
    assert "ModuleNotFoundError" in notes
