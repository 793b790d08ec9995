"""A second oracle: the reference's conv_layer and max_pool2d agree with Keras."""

from __future__ import annotations

import contextlib
import io

import nbformat
import numpy as np
import pytest

from tests.conftest import REFERENCE

pytestmark = pytest.mark.slow  # imports TensorFlow


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported only when these tests run (not when they are collected)."""
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def reference_namespace():
    """The reference notebook's definitions (trusted code, so it may run in-process)."""
    namespace: dict = {}
    notebook = nbformat.read(str(REFERENCE), as_version=4)
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in notebook.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, "<reference>", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.mark.parametrize("h, w, c, kh, kw, d, stride", [
    (8, 8, 3, 3, 3, 4, 1), (9, 7, 2, 2, 3, 5, 1), (9, 9, 3, 3, 3, 2, 2), (10, 8, 1, 2, 2, 3, 3),
    (5, 6, 4, 1, 1, 2, 1), (4, 4, 2, 4, 4, 3, 1),
])
def test_conv_layer_equals_keras_conv2d(tf, reference_namespace, h, w, c, kh, kw, d, stride):
    rng = np.random.default_rng(h * 100 + w)
    x = rng.normal(size=(h, w, c))
    filters, biases = rng.normal(size=(kh, kw, c, d)), rng.normal(size=(d,))
    layer = tf.keras.layers.Conv2D(d, (kh, kw), strides=stride, padding="valid", activation=None)
    layer.build((1, h, w, c))
    layer.set_weights([filters.astype(np.float32), biases.astype(np.float32)])
    keras = layer(x[None].astype(np.float32)).numpy()[0]
    ours = reference_namespace["conv_layer"](x, filters, biases, stride=stride)
    np.testing.assert_allclose(ours, keras, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape, pool, stride", [((6, 8, 3), 2, 2), ((7, 9, 2), 3, 1)])
def test_max_pool2d_equals_keras(tf, reference_namespace, shape, pool, stride):
    x = np.random.default_rng(1).normal(size=shape)
    keras = tf.keras.layers.MaxPool2D(pool, strides=stride)(x[None].astype(np.float32)).numpy()[0]
    ours = reference_namespace["max_pool2d"](x, pool_size=pool, stride=stride)
    np.testing.assert_allclose(ours, keras, rtol=1e-6)


def test_softmax_equals_keras(tf, reference_namespace):
    logits = np.random.default_rng(2).normal(size=(4, 10)) * 3
    keras = tf.keras.activations.softmax(tf.constant(logits)).numpy()
    np.testing.assert_allclose(reference_namespace["softmax"](logits), keras, rtol=1e-6)
