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
#
# What every Keras assignment's probes need (the notebook's names found with messages for
# students, models described as plain data) comes from the grader's kit, grader.kit.keras.

import sys

import numpy as np

from grader.kit import keras as kit

#: Where the prelude keeps the models passed through fit and what evaluate returned.
REGISTRY = "grader_build_cnn_registry"
#: The evaluate() calls the grader measures (the last ones): the course makes two.
MAX_EVALUATIONS = 6


def build_fc_model(namespace, images):
    """Summary of build_fc_model(): layers, output, parameter count."""
    return kit.summary(kit.built_model(namespace, "build_fc_model"), _prepare(images))


def build_cnn_model(namespace, images):
    """Summary of build_cnn_model(): layers, output, parameter count."""
    return kit.summary(kit.built_model(namespace, "build_cnn_model"), _prepare(images))


def cnn_model(namespace, images):
    """The notebook's final cnn_model's outputs (class probabilities) for ``images``: in the
    course, the model its last cell trained with GradientTape."""
    if "cnn_model" not in namespace:
        raise NameError("cnn_model is not defined (did the cell that builds it run without errors?)")
    return kit.predict(kit.keras_model(namespace["cnn_model"], "cnn_model"), _prepare(images))


def fitted_cnn(namespace, images):
    """The last CNN the notebook trained with fit (found in the prelude's registry: the
    course rebinds cnn_model later), on ``images``."""
    fitted = [model for model in getattr(sys.modules.get(REGISTRY), "fitted", [])
              if kit.convolutional(model)]
    if not fitted:
        raise LookupError("no CNN was trained with fit in this notebook (did "
                          "`cnn_model.fit(train_images, train_labels, ...)` run without errors?)")
    return kit.predict(fitted[-1], _prepare(images))


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
    found = [{"accuracy": kit.accuracy_of(returned), "convolutional": kit.convolutional(model),
              "fitted": any(model is seen for seen in fitted), "outputs": kit.predict(model, x)}
             for model, returned in calls]
    wanted = kit.scalar(namespace["test_acc"]) if "test_acc" in namespace else None
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
    model = kit.built_model(namespace, "build_cnn_model")
    x, y = _prepare(train_images), np.asarray(train_labels).astype(np.int64)
    probe = np.asarray(model(x[:16], training=False))
    probabilities = bool(np.all(probe >= 0) and np.allclose(probe.sum(axis=-1), 1, atol=1e-3))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities))
    try:
        model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    except Exception as exc:  # TensorFlow's message is mostly a graph trace
        raise RuntimeError(f"training failed with {type(exc).__name__}: {kit.last_line(exc)}") from None
    return kit.predict(model, _prepare(eval_images))


# --- helpers -----------------------------------------------------------------------------

def _prepare(images):
    images = np.asarray(images)
    return (images.reshape(images.shape + (1,)) / 255.0).astype(np.float32)
