"""The data of facial-detection: the notebook's ``train_face.h5`` and the grader's hidden split.

Trusted instructor code. It runs in the planner (``write_train_face_h5``, named by
``[[provide]]`` in assignment.toml) and in the grader's process (``checks.py`` imports it for
the hidden images, their labels and their group attributes). It never runs in a student's
process, and it imports numpy, the grader's image helpers (``grader.kit.images``) and h5py
(only to write or read an HDF5 file).

The file format is the course's: an HDF5 file with

- ``images``: (N, 64, 64, 3) uint8, channels stored **BGR** (the course's loader flips them
  with ``images[..., ::-1]`` and scales by 1/255);
- ``labels``: (N, 1) float, 1 for a face, 0 for anything else.

Two splits come out of one source:

- ``train``: the notebook's ``train_face.h5`` (what ``tf.keras.utils.get_file('train_face.h5',
  url)`` yields when grading: see prelude.py);
- ``hidden``: images the notebook never receives; the checks send the child only the images
  and keep the labels and the groups.

Sources, chosen by the environment variable ``GRADER_FACES`` (read when grading starts, part
of the plan's cache key through ``env`` in assignment.toml):

- unset or empty: the synthetic faces below (``source = "synthetic"``);
- a path to an HDF5 file in the course's format (the real ``train_face.h5``): a fixed draw of
  ``REAL_HIDDEN_PER_CLASS`` faces and as many non-faces becomes the hidden split and is left
  out of the notebook's copy (``source = "real"``). The real file records no skin tone or
  other attribute, so the per-group audit then reports "no groups" and grades nothing.

The synthetic faces (``generate``)
----------------------------------

Every image is 64x64 RGB, drawn with numpy only (about 1 ms an image). Each has a cluttered
background: a smooth random colour field, 2-6 shapes (ellipses, rectangles, stripes) whose
colours are drawn partly from the skin and hair palettes, and pixel noise.

A *face* is drawn in its own rotated frame (roll -20..20 degrees) at a random position
(centre 22..42 px) and scale (half-width 10..16 px, height 1.15-1.45 times): neck and
clothes, the face's oval with side lighting, eyes (whites and irises, the far one smaller when
the head turns: yaw), eyebrows, nose and mouth, which shift with the yaw. Group attributes:

- ``skin``: ``light`` or ``dark``, each from a palette of tones with jitter;
- ``hair``: ``short`` (a cap) or ``long`` (hair falling behind the head to the shoulders), in
  black, brown, blond, red or grey.

A *non-face* has the same background and, in 70% of images, a decoy: an oval of a skin tone
(light or dark, half each) with randomly placed spots instead of a face's layout, or the back
of a head (hair over a skin-toned oval, a neck, clothes), so colour and texture alone do not
tell faces apart.

Sizes: the course's notebook calls ``loader.get_batch(5000)`` (2,500 faces and 2,500
non-faces, drawn without replacement) and ``loader.get_batch(5000, only_faces=True)``, so
``train`` holds ``TRAIN_FACES`` = 5,200 faces and ``TRAIN_NON_FACES`` = 2,700 non-faces, a
little more than those calls take and no more: every submission's process gets its own copy
of the file (about 92 MB: pixel noise leaves gzip little to remove, and level 1 costs
nothing to read).

Generating 8,700 images takes about 15 s, so each synthetic split is generated once and kept
on disk (``cached``): ``$XDG_CACHE_HOME/grader`` or ``~/.cache/grader`` of the user running
the grader, one ``.npz`` per split named by a hash of this file's source and of the kit's
image helpers (any change of the generator or its parameters makes new files), written to a
temporary name and renamed, so a killed run never leaves half a file. Where that folder
cannot be written, the split is generated in memory each time.

Bias by design: in ``train`` 90% of faces are light (``TRAIN_LIGHT``), and long hair is rarer
(35%); the decoys are light or dark half and half, so in training a dark oval is more often a
non-face than a face. The hidden split is balanced: the same number of faces in each of the
four groups (light/dark x short/long), and as many non-faces. A classifier trained on
``train`` is less accurate on dark faces (benchmarks/facial_detection_time.py reports the gap).

``python data.py samples.png`` writes a grid of samples (the docs' picture).
"""

# No `from __future__ import annotations`: the planner loads this file without registering
# it in sys.modules, and dataclasses then cannot resolve string annotations.
import functools
import hashlib
import os
import pwd
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.kit.images import interpolation_matrix, source_digest

