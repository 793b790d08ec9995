"""Helpers for PyTorch probes (an assignment's ``probes.py``), the counterpart of
``grader.kit.keras`` for the course's PyTorch notebooks.

A probe runs in the notebook's process after its last cell and turns what the notebook
defined (``nn.Module`` classes and instances, a builder function) into plain data for the
checks. A model is described in the *Keras vocabulary* the checks already speak, so one
check judges both editions of a lab: ``Conv2d`` is reported as ``Conv2D``, ``MaxPool2d`` as
``MaxPooling2D``, ``Linear`` as ``Dense`` (``units`` = ``out_features``), ``BatchNorm*`` as
``BatchNormalization``; shapes are per image, channels last (a ``(C, H, W)`` feature map is
``[H, W, C]``). Layers are listed in the order ``forward`` *calls* them (forward hooks on
the leaf modules), so a class-style model whose ``forward`` reuses one ``nn.ReLU`` is
described as it computes, and an activation applied functionally (``F.relu(x)``) is told
by behaviour: a layer whose output has negative values and whose next layer only receives
non-negative ones is followed by a ReLU.

Runs in the child. Importing this module imports numpy only; torch is imported inside the
functions that need it, so ``is_torch`` answers without importing torch (a TensorFlow
notebook never pays torch's import).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: torch class name -> the Keras name the checks use.
KERAS_NAMES = {"Conv2d": "Conv2D", "MaxPool2d": "MaxPooling2D", "Linear": "Dense",
               "BatchNorm1d": "BatchNormalization", "BatchNorm2d": "BatchNormalization",
               "Dropout2d": "SpatialDropout2D", "AvgPool2d": "AveragePooling2D"}
#: Layers that only apply an activation, and the activation they apply.
ACTIVATIONS = {"ReLU": "relu", "Softmax": "softmax", "Sigmoid": "sigmoid", "Tanh": "tanh",
               "LeakyReLU": "leaky_relu", "ELU": "elu", "LogSoftmax": "log_softmax"}
BATCH = 256


def is_torch(value: Any) -> bool:
    """Whether ``value`` (or the class ``value``) is a torch object, without importing torch."""
    kind = value if isinstance(value, type) else type(value)
    return any(getattr(c, "__module__", "").split(".")[0] == "torch" for c in kind.__mro__)


def module(value: Any, what: str) -> Any:
    """``value`` if it is an ``nn.Module``, else a TypeError naming ``what`` it came from."""
    import torch.nn

    if value is None:
        raise TypeError(f"{what} is None, not a PyTorch model (a missing `return`?)")
    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"{what} is a {type(value).__name__}, not a PyTorch nn.Module")
    return value


def built_module(namespace: Mapping[str, Any], name: str, seed: int = 0) -> Any:
    """A fresh model from the notebook's builder or class ``name`` (``name()``), torch
    seeded with ``seed`` first, on the CPU."""
    import torch

    if name not in namespace:
        raise NameError(f"{name} is not defined (did the cell that defines it run without errors?)")
    builder = namespace[name]
    if not callable(builder):
        raise TypeError(f"{name} is not a function or class (it is a {type(builder).__name__})")
    torch.manual_seed(seed)
    return module(builder(), f"{name}()").cpu()


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's outputs for ``x`` (N, C, H, W) as float32, in eval mode and without
    gradients, in batches; the model's mode is restored."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            parts = [model(torch.from_numpy(x[i:i + BATCH])).float().numpy()
                     for i in range(0, len(x), BATCH)]
    finally:
        model.train(was_training)
    return np.concatenate(parts).astype(np.float32)


def summary(model: Any, x: np.ndarray) -> dict[str, Any]:
    """A model as plain data: the layers its forward calls (see the module's docstring),
    its output for ``x`` and its parameter count."""
    import torch

    calls: list[dict[str, Any]] = []
    hooks = [leaf.register_forward_hook(_recorder(calls)) for leaf in model.modules()
             if not list(leaf.children())]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(torch.from_numpy(x)).float().numpy()
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    _functional_relus(calls)
    return {"layers": [{k: v for k, v in c.items() if not k.startswith("_")} for c in calls],
            "output": output,
            "params": int(sum(p.numel() for p in model.parameters()))}


def _recorder(calls: list[dict[str, Any]]) -> Any:
    def record(layer: Any, inputs: tuple, output: Any) -> None:
        calls.append(describe_layer(layer, inputs[0] if inputs else None, output))
    return record


def describe_layer(layer: Any, given: Any, output: Any) -> dict[str, Any]:
    """One call of a leaf module as plain data, in the Keras vocabulary."""
    kind = type(layer).__name__
    shape = list(output.shape[1:]) if hasattr(output, "shape") else None
    if shape is not None and len(shape) == 3:
        shape = [shape[1], shape[2], shape[0]]  # channels last, as the checks expect
    info: dict[str, Any] = {
        "class": KERAS_NAMES.get(kind, kind), "shape": [int(d) for d in shape] if shape else shape,
        "params": int(sum(p.numel() for p in layer.parameters(recurse=False))),
        "activation_layer": kind in ACTIVATIONS,
        "_in_min": _minimum(given), "_out_min": _minimum(output)}
    if kind in ACTIVATIONS:
        info["activation"] = ACTIVATIONS[kind]
    elif kind in ("Linear", "Conv2d"):
        info["activation"] = "linear"
    for torch_name, keras_name in (("out_features", "units"), ("out_channels", "filters"),
                                   ("kernel_size", "kernel_size"), ("padding", "padding")):
        if hasattr(layer, torch_name):
            info[keras_name] = _plain(getattr(layer, torch_name))
    if kind == "MaxPool2d":
        info["pool_size"] = _pair(layer.kernel_size)
        info["strides"] = _pair(layer.stride if layer.stride is not None else layer.kernel_size)
    elif hasattr(layer, "stride"):
        info["strides"] = _pair(layer.stride)
    return info


def _functional_relus(calls: list[dict[str, Any]]) -> None:
    """A Dense or Conv2D whose output has negatives, followed by a layer that receives none,
    is followed by a ReLU applied in forward (``F.relu``, ``torch.relu``, ``x.clamp(0)``)."""
    for layer, following in zip(calls, calls[1:], strict=False):
        if layer.get("activation") == "linear" and not following["activation_layer"] \
                and layer["_out_min"] is not None and layer["_out_min"] < 0 \
                and following["_in_min"] is not None and following["_in_min"] >= 0:
            layer["activation"] = "relu"


def _minimum(value: Any) -> float | None:
    try:
        return float(value.min())
    except Exception:  # noqa: BLE001 - not a tensor
        return None


def _pair(value: Any) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)] * 2


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [int(v) if isinstance(v, int) else str(v) for v in value]
    return value if isinstance(value, (int, float, str)) else str(value)


def prepare(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) as ``transforms.ToTensor()`` gives them: float32 in [0, 1],
    (N, 1, 28, 28)."""
    images = np.asarray(images)
    return (images[:, None, :, :] / 255.0).astype(np.float32)
