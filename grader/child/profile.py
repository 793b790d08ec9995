"""The grading profile, applied inside the notebook's process by an assignment's prelude.

Course notebooks hard-code their training budget (``EPOCHS = 5``, a GradientTape loop over
all 60,000 training images) and have no ``parameters`` cell the grader could override. What
bounds one submission's grading time without editing the notebook is capping the training
calls themselves:

- ``keras.Model.fit``: at most ``max_epochs`` epochs (counted from ``initial_epoch``) and at
  most ``max_steps_per_epoch`` batches per epoch;
- PyTorch (once the notebook imports it): one thread, seeded, and every pass over a
  shuffling ``DataLoader`` (a training pass) ends after ``max_training_batches`` batches;
- every tqdm loop (``tqdm(range(...))``, ``trange``, ``tqdm.auto``, ``tqdm.notebook``: they
  all iterate through ``tqdm.std.tqdm.__iter__``): at most ``max_loop_iterations`` items,
  after which the loop ends as if its iterable were exhausted. The course wraps every
  training loop in tqdm, so this caps a loop written inline in a cell, which no function
  wrapper could reach.

Each cap that changed something is recorded; ``caps()`` returns them as sentences for the
feedback ("what was capped"), so a student reads that the accuracy is that of a shortened
run. Thresholds are declared for the capped run.

``use_stand_ins(folder)`` makes the grader's stand-in packages (the course's
``mitdeeplearning``) importable *after* everything installed: a real package wins.

This module is imported by instructor code (the prelude) and by probes in the notebook's
process; it never runs in the grader's process and imports TensorFlow only when asked to.
"""

from __future__ import annotations

import inspect
import os
import random
import sys
from typing import Any

_caps: dict[str, str] = {}  # key -> sentence; a dict keeps the first order
_counts: dict[str, int] = {}  # key -> how many times that cap applied
_loop_cap: list[int | None] = [None]


def apply(max_epochs: int | None = None, max_steps_per_epoch: int | None = None,
          max_loop_iterations: int | None = None, seed: int = 0, threads: int = 1,
          max_training_batches: int | None = None) -> None:
    """Seed, limit threads and install the caps (None: that cap is off). PyTorch is set up
    (seed, threads, ``max_training_batches``) when the notebook imports it, not before: a
    TensorFlow notebook does not pay torch's import."""
    _seed(seed, threads)
    if max_epochs is not None or max_steps_per_epoch is not None:
        _cap_fit(max_epochs, max_steps_per_epoch)
    if max_loop_iterations is not None:
        _cap_tqdm(max_loop_iterations)
    when_imported("torch", lambda: _torch_profile(seed, threads, max_training_batches))


#: Stand-ins used even where the real package is installed: services a grading run must not
#: reach (the course's 2024+ notebooks log their training to Comet with the student's key).
REPLACED = ("comet_ml",)


def use_stand_ins(folder: str, packages: tuple[str, ...] = ("mitdeeplearning",),
                  replaced: tuple[str, ...] = REPLACED) -> None:
    """Let ``import mitdeeplearning`` find the grader's stand-in when no working package is
    installed. Appended, not prepended: an instructor who installs the course's package
    grades with the course's own code. An installed package that fails to import (the
    course's needs OpenCV and gym beside it) gives way to the stand-in, and the feedback
    says so. ``replaced`` packages are the stand-in whatever is installed."""
    if not os.path.isdir(folder):
        return
    import importlib
    import importlib.util

    for package in replaced:
        _replace(package, os.path.join(folder, package, "__init__.py"))

    broken = []
    for package in packages:
        if importlib.util.find_spec(package) is None:
            continue
        try:
            importlib.import_module(package)
        except Exception as exc:  # noqa: BLE001 - any failure: the stand-in serves instead
            for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
                del sys.modules[module]
            broken.append(package)
            record(f"stand-in-{package}", f"the installed {package} failed to import "
                                          f"({type(exc).__name__}: {exc}); the grader's stand-in "
                                          "was used")
    if folder not in sys.path:
        if broken:
            sys.path.insert(0, folder)
        else:
            sys.path.append(folder)


def _replace(package: str, init: str) -> None:
    """Import the stand-in at ``init`` as ``package`` (nothing when it was not provided)."""
    import importlib.util

    if not os.path.isfile(init):
        return
    spec = importlib.util.spec_from_file_location(
        package, init, submodule_search_locations=[os.path.dirname(init)])
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)


def caps() -> list[str]:
    """What the profile shortened so far, one sentence each, in the order it happened (a cap
    that applied several times, such as every epoch's loop, says how many)."""
    return [sentence + (f" ({_counts[key]} times)" if _counts[key] > 1 else "")
            for key, sentence in _caps.items()]


def record(key: str, sentence: str) -> None:
    """Note a cap (assignments' own caps can use this too)."""
    _caps.setdefault(key, sentence)
    _counts[key] = _counts.get(key, 0) + 1


# --- seeds and threads ----------------------------------------------------------------------

