# build-cnn probes: run in the notebook's process after its last cell (instructor code).
#
# Each probe turns what the notebook defined (Keras models, a training function) into
# plain data for checks.py: layer lists, output arrays, losses. Arguments are the hidden
# inputs the checks send: images as uint8 (n, 28, 28) arrays, exactly as
# `mnist.load_data()` returns them, and labels only of images the notebook has anyway
# (never of the hidden evaluation split). Every probe prepares images as the lab does:
# float32 in [0, 1], shape (n, 28, 28, 1).
#
# A probe's name is what a student reads when it fails ("build_cnn_model is not
# implemented yet", "cnn_model raised NameError: ..."), so probes are named after the
# notebook's own names. No answers here: this file is visible to the notebook's process.

import numpy as np

#: Layers that neither change the shape nor hold weights; the checks may skip them.
PASS_THROUGH = ("Dropout", "Activation", "ReLU", "Softmax", "LeakyReLU", "GaussianNoise",
                "SpatialDropout2D")


def build_fc_model(namespace, images):
    """Summary of build_fc_model(): layers, output, parameter count."""
    return _summary(_built(namespace, "build_fc_model"), images)


def build_cnn_model(namespace, images):
    """Summary of build_cnn_model(): layers, output, parameter count."""
    return _summary(_built(namespace, "build_cnn_model"), images)


def cnn_model(namespace, images):
    """The notebook's trained cnn_model's outputs (class probabilities) for ``images``."""
    if "cnn_model" not in namespace:
        raise NameError("cnn_model is not defined (did the cell that builds it run without errors?)")
    return _outputs(_model(namespace["cnn_model"], "cnn_model"), _prepare(images))


def train_step(namespace, images, labels, steps=5, seed=0):
    """Run the notebook's train_step ``steps`` times on one fixed batch of a fresh model.

    The model is the grader's own small CNN (so a broken build_cnn_model cannot spoil this
    probe), seeded; the optimizer is Adam(1e-3). Returns the model's outputs before the
    first step and after the last, what each call returned, and which trainable
    variables changed.
    """
    import keras

    step = _function(namespace, "train_step")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(2, 2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    x, y = _prepare(images), np.asarray(labels).astype(np.int64)
    before_weights = [np.array(v) for v in model.trainable_variables]
    before = np.asarray(model(x, training=False))
    returned = []
    for _ in range(steps):
        loss = step(model, optimizer, x, y)
        returned.append(None if loss is None else np.asarray(loss, dtype=np.float64))
    after = np.asarray(model(x, training=False))
    changed = [bool(not np.array_equal(w, np.array(v)))
               for w, v in zip(before_weights, model.trainable_variables, strict=True)]
    names = [str(v.path if hasattr(v, "path") else v.name) for v in model.trainable_variables]
    return {"before": before, "after": after, "returned": returned, "changed": changed,
            "variables": names}


def fit_build_cnn_model(namespace, train_images, train_labels, eval_images, epochs=1,
                        batch_size=32, seed=0):
    """Train a fresh build_cnn_model() with the grader's fixed recipe; outputs on eval_images.

    Recipe: seed, Adam(1e-3), sparse categorical cross-entropy (on logits if the model's
    outputs are not probabilities, so only the softmax check judges the softmax),
    ``epochs`` epochs of ``batch_size``, shuffled.
    """
    import keras

    keras.utils.set_random_seed(seed)
    model = _built(namespace, "build_cnn_model")
    x, y = _prepare(train_images), np.asarray(train_labels).astype(np.int64)
    probe = np.asarray(model(x[:16], training=False))
    probabilities = bool(np.all(probe >= 0) and np.allclose(probe.sum(axis=-1), 1, atol=1e-3))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities))
    try:
        model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    except Exception as exc:  # TensorFlow's message is mostly a graph trace
        raise RuntimeError(f"training failed with {type(exc).__name__}: {_last_line(exc)}") from None
    return _outputs(model, _prepare(eval_images))


# --- helpers -----------------------------------------------------------------------------

def _last_line(exc):
    """The message of a TensorFlow error without its graph trace: the last line that is
    neither a stack frame nor a node reference."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    plain = [line for line in lines if not line.startswith(("File ", "[[", "Detected at node"))]
    return (plain or lines or [""])[-1][:500]


def _prepare(images):
    images = np.asarray(images)
    return (images.reshape(images.shape + (1,)) / 255.0).astype(np.float32)


def _function(namespace, name):
    if name not in namespace:
        raise NameError(f"{name} is not defined (did the cell that defines it run without errors?)")
    value = namespace[name]
    if not callable(value):
        raise TypeError(f"{name} is not a function (it is a {type(value).__name__})")
    return value


def _built(namespace, name):
    import keras

    keras.utils.set_random_seed(0)
    return _model(_function(namespace, name)(), f"{name}()")


def _model(value, what):
    import keras

    if value is None:
        raise TypeError(f"{what} is None, not a Keras model (a missing `return`?)")
    if not isinstance(value, keras.Model):
        raise TypeError(f"{what} is a {type(value).__name__}, not a Keras model")
    return value


def _outputs(model, x):
    return np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float32)


def _summary(model, images):
    x = _prepare(images)
    output = np.asarray(model(x, training=False), dtype=np.float32)  # builds the model
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    shapes = _output_shapes(layers, x[:1])
    return {
        "layers": [_describe(layer, shape) for layer, shape in zip(layers, shapes, strict=True)],
        "output": output,
        "params": int(model.count_params()),
    }


def _output_shapes(layers, x):
    """Each layer's output shape (without the batch axis) for one input image."""
    shapes, y = [], x
    try:
        for layer in layers:  # a chain of layers, as Sequential and most functional models are
            y = layer(y)
            shapes.append([int(d) for d in y.shape[1:]])
        return shapes
    except Exception:  # noqa: BLE001 - a graph that is not a chain: ask each layer instead
        pass
    shapes = []
    for layer in layers:
        try:
            shapes.append([int(d) if d is not None else -1 for d in layer.output.shape[1:]])
        except Exception:  # noqa: BLE001 - unknown
            shapes.append(None)
    return shapes


def _describe(layer, shape):
    config = layer.get_config()
    info = {"class": type(layer).__name__, "shape": shape, "params": int(layer.count_params())}
    activation = getattr(layer, "activation", None)
    if activation is not None:
        info["activation"] = str(getattr(activation, "__name__", activation))
    elif info["class"] in ("ReLU", "Softmax"):
        info["activation"] = info["class"].lower()
    for key in ("filters", "kernel_size", "strides", "padding", "pool_size", "units"):
        if key in config:
            value = config[key]
            info[key] = [int(v) for v in value] if isinstance(value, (list, tuple)) else value
    return info
