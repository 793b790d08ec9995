# build-cnn probes: run in the notebook's process after its last cell (instructor code).
#
# Each probe turns what the notebook defined (Keras models, a loss history) into plain
# data for checks.py: layer lists, output arrays, losses. Arguments are the hidden inputs
# the checks send: images as uint8 (n, 28, 28) arrays, exactly as `mnist.load_data()`
# returns them, and labels only of images the notebook has anyway (never of the hidden
# evaluation split). Every probe prepares images as the lab does: float32 in [0, 1], shape
# (n, 28, 28, 1).
#
# A probe's name is what a student reads when it fails ("build_cnn_model is not
# implemented yet", "cnn_model raised NameError: ..."), so probes are named after the
# notebook's own names. No answers here: this file is visible to the notebook's process.

import sys

import numpy as np

#: Layers that only apply an activation: their activation is identified by behaviour.
ACTIVATION_LAYERS = ("Activation", "ReLU", "Softmax", "LeakyReLU", "ELU")
#: Where the prelude keeps the models passed through fit and what evaluate returned.
REGISTRY = "grader_build_cnn_registry"
#: The evaluate() calls the grader measures (the last ones): the course makes two.
MAX_EVALUATIONS = 6
#: A fixed small input on which activations are told apart (see _activation_name).
_PROBE_INPUT = np.array([[-2.0, -0.5, 0.0, 0.7, 3.0], [1.0, -1.0, 2.0, 0.1, -3.0]], np.float32)


def build_fc_model(namespace, images):
    """Summary of build_fc_model(): layers, output, parameter count."""
    return _summary(_built(namespace, "build_fc_model"), images)


def build_cnn_model(namespace, images):
    """Summary of build_cnn_model(): layers, output, parameter count."""
    return _summary(_built(namespace, "build_cnn_model"), images)


def cnn_model(namespace, images):
    """The notebook's final cnn_model's outputs (class probabilities) for ``images``: in the
    course, the model its last cell trained with GradientTape."""
    if "cnn_model" not in namespace:
        raise NameError("cnn_model is not defined (did the cell that builds it run without errors?)")
    return _outputs(_model(namespace["cnn_model"], "cnn_model"), _prepare(images))


def fitted_cnn(namespace, images):
    """The last CNN the notebook trained with fit (found in the prelude's registry: the
    course rebinds cnn_model later), on ``images``."""
    fitted = [model for model in getattr(sys.modules.get(REGISTRY), "fitted", [])
              if _convolutional(model)]
    if not fitted:
        raise LookupError("no CNN was trained with fit in this notebook (did "
                          "`cnn_model.fit(train_images, train_labels, ...)` run without errors?)")
    return _outputs(fitted[-1], _prepare(images))


def evaluations(namespace, images):
    """What the notebook's evaluate() calls measured, and which of them gave test_acc.

    For each of the last MAX_EVALUATIONS calls: the accuracy it returned (None without an
    accuracy metric), whether its model has a convolution and was trained with fit, and
    that model's outputs on ``images`` (so the grader can measure it). ``test_acc_index``
    is the last call whose accuracy equals the notebook's test_acc (None: none does, or
    test_acc is not defined).
    """
    registry = sys.modules.get(REGISTRY)
    fitted = list(getattr(registry, "fitted", []))
    calls = list(getattr(registry, "evaluations", []))[-MAX_EVALUATIONS:]
    x = _prepare(images)
    found = [{"accuracy": _accuracy_of(returned), "convolutional": _convolutional(model),
              "fitted": any(model is seen for seen in fitted), "outputs": _outputs(model, x)}
             for model, returned in calls]
    wanted = _as_float(namespace["test_acc"]) if "test_acc" in namespace else None
    matches = [i for i, call in enumerate(found)
               if wanted is not None and call["accuracy"] is not None and call["accuracy"] == wanted]
    return {"evaluations": found, "test_acc_index": matches[-1] if matches else None}


def loss_history(namespace):
    """The values of the notebook's loss_history (mdl.util.LossHistory: its .get(); a plain
    list or array of losses is accepted as it is)."""
    if "loss_history" not in namespace:
        raise NameError("loss_history is not defined (did the training cell run without errors?)")
    value = namespace["loss_history"]
    values = value.get() if callable(getattr(value, "get", None)) else value
    return np.asarray([float(np.mean(np.asarray(v))) for v in values], dtype=np.float64)


def grading_caps(namespace):
    """What the grading profile shortened in this run (Model.fit epochs and batches, tqdm
    loops), as sentences for the feedback."""
    from grader.child import profile

    return profile.caps()


def fit_build_cnn_model(namespace, train_images, train_labels, eval_images, epochs=1,
                        batch_size=32, seed=0):
    """Train a fresh build_cnn_model() with the grader's fixed recipe; outputs on eval_images.

    Recipe: seed, Adam(1e-3), sparse categorical cross-entropy (on logits if the model's
    outputs are not probabilities, so only the softmax check judges the softmax),
    ``epochs`` epochs of ``batch_size``, shuffled.
    """
    import keras

    registry = sys.modules.get(REGISTRY)
    if registry is not None:
        registry.recording = False  # the grader's training is not the notebook's
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

def _accuracy_of(returned):
    """The accuracy in what evaluate() returned: the last of [loss, ..., accuracy], or the
    'accuracy' entry of a dict (return_dict=True); None when there is none."""
    if isinstance(returned, dict):
        return _as_float(returned.get("accuracy", returned.get("acc")))
    if isinstance(returned, (list, tuple)) and len(returned) >= 2:
        return _as_float(returned[-1])
    return None


def _as_float(value):
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(array) if array.shape == () else None


def _convolutional(model):
    return any(type(layer).__name__.startswith("Conv") for layer in _all_layers(model))


def _all_layers(model):
    """Every layer of a model, nested models' layers included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


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
    kind = type(layer).__name__
    info = {"class": kind, "shape": shape, "params": int(layer.count_params()),
            "activation_layer": kind in ACTIVATION_LAYERS}
    if kind in ACTIVATION_LAYERS:
        info["activation"] = _activation_name(layer)
    elif getattr(layer, "activation", None) is not None:
        info["activation"] = _activation_name(layer.activation)
    for key in ("filters", "kernel_size", "strides", "padding", "pool_size", "units"):
        if key in config:
            value = config[key]
            info[key] = [int(v) for v in value] if isinstance(value, (list, tuple)) else value
    return info


def _activation_name(function):
    """Which activation ``function`` computes, told by behaviour, not by name: Keras 3
    calls ``tf.nn.softmax`` "softmax_v2", and ``'softmax'``, ``tf.keras.activations.softmax``
    and a ``Softmax()`` layer must all count alike. Applied to a fixed small input, the
    result is compared with relu, softmax, sigmoid, tanh and the identity computed with
    numpy; anything else is "other"."""
    try:
        got = np.asarray(function(_PROBE_INPUT), dtype=np.float64)
    except Exception:  # noqa: BLE001 - an activation that cannot take this input
        return "other"
    x = _PROBE_INPUT.astype(np.float64)
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    candidates = {
        "linear": x,
        "relu": np.maximum(x, 0.0),
        "softmax": shifted / shifted.sum(axis=-1, keepdims=True),
        "sigmoid": 1.0 / (1.0 + np.exp(-x)),
        "tanh": np.tanh(x),
    }
    for name, expected in candidates.items():
        if got.shape == expected.shape and np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            return name
    return "other"