def _seed(seed: int, threads: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "tensorflow" in sys.modules or _wants_tensorflow():
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf.keras.utils.set_random_seed(seed)


def _wants_tensorflow() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


# --- PyTorch ----------------------------------------------------------------------------------

def when_imported(name: str, callback: Any) -> None:
    """Run ``callback()`` once module ``name`` is imported (now, if it already is)."""
    if name in sys.modules:
        callback()
        return
    sys.meta_path.insert(0, _AfterImport(name, callback))


class _AfterImport:
    """A meta path finder that lets the real finders import ``name``, then calls back."""

    def __init__(self, name: str, callback: Any) -> None:
        self.name, self.callback, self.busy = name, callback, False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name or self.busy:
            return None
        import importlib.abc
        import importlib.util

        self.busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.busy = False
        if spec is None or spec.loader is None:
            return None
        sys.meta_path.remove(self)
        loader, callback = spec.loader, self.callback

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: Any) -> None:
                loader.exec_module(module)  # type: ignore[union-attr]
                callback()

        spec.loader = _Loader()
        return spec


def _torch_profile(seed: int, threads: int, max_training_batches: int | None) -> None:
    """One thread (a forked worker deadlocks in OpenMP otherwise), seeds, and the cap."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    if max_training_batches is not None:
        _cap_dataloader(max_training_batches)


def _cap_dataloader(max_batches: int) -> None:
    """Every pass over a *shuffling* DataLoader (a training pass: ``shuffle=True``) ends
    after ``max_batches`` batches. Loaders that do not shuffle (evaluation over the test
    set) run in full, so an accuracy the notebook measures is over all its test images.
    Each epoch keeps some batches, so the course's per-epoch arithmetic still divides by a
    nonzero count."""
    import torch.utils.data

    base = torch.utils.data.DataLoader
    iterate = base.__iter__
    if getattr(iterate, "_grader_capped", False):
        return

    def capped_iter(self: Any) -> Any:
        batches = iterate(self)
        if not isinstance(getattr(self, "sampler", None), torch.utils.data.RandomSampler):
            return batches
        return _first(batches, max_batches, len(self) if hasattr(self, "__len__") else None)

    capped_iter._grader_capped = True  # type: ignore[attr-defined]
    base.__iter__ = capped_iter  # type: ignore[method-assign,assignment]


def _first(batches: Any, limit: int, total: int | None) -> Any:
    for count, batch in enumerate(batches):
        if count >= limit:
            shown = f"{total:,} batches" if total else "all batches"
            record(f"dataloader-{total}", f"a training pass over a shuffled DataLoader ({shown}) "
                                          f"stopped after {limit:,}")
            return
        yield batch


# --- Model.fit --------------------------------------------------------------------------------

def _cap_fit(max_epochs: int | None, max_steps: int | None) -> None:
    import keras

    fit = keras.Model.fit
    if getattr(fit, "_grader_capped", False):
        return
    signature = inspect.signature(fit)

    def capped_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        arguments = bound.arguments
        _limit_epochs(arguments, max_epochs)
        _limit_steps(arguments, max_steps)
        return fit(*bound.args, **bound.kwargs)

    capped_fit.__doc__ = fit.__doc__
    capped_fit._grader_capped = True  # type: ignore[attr-defined]
    keras.Model.fit = capped_fit


def _limit_epochs(arguments: dict[str, Any], max_epochs: int | None) -> None:
    epochs = arguments.get("epochs", 1)
    start = arguments.get("initial_epoch", 0)
    if max_epochs is None or not isinstance(epochs, int) or not isinstance(start, int):
        return
    if epochs > start + max_epochs:
        arguments["epochs"] = start + max_epochs
        record(f"fit-epochs-{epochs}", f"Model.fit: {epochs - start} epochs asked, {max_epochs} run")


def _limit_steps(arguments: dict[str, Any], max_steps: int | None) -> None:
    if max_steps is None:
        return
    asked = arguments.get("steps_per_epoch")
    batches = _batches(arguments)
    if isinstance(asked, int) and asked <= max_steps:
        return
    if asked is None and batches is not None and batches <= max_steps:
        return
    arguments["steps_per_epoch"] = max_steps
    total = asked if isinstance(asked, int) else batches
    shown = f"{total:,} batches" if total is not None else "all batches"
    record(f"fit-steps-{total}", f"Model.fit: {shown} per epoch asked, {max_steps:,} run")


def _batches(arguments: dict[str, Any]) -> int | None:
    """Batches per epoch of array inputs (None for datasets and generators)."""
    x = arguments.get("x")
    size = getattr(x, "shape", None)
    if size is None and isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        size = x[0].shape
    if not size:
        return None
    batch = arguments.get("batch_size") or 32
    return -(-int(size[0]) // int(batch))


# --- tqdm loops ------------------------------------------------------------------------------

def _cap_tqdm(max_items: int) -> None:
    _loop_cap[0] = max_items
    try:
        import tqdm.std
    except ImportError:  # no tqdm installed: nothing to cap
        return
    base = tqdm.std.tqdm
    iterate = base.__iter__
    if getattr(iterate, "_grader_capped", False):
        return

    def capped_iter(self: Any) -> Any:
        limit = _loop_cap[0]
        for count, item in enumerate(iterate(self)):
            if limit is not None and count >= limit:
                total = getattr(self, "total", None)
                shown = f"{int(total):,} items" if total else "an iterable"
                record(f"tqdm-{total}", f"a loop over {shown} (tqdm) stopped after {limit:,}")
                return
            yield item

    capped_iter._grader_capped = True  # type: ignore[attr-defined]
    base.__iter__ = capped_iter
