"""Stored observations, keyed by everything that decides what a child executes.

Scoring is a pure function of observations and the spec, so a change of points,
thresholds or messages needs no notebook to run again: regrading a folder finds each
submission's observations here and only scores them. The key covers what the child
runs and sees: the notebook's code cells, the probes (names and hidden inputs, so the
seed), the probe code, prelude, grading parameters, provided files, limits, forbidden
APIs, the grader's version and the source of its code that runs in the child (``grader/child``,
and ``grader/kit``, which probes import), so a change there runs notebooks again even
before a release. The checks' points and thresholds are not in it; change
anything that is, and the submission runs again. The cache lives in the output folder
(``OUT/.cache``), so it is exactly as trusted as the results beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from grader.observations import Observations
from grader.plan import Plan
from grader.spec import Assignment
from grader.spec.notebook import CodeCell
from grader.version import __version__

CACHE_FOLDER = ".cache"
OBSERVATION_FILES = ("observations.json", "observations.npz")


class ExecutionKeys:
    """Names the observations a child would make of a notebook's cells under one plan.

    The plan's part of the key (hidden inputs, probe code, files...) is digested once.
    """

    def __init__(self, assignment: Assignment, plan: Plan) -> None:
        digest = hashlib.sha256()
        _add(digest, "grader", __version__)
        _add(digest, "child code", child_code_digest())
        _add(digest, "probes", [asdict(p) for p in plan.probes.probes])
        for name in sorted(plan.probes.arrays):
            array = np.ascontiguousarray(plan.probes.arrays[name])
            _add(digest, f"array {name} {array.dtype.str} {array.shape}", array.tobytes())
        _add(digest, "probe code", assignment.custom_probes_source())
        _add(digest, "prelude", assignment.prelude_source())
        _add(digest, "parameters", sorted(assignment.parameters.items()))
        _add(digest, "preload", list(assignment.preload))
        _add(digest, "limits", asdict(assignment.limits))
        _add(digest, "forbidden", list(assignment.forbidden.apis))
        _add(digest, "runtime guard", 1)  # children record forbidden modules they load
        for target in sorted(plan.home_files):
            _add(digest, f"file {target}", _file_digest(plan.home_files[target]))
        self.plan_part = digest

    def key(self, cells: list[CodeCell]) -> str:
        digest = self.plan_part.copy()
        _add(digest, "cells", [[c.index, c.source, sorted(c.tags)] for c in cells])
        return digest.hexdigest()[:32]


def _add(digest: hashlib._Hash, label: str, value: object) -> None:
    digest.update(f"\0{label}\0".encode())
    if not isinstance(value, bytes):
        value = json.dumps(value, sort_keys=True, default=str).encode()
    digest.update(value)


PACKAGE = Path(__file__).resolve().parents[1]


def child_code_digest(package: Path = PACKAGE) -> str:
    """The grader's code that runs beside the notebook: the child's modules and the kit."""
    digest = hashlib.sha256()
    for folder in ("child", "kit"):
        for path in sorted((package / folder).rglob("*.py")):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(_file_digest(path).encode())
    return digest.hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ObservationCache:
    """Observations by execution key, in ``out/.cache``."""

    def __init__(self, out: Path) -> None:
        self.root = out / CACHE_FOLDER / "observations"

    def _folder(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str, submission: str) -> Observations | None:
        """The stored observations for ``key`` (renamed for ``submission``), if readable."""
        folder = self._folder(key)
        if not (folder / "observations.json").is_file():
            return None
        try:
            observations = Observations.load(folder)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged entry is a miss: the notebook runs again
        observations.submission = submission
        return observations

    def put(self, key: str, observations: Observations, saved: Path) -> None:
        """Keep ``observations``, already saved in the folder ``saved``, under ``key`` (as
        links to those files: the observations are encoded once); not when they say the
        grader itself failed, which is worth running again."""
        if observations.grader_failed:
            return
        folder = self._folder(key)
        staging = folder.with_name(f".{key}.staging")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in OBSERVATION_FILES:
            try:
                os.link(saved / name, staging / name)
            except OSError:  # another filesystem, or no links: a copy
                shutil.copyfile(saved / name, staging / name)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
