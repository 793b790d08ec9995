"""Helpers for Keras probes (an assignment's ``probes.py``), shared by the assignments.

A probe runs in the notebook's process after its last cell, beside student code; it turns
what the notebook defined (functions, Keras models, what ``evaluate()`` returned) into plain
data for the checks. These helpers do the parts every Keras assignment needs:

- find the notebook's names: ``defined``, ``function``, ``keras_model``, ``built_model``,
  each raising an error whose message a student can act on ("build_cnn_model is not
  defined (did the cell that defines it run without errors?)");
- describe a model as plain data: ``summary`` (its layers, output and parameter count),
  ``describe_layer``, ``activation_name`` (an activation told by behaviour, not by name),
  ``predict``, ``convolutional``, ``accuracy_of``;
- keep one failing part of a probe from losing the others: ``attempt``, and turn results
  into arrays the channel carries: ``plain``, ``parts``;
- ``last_line``: a TensorFlow error's message without its graph trace.

Import it in ``probes.py`` as ``from grader.kit import keras as kit``. Names imported into
``probes.py`` are not probes (only functions defined there are), so the kit adds none.

Runs in the child: the standard library and numpy only at import; Keras is imported inside
the functions that need it. The kit is as visible to student code as ``probes.py`` is, and
what it returns is as trustworthy as any answer of the notebook's process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

#: Layers that only apply an activation: their activation is identified by behaviour.
ACTIVATION_LAYERS = ("Activation", "ReLU", "Softmax", "LeakyReLU", "ELU")
#: A fixed small input on which activations are told apart (see activation_name).
PROBE_INPUT = np.array([[-2.0, -0.5, 0.0, 0.7, 3.0], [1.0, -1.0, 2.0, 0.1, -3.0]], np.float32)
#: Layer settings a layer description keeps, where the layer has them.
LAYER_SETTINGS = ("filters", "kernel_size", "strides", "padding", "pool_size", "units")


# --- the notebook's names ----------------------------------------------------------------

def defined(namespace: Mapping[str, Any], name: str) -> Any:
    """The notebook's ``name``, or a NameError that tells the student why it may be missing."""
    if name not in namespace:
        raise NameError(f"{name} is not defined (did the cell that defines it run without errors?)")
    return namespace[name]


def function(namespace: Mapping[str, Any], name: str) -> Callable[..., Any]:
    """The notebook's function ``name`` (a NameError or TypeError for the student if not)."""
    value = defined(namespace, name)
    if not callable(value):
        raise TypeError(f"{name} is not a function (it is a {type(value).__name__})")
    return value


def keras_model(value: Any, what: str) -> Any:
    """``value`` if it is a Keras model, else a TypeError naming ``what`` it came from."""
    import keras

    if value is None:
        raise TypeError(f"{what} is None, not a Keras model (a missing `return`?)")
    if not isinstance(value, keras.Model):
        raise TypeError(f"{what} is a {type(value).__name__}, not a Keras model")
    return value


def built_model(namespace: Mapping[str, Any], name: str, seed: int = 0) -> Any:
    """A fresh model from the notebook's builder ``name()``, Keras seeded with ``seed`` first."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras_model(function(namespace, name)(), f"{name}()")


# --- models as plain data ----------------------------------------------------------------

def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """``model.predict(x)`` as float32 (batches of 256, silent)."""
    return np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float32)


def summary(model: Any, x: np.ndarray) -> dict[str, Any]:
    """A model as plain data: its layers (``describe_layer``, input layers left out), its
    output for the prepared input ``x`` (which also builds the model) and its parameter
    count."""
    output = np.asarray(model(x, training=False), dtype=np.float32)  # builds the model
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    shapes = output_shapes(layers, x[:1])
    return {
        "layers": [describe_layer(layer, shape) for layer, shape in zip(layers, shapes, strict=True)],
        "output": output,
        "params": int(model.count_params()),
    }


def output_shapes(layers: list[Any], x: np.ndarray) -> list[list[int] | None]:
    """Each layer's output shape (without the batch axis) for one input image."""
    shapes: list[list[int] | None] = []
    y = x
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