ENVIRONMENT = "GRADER_FACES"
SEED = 20240612
SIZE = 64
#: The notebook's training file: faces and non-faces.
TRAIN_FACES = 5200  # the course draws 5,000 faces without replacement
TRAIN_NON_FACES = 2700  # ... and 2,500 non-faces (get_batch(5000))
TRAIN_LIGHT = 0.9  # share of light-skinned faces in training
TRAIN_LONG_HAIR = 0.35
DECOY_DARK = 0.3  # share of dark-toned decoys among non-faces (train and hidden)
#: Hidden split: faces per group (4 groups) and as many non-faces in all.
HIDDEN_PER_GROUP = 100
REAL_HIDDEN_PER_CLASS = 400
SKINS = ("light", "dark")
HAIRS = ("short", "long")
GROUPS = tuple(f"{skin}/{hair}" for skin in SKINS for hair in HAIRS)

LIGHT_TONES = np.array([[241, 194, 167], [224, 172, 140], [236, 200, 170], [250, 215, 185],
                        [215, 165, 130]], dtype=np.float64)
DARK_TONES = np.array([[141, 85, 36], [110, 70, 50], [92, 58, 40], [78, 52, 36],
                       [120, 80, 55]], dtype=np.float64)
HAIR_COLOURS = np.array([[25, 20, 18], [70, 45, 30], [200, 170, 110], [150, 70, 35],
                         [160, 160, 160]], dtype=np.float64)
IRIS_COLOURS = np.array([[60, 40, 25], [40, 90, 140], [30, 25, 20], [70, 110, 60]],
                        dtype=np.float64)


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (n, 64, 64, 3) uint8, BGR as in the course's file
    labels: np.ndarray  # (n,) uint8: 1 face, 0 non-face
    skin: np.ndarray  # (n,) int8: 0 light, 1 dark, -1 non-face or unknown
    hair: np.ndarray  # (n,) int8: 0 short, 1 long, -1 non-face or unknown


@dataclass(frozen=True)
class Data:
    source: str  # "synthetic" or "real": selects the thresholds in checks.py
    train: Split
    hidden: Split

    @property
    def has_groups(self) -> bool:
        return bool(np.any(self.hidden.skin >= 0))


def write_test_faces(path: Path) -> None:
    """Public sample faces for the course's `mdl.lab2.get_test_faces()` (the shim): 5 per
    group, drawn with their own seed, never the hidden split. RGB uint8."""
    rng = np.random.default_rng(SEED + 2)
    groups = {"LF": (0, 1), "LM": (0, 0), "DF": (1, 1), "DM": (1, 0)}
    faces = {key: np.stack([face_image(dark, long_hair, rng) for _ in range(5)])
             for key, (dark, long_hair) in groups.items()}
    np.savez(path, **faces)


def write_train_face_h5(path: Path) -> None:
    """``[[provide]]`` build function: the notebook's training file, in the course's format."""
    write_h5(path, load().train)


def write_h5(path: Path, split: Split) -> None:
    import h5py

    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=split.images, compression="gzip", compression_opts=1,
                              chunks=(min(64, max(1, len(split.images))), SIZE, SIZE, 3))
        handle.create_dataset("labels", data=split.labels.reshape(-1, 1).astype(np.float32))


def load() -> Data:
    """Both splits of the source ``GRADER_FACES`` selects (cached per source)."""
    return _load(os.environ.get(ENVIRONMENT, "").strip())


def load_hidden() -> tuple[str, Split]:
    """The source's name and its hidden split only: what checks.py needs. For the synthetic
    source this draws only the hidden images (about 1 s), not the training file."""
    choice = os.environ.get(ENVIRONMENT, "").strip()
    if not choice:
        return "synthetic", synthetic_hidden()
    data = _load(choice)
    return data.source, data.hidden


@functools.lru_cache(maxsize=2)
def _load(choice: str) -> Data:
    if not choice:
        return Data(source="synthetic", train=synthetic_train(), hidden=synthetic_hidden())
    path = Path(choice).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{ENVIRONMENT}={choice!r}: no HDF5 file at {path}")
    return real_data(path)


# --- an instructor's real file -----------------------------------------------------------------

