"""The data of build-cnn: the notebook's ``mnist.npz`` and the grader's hidden evaluation split.

Trusted instructor code. It runs in the planner (``write_mnist_npz``, named by ``[[provide]]``
in assignment.toml) and in the grader's process (``checks.py`` imports it for the hidden
images and their labels). It never runs in a student's process, and it imports numpy only
(and the grader's image helpers, ``grader.kit.images``).

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

**The offline default has MNIST's sizes.** Course notebooks hard-code them
(``np.random.choice(60000, 36)``, a loop over ``train_images.shape[0]``), so ``train`` holds
60,000 and ``test`` 10,000 28x28 uint8 images. They are made from scikit-learn's bundled
handwritten digits (1,797 real digits by 43 writers, 8x8 pixels, 17 grey levels; the wheel
ships ``digits.csv.gz``, so no network is needed). Each original is first made MNIST-like
as MNIST itself was normalised: resized (bilinear) into a 20x20 box in a 28x28 frame and
shifted so its centre of mass is the frame's centre. The originals are split by digit,
with a fixed seed, into three disjoint groups (55%, 15%, 30%); ``train`` and ``test`` are
deterministic augmentations of their own group only (a random affine map: rotation up to
12 degrees, scale 0.9-1.1, shear up to 0.15, shift up to 2 pixels; then an elastic
distortion: a smooth random displacement field of about 1 pixel; then a stroke-contrast
gamma), vectorised with numpy. ``hidden`` is the third group, each original once as it is
and three times augmented (2,156 images): writers' digits the notebook never saw in any
form. The writers of the source are not recorded, so the groups share writers (MNIST's
test set does not); thresholds are therefore declared per source in checks.py.

Generating the 70,000 images takes a few seconds, so the result is cached on disk
(``$XDG_CACHE_HOME/grader`` or ``~/.cache/grader``), keyed by a hash of the generator's
parameters, of scikit-learn's file and of the kit's image helpers, written atomically; the
planner and the grader's process reuse it across runs. Without a writable cache folder the
splits are generated in memory each time. ``generation_seconds()`` tells what the last
generation cost.

The file is read directly from scikit-learn's installed package (``load_digits`` reads
the same file) so that the grader's process need not import scikit-learn and scipy.
"""

# No `from __future__ import annotations`: the planner loads this file without registering
# it in sys.modules, and dataclasses then cannot resolve string annotations.
import functools
import gzip
import hashlib
import importlib.util
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grader.kit.images import interpolation_matrix, source_digest

ENVIRONMENT = "GRADER_MNIST"
SEED = 20240611
#: Fractions of each digit's originals behind the notebook's train and test splits (rest: hidden).
DIGITS_FRACTIONS = (0.55, 0.15)
MNIST_HIDDEN_FRACTION = 0.2  # of each digit's test images
CHUNK = 5000  # images augmented at once (memory: a few float64 arrays of CHUNK x 28 x 28)


@dataclass(frozen=True)
class Augmentation:
    """The offline generator's parameters; all of them (and VERSION) key the disk cache."""

    version: int = 1  # bump when the code below changes what it generates
    train_size: int = 60_000
    test_size: int = 10_000
    hidden_copies: int = 3  # augmented copies of each hidden original, beside the original
    rotation_degrees: float = 12.0
    scale: float = 0.1
    shear: float = 0.15
    shift: float = 2.0
    elastic_pixels: float = 1.0  # standard deviation of the coarse displacement grid
    elastic_grid: int = 5  # coarse grid, upsampled bilinearly: a smooth field
    gamma: float = 0.3  # stroke contrast: intensity ** exp(uniform(-gamma, gamma))


