"""The data of build-cnn: the notebook's ``mnist.npz`` and the grader's hidden evaluation split.

Trusted instructor code. It runs in the planner (``write_mnist_npz``, named by ``[[provide]]``
in assignment.toml) and in the grader's process (``checks.py`` imports it for the hidden
images and their labels). It never runs in a student's process, and it imports numpy only.

Three disjoint splits come out of one source:

- ``train``: the notebook's ``x_train, y_train``;
- ``test``: the notebook's ``x_test, y_test`` (what the notebook's ``test_acc`` measures);
- ``hidden``: images the notebook never receives; the checks send the child only the
  images and keep the labels.

Sources, chosen by the environment variable ``GRADER_MNIST`` (read when grading starts):

- unset or empty: the offline default, ``digits`` (below);
- a path to an ``mnist.npz`` with the keys ``x_train, y_train, x_test, y_test`` (the file
  ``tf.keras.datasets.mnist.load_data()`` caches in ``~/.keras/datasets/``): real MNIST;
- ``keras``: the instructor's own Keras cache, ``~/.keras/datasets/mnist.npz``.

With real MNIST, ``train`` is the official training set (60,000 images), ``hidden`` is a
fixed draw of a fifth of each digit's images in the official test set (2,000 images) and
``test`` the other 8,000, in their original order.

Why the offline default is scikit-learn's digits, upsampled: the grader has no network,
so the data must ship in a package. scikit-learn's wheel bundles ``digits.csv.gz``, 1,797
real handwritten digits (UCI "Optical Recognition of Handwritten Digits", written by 43
people), 8x8 pixels with 17 grey levels. They are real handwriting, with real ambiguity
between writers (a generator of synthetic glyphs would be too easy or arbitrarily hard),
and small enough that training under the grading profile takes seconds. Each image is
made to look like an MNIST image, following MNIST's own normalisation: the digit is
resized (bilinear) into a 20x20 box, placed in a 28x28 frame and shifted so its centre of
mass is the frame's centre, as uint8 values in 0..255. The lab's architecture (two 3x3
convolutions and 2x2 poolings) therefore sees MNIST's geometry. The notebook's training
split is enlarged fourfold by seeded augmentation (shifts of up to 2 pixels and digit
boxes of 18 to 22 pixels), which MNIST's writers provide naturally. Splits are
stratified by digit with a fixed seed. The writers of the source are not recorded in the
file, so the hidden split shares writers with the training split (MNIST's test set does
not); thresholds are therefore declared per source in checks.py.

The file is read directly from scikit-learn's installed package (``load_digits`` reads
the same file) so that the grader's process need not import scikit-learn and scipy.
"""

# No `from __future__ import annotations`: the planner loads this file without registering
# it in sys.modules, and dataclasses then cannot resolve string annotations.
import functools
import gzip
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENVIRONMENT = "GRADER_MNIST"
SEED = 20240611
#: Fractions of each digit's images in the notebook's train and test splits (rest: hidden).
DIGITS_FRACTIONS = (0.55, 0.15)
DIGITS_AUGMENTED_COPIES = 3
MNIST_HIDDEN_FRACTION = 0.2  # of each digit's test images


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (n, 28, 28) uint8
    labels: np.ndarray  # (n,) uint8


@dataclass(frozen=True)
class Data:
    source: str  # "digits" or "mnist": selects the thresholds in checks.py
    train: Split
    test: Split
    hidden: Split


def write_mnist_npz(path: Path) -> None:
    """``[[provide]]`` build function: the notebook's dataset, in Keras' ``mnist.npz`` format."""
    data = load()
    with open(path, "wb") as handle:
        np.savez_compressed(handle, x_train=data.train.images, y_train=data.train.labels,
                            x_test=data.test.images, y_test=data.test.labels)


def load() -> Data:
    """The three splits of the source ``GRADER_MNIST`` selects (cached per source)."""
    return _load(os.environ.get(ENVIRONMENT, "").strip())


@functools.lru_cache(maxsize=2)
def _load(choice: str) -> Data:
    if not choice:
        return digits_data()
    path = Path("~/.keras/datasets/mnist.npz").expanduser() if choice == "keras" else Path(choice)
    if not path.is_file():
        raise FileNotFoundError(f"{ENVIRONMENT}={choice!r}: no MNIST file at {path}")
    return mnist_data(path)


# --- real MNIST ------------------------------------------------------------------------------

