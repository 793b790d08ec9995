"""A student kit as ``grader check`` uses it: found, checked against what its manifest
records, unpacked into a private folder as a shipped assignment and its public plan."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from grader.errors import KitError
from grader.results import QuestionOutline
from grader.spec.shipped import ShippedAssignment, spec_from_data, write_placeholder

KIT_SUFFIX = ".grader-kit.zip"
MANIFEST = "kit.json"
FORMAT = 1
SPEC, PLAN = "spec", "plan"
#: Folders searched for ``ASSIGNMENT.grader-kit.zip`` after the notebook's and the current one.
KIT_PATH = "GRADER_KIT_PATH"


def kit_name(assignment: str) -> str:
    """The kit's file name: ``ASSIGNMENT.grader-kit.zip``."""
    return f"{assignment}{KIT_SUFFIX}"


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The digest of a manifest's content (its own ``digest`` field left out)."""
    content = {k: v for k, v in manifest.items() if k != "digest"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def kit_search_path(notebook: Path) -> list[Path]:
    """Where a kit is looked for, in order: the notebook's folder, the current folder, then
    each folder of ``$GRADER_KIT_PATH`` (separated by ``os.pathsep``)."""
    extra = [Path(p).expanduser() for p in os.environ.get(KIT_PATH, "").split(os.pathsep) if p]
    return list(dict.fromkeys([notebook.resolve().parent, Path.cwd(), *extra]))


def find_kit(notebook: Path, assignment: str | None) -> Path | None:
    """``ASSIGNMENT.grader-kit.zip`` in the first folder of ``kit_search_path`` holding it."""
    if not assignment:
        return None
    for folder in kit_search_path(notebook):
        candidate = folder / kit_name(assignment)
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class StudentKit:
    """An opened kit: its path and its manifest, whose digest matches its content."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: Path) -> StudentKit:
        try:
            with zipfile.ZipFile(path) as archive:
                manifest = json.loads(archive.read(MANIFEST))
        except FileNotFoundError as exc:
            raise KitError(f"no student kit at {path}") from exc
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise KitError(f"{path} is not a student kit made by grader release ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise KitError(f"{path} is a kit of another format than this grader reads "
                           f"({FORMAT}): install the grader version the course asks for")
        if manifest.get("digest") != manifest_digest(manifest):
            raise KitError(f"{path.name} is damaged or was edited after it was built (its manifest "
                           "does not match its digest): download the kit again")
        return cls(path, manifest)

    @property
    def assignment(self) -> str:
        return str(self.manifest["assignment"])

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @property
    def release(self) -> str:
        return str(self.manifest.get("release", ""))

    @property
    def questions(self) -> list[QuestionOutline]:
        return [QuestionOutline(**q) for q in self.manifest["questions"]]

    def unpack(self, folder: Path) -> tuple[ShippedAssignment, Path]:
        """Extract the kit's files into ``folder`` (private to this user), each checked
        against the manifest; returns the shipped assignment and its plan's folder."""
        files: dict[str, str] = self.manifest["files"]
        with zipfile.ZipFile(self.path) as archive:
            for name, digest in sorted(files.items()):
                target = folder / _safe(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    data = archive.read(name)
                except KeyError as exc:
                    raise KitError(f"{self.path.name} lacks {name}: download the kit again") from exc
                if hashlib.sha256(data).hexdigest() != digest:
                    raise KitError(f"{self.path.name} is damaged or was edited after it was built "
                                   f"({name} differs from what its manifest records): download "
                                   "the kit again")
                target.write_bytes(data)
        spec = folder / SPEC
        write_placeholder(spec / "reference.ipynb")
        assignment = spec_from_data(self.manifest["spec"], spec, self.manifest["fingerprint"])
        return assignment, folder / PLAN


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise KitError(f"a student kit may not hold the path {name!r}")
    return path


@contextlib.contextmanager
def shipped_plans_only() -> Iterator[None]:
    """While grading from a kit, a missing plan is an error, never a run of a reference
    (there is none: a placeholder stands at its path)."""
    from grader.plan.planner import NO_PLANNING

    before = os.environ.get(NO_PLANNING)
    os.environ[NO_PLANNING] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(NO_PLANNING, None)
        else:
            os.environ[NO_PLANNING] = before