def real_data(path: Path) -> Data:
    import h5py

    with h5py.File(path, "r") as handle:
        images = np.asarray(handle["images"][:])
        labels = np.asarray(handle["labels"][:]).reshape(-1)
    if images.ndim != 4 or images.shape[1:] != (SIZE, SIZE, 3) or len(labels) != len(images):
        raise ValueError(f"{path}: expected images (N, 64, 64, 3) and labels (N, 1), got "
                         f"{images.shape} and {labels.shape}")
    labels = (labels == 1).astype(np.uint8)
    rng = np.random.default_rng(SEED)
    hidden = []
    for value in (1, 0):
        members = np.flatnonzero(labels == value)
        hidden.append(rng.permutation(members)[:min(REAL_HIDDEN_PER_CLASS, len(members) // 5)])
    hidden = np.sort(np.concatenate(hidden))
    rest = np.setdiff1d(np.arange(len(labels)), hidden)
    unknown = np.full(len(labels), -1, dtype=np.int8)
    return Data(
        source="real",
        train=Split(images[rest].astype(np.uint8), labels[rest], unknown[rest], unknown[rest]),
        hidden=Split(images[hidden].astype(np.uint8), labels[hidden], unknown[hidden],
                     unknown[hidden]),
    )


# --- the synthetic faces -----------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def synthetic_train() -> Split:
    """The notebook's training split (from the disk cache when it is there)."""
    return cached("train", generate_train)


@functools.lru_cache(maxsize=1)
def synthetic_hidden() -> Split:
    """The hidden split (from the disk cache when it is there)."""
    return cached("hidden", generate_hidden)


def generate_train() -> Split:
    """Draw the training split: TRAIN_FACES faces (90% light) and TRAIN_NON_FACES others."""
    rng = np.random.default_rng(SEED)
    n_light = int(round(TRAIN_FACES * TRAIN_LIGHT))
    skin = np.r_[np.zeros(n_light), np.ones(TRAIN_FACES - n_light)].astype(np.int8)
    hair = (rng.random(TRAIN_FACES) < TRAIN_LONG_HAIR).astype(np.int8)
    train = generate(skin, hair, TRAIN_NON_FACES, rng)
    order = rng.permutation(len(train.labels))  # mixed, as the course's file is not
    return Split(train.images[order], train.labels[order], train.skin[order], train.hair[order])


def generate_hidden() -> Split:
    """Draw the hidden split: HIDDEN_PER_GROUP faces per group, as many non-faces."""
    groups = np.repeat(np.arange(4), HIDDEN_PER_GROUP)  # light/short, light/long, dark/...
    return generate((groups // 2).astype(np.int8), (groups % 2).astype(np.int8),
                    4 * HIDDEN_PER_GROUP, np.random.default_rng(SEED + 1))


# --- the disk cache of generated splits -----------------------------------------------------

def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/grader``, else ``~/.cache/grader`` of the user running the grader
    (from the password database: the planner points ``HOME`` at a scratch folder)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if not base:
        try:
            home = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:
            home = os.path.expanduser("~")
        base = os.path.join(home, ".cache")
    return Path(base) / "grader"


def generator_key() -> str:
    """A hash of this file's source (the generator, its seeds and its sizes) and of the
    kit's image helpers it uses."""
    return hashlib.sha256(Path(__file__).read_bytes() + source_digest()).hexdigest()[:16]


def cached(name: str, build) -> Split:
    """The split ``name`` from the disk cache, or ``build()`` written there first."""
    path = cache_folder() / f"facial-detection-{name}-{generator_key()}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return Split(stored["images"], stored["labels"], stored["skin"], stored["hair"])
    except (OSError, KeyError, ValueError):
        pass  # absent or unreadable: generate it again
    split = build()
    try:
        save_atomically(path, split)
    except OSError:
        pass  # a read-only cache: generated in memory each time
    return split


def save_atomically(path: Path, split: Split) -> None:
    """Write the split to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, images=split.images, labels=split.labels, skin=split.skin,
                     hair=split.hair)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def generate(skin: np.ndarray, hair: np.ndarray, n_non_faces: int,
             rng: np.random.Generator) -> Split:
    """Faces with the given attributes (0/1 arrays), then ``n_non_faces`` non-faces."""
    faces = [face_image(int(s), int(h), rng) for s, h in zip(skin, hair, strict=True)]
    others = [non_face_image(rng) for _ in range(n_non_faces)]
    images = np.stack(faces + others)[..., ::-1]  # RGB -> BGR, as the course's file stores them
    n = len(faces)
    labels = np.r_[np.ones(n), np.zeros(n_non_faces)].astype(np.uint8)
    none = np.full(n_non_faces, -1, dtype=np.int8)
    return Split(np.ascontiguousarray(images), labels, np.r_[skin.astype(np.int8), none],
                 np.r_[hair.astype(np.int8), none])


_Y, _X = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5


class _Canvas:
    """An RGB float image with soft-edged painting in a rotated frame."""

    def __init__(self, image: np.ndarray):
        self.image = image

    def frame(self, cx: float, cy: float, angle: float) -> None:
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = _X - cx, _Y - cy
        self.u, self.v = c * dx + s * dy, -s * dx + c * dy

    def ellipse(self, u0: float, v0: float, a: float, b: float) -> np.ndarray:
        """Coverage (0..1) of an ellipse in the current frame, about one pixel of soft edge."""
        d = np.sqrt(((self.u - u0) / a) ** 2 + ((self.v - v0) / b) ** 2)
        return np.clip((1.0 - d) * min(a, b) + 0.5, 0.0, 1.0)

    def paint(self, alpha: np.ndarray, colour) -> None:
        change = np.asarray(colour, dtype=np.float64) - self.image
        change *= alpha[..., None]
        self.image += change


_UP4 = interpolation_matrix(4, SIZE)


def _tone(rng: np.random.Generator, dark: bool) -> np.ndarray:
    palette = DARK_TONES if dark else LIGHT_TONES
    weights = rng.dirichlet(np.ones(len(palette)) * 0.5)
    return np.clip(weights @ palette * rng.uniform(0.92, 1.08) + rng.normal(0, 5, 3), 0, 255)


def _any_colour(rng: np.random.Generator) -> np.ndarray:
    kind = rng.random()
    if kind < 0.2:
        return _tone(rng, dark=rng.random() < 0.5)
    if kind < 0.35:
        return HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] + rng.normal(0, 10, 3)
    return rng.uniform(0, 255, 3)


def _background(rng: np.random.Generator, shapes: int) -> _Canvas:
    base = rng.uniform(30, 225, 3)
    field = base + rng.normal(0, 35, (4, 4, 3))
    rows = (_UP4 @ field.reshape(4, 12)).reshape(SIZE, 4, 3).transpose(0, 2, 1)  # (64, 3, 4)
    image = np.ascontiguousarray((rows @ _UP4.T).transpose(0, 2, 1))  # (64, 64, 3)
    canvas = _Canvas(image)
    for _ in range(shapes):
        canvas.frame(rng.uniform(0, SIZE), rng.uniform(0, SIZE), rng.uniform(0, np.pi))
        kind = rng.random()
        colour = _any_colour(rng)
        if kind < 0.4:
            alpha = canvas.ellipse(0, 0, rng.uniform(3, 20), rng.uniform(3, 20))
        elif kind < 0.8:
            a, b = rng.uniform(3, 22), rng.uniform(2, 14)
            alpha = (np.clip(a - np.abs(canvas.u) + 0.5, 0, 1) * np.clip(b - np.abs(canvas.v) + 0.5, 0, 1))
        else:
            period = rng.uniform(4, 12)
            alpha = (np.sin(canvas.u * 2 * np.pi / period) > 0.3).astype(np.float64) \
                * canvas.ellipse(0, 0, 30, rng.uniform(4, 16))
        canvas.paint(alpha * rng.uniform(0.6, 1.0), colour)
    return canvas


def _finish(canvas: _Canvas, rng: np.random.Generator) -> np.ndarray:
    image = canvas.image * rng.uniform(0.85, 1.15) + rng.uniform(-15, 15)
    image += rng.normal(0, rng.uniform(2, 8), image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def face_image(dark: int, long_hair: int, rng: np.random.Generator) -> np.ndarray:
    """One 64x64 RGB face (uint8) of the given group on a cluttered background."""
    canvas = _background(rng, int(rng.integers(1, 5)))
    a = rng.uniform(11, 16)
    b = a * rng.uniform(1.15, 1.45)
    cx, cy = rng.uniform(25, 39), rng.uniform(24, 36)
    roll, yaw = np.deg2rad(rng.uniform(-15, 15)), rng.uniform(-1, 1)
    skin = _tone(rng, bool(dark))
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] + rng.normal(0, 8, 3)
    canvas.frame(cx, cy, roll)
    if long_hair:
        canvas.paint(canvas.ellipse(0, 0.35 * b, 1.35 * a, 1.5 * b), hair)
    canvas.paint(canvas.ellipse(0, 2.1 * b, 1.9 * a, 0.9 * b), rng.uniform(0, 255, 3))  # clothes
    canvas.paint(canvas.ellipse(0, 1.05 * b, 0.42 * a, 0.55 * b), skin * 0.85)  # neck
    shade = 1.0 + 0.12 * rng.choice([-1, 1]) * np.clip(canvas.u / a, -1, 1)
    face = canvas.ellipse(0, 0, a, b)
    canvas.image *= 1.0 - face[..., None]
    canvas.image += face[..., None] * skin * shade[..., None]
    cap = canvas.ellipse(0, -0.45 * b, 1.05 * a, 0.7 * b) * np.clip((-0.3 * b - canvas.v) * 0.7, 0, 1)
    canvas.paint(cap, hair)
    shift = 0.25 * a * yaw
    iris = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))]
    for side in (-1, 1):
        size = 1.0 - 0.3 * max(0.0, side * -yaw)  # the far eye looks smaller
        eu, ev = side * 0.4 * a + shift, -0.12 * b
        canvas.paint(canvas.ellipse(eu, ev - 0.17 * b, 0.22 * a * size, 0.05 * b), hair * 0.8)
        canvas.paint(canvas.ellipse(eu, ev, 0.22 * a * size, 0.11 * b), (240, 240, 235))
        canvas.paint(canvas.ellipse(eu + 0.05 * a * yaw, ev, 0.1 * a * size, 0.1 * b), iris)
    canvas.paint(canvas.ellipse(1.2 * shift, 0.2 * b, 0.08 * a, 0.14 * b) * 0.6, skin * 0.7)
    lips = skin * 0.55 + np.array([120.0, 20.0, 30.0]) * 0.45
    canvas.paint(canvas.ellipse(shift, 0.52 * b, 0.3 * a, 0.07 * b), lips)
    return _finish(canvas, rng)


def non_face_image(rng: np.random.Generator) -> np.ndarray:
    """One 64x64 RGB non-face (uint8): clutter, a spotted skin-toned oval or a head's back."""
    kind = rng.random()
    canvas = _background(rng, int(rng.integers(1, 5 if kind < 0.6 else 7)))
    if kind < 0.6:
        a = rng.uniform(10, 16)
        b = a * rng.uniform(1.0, 1.5)
        cx, cy = rng.uniform(22, 42), rng.uniform(22, 40)
        canvas.frame(cx, cy, rng.uniform(-np.pi / 4, np.pi / 4))
        tone = _tone(rng, dark=rng.random() < DECOY_DARK)
        hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] + rng.normal(0, 8, 3)
        if kind < 0.45:  # an oval of skin with random spots
            if rng.random() < 0.3:
                canvas.paint(canvas.ellipse(0, 0.35 * b, 1.35 * a, 1.5 * b), hair)
            canvas.paint(canvas.ellipse(0, 0, a, b), tone)
            for _ in range(int(rng.integers(0, 4))):
                colour = rng.uniform(0, 255, 3)
                canvas.paint(canvas.ellipse(rng.uniform(-0.7, 0.7) * a, rng.uniform(-0.7, 0.7) * b,
                                            rng.uniform(0.08, 0.3) * a, rng.uniform(0.05, 0.2) * b),
                             colour)
        else:  # the back of a head: hair over the oval, neck, clothes
            canvas.paint(canvas.ellipse(0, 2.1 * b, 1.9 * a, 0.9 * b), rng.uniform(0, 255, 3))
            canvas.paint(canvas.ellipse(0, 1.05 * b, 0.42 * a, 0.55 * b), tone * 0.85)
            canvas.paint(canvas.ellipse(0, 0, a, b), tone)
            cover = rng.uniform(0.2, 0.9)
            canvas.paint(canvas.ellipse(0, -0.2 * b, 1.08 * a, 1.05 * b)
                         * np.clip((cover * b - canvas.v) * 0.7, 0, 1), hair)
    return _finish(canvas, rng)


def sample_grid(path: Path, per_row: int = 8) -> None:
    """A PNG of training faces of each group and non-faces (rows: light/short, light/long,
    dark/short, dark/long, non-faces x2), written with numpy and zlib only."""
    rng = np.random.default_rng(1)
    rows = []
    for skin, hair in ((0, 0), (0, 1), (1, 0), (1, 1)):
        rows.append([face_image(skin, hair, rng) for _ in range(per_row)])
    for _ in range(2):
        rows.append([non_face_image(rng) for _ in range(per_row)])
    pad = 2
    grid = np.full((len(rows) * (SIZE + pad) + pad, per_row * (SIZE + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = pad + r * (SIZE + pad), pad + c * (SIZE + pad)
            grid[y:y + SIZE, x:x + SIZE] = image
    write_png(path, np.kron(grid, np.ones((2, 2, 1), dtype=np.uint8)))


def write_png(path: Path, image: np.ndarray) -> None:
    """An (h, w, 3) uint8 RGB array as a PNG file (numpy and zlib, no imaging library)."""
    Path(path).write_bytes(png_bytes(image))


def png_bytes(image: np.ndarray) -> bytes:
    """An (h, w, 3) uint8 RGB array encoded as PNG (numpy and zlib, no imaging library)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    sample_grid(Path(sys.argv[1] if len(sys.argv) > 1 else "facial-detection-samples.png"))