def mnist_data(path: Path) -> Data:
    with np.load(path, allow_pickle=False) as archive:
        x_train, y_train = archive["x_train"], archive["y_train"]
        x_test, y_test = archive["x_test"], archive["y_test"]
    if x_train.shape[1:] != (28, 28) or x_test.shape[1:] != (28, 28):
        raise ValueError(f"{path} does not hold 28x28 images")
    hidden = _stratified(y_test, MNIST_HIDDEN_FRACTION, np.random.default_rng(SEED))
    rest = np.setdiff1d(np.arange(len(y_test)), hidden)
    return Data(
        source="mnist",
        train=Split(x_train.astype(np.uint8), y_train.astype(np.uint8)),
        test=Split(x_test[rest].astype(np.uint8), y_test[rest].astype(np.uint8)),
        hidden=Split(x_test[hidden].astype(np.uint8), y_test[hidden].astype(np.uint8)),
    )


def _stratified(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``fraction`` of each class's items, drawn with ``rng``."""
    chosen = []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        chosen.append(rng.permutation(members)[: int(round(fraction * len(members)))])
    return np.sort(np.concatenate(chosen))


# --- the offline default: scikit-learn's digits, as MNIST-like images ------------------------

def digits_data() -> Data:
    images8, labels = read_sklearn_digits()
    rng = np.random.default_rng(SEED)
    parts: list[list[np.ndarray]] = [[], [], []]
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_train = int(round(DIGITS_FRACTIONS[0] * len(members)))
        n_test = int(round(DIGITS_FRACTIONS[1] * len(members)))
        parts[0].append(members[:n_train])
        parts[1].append(members[n_train:n_train + n_test])
        parts[2].append(members[n_train + n_test:])
    train, test, hidden = (np.sort(np.concatenate(p)) for p in parts)
    train_images = [mnist_like(images8[i]) for i in train]
    train_labels = list(labels[train])
    for _ in range(DIGITS_AUGMENTED_COPIES):
        for i in train:
            shift = tuple(int(s) for s in rng.integers(-2, 3, size=2))
            train_images.append(mnist_like(images8[i], box=int(rng.choice([18, 20, 22])),
                                           shift=shift))
            train_labels.append(labels[i])
    order = rng.permutation(len(train_images))  # mixed, as a real training set is
    return Data(
        source="digits",
        train=Split(np.stack(train_images)[order], np.asarray(train_labels, np.uint8)[order]),
        test=Split(np.stack([mnist_like(images8[i]) for i in test]), labels[test]),
        hidden=Split(np.stack([mnist_like(images8[i]) for i in hidden]), labels[hidden]),
    )


def read_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits scikit-learn ships: (n, 8, 8) floats in 0..16 and uint8 labels."""
    spec = importlib.util.find_spec("sklearn")
    folders = list(spec.submodule_search_locations or []) if spec else []
    files = [Path(f) / "datasets" / "data" / "digits.csv.gz" for f in folders]
    found = next((f for f in files if f.is_file()), None)
    if found is not None:
        with gzip.open(found, "rt") as handle:
            table = np.loadtxt(handle, delimiter=",")
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.uint8)
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("build-cnn's offline dataset needs scikit-learn (pip install "
                          f"scikit-learn), or set {ENVIRONMENT} to an mnist.npz") from exc
    bunch = load_digits()
    return bunch.images.astype(np.float64), bunch.target.astype(np.uint8)


def mnist_like(image8: np.ndarray, box: int = 20, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """An 8x8 digit (0..16) as a 28x28 uint8 image in MNIST's layout (see the module doc)."""
    small = _resize(np.asarray(image8, dtype=np.float64) / 16.0, box)
    frame = np.zeros((28, 28))
    top = (28 - box) // 2
    frame[top:top + box, top:top + box] = small
    total = frame.sum()
    if total > 0:
        rows, cols = np.indices(frame.shape)
        centre = (float((rows * frame).sum() / total), float((cols * frame).sum() / total))
        dy, dx = (int(round(13.5 - c)) for c in centre)
        frame = _shift(frame, dy + shift[0], dx + shift[1])
    return np.clip(np.round(frame * 255.0), 0, 255).astype(np.uint8)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a square image to ``size`` x ``size`` (pixel centres aligned)."""
    weights = _interpolation_matrix(image.shape[0], size)
    return weights @ image @ weights.T


def _interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    position = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    frac = position - low
    matrix = np.zeros((n_out, n_in))
    matrix[np.arange(n_out), low] += 1 - frac
    matrix[np.arange(n_out), high] += frac
    return matrix


def _shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move the content by (dy, dx) pixels, filling with zeros (nothing wraps around)."""
    out = np.zeros_like(image)
    h, w = image.shape
    src_rows = slice(max(0, -dy), min(h, h - dy))
    dst_rows = slice(max(0, dy), min(h, h + dy))
    src_cols = slice(max(0, -dx), min(w, w - dx))
    dst_cols = slice(max(0, dx), min(w, w + dx))
    out[dst_rows, dst_cols] = image[src_rows, src_cols]
    return out
