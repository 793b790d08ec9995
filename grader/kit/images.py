"""Image helpers for assignments' data generators (an assignment's ``data.py``).

Generated data sets are cached on disk by their generators, keyed by what decides the
images: a generator that uses a helper here includes this file's ``source_digest()`` in
its key, so a change here makes new data, never stale data.

numpy only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Rows of bilinear weights that resample n_in samples to n_out (pixel centres aligned).

    ``W @ signal`` resamples a 1-D signal; ``W @ image @ W.T`` an image (both axes)."""
    position = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    frac = position - low
    matrix = np.zeros((n_out, n_in))
    matrix[np.arange(n_out), low] += 1 - frac
    matrix[np.arange(n_out), high] += frac
    return matrix


def source_digest() -> bytes:
    """A digest of this file, for the disk-cache keys of the data generated with it."""
    return hashlib.sha256(Path(__file__).read_bytes()).digest()