AUGMENTATION = Augmentation()


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
    """``[[provide]]`` build function: the notebook's dataset, in Keras' ``mnist.npz`` format.

    Uncompressed: every child copies and reads it, and 55 MB read faster than they unzip."""
    data = load()
    with open(path, "wb") as handle:
        np.savez(handle, x_train=data.train.images, y_train=data.train.labels,
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


# --- the offline default: scikit-learn's digits, as 70,000 MNIST-like images ----------------

_LAST_GENERATION: list[float] = []


def generation_seconds() -> float | None:
    """Seconds the last generation of the offline splits took in this process (None: the
    splits came from the disk cache, or were not needed)."""
    return _LAST_GENERATION[-1] if _LAST_GENERATION else None


def digits_data(augmentation: Augmentation = AUGMENTATION) -> Data:
    """The offline splits: from the disk cache when it holds them, else generated (and cached)."""
    images8, labels = read_sklearn_digits()
    path = cache_folder() / f"build-cnn-digits-{_cache_key(augmentation, images8, labels)}.npz"
    cached = _read_cache(path)
    if cached is not None:
        return cached
    started = time.perf_counter()
    data = generate_digits(images8, labels, augmentation)
    _LAST_GENERATION.append(time.perf_counter() - started)
    _write_cache(path, data)
    return data


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/grader``, else ``~/.cache/grader`` (the freedesktop convention)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "grader"


def _cache_key(augmentation: Augmentation, images8: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps(asdict(augmentation), sort_keys=True).encode())
    digest.update(repr((SEED, DIGITS_FRACTIONS, CHUNK)).encode())
    digest.update(source_digest())  # the kit's resampling
    digest.update(np.ascontiguousarray(images8).tobytes() + np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()[:16]


def _read_cache(path: Path) -> Data | None:
    try:
        with np.load(path, allow_pickle=False) as archive:
            splits = {name: Split(archive[f"{name}_images"], archive[f"{name}_labels"])
                      for name in ("train", "test", "hidden")}
    except (OSError, KeyError, ValueError):  # absent, unreadable or from another layout
        return None
    return Data(source="digits", **splits)


def _write_cache(path: Path, data: Data) -> None:
    """Write atomically (a temporary file renamed), so concurrent graders never read half a
    file; a cache that cannot be written only costs the next run the generation again."""
    arrays = {f"{name}_{field}": getattr(getattr(data, name), field)
              for name in ("train", "test", "hidden") for field in ("images", "labels")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", suffix=".npz",
                                         delete=False) as handle:
            np.savez(handle, **arrays)
        os.chmod(handle.name, 0o644)  # readable by other users' graders, as any cache file
        os.replace(handle.name, path)
    except OSError:
        try:
            os.unlink(handle.name)
        except (OSError, NameError):
            pass


def generate_digits(images8: np.ndarray, labels: np.ndarray,
                    augmentation: Augmentation = AUGMENTATION) -> Data:
    """Split the originals by digit, then augment each group into its split (module doc)."""
    rng = np.random.default_rng(SEED)
    groups = _split_originals(labels, rng)
    base = centred_frames(images8)
    train = _augmented_split(base, labels, groups[0], augmentation.train_size, augmentation, rng)
    test = _augmented_split(base, labels, groups[1], augmentation.test_size, augmentation, rng)
    hidden_ids = groups[2]
    copies = np.repeat(hidden_ids, augmentation.hidden_copies)
    hidden_images = np.concatenate([_quantise(base[hidden_ids]),
                                    augment(base[copies], augmentation, rng)])
    hidden_labels = np.concatenate([labels[hidden_ids], labels[copies]]).astype(np.uint8)
    return Data(source="digits", train=train, test=test,
                hidden=Split(hidden_images, hidden_labels))


def _split_originals(labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Sorted indices of the originals behind train, test and hidden, stratified by digit."""
    parts: list[list[np.ndarray]] = [[], [], []]
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_train = int(round(DIGITS_FRACTIONS[0] * len(members)))
        n_test = int(round(DIGITS_FRACTIONS[1] * len(members)))
        parts[0].append(members[:n_train])
        parts[1].append(members[n_train:n_train + n_test])
        parts[2].append(members[n_train + n_test:])
    return [np.sort(np.concatenate(p)) for p in parts]


def _augmented_split(base: np.ndarray, labels: np.ndarray, originals: np.ndarray, size: int,
                     augmentation: Augmentation, rng: np.random.Generator) -> Split:
    """``size`` augmented images of ``originals``, each used about equally often, shuffled."""
    chosen = rng.permutation(np.resize(originals, size))
    return Split(augment(base[chosen], augmentation, rng), labels[chosen].astype(np.uint8))


def centred_frames(images8: np.ndarray) -> np.ndarray:
    """(n, 8, 8) digits in 0..16 as (n, 28, 28) floats in [0, 1]: a 20x20 box in a 28x28
    frame, moved so the centre of mass is at the frame's centre, as MNIST was made."""
    weights = interpolation_matrix(8, 20)
    small = np.einsum("ij,njk,lk->nil", weights, np.asarray(images8, np.float64) / 16.0, weights)
    frames = np.zeros((len(small), 28, 28))
    frames[:, 4:24, 4:24] = small
    rows = np.arange(28, dtype=np.float64)
    total = np.maximum(frames.sum(axis=(1, 2)), 1e-12)
    centre_row = (frames.sum(axis=2) @ rows) / total
    centre_col = (frames.sum(axis=1) @ rows) / total
    shifts = np.stack([13.5 - centre_row, 13.5 - centre_col], axis=1)
    return _warp(frames, np.broadcast_to(np.eye(2), (len(frames), 2, 2)),
                 np.round(shifts), np.zeros((len(frames), 2, 28, 28)))


def augment(frames: np.ndarray, augmentation: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Random affine map, elastic distortion and contrast of each frame, as uint8 images."""
    out = np.empty(frames.shape, dtype=np.uint8)
    for start in range(0, len(frames), CHUNK):
        chunk = frames[start:start + CHUNK]
        matrices, shifts = _random_affine(len(chunk), augmentation, rng)
        field = _elastic_field(len(chunk), augmentation, rng)
        warped = _warp(chunk, matrices, shifts, field)
        gamma = np.exp(rng.uniform(-augmentation.gamma, augmentation.gamma, size=(len(chunk), 1, 1)))
        out[start:start + CHUNK] = _quantise(warped ** gamma)
    return out


def _random_affine(n: int, augmentation: Augmentation,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    angle = np.deg2rad(rng.uniform(-augmentation.rotation_degrees, augmentation.rotation_degrees, n))
    scale = rng.uniform(1 - augmentation.scale, 1 + augmentation.scale, n)
    shear = rng.uniform(-augmentation.shear, augmentation.shear, n)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
    shearing = np.broadcast_to(np.eye(2), (n, 2, 2)).copy()
    shearing[:, 0, 1] = shear
    matrices = rotation @ shearing / scale[:, None, None]
    shifts = rng.uniform(-augmentation.shift, augmentation.shift, size=(n, 2))
    return matrices, shifts


def _elastic_field(n: int, augmentation: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """(n, 2, 28, 28) smooth displacements: a coarse random grid, upsampled bilinearly."""
    grid = augmentation.elastic_grid
    coarse = rng.normal(0.0, augmentation.elastic_pixels, size=(n, 2, grid, grid))
    weights = interpolation_matrix(grid, 28)
    return np.einsum("ij,ncjk,lk->ncil", weights, coarse, weights)


def _warp(frames: np.ndarray, matrices: np.ndarray, shifts: np.ndarray,
          field: np.ndarray) -> np.ndarray:
    """Bilinear resampling: output pixel p reads the frame at M (p - c) + c - shift + field(p)."""
    n = len(frames)
    rows, cols = np.meshgrid(np.arange(28.0) - 13.5, np.arange(28.0) - 13.5, indexing="ij")
    source_row = (matrices[:, 0, 0, None, None] * rows + matrices[:, 0, 1, None, None] * cols
                  + 13.5 - shifts[:, 0, None, None] + field[:, 0])
    source_col = (matrices[:, 1, 0, None, None] * rows + matrices[:, 1, 1, None, None] * cols
                  + 13.5 - shifts[:, 1, None, None] + field[:, 1])
    padded = np.zeros((n, 30, 30))
    padded[:, 1:29, 1:29] = frames
    flat = padded.reshape(n, -1)
    source_row = np.clip(source_row, -1.0, 28.0) + 1.0  # into the zero border, not beyond
    source_col = np.clip(source_col, -1.0, 28.0) + 1.0
    top = np.minimum(np.floor(source_row).astype(np.intp), 28)
    left = np.minimum(np.floor(source_col).astype(np.intp), 28)
    down, right = source_row - top, source_col - left
    index = np.arange(n)[:, None, None]

    def at(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return flat[index, r * 30 + c]

    return ((1 - down) * ((1 - right) * at(top, left) + right * at(top, left + 1))
            + down * ((1 - right) * at(top + 1, left) + right * at(top + 1, left + 1)))


def _quantise(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8)


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


# --- the PyTorch edition: torchvision's MNIST layout ----------------------------------------
# The course's PT_Part1_MNIST reads `datasets.MNIST(root='./data', ...)`, which looks for
# ./data/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte: all four files, uncompressed
# (torchvision downloads otherwise). The same train and test splits as mnist.npz.

def _write_idx(path: Path, values: np.ndarray) -> None:
    """An unsigned-byte idx file: magic 0x08 0x0N, big-endian dimensions, the bytes."""
    values = np.ascontiguousarray(values, dtype=np.uint8)
    header = bytes([0, 0, 8, values.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in values.shape)
    with open(path, "wb") as handle:
        handle.write(header)
        handle.write(values.tobytes())


def write_train_images_idx(path: Path) -> None:
    """``[[provide]]``: data/MNIST/raw/train-images-idx3-ubyte."""
    _write_idx(path, load().train.images)


def write_train_labels_idx(path: Path) -> None:
    """``[[provide]]``: data/MNIST/raw/train-labels-idx1-ubyte."""
    _write_idx(path, load().train.labels)


def write_test_images_idx(path: Path) -> None:
    """``[[provide]]``: data/MNIST/raw/t10k-images-idx3-ubyte."""
    _write_idx(path, load().test.images)


def write_test_labels_idx(path: Path) -> None:
    """``[[provide]]``: data/MNIST/raw/t10k-labels-idx1-ubyte."""
    _write_idx(path, load().test.labels)