def describe_layer(layer: Any, shape: list[int] | None) -> dict[str, Any]:
    """A layer as plain data: class, output shape, parameters, activation (by behaviour)
    and the LAYER_SETTINGS it has."""
    config = layer.get_config()
    kind = type(layer).__name__
    info: dict[str, Any] = {"class": kind, "shape": shape, "params": int(layer.count_params()),
                            "activation_layer": kind in ACTIVATION_LAYERS}
    if kind in ACTIVATION_LAYERS:
        info["activation"] = activation_name(layer)
    elif getattr(layer, "activation", None) is not None:
        info["activation"] = activation_name(layer.activation)
    for key in LAYER_SETTINGS:
        if key in config:
            value = config[key]
            info[key] = [int(v) for v in value] if isinstance(value, (list, tuple)) else value
    return info


def activation_name(function: Callable[[Any], Any]) -> str:
    """Which activation ``function`` computes, told by behaviour, not by name: Keras 3
    calls ``tf.nn.softmax`` "softmax_v2", and ``'softmax'``, ``tf.keras.activations.softmax``
    and a ``Softmax()`` layer must all count alike. Applied to a fixed small input, the
    result is compared with relu, softmax, sigmoid, tanh and the identity computed with
    numpy; anything else is "other"."""
    try:
        got = np.asarray(function(PROBE_INPUT), dtype=np.float64)
    except Exception:  # noqa: BLE001 - an activation that cannot take this input
        return "other"
    x = PROBE_INPUT.astype(np.float64)
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


def all_layers(model: Any) -> Iterator[Any]:
    """Every layer of a model, nested models' layers included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def convolutional(model: Any) -> bool:
    """Whether any layer of ``model`` (nested ones included) is a convolution."""
    return any(type(layer).__name__.startswith("Conv") for layer in all_layers(model))


def accuracy_of(returned: Any) -> float | None:
    """The accuracy in what evaluate() returned: the last of [loss, ..., accuracy], or the
    'accuracy' entry of a dict (return_dict=True); None when there is none."""
    if isinstance(returned, dict):
        return scalar(returned.get("accuracy", returned.get("acc")))
    if isinstance(returned, (list, tuple)) and len(returned) >= 2:
        return scalar(returned[-1])
    return None


def scalar(value: Any) -> float | None:
    """``value`` as a float if it is one number (a Python or numpy scalar, a 0-d tensor)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(array) if array.shape == () else None


# --- results as plain data, one part at a time ---------------------------------------------

def plain(value: Any) -> Any:
    """A numeric result (a tensor, an array, a number) as a float32 array; None stays None,
    anything else is returned as it is (the channel sends what it cannot carry as
    ``Unsupported``)."""
    if value is None:
        return None
    return np.asarray(value, dtype=np.float32) if numeric(value) else value


def numeric(value: Any) -> bool:
    """Whether ``value`` reads as an array of numbers."""
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except Exception:  # noqa: BLE001 - ragged or not numbers: sent as it is (Unsupported)
        return False


def parts(result: Any) -> list[Any]:
    """Each part of a tuple or list result through ``plain``; a single result as one part."""
    if isinstance(result, (tuple, list)):
        return [plain(part) for part in result]
    return [plain(result)]


def attempt(what: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, or ``{"error": ...}`` saying how it failed: one part of a probe that
    fails (the student's decode, say) leaves the other parts' answers intact."""
    try:
        return compute()
    except NotImplementedError:
        return {"error": f"{what} is not implemented yet (it raised NotImplementedError)"}
    except Exception as error:  # noqa: BLE001 - student code: reported, not raised
        return {"error": f"{what} raised {type(error).__name__}: {error}"[:2000]}


def last_line(exc: BaseException) -> str:
    """The message of a TensorFlow error without its graph trace: the last line that is
    neither a stack frame nor a node reference."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    plain_lines = [line for line in lines if not line.startswith(("File ", "[[", "Detected at node"))]
    return (plain_lines or lines or [""])[-1][:500]

